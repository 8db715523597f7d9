package converter

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Thinking budgets for OpenAI reasoning_effort. Anthropic refuses budgets
// below 1024, so "minimal" and "low" share the minimum.
var reasoningBudgets = map[string]int64{
	"minimal": 1024,
	"low":     1024,
	"medium":  2048,
	"high":    4096,
	"xhigh":   8192,
	"max":     16384,
}

// output_config.effort for OpenAI reasoning_effort, on models that take
// adaptive thinking (Anthropic's efforts are low, medium, high, xhigh and max).
var adaptiveEfforts = map[string]string{
	"minimal": "low",
	"low":     "low",
	"medium":  "medium",
	"high":    "high",
	"xhigh":   "xhigh",
	"max":     "max",
}

// Tool names must match ^[a-zA-Z0-9_-]{1,64}$ on OpenAI and Anthropic alike.
const maxToolNameLen = 64

// placeholderToolName names the tool added when a conversation carries tool
// calls but the request declares no tools: Anthropic refuses tool_use and
// tool_result blocks without a tools list, while OpenAI accepts them.
const placeholderToolName = "unavailable_tool"

// openAIToAnthropicRequest implements docs/conversion.md "OpenAI → Anthropic", which has
// the field table.
func openAIToAnthropicRequest(body []byte, opts RequestOptions) ([]byte, error) {
	var req oaRequest
	if err := decodeRequest(body, &req); err != nil {
		return nil, err
	}
	readAdmitted(body).pinOpenAI(&req)
	out := anRequest{Model: req.Model, Stream: req.Stream}
	if opts.Model != "" {
		out.Model = opts.Model
	}
	if out.Model == "" {
		return nil, InvalidParam("model", "model is required")
	}
	// An intermediate hub body carries what Anthropic cannot take in
	// x_openai, for the OpenAI format it is translated to next.
	if opts.Intermediate {
		x, err := chatXOpenAI(&req)
		if err != nil {
			return nil, err
		}
		out.XOpenAI = x
		if x != nil {
			if x.Temperature != nil {
				req.Temperature = nil
			}
			if x.ResponseFormat != "" {
				req.ResponseFormat = nil
			}
		}
	} else if err := refuseOpenAIOnlyFields(&req); err != nil {
		return nil, err
	}

	// max_completion_tokens supersedes the deprecated max_tokens.
	switch {
	case req.MaxCompletionTokens != nil:
		out.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		out.MaxTokens = *req.MaxTokens
	case !opts.Intermediate:
		out.MaxTokens = opts.defaultMaxTokens()
	}
	if out.MaxTokens < 1 && !(opts.Intermediate && req.MaxCompletionTokens == nil && req.MaxTokens == nil) {
		return nil, InvalidParam("max_tokens", "max_tokens must be at least 1")
	}

	if t := req.Temperature; t != nil {
		if *t < 0 || *t > 1 {
			return nil, InvalidParam("temperature", "temperature must be between 0 and 1 for Anthropic models, got %g", *t)
		}
		out.Temperature = t
	}
	// Recent Claude models refuse temperature and top_p together; the
	// temperature is the more common intent, so top_p gives way.
	if req.TopP != nil && req.Temperature == nil {
		out.TopP = req.TopP
	}

	stop, err := stopSequences(req.Stop)
	if err != nil {
		return nil, err
	}
	out.StopSequences = stop

	if req.User != "" {
		out.Metadata = &anMetadata{UserID: opaqueUserID(req.User)}
	}

	if req.ResponseFormat != nil {
		format, err := outputFormat(req.ResponseFormat)
		if err != nil {
			return nil, err
		}
		if format != nil {
			out.OutputConfig = &anOutputConfig{Format: format}
		}
	}

	system, msgs, err := openAIMessagesToAnthropic(req.Messages)
	if err != nil {
		return nil, err
	}
	msgs = trimFinalAssistantText(msgs)
	if len(msgs) == 0 {
		return nil, InvalidParam("messages", "messages must contain at least one non-empty user or assistant message")
	}

	tools, err := openAIToolsToAnthropic(req.Tools)
	if err != nil {
		return nil, err
	}
	if len(tools) > 0 {
		out.Tools = tools
		choice, err := openAIToolChoiceToAnthropic(req.ToolChoice)
		if err != nil {
			return nil, err
		}
		if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
			if choice == nil {
				choice = &anToolChoice{Type: "auto"}
			}
			// Anthropic refuses the flag on "none", where it means nothing.
			if choice.Type != "none" {
				choice.DisableParallelToolUse = true
			}
		}
		out.ToolChoice = choice
	} else if historyHasToolBlocks(msgs) {
		out.Tools = []anTool{{
			Name:        placeholderToolName,
			Description: "Placeholder: the tools used earlier in this conversation are not available in this request.",
			InputSchema: jsonx.RawMessage(`{"type":"object","properties":{}}`),
		}}
		out.ToolChoice = &anToolChoice{Type: "none"}
	}

	maxTokens := out.MaxTokens
	if err := applyReasoningEffort(&out, req.ReasoningEffort, msgs); err != nil {
		return nil, err
	}
	if opts.Intermediate {
		out.MaxTokens = maxTokens // OpenAI bounds cover reasoning already
		x := out.XOpenAI
		if x == nil {
			x = &rsReqXOpenAI{}
		}
		keepDroppedSampling(x, &out, req.Temperature, req.TopP)
		if !x.isZero() {
			out.XOpenAI = x
		}
	}

	if len(system) > 0 {
		if out.System, err = jsonx.Marshal(system); err != nil {
			return nil, Errorf(KindInternal, "encoding system: %v", err)
		}
	}
	out.Messages = make([]anMessage, len(msgs))
	for i, m := range msgs {
		content, err := jsonx.Marshal(m.blocks)
		if err != nil {
			return nil, Errorf(KindInternal, "encoding message %d: %v", i, err)
		}
		out.Messages[i] = anMessage{Role: m.role, Content: content}
	}
	b, err := jsonx.Marshal(&out)
	if err != nil {
		return nil, Errorf(KindInternal, "encoding Anthropic request: %v", err)
	}
	return b, nil
}

