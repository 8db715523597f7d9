package mock

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// The messages below are the real providers' wording where it is known, so
// that tests matching on them keep working against the real APIs.

// anthropicIDPattern is what Anthropic accepts as a tool_use id.
var anthropicIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// anthropicToolName is what Anthropic accepts as a tool name.
var anthropicToolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

// openAIToolName is what OpenAI accepts as a function name.
var openAIToolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// anthropicMediaTypes are the image types Anthropic accepts.
var anthropicMediaTypes = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true,
}

// Content block types Anthropic accepts in each role.
var (
	anthropicUserBlocks = map[string]bool{
		"text": true, "image": true, "document": true, "tool_result": true,
		"search_result": true, "container_upload": true,
	}
	anthropicAssistantBlocks = map[string]bool{
		"text": true, "tool_use": true, "thinking": true, "redacted_thinking": true,
		"server_tool_use": true, "web_search_tool_result": true, "web_fetch_tool_result": true,
		"code_execution_tool_result": true, "bash_code_execution_tool_result": true,
		"text_editor_code_execution_tool_result": true, "mcp_tool_use": true, "mcp_tool_result": true,
		"container_upload": true,
	}
)

// validateAnthropic checks req the way the Messages API does and returns
// the first violation, or nil.
func validateAnthropic(req *anRequest) *apiError {
	if req.Model == nil || *req.Model == "" {
		return invalid("model: Field required")
	}
	if req.MaxTokens == nil {
		return invalid("max_tokens: Field required")
	}
	if *req.MaxTokens < 1 {
		return invalid("max_tokens: Input should be greater than or equal to 1")
	}
	if req.Messages == nil {
		return invalid("messages: Field required")
	}
	if len(req.Messages) == 0 {
		return invalid("messages: at least one message is required")
	}
	if t := req.Temperature; t != nil && (*t < 0 || *t > 1) {
		if *t < 0 {
			return invalid("temperature: Input should be greater than or equal to 0")
		}
		return invalid("temperature: Input should be less than or equal to 1")
	}
	for i, s := range req.StopSequences {
		if strings.TrimSpace(s) == "" {
			return invalid(fmt.Sprintf("stop_sequences.%d: each stop sequence must contain non-whitespace", i))
		}
	}
	if e := validateAnthropicSystem(&req.System); e != nil {
		return e
	}
	tools := make(map[string]bool, len(req.Tools))
	for i, t := range req.Tools {
		if t.Type != "" && t.Type != "custom" {
			tools[t.Name] = true // server tools carry their own schema
			continue
		}
		if !anthropicToolName.MatchString(t.Name) {
			return invalid(fmt.Sprintf("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i))
		}
		if len(bytes.TrimSpace(t.InputSchema)) == 0 {
			return invalid(fmt.Sprintf("tools.%d.custom.input_schema: Field required", i))
		}
		if e := schemaObjectType(t.InputSchema, fmt.Sprintf("tools.%d.custom.input_schema.type", i)); e != nil {
			return e
		}
		tools[t.Name] = true
	}
	if e := validateAnthropicToolChoice(req, tools); e != nil {
		return e
	}
	if e := validateAnthropicThinking(req); e != nil {
		return e
	}
	if oc := req.OutputConfig; oc != nil && oc.Effort != "" && !anthropicEfforts[oc.Effort] {
		return invalid("output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
	}
	return validateAnthropicMessages(req.Messages, len(req.Tools) > 0, req.midConversationSystem)
}

// midConversationSystemBeta lets system turns appear among the messages.
const midConversationSystemBeta = "mid-conversation-system-2026-04-07"

// anthropicEfforts are the values of output_config.effort.
var anthropicEfforts = map[string]bool{"low": true, "medium": true, "high": true, "xhigh": true, "max": true}

// opusVersion reads the version of a Claude Opus model name.
var opusVersion = regexp.MustCompile(`claude-opus-(\d+)(?:-(\d{1,2}))?(?:-|$)`)

// adaptiveOnly reports the models that refuse budget thinking: Claude Opus
// 4.7 and later take only thinking {type: adaptive}.
func adaptiveOnly(model string) bool {
	m := opusVersion.FindStringSubmatch(model)
	if m == nil {
		return false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major > 4 || major == 4 && minor >= 7
}

// schemaObjectType checks that a tool schema is an object schema of type
// "object", as both providers require.
func schemaObjectType(schema jsonx.RawMessage, param string) *apiError {
	var s struct {
		Type *string `json:"type"`
	}
	if jsonx.Unmarshal(schema, &s) != nil {
		return invalid(param + ": Input should be a valid dictionary")
	}
	if s.Type == nil {
		return invalid(param + ": Field required")
	}
	if *s.Type != "object" {
		return invalid(param + ": Input should be 'object'")
	}
	return nil
}

func validateAnthropicSystem(sys *anContent) *apiError {
	for i, b := range sys.items {
		if b.Type != "text" {
			return invalid(fmt.Sprintf("system.%d.type: Input should be 'text'", i))
		}
		if b.Text == "" {
			return invalid("system: text content blocks must be non-empty")
		}
		if strings.TrimSpace(b.Text) == "" {
			return invalid("system: text content blocks must contain non-whitespace text")
		}
	}
	return nil
}

func validateAnthropicToolChoice(req *anRequest, tools map[string]bool) *apiError {
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto", "any", "none":
	case "tool":
		if tc.Name == "" {
			return invalid("tool_choice.tool.name: Field required")
		}
		if !tools[tc.Name] {
			return invalid(fmt.Sprintf("tool_choice: tool %q not found in tools", tc.Name))
		}
	default:
		return invalid(fmt.Sprintf("tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", tc.Type))
	}
	if tc.Type != "none" && len(req.Tools) == 0 {
		return invalid("tool_choice: tool_choice may only be specified while providing tools")
	}
	return nil
}

func validateAnthropicThinking(req *anRequest) *apiError {
	th := req.Thinking
	if th == nil {
		return nil
	}
	switch th.Type {
	case "disabled", "adaptive":
	case "enabled":
		if req.Model != nil && adaptiveOnly(*req.Model) {
			return invalid("thinking.type.enabled is not supported for this model. Use thinking.type.adaptive and output_config.effort to control thinking behavior.")
		}
		if th.BudgetTokens == nil {
			return invalid("thinking.enabled.budget_tokens: Field required")
		}
		if *th.BudgetTokens < 1024 {
			return invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
		}
		if *req.MaxTokens <= *th.BudgetTokens {
			return invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
		}
	default:
		return invalid(fmt.Sprintf("thinking: Input tag '%s' found using 'type' does not match any of the expected tags: 'disabled', 'enabled', 'adaptive'", th.Type))
	}
	if th.Type != "disabled" && req.ToolChoice != nil && (req.ToolChoice.Type == "any" || req.ToolChoice.Type == "tool") {
		return invalid("Thinking may not be enabled when `tool_choice` forces tool use.")
	}
	return nil
}

func validateAnthropicMessages(msgs []anMessage, haveTools, systemTurns bool) *apiError {
	// pending holds the tool_use ids of the previous assistant turn, which
	// the next user turn must answer first.
	var pending []string
	for i := range msgs {
		m := &msgs[i]
		var allowed map[string]bool
		switch m.Role {
		case "user":
			allowed = anthropicUserBlocks
		case "assistant":
			allowed = anthropicAssistantBlocks
		case "system":
			if !systemTurns {
				return invalid(fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i))
			}
			if e := validateAnthropicSystem(&m.Content); e != nil {
				return e
			}
			continue
		default:
			return invalid(fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i))
		}
		final := i == len(msgs)-1
		if final && m.Role == "assistant" && finalTextEndsInSpace(&m.Content) {
			return invalid("messages: final assistant content cannot end with trailing whitespace")
		}
		if !m.Content.set || (m.Content.isString && m.Content.text == "") || (!m.Content.isString && len(m.Content.items) == 0) {
			if !(final && m.Role == "assistant") {
				return invalid(fmt.Sprintf("messages.%d: all messages must have non-empty content except for the optional final assistant message", i))
			}
		}

		answered := make(map[string]bool, len(pending))
		inResults := true // tool_result blocks are only valid at the start
		var uses []string
		for j := range m.Content.items {
			b := &m.Content.items[j]
			if !allowed[b.Type] {
				return invalid(fmt.Sprintf("messages.%d.content.%d: Input tag '%s' found using 'type' does not match any of the expected tags for role '%s'", i, j, b.Type, m.Role))
			}
			if b.Type != "tool_result" {
				inResults = false
			}
			switch b.Type {
			case "text":
				if b.Text == "" {
					return invalid("messages: text content blocks must be non-empty")
				}
				if strings.TrimSpace(b.Text) == "" {
					return invalid("messages: text content blocks must contain non-whitespace text")
				}
			case "image":
				if e := validateAnthropicImage(b.Source, i, j); e != nil {
					return e
				}
			case "tool_use":
				if !anthropicIDPattern.MatchString(b.ID) {
					return invalid(fmt.Sprintf("messages.%d.content.%d.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'", i, j))
				}
				if in := bytes.TrimSpace(b.Input); len(in) == 0 || in[0] != '{' {
					return invalid(fmt.Sprintf("messages.%d.content.%d.tool_use.input: Input should be a valid dictionary", i, j))
				}
				uses = append(uses, b.ID)
			case "tool_result":
				if !inResults || !contains(pending, b.ToolUseID) {
					return invalid(fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID))
				}
				answered[b.ToolUseID] = true
				for k := range b.Content.items {
					if c := &b.Content.items[k]; c.Type == "text" && c.Text == "" {
						return invalid("messages: text content blocks must be non-empty")
					}
				}
			}
			if (b.Type == "tool_use" || b.Type == "tool_result") && !haveTools {
				return invalid("Requests which include `tool_use` or `tool_result` blocks must define tools.")
			}
		}
		if len(pending) > 0 {
			var missing []string
			for _, id := range pending {
				if !answered[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return invalid(fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i-1, strings.Join(missing, ", ")))
			}
		}
		pending = uses
	}
	return nil
}

