package converter

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
)

// benchOpenAIRequest is a typical agent turn: system prompt, tools, one tool
// call round and a follow-up question.
const benchOpenAIRequest = `{"model":"gpt-4o","stream":true,"max_completion_tokens":1024,"temperature":0.2,
"messages":[
{"role":"system","content":"You are a helpful assistant. Answer briefly and cite the tools you used."},
{"role":"user","content":"What is the weather in Paris and the price of AAPL?"},
{"role":"assistant","content":"","tool_calls":[
 {"id":"call_JMWkbMmnBx2x6zHzCb3V5Aep","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"units\":\"metric\"}"}},
 {"id":"call_DNYTawLBoN8fj3KN6wRjKyaG","type":"function","function":{"name":"get_stock_price","arguments":"{\"ticker\":\"AAPL\"}"}}]},
{"role":"tool","tool_call_id":"call_JMWkbMmnBx2x6zHzCb3V5Aep","content":"{\"temp_c\":18,\"sky\":\"sunny\"}"},
{"role":"tool","tool_call_id":"call_DNYTawLBoN8fj3KN6wRjKyaG","content":"{\"price\":189.5,\"currency\":\"USD\"}"},
{"role":"assistant","content":"Paris is sunny at 18°C; AAPL trades at 189.50 USD."},
{"role":"user","content":"And in Rome?"}],
"tools":[
 {"type":"function","function":{"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"},"units":{"type":"string","enum":["metric","imperial"]}},"required":["city"]}}},
 {"type":"function","function":{"name":"get_stock_price","description":"Latest price of a ticker","parameters":{"type":"object","properties":{"ticker":{"type":"string"}},"required":["ticker"]}}}],
"tool_choice":"auto","parallel_tool_calls":true,"user":"user-42"}`

// benchAnthropicRequest is the same conversation in the Anthropic dialect.
const benchAnthropicRequest = `{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"temperature":0.2,
"system":[{"type":"text","text":"You are a helpful assistant. Answer briefly and cite the tools you used.","cache_control":{"type":"ephemeral"}}],
"messages":[
{"role":"user","content":"What is the weather in Paris and the price of AAPL?"},
{"role":"assistant","content":[
 {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"city":"Paris","units":"metric"}},
 {"type":"tool_use","id":"toolu_01B09q90qw90lq917835lq9","name":"get_stock_price","input":{"ticker":"AAPL"}}]},
{"role":"user","content":[
 {"type":"tool_result","tool_use_id":"toolu_01A09q90qw90lq917835lq9","content":"{\"temp_c\":18,\"sky\":\"sunny\"}"},
 {"type":"tool_result","tool_use_id":"toolu_01B09q90qw90lq917835lq9","content":[{"type":"text","text":"{\"price\":189.5,\"currency\":\"USD\"}"}]}]},
{"role":"assistant","content":[{"type":"text","text":"Paris is sunny at 18°C; AAPL trades at 189.50 USD."}]},
{"role":"user","content":[{"type":"text","text":"And in Rome?"}]}],
"tools":[
 {"name":"get_weather","description":"Current weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"},"units":{"type":"string","enum":["metric","imperial"]}},"required":["city"]}},
 {"name":"get_stock_price","description":"Latest price of a ticker","input_schema":{"type":"object","properties":{"ticker":{"type":"string"}},"required":["ticker"]}}],
"tool_choice":{"type":"auto"},"metadata":{"user_id":"user-42"}}`

// bigOpenAIRequest is a ~1 MB request carrying one base64 image.
func bigOpenAIRequest() []byte {
	img := strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ", 1<<20/44)
	return []byte(`{"model":"gpt-4o","stream":true,"messages":[{"role":"system","content":"Describe images."},` +
		`{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` +
		img + `"}}]}],"max_tokens":512}`)
}

func BenchmarkTranslateRequest(b *testing.B) {
	cases := []struct {
		name     string
		from, to format.Format
		body     []byte
	}{
		{"openai_to_anthropic", format.OpenAIChat, format.Anthropic, []byte(benchOpenAIRequest)},
		{"anthropic_to_openai", format.Anthropic, format.OpenAIChat, []byte(benchAnthropicRequest)},
		{"openai_to_anthropic_1MB", format.OpenAIChat, format.Anthropic, bigOpenAIRequest()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := TranslateRequest(c.from, c.to, c.body, RequestOptions{Model: "m", IncludeUsage: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInspectRequest(b *testing.B) {
	cases := []struct {
		name string
		f    format.Format
		body []byte
	}{
		{"openai", format.OpenAIChat, []byte(benchOpenAIRequest)},
		{"anthropic", format.Anthropic, []byte(benchAnthropicRequest)},
		{"openai_1MB", format.OpenAIChat, bigOpenAIRequest()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := InspectRequest(c.f, c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPatchRequest measures a same-format route on a 1 MB body: model
// rename plus forced include_usage.
func BenchmarkPatchRequest(b *testing.B) {
	body := bigOpenAIRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TranslateRequest(format.OpenAIChat, format.OpenAIChat, body, RequestOptions{Model: "gpt-4.1", IncludeUsage: true}); err != nil {
			b.Fatal(err)
		}
	}
}
