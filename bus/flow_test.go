package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/aigateway/gateway/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// startBus starts an embedded server and returns an ingress-side and a
// worker-side connection to it.
func startBus(t *testing.T, maxPayload int) (ingress, worker *nats.Conn) {
	t.Helper()
	srv, err := StartEmbedded(config.Bus{StoreDir: t.TempDir(), MaxPayload: maxPayload}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	conns := make([]*nats.Conn, 2)
	for i := range conns {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[i] = nc
	}
	return conns[0], conns[1]
}

// within polls cond every few milliseconds until it holds or total passes.
func within(t *testing.T, total time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pair is one request's two ends: the ingress's Reply and the worker's Sender.
type pair struct {
	reply  *Reply
	sender *Sender
}

func openPair(t *testing.T, stall time.Duration, id string) (*pair, *Inbox, *Outbox) {
	t.Helper()
	return openPairWith(t, stall, id, nil)
}

// openPairWith opens a pair whose ends share loop, when it is not nil.
func openPairWith(t *testing.T, stall time.Duration, id string, loop *Loopback) (*pair, *Inbox, *Outbox) {
	t.Helper()
	inc, wnc := startBus(t, 1<<20)
	inbox, err := NewInbox(inc, "ingress1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inbox.Close() })
	outbox, err := NewOutbox(wnc, "worker1", stall, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outbox.Close() })
	if loop != nil {
		inbox.UseLoopback(loop)
		outbox.UseLoopback(loop)
	}
	// Processes subscribe long before their first request; here both
	// sides' subscriptions must reach the server before the test publishes,
	// or the first frames go to no subscriber.
	for _, nc := range []*nats.Conn{inc, wnc} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	reply := inbox.Open(id)
	t.Cleanup(reply.Close)
	sender, err := outbox.Begin(context.Background(), &Request{ID: id, Reply: reply.Subject()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sender.Close)
	return &pair{reply: reply, sender: sender}, inbox, outbox
}

// nextFrame waits for the reply's next frame; heartbeats are skipped.
func nextFrame(t *testing.T, r *Reply) Frame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		f, ok, _, err := r.Next()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		if ok {
			return f
		}
		select {
		case <-r.Ready():
		case <-timeout:
			t.Fatal("no frame within 10s")
		}
	}
}

// TestCreditBoundsWhatIsInFlight streams 1 MB in 16 KB frames: the worker
// never gets more than Window bytes ahead of what the ingress wrote, and
// everything arrives in order.
func TestCreditBoundsWhatIsInFlight(t *testing.T) {
	p, _, _ := openPair(t, 5*time.Second, "credit")
	const chunk, chunks = 16 << 10, 64
	var flushed atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := range chunks {
			p.sender.Data(bytes.Repeat([]byte{byte('a' + i%26)}, chunk))
			if err := p.sender.Flush(context.Background()); err != nil {
				done <- err
				return
			}
			flushed.Add(chunk)
		}
		done <- p.sender.End(context.Background(), Usage{OutputTokens: chunks})
	}()

	if f := nextFrame(t, p.reply); f.Kind != FrameAccept || !p.reply.Accepted() {
		t.Fatalf("first frame %q, want accept", f.Kind)
	}
	// Nothing is written yet: the worker stops at exactly one window.
	within(t, 10*time.Second, func() error {
		if n := flushed.Load(); n != Window {
			return fmt.Errorf("worker flushed %d bytes without credit, want it to stop at %d", n, Window)
		}
		return nil
	})

	var got []byte
	written := int64(0)
	for {
		f := nextFrame(t, p.reply)
		if f.Kind == FrameEnd {
			u, err := DecodeUsage(f.Payload)
			if err != nil || u.OutputTokens != chunks {
				t.Errorf("end usage %+v, %v", u, err)
			}
			break
		}
		if f.Kind != FrameData {
			t.Fatalf("unexpected frame %q", f.Kind)
		}
		got = append(got, f.Payload...)
		// The worker is never further ahead than the credit granted so far.
		if n := flushed.Load(); n > written+Window {
			t.Fatalf("worker flushed %d bytes with %d written", n, written)
		}
		written += int64(len(f.Payload))
		p.reply.Written(len(f.Payload))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != chunk*chunks {
		t.Fatalf("got %d bytes, want %d", len(got), chunk*chunks)
	}
	for i := range chunks {
		if got[i*chunk] != byte('a'+i%26) || got[(i+1)*chunk-1] != byte('a'+i%26) {
			t.Fatalf("chunk %d out of order", i)
		}
	}
}

// TestCreditStall checks that a worker whose ingress stops granting credit
// gives up after the stall time-out instead of waiting forever.
func TestCreditStall(t *testing.T) {
	p, _, _ := openPair(t, 200*time.Millisecond, "stall")
	var err error
	sent := 0
	for sent < 4*Window && err == nil {
		p.sender.Data(make([]byte, 32<<10))
		if err = p.sender.Flush(context.Background()); err == nil {
			sent += 32 << 10
		}
	}
	if !errors.Is(err, ErrCreditStalled) {
		t.Fatalf("err = %v, want ErrCreditStalled", err)
	}
	if sent > Window {
		t.Errorf("sent %d bytes without any credit renewed", sent)
	}
}

// TestCancelReachesTheWorker checks both ways an ingress cancels: on the
// worker's control subject once accepted, and by broadcast before.
func TestCancelReachesTheWorker(t *testing.T) {
	t.Run("after accept", func(t *testing.T) {
		p, _, _ := openPair(t, 5*time.Second, "accepted")
		if f := nextFrame(t, p.reply); f.Kind != FrameAccept {
			t.Fatalf("first frame %q", f.Kind)
		}
		// The second flush waits for credit that never comes; the
		// cancellation must end the wait.
		flushed := make(chan error, 1)
		go func() {
			for range 2 {
				p.sender.Data(make([]byte, 200<<10))
				if err := p.sender.Flush(context.Background()); err != nil {
					flushed <- err
					return
				}
			}
			flushed <- nil
		}()
		if f := nextFrame(t, p.reply); f.Kind != FrameData {
			t.Fatalf("frame %q, want data", f.Kind)
		}
		p.reply.Cancel()
		select {
		case err := <-flushed:
			if !errors.Is(err, ErrCancelled) {
				t.Errorf("flush waiting for credit: err = %v, want ErrCancelled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a flush waiting for credit was not woken by the cancellation")
		}
		if !p.sender.Cancelled() || p.sender.Context().Err() == nil {
			t.Error("the sender does not report the cancellation")
		}
	})

	t.Run("before accept", func(t *testing.T) {
		inc, wnc := startBus(t, 1<<20)
		inbox, err := NewInbox(inc, "ingress2")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = inbox.Close() }()
		outbox, err := NewOutbox(wnc, "worker2", time.Second, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = outbox.Close() }()
		if err := wnc.Flush(); err != nil {
			t.Fatal(err)
		}
		reply := inbox.Open("early")
		defer reply.Close()
		reply.Cancel()
		if err := inc.Flush(); err != nil {
			t.Fatal(err)
		}
		// Whether the broadcast or Begin comes first, the request must not
		// run: Begin refuses it, or its context ends right after.
		s, err := outbox.Begin(context.Background(), &Request{ID: "early", Reply: reply.Subject()}, 0)
		if errors.Is(err, ErrCancelled) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		select {
		case <-s.Context().Done():
		case <-time.After(10 * time.Second):
			t.Fatal("a request cancelled before it was accepted runs")
		}
	})
}

// TestHeartbeatsWhileSilent checks that a silent worker proves it is alive.
func TestHeartbeatsWhileSilent(t *testing.T) {
	p, _, _ := openPair(t, 5*time.Second, "silent")
	if f := nextFrame(t, p.reply); f.Kind != FrameAccept {
		t.Fatalf("first frame %q", f.Kind)
	}
	timeout := time.After(4 * HeartbeatInterval)
	for {
		_, ok, got, err := p.reply.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Fatal("a frame arrived from a silent worker")
		}
		if got {
			return // a heartbeat
		}
		select {
		case <-p.reply.Ready():
		case <-timeout:
			t.Fatal("no heartbeat from a silent worker")
		}
	}
}

