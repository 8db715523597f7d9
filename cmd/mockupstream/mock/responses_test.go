package mock

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/aigateway/gateway/cmd/mockupstream/mock/respstream"
)

const rsPath = "/v1/responses"

var (
	rsWeatherTool = responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object", "properties": map[string]any{
		"n": map[string]any{"type": "integer"}, "city": map[string]any{"type": "string"},
	}}, false)
	rsTimeTool = responses.ToolParamOfFunction("get_time", map[string]any{"type": "object", "properties": map[string]any{
		"tz": map[string]any{"type": "string"}, "utc": map[string]any{"type": "boolean"},
	}}, false)
	rsSpareTool = responses.ToolParamOfFunction("spare", map[string]any{"type": "object", "properties": map[string]any{}}, false)
)

func rsInputText(s string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
}

func rsItems(items ...responses.ResponseInputItemUnionParam) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfInputItemList: items}
}

func rsUser(text string) responses.ResponseInputItemUnionParam {
	return responses.ResponseInputItemParamOfMessage(text, responses.EasyInputMessageRoleUser)
}

func rsCall(callID, name, args string) responses.ResponseInputItemUnionParam {
	return responses.ResponseInputItemParamOfFunctionCall(args, callID, name)
}

func rsOutput(callID, output string) responses.ResponseInputItemUnionParam {
	item := responses.ResponseInputItemParamOfFunctionCallOutput(output)
	item.OfFunctionCallOutput.CallID = openai.String(callID)
	return item
}

// rsRun is one answer read through the SDK, plainly or as a checked stream.
type rsRun struct {
	resp   responses.Response
	stream *respstream.Result
}

