package app

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/ingress/access"
)

// accessBenchBody is a small non-streaming chat request.
const accessBenchBody = `{"model":"gpt-4o","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`

// accessBenchLimits are limits a benchmark never reaches, so every request goes
// through all four counters (two per minute, two per month).
var accessBenchLimits = []string{
	"requests_per_minute = 100000000",
	"tokens_per_minute = 100000000000",
	"quota_requests = 100000000000",
	"quota_tokens = 100000000000000",
}

// accessBenchUsage is what the mock reports for accessBenchBody.
var accessBenchUsage = access.Usage{InputTokens: 15, OutputTokens: 10}

// accessBenchRequests sends b.N non-streaming requests through the whole gateway
// over one keep-alive connection and reports the median latency beside
// ns/op.
func accessBenchRequests(b *testing.B, extra string, env map[string]string, key string) {
	m := startAccessMock(b, mock.Config{Chunks: 4})
	g, _ := startAccessApp(b, ModeAll, m.URL(), b.TempDir(), extra, env)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	do := func() {
		req, err := http.NewRequest(http.MethodPost, g.url+"/v1/chat/completions", strings.NewReader(accessBenchBody))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for range 50 { // warm the connection, the workers and the leases
		do()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		do()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkRequestWithAccessControl is a request with a key checked against
// every kind of limit.
func BenchmarkRequestWithAccessControl(b *testing.B) {
	keys := newTestKeys(b, "bench")
	accessBenchRequests(b, accessTOML("closed", keyTOML("bench", accessBenchLimits...)), keys.env, keys.plain["bench"])
}

// BenchmarkRequestWithoutAccessControl is the same request with access
// control off.
func BenchmarkRequestWithoutAccessControl(b *testing.B) {
	accessBenchRequests(b, "", nil, "")
}

// BenchmarkAccessPath is the access work of one request alone, on the
// gateway's own Guard: authenticate, authorize, admit and settle.
func BenchmarkAccessPath(b *testing.B) {
	keys := newTestKeys(b, "bench")
	m := startAccessMock(b, mock.Config{Chunks: 4})
	g, _ := startAccessApp(b, ModeAll, m.URL(), b.TempDir(), accessTOML("closed", keyTOML("bench", accessBenchLimits...)), keys.env)
	guard := g.app.guard
	auth := []byte("Bearer " + keys.plain["bench"])
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		k, err := guard.Authenticate(auth, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := guard.Authorize(k, "/v1/chat/completions", "gpt-4o"); err != nil {
			b.Fatal(err)
		}
		adm, err := guard.Admit(ctx, k, int64(len(accessBenchBody))/4+16)
		if err != nil {
			b.Fatal(err)
		}
		guard.Settle(adm, "gpt-4o", accessBenchUsage)
	}
}
