package app

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/openai/openai-go/v3"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/config"
)

// A rolling upgrade runs ingresses and workers of adjacent releases side by
// side. These tests play the older side by building its envelopes and frames
// the way releases before envelope versioning did.

// oldAppendRequest encodes a request envelope as releases before envelope
// versioning did (version 1, no upstream model, no attempt).
func oldAppendRequest(r *bus.Request) []byte {
	dst := []byte{1}
	str := func(s string) {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	for _, s := range [...]string{r.ID, r.ClientRequestID, r.Reply, r.Route, r.Upstream, r.Model, r.BodySubject} {
		str(s)
	}
	var flags byte
	if r.Stream {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = binary.AppendVarint(dst, r.Deadline)
	dst = binary.AppendVarint(dst, r.Enqueued)
	dst = binary.AppendUvarint(dst, uint64(r.BodySize))
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		str(h.Name)
		str(h.Value)
	}
	return append(dst, r.Body...)
}

// launchText starts a gateway process from a whole configuration (%s is
// the store directory).
func launchText(t *testing.T, mode Mode, text string, env map[string]string) *gateway {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(fmt.Sprintf(text, t.TempDir())), func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg, Options{Mode: mode, Logger: logger, Version: "test", Listener: ln})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("starting gateway (%s): %v", mode, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		if t.Failed() {
			t.Logf("%s gateway logs:\n%s", mode, tail(logs.String(), 40))
		}
	})
	return &gateway{t: t, app: a, url: "http://" + a.Addr(), logs: logs}
}

const mixedTOML = `
[server]
host = "127.0.0.1"
stall_timeout = "3s"

[bus]
monitor = ""
store_dir = %%q

[[upstreams]]
name = "old-pool"
url = "http://127.0.0.1:1"
format = "openai-chat"
queue_timeout = "5s"

[[upstreams]]
name = "new-pool"
url = %q
format = "openai-chat"
queue_timeout = "5s"

[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"
upstream = "new-pool"

[[routes]]
path = "/m/v1/chat/completions"
input_format = "openai-chat"

[[models]]
name = "gpt-4o"

[[models.targets]]
upstream = "old-pool"

[[models.targets]]
upstream = "new-pool"
priority = 1
`

// TestMixedVersions runs a new ingress and a new worker beside an old
// worker (played by the test) on one NATS: the ingress speaks version 1 to
// the old worker's queue and takes its untyped error as final; the new
// worker serves a version-1 request from an old ingress (played by the
// test) the old way.
func TestMixedVersions(t *testing.T) {
	node := startNATSNode(t)
	upstream := startMock(t, mock.DefaultConfig())
	env := map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": node.url()}
	text := fmt.Sprintf(mixedTOML, upstream.URL())
	// The new worker serves new-pool only: old-pool is the old worker's.
	workerText := strings.Replace(text, `name = "old-pool"`, `name = "old-pool-unused"`, 1)
	workerText = strings.Replace(workerText, `upstream = "old-pool"`, `upstream = "old-pool-unused"`, 1)
	launchText(t, ModeWorker, workerText, env)
	in := launchText(t, ModeIngress, text, env)

	nc, err := nats.Connect(node.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	versions := make(chan byte, 16)
	stopOld := runOldWorker(t, nc, "old-pool", versions)
	defer stopOld()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.app.ingress.WaitForWorkers(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	t.Run("new ingress, old worker", func(t *testing.T) {
		_, err := in.openAI("/m").Chat.Completions.New(context.Background(), routedChat("gpt-4o", "hi"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || !strings.Contains(apiErr.Message, "old worker") {
			t.Fatalf("err = %v, want the old worker's 503, final", err)
		}
		select {
		case v := <-versions:
			if v != bus.EnvelopeV1 {
				t.Errorf("the old worker got envelope version %d", v)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the old worker got no request")
		}
		if n := upstream.Stats().Requests; n != 0 {
			t.Errorf("an untyped error from an old worker was retried: new-pool's upstream got %d requests", n)
		}
	})

	t.Run("old ingress, new worker", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			status int
		}{{"answer", 200}, {"upstream error", 500}} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := mock.DefaultConfig()
				cfg.ErrorStatus = map[int]int{200: 0, 500: 500}[tc.status]
				upstream.SetConfig(cfg)
				frames := oldIngressRequest(t, nc, "new-pool", "/v1/chat/completions")
				kinds := ""
				status := 0
				for _, f := range frames {
					kinds += string(rune(f.Kind))
					if f.Kind == bus.FrameHead {
						h, err := bus.DecodeHead(f.Payload)
						if err != nil {
							t.Fatal(err)
						}
						status = h.Status
					}
				}
				// An old ingress knows accept, head, data and end; a typed
				// failure frame would be malformed to it.
				if !strings.HasPrefix(kinds, "AH") || !strings.HasSuffix(kinds, "E") || strings.ContainsRune(kinds, 'F') || status != tc.status {
					t.Errorf("frames %q, status %d; want accept, head %d, data..., end", kinds, status, tc.status)
				}
			})
		}
	})
}

