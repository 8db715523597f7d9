package bus

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestKeeperRecreatesALostQueue deletes a queue's stream under a Keeper: a
// kick makes it recreate the stream and its consumer, say so through
// OnChange, and a puller that pulls again is served.
func TestKeeperRecreatesALostQueue(t *testing.T) {
	ingress, worker := startBus(t, 0)
	js, err := jetstream.New(ingress)
	if err != nil {
		t.Fatal(err)
	}
	q := QueueConfig{Upstream: "up", Size: 8, Timeout: time.Minute}
	var mu sync.Mutex
	var changes []string
	k := NewKeeper(ingress, slog.New(slog.DiscardHandler), QueueResource(js, q, func(ok, renewed bool) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, map[bool]string{true: "ok", false: "down"}[ok]+map[bool]string{true: "+renewed", false: ""}[renewed])
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	within(t, 5*time.Second, func() error {
		if st := k.States()[0]; !st.OK || st.Recreated != 1 {
			return errors.New("queue not created yet")
		}
		return nil
	})
	if err := js.DeleteStream(context.Background(), QueueStream("up")); err != nil {
		t.Fatal(err)
	}
	puller, err := NewPuller(worker, "up", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = puller.Close() })
	if err := puller.Pull(1, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ev := nextPulled(t, puller); ev != PullNoConsumer {
		t.Fatalf("pull on a deleted queue: event %v, want PullNoConsumer", ev)
	}
	k.Kick()
	within(t, 5*time.Second, func() error {
		if st := k.States()[0]; !st.OK || st.Recreated != 2 {
			return errors.New("queue not recreated yet")
		}
		return nil
	})
	if err := NewQueues(js).Enqueue("up", "reply.1", []byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := puller.Pull(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if m, ev := nextPulled(t, puller); ev != PulledRequest || string(m.Data) != "request" {
		t.Fatalf("after recreation: event %v %q", ev, m.Data)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(changes, ","); got != "ok+renewed,ok+renewed" {
		t.Errorf("changes %s", got)
	}
}

// TestKeeperReportsAPermanentRefusal asks a single server for a replicated
// queue: the Keeper reports the refusal as permanent instead of retrying in
// silence.
func TestKeeperReportsAPermanentRefusal(t *testing.T) {
	ingress, _ := startBus(t, 0)
	js, err := jetstream.New(ingress)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeeper(ingress, slog.New(slog.DiscardHandler), QueueResource(js, QueueConfig{Upstream: "up", Size: 8, Timeout: time.Minute, Replicas: 3}, nil))
	if k.Sync(context.Background()) {
		t.Fatal("a replicated queue was created on a single server")
	}
	st := k.States()[0]
	if st.OK || !st.Permanent || !strings.Contains(st.Error, "replicas") {
		t.Errorf("state %+v", st)
	}
	if _, err := EnsureQueue(context.Background(), js, QueueConfig{Upstream: "up", Size: 8, Timeout: time.Minute, Replicas: 3}); err == nil {
		t.Error("EnsureQueue created a replicated queue on a single server")
	}
}
