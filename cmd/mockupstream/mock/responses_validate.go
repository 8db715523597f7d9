package mock

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// responsesParams are the top-level parameters the Responses API knows;
// anything else is refused as the API does ("Unknown parameter"). stream is
// set by the SDKs' streaming calls, client_metadata by Codex.
var responsesParams = map[string]bool{
	"access_programs": true, "background": true, "client_metadata": true, "context_management": true,
	"conversation": true, "image": true, "include": true, "input": true, "instructions": true,
	"max_output_tokens": true, "max_tool_calls": true, "metadata": true, "model": true,
	"moderation": true, "parallel_tool_calls": true, "previous_response_id": true, "prompt": true,
	"prompt_cache_key": true, "prompt_cache_options": true, "prompt_cache_retention": true,
	"reasoning": true, "safety_identifier": true, "service_tier": true, "store": true,
	"stream": true, "stream_options": true, "temperature": true, "text": true, "tool_choice": true,
	"tools": true, "top_logprobs": true, "top_p": true, "truncation": true, "user": true,
}

// responsesItemTypes are the input item types the API accepts.
var responsesItemTypes = []string{
	"message", "file_search_call", "computer_call", "computer_call_output", "web_search_call",
	"function_call", "function_call_output", "tool_search_call", "tool_search_output",
	"additional_tools", "configuration_update", "reasoning", "compaction", "image_generation_call",
	"code_interpreter_call", "local_shell_call", "local_shell_call_output", "shell_call",
	"shell_call_output", "apply_patch_call", "apply_patch_call_output", "mcp_list_tools",
	"mcp_approval_request", "mcp_approval_response", "mcp_call", "custom_tool_call_output",
	"custom_tool_call", "compaction_trigger", "item_reference", "program", "program_output",
}

// responsesToolTypes are the tool types the API accepts.
var responsesToolTypes = []string{
	"function", "file_search", "computer", "computer_use_preview", "web_search",
	"web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11", "mcp",
	"code_interpreter", "programmatic_tool_calling", "image_generation", "local_shell", "shell",
	"custom", "namespace", "tool_search", "apply_patch",
}

// responsesIncludes are the values include accepts.
var responsesIncludes = []string{
	"file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
	"message.input_image.image_url", "computer_call_output.output.image_url",
	"code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs",
}

// Content part types by the role of the message that holds them.
var (
	responsesInputParts  = []string{"input_text", "input_image", "input_file"}
	responsesOutputParts = []string{"output_text", "refusal"}
)

var (
	responsesEfforts   = []string{"none", "minimal", "low", "medium", "high", "xhigh", "max"}
	responsesSummaries = []string{"auto", "concise", "detailed"}
)

// supported lists values the way OpenAI's messages do: 'a', 'b', and 'c'.
func supported(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + v + "'"
	}
	if len(quoted) == 1 {
		return quoted[0]
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + ", and " + quoted[len(quoted)-1]
}

func invalidValue(value, param string, values []string) *apiError {
	return invalidParam(fmt.Sprintf("Invalid value: '%s'. Supported values are: %s.", value, supported(values)), param, "invalid_value")
}

func missingParam(param string) *apiError {
	return invalidParam(fmt.Sprintf("Missing required parameter: '%s'.", param), param, "missing_required_parameter")
}

