package bus

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aigateway/gateway/converter/jsonx"
)

// The hot stages of the bus, for regressions seen with benchstat:
//
//	go test ./bus -run '^$' -bench . -benchmem -count 5 | benchstat -

var benchEvent = []byte("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n")

func BenchmarkFrameEncodeDecode(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], FrameData, 7, benchEvent)
		buf = AppendFrame(buf, FrameEnd, 8, AppendUsage(nil, Usage{InputTokens: 12, OutputTokens: 30}))
		rest := buf
		for len(rest) > 0 {
			var err error
			if _, rest, err = NextFrame(rest); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkEnvelopeEncodeDecode(b *testing.B) {
	body := make([]byte, 2048)
	req := &Request{
		ID: "Zx1b2c3d4e5f6g7h8i9j0k", ClientRequestID: "req_Zx1b2c3d4e5f6g7h8i9j0k", Reply: "_GW.reply.abc.Zx1b2c3d4e5f6g7h8i9j0k",
		Route: "/v1/chat/completions", Upstream: "openai", Model: "gpt-4o", Stream: true,
		Deadline: time.Now().UnixNano(), Enqueued: time.Now().UnixNano(), BodySize: len(body), Body: body,
		Headers: []Header{{Name: "anthropic-version", Value: "2023-06-01"}},
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRequest(buf[:0], req)
		if _, err := DecodeRequest(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchServer(b *testing.B) (*nats.Conn, *nats.Conn) {
	b.Helper()
	srv, err := server.NewServer(&server.Options{DontListen: true, JetStream: true, StoreDir: b.TempDir(), NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		b.Fatal("server not ready")
	}
	b.Cleanup(srv.Shutdown)
	connect := func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		return nc
	}
	return connect(), connect()
}

// benchBoxes returns an ingress's Inbox and a worker's Outbox on an embedded
// server, both subscribed before the first frame; they close when b ends.
func benchBoxes(b *testing.B) (*Inbox, *Outbox) {
	b.Helper()
	ingressConn, workerConn := benchServer(b)
	inbox, err := NewInbox(ingressConn, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = inbox.Close() })
	outbox, err := NewOutbox(workerConn, "bench", 10*time.Second, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = outbox.Close() })
	for _, nc := range []*nats.Conn{ingressConn, workerConn} {
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	return inbox, outbox
}

// BenchmarkReplyFrames is one reply message from a worker's Sender to the
// ingress's Reply, over an in-process connection: the per-event bus hop.
func BenchmarkReplyFrames(b *testing.B) {
	inbox, outbox := benchBoxes(b)
	reply := inbox.Open("req1")
	defer reply.Close()
	sender, err := outbox.Begin(context.Background(), &Request{ID: "req1", Reply: reply.Subject()}, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sender.Data(benchEvent)
		if err := sender.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		for {
			f, ok, _, err := reply.Next()
			if err != nil {
				b.Fatal(err)
			}
			if ok && f.Kind == FrameData {
				reply.Written(len(f.Payload))
				break
			}
			if !ok {
				<-reply.Ready()
			}
		}
	}
}

// BenchmarkQueueRoundTrip is a request through an upstream's work queue to a
// pulling worker and its first reply frame back: the queueing cost.
func BenchmarkQueueRoundTrip(b *testing.B) {
	ingressConn, workerConn := benchServer(b)
	ctx := context.Background()
	js, err := jetstream.New(ingressConn)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := EnsureQueue(ctx, js, QueueConfig{Upstream: "bench", Size: 4096, Timeout: time.Minute}); err != nil {
		b.Fatal(err)
	}
	puller, err := NewPuller(workerConn, "bench", 16)
	if err != nil {
		b.Fatal(err)
	}
	defer puller.Close()
	stop := make(chan struct{})
	stopped := make(chan struct{})
	defer func() {
		close(stop)
		<-stopped
	}()
	go func() {
		defer close(stopped)
		for {
			if err := puller.Pull(16, time.Second); err != nil {
				return
			}
			for pending := 16; pending > 0; {
				var m *nats.Msg
				select {
				case <-stop:
					return
				case m = <-puller.Messages():
				}
				switch puller.Classify(m) {
				case PullEnded:
					pending = 0
					continue
				case PullNoise:
					continue
				}
				pending--
				_ = puller.Ack(m)
				req, err := DecodeRequest(m.Data)
				if err != nil {
					continue
				}
				_ = workerConn.Publish(req.Reply, AppendFrame(nil, FrameEnd, 1, nil))
			}
		}
	}()
	inbox, err := NewInbox(ingressConn, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer inbox.Close()
	queues := NewQueues(js)
	body := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		reply := inbox.Open("r")
		env := AppendRequest(nil, &Request{ID: "r", Reply: reply.Subject(), Upstream: "bench", BodySize: len(body), Body: body})
		if err := queues.Enqueue("bench", reply.Subject(), env); err != nil {
			b.Fatal(err)
		}
		for done := false; !done; {
			f, ok, _, err := reply.Next()
			if err != nil {
				b.Fatal(err)
			}
			switch {
			case ok && f.Kind == FrameEnd:
				done = true
			case !ok:
				<-reply.Ready()
			}
		}
		reply.Close()
	}
}

// BenchmarkRegistryReads is what every attempt asks the presence registry
// (Workers and Envelope) and what model routing asks it (Load), from many
// request goroutines at once.
func BenchmarkRegistryReads(b *testing.B) {
	r := &Registry{now: time.Now, seen: make(map[string]map[string]workerState)}
	for _, w := range []string{"w1", "w2", "w3", "w4"} {
		data, err := jsonx.Marshal(Presence{Worker: w, Envelope: EnvelopeVersion, Upstreams: map[string]PoolState{
			"openai": {Capacity: 64, Busy: 3}, "anthropic": {Capacity: 32, Busy: 1},
		}})
		if err != nil {
			b.Fatal(err)
		}
		r.handle(&nats.Msg{Data: data})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r.Workers("openai") != 4 || r.Envelope("openai") != EnvelopeVersion {
				b.Fatal("wrong presence")
			}
			if c, _ := r.Load("anthropic"); c != 128 {
				b.Fatal("wrong load")
			}
		}
	})
}

// BenchmarkInboxParallelReplies is many streams at once, each sending small
// frames from a worker's Sender to the ingress's Reply: the load on the
// inbox's reply dispatch. Each of the b.RunParallel goroutines (16 per
// GOMAXPROCS) owns one stream and waits for each frame before sending the
// next.
//
// The inbox spreads its streams over min(GOMAXPROCS, 8) subscriptions, each
// with a dispatcher goroutine of its own, where one subscription ran every
// frame's callback on one goroutine. On 2 cores (-cpu 1,2) that changes
// nothing measurable: the embedded server, both connections' read loops and
// the streams keep both cores busy. On 16 cores 8 dispatchers share what
// one did; what stays serial per process is the connection's read loop,
// which parses and copies every message.
func BenchmarkInboxParallelReplies(b *testing.B) {
	inbox, outbox := benchBoxes(b)
	var streams atomic.Int64
	ctx := context.Background()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		id := "req" + strconv.FormatInt(streams.Add(1), 10)
		reply := inbox.Open(id)
		defer reply.Close()
		sender, err := outbox.Begin(ctx, &Request{ID: id, Reply: reply.Subject()}, 0)
		if err != nil {
			b.Error(err)
			return
		}
		defer sender.Close()
		for pb.Next() {
			sender.Data(benchEvent)
			if err := sender.Flush(ctx); err != nil {
				b.Error(err)
				return
			}
			for {
				f, ok, _, err := reply.Next()
				if err != nil {
					b.Error(err)
					return
				}
				if ok && f.Kind == FrameData {
					reply.Written(len(f.Payload))
					break
				}
				if !ok {
					<-reply.Ready()
				}
			}
		}
	})
}
