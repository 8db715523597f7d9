package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/converter/jsonx"
)

// The tests in this file drive the cross-format routes with the official
// SDKs: an OpenAI client in front of an Anthropic upstream (/x-anthropic) and
// an Anthropic client in front of an OpenAI upstream (/x-openai). Every
// answer is checked twice, as JSON and as a stream rebuilt by the SDK's own
// accumulator, and the request the upstream received is checked too, since
// the mock's answer is derived from it.

const (
	toOpenAIUpstream    = "/x-openai"
	toAnthropicUpstream = "/x-anthropic"

	// pngBase64 is a 1×1 PNG.
	pngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
	imageURL  = "https://example.com/cat.png"
)

// chatRun is one answer to an OpenAI request and the body the upstream got.
type chatRun struct {
	mode     string
	resp     openai.ChatCompletion
	chunks   []openai.ChatCompletionChunk
	upstream []byte
}

// chatRuns sends params once plainly and once streamed (with usage), the
// streamed answer rebuilt by openai.ChatCompletionAccumulator.
func chatRuns(t *testing.T, g *gateway, client *openai.Client, params openai.ChatCompletionNewParams) []chatRun {
	t.Helper()
	ctx := context.Background()
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatalf("non-streaming: %v", err)
	}
	runs := []chatRun{{mode: "non-streaming", resp: *resp, upstream: lastUpstreamBody(t, g)}}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	var chunks []openai.ChatCompletionChunk
	for stream.Next() {
		chunk := stream.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("streaming: the accumulator refused chunk %d: %s", len(chunks), chunk.RawJSON())
		}
		chunks = append(chunks, chunk)
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("streaming: %v", err)
	}
	_ = stream.Close()
	return append(runs, chatRun{mode: "streaming", resp: acc.ChatCompletion, chunks: chunks, upstream: lastUpstreamBody(t, g)})
}

// messageRun is one answer to an Anthropic request and the body the
// upstream got.
type messageRun struct {
	mode     string
	msg      anthropic.Message
	events   []anthropic.MessageStreamEventUnion
	upstream []byte
}

// messageRuns sends params once plainly and once streamed, the streamed
// answer rebuilt by anthropic.Message.Accumulate.
func messageRuns(t *testing.T, g *gateway, client *anthropic.Client, params anthropic.MessageNewParams) []messageRun {
	t.Helper()
	ctx := context.Background()
	msg, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatalf("non-streaming: %v", err)
	}
	runs := []messageRun{{mode: "non-streaming", msg: *msg, upstream: lastUpstreamBody(t, g)}}

	stream := client.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	var events []anthropic.MessageStreamEventUnion
	for stream.Next() {
		ev := stream.Current()
		if err := acc.Accumulate(ev); err != nil {
			t.Fatalf("streaming: accumulating event %d (%s): %v", len(events), ev.RawJSON(), err)
		}
		events = append(events, ev)
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("streaming: %v", err)
	}
	_ = stream.Close()
	return append(runs, messageRun{mode: "streaming", msg: acc, events: events, upstream: lastUpstreamBody(t, g)})
}

// lastUpstreamBody is the body of the last request the mock upstream got.
func lastUpstreamBody(t *testing.T, g *gateway) []byte {
	t.Helper()
	reqs := g.mock.Requests()
	if len(reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return reqs[len(reqs)-1].Body
}

// anthropicUpstream is the part of a converted Anthropic request the tests
// look at.
type anthropicUpstream struct {
	Model         string           `json:"model"`
	MaxTokens     int              `json:"max_tokens"`
	System        jsonx.RawMessage `json:"system"`
	StopSequences []string         `json:"stop_sequences"`
	Stream        bool             `json:"stream"`
	Messages      []struct {
		Role    string           `json:"role"`
		Content []anthropicBlock `json:"content"`
	} `json:"messages"`
}

func (r anthropicUpstream) roles() []string {
	out := make([]string, len(r.Messages))
	for i, m := range r.Messages {
		out[i] = m.Role
	}
	return out
}

type anthropicBlock struct {
	Type      string           `json:"type"`
	Text      string           `json:"text"`
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Input     jsonx.RawMessage `json:"input"`
	ToolUseID string           `json:"tool_use_id"`
	Content   jsonx.RawMessage `json:"content"`
	Source    *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
}

// openAIUpstream is the part of a converted OpenAI request the tests look at.
type openAIUpstream struct {
	Model               string           `json:"model"`
	MaxCompletionTokens int              `json:"max_completion_tokens"`
	MaxTokens           int              `json:"max_tokens"`
	Stop                jsonx.RawMessage `json:"stop"`
	Stream              bool             `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Role       string           `json:"role"`
		Content    jsonx.RawMessage `json:"content"`
		ToolCallID string           `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
}

// openAIPart is one part of an OpenAI message's content array.
type openAIPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

func decodeAnthropicUpstream(t *testing.T, body []byte) anthropicUpstream {
	t.Helper()
	var req anthropicUpstream
	if err := jsonx.Unmarshal(body, &req); err != nil {
		t.Fatalf("upstream body is not an Anthropic request: %v\n%s", err, body)
	}
	return req
}

func decodeOpenAIUpstream(t *testing.T, body []byte) openAIUpstream {
	t.Helper()
	var req openAIUpstream
	if err := jsonx.Unmarshal(body, &req); err != nil {
		t.Fatalf("upstream body is not an OpenAI request: %v\n%s", err, body)
	}
	return req
}

// openAIParts decodes OpenAI message content given as parts; a string
// becomes one text part.
func openAIParts(t *testing.T, raw jsonx.RawMessage) []openAIPart {
	t.Helper()
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			t.Fatalf("content %s: %v", raw, err)
		}
		return []openAIPart{{Type: "text", Text: s}}
	}
	var parts []openAIPart
	if err := jsonx.Unmarshal(raw, &parts); err != nil {
		t.Fatalf("content %s: %v", raw, err)
	}
	return parts
}

// systemTexts returns the texts of an Anthropic system field, a string or
// text blocks.
func systemTexts(t *testing.T, raw jsonx.RawMessage) []string {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			t.Fatalf("system %s: %v", raw, err)
		}
		return []string{s}
	}
	var blocks []anthropicBlock
	if err := jsonx.Unmarshal(raw, &blocks); err != nil {
		t.Fatalf("system %s: %v", raw, err)
	}
	var out []string
	for _, b := range blocks {
		out = append(out, b.Text)
	}
	return out
}

// tokenLimit is the output limit of the request under either name: the
// older max_tokens is the one most OpenAI-compatible servers know.
func (r openAIUpstream) tokenLimit() int { return max(r.MaxCompletionTokens, r.MaxTokens) }

func (r openAIUpstream) roles() []string {
	out := make([]string, len(r.Messages))
	for i, m := range r.Messages {
		out[i] = m.Role
	}
	return out
}

// anthropicText joins the text blocks of a message.
func anthropicText(msg anthropic.Message) string {
	var b strings.Builder
	for _, c := range msg.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

func TestCrossFormatText(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)

	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		cases := []struct {
			name     string
			messages []openai.ChatCompletionMessageParamUnion
			want     string
			system   []string
			roles    []string
		}{
			{
				name:     "plain text",
				messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi there")},
				want:     "Hello! You said: hi there",
				roles:    []string{"user"},
			},
			{
				name: "system and developer prompts",
				messages: []openai.ChatCompletionMessageParamUnion{
					openai.SystemMessage("You are terse."),
					openai.DeveloperMessage("Answer in English."),
					openai.UserMessage("what is new"),
				},
				want:   "Hello! You said: what is new",
				system: []string{"You are terse.", "Answer in English."},
				roles:  []string{"user"},
			},
			{
				name: "multi-turn",
				messages: []openai.ChatCompletionMessageParamUnion{
					openai.UserMessage("first question"),
					openai.AssistantMessage("Hello! You said: first question"),
					openai.UserMessage("second question"),
				},
				want:  "Hello! You said: second question",
				roles: []string{"user", "assistant", "user"},
			},
			{
				name: "text parts",
				messages: []openai.ChatCompletionMessageParamUnion{
					openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
						openai.TextContentPart("one"), openai.TextContentPart("two"),
					}),
				},
				want:  "Hello! You said: one two",
				roles: []string{"user"},
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				params := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: tc.messages}
				for _, run := range chatRuns(t, g, g.openAI(toAnthropicUpstream), params) {
					t.Run(run.mode, func(t *testing.T) {
						if len(run.resp.Choices) != 1 {
							t.Fatalf("choices = %d, want 1", len(run.resp.Choices))
						}
						choice := run.resp.Choices[0]
						if choice.Message.Content != tc.want || choice.FinishReason != "stop" || choice.Message.Role != "assistant" {
							t.Errorf("answer %q, finish %q, role %q; want %q, stop, assistant",
								choice.Message.Content, choice.FinishReason, choice.Message.Role, tc.want)
						}
						if run.resp.Model != "gpt-4o" || run.resp.ID == "" {
							t.Errorf("model %q, id %q", run.resp.Model, run.resp.ID)
						}
						up := decodeAnthropicUpstream(t, run.upstream)
						if got := systemTexts(t, up.System); !slices.Equal(got, tc.system) {
							t.Errorf("upstream system = %q, want %q", got, tc.system)
						}
						if got := up.roles(); !slices.Equal(got, tc.roles) {
							t.Errorf("upstream roles = %q, want %q", got, tc.roles)
						}
						if up.MaxTokens <= 0 || up.Stream != (run.mode == "streaming") {
							t.Errorf("upstream max_tokens %d, stream %v", up.MaxTokens, up.Stream)
						}
					})
				}
			})
		}
	})

	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		cases := []struct {
			name     string
			system   []anthropic.TextBlockParam
			messages []anthropic.MessageParam
			want     string
			roles    []string
			first    string // text of the first upstream message
		}{
			{
				name:     "plain text",
				messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello claude"))},
				want:     "Hello! You said: hello claude",
				roles:    []string{"user"},
				first:    "hello claude",
			},
			{
				name:     "system prompt",
				system:   []anthropic.TextBlockParam{{Text: "You are terse."}},
				messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("what is new"))},
				want:     "Hello! You said: what is new",
				roles:    []string{"system", "user"},
				first:    "You are terse.",
			},
			{
				name: "multi-turn",
				messages: []anthropic.MessageParam{
					anthropic.NewUserMessage(anthropic.NewTextBlock("first question")),
					anthropic.NewAssistantMessage(anthropic.NewTextBlock("Hello! You said: first question")),
					anthropic.NewUserMessage(anthropic.NewTextBlock("second question")),
				},
				want:  "Hello! You said: second question",
				roles: []string{"user", "assistant", "user"},
				first: "first question",
			},
			{
				name: "text blocks",
				messages: []anthropic.MessageParam{
					anthropic.NewUserMessage(anthropic.NewTextBlock("one"), anthropic.NewTextBlock("two")),
				},
				want:  "Hello! You said: one two",
				roles: []string{"user"},
				first: "one",
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 256, System: tc.system, Messages: tc.messages}
				for _, run := range messageRuns(t, g, g.anthropic(toOpenAIUpstream), params) {
					t.Run(run.mode, func(t *testing.T) {
						if len(run.msg.Content) != 1 || anthropicText(run.msg) != tc.want {
							t.Errorf("content = %+v, want one text block %q", run.msg.Content, tc.want)
						}
						if run.msg.StopReason != anthropic.StopReasonEndTurn || run.msg.Role != "assistant" || run.msg.Type != "message" {
							t.Errorf("stop %q, role %q, type %q", run.msg.StopReason, run.msg.Role, run.msg.Type)
						}
						if run.msg.Model != "claude-sonnet-4-5" || run.msg.ID == "" {
							t.Errorf("model %q, id %q", run.msg.Model, run.msg.ID)
						}
						up := decodeOpenAIUpstream(t, run.upstream)
						if got := up.roles(); !slices.Equal(got, tc.roles) {
							t.Fatalf("upstream roles = %q, want %q", got, tc.roles)
						}
						if parts := openAIParts(t, up.Messages[0].Content); len(parts) == 0 || parts[0].Text != tc.first {
							t.Errorf("first upstream message = %s, want text %q", up.Messages[0].Content, tc.first)
						}
						if up.tokenLimit() != 256 {
							t.Errorf("upstream token limit = %d, want 256", up.tokenLimit())
						}
						if run.mode == "streaming" && (!up.Stream || up.StreamOptions == nil || !up.StreamOptions.IncludeUsage) {
							t.Errorf("a streamed call must ask the OpenAI upstream for usage: %s", run.upstream)
						}
					})
				}
			})
		}
	})
}

