package mock

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
)

var (
	oaWeatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{
			"n": map[string]any{"type": "integer"}, "city": map[string]any{"type": "string"},
		}},
	})
	oaTimeTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_time",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{
			"tz": map[string]any{"type": "string"}, "utc": map[string]any{"type": "boolean"},
		}},
	})
	oaSpareTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "spare"})
)

type wantCall struct {
	name, args string
}

func TestOpenAIChat(t *testing.T) {
	s := startServer(t, DefaultConfig())
	client := openAIClient(t, s)

	toolTurn := openai.ChatCompletionMessageParamUnion{OfAssistant: &openai.ChatCompletionAssistantMessageParam{
		ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{
			{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: "call_1", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
			{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: "call_2", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_time", Arguments: `{}`}}},
		},
	}}

	tests := []struct {
		name       string
		params     openai.ChatCompletionNewParams
		wantText   string
		wantFinish string
		wantCalls  []wantCall
		wantOutput int64
	}{
		{
			name:       "text",
			params:     openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("What is the weather in Paris?")}},
			wantText:   "Hello! You said: What is the weather in Paris?",
			wantFinish: "stop",
			wantOutput: DefaultChunks,
		},
		{
			name: "image parts",
			params: openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("Describe"),
				openai.TextContentPart("this"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
			})}},
			wantText:   "Hello! You said: Describe this [1 image(s)]",
			wantFinish: "stop",
			wantOutput: DefaultChunks,
		},
		{
			name: "parallel tool calls",
			params: openai.ChatCompletionNewParams{
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather and time?")},
				Tools:    []openai.ChatCompletionToolUnionParam{oaWeatherTool, oaTimeTool, oaSpareTool},
			},
			wantFinish: "tool_calls",
			wantCalls:  []wantCall{{"get_weather", `{"city":"value-city","n":1}`}, {"get_time", `{"tz":"value-tz","utc":true}`}},
			wantOutput: 2 * argFragments,
		},
		{
			name: "named tool choice",
			params: openai.ChatCompletionNewParams{
				Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("time?")},
				Tools:      []openai.ChatCompletionToolUnionParam{oaWeatherTool, oaTimeTool},
				ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfFunctionToolChoice: &openai.ChatCompletionNamedToolChoiceParam{Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_time"}}},
			},
			wantFinish: "tool_calls",
			wantCalls:  []wantCall{{"get_time", `{"tz":"value-tz","utc":true}`}},
			wantOutput: argFragments,
		},
		{
			name: "parallel calls disabled",
			params: openai.ChatCompletionNewParams{
				Messages:          []openai.ChatCompletionMessageParamUnion{openai.UserMessage("both?")},
				Tools:             []openai.ChatCompletionToolUnionParam{oaWeatherTool, oaTimeTool},
				ParallelToolCalls: openai.Bool(false),
			},
			wantFinish: "tool_calls",
			wantCalls:  []wantCall{{"get_weather", `{"city":"value-city","n":1}`}},
			wantOutput: argFragments,
		},
		{
			name: "tool results",
			params: openai.ChatCompletionNewParams{
				Messages: []openai.ChatCompletionMessageParamUnion{
					openai.UserMessage("weather and time?"),
					toolTurn,
					openai.ToolMessage("sunny, 21C", "call_1"),
					openai.ToolMessage("10:00", "call_2"),
				},
				Tools: []openai.ChatCompletionToolUnionParam{oaWeatherTool, oaTimeTool},
			},
			wantText:   "Tool results: sunny, 21C; 10:00",
			wantFinish: "stop",
			wantOutput: DefaultChunks,
		},
		{
			name: "stop sequence",
			params: openai.ChatCompletionNewParams{
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("ping")},
				Stop:     openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"zzz", "said"}},
			},
			wantText:   "Hello! You ",
			wantFinish: "stop",
			wantOutput: DefaultChunks,
		},
		{
			name: "max completion tokens",
			params: openai.ChatCompletionNewParams{
				Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("0123456789012345678901234567890123456789")},
				MaxCompletionTokens: openai.Int(3),
			},
			// 57 bytes in 10 chunks: boundaries at 5, 11 and 17 bytes.
			wantText:   "Hello! You said: "[:17],
			wantFinish: "length",
			wantOutput: 3,
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
				params.Model = "gpt-4o-mini"
				var got openai.ChatCompletion
				if stream {
					params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
					st := client.Chat.Completions.NewStreaming(context.Background(), params)
					var acc openai.ChatCompletionAccumulator
					for st.Next() {
						if !acc.AddChunk(st.Current()) {
							t.Fatalf("accumulator rejected chunk %s", st.Current().RawJSON())
						}
					}
					if err := st.Err(); err != nil {
						t.Fatalf("stream: %v", err)
					}
					got = acc.ChatCompletion
				} else {
					resp, err := client.Chat.Completions.New(context.Background(), params)
					if err != nil {
						t.Fatalf("New: %v", err)
					}
					got = *resp
				}
				checkOpenAIAnswer(t, s, got, tt.wantText, tt.wantFinish, tt.wantCalls, tt.wantOutput)
			})
		}
	}
}

