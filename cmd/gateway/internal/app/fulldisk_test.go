package app

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/ingress/access"
)

// mountTinyDisk mounts a tmpfs of size bytes on a fresh directory, so a test
// can fill a real file system. Mounting needs root (CAP_SYS_ADMIN); without
// it the test cannot make a disk full and says so.
func mountTinyDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root; CI runs as root")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mounting a tmpfs to fill: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file into dir until the file system is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("filling the disk: %v", err)
			}
			return name
		}
	}
}

// TestAccessStoreRecoversFromFullDisk fills the disk under the embedded
// NATS server's store while keyed requests run. They are refused with 503
// while the counters cannot be written, and served again soon after the
// space is freed, without a restart.
func TestAccessStoreRecoversFromFullDisk(t *testing.T) {
	disk := mountTinyDisk(t, "8m")
	keys := newTestKeys(t, "team")
	m := startAccessMock(t, mock.DefaultConfig())
	// 1000 per minute leases few requests at a time, so requests keep
	// writing to the store.
	g, _ := startAccessApp(t, ModeAll, m.URL(), disk,
		accessTOML("closed", keyTOML("team", "requests_per_minute = 1000")), keys.env)
	key := keys.plain["team"]
	if a := g.sdkCall(dialectOpenAI, "", key, bearer, "gpt-4o"); a.status != 200 {
		t.Fatalf("before the disk is full: %d %s %q %v", a.status, a.code, a.message, a.err)
	}

	filler := fillDisk(t, disk)
	eventually(t, 20*time.Second, func() error {
		if a := g.sdkCall(dialectOpenAI, "", key, bearer, "gpt-4o"); a.status != 503 {
			return fmt.Errorf("with the disk full: status %d, want 503", a.status)
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		_, body := getHealth(t, g.url+"/health")
		if _, failing := failingCheck(t, body, "access store"); !failing {
			return errors.New("the access store is reported writable on a full disk")
		}
		return nil
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	eventually(t, 20*time.Second, func() error {
		if a := g.sdkCall(dialectOpenAI, "", key, bearer, "gpt-4o"); a.status != 200 {
			return fmt.Errorf("after the disk was freed: status %d %s %q", a.status, a.code, a.message)
		}
		if a := g.sdkCall(dialectAnthropic, "", key, xAPIKey, "claude-sonnet-4-5"); a.status != 200 {
			return fmt.Errorf("after the disk was freed (anthropic): status %d %s %q", a.status, a.code, a.message)
		}
		return nil
	})
	t.Logf("keyed requests served again %v after the disk was freed", time.Since(freed))
	if status, body := getHealth(t, g.url+"/health"); status != 200 {
		t.Errorf("/health after recovery: %d %s", status, body)
	}
}

// TestAccessBucketRecreatedWhenLost deletes the counter bucket, as a NATS
// server that lost its store would: the gateway creates it again by itself
// and keyed requests are served without anyone restoring it.
func TestAccessBucketRecreatedWhenLost(t *testing.T) {
	keys := newTestKeys(t, "team")
	g := startGateway(t, mock.DefaultConfig(), accessTOML("closed", keyTOML("team", "requests_per_minute = 100")), keys.env)
	key := keys.plain["team"]
	if a := g.sdkCall(dialectOpenAI, "", key, bearer, "gpt-4o"); a.status != 200 {
		t.Fatalf("with the store up: status %d %s %q %v", a.status, a.code, a.message, a.err)
	}
	deleteAccessBucket(t, g)
	deleted := time.Now()
	js, ctx := gatewayJetStream(t, g)
	eventually(t, 10*time.Second, func() error {
		if _, err := js.KeyValue(ctx, access.DefaultBucket); err != nil {
			return fmt.Errorf("the bucket is not back: %w", err)
		}
		if a := g.sdkCall(dialectOpenAI, "", key, bearer, "gpt-4o"); a.status != 200 {
			return fmt.Errorf("status %d %s", a.status, a.code)
		}
		return nil
	})
	t.Logf("keyed requests served again %v after the bucket was deleted", time.Since(deleted))
	if !strings.Contains(g.logs.String(), `"resource":"access store"`) {
		t.Error("the recreation of the bucket was not logged")
	}
}
