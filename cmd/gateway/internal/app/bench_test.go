package app

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// The pipeline benchmarks send one request at a time, so ns/op is the
// latency of a whole request. Each runs through the gateway and straight to
// the mock upstream, in one process, so the ratio shows what the gateway
// adds. allocs/op counts the client, the gateway and the mock together.
//
//	go test ./cmd/gateway/internal/app -run '^$' -bench Pipeline -benchmem -count 5 | benchstat -

const (
	benchChat   = `{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello to the benchmark"}]}`
	benchStream = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello to the benchmark"}]}`
	benchAnth   = `{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"Say hello to the benchmark"}]}`
	benchAnthS  = `{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark"}]}`
)

func benchRequests(b *testing.B, url, body string, wantSuffix string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	defer client.CloseIdleConnections()
	do := func() {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !strings.HasSuffix(string(data), wantSuffix) {
			b.Fatalf("status %d, err %v, body %.300s", resp.StatusCode, err, data)
		}
	}
	do() // warm the connections
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		do()
	}
}

func benchPipeline(b *testing.B, chunks int, path, body, suffix string) {
	cfg := mock.DefaultConfig()
	cfg.Chunks = chunks
	g := startGateway(b, cfg, "", nil)
	b.Run("gateway", func(b *testing.B) { benchRequests(b, g.url+path, body, suffix) })
	upstreamPath := path
	if strings.Contains(path, "/x-anthropic/") {
		upstreamPath = "/v1/messages"
	} else if strings.Contains(path, "/x-openai/") {
		upstreamPath = "/v1/chat/completions"
	}
	if upstreamPath == path {
		b.Run("direct", func(b *testing.B) { benchRequests(b, g.mock.URL()+path, body, suffix) })
	}
}

func BenchmarkPipelineOpenAI(b *testing.B) {
	benchPipeline(b, 10, "/v1/chat/completions", benchChat, "}")
}

func BenchmarkPipelineOpenAIStream50(b *testing.B) {
	benchPipeline(b, 50, "/v1/chat/completions", benchStream, "data: [DONE]\n\n")
}

func BenchmarkPipelineAnthropic(b *testing.B) {
	benchPipeline(b, 10, "/v1/messages", benchAnth, "}")
}

func BenchmarkPipelineAnthropicStream50(b *testing.B) {
	benchPipeline(b, 50, "/v1/messages", benchAnthS, "\n\n")
}

func BenchmarkPipelineOpenAIToAnthropic(b *testing.B) {
	benchPipeline(b, 10, "/x-anthropic/v1/chat/completions", benchChat, "}")
}

func BenchmarkPipelineOpenAIToAnthropicStream50(b *testing.B) {
	benchPipeline(b, 50, "/x-anthropic/v1/chat/completions", benchStream, "data: [DONE]\n\n")
}

func BenchmarkPipelineAnthropicToOpenAI(b *testing.B) {
	benchPipeline(b, 10, "/x-openai/v1/messages", benchAnth, "}")
}

func BenchmarkPipelineAnthropicToOpenAIStream50(b *testing.B) {
	benchPipeline(b, 50, "/x-openai/v1/messages", benchAnthS, "\n\n")
}
