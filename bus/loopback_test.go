package bus

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestLoopbackCarriesAStreamWithoutNATS streams through a loopback whose
// worker has lost its NATS connection: frames, credit renewals and the
// cancellation all still arrive, so none of them went through NATS.
func TestLoopbackCarriesAStreamWithoutNATS(t *testing.T) {
	p, _, outbox := openPairWith(t, 5*time.Second, "looped", NewLoopback())
	outbox.nc.Close()

	const chunk, chunks = 16 << 10, 4 * Window / (16 << 10) // four windows: credit must be renewed
	done := make(chan error, 1)
	go func() {
		for i := range chunks {
			p.sender.Data(bytes.Repeat([]byte{byte('a' + i%26)}, chunk))
			if err := p.sender.Flush(context.Background()); err != nil {
				done <- err
				return
			}
		}
		done <- p.sender.End(context.Background(), Usage{OutputTokens: chunks})
	}()
	if f := nextFrame(t, p.reply); f.Kind != FrameAccept {
		t.Fatalf("first frame %q, want accept", f.Kind)
	}
	var got []byte
	for {
		f := nextFrame(t, p.reply)
		if f.Kind == FrameEnd {
			break
		}
		got = append(got, f.Payload...)
		p.reply.Written(len(f.Payload))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != chunk*chunks {
		t.Fatalf("got %d bytes, want %d", len(got), chunk*chunks)
	}
	for i := range chunks {
		if got[i*chunk] != byte('a'+i%26) {
			t.Fatalf("chunk %d out of order", i)
		}
	}
}

func TestLoopbackCarriesCancellation(t *testing.T) {
	p, _, outbox := openPairWith(t, 5*time.Second, "looped-cancel", NewLoopback())
	outbox.nc.Close()
	p.sender.Data([]byte("first"))
	if err := p.sender.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, p.reply) // accept
	nextFrame(t, p.reply) // data
	p.reply.Cancel()
	select {
	case <-p.sender.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never heard of the cancellation")
	}
	if !p.sender.Cancelled() {
		t.Fatal("the sender's context ended without a cancellation")
	}
}

// A nil loopback, or a subject neither end owns, goes through NATS.
func TestLoopbackLeavesOtherSubjectsToNATS(t *testing.T) {
	inc, _ := startBus(t, 1<<20)
	inc.Close()
	var nothing *Loopback
	if err := nothing.publish(inc, "_GW.reply.elsewhere.x", []byte("f")); err == nil {
		t.Error("a nil loopback published without NATS")
	}
	if err := NewLoopback().publish(inc, "_GW.reply.elsewhere.x", []byte("f")); err == nil {
		t.Error("a subject no end owns was delivered in the process")
	}
}
