package mock

import (
	"context"
	"errors"
	"testing"

	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/anthropics/anthropic-sdk-go"
)

var (
	anWeatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
		Name: "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{
			"n": map[string]any{"type": "integer"}, "city": map[string]any{"type": "string"},
		}},
	}}
	anTimeTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
		Name: "get_time",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{
			"tz": map[string]any{"type": "string"}, "utc": map[string]any{"type": "boolean"},
		}},
	}}
)

// anBlockWant is an expected content block: its type and its text, thinking
// or tool call.
type anBlockWant struct {
	typ, text, name, input string
}

func TestAnthropicMessages(t *testing.T) {
	s := startServer(t, DefaultConfig())
	client := anthropicClient(t, s)

	user := func(text string) anthropic.MessageParam {
		return anthropic.NewUserMessage(anthropic.NewTextBlock(text))
	}
	tests := []struct {
		name        string
		params      anthropic.MessageNewParams
		wantBlocks  []anBlockWant
		wantStop    anthropic.StopReason
		wantStopSeq string
		wantOutput  int64
		wantCached  bool
	}{
		{
			name:       "text",
			params:     anthropic.MessageNewParams{Messages: []anthropic.MessageParam{user("What is the weather in Paris?")}},
			wantBlocks: []anBlockWant{{typ: "text", text: "Hello! You said: What is the weather in Paris?"}},
			wantStop:   anthropic.StopReasonEndTurn,
			wantOutput: DefaultChunks,
		},
		{
			name: "text blocks and image",
			params: anthropic.MessageNewParams{Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
				anthropic.NewTextBlock("Describe"),
				anthropic.NewImageBlockBase64("image/png", "iVBORw0KGgo="),
				anthropic.NewTextBlock("these"),
				anthropic.NewImageBlockBase64("image/webp", "UklGRg=="),
			)}},
			wantBlocks: []anBlockWant{{typ: "text", text: "Hello! You said: Describe these [2 image(s)]"}},
			wantStop:   anthropic.StopReasonEndTurn,
			wantOutput: DefaultChunks,
		},
		{
			name: "parallel tool use",
			params: anthropic.MessageNewParams{
				Messages: []anthropic.MessageParam{user("weather and time?")},
				Tools:    []anthropic.ToolUnionParam{anWeatherTool, anTimeTool},
			},
			wantBlocks: []anBlockWant{
				{typ: "tool_use", name: "get_weather", input: `{"city":"value-city","n":1}`},
				{typ: "tool_use", name: "get_time", input: `{"tz":"value-tz","utc":true}`},
			},
			wantStop:   anthropic.StopReasonToolUse,
			wantOutput: 2 * argFragments,
		},
		{
			name: "forced tool",
			params: anthropic.MessageNewParams{
				Messages:   []anthropic.MessageParam{user("time?")},
				Tools:      []anthropic.ToolUnionParam{anWeatherTool, anTimeTool},
				ToolChoice: anthropic.ToolChoiceParamOfTool("get_time"),
			},
			wantBlocks: []anBlockWant{{typ: "tool_use", name: "get_time", input: `{"tz":"value-tz","utc":true}`}},
			wantStop:   anthropic.StopReasonToolUse,
			wantOutput: argFragments,
		},
		{
			name: "thinking then tool use",
			params: anthropic.MessageNewParams{
				MaxTokens: 4096,
				Thinking:  anthropic.ThinkingConfigParamOfEnabled(2048),
				Messages:  []anthropic.MessageParam{user("weather?")},
				Tools:     []anthropic.ToolUnionParam{anWeatherTool},
			},
			wantBlocks: []anBlockWant{
				{typ: "thinking", text: thinkingText},
				{typ: "tool_use", name: "get_weather", input: `{"city":"value-city","n":1}`},
			},
			wantStop:   anthropic.StopReasonToolUse,
			wantOutput: thinkingPieces + argFragments,
		},
		{
			name: "tool results",
			params: anthropic.MessageNewParams{
				Messages: []anthropic.MessageParam{
					user("weather and time?"),
					anthropic.NewAssistantMessage(
						anthropic.NewTextBlock("Checking."),
						anthropic.NewToolUseBlock("toolu_1", map[string]any{"city": "Paris"}, "get_weather"),
						anthropic.NewToolUseBlock("toolu_2", map[string]any{}, "get_time"),
					),
					anthropic.NewUserMessage(
						anthropic.NewToolResultBlock("toolu_1", "sunny, 21C", false),
						anthropic.NewToolResultBlock("toolu_2", "10:00", false),
					),
				},
				Tools: []anthropic.ToolUnionParam{anWeatherTool, anTimeTool},
			},
			wantBlocks: []anBlockWant{{typ: "text", text: "Tool results: sunny, 21C; 10:00"}},
			wantStop:   anthropic.StopReasonEndTurn,
			wantOutput: DefaultChunks,
		},
		{
			name: "stop sequence",
			params: anthropic.MessageNewParams{
				Messages:      []anthropic.MessageParam{user("ping")},
				StopSequences: []string{"said"},
			},
			wantBlocks:  []anBlockWant{{typ: "text", text: "Hello! You "}},
			wantStop:    anthropic.StopReasonStopSequence,
			wantStopSeq: "said",
			wantOutput:  DefaultChunks,
		},
		{
			name: "max tokens",
			params: anthropic.MessageNewParams{
				MaxTokens: 3,
				Messages:  []anthropic.MessageParam{user("0123456789012345678901234567890123456789")},
			},
			wantBlocks: []anBlockWant{{typ: "text", text: "Hello! You said: "[:17]}},
			wantStop:   anthropic.StopReasonMaxTokens,
			wantOutput: 3,
		},
		{
			name: "cache control",
			params: anthropic.MessageNewParams{
				System:   []anthropic.TextBlockParam{{Text: "long system prompt", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
				Messages: []anthropic.MessageParam{user("hi")},
			},
			wantBlocks: []anBlockWant{{typ: "text", text: "Hello! You said: hi"}},
			wantStop:   anthropic.StopReasonEndTurn,
			wantOutput: DefaultChunks,
			wantCached: true,
		},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name + "/json"
			if stream {
				name = tt.name + "/stream"
			}
			t.Run(name, func(t *testing.T) {
				params := tt.params
				params.Model = "claude-sonnet-4-5"
				if params.MaxTokens == 0 {
					params.MaxTokens = 1024
				}
				var got anthropic.Message
				if stream {
					st := client.Messages.NewStreaming(context.Background(), params)
					for st.Next() {
						if err := got.Accumulate(st.Current()); err != nil {
							t.Fatalf("Accumulate: %v", err)
						}
					}
					if err := st.Err(); err != nil {
						t.Fatalf("stream: %v", err)
					}
				} else {
					resp, err := client.Messages.New(context.Background(), params)
					if err != nil {
						t.Fatalf("New: %v", err)
					}
					got = *resp
				}
				checkAnthropicAnswer(t, s, &got, tt.wantBlocks, tt.wantStop, tt.wantStopSeq, tt.wantOutput, tt.wantCached)
			})
		}
	}
}

