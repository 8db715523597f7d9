package converter

import (
	"fmt"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// OpenAI accepts at most four stop sequences.
const maxOpenAIStop = 4

// anthropicToOpenAIRequest implements docs/conversion.md "Anthropic → OpenAI", which has
// the field table.
func anthropicToOpenAIRequest(body []byte, opts RequestOptions) ([]byte, error) {
	var req anRequest
	if err := decodeRequest(body, &req); err != nil {
		return nil, err
	}
	readAdmitted(body).pinAnthropic(&req)
	out := oaRequest{
		Model:       req.Model,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Stream:      req.Stream,
	}
	if opts.Model != "" {
		out.Model = opts.Model
	}
	if out.Model == "" {
		return nil, InvalidParam("model", "model is required")
	}
	if req.Stream && opts.IncludeUsage {
		out.StreamOptions = &oaStreamOptions{IncludeUsage: true}
	}
	if len(req.StopSequences) > maxOpenAIStop {
		return nil, InvalidParam("stop_sequences", "at most %d stop sequences are supported by OpenAI models, got %d", maxOpenAIStop, len(req.StopSequences))
	}
	if len(req.StopSequences) > 0 {
		stop, err := jsonx.Marshal(req.StopSequences)
		if err != nil {
			return nil, Errorf(KindInternal, "encoding stop: %v", err)
		}
		out.Stop = stop
	}
	if req.Metadata != nil {
		out.User = opaqueUserID(req.Metadata.UserID)
	}

	effort, err := anthropicReasoningEffort(req.Thinking, req.OutputConfig)
	if err != nil {
		return nil, err
	}
	out.ReasoningEffort = effort
	// Most OpenAI-compatible servers (vLLM, Ollama, llama.cpp) know
	// max_tokens, while OpenAI's reasoning models accept only
	// max_completion_tokens: a request that asks for reasoning goes to a
	// reasoning model, so it gets the new name and every other request the
	// widely understood one.
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		if effort != "" {
			out.MaxCompletionTokens = &n
		} else {
			out.MaxTokens = &n
		}
	}

	if req.OutputConfig != nil && req.OutputConfig.Format != nil {
		f := req.OutputConfig.Format
		if f.Type != "json_schema" || isNullRaw(f.Schema) {
			return nil, InvalidParam("output_config.format", "only json_schema output formats with a schema are supported")
		}
		// Anthropic enforces any schema; OpenAI refuses strict schemas
		// outside its rules, so strict is set only when the schema meets
		// them.
		var strict *bool
		if meetsOpenAIStrict(f.Schema) {
			strict = new(bool)
			*strict = true
		}
		out.ResponseFormat = &oaResponseFormat{Type: "json_schema", JSONSchema: &oaJSONSchema{Name: "response", Schema: f.Schema, Strict: strict}}
	}

	tools, err := anthropicToolsToOpenAI(req.Tools)
	if err != nil {
		return nil, err
	}
	if len(tools) > 0 {
		out.Tools = tools
		if tc := req.ToolChoice; tc != nil {
			switch tc.Type {
			case "auto":
				out.ToolChoice = jsonx.RawMessage(`"auto"`)
			case "any":
				out.ToolChoice = jsonx.RawMessage(`"required"`)
			case "none":
				out.ToolChoice = jsonx.RawMessage(`"none"`)
			case "tool":
				if tc.Name == "" {
					return nil, InvalidParam("tool_choice.name", "tool_choice of type tool needs a name")
				}
				choice, err := jsonx.Marshal(oaToolChoiceObject{Type: "function", Function: struct {
					Name string `json:"name"`
				}{tc.Name}})
				if err != nil {
					return nil, Errorf(KindInternal, "encoding tool_choice: %v", err)
				}
				out.ToolChoice = choice
			default:
				return nil, InvalidParam("tool_choice.type", "unknown tool_choice type %q", tc.Type)
			}
			if tc.DisableParallelToolUse && tc.Type != "none" {
				f := false
				out.ParallelToolCalls = &f
			}
		}
	}

	applyXOpenAIToChat(&out, req.XOpenAI)

	msgs, err := anthropicMessagesToOpenAI(req.System, req.Messages)
	if err != nil {
		return nil, err
	}
	out.Messages = msgs
	b, err := jsonx.Marshal(&out)
	if err != nil {
		return nil, Errorf(KindInternal, "encoding OpenAI request: %v", err)
	}
	return b, nil
}

