package converter

import (
	"fmt"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Names of the Anthropic tools that stand for Responses tools with no
// function of their own.
const (
	// localShellToolName is the function a local_shell tool becomes; its
	// input is the exec action of a local_shell_call.
	localShellToolName = "local_shell"
	// webSearchToolName is the name Anthropic gives its web search tool.
	webSearchToolName = "web_search"
	// anthropicWebSearchType is the Anthropic server tool a web_search
	// tool becomes.
	anthropicWebSearchType = "web_search_20250305"
)

// customToolSchema is the input schema of a custom (freeform) tool: the
// model's free text travels as the one string member "input".
var customToolSchema = jsonx.RawMessage(`{"type":"object","properties":{"input":{"type":"string","description":"The tool's input, as free text."}},"required":["input"],"additionalProperties":false}`)

// localShellSchema describes the exec action of a local_shell_call.
var localShellSchema = jsonx.RawMessage(`{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"},"description":"The command and its arguments."},"working_directory":{"type":"string"},"timeout_ms":{"type":"integer"},"env":{"type":"object","additionalProperties":{"type":"string"}},"user":{"type":"string"}},"required":["command"]}`)

// responsesToAnthropicRequest translates a Responses API request into an
// Anthropic Messages request; docs/conversion.md ("Responses requests") has
// the field table. With opts.Intermediate it writes a hub body for another
// OpenAI format: no default max_tokens, and the OpenAI-only fields in
// x_openai.
func responsesToAnthropicRequest(body []byte, opts RequestOptions) ([]byte, error) {
	var req rsReqRequest
	if err := decodeRequest(body, &req); err != nil {
		return nil, err
	}
	readResponsesAdmitted(body).pin(&req)
	out := anRequest{Model: req.Model, Stream: req.Stream}
	if opts.Model != "" {
		out.Model = opts.Model
	}
	if out.Model == "" {
		return nil, InvalidParam("model", "model is required")
	}
	if err := refuseResponsesState(&req); err != nil {
		return nil, err
	}
	var x rsReqXOpenAI

	switch {
	case req.MaxOutputTokens != nil:
		if *req.MaxOutputTokens < 1 {
			return nil, InvalidParam("max_output_tokens", "max_output_tokens must be at least 1")
		}
		out.MaxTokens = *req.MaxOutputTokens
	case !opts.Intermediate:
		out.MaxTokens = opts.defaultMaxTokens()
	}

	if t := req.Temperature; t != nil {
		switch {
		case *t >= 0 && *t <= 1:
			out.Temperature = t
		case opts.Intermediate && *t > 1 && *t <= 2:
			x.Temperature = t
		default:
			return nil, InvalidParam("temperature", "temperature must be between 0 and 1 for Anthropic models, got %g", *t)
		}
	}
	// As for Chat: recent Claude models refuse temperature with top_p.
	if req.TopP != nil && req.Temperature == nil {
		out.TopP = req.TopP
	}

	if id := responsesUserID(&req); id != "" {
		out.Metadata = &anMetadata{UserID: opaqueUserID(id)}
	}

	if req.Text != nil && req.Text.Format != nil {
		f := req.Text.Format
		switch f.Type {
		case "", "text":
		case "json_schema":
			if isNullRaw(f.Schema) {
				return nil, InvalidParam("text.format.schema", "a json_schema text format needs a schema")
			}
			out.OutputConfig = &anOutputConfig{Format: &anOutputFormat{Type: "json_schema", Schema: f.Schema}}
		case "json_object":
			if !opts.Intermediate {
				return nil, InvalidParam("text.format.type", "json_object is not supported by Anthropic models: use a json_schema text format")
			}
			x.ResponseFormat = "json_object"
		default:
			return nil, InvalidParam("text.format.type", "unknown text format %q", f.Type)
		}
	}

	var system []anBlock
	if !isNullRaw(req.Instructions) {
		var s string
		if req.Instructions[0] != '"' || jsonx.Unmarshal(req.Instructions, &s) != nil {
			return nil, InvalidParam("instructions", "instructions must be a string")
		}
		if !isBlank(s) {
			system = append(system, anBlock{Type: "text", Text: s})
		}
	}
	in, err := responsesInputToAnthropic(req.Input)
	if err != nil {
		return nil, err
	}
	system = append(system, in.system...)
	msgs := trimFinalAssistantText(pairToolResults(in.turns))
	if len(msgs) == 0 {
		return nil, InvalidParam("input", "input must contain at least one non-empty message")
	}

	tools, err := responsesToolsToAnthropic(append(req.Tools, in.tools...))
	if err != nil {
		return nil, err
	}
	if len(tools) > 0 {
		choice, kept, err := responsesToolChoiceToAnthropic(req.ToolChoice, tools)
		if err != nil {
			return nil, err
		}
		tools = kept
		if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
			if choice == nil {
				choice = &anToolChoice{Type: "auto"}
			}
			if choice.Type != "none" {
				choice.DisableParallelToolUse = true
			}
		}
		out.Tools, out.ToolChoice = tools, choice
	}
	if len(out.Tools) == 0 && historyHasToolBlocks(msgs) {
		out.Tools = []anTool{{
			Name:        placeholderToolName,
			Description: "Placeholder: the tools used earlier in this conversation are not available in this request.",
			InputSchema: emptyObjectSchema,
		}}
		out.ToolChoice = &anToolChoice{Type: "none"}
	}

	if req.Reasoning != nil {
		effort := req.Reasoning.Effort
		if _, ok := reasoningBudgets[effort]; !ok && effort != "" && effort != "none" {
			return nil, InvalidParam("reasoning.effort", "unknown reasoning effort %q (want none, minimal, low, medium, high, xhigh or max)", effort)
		}
		maxTokens := out.MaxTokens
		if err := applyReasoningEffort(&out, effort, msgs); err != nil {
			return nil, err
		}
		if opts.Intermediate {
			// The room added for thinking is Anthropic's rule; an OpenAI
			// bound already covers reasoning.
			out.MaxTokens = maxTokens
		}
		x.ReasoningEffort = effort
		x.ReasoningSummary = req.Reasoning.Summary
		if x.ReasoningSummary == "" {
			x.ReasoningSummary = req.Reasoning.GenerateSummary
		}
	}

	if opts.Intermediate {
		keepDroppedSampling(&x, &out, req.Temperature, req.TopP)
		x.ServiceTier = req.ServiceTier
		x.PromptCacheKey = req.PromptCacheKey
		x.PromptCacheRetention = req.PromptCacheRetention
		x.Store = req.Store
		x.Metadata = req.Metadata
		x.ParallelToolCalls = req.ParallelToolCalls
		x.User = req.User
		x.SafetyIdentifier = req.SafetyIdentifier
		x.Include = req.Include
		x.Truncation = req.Truncation
		x.MaxToolCalls = req.MaxToolCalls
		x.TopLogprobs = req.TopLogprobs
		if req.Text != nil {
			x.Verbosity = req.Text.Verbosity
		}
		if !x.isZero() {
			out.XOpenAI = &x
		}
	}
	if !opts.Intermediate {
		markCacheBreakpoints(&out, system, msgs)
	}
	return encodeAnthropicRequest(&out, system, msgs)
}

