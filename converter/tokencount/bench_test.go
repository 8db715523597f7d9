package tokencount

import (
	"strings"
	"testing"
)

// BenchmarkAnthropicRequest estimates a request of about 4 KB of prose, a
// tool and a tool round trip: the work of one count_tokens call.
func BenchmarkAnthropicRequest(b *testing.B) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 90)
	body := []byte(`{"model":"claude-sonnet-4-5","system":"You are terse.","tools":[{"name":"get_weather","description":"Weather of a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"messages":[` +
		`{"role":"user","content":"` + text + `"},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"}]}]}`)
	c := New()
	if _, err := c.AnthropicRequest(body, "claude-sonnet-4-5"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.AnthropicRequest(body, "claude-sonnet-4-5"); err != nil {
			b.Fatal(err)
		}
	}
}