// finalTextEndsInSpace reports a prefill whose text ends in white space.
func finalTextEndsInSpace(c *anContent) bool {
	text := c.text
	if !c.isString {
		if len(c.items) == 0 || c.items[len(c.items)-1].Type != "text" {
			return false
		}
		text = c.items[len(c.items)-1].Text
	}
	return text != "" && strings.TrimRight(text, " \t\r\n") != text
}

func validateAnthropicImage(src *anSource, i, j int) *apiError {
	if src == nil {
		return invalid(fmt.Sprintf("messages.%d.content.%d.image.source: Field required", i, j))
	}
	switch src.Type {
	case "base64":
		if !anthropicMediaTypes[src.MediaType] {
			return invalid(fmt.Sprintf("messages.%d.content.%d.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'", i, j))
		}
		if src.Data == "" {
			return invalid(fmt.Sprintf("messages.%d.content.%d.image.source.base64.data: Field required", i, j))
		}
	case "url":
		if src.URL == "" {
			return invalid(fmt.Sprintf("messages.%d.content.%d.image.source.url.url: Field required", i, j))
		}
	case "file":
	default:
		return invalid(fmt.Sprintf("messages.%d.content.%d.image.source: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'", i, j, src.Type))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// openAIRoles are the message roles Chat Completions accepts.
var openAIRoles = map[string]bool{
	"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true,
}

// validateOpenAI checks req the way Chat Completions does and returns the
// first violation, or nil.
func validateOpenAI(req *oaRequest) *apiError {
	if req.Model == nil || *req.Model == "" {
		return invalid("you must provide a model parameter")
	}
	if req.Messages == nil {
		return invalidParam("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
	}
	if len(req.Messages) == 0 {
		return invalidParam("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array")
	}
	if t := req.Temperature; t != nil {
		if *t < 0 {
			return invalidParam(fmt.Sprintf("Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got %s instead.", fmtFloat(*t)), "temperature", "decimal_below_min_value")
		}
		if *t > 2 {
			return invalidParam(fmt.Sprintf("Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got %s instead.", fmtFloat(*t)), "temperature", "decimal_above_max_value")
		}
	}
	if stop := bytes.TrimSpace(req.Stop); len(stop) > 0 && stop[0] == '[' {
		var list []string
		if jsonx.Unmarshal(stop, &list) != nil {
			return invalidParam("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type")
		}
		if len(list) > 4 {
			return invalidParam(fmt.Sprintf("Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length %d instead.", len(list)), "stop", "array_above_max_length")
		}
	}
	for i, t := range req.Tools {
		if t.Type != "function" {
			return invalidParam(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'function' and 'custom'.", t.Type), fmt.Sprintf("tools[%d].type", i), "invalid_value")
		}
		if !openAIToolName.MatchString(t.Function.Name) {
			return invalidParam(fmt.Sprintf("Invalid 'tools[%d].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", i), fmt.Sprintf("tools[%d].function.name", i), "invalid_value")
		}
		if params := bytes.TrimSpace(t.Function.Parameters); len(params) > 0 && string(params) != "null" {
			if typ := schemaTypeName(params); typ != "object" {
				return invalidParam(fmt.Sprintf("Invalid schema for function '%s': schema must be a JSON Schema of 'type: \"object\"', got 'type: \"%s\"'.", t.Function.Name, typ), fmt.Sprintf("tools[%d].function.parameters", i), "invalid_function_parameters")
			}
			if t.Function.Strict != nil && *t.Function.Strict {
				if msg := strictViolation(params, nil); msg != "" {
					return invalidParam(fmt.Sprintf("Invalid schema for function '%s': %s", t.Function.Name, msg), fmt.Sprintf("tools[%d].function.parameters", i), "invalid_function_parameters")
				}
			}
		}
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if f.v != nil && *f.v < 1 {
			return invalidParam(fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", f.name, *f.v), f.name, "integer_below_min_value")
		}
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == "json_schema" {
		if rf.JSONSchema == nil || len(bytes.TrimSpace(rf.JSONSchema.Schema)) == 0 {
			return invalidParam("Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema", "missing_required_parameter")
		}
		if rf.JSONSchema.Strict != nil && *rf.JSONSchema.Strict {
			if msg := strictViolation(rf.JSONSchema.Schema, nil); msg != "" {
				return invalidParam(fmt.Sprintf("Invalid schema for response_format '%s': %s", rf.JSONSchema.Name, msg), "response_format", "invalid_json_schema")
			}
		}
	}
	if tc := bytes.TrimSpace(req.ToolChoice); len(tc) > 0 && string(tc) != "null" && len(req.Tools) == 0 {
		return invalidParam("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice", "")
	}
	return validateOpenAIMessages(req.Messages)
}

func validateOpenAIMessages(msgs []oaMessage) *apiError {
	// open holds the tool_call ids of the last assistant message not yet
	// answered by tool messages.
	var open []string
	openAt := -1
	for i := range msgs {
		m := &msgs[i]
		if !openAIRoles[m.Role] {
			return invalidParam(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role), fmt.Sprintf("messages[%d].role", i), "invalid_value")
		}
		if m.Role != "tool" && len(open) > 0 {
			return invalidParam(fmt.Sprintf("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: %s", strings.Join(open, ", ")), fmt.Sprintf("messages.[%d].role", openAt), "")
		}
		switch m.Role {
		case "user", "system", "developer":
			if !m.Content.set {
				return invalidParam(fmt.Sprintf("Missing required parameter: 'messages[%d].content'.", i), fmt.Sprintf("messages[%d].content", i), "missing_required_parameter")
			}
		case "assistant":
			if !m.Content.set && len(m.ToolCalls) == 0 {
				return invalidParam(fmt.Sprintf("Missing required parameter: 'messages[%d].content'.", i), fmt.Sprintf("messages[%d].content", i), "missing_required_parameter")
			}
			open, openAt = nil, i
			for _, tc := range m.ToolCalls {
				open = append(open, tc.ID)
			}
		case "tool":
			if m.ToolCallID == "" {
				return invalidParam("Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.", fmt.Sprintf("messages[%d].tool_call_id", i), "")
			}
			k := indexOf(open, m.ToolCallID)
			if k < 0 {
				return invalidParam("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", fmt.Sprintf("messages.[%d].role", i), "")
			}
			open = append(open[:k], open[k+1:]...)
		}
		for j, part := range m.Content.items {
			switch part.Type {
			case "text":
			case "image_url":
				if part.ImageURL == nil || part.ImageURL.URL == "" {
					return invalidParam(fmt.Sprintf("Missing required parameter: 'messages[%d].content[%d].image_url'.", i, j), fmt.Sprintf("messages[%d].content[%d].image_url", i, j), "missing_required_parameter")
				}
			case "input_audio", "file", "refusal":
			default:
				return invalidParam(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal', and 'file'.", part.Type), fmt.Sprintf("messages[%d].content[%d].type", i, j), "invalid_value")
			}
		}
	}
	if len(open) > 0 {
		return invalidParam(fmt.Sprintf("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: %s", strings.Join(open, ", ")), fmt.Sprintf("messages.[%d].role", openAt), "")
	}
	return nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// fmtFloat formats a number the way OpenAI's messages quote it.
func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// schemaTypeName is a schema's top-level "type", "None" when it has none
// (OpenAI's wording).
func schemaTypeName(schema jsonx.RawMessage) string {
	var s struct {
		Type jsonx.RawMessage `json:"type"`
	}
	if jsonx.Unmarshal(schema, &s) != nil || len(s.Type) == 0 {
		return "None"
	}
	var name string
	if jsonx.Unmarshal(s.Type, &name) != nil {
		return string(s.Type)
	}
	return name
}

// strictViolation checks a schema against OpenAI's rules for strict
// schemas and returns the first violation in OpenAI's wording, or "". path
// is the context OpenAI names in its message.
func strictViolation(schema jsonx.RawMessage, path []string) string {
	var node map[string]jsonx.RawMessage
	if jsonx.Unmarshal(schema, &node) != nil {
		return ""
	}
	context := "(" + strings.Join(path, ", ") + ")"
	for _, kw := range []string{"allOf", "oneOf", "not", "propertyNames", "patternProperties", "if"} {
		if _, ok := node[kw]; ok {
			return fmt.Sprintf("In context=%s, '%s' is not permitted.", context, kw)
		}
	}
	if len(path) == 0 && schemaTypeName(schema) != "object" {
		return fmt.Sprintf("schema must be a JSON Schema of 'type: \"object\"', got 'type: \"%s\"'.", schemaTypeName(schema))
	}
	if props, ok := node["properties"]; ok || schemaTypeName(schema) == "object" {
		var properties map[string]jsonx.RawMessage
		_ = jsonx.Unmarshal(props, &properties)
		var required []string
		_ = jsonx.Unmarshal(node["required"], &required)
		names := make([]string, 0, len(properties))
		for name := range properties {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if !contains(required, name) {
				return fmt.Sprintf("In context=%s, 'required' is required to be supplied and to be an array including every key in properties. Missing '%s'.", context, name)
			}
		}
		if string(bytes.TrimSpace(node["additionalProperties"])) != "false" {
			return fmt.Sprintf("In context=%s, 'additionalProperties' is required to be supplied and to be false.", context)
		}
		for _, name := range names {
			if msg := strictViolation(properties[name], append(path, "'properties'", "'"+name+"'")); msg != "" {
				return msg
			}
		}
	}
	if items, ok := node["items"]; ok {
		if msg := strictViolation(items, append(path, "'items'")); msg != "" {
			return msg
		}
	}
	for _, kw := range []string{"$defs", "definitions"} {
		var defs map[string]jsonx.RawMessage
		if jsonx.Unmarshal(node[kw], &defs) == nil {
			for name, d := range defs {
				if msg := strictViolation(d, append(path, "'"+kw+"'", "'"+name+"'")); msg != "" {
					return msg
				}
			}
		}
	}
	var anyOf []jsonx.RawMessage
	if jsonx.Unmarshal(node["anyOf"], &anyOf) == nil {
		for i, sub := range anyOf {
			if msg := strictViolation(sub, append(path, "'anyOf'", strconv.Itoa(i))); msg != "" {
				return msg
			}
		}
	}
	return ""
}