// refuseOpenAIOnlyFields rejects fields whose meaning Anthropic cannot honour;
// silently dropping them would change the answer the client gets.
func refuseOpenAIOnlyFields(req *oaRequest) error {
	if req.N != nil && *req.N > 1 {
		return InvalidParam("n", "n > 1 is not supported by Anthropic models: send one request per choice")
	}
	if !isNullRaw(req.Audio) {
		return InvalidParam("audio", "audio output is not supported by Anthropic models")
	}
	for _, m := range req.Modalities {
		if m != "text" {
			return InvalidParam("modalities", "only the text modality is supported by Anthropic models, got %q", m)
		}
	}
	if !isNullRaw(req.Functions) {
		return InvalidParam("functions", "functions is deprecated and not supported: use tools")
	}
	if !isNullRaw(req.FunctionCall) {
		return InvalidParam("function_call", "function_call is deprecated and not supported: use tool_choice")
	}
	if !isNullRaw(req.WebSearchOptions) {
		return InvalidParam("web_search_options", "web_search_options is not supported by Anthropic models")
	}
	return nil
}

func isNullRaw(r jsonx.RawMessage) bool {
	return len(r) == 0 || string(r) == "null"
}

// stopSequences reads stop (a string or an array of strings). Anthropic
// rejects whitespace-only sequences, which could never match a useful stop
// anyway, so they are dropped.
func stopSequences(raw jsonx.RawMessage) ([]string, error) {
	if isNullRaw(raw) {
		return nil, nil
	}
	var list []string
	if raw[0] == '"' {
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			return nil, InvalidParam("stop", "stop must be a string or an array of strings")
		}
		list = []string{s}
	} else if err := jsonx.Unmarshal(raw, &list); err != nil {
		return nil, InvalidParam("stop", "stop must be a string or an array of strings")
	}
	out := list[:0]
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// outputFormat maps response_format onto Anthropic's native structured
// output (output_config.format). json_object has no native equivalent and a
// prompt instruction would not guarantee JSON, so it is refused.
func outputFormat(rf *oaResponseFormat) (*anOutputFormat, error) {
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_schema":
		if rf.JSONSchema == nil || isNullRaw(rf.JSONSchema.Schema) {
			return nil, InvalidParam("response_format.json_schema.schema", "a json_schema response format needs a schema")
		}
		return &anOutputFormat{Type: "json_schema", Schema: rf.JSONSchema.Schema}, nil
	case "json_object":
		return nil, InvalidParam("response_format.type", "json_object is not supported by Anthropic models: use a json_schema response format")
	default:
		return nil, InvalidParam("response_format.type", "unknown response format %q", rf.Type)
	}
}

