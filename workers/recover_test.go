package workers

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/format"
)

// recoverHarness is one request between a real outbox and a real inbox on
// an embedded NATS server, for exercising how a call ends.
type recoverHarness struct {
	call   *call
	reply  *bus.Reply
	logs   *bytes.Buffer
	panics prometheus.Counter
}

func newRecoverHarness(t *testing.T, client format.Format) *recoverHarness {
	t.Helper()
	srv, err := bus.StartEmbedded(config.Bus{StoreDir: t.TempDir(), MaxPayload: 1 << 20}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	conns := make([]*nats.Conn, 2)
	for i := range conns {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[i] = nc
	}
	inbox, err := bus.NewInbox(conns[0], "ingress1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inbox.Close() })
	outbox, err := bus.NewOutbox(conns[1], "worker1", 5*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outbox.Close() })
	for _, nc := range conns {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	reply := inbox.Open("r1")
	t.Cleanup(reply.Close)
	req := &bus.Request{ID: "r1", ClientRequestID: "req_panicking", Reply: reply.Subject(), Stream: true}
	sender, err := outbox.Begin(context.Background(), req, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sender.Close)
	logs := &bytes.Buffer{}
	panics := bus.PanicsCounter(prometheus.NewRegistry(), "worker")
	p := &pool{
		svc:    &Service{panics: panics},
		logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}
	return &recoverHarness{
		call:   &call{p: p, req: req, client: client, sender: sender},
		reply:  reply,
		logs:   logs,
		panics: panics,
	}
}

// frames reads the reply's frames up to the final one.
func (h *recoverHarness) frames(t *testing.T) []bus.Frame {
	t.Helper()
	var out []bus.Frame
	timeout := time.After(10 * time.Second)
	for {
		f, ok, _, err := h.reply.Next()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		if ok {
			if f.Kind != bus.FrameAccept {
				out = append(out, bus.Frame{Kind: f.Kind, Payload: append([]byte(nil), f.Payload...)})
			}
			if f.Kind == bus.FrameEnd || f.Kind == bus.FrameError {
				return out
			}
			continue
		}
		select {
		case <-h.reply.Ready():
		case <-timeout:
			t.Fatal("no final frame within 10s")
		}
	}
}

// TestPanicEndsOnlyItsRequest panics inside a call, before and after its
// stream started: the ingress gets an error in the client's format, the
// panic is counted and logged with the request id, and the goroutine lives.
func TestPanicEndsOnlyItsRequest(t *testing.T) {
	t.Run("before the answer", func(t *testing.T) {
		h := newRecoverHarness(t, format.Anthropic)
		func() {
			defer h.call.recoverPanic()
			panic("boom")
		}()
		frames := h.frames(t)
		if len(frames) != 1 || frames[0].Kind != bus.FrameError {
			t.Fatalf("frames %v, want one error frame", frames)
		}
		status, body, err := bus.DecodeError(frames[0].Payload)
		if err != nil || status != 500 || !strings.Contains(string(body), `"type":"error"`) || !strings.Contains(string(body), `"api_error"`) {
			t.Errorf("error frame: status %d, body %s, err %v; want a 500 Anthropic api_error", status, body, err)
		}
		h.check(t)
	})
	t.Run("mid-stream", func(t *testing.T) {
		h := newRecoverHarness(t, format.OpenAIChat)
		func() {
			defer h.call.recoverPanic()
			h.call.streaming = true
			h.call.sendHead(bus.Head{Status: 200, Headers: []bus.Header{{Name: "Content-Type", Value: "text/event-stream"}}})
			h.call.sender.Data([]byte("data: {}\n\n"))
			panic("boom")
		}()
		frames := h.frames(t)
		var data []byte
		for _, f := range frames {
			if f.Kind == bus.FrameData {
				data = append(data, f.Payload...)
			}
		}
		if frames[0].Kind != bus.FrameHead || frames[len(frames)-1].Kind != bus.FrameEnd ||
			!strings.HasSuffix(string(data), "data: {\"error\":{\"message\":\"the gateway failed while handling this request\",\"type\":\"server_error\",\"param\":null,\"code\":\"internal_error\"}}\n\n") {
			t.Errorf("frames %v, data %q; want the head, the data, an OpenAI error event and the end", frames, data)
		}
		h.check(t)
	})
}

func (h *recoverHarness) check(t *testing.T) {
	t.Helper()
	if got := testutil.ToFloat64(h.panics); got != 1 {
		t.Errorf("gateway_panics_total = %v, want 1", got)
	}
	if log := h.logs.String(); !strings.Contains(log, `"request_id":"req_panicking"`) || !strings.Contains(log, `"panic":"boom"`) {
		t.Errorf("log %s: want the panic with the request id", log)
	}
}