// runOldWorker serves upstream's queue the way a worker from before
// envelope versioning did: it announces itself without an envelope version,
// refuses envelopes of any version but 1, and answers every request with an
// untyped error frame.
func runOldWorker(t *testing.T, nc *nats.Conn, upstream string, versions chan<- byte) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := bus.Announce(ctx, nc, func() bus.Presence {
		return bus.Presence{Worker: "old-worker", Upstreams: map[string]bus.PoolState{upstream: {Capacity: 4}}}
	}); err != nil {
		t.Fatal(err)
	}
	puller, err := bus.NewPuller(nc, upstream, 4)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = puller.Close() }()
		for ctx.Err() == nil {
			if err := puller.Pull(1, 500*time.Millisecond); err != nil {
				return
			}
			deadline := time.After(600 * time.Millisecond)
		wait:
			for {
				select {
				case <-ctx.Done():
					return
				case <-deadline:
					break wait
				case m := <-puller.Messages():
					if puller.Classify(m) != bus.PulledRequest {
						if puller.Classify(m) == bus.PullEnded {
							break wait
						}
						continue
					}
					_ = puller.Ack(m)
					versions <- m.Data[0]
					if m.Data[0] != 1 {
						continue // the old DecodeRequest refused it
					}
					req, err := bus.DecodeRequest(m.Data)
					if err != nil {
						continue
					}
					accept := binary.AppendUvarint(nil, 0)
					accept = append(accept, "old.worker.ctl."+req.ID...)
					msg := bus.AppendFrame(nil, bus.FrameAccept, 1, accept)
					body := []byte(`{"error":{"message":"old worker says no","type":"server_error","param":null,"code":null}}`)
					msg = bus.AppendFrame(msg, bus.FrameError, 2, bus.AppendError(nil, 503, body))
					_ = nc.Publish(req.Reply, msg)
					break wait
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// oldIngressRequest queues a chat request on upstream the way an ingress
// from before envelope versioning did, and returns the reply frames up to
// the final one.
func oldIngressRequest(t *testing.T, nc *nats.Conn, upstream, route string) []bus.Frame {
	t.Helper()
	inbox := nats.NewInbox()
	msgs := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(inbox, msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hello from the past"}]}`)
	now := time.Now()
	env := oldAppendRequest(&bus.Request{
		ID: "old" + fmt.Sprint(now.UnixNano()), ClientRequestID: "req_old", Reply: inbox, Route: route,
		Upstream: upstream, Model: "gpt-4o", Deadline: now.Add(5 * time.Second).UnixNano(), Enqueued: now.UnixNano(),
		BodySize: len(body), Body: body,
	})
	if err := nc.PublishRequest(bus.QueueSubject(upstream), inbox, env); err != nil {
		t.Fatal(err)
	}
	var frames []bus.Frame
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			if len(m.Data) == 0 || m.Data[0] == '{' {
				continue // JetStream's acknowledgement of the publish
			}
			for rest := m.Data; len(rest) > 0; {
				f, next, err := bus.NextFrame(rest)
				if err != nil {
					t.Fatalf("frame: %v", err)
				}
				rest = next
				if f.Kind == bus.FrameHeartbeat {
					continue
				}
				frames = append(frames, f)
				switch f.Kind {
				case bus.FrameEnd, bus.FrameError, bus.FrameFailure:
					return frames
				}
			}
		case <-timeout:
			t.Fatalf("no final frame; got %d frames", len(frames))
		}
	}
}