// applyReasoningEffort turns reasoning_effort into extended thinking and
// enforces Anthropic's constraints around it.
func applyReasoningEffort(out *anRequest, effort string, msgs []anTurn) error {
	if effort == "" || effort == "none" {
		return nil
	}
	budget, ok := reasoningBudgets[effort]
	if !ok {
		return InvalidParam("reasoning_effort", "unknown reasoning_effort %q (want none, minimal, low, medium or high)", effort)
	}
	// Anthropic refuses thinking with a forced tool; the forced call is what
	// the client asked for, so thinking gives way.
	if out.ToolChoice != nil && (out.ToolChoice.Type == "any" || out.ToolChoice.Type == "tool") {
		return nil
	}
	// When the last assistant turn called tools, Anthropic wants it to start
	// with the thinking block it produced; without it thinking must stay off.
	if lastAssistantLacksThinking(msgs) {
		return nil
	}
	if claudeThinkingStyle(out.Model) == thinkingAdaptive {
		// These models refuse a budget: the model decides how long to
		// think, guided by the effort.
		out.Thinking = &anThinking{Type: "adaptive"}
		if out.OutputConfig == nil {
			out.OutputConfig = &anOutputConfig{}
		}
		out.OutputConfig.Effort = adaptiveEfforts[effort]
		out.Temperature = nil
		out.TopP = nil
		return nil
	}
	out.Thinking = &anThinking{Type: "enabled", BudgetTokens: budget}
	// max_tokens covers thinking and answer alike and must exceed the
	// budget: add the budget on top so the answer keeps the room asked for.
	// (An intermediate hub body without max_tokens keeps none.)
	if out.MaxTokens > 0 && out.MaxTokens <= budget {
		out.MaxTokens += budget
	}
	// Thinking allows only the default sampling parameters.
	out.Temperature = nil
	out.TopP = nil
	return nil
}

func lastAssistantLacksThinking(msgs []anTurn) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].role != "assistant" {
			continue
		}
		hasToolUse := false
		for _, b := range msgs[i].blocks {
			if b.Type == "tool_use" {
				hasToolUse = true
			}
		}
		if !hasToolUse {
			return false
		}
		first := msgs[i].blocks[0].Type
		return first != "thinking" && first != "redacted_thinking"
	}
	return false
}

func historyHasToolBlocks(msgs []anTurn) bool {
	for _, m := range msgs {
		for _, b := range m.blocks {
			if b.Type == "tool_use" || b.Type == "tool_result" {
				return true
			}
		}
	}
	return false
}

