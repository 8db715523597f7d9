package bus

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestRequestsSpreadOverShards runs requests through an inbox and an outbox
// of three shards each: consecutive requests get replies and control
// subjects on different shards, and each request's frames, credit and
// cancellation reach the right end whatever its shard.
func TestRequestsSpreadOverShards(t *testing.T) {
	const shards = 3
	inc, wnc := startBus(t, 1<<20)
	inbox, err := newInbox(inc, "ingress1", shards)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inbox.Close() })
	outbox, err := newOutbox(wnc, "worker1", 5*time.Second, 0, shards)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outbox.Close() })
	for _, nc := range []*nats.Conn{inc, wnc} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	replyShards, controlShards := map[string]bool{}, map[string]bool{}
	pairs := make([]*pair, 2*shards)
	for i := range pairs {
		id := fmt.Sprintf("req%d", i)
		reply := inbox.Open(id)
		t.Cleanup(reply.Close)
		sender, err := outbox.Begin(context.Background(), &Request{ID: id, Reply: reply.Subject()}, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sender.Close)
		pairs[i] = &pair{reply: reply, sender: sender}
		if !strings.HasPrefix(reply.Subject(), replyPrefix+"ingress1.") || !strings.HasSuffix(reply.Subject(), "."+id) {
			t.Fatalf("reply subject %q", reply.Subject())
		}
		replyShards[strings.TrimSuffix(reply.Subject(), id)] = true
	}
	if len(replyShards) != shards {
		t.Errorf("replies on %d shards, want %d: %v", len(replyShards), shards, replyShards)
	}

	// Frames of every request arrive on its own reply, the accept frame
	// first, naming the request's control subject.
	for i, p := range pairs {
		p.sender.Data(fmt.Appendf(nil, "data %d", i))
		if err := p.sender.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range pairs {
		if f := nextFrame(t, p.reply); f.Kind != FrameAccept {
			t.Fatalf("request %d: first frame %q, want accept", i, f.Kind)
		}
		ctl := p.reply.control
		if !strings.HasPrefix(ctl, controlPrefix+"worker1.") || lastToken(ctl) != fmt.Sprintf("req%d", i) {
			t.Fatalf("request %d: control subject %q", i, ctl)
		}
		controlShards[strings.TrimSuffix(ctl, lastToken(ctl))] = true
		if f := nextFrame(t, p.reply); f.Kind != FrameData || string(f.Payload) != fmt.Sprintf("data %d", i) {
			t.Fatalf("request %d: frame %q %q", i, f.Kind, f.Payload)
		}
	}
	if len(controlShards) != shards {
		t.Errorf("control subjects on %d shards, want %d: %v", len(controlShards), shards, controlShards)
	}

	// Credit and cancellation reach each request's sender.
	for i, p := range pairs {
		p.reply.Written(Window)
		within(t, 5*time.Second, func() error {
			if g := p.sender.granted.Load(); g <= Window {
				return fmt.Errorf("request %d: granted %d, no new credit", i, g)
			}
			return nil
		})
		p.reply.Cancel()
		select {
		case <-p.sender.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: cancellation did not reach the worker", i)
		}
		if !p.sender.Cancelled() {
			t.Errorf("request %d: sender not cancelled", i)
		}
	}
}