// rsSend sends params plainly, or streamed and checked against the
// Responses grammar.
func rsSend(t *testing.T, client openai.Client, params responses.ResponseNewParams, stream bool, opts ...ooption.RequestOption) rsRun {
	t.Helper()
	ctx := context.Background()
	if !stream {
		resp, err := client.Responses.New(ctx, params, opts...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return rsRun{resp: *resp}
	}
	st := client.Responses.NewStreaming(ctx, params, opts...)
	var events []responses.ResponseStreamEventUnion
	for st.Next() {
		events = append(events, st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	_ = st.Close()
	res, err := respstream.Check(events)
	if err != nil {
		t.Fatalf("stream breaks the Responses grammar: %v", err)
	}
	return rsRun{resp: res.Response, stream: &res}
}

func TestResponses(t *testing.T) {
	s := startServer(t, DefaultConfig())
	client := openAIClient(t, s)

	tests := []struct {
		name       string
		params     responses.ResponseNewParams
		opts       []ooption.RequestOption
		wantText   string
		wantStatus responses.ResponseStatus
		wantCalls  []wantCall
		wantOutput int64
	}{
		{
			name:       "string input",
			params:     responses.ResponseNewParams{Input: rsInputText("What is the weather in Paris?"), Instructions: openai.String("be brief")},
			wantText:   "Hello! You said: What is the weather in Paris?",
			wantStatus: "completed",
			wantOutput: DefaultChunks,
		},
		{
			name: "message items with an image",
			params: responses.ResponseNewParams{Input: rsItems(
				responses.ResponseInputItemParamOfMessage("be brief", responses.EasyInputMessageRoleDeveloper),
				responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
					responses.ResponseInputContentParamOfInputText("Describe"),
					responses.ResponseInputContentParamOfInputText("this"),
					{OfInputImage: &responses.ResponseInputImageParam{Detail: "auto", ImageURL: openai.String("data:image/png;base64,iVBORw0KGgo=")}},
				}, responses.EasyInputMessageRoleUser),
			)},
			wantText:   "Hello! You said: Describe this [1 image(s)]",
			wantStatus: "completed",
			wantOutput: DefaultChunks,
		},
		{
			name: "parallel function calls",
			params: responses.ResponseNewParams{
				Input: rsInputText("weather and time?"),
				Tools: []responses.ToolUnionParam{rsWeatherTool, rsTimeTool, rsSpareTool},
			},
			wantStatus: "completed",
			wantCalls:  []wantCall{{"get_weather", `{"city":"value-city","n":1}`}, {"get_time", `{"tz":"value-tz","utc":true}`}},
			wantOutput: 2 * argFragments,
		},
		{
			name: "named tool choice",
			params: responses.ResponseNewParams{
				Input:      rsInputText("time?"),
				Tools:      []responses.ToolUnionParam{rsWeatherTool, rsTimeTool},
				ToolChoice: responses.ResponseNewParamsToolChoiceUnion{OfFunctionTool: &responses.ToolChoiceFunctionParam{Name: "get_time"}},
			},
			wantStatus: "completed",
			wantCalls:  []wantCall{{"get_time", `{"tz":"value-tz","utc":true}`}},
			wantOutput: argFragments,
		},
		{
			name: "parallel calls disabled",
			params: responses.ResponseNewParams{
				Input:             rsInputText("both?"),
				Tools:             []responses.ToolUnionParam{rsWeatherTool, rsTimeTool},
				ParallelToolCalls: openai.Bool(false),
			},
			wantStatus: "completed",
			wantCalls:  []wantCall{{"get_weather", `{"city":"value-city","n":1}`}},
			wantOutput: argFragments,
		},
		{
			name: "function call outputs",
			params: responses.ResponseNewParams{
				Input: rsItems(
					rsUser("weather and time?"),
					rsCall("call_1", "get_weather", `{"city":"Paris"}`),
					rsCall("call_2", "get_time", `{}`),
					rsOutput("call_1", "sunny, 21C"),
					rsOutput("call_2", "10:00"),
				),
				Tools: []responses.ToolUnionParam{rsWeatherTool, rsTimeTool},
			},
			wantText:   "Tool results: sunny, 21C; 10:00",
			wantStatus: "completed",
			wantOutput: DefaultChunks,
		},
		{
			name:   "max output tokens",
			params: responses.ResponseNewParams{Input: rsInputText("0123456789012345678901234567890123456789"), MaxOutputTokens: openai.Int(16)},
			opts:   []ooption.RequestOption{ooption.WithHeader(HeaderChunks, "40")},
			// 57 bytes in 40 chunks: the 16th boundary is at byte 22.
			wantText:   "Hello! You said: 01234",
			wantStatus: "incomplete",
			wantOutput: 16,
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
				params.Model = "gpt-5-mini"
				run := rsSend(t, client, params, stream, tt.opts...)
				got := run.resp
				if got.Model != "gpt-5-mini" {
					t.Errorf("model = %q, want the request's", got.Model)
				}
				if got.Status != tt.wantStatus {
					t.Errorf("status = %q, want %q", got.Status, tt.wantStatus)
				}
				if text := got.OutputText(); text != tt.wantText {
					t.Errorf("output text = %q, want %q", text, tt.wantText)
				}
				if run.stream != nil && run.stream.Text != tt.wantText {
					t.Errorf("streamed text = %q, want %q", run.stream.Text, tt.wantText)
				}
				var calls []responses.ResponseFunctionToolCall
				for _, item := range got.Output {
					if item.Type == "function_call" {
						calls = append(calls, item.AsFunctionCall())
					}
				}
				if len(calls) != len(tt.wantCalls) {
					t.Fatalf("got %d function calls, want %d: %s", len(calls), len(tt.wantCalls), got.RawJSON())
				}
				ids := map[string]bool{}
				for i, w := range tt.wantCalls {
					if calls[i].Name != w.name || calls[i].Arguments != w.args {
						t.Errorf("call %d = %s(%s), want %s(%s)", i, calls[i].Name, calls[i].Arguments, w.name, w.args)
					}
					if !strings.HasPrefix(calls[i].CallID, "call_") || ids[calls[i].CallID] {
						t.Errorf("call %d call_id %q is not a fresh call_ id", i, calls[i].CallID)
					}
					ids[calls[i].CallID] = true
				}
				reqs := s.Requests()
				body := reqs[len(reqs)-1].Body
				if want := int64(max(len(body)/4, 1)); got.Usage.InputTokens != want {
					t.Errorf("input_tokens = %d, want len(body)/4 = %d", got.Usage.InputTokens, want)
				}
				if got.Usage.OutputTokens != tt.wantOutput {
					t.Errorf("output_tokens = %d, want %d", got.Usage.OutputTokens, tt.wantOutput)
				}
				if got.Usage.TotalTokens != got.Usage.InputTokens+got.Usage.OutputTokens {
					t.Errorf("total_tokens = %d, want the sum", got.Usage.TotalTokens)
				}
			})
		}
	}
}