// Tools declared in both formats. The mock calls the first two with
// arguments built from their schemas' property names, which wantToolArgs
// lists.
var wantToolArgs = map[string]map[string]any{
	"get_weather": {"city": "value-city", "days": float64(1)},
	"get_time":    {"utc": true, "zone": "value-zone"},
}

func weatherProperties() map[string]any {
	return map[string]any{"city": map[string]any{"type": "string"}, "days": map[string]any{"type": "integer"}}
}

func timeProperties() map[string]any {
	return map[string]any{"zone": map[string]any{"type": "string"}, "utc": map[string]any{"type": "boolean"}}
}

func openAITools() []openai.ChatCompletionToolUnionParam {
	return []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Description: openai.String("Weather forecast"),
			Parameters: shared.FunctionParameters{"type": "object", "properties": weatherProperties(), "required": []string{"city"}},
		}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_time", Parameters: shared.FunctionParameters{"type": "object", "properties": timeProperties()},
		}),
	}
}

func anthropicTools() []anthropic.ToolUnionParam {
	weather := anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
		Properties: weatherProperties(), Required: []string{"city"},
	}, "get_weather")
	weather.OfTool.Description = anthropic.String("Weather forecast")
	return []anthropic.ToolUnionParam{
		weather,
		anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{Properties: timeProperties()}, "get_time"),
	}
}

// checkArgs parses a tool call's JSON arguments and compares them with what
// the mock derives from the tool's schema.
func checkArgs(t *testing.T, name string, args []byte) {
	t.Helper()
	var got map[string]any
	if err := jsonx.Unmarshal(args, &got); err != nil {
		t.Errorf("%s arguments %q are not a JSON object: %v", name, args, err)
		return
	}
	want, ok := wantToolArgs[name]
	if !ok {
		t.Errorf("call of an undeclared tool %q", name)
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s arguments = %v, want %v", name, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s arguments = %v, want %v", name, got, want)
			break
		}
	}
}

func TestCrossFormatParallelToolCalls(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	wantNames := []string{"get_weather", "get_time"}
	results := []string{"sunny, 21 degrees", "12:00 UTC"}
	wantAnswer := "Tool results: " + strings.Join(results, "; ")

	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		client := g.openAI(toAnthropicUpstream)
		question := openai.UserMessage("weather and time in Paris?")
		params := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{question}, Tools: openAITools()}
		for _, run := range chatRuns(t, g, client, params) {
			t.Run(run.mode, func(t *testing.T) {
				choice := run.resp.Choices[0]
				if choice.FinishReason != "tool_calls" {
					t.Errorf("finish_reason = %q, want tool_calls", choice.FinishReason)
				}
				if choice.Message.Content != "" {
					t.Errorf("content = %q, want none next to tool calls", choice.Message.Content)
				}
				calls := choice.Message.ToolCalls
				if len(calls) != 2 {
					t.Fatalf("tool calls = %+v, want 2", calls)
				}
				var ids []string
				for i, c := range calls {
					if c.Type != "function" || c.Function.Name != wantNames[i] {
						t.Errorf("call %d = %s %q, want function %q", i, c.Type, c.Function.Name, wantNames[i])
					}
					checkArgs(t, c.Function.Name, []byte(c.Function.Arguments))
					ids = append(ids, c.ID)
				}
				// The upstream's tool_use ids are the ids the client must
				// answer with.
				if ids[0] == "" || ids[0] == ids[1] || !strings.HasPrefix(ids[0], "toolu_") || !strings.HasPrefix(ids[1], "toolu_") {
					t.Errorf("tool call ids %q: want the upstream's distinct toolu_ ids", ids)
				}
				up := decodeAnthropicUpstream(t, run.upstream)
				if !strings.Contains(string(run.upstream), `"input_schema"`) || !strings.Contains(string(run.upstream), `"get_time"`) {
					t.Errorf("upstream lacks the converted tools: %s", run.upstream)
				}
				if len(up.Messages) != 1 {
					t.Errorf("upstream roles %q", up.roles())
				}

				// Second turn: answer both calls with two tool messages.
				next := params
				next.Messages = []openai.ChatCompletionMessageParamUnion{
					question,
					choice.Message.ToParam(),
					openai.ToolMessage(results[0], ids[0]),
					openai.ToolMessage(results[1], ids[1]),
				}
				for _, run2 := range chatRuns(t, g, client, next) {
					t.Run("results "+run2.mode, func(t *testing.T) {
						c := run2.resp.Choices[0]
						if c.Message.Content != wantAnswer || c.FinishReason != "stop" || len(c.Message.ToolCalls) != 0 {
							t.Errorf("answer %q, finish %q, calls %d; want %q, stop, none",
								c.Message.Content, c.FinishReason, len(c.Message.ToolCalls), wantAnswer)
						}
						up := decodeAnthropicUpstream(t, run2.upstream)
						if got := up.roles(); !slices.Equal(got, []string{"user", "assistant", "user"}) {
							t.Fatalf("upstream roles = %q, want the parallel results merged into one user turn", got)
						}
						var uses []anthropicBlock
						for _, b := range up.Messages[1].Content {
							if b.Type == "tool_use" {
								uses = append(uses, b)
							}
						}
						if len(uses) != 2 || uses[0].ID != ids[0] || uses[1].ID != ids[1] || uses[0].Name != wantNames[0] {
							t.Errorf("assistant turn upstream = %+v, want tool_use %q", up.Messages[1].Content, ids)
						} else {
							checkArgs(t, uses[0].Name, uses[0].Input)
							checkArgs(t, uses[1].Name, uses[1].Input)
						}
						last := up.Messages[2].Content
						if len(last) < 2 || last[0].Type != "tool_result" || last[1].Type != "tool_result" ||
							last[0].ToolUseID != ids[0] || last[1].ToolUseID != ids[1] {
							t.Errorf("last upstream turn = %+v, want two tool_result blocks first, for %q", last, ids)
						}
					})
				}
			})
		}
	})

	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		client := g.anthropic(toOpenAIUpstream)
		question := anthropic.NewUserMessage(anthropic.NewTextBlock("weather and time in Paris?"))
		params := anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 256, Tools: anthropicTools(),
			Messages: []anthropic.MessageParam{question},
		}
		for _, run := range messageRuns(t, g, client, params) {
			t.Run(run.mode, func(t *testing.T) {
				if run.msg.StopReason != anthropic.StopReasonToolUse {
					t.Errorf("stop_reason = %q, want tool_use", run.msg.StopReason)
				}
				var ids []string
				for _, b := range run.msg.Content {
					if b.Type != "tool_use" {
						t.Errorf("unexpected %s block %+v", b.Type, b)
						continue
					}
					if len(ids) < len(wantNames) && b.Name != wantNames[len(ids)] {
						t.Errorf("tool_use %d names %q, want %q", len(ids), b.Name, wantNames[len(ids)])
					}
					checkArgs(t, b.Name, b.Input)
					ids = append(ids, b.ID)
				}
				if len(ids) != 2 || ids[0] == ids[1] || !strings.HasPrefix(ids[0], "call_") || !strings.HasPrefix(ids[1], "call_") {
					t.Fatalf("tool_use ids %q: want two distinct ids of the upstream's calls", ids)
				}
				up := decodeOpenAIUpstream(t, run.upstream)
				if !strings.Contains(string(run.upstream), `"parameters"`) || !strings.Contains(string(run.upstream), `"get_time"`) {
					t.Errorf("upstream lacks the converted tools: %s", run.upstream)
				}
				if len(up.Messages) != 1 {
					t.Errorf("upstream roles %q", up.roles())
				}

				next := params
				next.Messages = []anthropic.MessageParam{
					question,
					run.msg.ToParam(),
					anthropic.NewUserMessage(
						anthropic.NewToolResultBlock(ids[0], results[0], false),
						anthropic.NewToolResultBlock(ids[1], results[1], false),
					),
				}
				for _, run2 := range messageRuns(t, g, client, next) {
					t.Run("results "+run2.mode, func(t *testing.T) {
						if anthropicText(run2.msg) != wantAnswer || run2.msg.StopReason != anthropic.StopReasonEndTurn {
							t.Errorf("answer %+v, stop %q; want %q, end_turn", run2.msg.Content, run2.msg.StopReason, wantAnswer)
						}
						up := decodeOpenAIUpstream(t, run2.upstream)
						if got := up.roles(); !slices.Equal(got, []string{"user", "assistant", "tool", "tool"}) {
							t.Fatalf("upstream roles = %q, want user, assistant, tool, tool", got)
						}
						calls := up.Messages[1].ToolCalls
						if len(calls) != 2 || calls[0].ID != ids[0] || calls[1].ID != ids[1] || calls[0].Function.Name != wantNames[0] {
							t.Errorf("assistant upstream tool_calls = %+v, want ids %q", calls, ids)
						} else {
							checkArgs(t, calls[0].Function.Name, []byte(calls[0].Function.Arguments))
							checkArgs(t, calls[1].Function.Name, []byte(calls[1].Function.Arguments))
						}
						for i, m := range up.Messages[2:] {
							parts := openAIParts(t, m.Content)
							if m.ToolCallID != ids[i] || len(parts) != 1 || parts[0].Text != results[i] {
								t.Errorf("tool message %d = %s for %q, want %q for %q", i, m.Content, m.ToolCallID, results[i], ids[i])
							}
						}
					})
				}
			})
		}
	})
}