// ephemeralCache is Anthropic's prompt-cache breakpoint.
var ephemeralCache = jsonx.RawMessage(`{"type":"ephemeral"}`)

// markCacheBreakpoints puts prompt-cache breakpoints where Claude Code
// puts them: on the last tool, the last system block and the last block of
// the conversation. OpenAI caches every long prompt prefix by itself, and a
// Responses client (Codex resends its whole history every turn) counts on
// it; Anthropic caches only up to a marked block, so without marks a long
// agent loop would pay for its whole history every turn. A prefix shorter
// than Anthropic's minimum is simply not cached.
func markCacheBreakpoints(out *anRequest, system []anBlock, msgs []anTurn) {
	if n := len(out.Tools); n > 0 && out.Tools[n-1].Type == "" {
		out.Tools[n-1].CacheControl = ephemeralCache
	}
	if n := len(system); n > 0 {
		system[n-1].CacheControl = ephemeralCache
	}
	if n := len(msgs); n > 0 {
		blocks := msgs[n-1].blocks
		switch b := &blocks[len(blocks)-1]; b.Type {
		case "text", "image", "document", "tool_result", "tool_use":
			b.CacheControl = ephemeralCache
		}
	}
}

// encodeAnthropicRequest writes out with its system blocks and turns.
func encodeAnthropicRequest(out *anRequest, system []anBlock, msgs []anTurn) ([]byte, error) {
	var err error
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
	b, err := jsonx.Marshal(out)
	if err != nil {
		return nil, Errorf(KindInternal, "encoding Anthropic request: %v", err)
	}
	return b, nil
}