// TestBodyTravelsInChunks fetches a body several times the bus's message
// limit, and checks a body the ingress dropped fails instead of hanging.
func TestBodyTravelsInChunks(t *testing.T) {
	inc, wnc := startBus(t, 256<<10)
	inbox, err := NewInbox(inc, "ingress3")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inbox.Close() }()
	body := make([]byte, 3<<20+12345)
	for i := range body {
		body[i] = byte(i * 31)
	}
	reply := inbox.Open("big")
	reply.ServeBody(body)
	req := &Request{ID: "big", BodySubject: reply.BodySubject(), BodySize: len(body)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := Body(ctx, wnc, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatal("the body arrived altered")
	}
	inline := &Request{Body: []byte("inline"), BodySize: 6}
	if got, err := Body(ctx, wnc, inline); err != nil || string(got) != "inline" {
		t.Errorf("inline body: %q, %v", got, err)
	}
	reply.Close()
	start := time.Now()
	if _, err := Body(ctx, wnc, req); err == nil {
		t.Error("fetching a body the ingress dropped succeeded")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("fetching a dropped body failed only after %v", waited)
	}
}

// TestSlowClientKeepsItsStream checks that a worker waiting for credit
// longer than the stall time-out keeps its stream while the ingress answers
// its heartbeats: the client reads slowly, the ingress is alive.
func TestSlowClientKeepsItsStream(t *testing.T) {
	const stall = 2500 * time.Millisecond
	p, _, _ := openPair(t, stall, "slowclient")
	done := make(chan error, 1)
	go func() {
		for range 2 * Window / (32 << 10) {
			p.sender.Data(make([]byte, 32<<10))
			if err := p.sender.Flush(context.Background()); err != nil {
				done <- err
				return
			}
		}
		done <- p.sender.End(context.Background(), Usage{})
	}()
	if f := nextFrame(t, p.reply); f.Kind != FrameAccept {
		t.Fatalf("first frame %q, want accept", f.Kind)
	}
	// Hold the credit well past the stall time-out while heartbeats flow.
	hold := time.After(stall + 1500*time.Millisecond)
	for waiting := true; waiting; {
		select {
		case <-hold:
			waiting = false
		case <-p.reply.Ready():
			// Only heartbeats can arrive: the worker has no credit left.
			// Frames stay queued; the dispatcher answers the heartbeats.
		}
	}
	for {
		f := nextFrame(t, p.reply)
		if f.Kind == FrameEnd {
			break
		}
		p.reply.Written(len(f.Payload))
	}
	if err := <-done; err != nil {
		t.Fatalf("worker gave up on a slow client: %v", err)
	}
}