func openAIToolsToAnthropic(tools []oaTool) ([]anTool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]anTool, 0, len(tools))
	for i, t := range tools {
		param := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" || t.Function == nil {
			return nil, InvalidParam(param+".type", "only function tools are supported by Anthropic models, got %q", t.Type)
		}
		if err := checkToolName(t.Function.Name, param+".function.name"); err != nil {
			return nil, err
		}
		schema, err := normaliseToolSchema(t.Function.Parameters, param+".function.parameters")
		if err != nil {
			return nil, err
		}
		out = append(out, anTool{
			Name:        t.Function.Name,
			Description: t.Function.Description,
			InputSchema: schema,
			Strict:      t.Function.Strict,
		})
	}
	return out, nil
}

// checkToolName refuses names outside ^[a-zA-Z0-9_-]{1,64}$. Renaming would
// need the answer path to map names back, and that path is stateless, so a
// clear 400 is the honest answer.
func checkToolName(name, param string) error {
	if name == "" || len(name) > maxToolNameLen {
		return InvalidParam(param, "tool names must be 1 to %d characters long", maxToolNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !isIDChar(name[i]) {
			return InvalidParam(param, "tool name %q may only contain letters, digits, '_' and '-'", name)
		}
	}
	return nil
}

func isIDChar(c byte) bool {
	return c == '_' || c == '-' || isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// anthropicToolID makes a tool call id acceptable to Anthropic
// (^[a-zA-Z0-9_-]+$). The same function is applied to tool_use ids and to the
// tool_result ids that answer them, so they keep matching. Valid ids are kept;
// others get their invalid bytes replaced and a hash of the original appended,
// so that two ids differing only in punctuation stay distinct.
func anthropicToolID(id string) string {
	valid := true
	for i := 0; i < len(id); i++ {
		if !isIDChar(id[i]) {
			valid = false
			break
		}
	}
	if valid {
		return id
	}
	b := make([]byte, 0, len(id)+9)
	for i := 0; i < len(id); i++ {
		if isIDChar(id[i]) {
			b = append(b, id[i])
		} else {
			b = append(b, '_')
		}
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	b = append(b, '_')
	b = strconv.AppendUint(b, uint64(h.Sum32()), 36)
	return string(b)
}

func openAIToolChoiceToAnthropic(raw jsonx.RawMessage) (*anToolChoice, error) {
	if isNullRaw(raw) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			return nil, InvalidParam("tool_choice", "invalid tool_choice")
		}
		switch s {
		case "auto":
			return &anToolChoice{Type: "auto"}, nil
		case "none":
			return &anToolChoice{Type: "none"}, nil
		case "required":
			return &anToolChoice{Type: "any"}, nil
		}
		return nil, InvalidParam("tool_choice", "unknown tool_choice %q", s)
	}
	var obj oaToolChoiceObject
	if err := jsonx.Unmarshal(raw, &obj); err != nil || obj.Type != "function" || obj.Function.Name == "" {
		return nil, InvalidParam("tool_choice", `tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":…}}`)
	}
	return &anToolChoice{Type: "tool", Name: obj.Function.Name}, nil
}

// anTurn is an Anthropic message being built.
type anTurn struct {
	role   string
	blocks []anBlock
	// results counts the leading tool_result blocks of a user turn, so that
	// later results are inserted before any text (Anthropic wants results
	// first, answering the previous assistant turn's tool_use blocks).
	results int
}

// turns accumulates Anthropic messages, merging adjacent same-role turns as
// Anthropic would and dropping empty ones.
type turns []anTurn

func (t *turns) add(role string, blocks ...anBlock) {
	if len(blocks) == 0 {
		return
	}
	if n := len(*t); n > 0 && (*t)[n-1].role == role {
		(*t)[n-1].blocks = append((*t)[n-1].blocks, blocks...)
		return
	}
	*t = append(*t, anTurn{role: role, blocks: blocks})
}

func (t *turns) addToolResult(b anBlock) {
	n := len(*t)
	if n == 0 || (*t)[n-1].role != "user" {
		*t = append(*t, anTurn{role: "user", blocks: []anBlock{b}, results: 1})
		return
	}
	last := &(*t)[n-1]
	last.blocks = append(last.blocks, anBlock{})
	copy(last.blocks[last.results+1:], last.blocks[last.results:])
	last.blocks[last.results] = b
	last.results++
}

// openAIMessagesToAnthropic splits the messages into the system blocks and
// the conversation turns.
func openAIMessagesToAnthropic(msgs []oaMessage) ([]anBlock, []anTurn, error) {
	var system []anBlock
	var out turns
	for i, m := range msgs {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			blocks, err := openAIContentToBlocks(m.Content, param, true)
			if err != nil {
				return nil, nil, err
			}
			system = append(system, blocks...)
		case "user":
			blocks, err := openAIContentToBlocks(m.Content, param, false)
			if err != nil {
				return nil, nil, err
			}
			out.add("user", blocks...)
		case "assistant":
			blocks, err := openAIAssistantToBlocks(m, param)
			if err != nil {
				return nil, nil, err
			}
			out.add("assistant", blocks...)
		case "tool":
			b, err := openAIToolMessageToResult(m, param)
			if err != nil {
				return nil, nil, err
			}
			out.addToolResult(b)
		case "function":
			return nil, nil, InvalidParam(param+".role", "function messages are deprecated and not supported: use tool messages")
		default:
			return nil, nil, InvalidParam(param+".role", "unknown role %q", m.Role)
		}
	}
	return system, out, nil
}