func (x *rsReqXOpenAI) isZero() bool {
	return x.ServiceTier == "" && x.PromptCacheKey == "" && x.PromptCacheRetention == "" &&
		x.Store == nil && isNullRaw(x.Metadata) && x.Verbosity == "" && x.ParallelToolCalls == nil &&
		x.User == "" && x.SafetyIdentifier == "" && x.ReasoningEffort == "" && x.ReasoningSummary == "" &&
		len(x.Include) == 0 && x.Truncation == "" && x.MaxToolCalls == nil && x.Logprobs == nil &&
		x.TopLogprobs == nil && x.Temperature == nil && x.TopP == nil && x.ResponseFormat == "" && x.N == nil &&
		isNullRaw(x.Audio) && len(x.Modalities) == 0 && isNullRaw(x.WebSearchOptions)
}

// refuseResponsesState rejects requests that build on state only OpenAI
// holds, or that ask for a way of running the gateway does not offer.
// Ignoring them would answer a different question than the one asked.
func refuseResponsesState(req *rsReqRequest) error {
	switch {
	case req.PreviousResponseID != "":
		return InvalidParam("previous_response_id", "previous_response_id refers to a response this upstream does not hold: send the conversation in input")
	case !isNullRaw(req.Conversation):
		return InvalidParam("conversation", "conversations are stored by OpenAI and not available for this model: send the conversation in input")
	case !isNullRaw(req.Prompt):
		return InvalidParam("prompt", "prompt templates are stored by OpenAI and not available for this model: send instructions and input")
	case req.Background != nil && *req.Background:
		return InvalidParam("background", "background responses are not supported by this gateway")
	}
	return nil
}

// responsesUserID picks the end-user id: safety_identifier replaces user,
// and metadata.user_id is where Anthropic-minded clients put it.
func responsesUserID(req *rsReqRequest) string {
	if req.SafetyIdentifier != "" {
		return req.SafetyIdentifier
	}
	if req.User != "" {
		return req.User
	}
	if !isNullRaw(req.Metadata) && req.Metadata[0] == '{' {
		var md map[string]jsonx.RawMessage
		var id string
		if jsonx.Unmarshal(req.Metadata, &md) == nil && jsonx.Unmarshal(md["user_id"], &id) == nil {
			return id
		}
	}
	return ""
}

// rsInConverted is the input translated: system blocks from system and
// developer messages, the conversation, and tools declared by
// additional_tools items.
type rsInConverted struct {
	system []anBlock
	turns  turns
	tools  []rsReqTool
}

// responsesInputToAnthropic converts input, a string or an item list.
func responsesInputToAnthropic(raw jsonx.RawMessage) (rsInConverted, error) {
	var c rsInConverted
	if isNullRaw(raw) {
		return c, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			return c, InvalidParam("input", "invalid input")
		}
		if !isBlank(s) {
			c.turns.add("user", anBlock{Type: "text", Text: s})
		}
		return c, nil
	case '[':
	default:
		return c, InvalidParam("input", "input must be a string or an array of items")
	}
	var items []rsInItem
	if err := jsonx.Unmarshal(raw, &items); err != nil {
		return c, InvalidParam("input", "invalid input items: %v", err)
	}
	for i, it := range items {
		if err := c.addItem(it, fmt.Sprintf("input[%d]", i)); err != nil {
			return rsInConverted{}, err
		}
	}
	return c, nil
}

