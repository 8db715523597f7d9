package converter

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/sse"
)

const benchEvents = 200

// benchAnthropicStream is a 200-event Anthropic stream: a text block of 150
// deltas, a tool call of 40 argument fragments, pings and the closing events.
func benchAnthropicStream() []byte {
	var b strings.Builder
	ev := func(typ, data string) { fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", typ, data) }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_01Bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1200,"cache_creation_input_tokens":0,"cache_read_input_tokens":800,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for i := 0; i < 150; i++ {
		if i%50 == 25 {
			ev("ping", `{"type": "ping"}`)
		}
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the quick \"brown\" fox"}}`)
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01Bench","name":"write_file","input":{}}}`)
	ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"body\": \""}}`)
	for i := 0; i < 38; i++ {
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"some text "}}`)
	}
	ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"}"}}`)
	ev("content_block_stop", `{"type":"content_block_stop","index":1}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":240}}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return []byte(b.String())
}

// benchOpenAIStream is a 200-event OpenAI stream: role chunk, 150 content
// chunks, a tool call of 45 chunks, finish, usage and [DONE].
func benchOpenAIStream() []byte {
	var b strings.Builder
	const head = `{"id":"chatcmpl-Bench","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1","system_fingerprint":"fp_1","choices":[{"index":0,"delta":`
	const tail = `,"logprobs":null,"finish_reason":null}]}`
	chunk := func(delta string) { fmt.Fprintf(&b, "data: %s%s%s\n\n", head, delta, tail) }
	chunk(`{"role":"assistant","content":"","refusal":null}`)
	for i := 0; i < 150; i++ {
		chunk(`{"content":" the quick \"brown\" fox"}`)
	}
	chunk(`{"tool_calls":[{"index":0,"id":"call_Bench","type":"function","function":{"name":"write_file","arguments":""}}]}`)
	chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"body\": \""}}]}`)
	for i := 0; i < 43; i++ {
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"some text "}}]}`)
	}
	chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"}"}}]}`)
	b.WriteString(`data: {"id":"chatcmpl-Bench","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}` + "\n\n")
	b.WriteString(`data: {"id":"chatcmpl-Bench","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1","choices":[],"usage":{"prompt_tokens":2000,"completion_tokens":240,"total_tokens":2240,"prompt_tokens_details":{"cached_tokens":800}}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return []byte(b.String())
}

// splitEvents parses a stream into events with their own copies of the bytes.
func splitEvents(tb testing.TB, in []byte) []sse.Event {
	tb.Helper()
	var evs []sse.Event
	for len(in) > 0 {
		ev, n, ok, _ := sse.Parse(in, true, nil)
		if !ok {
			tb.Fatal("partial event")
		}
		in = in[n:]
		evs = append(evs, sse.Event{Name: bytes.Clone(ev.Name), Data: bytes.Clone(ev.Data), Raw: bytes.Clone(ev.Raw)})
	}
	return evs
}

func BenchmarkStream(b *testing.B) {
	anth, oa := benchAnthropicStream(), benchOpenAIStream()
	tests := []struct {
		name     string
		from, to format.Format
		in       []byte
	}{
		{"anthropic_to_openai", format.Anthropic, format.OpenAIChat, anth},
		{"openai_to_anthropic", format.OpenAIChat, format.Anthropic, oa},
		{"anthropic_passthrough", format.Anthropic, format.Anthropic, anth},
		{"openai_passthrough", format.OpenAIChat, format.OpenAIChat, oa},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			evs := splitEvents(b, tt.in)
			if len(evs) != benchEvents {
				b.Fatalf("%d events, want %d", len(evs), benchEvents)
			}
			dst := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.in)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := NewStream(tt.from, tt.to, StreamOptions{IncludeUsage: true})
				out := dst[:0]
				for _, ev := range evs {
					var err error
					if out, err = s.Event(out, ev); err != nil {
						b.Fatal(err)
					}
				}
				out = s.Finish(out)
				if !s.Done() {
					b.Fatal("stream not done")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchEvents), "ns/event")
		})
	}
}

func BenchmarkTranslateResponse(b *testing.B) {
	anth := []byte(`{"id":"msg_01Bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[` +
		`{"type":"text","text":"I'll look up the weather in Paris and report back with the details you asked for."},` +
		`{"type":"tool_use","id":"toolu_01Bench","name":"get_weather","input":{"city":"Paris","units":"celsius","days":3}}],` +
		`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":412,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024,"output_tokens":87}}`)
	oa := []byte(`{"id":"chatcmpl-Bench","object":"chat.completion","created":1741569952,"model":"gpt-4.1","choices":[{"index":0,"message":{"role":"assistant",` +
		`"content":"I'll look up the weather in Paris and report back with the details you asked for.","refusal":null,"annotations":[],` +
		`"tool_calls":[{"id":"call_Bench","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"units\":\"celsius\",\"days\":3}"}}]},` +
		`"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1436,"completion_tokens":87,"total_tokens":1523,"prompt_tokens_details":{"cached_tokens":1024}},` +
		`"service_tier":"default","system_fingerprint":"fp_1"}`)
	tests := []struct {
		name     string
		from, to format.Format
		body     []byte
		opts     ResponseOptions
	}{
		{"anthropic_to_openai", format.Anthropic, format.OpenAIChat, anth, ResponseOptions{}},
		{"openai_to_anthropic", format.OpenAIChat, format.Anthropic, oa, ResponseOptions{}},
		{"anthropic_passthrough", format.Anthropic, format.Anthropic, anth, ResponseOptions{}},
		{"openai_passthrough_model_patched", format.OpenAIChat, format.OpenAIChat, oa, ResponseOptions{Model: "alias"}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.body)))
			for i := 0; i < b.N; i++ {
				if _, _, err := TranslateResponse(tt.from, tt.to, tt.body, tt.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