// validateResponses checks req the way the Responses API does and returns
// the first violation, or nil. The mock stores nothing, so whatever refers
// to stored state (previous_response_id, item references, reasoning items
// without their encrypted content) is refused as not found.
func validateResponses(req *rsRequest) *apiError {
	names := make([]string, 0, len(req.raw))
	for name := range req.raw {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !responsesParams[name] {
			return invalidParam(fmt.Sprintf("Unknown parameter: '%s'.", name), name, "unknown_parameter")
		}
	}
	if req.Model == nil || *req.Model == "" {
		return missingParam("model")
	}
	if id := req.PreviousResponseID; id != nil && *id != "" {
		return &apiError{status: 400, typ: "invalid_request_error", msg: fmt.Sprintf("Previous response with id '%s' not found.", *id), param: "previous_response_id", code: "previous_response_not_found"}
	}
	if !req.Input.set {
		return missingParam("input")
	}
	if !req.Input.isString && len(req.Input.items) == 0 {
		return invalidParam("Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.", "input", "empty_array")
	}
	if t := req.Temperature; t != nil && (*t < 0 || *t > 2) {
		if *t < 0 {
			return invalidParam(fmt.Sprintf("Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got %s instead.", fmtFloat(*t)), "temperature", "decimal_below_min_value")
		}
		return invalidParam(fmt.Sprintf("Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got %s instead.", fmtFloat(*t)), "temperature", "decimal_above_max_value")
	}
	if t := req.TopP; t != nil && (*t < 0 || *t > 1) {
		return invalidParam(fmt.Sprintf("Invalid 'top_p': decimal out of range. Expected a value between 0 and 1, but got %s instead.", fmtFloat(*t)), "top_p", "invalid_value")
	}
	if m := req.MaxOutputTokens; m != nil && *m < 16 {
		return invalidParam(fmt.Sprintf("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got %d instead.", *m), "max_output_tokens", "integer_below_min_value")
	}
	if r := req.Reasoning; r != nil {
		if r.Effort != nil && !slices.Contains(responsesEfforts, *r.Effort) {
			return invalidValue(*r.Effort, "reasoning.effort", responsesEfforts)
		}
		if r.Summary != nil && !slices.Contains(responsesSummaries, *r.Summary) {
			return invalidValue(*r.Summary, "reasoning.summary", responsesSummaries)
		}
	}
	for i, v := range req.Include {
		if !slices.Contains(responsesIncludes, v) {
			return invalidValue(v, fmt.Sprintf("include[%d]", i), responsesIncludes)
		}
	}
	if e := validateResponsesText(req.Text); e != nil {
		return e
	}
	tools := make(map[string]bool)
	for i := range req.Tools {
		if e := validateResponsesTool(&req.Tools[i], fmt.Sprintf("tools[%d]", i), tools); e != nil {
			return e
		}
	}
	if e := validateResponsesToolChoice(req.ToolChoice, tools, len(req.Tools) > 0); e != nil {
		return e
	}
	if req.Input.isString {
		return nil
	}
	return validateResponsesItems(req.Input.items)
}

func validateResponsesText(t *rsText) *apiError {
	if t == nil || t.Format == nil {
		return nil
	}
	f := t.Format
	switch f.Type {
	case "text", "json_object":
	case "json_schema":
		if f.Name == "" {
			return missingParam("text.format.name")
		}
		if len(bytes.TrimSpace(f.Schema)) == 0 {
			return missingParam("text.format.schema")
		}
		if f.Strict != nil && *f.Strict {
			if msg := strictViolation(f.Schema, nil); msg != "" {
				return invalidParam(fmt.Sprintf("Invalid schema for response_format '%s': %s", f.Name, msg), "text.format.schema", "invalid_json_schema")
			}
		}
	default:
		return invalidValue(f.Type, "text.format.type", []string{"text", "json_schema", "json_object"})
	}
	if v := t.Verbosity; v != "" && v != "low" && v != "medium" && v != "high" {
		return invalidValue(v, "text.verbosity", []string{"low", "medium", "high"})
	}
	return nil
}

// validateResponsesTool checks one tool and records the names of function
// and custom tools in names.
func validateResponsesTool(t *rsTool, param string, names map[string]bool) *apiError {
	switch t.Type {
	case "":
		return missingParam(param + ".type")
	case "function":
		if !openAIToolName.MatchString(t.Name) {
			return invalidParam(fmt.Sprintf("Invalid '%s.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", param), param+".name", "invalid_value")
		}
		if params := bytes.TrimSpace(t.Parameters); len(params) > 0 && string(params) != "null" {
			if typ := schemaTypeName(params); typ != "object" {
				return invalidParam(fmt.Sprintf("Invalid schema for function '%s': schema must be a JSON Schema of 'type: \"object\"', got 'type: \"%s\"'.", t.Name, typ), param+".parameters", "invalid_function_parameters")
			}
			if t.Strict != nil && *t.Strict {
				if msg := strictViolation(params, nil); msg != "" {
					return invalidParam(fmt.Sprintf("Invalid schema for function '%s': %s", t.Name, msg), param+".parameters", "invalid_function_parameters")
				}
			}
		}
		names[t.Name] = true
	case "custom":
		if !openAIToolName.MatchString(t.Name) {
			return invalidParam(fmt.Sprintf("Invalid '%s.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", param), param+".name", "invalid_value")
		}
		names[t.Name] = true
	case "namespace":
		if t.Name == "" {
			return missingParam(param + ".name")
		}
		for i := range t.Tools {
			inner := &t.Tools[i]
			if inner.Type != "function" && inner.Type != "custom" {
				return invalidValue(inner.Type, fmt.Sprintf("%s.tools[%d].type", param, i), []string{"function", "custom"})
			}
			if e := validateResponsesTool(inner, fmt.Sprintf("%s.tools[%d]", param, i), map[string]bool{}); e != nil {
				return e
			}
		}
	default:
		if !slices.Contains(responsesToolTypes, t.Type) {
			return invalidValue(t.Type, param+".type", responsesToolTypes)
		}
	}
	return nil
}