// addItem converts one input item.
func (c *rsInConverted) addItem(it rsInItem, param string) error {
	switch it.Type {
	case "message", "":
		if it.Role == "" {
			return InvalidParam(param+".role", "input items need a type, or a role for messages")
		}
		return c.addMessage(it, param)
	case "function_call":
		if it.CallID == "" {
			return InvalidParam(param+".call_id", "function_call items need a call_id")
		}
		if it.Name == "" {
			return InvalidParam(param+".name", "function_call items need a name")
		}
		var args string
		if !isNullRaw(it.Arguments) && (it.Arguments[0] != '"' || jsonx.Unmarshal(it.Arguments, &args) != nil) {
			return InvalidParam(param+".arguments", "arguments must be a string holding JSON")
		}
		c.turns.add("assistant", anBlock{
			Type:  "tool_use",
			ID:    anthropicToolID(it.CallID),
			Name:  namespacedToolName(it.Namespace, it.Name),
			Input: toolArgumentsToInput(args),
		})
	case "custom_tool_call":
		if it.CallID == "" {
			return InvalidParam(param+".call_id", "custom_tool_call items need a call_id")
		}
		if it.Name == "" {
			return InvalidParam(param+".name", "custom_tool_call items need a name")
		}
		var input string
		if !isNullRaw(it.Input) && (it.Input[0] != '"' || jsonx.Unmarshal(it.Input, &input) != nil) {
			return InvalidParam(param+".input", "input must be a string")
		}
		wrapped := append([]byte(`{"input":`), jsonx.AppendString(nil, input)...)
		c.turns.add("assistant", anBlock{
			Type:  "tool_use",
			ID:    anthropicToolID(it.CallID),
			Name:  namespacedToolName(it.Namespace, it.Name),
			Input: append(wrapped, '}'),
		})
	case "local_shell_call":
		id := it.CallID
		if id == "" {
			id = it.ID
		}
		if id == "" {
			return InvalidParam(param+".call_id", "local_shell_call items need a call_id")
		}
		input := jsonx.RawMessage(`{}`)
		if !isNullRaw(it.Action) && it.Action[0] == '{' {
			input = it.Action
		}
		c.turns.add("assistant", anBlock{Type: "tool_use", ID: anthropicToolID(id), Name: localShellToolName, Input: input})
	case "function_call_output", "custom_tool_call_output", "local_shell_call_output":
		id := it.CallID
		if id == "" && it.Type == "local_shell_call_output" {
			// The local shell output names its call by id.
			id = it.ID
		}
		if id == "" {
			return InvalidParam(param+".call_id", "%s items need a call_id", it.Type)
		}
		output, isError := it.Output, false
		if !isNullRaw(output) && output[0] == '{' {
			// Older Codex releases wrote a failed call's output as
			// {"content": …, "success": false}.
			var legacy struct {
				Content jsonx.RawMessage `json:"content"`
				Success *bool            `json:"success"`
			}
			if err := jsonx.Unmarshal(output, &legacy); err != nil || isNullRaw(legacy.Content) {
				return InvalidParam(param+".output", "output must be a string or an array of parts")
			}
			output, isError = legacy.Content, legacy.Success != nil && !*legacy.Success
		}
		content, err := responsesToolOutput(output, param+".output")
		if err != nil {
			return err
		}
		c.turns.addToolResult(anBlock{Type: "tool_result", ToolUseID: anthropicToolID(id), Content: content, IsError: isError})
	case "reasoning":
		// Only reasoning the gateway wrapped can be replayed: Anthropic
		// cannot read OpenAI's encrypted reasoning, and a summary is not
		// a signed thinking block. Such items are dropped.
		if it.EncryptedContent == nil {
			return nil
		}
		st, ok := decodeThinkingState(*it.EncryptedContent)
		if !ok {
			return nil
		}
		if st.Type == "redacted_thinking" {
			c.turns.add("assistant", anBlock{Type: "redacted_thinking", Data: st.Data})
			return nil
		}
		text := st.Thinking
		c.turns.add("assistant", anBlock{Type: "thinking", Thinking: &text, Signature: st.Signature})
	case "additional_tools":
		c.tools = append(c.tools, it.Tools...)
	case "web_search_call", "file_search_call", "computer_call", "computer_call_output",
		"code_interpreter_call", "image_generation_call", "mcp_list_tools", "mcp_approval_request",
		"mcp_approval_response", "mcp_call", "tool_search_call", "tool_search_output",
		"compaction", "compaction_trigger", "configuration_update":
		// Calls run by OpenAI (and their results) and OpenAI's encrypted
		// compaction live on OpenAI's side; the model here cannot replay
		// them, and the rest of the conversation stands without them.
	case "item_reference":
		return InvalidParam(param+".type", "item_reference points at an item stored by OpenAI, which this model cannot read: send the item itself")
	default:
		return InvalidParam(param+".type", "input item type %q is not supported for Anthropic models", it.Type)
	}
	return nil
}

