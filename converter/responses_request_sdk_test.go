package converter

import (
	encjson "encoding/json"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
)

// TestResponsesRequestFromOpenAISDK translates a request as the official
// openai-go SDK writes it (its param types' JSON, not a hand-written
// body): every item and tool shape the SDK produces must be understood.
func TestResponsesRequestFromOpenAISDK(t *testing.T) {
	state := encodeThinkingState(thinkingState{Type: "thinking", Thinking: "Check the weather first.", Signature: "sig-1"})
	reasoning := responses.ResponseInputItemParamOfReasoning("rs_1", []responses.ResponseReasoningItemSummaryParam{{Text: "Weather"}})
	reasoning.OfReasoning.EncryptedContent = openai.String(state)
	custom := responses.ToolParamOfCustom("apply_patch")
	custom.OfCustom.Description = openai.String("Edit files.")
	params := responses.ResponseNewParams{
		Model:        "claude-sonnet-4-5",
		Instructions: openai.String("You are a weather bot."),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("What's the weather in Paris?", responses.EasyInputMessageRoleUser),
			reasoning,
			responses.ResponseInputItemParamOfFunctionCall(`{"location":"Paris"}`, "call_1", "get_weather"),
			responses.ResponseInputItemParamOfFunctionCallOutput("15°C and sunny"),
			responses.ResponseInputItemParamOfCustomToolCall("call_2", "*** Begin Patch\n*** End Patch\n", "apply_patch"),
			responses.ResponseInputItemParamOfCustomToolCallOutput("call_2", "Done."),
			responses.ResponseInputItemParamOfMessage("Thanks!", responses.EasyInputMessageRoleUser),
		}},
		Tools: []responses.ToolUnionParam{
			responses.ToolParamOfFunction("get_weather", map[string]any{
				"type":                 "object",
				"properties":           map[string]any{"location": map[string]any{"type": "string"}},
				"required":             []string{"location"},
				"additionalProperties": false,
			}, true),
			custom,
			responses.ToolParamOfWebSearch(responses.WebSearchToolTypeWebSearch),
		},
		ToolChoice:        responses.ResponseNewParamsToolChoiceUnion{OfToolChoiceMode: openai.Opt(responses.ToolChoiceOptionsAuto)},
		ParallelToolCalls: openai.Bool(false),
		MaxOutputTokens:   openai.Int(2000),
		Reasoning:         shared.ReasoningParam{Effort: shared.ReasoningEffortMedium, Summary: shared.ReasoningSummaryAuto},
		Store:             openai.Bool(false),
		Include:           []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent},
	}
	// The SDK's output needs a call_id on the function output; it leaves
	// it to the caller.
	params.Input.OfInputItemList[3].OfFunctionCallOutput.CallID = openai.String("call_1")
	body, err := encjson.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	info, err := inspectResponsesRequest(body)
	if err != nil || info.Model != "claude-sonnet-4-5" || info.MaxTokens != 2000 {
		t.Fatalf("inspect: %+v, %v", info, err)
	}
	out, err := responsesToAnthropicRequest(body, RequestOptions{})
	if err != nil {
		t.Fatalf("translate: %v\n%s", err, body)
	}
	checkAnthropicInvariants(t, out)
	var got anRequest
	if err := encjson.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	var blocks [][]anBlock
	for _, m := range got.Messages {
		var b []anBlock
		_ = encjson.Unmarshal(m.Content, &b)
		blocks = append(blocks, b)
	}
	want := []string{"user:text", "assistant:thinking,tool_use", "user:tool_result", "assistant:tool_use", "user:tool_result,text"}
	if len(blocks) != len(want) {
		t.Fatalf("got %d messages, want %d:\n%s", len(blocks), len(want), out)
	}
	for i, m := range got.Messages {
		s := m.Role + ":"
		for j, b := range blocks[i] {
			if j > 0 {
				s += ","
			}
			s += b.Type
		}
		if s != want[i] {
			t.Errorf("messages[%d] = %s, want %s", i, s, want[i])
		}
	}
	if th := blocks[1][0]; th.Signature != "sig-1" || th.Thinking == nil || *th.Thinking != "Check the weather first." {
		t.Errorf("thinking block not restored from encrypted_content: %+v", th)
	}
	if in := string(blocks[3][0].Input); in != `{"input":"*** Begin Patch\n*** End Patch\n"}` {
		t.Errorf("custom tool input = %s", in)
	}
	names := []string{}
	for _, tool := range got.Tools {
		names = append(names, tool.Type+"/"+tool.Name)
	}
	if len(names) != 3 || names[0] != "/get_weather" || names[1] != "/apply_patch" || names[2] != anthropicWebSearchType+"/web_search" {
		t.Errorf("tools = %v", names)
	}
	if got.Tools[0].Strict == nil || !*got.Tools[0].Strict {
		t.Error("a strict tool whose schema meets the rules lost strict")
	}
	if got.ToolChoice == nil || got.ToolChoice.Type != "auto" || !got.ToolChoice.DisableParallelToolUse {
		t.Errorf("tool_choice = %+v", got.ToolChoice)
	}
	// The last tool-calling turn (apply_patch) carries no reasoning, and
	// Anthropic wants that turn to start with its thinking: thinking is off
	// for this request (docs/conversion.md, thinking rules).
	if got.Thinking != nil || got.MaxTokens != 2000 {
		t.Errorf("thinking %+v with max_tokens %d", got.Thinking, got.MaxTokens)
	}
}