// textContentBlocks handles the message content shapes both OpenAI formats
// share before their parts differ: null, a string (blank text is skipped),
// or anything but an array, which is refused. done is false for an array,
// whose parts the caller converts.
func textContentBlocks(raw jsonx.RawMessage, param string) (blocks []anBlock, done bool, err error) {
	if isNullRaw(raw) {
		return nil, true, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			return nil, true, InvalidParam(param+".content", "invalid content")
		}
		if isBlank(s) {
			return nil, true, nil
		}
		return []anBlock{{Type: "text", Text: s}}, true, nil
	case '[':
		return nil, false, nil
	}
	return nil, true, InvalidParam(param+".content", "content must be a string or an array of parts")
}

// openAIContentToBlocks converts a string or parts content. Empty and
// whitespace-only text is skipped: Anthropic rejects text blocks without a
// visible character ("text content blocks must contain non-whitespace text").
func openAIContentToBlocks(raw jsonx.RawMessage, param string, textOnly bool) ([]anBlock, error) {
	if blocks, done, err := textContentBlocks(raw, param); done {
		return blocks, err
	}
	var parts []oaContentPart
	if err := jsonx.Unmarshal(raw, &parts); err != nil {
		return nil, InvalidParam(param+".content", "invalid content parts: %v", err)
	}
	blocks := make([]anBlock, 0, len(parts))
	for j, p := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case "text":
			if p.Text != nil && !isBlank(*p.Text) {
				blocks = append(blocks, anBlock{Type: "text", Text: *p.Text, CacheControl: p.CacheControl})
			}
			continue
		case "refusal":
			if p.Refusal != nil && !isBlank(*p.Refusal) {
				blocks = append(blocks, anBlock{Type: "text", Text: *p.Refusal})
			}
			continue
		}
		if textOnly {
			return nil, InvalidParam(pp+".type", "only text parts are allowed here, got %q", p.Type)
		}
		switch p.Type {
		case "image_url":
			if p.ImageURL == nil {
				return nil, InvalidParam(pp+".image_url", "image_url is required")
			}
			b, err := imageURLToBlock(p.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			b.CacheControl = p.CacheControl
			blocks = append(blocks, b)
		case "file":
			b, err := filePartToBlock(p.File, pp+".file")
			if err != nil {
				return nil, err
			}
			b.CacheControl = p.CacheControl
			blocks = append(blocks, b)
		case "input_audio":
			return nil, InvalidParam(pp+".input_audio", "audio input is not supported by Anthropic models")
		default:
			return nil, InvalidParam(pp+".type", "unsupported content part type %q", p.Type)
		}
	}
	return blocks, nil
}