// addMessage converts a message item.
func (c *rsInConverted) addMessage(it rsInItem, param string) error {
	switch it.Role {
	case "system", "developer":
		blocks, err := responsesContentToBlocks(it.Content, param, true)
		if err != nil {
			return err
		}
		c.system = append(c.system, blocks...)
	case "user":
		blocks, err := responsesContentToBlocks(it.Content, param, false)
		if err != nil {
			return err
		}
		c.turns.add("user", blocks...)
	case "assistant":
		blocks, err := responsesContentToBlocks(it.Content, param, true)
		if err != nil {
			return err
		}
		c.turns.add("assistant", blocks...)
	default:
		return InvalidParam(param+".role", "unknown role %q", it.Role)
	}
	return nil
}

// responsesContentToBlocks converts a message's content: a string or parts.
// Blank text is skipped, as on the Chat path (Anthropic refuses it).
func responsesContentToBlocks(raw jsonx.RawMessage, param string, textOnly bool) ([]anBlock, error) {
	if blocks, done, err := textContentBlocks(raw, param); done {
		return blocks, err
	}
	var parts []rsInPart
	if err := jsonx.Unmarshal(raw, &parts); err != nil {
		return nil, InvalidParam(param+".content", "invalid content parts: %v", err)
	}
	return responsesPartsToBlocks(parts, param+".content", textOnly)
}

