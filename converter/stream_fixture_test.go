package converter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
)

// These tests replay the recorded upstream streams through the machines and
// check the client's view event by event, independently of golden files.

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openAIView is what an OpenAI client reassembles from a stream.
type openAIView struct {
	role, content, reasoning string
	calls                    []openAICallView // by tool-call index
	finish                   string
	usage                    *openAIResponseUsage
	done                     bool
}

type openAICallView struct{ id, name, args string }

// checkOpenAIStream parses an OpenAI stream and asserts its shape: the role
// chunk first, tool-call indexes 0..n-1 each introduced (with id and name)
// before its argument fragments, one finish_reason, the usage chunk after
// it, [DONE] last.
func checkOpenAIStream(t *testing.T, out []byte) openAIView {
	t.Helper()
	var v openAIView
	evs := parseEvents(t, out)
	for i, ev := range evs {
		if v.done {
			t.Fatalf("event after [DONE]: %s", ev.Data)
		}
		if string(ev.Data) == "[DONE]" {
			v.done = true
			continue
		}
		var c struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Choices []struct {
				Index int `json:"index"`
				Delta struct {
					Role             string `json:"role"`
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
					ToolCalls        []struct {
						Index    *int   `json:"index"`
						ID       string `json:"id"`
						Type     string `json:"type"`
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *openAIResponseUsage `json:"usage"`
		}
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			t.Fatalf("chunk %d: %v: %s", i, err, ev.Data)
		}
		if c.Object != "chat.completion.chunk" {
			t.Fatalf("chunk %d: object %q", i, c.Object)
		}
		if len(c.Choices) == 0 {
			if c.Usage == nil || v.finish == "" {
				t.Fatalf("chunk %d: empty choices without usage or before finish_reason", i)
			}
			v.usage = c.Usage
			continue
		}
		if v.finish != "" {
			t.Fatalf("chunk %d after finish_reason: %s", i, ev.Data)
		}
		d := c.Choices[0].Delta
		if i == 0 && d.Role != "assistant" {
			t.Fatalf("first chunk is not the role chunk: %s", ev.Data)
		}
		v.role += d.Role
		v.content += d.Content
		v.reasoning += d.ReasoningContent
		for _, tc := range d.ToolCalls {
			if tc.Index == nil {
				t.Fatalf("chunk %d: tool call without index", i)
			}
			k := *tc.Index
			switch {
			case k == len(v.calls):
				if tc.ID == "" || tc.Function.Name == "" || tc.Type != "function" {
					t.Fatalf("chunk %d: tool call %d starts without id, name or type", i, k)
				}
				v.calls = append(v.calls, openAICallView{id: tc.ID, name: tc.Function.Name})
			case k < len(v.calls):
				if tc.ID != "" {
					t.Fatalf("chunk %d: tool call %d restarted", i, k)
				}
			default:
				t.Fatalf("chunk %d: tool call index %d skips ahead of %d", i, k, len(v.calls))
			}
			v.calls[k].args += tc.Function.Arguments
		}
		if f := c.Choices[0].FinishReason; f != nil {
			v.finish = *f
		}
	}
	return v
}

// anthropicView is what an Anthropic client reassembles from a stream.
type anthropicView struct {
	id, model  string
	blocks     []anthropicBlockView
	stopReason string
	usage      map[string]int64
	stopped    bool
}

type anthropicBlockView struct {
	typ, id, name, text, json, signature string
	closed                               bool
}

// checkAnthropicStream parses an Anthropic stream and asserts its shape:
// message_start first; block indexes contiguous from 0, each started before
// its deltas, at most one open at a time and (when strict) each stopped
// exactly once; message_delta then message_stop last.
func checkAnthropicStream(t *testing.T, out []byte, strict bool) anthropicView {
	t.Helper()
	var v anthropicView
	open := -1
	for i, ev := range parseEvents(t, out) {
		if v.stopped {
			t.Fatalf("event after message_stop: %s", ev.Data)
		}
		var e struct {
			Type    string `json:"type"`
			Index   *int   `json:"index"`
			Message struct {
				ID    string `json:"id"`
				Model string `json:"model"`
			} `json:"message"`
			ContentBlock struct {
				Type string `json:"type"`
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"content_block"`
			Delta struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
				Thinking    string `json:"thinking"`
				Signature   string `json:"signature"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
			Usage map[string]int64 `json:"usage"`
		}
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, ev.Data)
		}
		if ev.Name != e.Type {
			t.Fatalf("event %d: name %q, type %q", i, ev.Name, e.Type)
		}
		if (i == 0) != (e.Type == "message_start") {
			t.Fatalf("event %d: %s (message_start must come first, once)", i, e.Type)
		}
		idx := -1
		if e.Index != nil {
			idx = *e.Index
		}
		switch e.Type {
		case "message_start":
			v.id, v.model = e.Message.ID, e.Message.Model
		case "content_block_start":
			if idx != len(v.blocks) {
				t.Fatalf("event %d: block %d started, want %d", i, idx, len(v.blocks))
			}
			if strict && open >= 0 {
				t.Fatalf("event %d: block %d started while %d is open", i, idx, open)
			}
			v.blocks = append(v.blocks, anthropicBlockView{typ: e.ContentBlock.Type, id: e.ContentBlock.ID, name: e.ContentBlock.Name})
			open = idx
		case "content_block_delta":
			if idx < 0 || idx >= len(v.blocks) || v.blocks[idx].closed {
				t.Fatalf("event %d: delta for block %d, which is not open", i, idx)
			}
			b := &v.blocks[idx]
			b.text += e.Delta.Text + e.Delta.Thinking
			b.json += e.Delta.PartialJSON
			b.signature += e.Delta.Signature
		case "content_block_stop":
			if idx < 0 || idx >= len(v.blocks) || v.blocks[idx].closed {
				t.Fatalf("event %d: stop for block %d, which is not open", i, idx)
			}
			v.blocks[idx].closed = true
			open = -1
		case "message_delta":
			v.stopReason, v.usage = e.Delta.StopReason, e.Usage
		case "message_stop":
			v.stopped = true
		}
	}
	if strict {
		for i, b := range v.blocks {
			if !b.closed {
				t.Fatalf("block %d never stopped", i)
			}
		}
	}
	return v
}