// Image media types Anthropic accepts.
var anthropicImageTypes = map[string]bool{
	"image/jpeg": true,
	"image/png":  true,
	"image/gif":  true,
	"image/webp": true,
}

// imageURLToBlock converts an image_url (data URL or http(s) URL) into an
// image block, or a document block for PDFs.
func imageURLToBlock(u, param string) (anBlock, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		mt, data, err := parseDataURL(rest, param)
		if err != nil {
			return anBlock{}, err
		}
		switch {
		case anthropicImageTypes[mt]:
			return anBlock{Type: "image", Source: &anSource{Type: "base64", MediaType: mt, Data: data}}, nil
		case mt == "application/pdf":
			return anBlock{Type: "document", Source: &anSource{Type: "base64", MediaType: mt, Data: data}}, nil
		}
		return anBlock{}, InvalidParam(param, "unsupported image media type %q (Anthropic accepts image/jpeg, image/png, image/gif and image/webp)", mt)
	}
	lower := strings.ToLower(u)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return anBlock{}, InvalidParam(param, "image URLs must be http(s) or base64 data URLs")
	}
	path, _, _ := strings.Cut(lower, "?")
	path, _, _ = strings.Cut(path, "#")
	if strings.HasSuffix(path, ".pdf") {
		return anBlock{Type: "document", Source: &anSource{Type: "url", URL: u}}, nil
	}
	return anBlock{Type: "image", Source: &anSource{Type: "url", URL: u}}, nil
}

// parseDataURL splits "<media type>[;params];base64,<data>" (the part after
// "data:").
func parseDataURL(rest, param string) (mediaType, data string, err error) {
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", InvalidParam(param, "malformed data URL")
	}
	meta, isBase64 := strings.CutSuffix(meta, ";base64")
	if !isBase64 {
		return "", "", InvalidParam(param, "data URLs must be base64-encoded")
	}
	mt, _, _ := strings.Cut(meta, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "image/jpg" {
		mt = "image/jpeg"
	}
	return mt, data, nil
}

// filePartToBlock carries a PDF sent inline (file_data) as a document block;
// that is also the shape the reverse direction produces for documents.
// Uploaded files (file_id) live in OpenAI's storage and cannot be reached.
func filePartToBlock(f *oaFile, param string) (anBlock, error) {
	if f == nil || f.FileData == "" {
		return anBlock{}, InvalidParam(param, "only inline PDF files (file_data) are supported by Anthropic models")
	}
	rest, ok := strings.CutPrefix(f.FileData, "data:")
	if !ok {
		return anBlock{}, InvalidParam(param+".file_data", "file_data must be a base64 data URL")
	}
	mt, data, err := parseDataURL(rest, param+".file_data")
	if err != nil {
		return anBlock{}, err
	}
	if mt != "application/pdf" {
		return anBlock{}, InvalidParam(param+".file_data", "unsupported file type %q (only application/pdf)", mt)
	}
	return anBlock{Type: "document", Title: f.Filename, Source: &anSource{Type: "base64", MediaType: mt, Data: data}}, nil
}