func responsesPartsToBlocks(parts []rsInPart, param string, textOnly bool) ([]anBlock, error) {
	blocks := make([]anBlock, 0, len(parts))
	for j, p := range parts {
		pp := fmt.Sprintf("%s[%d]", param, j)
		switch p.Type {
		case "input_text", "output_text", "text":
			if p.Text != nil && !isBlank(*p.Text) {
				blocks = append(blocks, anBlock{Type: "text", Text: *p.Text})
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
		case "input_image":
			if p.FileID != "" {
				return nil, InvalidParam(pp+".file_id", "file_id refers to a file stored by OpenAI, which Anthropic models cannot read: send the image as a data URL or an http(s) URL")
			}
			if p.ImageURL == "" {
				return nil, InvalidParam(pp+".image_url", "input_image parts need an image_url")
			}
			b, err := imageURLToBlock(p.ImageURL, pp+".image_url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case "input_file":
			b, err := responsesFileToBlock(p, pp)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case "input_audio":
			return nil, InvalidParam(pp+".type", "audio input is not supported by Anthropic models")
		default:
			return nil, InvalidParam(pp+".type", "unsupported content part type %q", p.Type)
		}
	}
	return blocks, nil
}

// responsesFileToBlock carries an inline PDF (file_data, a data URL or
// bare base64) or a PDF URL (file_url) as a document block.
func responsesFileToBlock(p rsInPart, param string) (anBlock, error) {
	switch {
	case p.FileID != "":
		return anBlock{}, InvalidParam(param+".file_id", "file_id refers to a file stored by OpenAI, which Anthropic models cannot read: send the file inline as file_data")
	case p.FileData != "":
		mt, data := "application/pdf", p.FileData
		if rest, ok := strings.CutPrefix(p.FileData, "data:"); ok {
			var err error
			if mt, data, err = parseDataURL(rest, param+".file_data"); err != nil {
				return anBlock{}, err
			}
		}
		if mt != "application/pdf" {
			return anBlock{}, InvalidParam(param+".file_data", "unsupported file type %q (only application/pdf)", mt)
		}
		return anBlock{Type: "document", Title: p.Filename, Source: &anSource{Type: "base64", MediaType: mt, Data: data}}, nil
	case p.FileURL != "":
		lower := strings.ToLower(p.FileURL)
		if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
			return anBlock{}, InvalidParam(param+".file_url", "file URLs must be http(s)")
		}
		return anBlock{Type: "document", Title: p.Filename, Source: &anSource{Type: "url", URL: p.FileURL}}, nil
	}
	return anBlock{}, InvalidParam(param, "input_file parts need file_data or file_url")
}

// responsesToolOutput converts a tool call's output (a string or parts)
// into tool_result content; an empty output is omitted.
func responsesToolOutput(raw jsonx.RawMessage, param string) (jsonx.RawMessage, error) {
	if isNullRaw(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			return nil, InvalidParam(param, "invalid output")
		}
		if s == "" {
			return nil, nil
		}
		return jsonx.AppendString(nil, s), nil
	case '[':
	default:
		return nil, InvalidParam(param, "output must be a string or an array of parts")
	}
	var parts []rsInPart
	if err := jsonx.Unmarshal(raw, &parts); err != nil {
		return nil, InvalidParam(param, "invalid output parts: %v", err)
	}
	blocks, err := responsesPartsToBlocks(parts, param, false)
	if err != nil || len(blocks) == 0 {
		return nil, err
	}
	b, err := jsonx.Marshal(blocks)
	if err != nil {
		return nil, Errorf(KindInternal, "encoding tool output: %v", err)
	}
	return b, nil
}

// namespacedToolName is the one name a function of a namespace tool has
// on Anthropic, which has no namespaces: the namespace and the name joined
// by "__", or put side by side when the namespace already ends in '_' or
// '-' (Codex's MCP namespaces such as "mcp__server__").
func namespacedToolName(namespace, name string) string {
	switch {
	case namespace == "":
		return name
	case strings.HasSuffix(namespace, "_") || strings.HasSuffix(namespace, "-"):
		return namespace + name
	}
	return namespace + "__" + name
}

