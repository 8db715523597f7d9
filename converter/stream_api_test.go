package converter

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/sse"
)

// TestStreamUsage checks the usage a worker reads after each stream, in
// every mode: Anthropic counts are cumulative (message_delta overwrites
// message_start field by field), OpenAI's come in the usage chunk.
func TestStreamUsage(t *testing.T) {
	anthropicText := string(readFixture(t, "anthropic_stream_text_tool_use.sse"))
	anthropicCut := string(readFixture(t, "anthropic_stream_tool_use_max_tokens_incomplete.sse"))
	openAI := string(readFixture(t, "openai_stream_parallel_tool_calls_usage.sse"))
	cached := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":500,\"cache_creation_input_tokens\":20,\"output_tokens\":1}}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":30}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":42,\"cache_read_input_tokens\":600}}\n\n"
	tests := []struct {
		name     string
		from, to format.Format
		in       string
		want     Usage
	}{
		{"anthropic pass-through", format.Anthropic, format.Anthropic, anthropicText, Usage{InputTokens: 394, OutputTokens: 79}},
		{"anthropic pass-through, cut at max_tokens", format.Anthropic, format.Anthropic, anthropicCut, Usage{InputTokens: 450, OutputTokens: 124}},
		{"anthropic to openai", format.Anthropic, format.OpenAIChat, anthropicText, Usage{InputTokens: 394, OutputTokens: 79}},
		{"openai pass-through", format.OpenAIChat, format.OpenAIChat, openAI, Usage{InputTokens: 149, OutputTokens: 60}},
		{"openai to anthropic", format.OpenAIChat, format.Anthropic, openAI, Usage{InputTokens: 149, OutputTokens: 60}},
		{"cumulative counts overwrite per field", format.Anthropic, format.OpenAIChat, cached,
			Usage{InputTokens: 630, OutputTokens: 42, CacheReadTokens: 600, CacheWriteTokens: 20}},
		{"cumulative counts in pass-through", format.Anthropic, format.Anthropic, cached,
			Usage{InputTokens: 630, OutputTokens: 42, CacheReadTokens: 600, CacheWriteTokens: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStream(tt.from, tt.to, StreamOptions{})
			if _, err := feedStream(s, []byte(tt.in)); err != nil {
				t.Fatal(err)
			}
			if got := s.Usage(); got != tt.want {
				t.Errorf("Usage() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestStreamLifecycle checks Started, Done, Finish and Fail around the
// events, in each mode.
func TestStreamLifecycle(t *testing.T) {
	modes := []struct {
		name     string
		from, to format.Format
		first    string // one ordinary upstream event
	}{
		{"anthropic_to_openai", format.Anthropic, format.OpenAIChat, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\"}}\n\n"},
		{"openai_to_anthropic", format.OpenAIChat, format.Anthropic, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n"},
		{"anthropic_passthrough", format.Anthropic, format.Anthropic, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\"}}\n\n"},
		{"openai_passthrough", format.OpenAIChat, format.OpenAIChat, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n"},
	}
	event := func(t *testing.T, raw string) sse.Event {
		t.Helper()
		ev, _, ok, _ := sse.Parse([]byte(raw), true, nil)
		if !ok {
			t.Fatalf("bad event %q", raw)
		}
		return ev
	}
	for _, m := range modes {
		t.Run(m.name+"/finish before any event sends an error event", func(t *testing.T) {
			s := NewStream(m.from, m.to, StreamOptions{})
			out := s.Finish(nil)
			evs := parseEvents(t, out)
			if len(evs) != 1 || !strings.Contains(string(evs[0].Data), `"error":{`) || !s.started || !s.Done() {
				t.Errorf("Finish on an empty stream: %q started %v done %v", out, s.started, s.Done())
			}
		})
		t.Run(m.name+"/fail ends the stream with one error event", func(t *testing.T) {
			s := NewStream(m.from, m.to, StreamOptions{})
			out, err := s.Event(nil, event(t, m.first))
			if err != nil || !s.started || s.Done() {
				t.Fatalf("after the first event: err %v started %v done %v", err, s.started, s.Done())
			}
			n := len(out)
			out = s.Fail(out, Errorf(KindUpstreamTimeout, "upstream idle for 60s"))
			tail := string(out[n:])
			if !s.Done() || !strings.Contains(tail, "upstream idle for 60s") {
				t.Fatalf("Fail appended %q, done %v", tail, s.Done())
			}
			checkSSE(t, out)
			if more := s.Fail(nil, Errorf(KindInternal, "again")); len(more) != 0 {
				t.Errorf("second Fail appended %q", more)
			}
			if more := s.Finish(nil); len(more) != 0 {
				t.Errorf("Finish after Fail appended %q", more)
			}
			if more, err := s.Event(nil, event(t, m.first)); len(more) != 0 || err != nil {
				t.Errorf("Event after Fail appended %q (err %v)", more, err)
			}
		})
		t.Run(m.name+"/malformed event is a stream interruption", func(t *testing.T) {
			s := NewStream(m.from, m.to, StreamOptions{})
			raw := "event: message_start\ndata: {\"type\":\n\n"
			if m.from == format.OpenAIChat {
				raw = "data: {\"id\":\n\n"
			}
			_, err := s.Event(nil, event(t, raw))
			e, ok := err.(*Error)
			if !ok || e.Kind != KindStreamInterrupted {
				t.Fatalf("err = %v, want a KindStreamInterrupted *Error", err)
			}
		})
	}
}