// anthropicReasoningEffort buckets a thinking budget into reasoning_effort;
// output_config.effort, when given, is used directly (max becomes high).
func anthropicReasoningEffort(t *anThinking, oc *anOutputConfig) (string, error) {
	if oc != nil && oc.Effort != "" {
		switch oc.Effort {
		case "low", "medium", "high":
			return oc.Effort, nil
		case "xhigh", "max":
			return "high", nil
		}
		return "", InvalidParam("output_config.effort", "unknown effort %q", oc.Effort)
	}
	if t == nil {
		return "", nil
	}
	switch t.Type {
	case "disabled", "":
		return "", nil
	case "adaptive":
		return "medium", nil
	case "enabled":
		switch {
		case t.BudgetTokens <= 1024:
			return "low", nil
		case t.BudgetTokens <= 2048:
			return "medium", nil
		}
		return "high", nil
	}
	return "", InvalidParam("thinking.type", "unknown thinking type %q", t.Type)
}

// anthropicToolsToOpenAI converts client tools. Server tools (web search,
// code execution, bash, text editor, computer use) run on Anthropic's side and
// have no OpenAI equivalent; they are left out so that the rest of the request
// still works.
func anthropicToolsToOpenAI(tools []anTool) ([]oaTool, error) {
	out := make([]oaTool, 0, len(tools))
	for i, t := range tools {
		if t.Type != "" && t.Type != "custom" {
			continue
		}
		if err := checkToolName(t.Name, fmt.Sprintf("tools[%d].name", i)); err != nil {
			return nil, err
		}
		params, err := normaliseToolSchema(t.InputSchema, fmt.Sprintf("tools[%d].input_schema", i))
		if err != nil {
			return nil, err
		}
		// As for output_config.format: Anthropic enforces any schema, but
		// OpenAI refuses a strict tool whose schema breaks its strict rules,
		// so such a tool goes without strict rather than failing the request.
		strict := t.Strict
		if strict != nil && *strict && !meetsOpenAIStrict(params) {
			strict = nil
		}
		out = append(out, oaTool{Type: "function", Function: &oaFunction{
			Name:        t.Name,
			Description: t.Description,
			Parameters:  params,
			Strict:      strict,
		}})
	}
	return out, nil
}