// TestResponsesReasoning checks the reasoning item: its summary only when
// asked for, its encrypted content only when included, the reasoning
// tokens in the usage, and that a replayed item is accepted in the next
// turn while one the mock did not make is refused.
func TestResponsesReasoning(t *testing.T) {
	s := startServer(t, DefaultConfig())
	client := openAIClient(t, s)
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			params := responses.ResponseNewParams{
				Model:          "gpt-5",
				Input:          rsInputText("think first"),
				Reasoning:      responses.ReasoningParam{Effort: responses.ReasoningEffortLow, Summary: responses.ReasoningSummaryAuto},
				Include:        []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent},
				PromptCacheKey: openai.String("session-1"),
				Store:          openai.Bool(false),
			}
			run := rsSend(t, client, params, stream)
			got := run.resp
			if len(got.Output) != 2 || got.Output[0].Type != "reasoning" || got.Output[1].Type != "message" {
				t.Fatalf("output is not [reasoning, message]: %s", got.RawJSON())
			}
			rs := got.Output[0].AsReasoning()
			if len(rs.Summary) != 1 || rs.Summary[0].Text != thinkingText {
				t.Errorf("summary = %+v, want one summary_text %q", rs.Summary, thinkingText)
			}
			if text, ok := decodeReasoningState(rs.EncryptedContent); !ok || text != thinkingText {
				t.Errorf("encrypted_content %q does not carry the reasoning", rs.EncryptedContent)
			}
			if run.stream != nil && run.stream.Summary != thinkingText {
				t.Errorf("streamed summary = %q, want %q", run.stream.Summary, thinkingText)
			}
			if got.Usage.OutputTokensDetails.ReasoningTokens != thinkingPieces {
				t.Errorf("reasoning_tokens = %d, want %d", got.Usage.OutputTokensDetails.ReasoningTokens, thinkingPieces)
			}
			if got.Usage.OutputTokens != thinkingPieces+DefaultChunks {
				t.Errorf("output_tokens = %d, want %d", got.Usage.OutputTokens, thinkingPieces+DefaultChunks)
			}
			if c := got.Usage.InputTokensDetails.CachedTokens; c != got.Usage.InputTokens/2 {
				t.Errorf("cached_tokens = %d, want half of %d (prompt_cache_key given)", c, got.Usage.InputTokens)
			}

			// The next turn replays the item; then a foreign one.
			replay := responses.ResponseInputItemParamOfReasoning(rs.ID, []responses.ResponseReasoningItemSummaryParam{{Text: rs.Summary[0].Text}})
			replay.OfReasoning.EncryptedContent = openai.String(rs.EncryptedContent)
			next := params
			next.Input = rsItems(rsUser("think first"), replay,
				responses.ResponseInputItemParamOfOutputMessage([]responses.ResponseOutputMessageContentUnionParam{
					{OfOutputText: &responses.ResponseOutputTextParam{Text: got.OutputText()}},
				}, got.Output[1].ID, responses.ResponseOutputMessageStatusCompleted),
				rsUser("and again"))
			if again := rsSend(t, client, next, stream); again.resp.OutputText() != echoPrefix+"and again" {
				t.Errorf("next turn answered %q", again.resp.OutputText())
			}
			replay.OfReasoning.EncryptedContent = openai.String("gwth1_eyJ0eXBlIjoidGhpbmtpbmcifQ")
			_, err := client.Responses.New(context.Background(), next)
			checkRsError(t, err, 400, "invalid_request_error", "invalid_encrypted_content", "")
		})
	}

	// Without summary and include there is still a reasoning item, empty.
	resp, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "gpt-5", Input: rsInputText("x"), Reasoning: responses.ReasoningParam{Effort: responses.ReasoningEffortHigh},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rs := resp.Output[0].AsReasoning(); resp.Output[0].Type != "reasoning" || len(rs.Summary) != 0 || rs.EncryptedContent != "" {
		t.Errorf("reasoning item without summary or include: %s", resp.Output[0].RawJSON())
	}
	// Effort none: no reasoning.
	resp, err = client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "gpt-5", Input: rsInputText("x"), Reasoning: responses.ReasoningParam{Effort: responses.ReasoningEffortNone},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Output) != 1 || resp.Output[0].Type != "message" {
		t.Errorf("effort none still reasons: %s", resp.RawJSON())
	}
}

