package access

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// checkFor polls f until it returns nil or total passes.
func checkFor(t *testing.T, total, sleep time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(sleep)
	}
}

func bucket(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatalf("bucket: %v", err)
	}
	return kv
}

// TestIdleLeaseGoesBack checks that capacity leased by a replica that stops
// getting traffic returns to the others.
func TestIdleLeaseGoesBack(t *testing.T) {
	kc := keyConf("k")
	kc.RequestsPerMinute = 1000 // blocks of 5
	cfg := accessConf("closed", kc)
	srv := startServer(t, t.TempDir(), 0)
	clk := newClock(t0)
	idle := newGuard(t, cfg, connect(t, srv), Options{Now: clk.Now, SyncInterval: 10 * time.Millisecond, IdleRelease: 5 * time.Second})
	busy := newGuard(t, cfg, connect(t, srv), Options{Now: clk.Now})

	mustAdmit(t, idle, auth(t, idle, "k"), 0) // leases a block, uses 1
	k := auth(t, busy, "k")
	n := 0
	for ; n < 1000; n++ {
		if _, err := busy.Admit(context.Background(), k, 0); err != nil {
			break
		}
	}
	if n != 995 {
		t.Fatalf("busy replica got %d, want 995 (the idle one holds a block of 5)", n)
	}

	clk.Advance(6 * time.Second)
	js := connect(t, srv)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, total := entryTotal(t, js, "rpm.k"); total != 996 {
			return fmt.Errorf("entry total %d, want 996 once the idle replica returned its lease", total)
		}
		return nil
	})
	clk.Advance(DefaultStoreBackoff) // past the busy replica's pause after its refusal
	for ; n < 1000; n++ {
		if _, err := busy.Admit(context.Background(), k, 0); err != nil {
			break
		}
	}
	if n != 999 {
		t.Fatalf("busy replica got %d in all, want 999 once the idle one returned its 4", n)
	}
	mustDeny(t, busy, k, 0, RateLimited)
}

func TestNewerWindowIsNeverReset(t *testing.T) {
	kc := keyConf("k")
	kc.RequestsPerMinute = 5
	f := newFixture(t, accessConf("closed", kc))
	// A replica whose clock runs a little ahead already spent the next
	// minute; this one, still in the current minute, must not reset it.
	next := t0.Truncate(time.Minute).Add(time.Minute).Unix()
	if _, err := bucket(t, connect(t, f.srv)).Put(context.Background(), "rpm.k", appendCounterValue(nil, entryValue{start: next, used: 5})); err != nil {
		t.Fatal(err)
	}
	mustDeny(t, f.g, auth(t, f.g, "k"), 0, RateLimited)
}

func TestMalformedEntryIsReplaced(t *testing.T) {
	kc := keyConf("k")
	kc.RequestsPerMinute = 5
	f := newFixture(t, accessConf("closed", kc))
	js := connect(t, f.srv)
	if _, err := bucket(t, js).Put(context.Background(), "rpm.k", []byte("not a counter")); err != nil {
		t.Fatal(err)
	}
	k := auth(t, f.g, "k")
	for range 5 {
		mustAdmit(t, f.g, k, 0)
	}
	mustDeny(t, f.g, k, 0, RateLimited)
	if start, total := entryTotal(t, js, "rpm.k"); start != t0.Truncate(time.Minute).Unix() || total != 5 {
		t.Fatalf("entry %d:%d, want the current minute and 5", start, total)
	}
}

func TestAdmitCancelledAndClosed(t *testing.T) {
	kc := keyConf("k")
	kc.RequestsPerMinute = 5
	f := newFixture(t, accessConf("closed", kc))
	k := auth(t, f.g, "k")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.g.Admit(ctx, k, 0)
	var d *Denial
	if !errors.Is(err, context.Canceled) || errors.As(err, &d) {
		t.Fatalf("Admit with a cancelled context: %v, want context.Canceled and no denial", err)
	}
	mustAdmit(t, f.g, k, 0)

	if err := f.g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.g.Admit(context.Background(), k, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Admit after Close: %v, want ErrClosed", err)
	}
}