func TestCrossFormatImages(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	dataURL := "data:image/png;base64," + pngBase64

	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		cases := []struct {
			name       string
			url        string
			wantSource string
			check      func(t *testing.T, b anthropicBlock)
		}{
			{"base64 data URL", dataURL, "base64", func(t *testing.T, b anthropicBlock) {
				if b.Source.MediaType != "image/png" || b.Source.Data != pngBase64 {
					t.Errorf("source = %+v, want image/png with the data", b.Source)
				}
			}},
			{"http URL", imageURL, "url", func(t *testing.T, b anthropicBlock) {
				if b.Source.URL != imageURL {
					t.Errorf("source url = %q, want %q", b.Source.URL, imageURL)
				}
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				params := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{
					openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
						openai.TextContentPart("what is this"),
						openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: tc.url, Detail: "low"}),
					}),
				}}
				for _, run := range chatRuns(t, g, g.openAI(toAnthropicUpstream), params) {
					t.Run(run.mode, func(t *testing.T) {
						if got, want := run.resp.Choices[0].Message.Content, "Hello! You said: what is this [1 image(s)]"; got != want {
							t.Errorf("answer %q, want %q", got, want)
						}
						up := decodeAnthropicUpstream(t, run.upstream)
						blocks := up.Messages[0].Content
						if len(blocks) != 2 || blocks[0].Type != "text" || blocks[1].Type != "image" || blocks[1].Source == nil {
							t.Fatalf("upstream content = %+v, want text then image", blocks)
						}
						if blocks[1].Source.Type != tc.wantSource {
							t.Errorf("image source type %q, want %q", blocks[1].Source.Type, tc.wantSource)
						}
						tc.check(t, blocks[1])
					})
				}
			})
		}
	})

	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		cases := []struct {
			name    string
			block   anthropic.ContentBlockParamUnion
			wantURL string
		}{
			{"base64 block", anthropic.NewImageBlockBase64("image/png", pngBase64), dataURL},
			{"url block", anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: imageURL}), imageURL},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 256, Messages: []anthropic.MessageParam{
					anthropic.NewUserMessage(anthropic.NewTextBlock("what is this"), tc.block),
				}}
				for _, run := range messageRuns(t, g, g.anthropic(toOpenAIUpstream), params) {
					t.Run(run.mode, func(t *testing.T) {
						if got, want := anthropicText(run.msg), "Hello! You said: what is this [1 image(s)]"; got != want {
							t.Errorf("answer %q, want %q", got, want)
						}
						up := decodeOpenAIUpstream(t, run.upstream)
						parts := openAIParts(t, up.Messages[0].Content)
						if len(parts) != 2 || parts[0].Type != "text" || parts[1].Type != "image_url" || parts[1].ImageURL == nil {
							t.Fatalf("upstream content = %s, want a text and an image_url part", up.Messages[0].Content)
						}
						if parts[1].ImageURL.URL != tc.wantURL {
							t.Errorf("image url = %q, want %q", parts[1].ImageURL.URL, tc.wantURL)
						}
					})
				}
			})
		}
	})
}

// promptTokens is what the mock reports as prompt tokens for a request body.
func promptTokens(body []byte) int64 { return int64(max(len(body)/4, 1)) }

func TestCrossFormatUsage(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)

	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		cases := []struct {
			name   string
			params openai.ChatCompletionNewParams
		}{
			{"plain", chatParams("count my tokens")},
			{"cache_control on the system prompt", func() openai.ChatCompletionNewParams {
				p := chatParams("count my cached tokens")
				sys := openai.ChatCompletionContentPartTextParam{Text: strings.Repeat("Long shared instructions. ", 20)}
				sys.SetExtraFields(map[string]any{"cache_control": map[string]any{"type": "ephemeral"}})
				p.Messages = append([]openai.ChatCompletionMessageParamUnion{
					openai.SystemMessage([]openai.ChatCompletionContentPartTextParam{sys}),
				}, p.Messages...)
				return p
			}()},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				runs := chatRuns(t, g, g.openAI(toAnthropicUpstream), tc.params)
				for _, run := range runs {
					t.Run(run.mode, func(t *testing.T) {
						u := run.resp.Usage
						// The Anthropic upstream reports input = P-C and
						// cache reads = C; the client must see P and C.
						p := promptTokens(run.upstream)
						var c int64
						if strings.Contains(string(run.upstream), `"cache_control"`) {
							c = p / 2
						}
						if u.PromptTokens != p || u.PromptTokensDetails.CachedTokens != c {
							t.Errorf("prompt %d (cached %d), want %d (cached %d)", u.PromptTokens, u.PromptTokensDetails.CachedTokens, p, c)
						}
						if u.CompletionTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
							t.Errorf("usage %+v: want completion tokens and total = prompt + completion", u)
						}
					})
				}
				if a, b := runs[0].resp.Usage.CompletionTokens, runs[1].resp.Usage.CompletionTokens; a != b {
					t.Errorf("completion tokens %d non-streaming, %d streaming", a, b)
				}
				// The mock counts one output token per content delta.
				deltas := 0
				for _, c := range runs[1].chunks {
					if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
						deltas++
					}
				}
				if got := runs[1].resp.Usage.CompletionTokens; got != int64(deltas) {
					t.Errorf("completion tokens %d, want %d, one per streamed delta", got, deltas)
				}
				if tc.name != "plain" && !strings.Contains(string(runs[0].upstream), `"cache_control"`) {
					t.Errorf("cache_control did not reach the Anthropic upstream: %s", runs[0].upstream)
				}
			})
		}
	})

	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		runs := messageRuns(t, g, g.anthropic(toOpenAIUpstream), messageParams("count my tokens"))
		for _, run := range runs {
			t.Run(run.mode, func(t *testing.T) {
				u := run.msg.Usage
				p := promptTokens(run.upstream)
				var c int64
				if strings.Contains(string(run.upstream), `"cache_control"`) {
					c = p / 2
				}
				if u.InputTokens != p-c || u.CacheReadInputTokens != c || u.OutputTokens == 0 {
					t.Errorf("usage %+v, want input %d, cache read %d, some output", u, p-c, c)
				}
			})
		}
		if a, b := runs[0].msg.Usage.OutputTokens, runs[1].msg.Usage.OutputTokens; a != b {
			t.Errorf("output tokens %d non-streaming, %d streaming", a, b)
		}
		deltas := 0
		for _, ev := range runs[1].events {
			if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
				deltas++
			}
		}
		if got := runs[1].msg.Usage.OutputTokens; got != int64(deltas) {
			t.Errorf("output tokens %d, want %d, one per streamed delta", got, deltas)
		}
	})
}