func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal([]byte(got), &a); err != nil {
		t.Fatalf("arguments %q are not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("source arguments %q are not JSON: %v", want, err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("arguments %s, want %s", ja, jb)
	}
}

func TestRecordedAnthropicStreamToOpenAI(t *testing.T) {
	in := readFixture(t, "anthropic_stream_text_tool_use.sse")
	src := checkAnthropicStream(t, runStream(t, Anthropic, Anthropic, StreamOptions{}, in), true)

	s := NewStream(Anthropic, OpenAIChat, StreamOptions{IncludeUsage: true})
	out, err := feedStream(s, in)
	if err != nil {
		t.Fatal(err)
	}
	v := checkOpenAIStream(t, out)
	if !v.done || !s.Done() {
		t.Fatal("stream not closed with [DONE]")
	}
	if v.content != src.blocks[0].text {
		t.Errorf("content %q, want %q", v.content, src.blocks[0].text)
	}
	if len(v.calls) != 1 || v.calls[0].id != src.blocks[1].id || v.calls[0].name != "get_weather" {
		t.Fatalf("tool calls %+v", v.calls)
	}
	sameJSON(t, v.calls[0].args, src.blocks[1].json)
	if v.finish != "tool_calls" {
		t.Errorf("finish_reason %q, want tool_calls", v.finish)
	}
	if v.usage == nil || v.usage.PromptTokens != 394 || v.usage.CompletionTokens != 79 {
		t.Errorf("usage %+v, want prompt 394 completion 79", v.usage)
	}
	if want := (Usage{InputTokens: 394, OutputTokens: 79}); s.Usage() != want {
		t.Errorf("Usage() = %+v, want %+v", s.Usage(), want)
	}
}

// TestRecordedIncompleteAnthropicStreamToOpenAI: the upstream cut a tool call
// at max_tokens (no content_block_stop, partial JSON). The client gets a
// properly closed stream with finish_reason "length"; the arguments already
// streamed are kept as sent, incomplete, which is what OpenAI itself streams
// when the length limit cuts a call. Non-streamed answers turn such arguments
// into "{}" instead (CONVERSION §7.4), which a stream cannot take back.
func TestRecordedIncompleteAnthropicStreamToOpenAI(t *testing.T) {
	in := readFixture(t, "anthropic_stream_tool_use_max_tokens_incomplete.sse")
	src := checkAnthropicStream(t, runStream(t, Anthropic, Anthropic, StreamOptions{}, in), false)
	if src.blocks[1].closed {
		t.Fatal("fixture changed: the tool block was expected to stay open")
	}
	for _, includeUsage := range []bool{true, false} {
		out := runStream(t, Anthropic, OpenAIChat, StreamOptions{IncludeUsage: includeUsage}, in)
		v := checkOpenAIStream(t, out)
		if !v.done || v.finish != "length" {
			t.Fatalf("done %v finish %q, want a closed stream with length", v.done, v.finish)
		}
		if len(v.calls) != 1 || v.calls[0].name != "make_file" {
			t.Fatalf("tool calls %+v", v.calls)
		}
		if v.calls[0].args != src.blocks[1].json || json.Valid([]byte(v.calls[0].args)) {
			t.Errorf("arguments %q, want the raw partial %q", v.calls[0].args, src.blocks[1].json)
		}
		if includeUsage != (v.usage != nil) {
			t.Fatalf("usage chunk present = %v with include_usage %v", v.usage != nil, includeUsage)
		}
		if v.usage != nil && (v.usage.PromptTokens != 450 || v.usage.CompletionTokens != 124) {
			t.Errorf("usage %+v, want prompt 450 completion 124", v.usage)
		}
	}
}