func checkOpenAIAnswer(t *testing.T, s *Server, got openai.ChatCompletion, wantText, wantFinish string, wantCalls []wantCall, wantOutput int64) {
	t.Helper()
	if got.Model != "gpt-4o-mini" {
		t.Errorf("model = %q, want the request's", got.Model)
	}
	if len(got.Choices) != 1 {
		t.Fatalf("got %d choices, want 1", len(got.Choices))
	}
	c := got.Choices[0]
	if c.Message.Content != wantText {
		t.Errorf("content = %q, want %q", c.Message.Content, wantText)
	}
	if c.FinishReason != wantFinish {
		t.Errorf("finish_reason = %q, want %q", c.FinishReason, wantFinish)
	}
	if len(c.Message.ToolCalls) != len(wantCalls) {
		t.Fatalf("got %d tool calls, want %d: %+v", len(c.Message.ToolCalls), len(wantCalls), c.Message.ToolCalls)
	}
	ids := map[string]bool{}
	for i, w := range wantCalls {
		tc := c.Message.ToolCalls[i]
		if tc.Function.Name != w.name || tc.Function.Arguments != w.args {
			t.Errorf("tool call %d = %s(%s), want %s(%s)", i, tc.Function.Name, tc.Function.Arguments, w.name, w.args)
		}
		if tc.ID == "" || ids[tc.ID] {
			t.Errorf("tool call %d id %q is empty or repeated", i, tc.ID)
		}
		ids[tc.ID] = true
	}
	reqs := s.Requests()
	body := reqs[len(reqs)-1].Body
	if want := int64(max(len(body)/4, 1)); got.Usage.PromptTokens != want {
		t.Errorf("prompt_tokens = %d, want len(body)/4 = %d", got.Usage.PromptTokens, want)
	}
	if got.Usage.CompletionTokens != wantOutput {
		t.Errorf("completion_tokens = %d, want %d", got.Usage.CompletionTokens, wantOutput)
	}
	if got.Usage.TotalTokens != got.Usage.PromptTokens+got.Usage.CompletionTokens {
		t.Errorf("total_tokens = %d, want the sum", got.Usage.TotalTokens)
	}
}

func TestOpenAIErrors(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		params   openai.ChatCompletionNewParams
		status   int
		wantType string
		wantCode string
	}{
		{name: "rate limited", cfg: Config{ErrorStatus: 429}, status: 429, wantType: "requests", wantCode: "rate_limit_exceeded"},
		{name: "server error", cfg: Config{ErrorStatus: 500}, status: 500, wantType: "server_error"},
		{name: "unavailable", cfg: Config{ErrorStatus: 503}, status: 503, wantType: "server_error"},
		{name: "wrong api key", cfg: Config{APIKey: "sk-other"}, status: 401, wantType: "invalid_request_error", wantCode: "invalid_api_key"},
		{
			name:     "temperature out of range",
			cfg:      DefaultConfig(),
			params:   openai.ChatCompletionNewParams{Temperature: openai.Float(2.5)},
			status:   400,
			wantType: "invalid_request_error",
			wantCode: "decimal_above_max_value",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg)
			params := tt.params
			params.Model = "gpt-4o"
			params.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
			client := openAIClient(t, s)
			_, err := client.Chat.Completions.New(context.Background(), params)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *openai.Error", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Type != tt.wantType || apiErr.Code != tt.wantCode {
				t.Errorf("got %d %q %q, want %d %q %q", apiErr.StatusCode, apiErr.Type, apiErr.Code, tt.status, tt.wantType, tt.wantCode)
			}
			if apiErr.Message == "" {
				t.Error("error message is empty")
			}
			if h := apiErr.Response.Header.Get("x-request-id"); h != "req_mock_1" {
				t.Errorf("x-request-id = %q, want req_mock_1", h)
			}
			if got := apiErr.Response.Header.Get("retry-after"); (tt.status == http.StatusTooManyRequests) != (got != "") {
				t.Errorf("retry-after = %q on status %d", got, tt.status)
			}
		})
	}
}
