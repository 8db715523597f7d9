package mock

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// benchChunks is the chunk count of the project's benchmark setups.
const benchChunks = 22

// benchRequest posts body to s over loopback and reads the whole answer.
func benchRequest(b *testing.B, client *http.Client, url, path, body string) {
	req, err := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func benchmarkMock(b *testing.B, path, body string) {
	cfg := DefaultConfig()
	cfg.Chunks = benchChunks
	s := startServer(b, cfg)
	client := newHTTPClient(b)
	url := s.URL()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		benchRequest(b, client, url, path, body)
	}
}

// BenchmarkMockChat measures a whole non-streamed request over loopback,
// client included: the "direct" baseline of the gateway's benchmarks.
func BenchmarkMockChat(b *testing.B) {
	b.Run("openai", func(b *testing.B) { benchmarkMock(b, oaPath, oaSimple) })
	b.Run("anthropic", func(b *testing.B) { benchmarkMock(b, anPath, anSimple) })
}

// BenchmarkMockStream measures a whole streamed request of 22 chunks, each
// flushed on its own, over loopback.
func BenchmarkMockStream(b *testing.B) {
	b.Run("openai", func(b *testing.B) {
		benchmarkMock(b, oaPath, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there"}]}`)
	})
	b.Run("anthropic", func(b *testing.B) { benchmarkMock(b, anPath, anSimpleStream) })
}

// BenchmarkHandler measures the handler alone, without the network.
func BenchmarkHandler(b *testing.B) {
	tests := []struct{ name, path, body string }{
		{"openai_json", oaPath, oaSimple},
		{"openai_stream", oaPath, oaSimpleStream},
		{"anthropic_json", anPath, anSimple},
		{"anthropic_stream", anPath, anSimpleStream},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Chunks = benchChunks
			s := New(cfg)
			h := s.Handler()
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body))
				req.Header.Set("anthropic-version", "2023-06-01")
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Flush()                      {}