func TestCrossFormatStopSequencesAndMaxTokens(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	const full = "Hello! You said: please stop here and go on"

	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		t.Run("stop sequence", func(t *testing.T) {
			params := chatParams("please stop here and go on")
			params.Stop = openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"here"}}
			for _, run := range chatRuns(t, g, g.openAI(toAnthropicUpstream), params) {
				t.Run(run.mode, func(t *testing.T) {
					c := run.resp.Choices[0]
					if want := full[:strings.Index(full, "here")]; c.Message.Content != want || c.FinishReason != "stop" {
						t.Errorf("answer %q, finish %q; want %q, stop", c.Message.Content, c.FinishReason, want)
					}
					if up := decodeAnthropicUpstream(t, run.upstream); !slices.Equal(up.StopSequences, []string{"here"}) {
						t.Errorf("upstream stop_sequences = %q", up.StopSequences)
					}
				})
			}
		})
		t.Run("max tokens", func(t *testing.T) {
			params := chatParams("please stop here and go on")
			params.MaxCompletionTokens = openai.Int(3)
			for _, run := range chatRuns(t, g, g.openAI(toAnthropicUpstream), params) {
				t.Run(run.mode, func(t *testing.T) {
					c := run.resp.Choices[0]
					if c.FinishReason != "length" || c.Message.Content == "" || len(c.Message.Content) >= len(full) ||
						!strings.HasPrefix(full, c.Message.Content) {
						t.Errorf("answer %q, finish %q; want a cut prefix of %q, length", c.Message.Content, c.FinishReason, full)
					}
					if run.resp.Usage.CompletionTokens != 3 {
						t.Errorf("completion tokens %d, want 3", run.resp.Usage.CompletionTokens)
					}
					if up := decodeAnthropicUpstream(t, run.upstream); up.MaxTokens != 3 {
						t.Errorf("upstream max_tokens = %d, want 3", up.MaxTokens)
					}
				})
			}
		})
	})

	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		t.Run("stop sequence", func(t *testing.T) {
			params := messageParams("please stop here and go on")
			params.StopSequences = []string{"here"}
			for _, run := range messageRuns(t, g, g.anthropic(toOpenAIUpstream), params) {
				t.Run(run.mode, func(t *testing.T) {
					want := full[:strings.Index(full, "here")]
					if got := anthropicText(run.msg); got != want {
						t.Errorf("answer %q, want %q", got, want)
					}
					// OpenAI says only "stop": which sequence matched, if
					// any, is not known on this side.
					if run.msg.StopReason != anthropic.StopReasonEndTurn && run.msg.StopReason != anthropic.StopReasonStopSequence {
						t.Errorf("stop_reason %q", run.msg.StopReason)
					}
					up := decodeOpenAIUpstream(t, run.upstream)
					if string(up.Stop) != `["here"]` && string(up.Stop) != `"here"` {
						t.Errorf("upstream stop = %s", up.Stop)
					}
				})
			}
		})
		t.Run("max tokens", func(t *testing.T) {
			params := messageParams("please stop here and go on")
			params.MaxTokens = 3
			for _, run := range messageRuns(t, g, g.anthropic(toOpenAIUpstream), params) {
				t.Run(run.mode, func(t *testing.T) {
					got := anthropicText(run.msg)
					if run.msg.StopReason != anthropic.StopReasonMaxTokens || got == "" || len(got) >= len(full) || !strings.HasPrefix(full, got) {
						t.Errorf("answer %q, stop %q; want a cut prefix of %q, max_tokens", got, run.msg.StopReason, full)
					}
					if run.msg.Usage.OutputTokens != 3 {
						t.Errorf("output tokens %d, want 3", run.msg.Usage.OutputTokens)
					}
					if up := decodeOpenAIUpstream(t, run.upstream); up.tokenLimit() != 3 {
						t.Errorf("upstream token limit = %d, want 3", up.tokenLimit())
					}
				})
			}
		})
	})
}

const mappedRoutes = `
[[routes]]
path = "/mapped/v1/chat/completions"
input_format = "openai-chat"
upstream = "anthropic"
model_map = { "gpt-4o" = "claude-sonnet-4-5" }

[[routes]]
path = "/mapped/v1/messages"
input_format = "anthropic"
upstream = "openai"
model_map = { "claude-sonnet-4-5" = "gpt-4o" }

[[routes]]
path = "/reported/v1/chat/completions"
input_format = "openai-chat"
upstream = "anthropic"
model_map = { "gpt-4o" = "claude-sonnet-4-5" }
report_upstream_model = true

[[routes]]
path = "/reported/v1/messages"
input_format = "anthropic"
upstream = "openai"
model_map = { "claude-sonnet-4-5" = "gpt-4o" }
report_upstream_model = true
`

func TestCrossFormatModelMapping(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), mappedRoutes, nil)
	cases := []struct {
		prefix string
		// reported is the model the client must see.
		openAIReported, anthropicReported string
	}{
		{"/mapped", "gpt-4o", "claude-sonnet-4-5"},
		{"/reported", "claude-sonnet-4-5", "gpt-4o"},
	}
	for _, tc := range cases {
		t.Run(tc.prefix, func(t *testing.T) {
			for _, run := range chatRuns(t, g, g.openAI(tc.prefix), chatParams("which model")) {
				t.Run("openai client "+run.mode, func(t *testing.T) {
					if up := decodeAnthropicUpstream(t, run.upstream); up.Model != "claude-sonnet-4-5" {
						t.Errorf("upstream model %q, want claude-sonnet-4-5", up.Model)
					}
					if run.resp.Model != tc.openAIReported {
						t.Errorf("client sees model %q, want %q", run.resp.Model, tc.openAIReported)
					}
					for i, c := range run.chunks {
						if c.Model != tc.openAIReported {
							t.Errorf("chunk %d names model %q, want %q", i, c.Model, tc.openAIReported)
							break
						}
					}
				})
			}
			for _, run := range messageRuns(t, g, g.anthropic(tc.prefix), messageParams("which model")) {
				t.Run("anthropic client "+run.mode, func(t *testing.T) {
					if up := decodeOpenAIUpstream(t, run.upstream); up.Model != "gpt-4o" {
						t.Errorf("upstream model %q, want gpt-4o", up.Model)
					}
					if run.msg.Model != tc.anthropicReported {
						t.Errorf("client sees model %q, want %q", run.msg.Model, tc.anthropicReported)
					}
				})
			}
		})
	}
}

func TestCrossFormatUpstreamErrors(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	cases := []struct {
		status int
		// OpenAI client, Anthropic upstream: the code keeps the
		// upstream's own error type.
		openAIType, openAICode string
		// Anthropic client, OpenAI upstream.
		anthropicType string
	}{
		{400, "invalid_request_error", "invalid_request_error", "invalid_request_error"},
		{401, "invalid_request_error", "authentication_error", "authentication_error"},
		{429, "rate_limit_error", "rate_limit_error", "rate_limit_error"},
		{500, "server_error", "api_error", "api_error"},
		{529, "server_error", "overloaded_error", "overloaded_error"},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			cfg := mock.DefaultConfig()
			cfg.ErrorStatus = tc.status
			g.mock.SetConfig(cfg)
			ctx := context.Background()
			// The messages each upstream gives for this status, asked
			// directly: they must reach the client of the other format.
			anthropicMsg := upstreamErrorMessage(t, g, "/v1/messages")
			openAIMsg := upstreamErrorMessage(t, g, "/v1/chat/completions")

			checkOpenAI := func(t *testing.T, err error) {
				t.Helper()
				var oerr *openai.Error
				if !errors.As(err, &oerr) {
					t.Fatalf("err = %v, want *openai.Error", err)
				}
				if oerr.StatusCode != tc.status || oerr.Type != tc.openAIType || oerr.Code != tc.openAICode || oerr.Message != anthropicMsg {
					t.Errorf("status %d, type %q, code %q, message %q; want %d, %q, %q, %q\n%s",
						oerr.StatusCode, oerr.Type, oerr.Code, oerr.Message, tc.status, tc.openAIType, tc.openAICode, anthropicMsg, oerr.RawJSON())
				}
				if tc.status == 429 && oerr.Response.Header.Get("Retry-After") == "" {
					t.Error("429 without retry-after")
				}
			}
			_, err := g.openAI(toAnthropicUpstream).Chat.Completions.New(ctx, chatParams("hi"))
			t.Run("openai client non-streaming", func(t *testing.T) { checkOpenAI(t, err) })
			stream := g.openAI(toAnthropicUpstream).Chat.Completions.NewStreaming(ctx, chatParams("hi"))
			for stream.Next() {
			}
			t.Run("openai client streaming", func(t *testing.T) { checkOpenAI(t, stream.Err()) })
			_ = stream.Close()

			checkAnthropic := func(t *testing.T, err error) {
				t.Helper()
				var aerr *anthropic.Error
				if !errors.As(err, &aerr) {
					t.Fatalf("err = %v, want *anthropic.Error", err)
				}
				var body struct {
					Type  string `json:"type"`
					Error struct {
						Type    string `json:"type"`
						Message string `json:"message"`
					} `json:"error"`
					RequestID string `json:"request_id"`
				}
				if err := jsonx.Unmarshal([]byte(aerr.RawJSON()), &body); err != nil {
					t.Fatalf("error body %q: %v", aerr.RawJSON(), err)
				}
				if aerr.StatusCode != tc.status || string(aerr.Type()) != tc.anthropicType || body.Type != "error" ||
					body.Error.Message != openAIMsg || body.RequestID == "" {
					t.Errorf("status %d, type %q; want %d, %q, message %q and a request_id\n%s",
						aerr.StatusCode, aerr.Type(), tc.status, tc.anthropicType, openAIMsg, aerr.RawJSON())
				}
				if aerr.RequestID == "" || aerr.RequestID != body.RequestID {
					t.Errorf("request-id header %q, body request_id %q: want one id", aerr.RequestID, body.RequestID)
				}
				if tc.status == 429 && aerr.Response.Header.Get("Retry-After") == "" {
					t.Error("429 without retry-after")
				}
			}
			_, err = g.anthropic(toOpenAIUpstream).Messages.New(ctx, messageParams("hi"))
			t.Run("anthropic client non-streaming", func(t *testing.T) { checkAnthropic(t, err) })
			astream := g.anthropic(toOpenAIUpstream).Messages.NewStreaming(ctx, messageParams("hi"))
			for astream.Next() {
			}
			t.Run("anthropic client streaming", func(t *testing.T) { checkAnthropic(t, astream.Err()) })
			_ = astream.Close()
		})
	}
}

