package bus

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// queueFixture is an upstream's queue holding n requests and a worker-side
// puller for it.
func queueFixture(t *testing.T, n int) (*Puller, *Queues) {
	t.Helper()
	ingress, worker := startBus(t, 0)
	js, err := jetstream.New(ingress)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureQueue(context.Background(), js, QueueConfig{Upstream: "up", Size: 64, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	queues := NewQueues(js)
	for i := range n {
		if err := queues.Enqueue("up", "reply."+strconv.Itoa(i), []byte("request "+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := ingress.Flush(); err != nil {
		t.Fatal(err)
	}
	puller, err := NewPuller(worker, "up", 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = puller.Close() })
	return puller, queues
}

// nextPulled waits for the next message on the puller's subscription.
func nextPulled(t *testing.T, p *Puller) (*nats.Msg, PullEvent) {
	t.Helper()
	select {
	case m := <-p.Messages():
		return m, p.Classify(m)
	case <-time.After(10 * time.Second):
		t.Fatal("nothing pulled")
		return nil, 0
	}
}

func TestPullerDeliversABatchInOrder(t *testing.T) {
	p, queues := queueFixture(t, 3)
	if err := p.Pull(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		m, ev := nextPulled(t, p)
		if ev != PulledRequest || string(m.Data) != "request "+strconv.Itoa(i) {
			t.Fatalf("message %d: event %v, data %q", i, ev, m.Data)
		}
		if err := p.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	// The acknowledged requests have left the queue; the third waits.
	within(t, 5*time.Second, func() error {
		if depth, err := queues.Depth(context.Background(), "up"); err != nil || depth != 1 {
			return fmt.Errorf("depth %d, %v; want 1", depth, err)
		}
		return nil
	})
}

func TestPullerReportsTheEndOfAnExpiredPull(t *testing.T) {
	p, _ := queueFixture(t, 1)
	if err := p.Pull(4, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, ev := nextPulled(t, p); ev != PulledRequest {
		t.Fatalf("event %v, want a request", ev)
	}
	if _, ev := nextPulled(t, p); ev != PullEnded {
		t.Fatalf("event %v, want the end of the pull", ev)
	}
}

func TestPullerIgnoresTheEndOfAnEarlierPull(t *testing.T) {
	p, queues := queueFixture(t, 0)
	if err := p.Pull(1, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	earlier := p.current
	m, ev := nextPulled(t, p)
	if m.Subject != earlier || ev != PullEnded {
		t.Fatalf("%s: event %v, want the end of the pull", m.Subject, ev)
	}
	// Given up on before its end arrived, the earlier pull's status is
	// noise to the next one.
	if err := p.Pull(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if ev := p.Classify(m); ev != PullNoise {
		t.Fatalf("an earlier pull's end is %v, want noise", ev)
	}
	if err := queues.Enqueue("up", "reply.0", []byte("request")); err != nil {
		t.Fatal(err)
	}
	if m, ev := nextPulled(t, p); ev != PulledRequest || string(m.Data) != "request" {
		t.Fatalf("event %v, data %q; want the request", ev, m.Data)
	}
}

// A pull for the waiting requests brings what the queue holds and ends at
// once, however many more it asked for: that is how a pool learns that its
// queue is drained.
func TestPullerPullsWhatIsWaitingAndEnds(t *testing.T) {
	for _, waiting := range []int{0, 2} {
		t.Run(strconv.Itoa(waiting)+" waiting", func(t *testing.T) {
			p, _ := queueFixture(t, waiting)
			if err := p.PullWaiting(4); err != nil {
				t.Fatal(err)
			}
			for i := range waiting {
				if m, ev := nextPulled(t, p); ev != PulledRequest || string(m.Data) != "request "+strconv.Itoa(i) {
					t.Fatalf("message %d: event %v, data %q", i, ev, m.Data)
				}
			}
			// A pull that waited for more would not end at all: it
			// has no expiry.
			if _, ev := nextPulled(t, p); ev != PullEnded {
				t.Fatalf("event %v, want the end of the pull", ev)
			}
		})
	}
}
