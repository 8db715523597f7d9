package streamsdk_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"

	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/sse"
)

func readFile(t *testing.T, path ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(path...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// translate feeds in to a converter.Stream event by event, as a worker does,
// and returns the data of every event the client receives.
func translate(t *testing.T, from, to format.Format, opts converter.StreamOptions, in []byte) [][]byte {
	t.Helper()
	s := converter.NewStream(from, to, opts)
	var out []byte
	for len(in) > 0 {
		ev, n, ok, _ := sse.Parse(in, true, nil)
		if !ok {
			break
		}
		in = in[n:]
		var err error
		if out, err = s.Event(out, ev); err != nil {
			t.Fatal(err)
		}
	}
	out = s.Finish(out)
	var data [][]byte
	for len(out) > 0 {
		ev, n, ok, _ := sse.Parse(out, false, nil)
		if !ok {
			t.Fatalf("partial event in output: %q", out)
		}
		out = out[n:]
		if !ev.IsComment() {
			data = append(data, bytes.Clone(ev.Data))
		}
	}
	return data
}

func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal([]byte(got), &a); err != nil {
		t.Fatalf("%q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("got %s, want %s", ja, jb)
	}
}

// TestOpenAIAccumulator feeds an Anthropic stream with a text block and two
// tool_use blocks (synthesized: no public recording of one exists),
// translated, to openai-go's ChatCompletionAccumulator.
func TestOpenAIAccumulator(t *testing.T) {
	in := readFile(t, "..", "..", "testdata", "stream", "anthropic_to_openai", "text_then_two_tool_calls_synthesized.in.sse")
	tests := []struct {
		name         string
		includeUsage bool
	}{
		{"with include_usage", true},
		{"without include_usage", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var acc openai.ChatCompletionAccumulator
			for _, data := range translate(t, format.Anthropic, format.OpenAIChat,
				converter.StreamOptions{IncludeUsage: tt.includeUsage, Created: 1700000000}, in) {
				if string(data) == "[DONE]" {
					break
				}
				var chunk openai.ChatCompletionChunk
				if err := json.Unmarshal(data, &chunk); err != nil {
					t.Fatalf("chunk %s: %v", data, err)
				}
				if !acc.AddChunk(chunk) {
					t.Fatalf("accumulator refused chunk %s", data)
				}
			}
			if len(acc.Choices) != 1 {
				t.Fatalf("%d choices", len(acc.Choices))
			}
			msg := acc.Choices[0].Message
			if msg.Content != "Checking the weather and the time." {
				t.Errorf("content %q", msg.Content)
			}
			want := []struct{ id, name, args string }{
				{"toolu_01Weather", "get_weather", `{"city":"Paris","units":"c"}`},
				{"toolu_02Time", "get_time", `{"tz":"Europe/Paris"}`},
			}
			if len(msg.ToolCalls) != len(want) {
				t.Fatalf("%d tool calls, want %d", len(msg.ToolCalls), len(want))
			}
			for i, w := range want {
				tc := msg.ToolCalls[i]
				if tc.ID != w.id || tc.Function.Name != w.name {
					t.Errorf("tool call %d = %s %s, want %s %s", i, tc.ID, tc.Function.Name, w.id, w.name)
				}
				sameJSON(t, tc.Function.Arguments, w.args)
			}
			if acc.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("finish_reason %q", acc.Choices[0].FinishReason)
			}
			u := acc.Usage
			if tt.includeUsage {
				if u.PromptTokens != 1000 || u.CompletionTokens != 71 || u.TotalTokens != 1071 || u.PromptTokensDetails.CachedTokens != 880 {
					t.Errorf("usage %+v, want prompt 1000 (120 + 880 cached) completion 71", u)
				}
			} else if u.TotalTokens != 0 {
				t.Errorf("usage %+v reported though the client did not ask for it", u)
			}
			if acc.ID != "msg_01Syn" || acc.Created != 1700000000 {
				t.Errorf("id %q created %d", acc.ID, acc.Created)
			}
		})
	}
}

// TestAnthropicAccumulator feeds the recorded OpenAI stream, translated, to
// anthropic-sdk-go's Message.Accumulate, as it is and with its two tool calls
// interleaved the way some compatible servers send them.
func TestAnthropicAccumulator(t *testing.T) {
	recorded := readFile(t, "..", "..", "testdata", "fixtures", "openai_stream_parallel_tool_calls_usage.sse")
	tests := []struct {
		name string
		in   []byte
	}{
		{"recorded", recorded},
		{"interleaved", interleaveToolCalls(t, recorded)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msg anthropic.Message
			for _, data := range translate(t, format.OpenAIChat, format.Anthropic, converter.StreamOptions{}, tt.in) {
				var e anthropic.MessageStreamEventUnion
				if err := json.Unmarshal(data, &e); err != nil {
					t.Fatalf("event %s: %v", data, err)
				}
				if err := msg.Accumulate(e); err != nil {
					t.Fatalf("Accumulate(%s): %v", data, err)
				}
			}
			want := []struct{ id, name, input string }{
				{"call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs", `{"city":"Edinburgh","country":"GB","units":"c"}`},
				{"call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", `{"ticker":"AAPL","exchange":"NASDAQ"}`},
			}
			if len(msg.Content) != len(want) {
				t.Fatalf("%d content blocks, want %d", len(msg.Content), len(want))
			}
			for i, w := range want {
				b := msg.Content[i]
				if b.Type != "tool_use" || b.ID != w.id || b.Name != w.name {
					t.Errorf("block %d = %s %s %s", i, b.Type, b.ID, b.Name)
				}
				sameJSON(t, string(b.Input), w.input)
			}
			if msg.StopReason != anthropic.StopReasonToolUse {
				t.Errorf("stop_reason %q", msg.StopReason)
			}
			if msg.Usage.InputTokens != 149 || msg.Usage.OutputTokens != 60 {
				t.Errorf("usage input %d output %d, want 149 and 60", msg.Usage.InputTokens, msg.Usage.OutputTokens)
			}
			if !strings.HasPrefix(msg.ID, "msg_") {
				t.Errorf("id %q", msg.ID)
			}
		})
	}
}

// interleaveToolCalls moves the second call's first chunk up to just after
// the first call's first argument fragment.
func interleaveToolCalls(t *testing.T, in []byte) []byte {
	t.Helper()
	chunks := strings.SplitAfter(string(in), "\n\n")
	second := -1
	for i, c := range chunks {
		if strings.Contains(c, `"index":1,"id":`) {
			second = i
		}
	}
	if second < 3 {
		t.Fatal("fixture changed: second tool call not found")
	}
	moved := chunks[second]
	rest := append(chunks[:second:second], chunks[second+1:]...)
	out := append([]string{}, rest[:3]...)
	out = append(out, moved)
	out = append(out, rest[3:]...)
	return []byte(strings.Join(out, ""))
}
