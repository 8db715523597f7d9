package converter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
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
	failed     bool // ended with an error event
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
	for i, ev := range parseSSE(t, out, !strict) {
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
		if e.Type == "error" {
			v.stopped, v.failed = true, true
			continue
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
	if strict && !v.failed {
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
	src := checkAnthropicStream(t, runStream(t, format.Anthropic, format.Anthropic, StreamOptions{}, in), true)

	s := NewStream(format.Anthropic, format.OpenAIChat, StreamOptions{IncludeUsage: true})
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
// into "{}" instead (docs/conversion.md, "Answers and streams"), which a stream cannot take back.
func TestRecordedIncompleteAnthropicStreamToOpenAI(t *testing.T) {
	in := readFixture(t, "anthropic_stream_tool_use_max_tokens_incomplete.sse")
	src := checkAnthropicStream(t, runStream(t, format.Anthropic, format.Anthropic, StreamOptions{}, in), false)
	if src.blocks[1].closed {
		t.Fatal("fixture changed: the tool block was expected to stay open")
	}
	for _, includeUsage := range []bool{true, false} {
		out := runStream(t, format.Anthropic, format.OpenAIChat, StreamOptions{IncludeUsage: includeUsage}, in)
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
	src := checkOpenAIStream(t, runStream(t, format.OpenAIChat, format.OpenAIChat, StreamOptions{IncludeUsage: true}, in))

	s := NewStream(format.OpenAIChat, format.Anthropic, StreamOptions{})
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