// anthropicMessagesToOpenAI flattens system and turns into OpenAI messages.
func anthropicMessagesToOpenAI(system jsonx.RawMessage, msgs []anMessage) ([]oaMessage, error) {
	out := make([]oaMessage, 0, len(msgs)+1)
	if !isNullRaw(system) {
		text, err := anthropicSystemText(system, "system")
		if err != nil {
			return nil, err
		}
		if text != "" {
			out = append(out, oaMessage{Role: "system", Content: jsonx.AppendString(nil, text)})
		}
	}
	for i, m := range msgs {
		param := fmt.Sprintf("messages[%d]", i)
		blocks, err := anthropicContentBlocks(m.Content, param+".content")
		if err != nil {
			return nil, err
		}
		switch m.Role {
		case "user":
			out, err = appendAnthropicUserTurn(out, blocks, param)
		case "assistant":
			out, err = appendAnthropicAssistantTurn(out, blocks, param)
		case "system":
			// A system turn in the conversation (Claude Code sends one
			// under the mid-conversation-system beta) stays where it is:
			// Chat Completions takes system messages anywhere.
			var text string
			text, err = anthropicSystemText(m.Content, param+".content")
			if err == nil && text != "" {
				out = append(out, oaMessage{Role: "system", Content: jsonx.AppendString(nil, text)})
			}
		default:
			err = InvalidParam(param+".role", "unknown role %q", m.Role)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// anthropicSystemText joins the system prompt into one string: OpenAI-
// compatible servers accept a string everywhere, text parts not always.
// cache_control has no OpenAI equivalent and is dropped.
func anthropicSystemText(raw jsonx.RawMessage, param string) (string, error) {
	blocks, err := anthropicContentBlocks(raw, param)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for j, b := range blocks {
		if b.Type != "text" {
			return "", InvalidParam(fmt.Sprintf("%s[%d].type", param, j), "only text blocks are allowed in system, got %q", b.Type)
		}
		if b.Text == "" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteString("\n")
		}
		sb.WriteString(b.Text)
	}
	return sb.String(), nil
}

// anthropicContentBlocks decodes a string or block-array content.
func anthropicContentBlocks(raw jsonx.RawMessage, param string) ([]anBlock, error) {
	if isNullRaw(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			return nil, InvalidParam(param, "invalid content")
		}
		return []anBlock{{Type: "text", Text: s}}, nil
	case '[':
		var blocks []anBlock
		if err := jsonx.Unmarshal(raw, &blocks); err != nil {
			return nil, contentBlocksError(raw, param, err)
		}
		return blocks, nil
	}
	return nil, InvalidParam(param, "content must be a string or an array of blocks")
}

// appendAnthropicUserTurn emits the tool results of a user turn first, as
// one tool message each (they answer the previous assistant turn), then one
// user message with the images relocated from tool results followed by the
// user's own text, images and documents.
func appendAnthropicUserTurn(out []oaMessage, blocks []anBlock, param string) ([]oaMessage, error) {
	var relocated, parts []jsonx.RawMessage
	for j, b := range blocks {
		bp := fmt.Sprintf("%s.content[%d]", param, j)
		switch b.Type {
		case "tool_result":
			msg, images, err := toolResultToOpenAI(b, bp)
			if err != nil {
				return nil, err
			}
			out = append(out, msg)
			relocated = append(relocated, images...)
		case "text":
			if b.Text != "" {
				parts = append(parts, textPart(b.Text))
			}
		case "image", "document":
			p, err := mediaBlockToPart(b, bp)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		case "thinking", "redacted_thinking":
			// Thinking belongs to assistant turns; a stray one carries
			// nothing the upstream can use.
		default:
			return nil, InvalidParam(bp+".type", "content block type %q is not supported for OpenAI models", b.Type)
		}
	}
	parts = append(relocated, parts...)
	if len(parts) == 0 {
		return out, nil
	}
	return append(out, oaMessage{Role: "user", Content: partsContent(parts)}), nil
}

// partsContent writes a single text part as a plain string, which every
// OpenAI-compatible server understands, and anything else as a parts array.
func partsContent(parts []jsonx.RawMessage) jsonx.RawMessage {
	if len(parts) == 1 {
		var p oaContentPart
		if jsonx.Unmarshal(parts[0], &p) == nil && p.Type == "text" && p.Text != nil {
			return jsonx.AppendString(nil, *p.Text)
		}
	}
	b := []byte{'['}
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p...)
	}
	return append(b, ']')
}

func textPart(s string) jsonx.RawMessage {
	b := append([]byte(nil), `{"type":"text","text":`...)
	b = jsonx.AppendString(b, s)
	return append(b, '}')
}

// mediaBlockToPart converts an image or document block into a content part:
// images become image_url parts (base64 as a data URL), PDFs become file
// parts with file_data, plain-text documents become text parts.
func mediaBlockToPart(b anBlock, param string) (jsonx.RawMessage, error) {
	s := b.Source
	if s == nil {
		return nil, InvalidParam(param+".source", "%s blocks need a source", b.Type)
	}
	if b.Type == "document" {
		switch {
		case s.Type == "base64" && s.MediaType == "application/pdf":
			part := oaContentPart{Type: "file", File: &oaFile{
				Filename: b.Title,
				FileData: "data:application/pdf;base64," + s.Data,
			}}
			if part.File.Filename == "" {
				part.File.Filename = "document.pdf"
			}
			return jsonx.Marshal(part)
		case s.Type == "text":
			return textPart(s.Data), nil
		}
		return nil, InvalidParam(param+".source", "only base64 PDF and text documents can be sent to OpenAI models")
	}
	var u string
	switch s.Type {
	case "base64":
		u = "data:" + s.MediaType + ";base64," + s.Data
	case "url":
		u = s.URL
	default:
		return nil, InvalidParam(param+".source.type", "image source type %q is not supported for OpenAI models", s.Type)
	}
	return jsonx.Marshal(oaContentPart{Type: "image_url", ImageURL: &oaImageURL{URL: u}})
}