// responsesToolsToAnthropic converts tools by the per-type rules of
// docs/conversion.md: client-run tools are served, hosted tools the model
// can do without are dropped, and hosted tools a client would depend on are
// refused.
func responsesToolsToAnthropic(tools []rsReqTool) ([]anTool, error) {
	out := make([]anTool, 0, len(tools))
	webSearch := false
	for i, t := range tools {
		param := fmt.Sprintf("tools[%d]", i)
		switch t.Type {
		case "function":
			tool, err := responsesFunctionTool(t, "", param)
			if err != nil {
				return nil, err
			}
			out = append(out, tool)
		case "namespace":
			if t.Name == "" {
				return nil, InvalidParam(param+".name", "namespace tools need a name")
			}
			for j, inner := range t.Tools {
				ip := fmt.Sprintf("%s.tools[%d]", param, j)
				if inner.Type != "function" {
					return nil, InvalidParam(ip+".type", "namespace tools may only hold function tools, got %q", inner.Type)
				}
				tool, err := responsesFunctionTool(inner, t.Name, ip)
				if err != nil {
					return nil, err
				}
				out = append(out, tool)
			}
		case "custom":
			if err := checkToolName(t.Name, param+".name"); err != nil {
				return nil, err
			}
			desc := t.Description
			if f := t.Format; f != nil && f.Type == "grammar" && f.Definition != "" {
				// The grammar cannot be enforced; the model follows it
				// best when it reads it.
				if desc != "" {
					desc += "\n\n"
				}
				desc += fmt.Sprintf("The input must match this %s grammar:\n%s", f.Syntax, f.Definition)
			}
			out = append(out, anTool{Name: t.Name, Description: desc, InputSchema: customToolSchema})
		case "local_shell":
			out = append(out, anTool{
				Name:        localShellToolName,
				Description: "Run a command on the user's machine. Returns its output.",
				InputSchema: localShellSchema,
			})
		case "web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11":
			// A search limited to cached pages has no Anthropic
			// equivalent, and live search is what the client turned off.
			if webSearch || (t.ExternalWebAccess != nil && !*t.ExternalWebAccess) {
				continue
			}
			webSearch = true
			tool := anTool{Type: anthropicWebSearchType, Name: webSearchToolName, UserLocation: t.UserLocation}
			if t.Filters != nil {
				tool.AllowedDomains = t.Filters.AllowedDomains
			}
			out = append(out, tool)
		case "image_generation", "tool_search":
			// The model cannot generate images here, and every deferred
			// tool is declared up front, so neither is needed.
		case "file_search", "code_interpreter", "computer", "computer_use_preview", "mcp", "shell", "apply_patch":
			return nil, InvalidParam(param+".type", "%s is a tool run by OpenAI, which Anthropic models cannot use", t.Type)
		default:
			return nil, InvalidParam(param+".type", "tool type %q is not supported for Anthropic models", t.Type)
		}
	}
	return out, nil
}

func responsesFunctionTool(t rsReqTool, namespace, param string) (anTool, error) {
	name := namespacedToolName(namespace, t.Name)
	if err := checkToolName(name, param+".name"); err != nil {
		return anTool{}, err
	}
	schema, err := normaliseToolSchema(t.Parameters, param+".parameters")
	if err != nil {
		return anTool{}, err
	}
	tool := anTool{Name: name, Description: t.Description, InputSchema: schema}
	// strict asks for the schema to be enforced; a schema outside the
	// strict rules could not be, so it goes without.
	// Responses function tools are strict unless they say otherwise.
	if (t.Strict == nil || *t.Strict) && meetsOpenAIStrict(schema) {
		strict := true
		tool.Strict = &strict
	}
	return tool, nil
}