func validateResponsesToolChoice(raw jsonx.RawMessage, names map[string]bool, haveTools bool) *apiError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var mode string
		_ = jsonx.Unmarshal(raw, &mode)
		switch mode {
		case "none", "auto":
			return nil
		case "required":
			if !haveTools {
				return invalidParam("Tool choice 'required' must be specified with 'tools' parameter.", "tool_choice", "")
			}
			return nil
		}
		return invalidValue(mode, "tool_choice", []string{"none", "auto", "required"})
	}
	var named struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if jsonx.Unmarshal(raw, &named) != nil {
		return invalidParam("Invalid type for 'tool_choice': expected one of a string or an object.", "tool_choice", "invalid_type")
	}
	switch named.Type {
	case "function", "custom":
		if named.Name == "" {
			return missingParam("tool_choice.name")
		}
		if !names[named.Name] {
			return invalidParam(fmt.Sprintf("Tool choice '%s' not found in 'tools' parameter.", named.Name), "tool_choice", "")
		}
	case "":
		return missingParam("tool_choice.type")
	}
	return nil
}

// validateResponsesItems checks the input items: their types and required
// fields, and that every function call is answered by exactly the outputs
// that follow it.
func validateResponsesItems(items []rsItem) *apiError {
	calls := make(map[string]bool)    // call ids of function and custom tool calls
	answered := make(map[string]bool) // call ids that have an output
	var order []string
	for i := range items {
		it := &items[i]
		param := fmt.Sprintf("input[%d]", i)
		kind := it.kind()
		if kind == "" {
			return missingParam(param + ".type")
		}
		if !slices.Contains(responsesItemTypes, kind) {
			return invalidValue(kind, param+".type", responsesItemTypes)
		}
		switch kind {
		case "message":
			if e := validateResponsesMessage(it, param); e != nil {
				return e
			}
		case "function_call", "custom_tool_call":
			if it.CallID == nil || *it.CallID == "" {
				return missingParam(param + ".call_id")
			}
			if it.Name == nil || *it.Name == "" {
				return missingParam(param + ".name")
			}
			if kind == "function_call" && it.Arguments == nil {
				return missingParam(param + ".arguments")
			}
			if kind == "custom_tool_call" && it.Input == nil {
				return missingParam(param + ".input")
			}
			calls[*it.CallID] = true
			order = append(order, *it.CallID)
		case "function_call_output", "custom_tool_call_output":
			if it.CallID == nil || *it.CallID == "" {
				return missingParam(param + ".call_id")
			}
			if len(bytes.TrimSpace(it.Output)) == 0 || string(bytes.TrimSpace(it.Output)) == "null" {
				return missingParam(param + ".output")
			}
			if !calls[*it.CallID] {
				return invalidParam(fmt.Sprintf("No tool call found for function call output with call_id %s.", *it.CallID), "input", "")
			}
			answered[*it.CallID] = true
		case "reasoning":
			if it.ID == nil || *it.ID == "" {
				return missingParam(param + ".id")
			}
			if len(bytes.TrimSpace(it.Summary)) == 0 {
				return missingParam(param + ".summary")
			}
			if it.EncryptedContent == nil || *it.EncryptedContent == "" {
				return invalidParam(fmt.Sprintf("Item with id '%s' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input.", *it.ID), "input", "")
			}
			if _, ok := decodeReasoningState(*it.EncryptedContent); !ok {
				return invalidParam(fmt.Sprintf("The encrypted content for item %s could not be verified.", *it.ID), "input", "invalid_encrypted_content")
			}
		case "item_reference":
			id := ""
			if it.ID != nil {
				id = *it.ID
			}
			return invalidParam(fmt.Sprintf("Item with id '%s' not found.", id), "input", "")
		}
	}
	for _, id := range order {
		if !answered[id] {
			return invalidParam(fmt.Sprintf("No tool output found for function call %s.", id), "input", "")
		}
	}
	return nil
}

func validateResponsesMessage(it *rsItem, param string) *apiError {
	var parts []string
	switch it.Role {
	case "user", "system", "developer":
		parts = responsesInputParts
	case "assistant":
		parts = responsesOutputParts
	case "":
		return missingParam(param + ".role")
	default:
		return invalidValue(it.Role, param+".role", []string{"user", "assistant", "system", "developer"})
	}
	if !it.Content.set {
		return missingParam(param + ".content")
	}
	for j, part := range it.Content.items {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		if !slices.Contains(parts, part.Type) {
			return invalidValue(part.Type, pp, parts)
		}
		switch part.Type {
		case "input_text", "output_text":
			if part.Text == nil {
				return missingParam(pp + ".text")
			}
		case "input_image":
			if (part.ImageURL == nil || *part.ImageURL == "") && (part.FileID == nil || *part.FileID == "") {
				return invalidParam("Invalid input image: one of 'image_url' or 'file_id' must be provided.", pp, "")
			}
		case "refusal":
			if part.Refusal == nil {
				return missingParam(pp + ".refusal")
			}
		}
	}
	return nil
}