// upstreamErrorMessage asks the mock upstream directly and returns the
// error message of its answer.
func upstreamErrorMessage(t *testing.T, g *gateway, path string) string {
	t.Helper()
	resp, err := http.Post(g.mock.URL()+path, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := jsonx.Unmarshal(data, &body); err != nil || body.Error.Message == "" {
		t.Fatalf("the upstream's error %s has no message (%v)", data, err)
	}
	return body.Error.Message
}

func TestCrossFormatStreamInterrupted(t *testing.T) {
	t.Parallel()
	cfg := mock.DefaultConfig()
	cfg.DisconnectAfter = 3
	g := startGateway(t, cfg, "", nil)
	ctx := context.Background()

	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		stream := g.openAI(toAnthropicUpstream).Chat.Completions.NewStreaming(ctx, chatParams("tell me a long story"))
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if stream.Err() == nil {
			t.Error("the SDK saw no error for an interrupted stream")
		}
		_ = stream.Close()
		if len(acc.Choices) == 0 || acc.Choices[0].Message.Content == "" {
			t.Error("the text sent before the break did not reach the client")
		}

		resp, body := g.post(toAnthropicUpstream+"/v1/chat/completions",
			`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"tell me a long story"}]}`)
		text := string(body)
		if resp.StatusCode != 200 || !strings.Contains(text, `"delta":{"content":`) ||
			!strings.Contains(text, "\ndata: {\"error\":{") || strings.Contains(text, "[DONE]") ||
			strings.Contains(text, "event:") || !strings.HasSuffix(text, "\n\n") {
			t.Errorf("status %d; want content, then an OpenAI error event ending the stream:\n%s", resp.StatusCode, text)
		}
	})

	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		stream := g.anthropic(toOpenAIUpstream).Messages.NewStreaming(ctx, messageParams("tell me a long story"))
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if stream.Err() == nil {
			t.Error("the SDK saw no error for an interrupted stream")
		}
		_ = stream.Close()
		if anthropicText(acc) == "" {
			t.Error("the text sent before the break did not reach the client")
		}

		resp, body := g.post(toOpenAIUpstream+"/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"tell me a long story"}]}`,
			"anthropic-version", "2023-06-01")
		text := string(body)
		if resp.StatusCode != 200 || !strings.Contains(text, `"text_delta"`) ||
			!strings.Contains(text, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":") ||
			strings.Contains(text, "message_stop") || !strings.HasSuffix(text, "\n\n") {
			t.Errorf("status %d; want text, then an Anthropic error event ending the stream:\n%s", resp.StatusCode, text)
		}
	})
}

// TestCrossFormatAnswerCutShort covers a non-streamed answer the upstream
// cut off halfway: the client gets a 502 in its own error format.
func TestCrossFormatAnswerCutShort(t *testing.T) {
	t.Parallel()
	cfg := mock.DefaultConfig()
	cfg.DisconnectAfter = 1
	g := startGateway(t, cfg, "", nil)
	ctx := context.Background()

	_, err := g.openAI(toAnthropicUpstream).Chat.Completions.New(ctx, chatParams("hi"))
	var oerr *openai.Error
	if !errors.As(err, &oerr) || oerr.StatusCode != http.StatusBadGateway || oerr.Type != "server_error" || oerr.Message == "" {
		t.Errorf("openai client: err = %v, want a 502 server_error", err)
	}
	_, err = g.anthropic(toOpenAIUpstream).Messages.New(ctx, messageParams("hi"))
	var aerr *anthropic.Error
	if !errors.As(err, &aerr) || aerr.StatusCode != http.StatusBadGateway || aerr.Type() != "api_error" {
		t.Errorf("anthropic client: err = %v, want a 502 api_error", err)
	}
}