// responsesToolChoiceToAnthropic maps tool_choice. allowed_tools has no
// Anthropic form: the tools outside the allowed set are left out of the
// request instead, which the model cannot tell apart. It returns the tools
// to send.
func responsesToolChoiceToAnthropic(raw jsonx.RawMessage, tools []anTool) (*anToolChoice, []anTool, error) {
	if isNullRaw(raw) {
		return nil, tools, nil
	}
	if raw[0] == '"' {
		var s string
		if err := jsonx.Unmarshal(raw, &s); err != nil {
			return nil, nil, InvalidParam("tool_choice", "invalid tool_choice")
		}
		switch s {
		case "auto":
			return &anToolChoice{Type: "auto"}, tools, nil
		case "none":
			return &anToolChoice{Type: "none"}, tools, nil
		case "required":
			return &anToolChoice{Type: "any"}, tools, nil
		}
		return nil, nil, InvalidParam("tool_choice", "unknown tool_choice %q", s)
	}
	var obj rsReqToolChoiceObject
	if err := jsonx.Unmarshal(raw, &obj); err != nil {
		return nil, nil, InvalidParam("tool_choice", `tool_choice must be "auto", "none", "required" or an object`)
	}
	switch obj.Type {
	case "function", "custom":
		if obj.Name == "" {
			return nil, nil, InvalidParam("tool_choice.name", "tool_choice of type %s needs a name", obj.Type)
		}
		return &anToolChoice{Type: "tool", Name: obj.Name}, tools, nil
	case "web_search", "web_search_preview", "web_search_preview_2025_03_11", "web_search_2025_08_26":
		for _, t := range tools {
			if t.Type == anthropicWebSearchType {
				return &anToolChoice{Type: "tool", Name: webSearchToolName}, tools, nil
			}
		}
		return nil, nil, InvalidParam("tool_choice.type", "tool_choice forces web search, which this request does not offer")
	case "local_shell":
		return &anToolChoice{Type: "tool", Name: localShellToolName}, tools, nil
	case "allowed_tools":
		allowed := map[string]bool{}
		for _, a := range obj.Tools {
			switch {
			case a.Type == "local_shell":
				allowed[localShellToolName] = true
			case strings.HasPrefix(a.Type, "web_search"):
				allowed[webSearchToolName] = true
			default:
				allowed[a.Name] = true
			}
		}
		kept := make([]anTool, 0, len(tools))
		for _, t := range tools {
			if allowed[t.Name] {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			return nil, nil, InvalidParam("tool_choice.tools", "allowed_tools names none of the request's tools")
		}
		switch obj.Mode {
		case "", "auto":
			return &anToolChoice{Type: "auto"}, kept, nil
		case "required":
			return &anToolChoice{Type: "any"}, kept, nil
		}
		return nil, nil, InvalidParam("tool_choice.mode", "unknown allowed_tools mode %q", obj.Mode)
	}
	return nil, nil, InvalidParam("tool_choice.type", "tool_choice type %q is not supported for Anthropic models", obj.Type)
}

// missingToolOutput is the result given to a call whose output the client
// did not send.
const missingToolOutput = "No output was recorded for this call."

// pairToolResults makes the conversation meet Anthropic's pairing rule:
// every tool_use is answered by a tool_result in the very next turn, and
// every tool_result answers a tool_use of the turn before. The Responses
// API is lenient about both (a turn cut short leaves calls unanswered;
// trimmed histories leave outputs without their call), and Anthropic
// refuses the whole request for either. A call without an output gets an
// error result saying so; an output without its call becomes user text, so
// that the model still reads it.
func pairToolResults(msgs turns) turns {
	var out turns
	var pending []string
	answer := func() {
		for _, id := range pending {
			out.addToolResult(anBlock{Type: "tool_result", ToolUseID: id, Content: jsonx.AppendString(nil, missingToolOutput), IsError: true})
		}
		pending = nil
	}
	for _, t := range msgs {
		if t.role != "user" {
			answer()
			out.add(t.role, t.blocks...)
			for _, b := range t.blocks {
				if b.Type == "tool_use" {
					pending = append(pending, b.ID)
				}
			}
			continue
		}
		for _, b := range t.blocks {
			if b.Type != "tool_result" {
				out.add("user", b)
				continue
			}
			if i := indexOf(pending, b.ToolUseID); i >= 0 {
				pending = append(pending[:i], pending[i+1:]...)
				out.addToolResult(b)
				continue
			}
			out.add("user", orphanToolResult(b)...)
		}
		answer()
	}
	answer()
	return out
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// orphanToolResult turns a tool_result that answers no call into text
// blocks naming the call, followed by its media.
func orphanToolResult(b anBlock) []anBlock {
	inner, err := anthropicContentBlocks(b.Content, "")
	if err != nil {
		return nil
	}
	var sb strings.Builder
	sb.WriteString("Output of tool call ")
	sb.WriteString(b.ToolUseID)
	sb.WriteString(":")
	var media []anBlock
	for _, ib := range inner {
		if ib.Type == "text" {
			sb.WriteString("\n")
			sb.WriteString(ib.Text)
			continue
		}
		media = append(media, ib)
	}
	return append([]anBlock{{Type: "text", Text: sb.String()}}, media...)
}
