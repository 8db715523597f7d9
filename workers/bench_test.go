package workers

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
)

// BenchmarkUpstreamClient is one non-streamed call to the mock upstream
// through the workers' tuned HTTP client: the upstream-call stage alone.
//
//	go test ./workers -run '^$' -bench . -benchmem -count 5 | benchstat -
func BenchmarkUpstreamClient(b *testing.B) {
	m := mock.New(mock.DefaultConfig())
	if err := m.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	u := config.DefaultUpstream()
	u.URL, u.Format, u.Timeout = m.URL(), format.OpenAIChat, config.Duration{Duration: 10 * time.Second}
	client, err := newUpstreamClient(u)
	if err != nil {
		b.Fatal(err)
	}
	defer client.close()
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello to the benchmark"}]}`)
	req := &bus.Request{Model: "gpt-4o"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.do(ctx, time.Time{}, req, format.OpenAIChat, body, nil)
		if err != nil {
			b.Fatal(err)
		}
		status := resp.Status()
		resp.Close()
		if status != 200 {
			b.Fatalf("status %d", status)
		}
	}
}

// BenchmarkRunner is the hand-over of a request to a goroutine and its
// return to the idle ones, the runner's share of each request: one at a
// time (serial) and from many fetch loops at once (parallel).
func BenchmarkRunner(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		var r runner
		defer r.stop()
		done := make(chan struct{})
		job := func() { done <- struct{}{} }
		b.ReportAllocs()
		for b.Loop() {
			r.run(job)
			<-done
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var r runner
		defer r.stop()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			done := make(chan struct{})
			job := func() { done <- struct{}{} }
			for pb.Next() {
				r.run(job)
				<-done
			}
		})
	})
}

// BenchmarkPoolMetrics is what each upstream call counts: its status and
// its tokens, from many calls at once.
func BenchmarkPoolMetrics(b *testing.B) {
	m := newMetrics(prometheus.NewRegistry())
	pm := m.forPool("openai", "openai")
	u := config.DefaultUpstream()
	u.Name = "openai"
	tc := newTokenCounters(m.tokens, u, nil)
	usage := converter.Usage{InputTokens: 12, OutputTokens: 30}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pm.request(200)
			tc.add("gpt-4o", usage)
		}
	})
}
