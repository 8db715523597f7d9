package ingress

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/format"
)

// TestHeartbeatAmidFramesDoesNotHoldThem relays a reply whose data frames
// are followed, before anything else, by a worker heartbeat: what a worker
// sends when it has waited a second for credit while the ingress still
// held frames to write. The frames gathered before the heartbeat must reach
// the client at once. Held back while the ingress waits for more, they
// would never be written, no credit would be granted, and the worker,
// waiting for that credit, would send nothing more than heartbeats: the
// stream would hang until the slow-client time-out cut it.
func TestHeartbeatAmidFramesDoesNotHoldThem(t *testing.T) {
	nc := startNATS(t)
	in, err := bus.NewInbox(nc, "ingress")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	reply := in.Open("req")
	t.Cleanup(reply.Close)

	const control = "test.control.req"
	var msg []byte
	msg = bus.AppendFrame(msg, bus.FrameAccept, 1, append(binary.AppendUvarint(nil, 0), control...))
	msg = bus.AppendFrame(msg, bus.FrameData, 2, []byte("data: one\n\n"))
	msg = bus.AppendFrame(msg, bus.FrameData, 3, []byte("data: two\n\n"))
	msg = bus.AppendFrame(msg, bus.FrameHeartbeat, 3, nil)
	if err := nc.Publish(reply.Subject(), msg); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	var cfg config.Config
	cfg.Server.StallTimeout = config.Duration{Duration: time.Minute}
	s := &Server{cfg: cfg, logger: slog.New(slog.DiscardHandler), closing: make(chan struct{}), metrics: newMetrics(prometheus.NewRegistry())}
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h"})
	x := &exchange{s: s, r: &route{format: format.OpenAIChat, firstToken: hist, interChunk: hist}, reply: reply,
		requestID: "req", start: time.Now(), deadline: time.Now().Add(time.Minute), timer: time.NewTimer(time.Hour)}
	x.lastWrite = time.Now()

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := (&streamBody{x: x}).WriteTo(pw)
		_ = pw.CloseWithError(err)
		done <- err
	}()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := io.ReadAtLeast(pr, buf, len("data: one\n\ndata: two\n\n"))
		got <- string(buf[:n])
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case s := <-got:
		if s != "data: one\n\ndata: two\n\n" {
			t.Errorf("client got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("the frames received before the heartbeat were not written")
	}

	// The end of the answer ends the relay either way.
	end := bus.AppendFrame(nil, bus.FrameEnd, 4, bus.AppendUsage(nil, bus.Usage{}))
	if err := nc.Publish(reply.Subject(), end); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(s.closing)
		<-done
		t.Error("the relay did not end with the end frame")
	}
}

// startNATS starts a NATS server for the test and returns a connection to it.
func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