func TestRecordedOpenAIStreamToAnthropic(t *testing.T) {
	in := readFixture(t, "openai_stream_parallel_tool_calls_usage.sse")
	src := checkOpenAIStream(t, runStream(t, OpenAIChat, OpenAIChat, StreamOptions{IncludeUsage: true}, in))

	s := NewStream(OpenAIChat, Anthropic, StreamOptions{})
	out, err := feedStream(s, in)
	if err != nil {
		t.Fatal(err)
	}
	v := checkAnthropicStream(t, out, true)
	if !v.stopped || !s.Done() {
		t.Fatal("no message_stop")
	}
	if !strings.HasPrefix(v.id, "msg_") {
		t.Errorf("message id %q lacks the msg_ prefix", v.id)
	}
	if len(v.blocks) != len(src.calls) || len(v.blocks) != 2 {
		t.Fatalf("%d blocks for %d calls", len(v.blocks), len(src.calls))
	}
	for i, b := range v.blocks {
		if b.typ != "tool_use" || b.id != src.calls[i].id || b.name != src.calls[i].name {
			t.Errorf("block %d = %+v, want tool_use %s %s", i, b, src.calls[i].id, src.calls[i].name)
		}
		sameJSON(t, b.json, src.calls[i].args)
	}
	if v.stopReason != "tool_use" {
		t.Errorf("stop_reason %q", v.stopReason)
	}
	if v.usage["input_tokens"] != 149 || v.usage["output_tokens"] != 60 {
		t.Errorf("message_delta usage %v, want input 149 output 60", v.usage)
	}
	if want := (Usage{InputTokens: 149, OutputTokens: 60}); s.Usage() != want {
		t.Errorf("Usage() = %+v, want %+v", s.Usage(), want)
	}
}

// synthesizedParallelTools is an Anthropic stream with a text block and two
// tool_use blocks: no public recording of one exists.
const synthesizedParallelTools = `event: message_start
data: {"type":"message_start","message":{"id":"msg_01Syn","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":120,"cache_creation_input_tokens":0,"cache_read_input_tokens":880,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking the weather "}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"and the time."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01Weather","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\", \"units\": \"c\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02Time","name":"get_time","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"tz\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"Europe/Paris\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":71}}

event: message_stop
data: {"type":"message_stop"}

`

// TestOpenAISDKAccumulatesTranslatedStream feeds the translated stream to
// openai-go's ChatCompletionAccumulator, as an OpenAI client would.
func TestOpenAISDKAccumulatesTranslatedStream(t *testing.T) {
	out := runStream(t, Anthropic, OpenAIChat, StreamOptions{IncludeUsage: true, Created: 1700000000}, []byte(synthesizedParallelTools))
	var acc openai.ChatCompletionAccumulator
	for _, ev := range parseEvents(t, out) {
		if string(ev.Data) == "[DONE]" {
			break
		}
		var chunk openai.ChatCompletionChunk
		if err := json.Unmarshal(ev.Data, &chunk); err != nil {
			t.Fatalf("chunk %s: %v", ev.Data, err)
		}
		if !acc.AddChunk(chunk) {
			t.Fatalf("accumulator refused chunk %s", ev.Data)
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
	if u := acc.Usage; u.PromptTokens != 1000 || u.CompletionTokens != 71 || u.TotalTokens != 1071 || u.PromptTokensDetails.CachedTokens != 880 {
		t.Errorf("usage %+v", u)
	}
	if acc.ID != "msg_01Syn" || acc.Created != 1700000000 {
		t.Errorf("id %q created %d", acc.ID, acc.Created)
	}
}

// TestAnthropicSDKAccumulatesTranslatedStream feeds the translated OpenAI
// fixture to anthropic-sdk-go's Message.Accumulate, as a Claude client would.
func TestAnthropicSDKAccumulatesTranslatedStream(t *testing.T) {
	in := readFixture(t, "openai_stream_parallel_tool_calls_usage.sse")
	for _, name := range []string{"recorded", "interleaved"} {
		t.Run(name, func(t *testing.T) {
			if name == "interleaved" {
				in = interleaveOpenAIToolCalls(t, in)
			}
			out := runStream(t, OpenAIChat, Anthropic, StreamOptions{}, in)
			var msg anthropic.Message
			for _, ev := range parseEvents(t, out) {
				var e anthropic.MessageStreamEventUnion
				if err := json.Unmarshal(ev.Data, &e); err != nil {
					t.Fatalf("event %s: %v", ev.Data, err)
				}
				if err := msg.Accumulate(e); err != nil {
					t.Fatalf("Accumulate(%s): %v", ev.Data, err)
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
				t.Errorf("usage input %d output %d", msg.Usage.InputTokens, msg.Usage.OutputTokens)
			}
		})
	}
}

// interleaveOpenAIToolCalls rewrites the recorded stream so that the second
// call starts before the first one's arguments are complete, as some
// compatible servers do: the second call's first chunk is moved up to just
// after the first call's first argument fragment.
func interleaveOpenAIToolCalls(t *testing.T, in []byte) []byte {
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