// toolResultToOpenAI converts one tool_result into one tool message. Text is
// flattened into a string (OpenAI tool messages take text only); images are
// returned to be relocated into the following user message.
func toolResultToOpenAI(b anBlock, param string) (oaMessage, []jsonx.RawMessage, error) {
	if b.ToolUseID == "" {
		return oaMessage{}, nil, InvalidParam(param+".tool_use_id", "tool_result blocks need a tool_use_id")
	}
	inner, err := anthropicContentBlocks(b.Content, param+".content")
	if err != nil {
		return oaMessage{}, nil, err
	}
	var sb strings.Builder
	if b.IsError {
		sb.WriteString("Error: ")
	}
	var images []jsonx.RawMessage
	first := true
	for j, ib := range inner {
		switch ib.Type {
		case "text":
			if ib.Text == "" {
				continue
			}
			if !first {
				sb.WriteString("\n")
			}
			first = false
			sb.WriteString(ib.Text)
		case "image", "document":
			p, err := mediaBlockToPart(ib, fmt.Sprintf("%s.content[%d]", param, j))
			if err != nil {
				return oaMessage{}, nil, err
			}
			images = append(images, p)
		default:
			return oaMessage{}, nil, InvalidParam(fmt.Sprintf("%s.content[%d].type", param, j), "tool_result content type %q is not supported for OpenAI models", ib.Type)
		}
	}
	return oaMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: jsonx.AppendString(nil, sb.String())}, images, nil
}

// appendAnthropicAssistantTurn concatenates text into content and turns
// tool_use blocks into tool_calls. Thinking blocks are dropped: Chat
// Completions has no request field for them.
func appendAnthropicAssistantTurn(out []oaMessage, blocks []anBlock, param string) ([]oaMessage, error) {
	var sb strings.Builder
	var calls []oaToolCall
	for j, b := range blocks {
		bp := fmt.Sprintf("%s.content[%d]", param, j)
		switch b.Type {
		case "text":
			sb.WriteString(b.Text)
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return nil, InvalidParam(bp, "tool_use blocks need an id and a name")
			}
			calls = append(calls, oaToolCall{ID: b.ID, Type: "function", Function: oaFunctionCall{
				Name:      b.Name,
				Arguments: inputToArguments(b.Input),
			}})
		case "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result",
			"web_fetch_tool_result", "code_execution_tool_result":
			// Dropped: no Chat Completions equivalent (docs/conversion.md).
		default:
			return nil, InvalidParam(bp+".type", "content block type %q is not supported for OpenAI models", b.Type)
		}
	}
	if sb.Len() == 0 && len(calls) == 0 {
		return out, nil
	}
	msg := oaMessage{Role: "assistant", ToolCalls: calls, Content: jsonx.RawMessage("null")}
	if sb.Len() > 0 {
		msg.Content = jsonx.AppendString(nil, sb.String())
	}
	return append(out, msg), nil
}

// inputToArguments renders a tool_use input as the arguments JSON text;
// absent or empty input becomes "{}" so that clients can always parse it.
func inputToArguments(in jsonx.RawMessage) string {
	if isNullRaw(in) {
		return "{}"
	}
	// Marshalling a RawMessage compacts it: the arguments text stays free of
	// the client's indentation.
	b, err := jsonx.Marshal(in)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// knownBlockTypes are the content block types whose fields anBlock decodes.
var knownBlockTypes = map[string]bool{
	"text": true, "image": true, "document": true, "tool_use": true, "tool_result": true,
	"thinking": true, "redacted_thinking": true, "server_tool_use": true,
	"web_search_tool_result": true, "web_fetch_tool_result": true, "code_execution_tool_result": true,
}

// contentBlocksError explains a block array that did not decode: most often
// a block type the converter does not know, whose fields have other shapes.
func contentBlocksError(raw jsonx.RawMessage, param string, err error) *Error {
	var types []struct {
		Type string `json:"type"`
	}
	if jsonx.Unmarshal(raw, &types) == nil {
		for j, b := range types {
			if !knownBlockTypes[b.Type] {
				return InvalidParam(fmt.Sprintf("%s[%d].type", param, j), "content block type %q is not supported for OpenAI models", b.Type)
			}
		}
	}
	return InvalidParam(param, "invalid content blocks: %v", err)
}