// TestCrossFormatConcurrentStreams runs streams of both directions at once
// with a pause between chunks so that their frames interleave on the bus:
// every client must get its own answer, whole.
func TestCrossFormatConcurrentStreams(t *testing.T) {
	t.Parallel()
	cfg := mock.DefaultConfig()
	cfg.ChunkGap = time.Millisecond
	g := startGateway(t, cfg, "", nil)
	ctx := context.Background()
	const perDirection = 12

	errs := make(chan error, 2*perDirection)
	for i := range perDirection {
		go func() {
			text := "openai stream " + strconv.Itoa(i)
			params := chatParams(text)
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := g.openAI(toAnthropicUpstream).Chat.Completions.NewStreaming(ctx, params)
			defer stream.Close()
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			switch {
			case stream.Err() != nil:
				errs <- fmt.Errorf("%s: %w", text, stream.Err())
			case len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "Hello! You said: "+text || acc.Usage.CompletionTokens == 0:
				errs <- fmt.Errorf("%s: got %+v, usage %+v", text, acc.Choices, acc.Usage)
			default:
				errs <- nil
			}
		}()
		go func() {
			text := "anthropic stream " + strconv.Itoa(i)
			stream := g.anthropic(toOpenAIUpstream).Messages.NewStreaming(ctx, messageParams(text))
			defer stream.Close()
			var msg anthropic.Message
			var accErr error
			for stream.Next() {
				if err := msg.Accumulate(stream.Current()); err != nil && accErr == nil {
					accErr = err
				}
			}
			switch {
			case stream.Err() != nil || accErr != nil:
				errs <- fmt.Errorf("%s: %v %v", text, stream.Err(), accErr)
			case anthropicText(msg) != "Hello! You said: "+text || msg.Usage.OutputTokens == 0:
				errs <- fmt.Errorf("%s: got %+v, usage %+v", text, msg.Content, msg.Usage)
			default:
				errs <- nil
			}
		}()
	}
	for range 2 * perDirection {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestCrossFormatUncarriedFields(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	ctx := context.Background()

	openAICases := []struct {
		name  string
		set   func(*openai.ChatCompletionNewParams)
		param string
	}{
		{"n=2", func(p *openai.ChatCompletionNewParams) { p.N = openai.Int(2) }, "n"},
		{"temperature 1.5", func(p *openai.ChatCompletionNewParams) { p.Temperature = openai.Float(1.5) }, "temperature"},
	}
	for _, tc := range openAICases {
		t.Run("openai client "+tc.name, func(t *testing.T) {
			before := g.mock.Stats().Requests
			params := chatParams("hi")
			tc.set(&params)
			_, err := g.openAI(toAnthropicUpstream).Chat.Completions.New(ctx, params)
			var oerr *openai.Error
			if !errors.As(err, &oerr) {
				t.Fatalf("err = %v, want *openai.Error", err)
			}
			if oerr.StatusCode != 400 || oerr.Type != "invalid_request_error" || oerr.Param != tc.param || oerr.Message == "" {
				t.Errorf("status %d, type %q, param %q; want 400, invalid_request_error, %q\n%s",
					oerr.StatusCode, oerr.Type, oerr.Param, tc.param, oerr.RawJSON())
			}
			if after := g.mock.Stats().Requests; after != before {
				t.Errorf("the upstream saw %d requests for a refused one", after-before)
			}
		})
	}

	anthropicCases := []struct {
		name  string
		set   func(*anthropic.MessageNewParams)
		param string
	}{
		{"five stop sequences", func(p *anthropic.MessageNewParams) {
			p.StopSequences = []string{"a", "b", "c", "d", "e"}
		}, "stop_sequences"},
		{"PDF by URL", func(p *anthropic.MessageNewParams) {
			p.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(
				anthropic.NewTextBlock("summarise"),
				anthropic.NewDocumentBlock(anthropic.URLPDFSourceParam{URL: "https://example.com/a.pdf"}),
			)}
		}, "messages[0].content[1].source"},
	}
	for _, tc := range anthropicCases {
		t.Run("anthropic client "+tc.name, func(t *testing.T) {
			before := g.mock.Stats().Requests
			params := messageParams("hi")
			tc.set(&params)
			_, err := g.anthropic(toOpenAIUpstream).Messages.New(ctx, params)
			var aerr *anthropic.Error
			if !errors.As(err, &aerr) {
				t.Fatalf("err = %v, want *anthropic.Error", err)
			}
			raw := aerr.RawJSON()
			if aerr.StatusCode != 400 || aerr.Type() != "invalid_request_error" || !strings.Contains(raw, tc.param) ||
				!strings.Contains(raw, `"type":"error"`) || !strings.Contains(raw, `"request_id":"req_`) {
				t.Errorf("status %d, type %q; want 400 invalid_request_error naming %s\n%s", aerr.StatusCode, aerr.Type(), tc.param, raw)
			}
			if after := g.mock.Stats().Requests; after != before {
				t.Errorf("the upstream saw %d requests for a refused one", after-before)
			}
		})
	}
}

// upstreamHeaders asks the mock upstream directly, to learn the headers it
// sends in its own dialect.
func upstreamHeaders(t *testing.T, g *gateway, path, body string) http.Header {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.mock.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.Header
}

func TestCrossFormatRateLimitHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	ctx := context.Background()

	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		up := upstreamHeaders(t, g, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
		for _, stream := range []bool{false, true} {
			var h http.Header
			if stream {
				resp, body := g.post(toAnthropicUpstream+"/v1/chat/completions",
					`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				h = resp.Header
			} else {
				var resp *http.Response
				if _, err := g.openAI(toAnthropicUpstream).Chat.Completions.New(ctx, chatParams("hi"), option.WithResponseInto(&resp)); err != nil {
					t.Fatal(err)
				}
				h = resp.Header
			}
			for _, pair := range [][2]string{
				{"x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit"},
				{"x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit"},
				{"x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining"},
			} {
				if got, want := h.Get(pair[0]), up.Get(pair[1]); got == "" || got != want {
					t.Errorf("stream=%v: %s = %q, want %q (the upstream's %s)", stream, pair[0], got, want, pair[1])
				}
			}
			if _, err := strconv.Atoi(h.Get("x-ratelimit-remaining-tokens")); err != nil {
				t.Errorf("stream=%v: x-ratelimit-remaining-tokens %q", stream, h.Get("x-ratelimit-remaining-tokens"))
			}
			for _, name := range []string{"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"} {
				if d, err := time.ParseDuration(h.Get(name)); err != nil || d < 0 || d > 2*time.Minute {
					t.Errorf("stream=%v: %s = %q, want a duration up to the upstream's reset", stream, name, h.Get(name))
				}
			}
			if h.Get("anthropic-ratelimit-requests-limit") != "" {
				t.Errorf("stream=%v: Anthropic rate-limit headers leaked to an OpenAI client", stream)
			}
		}
	})

	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		up := upstreamHeaders(t, g, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		for _, stream := range []bool{false, true} {
			var h http.Header
			if stream {
				resp, body := g.post(toOpenAIUpstream+"/v1/messages",
					`{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
					"anthropic-version", "2023-06-01")
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				h = resp.Header
			} else {
				var resp *http.Response
				if _, err := g.anthropic(toOpenAIUpstream).Messages.New(ctx, messageParams("hi"), aoption.WithResponseInto(&resp)); err != nil {
					t.Fatal(err)
				}
				h = resp.Header
			}
			for _, pair := range [][2]string{
				{"anthropic-ratelimit-requests-limit", "x-ratelimit-limit-requests"},
				{"anthropic-ratelimit-tokens-limit", "x-ratelimit-limit-tokens"},
				{"anthropic-ratelimit-requests-remaining", "x-ratelimit-remaining-requests"},
			} {
				if got, want := h.Get(pair[0]), up.Get(pair[1]); got == "" || got != want {
					t.Errorf("stream=%v: %s = %q, want %q (the upstream's %s)", stream, pair[0], got, want, pair[1])
				}
			}
			now := time.Now()
			for _, pair := range [][2]string{
				{"anthropic-ratelimit-requests-reset", "x-ratelimit-reset-requests"},
				{"anthropic-ratelimit-tokens-reset", "x-ratelimit-reset-tokens"},
			} {
				d, err := time.ParseDuration(up.Get(pair[1]))
				if err != nil {
					t.Fatalf("upstream %s = %q", pair[1], up.Get(pair[1]))
				}
				reset, err := time.Parse(time.RFC3339, h.Get(pair[0]))
				// The reset is a time, rounded up to the second, about the
				// upstream's duration from now.
				if err != nil || reset.Before(now.Add(d-5*time.Second)) || reset.After(now.Add(d+5*time.Second)) {
					t.Errorf("stream=%v: %s = %q, want a time about %v from now", stream, pair[0], h.Get(pair[0]), d)
				}
			}
			if h.Get("request-id") == "" {
				t.Errorf("stream=%v: no request-id", stream)
			}
			if h.Get("x-ratelimit-limit-requests") != "" {
				t.Errorf("stream=%v: OpenAI rate-limit headers leaked to an Anthropic client", stream)
			}
		}
	})

	t.Run("retry-after on 429", func(t *testing.T) {
		cfg := mock.DefaultConfig()
		cfg.ErrorStatus = http.StatusTooManyRequests
		g.mock.SetConfig(cfg)
		defer g.mock.SetConfig(mock.DefaultConfig())
		want := upstreamHeaders(t, g, "/v1/messages", `{}`).Get("Retry-After")
		if want == "" {
			t.Fatal("the mock sends no retry-after on 429")
		}
		resp, body := g.post(toAnthropicUpstream+"/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != want || resp.Header.Get("x-ratelimit-limit-requests") == "" {
			t.Errorf("openai client: status %d, retry-after %q, rate limits %q; want 429, %q\n%s", resp.StatusCode,
				resp.Header.Get("Retry-After"), resp.Header.Get("x-ratelimit-limit-requests"), want, body)
		}
		resp, body = g.post(toOpenAIUpstream+"/v1/messages", `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			"anthropic-version", "2023-06-01")
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != want || resp.Header.Get("anthropic-ratelimit-requests-limit") == "" {
			t.Errorf("anthropic client: status %d, retry-after %q, rate limits %q; want 429, %q\n%s", resp.StatusCode,
				resp.Header.Get("Retry-After"), resp.Header.Get("anthropic-ratelimit-requests-limit"), want, body)
		}
	})
}

// sseData returns the data of each event of a recorded stream, [DONE]
// excluded.
func sseData(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return eventData(raw)
}

// eventData returns the data lines of a server-sent event stream, [DONE]
// excluded.
func eventData(raw []byte) [][]byte {
	var out [][]byte
	for _, line := range strings.Split(string(raw), "\n") {
		data, ok := strings.CutPrefix(line, "data:")
		if data = strings.TrimSpace(data); ok && data != "[DONE]" {
			out = append(out, []byte(data))
		}
	}
	return out
}

// recordedAnthropic rebuilds a recorded Anthropic stream with the SDK's own
// accumulator: what a client of the upstream itself would have seen.
func recordedAnthropic(t *testing.T, path string) anthropic.Message {
	t.Helper()
	var msg anthropic.Message
	for _, data := range sseData(t, path) {
		var ev anthropic.MessageStreamEventUnion
		if err := ev.UnmarshalJSON(data); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return msg
}

// recordedToolInputs joins the input_json_delta fragments of each tool_use
// block of a recorded Anthropic stream, in block order. Unlike the SDK's
// Input, this keeps the partial JSON of a call cut by max_tokens.
func recordedToolInputs(t *testing.T, path string) []string {
	t.Helper()
	var inputs []string
	block := map[int64]int{}
	for _, data := range sseData(t, path) {
		var ev anthropic.MessageStreamEventUnion
		if err := ev.UnmarshalJSON(data); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch {
		case ev.Type == "content_block_start" && ev.ContentBlock.Type == "tool_use":
			block[ev.Index] = len(inputs)
			inputs = append(inputs, "")
		case ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta":
			inputs[block[ev.Index]] += ev.Delta.PartialJSON
		}
	}
	return inputs
}

// recordedOpenAI rebuilds a recorded OpenAI stream with the SDK's own
// accumulator.
func recordedOpenAI(t *testing.T, path string) openai.ChatCompletion {
	t.Helper()
	var acc openai.ChatCompletionAccumulator
	for _, data := range sseData(t, path) {
		var chunk openai.ChatCompletionChunk
		if err := chunk.UnmarshalJSON(data); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !acc.AddChunk(chunk) {
			t.Fatalf("%s: the accumulator refused %s", path, data)
		}
	}
	return acc.ChatCompletion
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if jsonx.Unmarshal(a, &va) != nil || jsonx.Unmarshal(b, &vb) != nil {
		return false
	}
	ea, _ := jsonx.Marshal(va)
	eb, _ := jsonx.Marshal(vb)
	return string(ea) == string(eb)
}

// TestCrossFormatRecordedStreams replays real provider recordings on the
// cross routes and compares what the other format's SDK rebuilds with what
// the recording's own SDK rebuilds.
func TestCrossFormatRecordedStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	anthropicRecordings := []struct {
		name   string
		finish string
	}{
		{"anthropic_stream_text_tool_use.sse", "tool_calls"},
		{"anthropic_stream_tool_use_max_tokens_incomplete.sse", "length"},
	}
	for _, tc := range anthropicRecordings {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := recordedAnthropic(t, fixture(tc.name))
			g := startGateway(t, mock.Config{ReplayFile: fixture(tc.name)}, "", nil)
			params := chatParams("replay")
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := g.openAI(toAnthropicUpstream).Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("the accumulator refused %s", stream.Current().RawJSON())
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			_ = stream.Close()

			got := acc.Choices[0]
			if got.Message.Content != anthropicText(want) || got.FinishReason != tc.finish {
				t.Errorf("content %q, finish %q; want %q, %q", got.Message.Content, got.FinishReason, anthropicText(want), tc.finish)
			}
			var uses []anthropic.ContentBlockUnion
			for _, b := range want.Content {
				if b.Type == "tool_use" {
					uses = append(uses, b)
				}
			}
			inputs := recordedToolInputs(t, fixture(tc.name))
			if len(got.Message.ToolCalls) != len(uses) || len(inputs) != len(uses) {
				t.Fatalf("tool calls %+v, want %d", got.Message.ToolCalls, len(uses))
			}
			for i, u := range uses {
				c := got.Message.ToolCalls[i]
				if c.ID != u.ID || c.Function.Name != u.Name {
					t.Errorf("call %d = %s %s, want %s %s", i, c.ID, c.Function.Name, u.ID, u.Name)
				}
				// A call cut by max_tokens is not valid JSON; the client gets
				// the same partial text the upstream sent.
				if c.Function.Arguments != inputs[i] && !jsonEqual([]byte(c.Function.Arguments), u.Input) {
					t.Errorf("call %d arguments %q, want %q", i, c.Function.Arguments, inputs[i])
				}
			}
			u := want.Usage
			wantPrompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
			if acc.Usage.PromptTokens != wantPrompt || acc.Usage.CompletionTokens != u.OutputTokens ||
				acc.Usage.PromptTokensDetails.CachedTokens != u.CacheReadInputTokens {
				t.Errorf("usage %+v, want prompt %d (cached %d), completion %d", acc.Usage, wantPrompt, u.CacheReadInputTokens, u.OutputTokens)
			}
		})
	}

	t.Run("openai_stream_parallel_tool_calls_usage.sse", func(t *testing.T) {
		t.Parallel()
		name := "openai_stream_parallel_tool_calls_usage.sse"
		want := recordedOpenAI(t, fixture(name))
		g := startGateway(t, mock.Config{ReplayFile: fixture(name)}, "", nil)
		stream := g.anthropic(toOpenAIUpstream).Messages.NewStreaming(ctx, messageParams("replay"))
		msg := accumulateMessage(t, stream)
		_ = stream.Close()

		calls := want.Choices[0].Message.ToolCalls
		if len(msg.Content) != len(calls) || msg.StopReason != anthropic.StopReasonToolUse {
			t.Fatalf("content %+v, stop %q; want %d tool_use blocks, tool_use", msg.Content, msg.StopReason, len(calls))
		}
		for i, c := range calls {
			b := msg.Content[i]
			if b.Type != "tool_use" || b.ID != c.ID || b.Name != c.Function.Name || !jsonEqual(b.Input, []byte(c.Function.Arguments)) {
				t.Errorf("block %d = %s %s %s %s, want tool_use %s %s %s", i, b.Type, b.ID, b.Name, b.Input, c.ID, c.Function.Name, c.Function.Arguments)
			}
		}
		u := want.Usage
		if msg.Usage.InputTokens != u.PromptTokens-u.PromptTokensDetails.CachedTokens || msg.Usage.OutputTokens != u.CompletionTokens ||
			msg.Usage.CacheReadInputTokens != u.PromptTokensDetails.CachedTokens {
			t.Errorf("usage %+v, want input %d, output %d", msg.Usage, u.PromptTokens-u.PromptTokensDetails.CachedTokens, u.CompletionTokens)
		}
	})
}

// TestCrossFormatStreamErrorEvents replays streams that end in an error
// event after some text: the client gets the text, then the error in its
// own dialect, and its SDK reports the error.
func TestCrossFormatStreamErrorEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("anthropic error event to an openai client", func(t *testing.T) {
		t.Parallel()
		file, _ := filepath.Abs("testdata/anthropic_stream_overloaded.sse")
		g := startGateway(t, mock.Config{ReplayFile: file}, "", nil)
		resp, body := g.post(toAnthropicUpstream+"/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		events := eventData(body)
		if resp.StatusCode != 200 || len(events) == 0 {
			t.Fatalf("status %d, body %s", resp.StatusCode, body)
		}
		var last struct {
			Error *struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		if err := jsonx.Unmarshal(events[len(events)-1], &last); err != nil || last.Error == nil {
			t.Fatalf("last event %s is not an OpenAI error (%v)", events[len(events)-1], err)
		}
		// The same vocabulary as an HTTP 529 from the same upstream.
		if last.Error.Message != "Overloaded" || last.Error.Type != "server_error" || last.Error.Code == nil || *last.Error.Code != "overloaded_error" {
			t.Errorf("error event %s, want message Overloaded, type server_error, code overloaded_error", events[len(events)-1])
		}
		if !strings.Contains(string(body), `"content":"Once upon"`) || strings.Contains(string(body), "[DONE]") {
			t.Errorf("want the text, then the error and no [DONE]:\n%s", body)
		}

		stream := g.openAI(toAnthropicUpstream).Chat.Completions.NewStreaming(ctx, chatParams("hi"))
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "Overloaded") {
			t.Errorf("stream error = %v, want the upstream's message", err)
		}
		_ = stream.Close()
		if acc.Choices[0].Message.Content != "Once upon" {
			t.Errorf("content before the error = %q", acc.Choices[0].Message.Content)
		}
	})

	t.Run("openai error payload to an anthropic client", func(t *testing.T) {
		t.Parallel()
		file, _ := filepath.Abs("testdata/openai_stream_server_error.sse")
		g := startGateway(t, mock.Config{ReplayFile: file}, "", nil)
		resp, body := g.post(toOpenAIUpstream+"/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			"anthropic-version", "2023-06-01")
		text := string(body)
		if resp.StatusCode != 200 || !strings.Contains(text, `"text":"Once upon"`) ||
			!strings.HasSuffix(text, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"The server had an error while processing your request. Sorry about that!\"}}\n\n") ||
			strings.Contains(text, "message_stop") {
			t.Errorf("status %d; want the text, then an Anthropic api_error event ending the stream:\n%s", resp.StatusCode, text)
		}

		stream := g.anthropic(toOpenAIUpstream).Messages.NewStreaming(ctx, messageParams("hi"))
		var msg anthropic.Message
		for stream.Next() {
			if err := msg.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "api_error") {
			t.Errorf("stream error = %v, want the api_error", err)
		}
		_ = stream.Close()
		if anthropicText(msg) != "Once upon" {
			t.Errorf("content before the error = %q", anthropicText(msg))
		}
	})
}

func TestCrossFormatToolChoice(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)

	openAICases := []struct {
		name  string
		set   func(*openai.ChatCompletionNewParams)
		calls []string // tools called; none means a text answer
	}{
		{"auto", func(*openai.ChatCompletionNewParams) {}, []string{"get_weather", "get_time"}},
		{"parallel calls disabled", func(p *openai.ChatCompletionNewParams) { p.ParallelToolCalls = openai.Bool(false) }, []string{"get_weather"}},
		{"named tool", func(p *openai.ChatCompletionNewParams) {
			p.ToolChoice = openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_time"})
		}, []string{"get_time"}},
		{"none", func(p *openai.ChatCompletionNewParams) {
			p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")}
		}, nil},
	}
	for _, tc := range openAICases {
		t.Run("openai client "+tc.name, func(t *testing.T) {
			params := chatParams("what now")
			params.Tools = openAITools()
			tc.set(&params)
			for _, run := range chatRuns(t, g, g.openAI(toAnthropicUpstream), params) {
				t.Run(run.mode, func(t *testing.T) {
					c := run.resp.Choices[0]
					var names []string
					for _, call := range c.Message.ToolCalls {
						names = append(names, call.Function.Name)
						checkArgs(t, call.Function.Name, []byte(call.Function.Arguments))
					}
					wantFinish := "tool_calls"
					if tc.calls == nil {
						wantFinish = "stop"
						if c.Message.Content != "Hello! You said: what now" {
							t.Errorf("content %q", c.Message.Content)
						}
					}
					if !slices.Equal(names, tc.calls) || string(c.FinishReason) != wantFinish {
						t.Errorf("calls %q, finish %q; want %q, %q\nupstream: %s", names, c.FinishReason, tc.calls, wantFinish, run.upstream)
					}
				})
			}
		})
	}

	anthropicCases := []struct {
		name  string
		tc    anthropic.ToolChoiceUnionParam
		calls []string
	}{
		{"auto", anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{}}, []string{"get_weather", "get_time"}},
		{"any, parallel use disabled", anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{DisableParallelToolUse: anthropic.Bool(true)}}, []string{"get_weather"}},
		{"named tool", anthropic.ToolChoiceParamOfTool("get_time"), []string{"get_time"}},
		{"none", anthropic.ToolChoiceUnionParam{OfNone: &anthropic.ToolChoiceNoneParam{}}, nil},
	}
	for _, tc := range anthropicCases {
		t.Run("anthropic client "+tc.name, func(t *testing.T) {
			params := messageParams("what now")
			params.Tools = anthropicTools()
			params.ToolChoice = tc.tc
			for _, run := range messageRuns(t, g, g.anthropic(toOpenAIUpstream), params) {
				t.Run(run.mode, func(t *testing.T) {
					var names []string
					for _, b := range run.msg.Content {
						if b.Type == "tool_use" {
							names = append(names, b.Name)
							checkArgs(t, b.Name, b.Input)
						}
					}
					wantStop := anthropic.StopReasonToolUse
					if tc.calls == nil {
						wantStop = anthropic.StopReasonEndTurn
						if anthropicText(run.msg) != "Hello! You said: what now" {
							t.Errorf("content %+v", run.msg.Content)
						}
					}
					if !slices.Equal(names, tc.calls) || run.msg.StopReason != wantStop {
						t.Errorf("calls %q, stop %q; want %q, %q\nupstream: %s", names, run.msg.StopReason, tc.calls, wantStop, run.upstream)
					}
				})
			}
		})
	}
}

// thinkingBlock is the thinking_blocks extension of an OpenAI message, the
// form in which a client hands Anthropic's signed thinking back.
type thinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

// TestCrossFormatThinking checks that an OpenAI client asking for reasoning
// gets Anthropic's thinking apart from the answer, and can send the signed
// thinking back with its tool results, as Anthropic requires.
func TestCrossFormatThinking(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	client := g.openAI(toAnthropicUpstream)

	t.Run("openai client, text answer", func(t *testing.T) {
		params := chatParams("think first")
		params.ReasoningEffort = shared.ReasoningEffortLow
		runs := chatRuns(t, g, client, params)
		plain := runs[0].resp.Choices[0].Message
		var reasoning string
		if err := jsonx.Unmarshal([]byte(plain.JSON.ExtraFields["reasoning_content"].Raw()), &reasoning); err != nil || reasoning == "" {
			t.Fatalf("non-streaming: reasoning_content %q (%v)", plain.JSON.ExtraFields["reasoning_content"].Raw(), err)
		}
		var streamed strings.Builder
		for _, c := range runs[1].chunks {
			if len(c.Choices) == 0 {
				continue
			}
			if raw := c.Choices[0].Delta.JSON.ExtraFields["reasoning_content"].Raw(); raw != "" {
				var s string
				if err := jsonx.Unmarshal([]byte(raw), &s); err != nil {
					t.Fatal(err)
				}
				streamed.WriteString(s)
			}
		}
		if streamed.String() != reasoning {
			t.Errorf("streamed reasoning %q, want %q", streamed.String(), reasoning)
		}
		for _, run := range runs {
			if got := run.resp.Choices[0].Message.Content; got != "Hello! You said: think first" {
				t.Errorf("%s: content %q: the thinking must stay out of it", run.mode, got)
			}
			up := decodeAnthropicUpstream(t, run.upstream)
			var th struct {
				Thinking struct {
					Type         string `json:"type"`
					BudgetTokens int    `json:"budget_tokens"`
				} `json:"thinking"`
			}
			if err := jsonx.Unmarshal(run.upstream, &th); err != nil || th.Thinking.Type != "enabled" ||
				th.Thinking.BudgetTokens < 1024 || up.MaxTokens <= th.Thinking.BudgetTokens {
				t.Errorf("%s: upstream thinking %+v with max_tokens %d", run.mode, th.Thinking, up.MaxTokens)
			}
		}
	})

	t.Run("anthropic client asking for thinking", func(t *testing.T) {
		params := messageParams("think first")
		params.MaxTokens = 2048
		params.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
		for _, run := range messageRuns(t, g, g.anthropic(toOpenAIUpstream), params) {
			t.Run(run.mode, func(t *testing.T) {
				if got := anthropicText(run.msg); got != "Hello! You said: think first" {
					t.Errorf("answer %q", got)
				}
				var up struct {
					ReasoningEffort     string `json:"reasoning_effort"`
					MaxCompletionTokens int    `json:"max_completion_tokens"`
				}
				// A reasoning request goes to a reasoning model, which
				// takes only max_completion_tokens.
				if err := jsonx.Unmarshal(run.upstream, &up); err != nil || up.ReasoningEffort == "" || up.MaxCompletionTokens != 2048 {
					t.Errorf("upstream %s: want a reasoning_effort and max_completion_tokens 2048", run.upstream)
				}
			})
		}
	})

	t.Run("openai client, tool use round trip", func(t *testing.T) {
		question := openai.UserMessage("weather, thoughtfully")
		params := chatParams("")
		params.Messages = []openai.ChatCompletionMessageParamUnion{question}
		params.Tools = openAITools()
		params.ReasoningEffort = shared.ReasoningEffortLow
		resp, err := client.Chat.Completions.New(context.Background(), params)
		if err != nil {
			t.Fatal(err)
		}
		msg := resp.Choices[0].Message
		var blocks []thinkingBlock
		if err := jsonx.Unmarshal([]byte(msg.JSON.ExtraFields["thinking_blocks"].Raw()), &blocks); err != nil ||
			len(blocks) != 1 || blocks[0].Signature == "" || blocks[0].Thinking == "" {
			t.Fatalf("thinking_blocks %s (%v)", msg.JSON.ExtraFields["thinking_blocks"].Raw(), err)
		}
		if len(msg.ToolCalls) != 2 || resp.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("tool calls %+v, finish %q", msg.ToolCalls, resp.Choices[0].FinishReason)
		}

		assistant := msg.ToAssistantMessageParam()
		assistant.SetExtraFields(map[string]any{"thinking_blocks": blocks})
		params.Messages = []openai.ChatCompletionMessageParamUnion{
			question,
			{OfAssistant: &assistant},
			openai.ToolMessage("rain", msg.ToolCalls[0].ID),
			openai.ToolMessage("noon", msg.ToolCalls[1].ID),
		}
		for _, run := range chatRuns(t, g, client, params) {
			t.Run(run.mode, func(t *testing.T) {
				if got := run.resp.Choices[0].Message.Content; got != "Tool results: rain; noon" {
					t.Errorf("answer %q", got)
				}
				up := decodeAnthropicUpstream(t, run.upstream)
				if len(up.Messages) != 3 {
					t.Fatalf("upstream roles %q", up.roles())
				}
				turn := up.Messages[1].Content
				var signed struct {
					Messages []struct {
						Content []thinkingBlock `json:"content"`
					} `json:"messages"`
				}
				if err := jsonx.Unmarshal(run.upstream, &signed); err != nil {
					t.Fatal(err)
				}
				first := signed.Messages[1].Content[0]
				if len(turn) != 3 || turn[0].Type != "thinking" || first != blocks[0] ||
					turn[1].Type != "tool_use" || turn[2].Type != "tool_use" {
					t.Errorf("assistant turn upstream = %s, want the signed thinking block, then the two tool_use blocks", run.upstream)
				}
			})
		}
	})
}

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata with the current output")

// Values that change from run to run, replaced before comparing with a
// golden file.
var (
	createdField = regexp.MustCompile(`"created":[0-9]+`)
	gatewayID    = regexp.MustCompile(`"request_id":"req_[A-Za-z0-9]+"`)
)

// TestCrossFormatWireGolden records what crosses the wire on the cross
// routes, the converted upstream request and the answer the client gets, in
// testdata/wire/*.golden. Run with -update to rewrite them after checking a
// change.
func TestCrossFormatWireGolden(t *testing.T) {
	t.Parallel()
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}}}}}]`
	atools := `"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}},{"name":"get_time","input_schema":{"type":"object","properties":{"zone":{"type":"string"}}}}]`
	cases := []struct {
		name, path, body string
		errorStatus      int
	}{
		{"openai_client_text", toAnthropicUpstream + "/v1/chat/completions",
			`{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi there"}]}`, 0},
		{"openai_client_text_stream", toAnthropicUpstream + "/v1/chat/completions",
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi there"}]}`, 0},
		{"openai_client_parallel_tools_stream", toAnthropicUpstream + "/v1/chat/completions",
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},` + tools + `,"messages":[{"role":"user","content":"weather?"}]}`, 0},
		{"openai_client_tool_results", toAnthropicUpstream + "/v1/chat/completions",
			`{"model":"gpt-4o",` + tools + `,"messages":[{"role":"user","content":"weather?"},` +
				`{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"toolu_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},` +
				`{"role":"tool","tool_call_id":"toolu_1","content":"rain"},{"role":"tool","tool_call_id":"toolu_2","content":"noon"}]}`, 0},
		{"openai_client_image", toAnthropicUpstream + "/v1/chat/completions",
			`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + pngBase64 + `"}}]}]}`, 0},
		{"openai_client_error_529", toAnthropicUpstream + "/v1/chat/completions",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, 529},
		{"anthropic_client_text_stream", toOpenAIUpstream + "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"system":"Be brief.","messages":[{"role":"user","content":"hi there"}]}`, 0},
		{"anthropic_client_parallel_tools_stream", toOpenAIUpstream + "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,` + atools + `,"messages":[{"role":"user","content":"weather?"}]}`, 0},
		{"anthropic_client_tool_results", toOpenAIUpstream + "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":256,` + atools + `,"messages":[{"role":"user","content":"weather?"},` +
				`{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},{"type":"tool_use","id":"call_2","name":"get_time","input":{}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"rain"},{"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"noon"}]}]}]}`, 0},
		{"anthropic_client_image", toOpenAIUpstream + "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image","source":{"type":"url","url":"` + imageURL + `"}}]}]}`, 0},
		{"anthropic_client_error_429", toOpenAIUpstream + "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"hi"}]}`, 429},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mock.DefaultConfig()
			cfg.ErrorStatus = tc.errorStatus
			g := startGateway(t, cfg, "", nil)
			resp, body := g.post(tc.path, tc.body, "anthropic-version", "2023-06-01")
			var out bytes.Buffer
			fmt.Fprintf(&out, "--- upstream request ---\n%s\n--- answer: %d %s ---\n", lastUpstreamBody(t, g), resp.StatusCode, resp.Header.Get("Content-Type"))
			out.Write(body)
			got := gatewayID.ReplaceAll(createdField.ReplaceAll(out.Bytes(), []byte(`"created":0`)), []byte(`"request_id":"req_gateway"`))

			path := filepath.Join("testdata", "wire", tc.name+".golden")
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wire differs from %s (run with -update after checking the change)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
			}
		})
	}
}

// loggedUsage is the usage the ingress recorded for a request (the figures
// quotas and metrics are fed), read from its access log line.
type loggedUsage struct {
	Input  int64 `json:"input_tokens"`
	Output int64 `json:"output_tokens"`
	Cached int64 `json:"cached_tokens"`
}

func accessLogUsage(t *testing.T, g *gateway, requestID string) loggedUsage {
	t.Helper()
	var u loggedUsage
	eventually(t, 5*time.Second, func() error {
		for _, line := range strings.Split(g.logs.String(), "\n") {
			if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"request_id":"`+requestID+`"`) {
				return jsonx.Unmarshal([]byte(line), &u)
			}
		}
		return fmt.Errorf("no access log line for %s", requestID)
	})
	return u
}

// TestCrossFormatAccountedUsage checks that the usage the gateway accounts
// for a cross-format request is the usage its client was told.
func TestCrossFormatAccountedUsage(t *testing.T) {
	t.Parallel()
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	ctx := context.Background()

	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		params := chatParams("account for me")
		sys := openai.ChatCompletionContentPartTextParam{Text: "Shared instructions."}
		sys.SetExtraFields(map[string]any{"cache_control": map[string]any{"type": "ephemeral"}})
		params.Messages = append([]openai.ChatCompletionMessageParamUnion{openai.SystemMessage([]openai.ChatCompletionContentPartTextParam{sys})}, params.Messages...)
		for _, stream := range []bool{false, true} {
			var resp *http.Response
			var usage openai.CompletionUsage
			if stream {
				// Without include_usage: the client is told nothing, but
				// the gateway still accounts the upstream's figures.
				s := g.openAI(toAnthropicUpstream).Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&resp))
				var acc openai.ChatCompletionAccumulator
				var deltas int64
				for s.Next() {
					c := s.Current()
					acc.AddChunk(c)
					if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
						deltas++
					}
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				_ = s.Close()
				if acc.Usage.TotalTokens != 0 {
					t.Errorf("usage %+v sent to a client that did not ask for it", acc.Usage)
				}
				// What the mock reported: P and P/2 cached (the body has
				// cache_control), one output token per delta.
				p := promptTokens(lastUpstreamBody(t, g))
				usage = openai.CompletionUsage{PromptTokens: p, CompletionTokens: deltas}
				usage.PromptTokensDetails.CachedTokens = p / 2
			} else {
				r, err := g.openAI(toAnthropicUpstream).Chat.Completions.New(ctx, params, option.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				usage = r.Usage
			}
			got := accessLogUsage(t, g, resp.Header.Get("X-Request-Id"))
			if got.Input != usage.PromptTokens || got.Cached != usage.PromptTokensDetails.CachedTokens ||
				got.Output == 0 || got.Output != usage.CompletionTokens {
				t.Errorf("stream=%v: accounted %+v, client usage %+v", stream, got, usage)
			}
		}
	})

	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		for _, stream := range []bool{false, true} {
			var resp *http.Response
			var usage anthropic.Usage
			if stream {
				s := g.anthropic(toOpenAIUpstream).Messages.NewStreaming(ctx, messageParams("account for me"), aoption.WithResponseInto(&resp))
				var msg anthropic.Message
				for s.Next() {
					if err := msg.Accumulate(s.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				_ = s.Close()
				usage = msg.Usage
			} else {
				msg, err := g.anthropic(toOpenAIUpstream).Messages.New(ctx, messageParams("account for me"), aoption.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				usage = msg.Usage
			}
			got := accessLogUsage(t, g, resp.Header.Get("X-Request-Id"))
			wantIn := usage.InputTokens + usage.CacheReadInputTokens + usage.CacheCreationInputTokens
			if got.Input != wantIn || got.Output != usage.OutputTokens || got.Cached != usage.CacheReadInputTokens {
				t.Errorf("stream=%v: accounted %+v, client usage %+v", stream, got, usage)
			}
		}
	})
}
