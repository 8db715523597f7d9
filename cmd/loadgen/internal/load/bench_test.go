package load

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRequest measures one request through each client against an
// in-process upstream: the server's share is the same for both, so the
// difference between them is the difference in client cost.
func BenchmarkRequest(b *testing.B) {
	up := &fakeUpstream{events: 10}
	for _, stream := range []bool{false, true} {
		for _, kind := range []ClientKind{ClientFastHTTP, ClientNetHTTP} {
			name := string(kind) + map[bool]string{false: "/json", true: "/stream"}[stream]
			b.Run(name, func(b *testing.B) {
				url := up.startBench(b)
				cfg := testConfig(url, ShapeOpenAI, stream, kind)
				cfg.Concurrency = 1
				body, err := cfg.requestBody()
				if err != nil {
					b.Fatal(err)
				}
				cl, err := newClient(cfg, url, body)
				if err != nil {
					b.Fatal(err)
				}
				defer cl.close()
				now := time.Now()
				r := &runner{
					cfg: cfg, client: cl, col: newCollector(), marker: cfg.streamMarker(),
					measureFrom: now, stopAt: now.Add(time.Hour), stopCh: make(chan struct{}),
				}
				w := r.newWorker()
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					w.once(ctx, time.Time{})
				}
				b.StopTimer()
				if ok := r.col.ok.Load(); ok != r.col.requests.Load() || ok == 0 {
					b.Fatalf("ok %d of %d", ok, r.col.requests.Load())
				}
			})
		}
	}
}