// TestResponsesRequestFromAnthropicSDK translates a request as the
// official anthropic-sdk-go writes it and reads the result back with the
// openai-go SDK's request type.
func TestResponsesRequestFromAnthropicSDK(t *testing.T) {
	params := anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "You are terse."}},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("Weather in Paris?")),
			anthropic.NewAssistantMessage(
				anthropic.NewThinkingBlock("sig-2", "Use the tool."),
				anthropic.NewToolUseBlock("toolu_1", map[string]any{"location": "Paris"}, "get_weather"),
			),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_1", "15°C", false)),
		},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name:        "get_weather",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"location": map[string]any{"type": "string"}}},
		}}},
		Thinking: anthropic.ThinkingConfigParamOfEnabled(1024),
	}
	body, err := encjson.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	out, err := anthropicToResponsesRequest(body, RequestOptions{Model: "gpt-5"})
	if err != nil {
		t.Fatalf("translate: %v\n%s", err, body)
	}
	checkResponsesInvariants(t, out)
	var got responses.ResponseNewParams
	if err := got.UnmarshalJSON(out); err != nil {
		t.Fatalf("the openai-go SDK does not read the request: %v\n%s", err, out)
	}
	items := got.Input.OfInputItemList
	if len(items) != 4 {
		t.Fatalf("got %d input items, want 4 (message, reasoning, function_call, function_call_output):\n%s", len(items), out)
	}
	if r := items[1].OfReasoning; r == nil || !r.EncryptedContent.Valid() {
		t.Fatalf("input[1] is not a reasoning item with encrypted content:\n%s", out)
	} else if st, ok := decodeThinkingState(r.EncryptedContent.Value); !ok || st.Signature != "sig-2" || st.Thinking != "Use the tool." {
		t.Errorf("reasoning state = %+v, %v", st, ok)
	}
	if fc := items[2].OfFunctionCall; fc == nil || fc.CallID != "toolu_1" || fc.Name != "get_weather" || fc.Arguments != `{"location":"Paris"}` {
		t.Errorf("input[2] = %+v", items[2].OfFunctionCall)
	}
	if o := items[3].OfFunctionCallOutput; o == nil || !o.CallID.Valid() || o.CallID.Value != "toolu_1" {
		t.Errorf("input[3] = %+v", items[3].OfFunctionCallOutput)
	}
	if got.Model != "gpt-5" || got.Instructions.Value != "You are terse." || got.MaxOutputTokens.Value != 1024 {
		t.Errorf("model %q, instructions %q, max_output_tokens %d", got.Model, got.Instructions.Value, got.MaxOutputTokens.Value)
	}
	if got.Reasoning.Effort != shared.ReasoningEffortLow || got.Store.Value || len(got.Include) != 1 {
		t.Errorf("reasoning %+v, store %v, include %v", got.Reasoning, got.Store, got.Include)
	}
	if len(got.Tools) != 1 || got.Tools[0].OfFunction == nil || got.Tools[0].OfFunction.Name != "get_weather" {
		t.Errorf("tools = %s", out)
	}
}