// openAIAssistantToBlocks orders an assistant turn as Anthropic wants it:
// thinking, text, then one tool_use per tool call.
func openAIAssistantToBlocks(m oaMessage, param string) ([]anBlock, error) {
	var blocks []anBlock
	for j, tb := range m.ThinkingBlocks {
		switch tb.Type {
		case "thinking":
			if tb.Thinking == nil {
				empty := ""
				tb.Thinking = &empty
			}
			blocks = append(blocks, anBlock{Type: "thinking", Thinking: tb.Thinking, Signature: tb.Signature})
		case "redacted_thinking":
			blocks = append(blocks, anBlock{Type: "redacted_thinking", Data: tb.Data})
		default:
			return nil, InvalidParam(fmt.Sprintf("%s.thinking_blocks[%d].type", param, j), "unknown thinking block type %q", tb.Type)
		}
	}
	text, err := openAIContentToBlocks(m.Content, param, true)
	if err != nil {
		return nil, err
	}
	blocks = append(blocks, text...)
	if len(text) == 0 && m.Refusal != nil && !isBlank(*m.Refusal) {
		blocks = append(blocks, anBlock{Type: "text", Text: *m.Refusal})
	}
	for j, tc := range m.ToolCalls {
		tp := fmt.Sprintf("%s.tool_calls[%d]", param, j)
		if tc.Type != "" && tc.Type != "function" {
			return nil, InvalidParam(tp+".type", "only function tool calls are supported, got %q", tc.Type)
		}
		if tc.ID == "" {
			return nil, InvalidParam(tp+".id", "tool call id is required")
		}
		if tc.Function.Name == "" {
			return nil, InvalidParam(tp+".function.name", "tool call function name is required")
		}
		blocks = append(blocks, anBlock{
			Type:  "tool_use",
			ID:    anthropicToolID(tc.ID),
			Name:  tc.Function.Name,
			Input: toolArgumentsToInput(tc.Function.Arguments),
		})
	}
	return blocks, nil
}

// trimFinalAssistantText drops the trailing white space of a final
// assistant turn, which Anthropic takes as a prefill of its answer and
// refuses when it ends in white space; a text block left blank goes, and so
// does the turn when nothing is left of it.
func trimFinalAssistantText(msgs turns) turns {
	n := len(msgs)
	if n == 0 || msgs[n-1].role != "assistant" {
		return msgs
	}
	last := &msgs[n-1]
	for len(last.blocks) > 0 {
		b := &last.blocks[len(last.blocks)-1]
		if b.Type != "text" {
			break
		}
		b.Text = strings.TrimRight(b.Text, " \t\r\n")
		if b.Text != "" {
			break
		}
		last.blocks = last.blocks[:len(last.blocks)-1]
	}
	if len(last.blocks) == 0 {
		return msgs[:n-1]
	}
	return msgs
}

// isBlank reports text with no visible character, which Anthropic refuses
// as a text block.
func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// toolArgumentsToInput parses the arguments JSON text. Anthropic needs an
// object: empty, truncated (finish_reason "length") or non-object arguments
// become {} rather than failing the whole conversation.
func toolArgumentsToInput(args string) jsonx.RawMessage {
	trimmed := strings.TrimSpace(args)
	if trimmed == "" || trimmed[0] != '{' || !validJSON([]byte(trimmed)) {
		return jsonx.RawMessage(`{}`)
	}
	return jsonx.RawMessage(trimmed)
}

// openAIToolMessageToResult converts a tool message into a tool_result block.
func openAIToolMessageToResult(m oaMessage, param string) (anBlock, error) {
	if m.ToolCallID == "" {
		return anBlock{}, InvalidParam(param+".tool_call_id", "tool messages need a tool_call_id")
	}
	b := anBlock{Type: "tool_result", ToolUseID: anthropicToolID(m.ToolCallID)}
	if !isNullRaw(m.Content) && m.Content[0] == '"' {
		var s string
		if err := jsonx.Unmarshal(m.Content, &s); err != nil {
			return anBlock{}, InvalidParam(param+".content", "invalid content")
		}
		if s != "" {
			b.Content = jsonx.AppendString(nil, s)
		}
		return b, nil
	}
	blocks, err := openAIContentToBlocks(m.Content, param, true)
	if err != nil {
		return anBlock{}, err
	}
	if len(blocks) > 0 {
		if b.Content, err = jsonx.Marshal(blocks); err != nil {
			return anBlock{}, Errorf(KindInternal, "encoding tool result: %v", err)
		}
	}
	return b, nil
}
