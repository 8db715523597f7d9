package mock

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenHeaders are the response headers written into golden files; Date
// and lengths are left out.
var goldenHeaders = []string{
	"Content-Type", "Cache-Control", "Retry-After", "X-Request-Id", "Request-Id",
	"X-Ratelimit-Limit-Requests", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Requests",
	"X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens",
	"Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Requests-Reset",
	"Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset",
}

// TestGolden pins the exact bytes of each kind of answer: the status line,
// the provider headers and the body, on a server with a fixed clock.
func TestGolden(t *testing.T) {
	const tools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"n":{"type":"integer"}}}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":["string","null"]},"utc":{"type":"boolean"}}}}}]`
	const rsTools = `"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	const anTools = `"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"},"n":{"type":"integer"}}}},{"name":"get_time","input_schema":{"type":"object","properties":{"tz":{"type":"string"},"utc":{"type":"boolean"}}}}]`
	tests := []struct {
		name, path, body string
		cfg              Config
	}{
		{name: "openai_text", path: oaPath, body: `{"model":"gpt-4o","messages":[{"role":"user","content":"Héllo, wörld \"quoted\" <b>"}]}`},
		{name: "openai_text_stream", path: oaPath, body: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Héllo, wörld"}]}`},
		{name: "openai_text_stream_usage", path: oaPath, body: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{name: "openai_tools", path: oaPath, body: `{"model":"gpt-4o","messages":[{"role":"user","content":"go"}],` + tools + `}`},
		{name: "openai_tools_stream", path: oaPath, body: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"go"}],` + tools + `}`},
		{name: "openai_error_429", path: oaPath, body: `{}`, cfg: Config{ErrorStatus: 429}},
		{name: "anthropic_text", path: anPath, body: `{"model":"claude","max_tokens":64,"messages":[{"role":"user","content":[{"type":"text","text":"Héllo","cache_control":{"type":"ephemeral"}}]}]}`},
		{name: "anthropic_text_stream", path: anPath, body: `{"model":"claude","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Héllo, wörld"}]}`},
		{name: "anthropic_thinking_tools", path: anPath, body: `{"model":"claude","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"go"}],` + anTools + `}`},
		{name: "anthropic_thinking_tools_stream", path: anPath, body: `{"model":"claude","max_tokens":4096,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"go"}],` + anTools + `}`},
		{name: "anthropic_stop_sequence_stream", path: anPath, body: `{"model":"claude","max_tokens":64,"stream":true,"stop_sequences":["said"],"messages":[{"role":"user","content":"x"}]}`, cfg: Config{Chunks: 3}},
		{name: "anthropic_error_529", path: anPath, body: `{}`, cfg: Config{ErrorStatus: 529}},
		{name: "responses_text", path: rsPath, body: `{"model":"gpt-5","input":"Héllo, wörld \"quoted\" <b>"}`},
		{name: "responses_text_stream", path: rsPath, body: `{"model":"gpt-5","stream":true,"input":[{"role":"user","content":"Héllo"}]}`, cfg: Config{Chunks: 3}},
		{name: "responses_tools_stream", path: rsPath, body: `{"model":"gpt-5","stream":true,"stream_options":{"include_obfuscation":false},"input":"go",` + rsTools + `}`},
		{name: "responses_reasoning_stream", path: rsPath, body: `{"model":"gpt-5","stream":true,"reasoning":{"effort":"low","summary":"auto"},"include":["reasoning.encrypted_content"],"input":"x"}`, cfg: Config{Chunks: 2}},
		{name: "responses_incomplete", path: rsPath, body: `{"model":"gpt-5","max_output_tokens":16,"input":"x"}`, cfg: Config{Chunks: 20}},
		{name: "responses_error_400", path: rsPath, body: `{"model":"gpt-5","input":[{"type":"function_call_output","call_id":"call_1","output":"r"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Strict = true
			s := startServer(t, cfg)
			resp := post(t, s, tt.path, tt.body, nil)
			if resp.err != nil {
				t.Fatal(resp.err)
			}
			var got bytes.Buffer
			got.WriteString("status: ")
			got.WriteString(strconv.Itoa(resp.status))
			got.WriteByte('\n')
			for _, k := range slices.Sorted(slices.Values(goldenHeaders)) {
				if v := resp.header.Get(k); v != "" {
					got.WriteString(k + ": " + v + "\n")
				}
			}
			got.WriteByte('\n')
			got.Write(resp.body)
			file := filepath.Join("testdata", "golden", tt.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("answer differs from %s (run go test -update if intended):\n got:\n%s\nwant:\n%s", file, got.Bytes(), want)
			}
		})
	}
}
