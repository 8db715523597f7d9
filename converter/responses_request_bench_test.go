package converter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkResponsesRequest measures the Responses request translators and
// admission on the recorded-shape Codex turn and on a ~1 MB request
// carrying one base64 image.
func BenchmarkResponsesRequest(b *testing.B) {
	codex, err := os.ReadFile(filepath.Join("testdata", "request", "responses_to_anthropic", "codex_multi_turn_tool_loop.in.json"))
	if err != nil {
		b.Fatal(err)
	}
	hub, err := responsesToAnthropicRequest(codex, RequestOptions{Intermediate: true})
	if err != nil {
		b.Fatal(err)
	}
	img := strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ", 1<<20/44)
	big := []byte(`{"model":"claude-sonnet-4-5","stream":true,"instructions":"Describe images.","input":[{"role":"user","content":[` +
		`{"type":"input_text","text":"What is this?"},{"type":"input_image","image_url":"data:image/png;base64,` + img + `"}]}]}`)
	cases := []struct {
		name string
		run  func([]byte) error
		body []byte
	}{
		{"inspect_codex", func(b []byte) error { _, err := inspectResponsesRequest(b); return err }, codex},
		{"inspect_1MB", func(b []byte) error { _, err := inspectResponsesRequest(b); return err }, big},
		{"responses_to_anthropic_codex", func(b []byte) error { _, err := responsesToAnthropicRequest(b, RequestOptions{}); return err }, codex},
		{"responses_to_anthropic_1MB", func(b []byte) error { _, err := responsesToAnthropicRequest(b, RequestOptions{}); return err }, big},
		{"hub_to_responses_codex", func(b []byte) error { _, err := anthropicToResponsesRequest(b, RequestOptions{}); return err }, hub},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := c.run(c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