// TestResponsesScript makes the mock call a tool the way an agent's test
// wants, through the Responses API.
func TestResponsesScript(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(script, []byte(`{"rules":[{"match":"run it","tool_calls":[{"name":"exec_command","arguments":{"cmd":"echo hi"}}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ScriptFile = script
	s := startServer(t, cfg)
	client := openAIClient(t, s)
	tools := []responses.ToolUnionParam{
		responses.ToolParamOfFunction("exec_command", map[string]any{"type": "object", "properties": map[string]any{"cmd": map[string]any{"type": "string"}}}, false),
	}
	for _, stream := range []bool{false, true} {
		got := rsSend(t, client, responses.ResponseNewParams{Model: "gpt-5", Input: rsInputText("please run it"), Tools: tools}, stream).resp
		if len(got.Output) != 1 || got.Output[0].Type != "function_call" {
			t.Fatalf("stream %v: output %s", stream, got.RawJSON())
		}
		call := got.Output[0].AsFunctionCall()
		if call.Name != "exec_command" || call.Arguments != `{"cmd":"echo hi"}` {
			t.Errorf("stream %v: call %s(%s)", stream, call.Name, call.Arguments)
		}
		final := rsSend(t, client, responses.ResponseNewParams{Model: "gpt-5", Tools: tools, Input: rsItems(
			rsUser("please run it"), rsCall(call.CallID, call.Name, call.Arguments), rsOutput(call.CallID, "hi\n"),
		)}, stream).resp
		if final.OutputText() != "Tool results: hi\n" {
			t.Errorf("stream %v: final answer %q", stream, final.OutputText())
		}
	}
}

// checkRsError checks an SDK error against the OpenAI error shape.
func checkRsError(t *testing.T, err error, status int, typ, code, param string) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *openai.Error", err)
	}
	if apiErr.StatusCode != status || apiErr.Type != typ || apiErr.Code != code || (param != "" && apiErr.Param != param) {
		t.Errorf("got %d %q code %q param %q (%s), want %d %q code %q param %q",
			apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Param, apiErr.Message, status, typ, code, param)
	}
	if apiErr.Message == "" {
		t.Error("error message is empty")
	}
}

func TestResponsesValidation(t *testing.T) {
	s := startServer(t, DefaultConfig())
	client := openAIClient(t, s)
	strictSchema := map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}}
	tests := []struct {
		name   string
		params responses.ResponseNewParams
		opts   []ooption.RequestOption
		code   string
		param  string
	}{
		{name: "unknown parameter", opts: []ooption.RequestOption{ooption.WithJSONSet("max_tokens", 100)}, code: "unknown_parameter", param: "max_tokens"},
		{name: "extension object", opts: []ooption.RequestOption{ooption.WithJSONSet("x_openai", map[string]any{})}, code: "unknown_parameter", param: "x_openai"},
		{name: "missing model", opts: []ooption.RequestOption{ooption.WithJSONDel("model")}, code: "missing_required_parameter", param: "model"},
		{name: "unknown item type", opts: []ooption.RequestOption{ooption.WithJSONSet("input", []any{map[string]any{"type": "bogus"}})}, code: "invalid_value", param: "input[0].type"},
		{name: "assistant input_text", opts: []ooption.RequestOption{ooption.WithJSONSet("input", []any{
			map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "input_text", "text": "x"}}},
			map[string]any{"role": "user", "content": "y"},
		})}, code: "invalid_value", param: "input[0].content[0]"},
		{name: "function call output without call_id", opts: []ooption.RequestOption{ooption.WithJSONSet("input", []any{
			map[string]any{"role": "user", "content": "y"},
			map[string]any{"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
			map[string]any{"type": "function_call_output", "output": "r"},
		})}, code: "missing_required_parameter", param: "input[2].call_id"},
		{name: "function call without call_id", params: responses.ResponseNewParams{Input: rsItems(rsUser("y"), rsCall("", "get_weather", "{}"))}, code: "missing_required_parameter", param: "input[1].call_id"},
		{name: "output without its call", params: responses.ResponseNewParams{Input: rsItems(rsUser("y"), rsOutput("call_9", "r"))}, param: "input"},
		{name: "call without its output", params: responses.ResponseNewParams{Input: rsItems(rsUser("y"), rsCall("call_9", "get_weather", "{}"), rsUser("z"))}, param: "input"},
		{name: "reasoning without encrypted content", params: responses.ResponseNewParams{Input: rsItems(rsUser("y"),
			responses.ResponseInputItemParamOfReasoning("rs_1", []responses.ResponseReasoningItemSummaryParam{}), rsUser("z"))}, param: "input"},
		{name: "item reference", params: responses.ResponseNewParams{Input: rsItems(responses.ResponseInputItemParamOfItemReference("msg_1"))}, param: "input"},
		{name: "previous response", params: responses.ResponseNewParams{Input: rsInputText("x"), PreviousResponseID: openai.String("resp_abc")}, code: "previous_response_not_found", param: "previous_response_id"},
		{name: "tool schema not an object", params: responses.ResponseNewParams{Input: rsInputText("x"), Tools: []responses.ToolUnionParam{
			responses.ToolParamOfFunction("f", map[string]any{"type": "array"}, false)}}, code: "invalid_function_parameters", param: "tools[0].parameters"},
		{name: "strict tool schema", params: responses.ResponseNewParams{Input: rsInputText("x"), Tools: []responses.ToolUnionParam{
			responses.ToolParamOfFunction("f", strictSchema, true)}}, code: "invalid_function_parameters", param: "tools[0].parameters"},
		{name: "tool name", params: responses.ResponseNewParams{Input: rsInputText("x"), Tools: []responses.ToolUnionParam{
			responses.ToolParamOfFunction("bad name", strictSchema, false)}}, code: "invalid_value", param: "tools[0].name"},
		{name: "unknown tool type", opts: []ooption.RequestOption{ooption.WithJSONSet("tools", []any{map[string]any{"type": "teleport"}})}, code: "invalid_value", param: "tools[0].type"},
		{name: "tool choice names no tool", params: responses.ResponseNewParams{Input: rsInputText("x"), Tools: []responses.ToolUnionParam{rsWeatherTool},
			ToolChoice: responses.ResponseNewParamsToolChoiceUnion{OfFunctionTool: &responses.ToolChoiceFunctionParam{Name: "nope"}}}, param: "tool_choice"},
		{name: "max output tokens below 16", params: responses.ResponseNewParams{Input: rsInputText("x"), MaxOutputTokens: openai.Int(5)}, code: "integer_below_min_value", param: "max_output_tokens"},
		{name: "temperature", params: responses.ResponseNewParams{Input: rsInputText("x"), Temperature: openai.Float(3)}, code: "decimal_above_max_value", param: "temperature"},
		{name: "reasoning effort", params: responses.ResponseNewParams{Input: rsInputText("x"), Reasoning: responses.ReasoningParam{Effort: "extreme"}}, code: "invalid_value", param: "reasoning.effort"},
		{name: "include", params: responses.ResponseNewParams{Input: rsInputText("x"), Include: []responses.ResponseIncludable{"everything"}}, code: "invalid_value", param: "include[0]"},
		{name: "empty input", opts: []ooption.RequestOption{ooption.WithJSONSet("input", []any{})}, code: "empty_array", param: "input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := tt.params
			params.Model = "gpt-5"
			if params.Input.OfString.Value == "" && params.Input.OfInputItemList == nil {
				params.Input = rsInputText("hi")
			}
			_, err := client.Responses.New(context.Background(), params, tt.opts...)
			checkRsError(t, err, 400, "invalid_request_error", tt.code, tt.param)
		})
	}
}

// TestResponsesAcceptsCodex sends the shape of request Codex sends: every
// kind of tool it declares, ids on input items, client_metadata, and its
// replayed reasoning with content null. None of it may be refused.
func TestResponsesAcceptsCodex(t *testing.T) {
	s := startServer(t, DefaultConfig())
	state := encodeReasoningState("thinking")
	body := `{"model":"gpt-5-codex","stream":true,"instructions":"You are Codex.","tool_choice":"auto","parallel_tool_calls":true,` +
		`"reasoning":{"summary":"auto"},"store":false,"include":["reasoning.encrypted_content"],"prompt_cache_key":"k",` +
		`"client_metadata":{"session_id":"s"},"text":{"verbosity":"low"},` +
		`"tools":[{"type":"function","name":"exec_command","description":"run","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"],"additionalProperties":false}},` +
		`{"type":"namespace","name":"multi_agent_v1","description":"agents","tools":[{"type":"function","name":"close_agent","strict":false,"parameters":{"type":"object","properties":{}}}]},` +
		`{"type":"custom","name":"apply_patch","description":"patch","format":{"type":"grammar","syntax":"lark","definition":"start: x"}},` +
		`{"type":"web_search","external_web_access":true}],` +
		`"input":[{"type":"message","id":"msg_1","role":"developer","content":[{"type":"input_text","text":"rules"}]},` +
		`{"type":"message","id":"msg_2","role":"user","content":[{"type":"input_text","text":"run it"}]},` +
		`{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"thinking"}],"content":null,"encrypted_content":"` + state + `"},` +
		`{"type":"function_call","status":"completed","id":"fc_1","name":"exec_command","arguments":"{\"cmd\":\"echo hi\"}","call_id":"call_1"},` +
		`{"type":"function_call_output","id":"fco_1","call_id":"call_1","output":"Output:\nhi\n"}]}`
	resp := post(t, s, rsPath, body, map[string]string{"Authorization": "Bearer sk-test"})
	if resp.err != nil || resp.status != http.StatusOK {
		t.Fatalf("status %d, err %v: %s", resp.status, resp.err, resp.body)
	}
	if !strings.Contains(string(resp.body), `"text":"Tool results: Output:\nhi\n"`) || !strings.Contains(string(resp.body), "event: response.completed") {
		t.Errorf("the answer does not quote the tool output or does not complete:\n%s", resp.body)
	}
}

// TestResponsesStreamFailures injects the two ways a stream fails after it
// started: response.failed and an error event, each the last event.
func TestResponsesStreamFailures(t *testing.T) {
	s := startServer(t, DefaultConfig())
	client := openAIClient(t, s)
	params := responses.ResponseNewParams{Model: "gpt-5", Input: rsInputText("hi")}
	for _, mode := range []string{"failed", "error"} {
		t.Run(mode, func(t *testing.T) {
			st := client.Responses.NewStreaming(context.Background(), params, ooption.WithHeader(HeaderStreamError, mode))
			var events []responses.ResponseStreamEventUnion
			for st.Next() {
				events = append(events, st.Current())
			}
			if err := st.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			_ = st.Close()
			res, err := respstream.Check(events)
			if err != nil {
				t.Fatalf("stream breaks the Responses grammar: %v", err)
			}
			want := map[string]string{"failed": "response.failed", "error": "error"}[mode]
			if res.Terminal != want {
				t.Errorf("terminal event %q, want %q", res.Terminal, want)
			}
			if res.Text == "" {
				t.Error("the failure came before any text")
			}
			if mode == "error" && res.Error.Code != "server_error" {
				t.Errorf("error event code %q", res.Error.Code)
			}
			if mode == "failed" && res.Response.Error.Code != "server_error" {
				t.Errorf("failed response error %+v", res.Response.Error)
			}
		})
	}
	_, err := client.Responses.New(context.Background(), params, ooption.WithHeader(HeaderStreamError, "failed"))
	checkRsError(t, err, 500, "server_error", "", "")
}

func TestResponsesHTTPErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg        Config
		status     int
		typ, code  string
		retryAfter bool
	}{
		{cfg: Config{ErrorStatus: 429}, status: 429, typ: "requests", code: "rate_limit_exceeded", retryAfter: true},
		{cfg: Config{ErrorStatus: 500}, status: 500, typ: "server_error"},
		{cfg: Config{APIKey: "sk-other"}, status: 401, typ: "invalid_request_error", code: "invalid_api_key"},
	} {
		s := startServer(t, tt.cfg)
		client := openAIClient(t, s)
		_, err := client.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-5", Input: rsInputText("hi")})
		checkRsError(t, err, tt.status, tt.typ, tt.code, "")
		var apiErr *openai.Error
		if errors.As(err, &apiErr) {
			if got := apiErr.Response.Header.Get("retry-after"); (got != "") != tt.retryAfter {
				t.Errorf("status %d: retry-after %q", tt.status, got)
			}
			if apiErr.Response.Header.Get("x-request-id") == "" {
				t.Errorf("status %d: no x-request-id", tt.status)
			}
		}
	}
}

// TestResponsesCustomToolCalls: a custom (free-form) tool is called with a
// custom_tool_call carrying text input, derived or scripted, and its
// custom_tool_call_output is answered like any tool result.
func TestResponsesCustomToolCalls(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(script, []byte(`{"rules":[{"match":"patch it","tool_calls":[{"name":"apply_patch","input":"*** Begin Patch\n*** End Patch"}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ScriptFile = script
	s := startServer(t, cfg)
	client := openAIClient(t, s)
	tools := []responses.ToolUnionParam{{OfCustom: &responses.CustomToolParam{Name: "apply_patch"}}}
	for _, tt := range []struct{ prompt, input string }{
		{"do something", "value-apply_patch"},
		{"please patch it", "*** Begin Patch\n*** End Patch"},
	} {
		for _, stream := range []bool{false, true} {
			got := rsSend(t, client, responses.ResponseNewParams{Model: "gpt-5", Input: rsInputText(tt.prompt), Tools: tools}, stream).resp
			if len(got.Output) != 1 || got.Output[0].Type != "custom_tool_call" {
				t.Fatalf("%q stream %v: output %s", tt.prompt, stream, got.RawJSON())
			}
			call := got.Output[0].AsCustomToolCall()
			if call.Name != "apply_patch" || call.Input != tt.input || !strings.HasPrefix(call.CallID, "call_") {
				t.Errorf("%q stream %v: call %+v", tt.prompt, stream, call)
			}
			output := responses.ResponseInputItemParamOfCustomToolCallOutput(call.CallID, "patched")
			final := rsSend(t, client, responses.ResponseNewParams{Model: "gpt-5", Tools: tools, Input: rsItems(
				rsUser(tt.prompt), responses.ResponseInputItemParamOfCustomToolCall(call.CallID, call.Input, call.Name), output,
			)}, stream).resp
			if final.OutputText() != "Tool results: patched" {
				t.Errorf("%q stream %v: final answer %q", tt.prompt, stream, final.OutputText())
			}
		}
	}
}