func checkAnthropicAnswer(t *testing.T, s *Server, got *anthropic.Message, want []anBlockWant, wantStop anthropic.StopReason, wantStopSeq string, wantOutput int64, wantCached bool) {
	t.Helper()
	if got.Model != "claude-sonnet-4-5" || got.Role != "assistant" {
		t.Errorf("model, role = %q, %q", got.Model, got.Role)
	}
	if got.StopReason != wantStop || got.StopSequence != wantStopSeq {
		t.Errorf("stop = %q %q, want %q %q", got.StopReason, got.StopSequence, wantStop, wantStopSeq)
	}
	if len(got.Content) != len(want) {
		t.Fatalf("got %d blocks, want %d: %s", len(got.Content), len(want), got.RawJSON())
	}
	ids := map[string]bool{}
	for i, w := range want {
		b := got.Content[i]
		if b.Type != w.typ {
			t.Errorf("block %d type = %q, want %q", i, b.Type, w.typ)
			continue
		}
		switch w.typ {
		case "text":
			if b.Text != w.text {
				t.Errorf("block %d text = %q, want %q", i, b.Text, w.text)
			}
		case "thinking":
			if b.Thinking != w.text || b.Signature == "" {
				t.Errorf("block %d thinking = %q (signature %q), want %q with a signature", i, b.Thinking, b.Signature, w.text)
			}
		case "tool_use":
			if b.Name != w.name || string(b.Input) != w.input {
				t.Errorf("block %d = %s(%s), want %s(%s)", i, b.Name, b.Input, w.name, w.input)
			}
			if !anthropicIDPattern.MatchString(b.ID) || ids[b.ID] {
				t.Errorf("block %d id %q is invalid or repeated", i, b.ID)
			}
			ids[b.ID] = true
		}
	}
	reqs := s.Requests()
	body := reqs[len(reqs)-1].Body
	total := int64(max(len(body)/4, 1))
	var cached int64
	if wantCached {
		cached = total / 2
		if cached == 0 {
			t.Fatal("test body too short to show cached tokens")
		}
	}
	u := got.Usage
	if u.InputTokens != total-cached || u.CacheReadInputTokens != cached || u.CacheCreationInputTokens != 0 {
		t.Errorf("usage input %d, cache read %d, cache creation %d; want %d, %d, 0", u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, total-cached, cached)
	}
	if u.OutputTokens != wantOutput {
		t.Errorf("output_tokens = %d, want %d", u.OutputTokens, wantOutput)
	}
}

