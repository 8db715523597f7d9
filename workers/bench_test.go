package workers

import (
	"context"
	"testing"
	"time"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/config"
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
		resp, err := client.do(ctx, time.Time{}, req, format.OpenAIChat, body)
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