func TestAnthropicErrors(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		mutate   func(*anthropic.MessageNewParams)
		status   int
		wantType string
	}{
		{name: "rate limited", cfg: Config{ErrorStatus: 429}, status: 429, wantType: "rate_limit_error"},
		{name: "overloaded", cfg: Config{ErrorStatus: 529}, status: 529, wantType: "overloaded_error"},
		{name: "server error", cfg: Config{ErrorStatus: 500}, status: 500, wantType: "api_error"},
		{name: "wrong api key", cfg: Config{APIKey: "sk-ant-other"}, status: 401, wantType: "authentication_error"},
		{
			name:     "temperature out of range",
			cfg:      DefaultConfig(),
			mutate:   func(p *anthropic.MessageNewParams) { p.Temperature = anthropic.Float(1.5) },
			status:   400,
			wantType: "invalid_request_error",
		},
		{
			name: "empty text block",
			cfg:  DefaultConfig(),
			mutate: func(p *anthropic.MessageNewParams) {
				p.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"), anthropic.NewTextBlock(""))}
			},
			status:   400,
			wantType: "invalid_request_error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg)
			params := anthropic.MessageNewParams{
				Model:     "claude-sonnet-4-5",
				MaxTokens: 100,
				Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
			}
			if tt.mutate != nil {
				tt.mutate(&params)
			}
			client := anthropicClient(t, s)
			_, err := client.Messages.New(context.Background(), params)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *anthropic.Error", err)
			}
			if apiErr.StatusCode != tt.status || string(apiErr.Type()) != tt.wantType {
				t.Errorf("got %d %q, want %d %q", apiErr.StatusCode, apiErr.Type(), tt.status, tt.wantType)
			}
			if apiErr.RequestID != "req_mock_1" {
				t.Errorf("request id = %q, want req_mock_1", apiErr.RequestID)
			}
			var body struct {
				RequestID string `json:"request_id"`
			}
			if err := jsonx.Unmarshal([]byte(apiErr.RawJSON()), &body); err != nil || body.RequestID != "req_mock_1" {
				t.Errorf("body request_id = %q (%v), want req_mock_1", body.RequestID, err)
			}
			retry := apiErr.Response.Header.Get("retry-after")
			if wantRetry := tt.status == 429 || tt.status == 529; wantRetry != (retry != "") {
				t.Errorf("retry-after = %q on status %d", retry, tt.status)
			}
		})
	}
}
