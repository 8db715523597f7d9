package converter

import (
	"fmt"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// minResponsesOutputTokens is the smallest max_output_tokens OpenAI's
// Responses API accepts.
const minResponsesOutputTokens = 16

// includeEncryptedReasoning asks a Responses upstream for the reasoning
// state that a stateless (store: false) conversation must replay.
const includeEncryptedReasoning = "reasoning.encrypted_content"

// includeLogprobs asks for the log probabilities of the output text.
const includeLogprobs = "message.output_text.logprobs"

// anthropicToResponsesRequest translates an Anthropic Messages request, or
// an intermediate hub body with x_openai, into a Responses API request for
// an openai-responses upstream; docs/conversion.md ("Responses requests")
// has the field table.
func anthropicToResponsesRequest(body []byte, opts RequestOptions) ([]byte, error) {
	var req anRequest
	if err := decodeRequest(body, &req); err != nil {
		return nil, err
	}
	readAdmitted(body).pinAnthropic(&req)
	x := req.XOpenAI
	if x == nil {
		x = &rsReqXOpenAI{}
	}
	out := rsReqRequest{Model: req.Model, Temperature: req.Temperature, TopP: req.TopP, Stream: req.Stream}
	if opts.Model != "" {
		out.Model = opts.Model
	}
	if out.Model == "" {
		return nil, InvalidParam("model", "model is required")
	}
	if err := refuseForResponses(x); err != nil {
		return nil, err
	}
	if x.Temperature != nil {
		out.Temperature = x.Temperature
	}
	if x.TopP != nil {
		out.TopP = x.TopP
	}
	if req.MaxTokens > 0 {
		n := max(req.MaxTokens, minResponsesOutputTokens)
		out.MaxOutputTokens = &n
	}

	// The end-user id: the OpenAI client's own when it had one, otherwise
	// Anthropic's, made opaque (safety_identifier is the field that
	// replaces the deprecated user).
	out.User, out.SafetyIdentifier = x.User, x.SafetyIdentifier
	if out.User == "" && out.SafetyIdentifier == "" && req.Metadata != nil && req.Metadata.UserID != "" {
		out.SafetyIdentifier = opaqueUserID(req.Metadata.UserID)
	}

	effort, err := responsesReasoningEffort(req.Thinking, req.OutputConfig)
	if err != nil {
		return nil, err
	}
	if x.ReasoningEffort != "" {
		effort = x.ReasoningEffort
	}
	if effort != "" {
		out.Reasoning = &rsReqReasoning{Effort: effort, Summary: x.ReasoningSummary}
	}
	// The gateway keeps no state at OpenAI: responses are not stored
	// there unless an OpenAI client asked for it, and reasoning comes back
	// encrypted so that the next turn can replay it.
	store := false
	if x.Store != nil {
		store = *x.Store
	}
	out.Store = &store
	out.Include = x.Include
	if out.Reasoning != nil && out.Reasoning.Effort != "none" && !store && !contains(out.Include, includeEncryptedReasoning) {
		out.Include = append(out.Include, includeEncryptedReasoning)
	}
	if x.Logprobs != nil && *x.Logprobs && !contains(out.Include, includeLogprobs) {
		out.Include = append(out.Include, includeLogprobs)
	}

	out.ServiceTier = x.ServiceTier
	out.PromptCacheKey = x.PromptCacheKey
	out.PromptCacheRetention = x.PromptCacheRetention
	out.Metadata = x.Metadata
	out.Truncation = x.Truncation
	out.TopLogprobs = x.TopLogprobs
	out.MaxToolCalls = x.MaxToolCalls

	text, err := responsesTextConfig(req.OutputConfig, x)
	if err != nil {
		return nil, err
	}
	out.Text = text

	tools, err := anthropicToolsToResponses(req.Tools)
	if err != nil {
		return nil, err
	}
	if !isNullRaw(x.WebSearchOptions) {
		tools = append(tools, chatWebSearchOptionsTool(x.WebSearchOptions))
	}
	if len(tools) > 0 {
		out.Tools = tools
		if tc := req.ToolChoice; tc != nil {
			choice, err := anthropicToolChoiceToResponses(tc)
			if err != nil {
				return nil, err
			}
			out.ToolChoice = choice
			if tc.DisableParallelToolUse && tc.Type != "none" {
				f := false
				out.ParallelToolCalls = &f
			}
		}
		if x.ParallelToolCalls != nil {
			out.ParallelToolCalls = x.ParallelToolCalls
		}
	}

	if !isNullRaw(req.System) {
		s, err := anthropicSystemText(req.System, "system")
		if err != nil {
			return nil, err
		}
		if s != "" {
			out.Instructions = jsonx.AppendString(nil, s)
		}
	}
	input, err := anthropicMessagesToResponsesInput(req.Messages, x.ReasoningSummary != "")
	if err != nil {
		return nil, err
	}
	out.Input = input
	b, err := jsonx.Marshal(&out)
	if err != nil {
		return nil, Errorf(KindInternal, "encoding Responses request: %v", err)
	}
	return b, nil
}

// refuseForResponses rejects what a Chat client asked for that the
// Responses API cannot do.
func refuseForResponses(x *rsReqXOpenAI) error {
	if x.N != nil && *x.N > 1 {
		return InvalidParam("n", "n > 1 is not supported by the Responses API: send one request per choice")
	}
	if !isNullRaw(x.Audio) {
		return InvalidParam("audio", "audio output is not supported by the Responses API")
	}
	for _, m := range x.Modalities {
		if m != "text" {
			return InvalidParam("modalities", "only the text modality is supported by the Responses API, got %q", m)
		}
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

// responsesReasoningEffort is anthropicReasoningEffort with the efforts
// the Responses API has beyond Chat's (xhigh; max is Anthropic's top and
// OpenAI's xhigh).
func responsesReasoningEffort(t *anThinking, oc *anOutputConfig) (string, error) {
	if oc != nil {
		switch oc.Effort {
		case "xhigh", "max":
			return "xhigh", nil
		}
	}
	return anthropicReasoningEffort(t, oc)
}

// responsesTextConfig builds text: the output format (json_schema from
// output_config.format, json_object from x_openai) and the verbosity.
func responsesTextConfig(oc *anOutputConfig, x *rsReqXOpenAI) (*rsReqText, error) {
	var text rsReqText
	if oc != nil && oc.Format != nil {
		f := oc.Format
		if f.Type != "json_schema" || isNullRaw(f.Schema) {
			return nil, InvalidParam("output_config.format", "only json_schema output formats with a schema are supported")
		}
		// As for Chat: OpenAI refuses a strict schema outside its rules,
		// and Responses formats are strict unless told otherwise.
		strict := meetsOpenAIStrict(f.Schema)
		text.Format = &rsReqTextFormat{Type: "json_schema", Name: "response", Schema: f.Schema, Strict: &strict}
	} else if x.ResponseFormat == "json_object" {
		text.Format = &rsReqTextFormat{Type: "json_object"}
	}
	text.Verbosity = x.Verbosity
	if text.Format == nil && text.Verbosity == "" {
		return nil, nil
	}
	return &text, nil
}

// chatWebSearchOptionsTool turns Chat's web_search_options into the
// Responses web_search tool.
func chatWebSearchOptionsTool(raw jsonx.RawMessage) rsReqTool {
	var o struct {
		SearchContextSize string `json:"search_context_size"`
		UserLocation      *struct {
			Approximate *rsReqUserLocation `json:"approximate"`
		} `json:"user_location"`
	}
	_ = jsonx.Unmarshal(raw, &o)
	t := rsReqTool{Type: "web_search", SearchContextSize: o.SearchContextSize}
	if o.UserLocation != nil && o.UserLocation.Approximate != nil {
		loc := *o.UserLocation.Approximate
		loc.Type = "approximate"
		t.UserLocation = &loc
	}
	return t
}

// anthropicToolsToResponses converts client tools into function tools and
// the web search server tool into web_search; other server tools run on
// Anthropic's side only and are left out, as on the Chat path.
func anthropicToolsToResponses(tools []anTool) ([]rsReqTool, error) {
	out := make([]rsReqTool, 0, len(tools))
	for i, t := range tools {
		switch {
		case t.Type == "" || t.Type == "custom":
		case strings.HasPrefix(t.Type, "web_search_"):
			ws := rsReqTool{Type: "web_search", UserLocation: t.UserLocation}
			if len(t.AllowedDomains) > 0 {
				ws.Filters = &rsReqWebFilters{AllowedDomains: t.AllowedDomains}
			}
			out = append(out, ws)
			continue
		default:
			continue
		}
		if err := checkToolName(t.Name, fmt.Sprintf("tools[%d].name", i)); err != nil {
			return nil, err
		}
		params, err := normaliseToolSchema(t.InputSchema, fmt.Sprintf("tools[%d].input_schema", i))
		if err != nil {
			return nil, err
		}
		// Responses function tools are strict unless told otherwise, and
		// refuse a strict schema outside OpenAI's rules: strict is always
		// written, true only when asked for and possible.
		strict := t.Strict != nil && *t.Strict && meetsOpenAIStrict(params)
		out = append(out, rsReqTool{Type: "function", Name: t.Name, Description: t.Description, Parameters: params, Strict: &strict})
	}
	return out, nil
}

func anthropicToolChoiceToResponses(tc *anToolChoice) (jsonx.RawMessage, error) {
	switch tc.Type {
	case "auto":
		return jsonx.RawMessage(`"auto"`), nil
	case "any":
		return jsonx.RawMessage(`"required"`), nil
	case "none":
		return jsonx.RawMessage(`"none"`), nil
	case "tool":
		if tc.Name == "" {
			return nil, InvalidParam("tool_choice.name", "tool_choice of type tool needs a name")
		}
		b, err := jsonx.Marshal(rsReqToolChoiceObject{Type: "function", Name: tc.Name})
		if err != nil {
			return nil, Errorf(KindInternal, "encoding tool_choice: %v", err)
		}
		return b, nil
	}
	return nil, InvalidParam("tool_choice.type", "unknown tool_choice type %q", tc.Type)
}

// rsInputWriter accumulates the input array.
type rsInputWriter struct {
	b   []byte
	err error
}

func (w *rsInputWriter) add(v any) {
	if w.err != nil {
		return
	}
	item, err := jsonx.Marshal(v)
	if err != nil {
		w.err = Errorf(KindInternal, "encoding input item: %v", err)
		return
	}
	if len(w.b) == 0 {
		w.b = append(w.b, '[')
	} else {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, item...)
}

func (w *rsInputWriter) bytes() (jsonx.RawMessage, error) {
	if w.err != nil {
		return nil, w.err
	}
	if len(w.b) == 0 {
		return jsonx.RawMessage(`[]`), nil
	}
	return append(w.b, ']'), nil
}

// anthropicMessagesToResponsesInput turns the conversation into input
// items, keeping the order of blocks: tool results first in a user turn
// (they answer the previous turn), thinking as reasoning items carrying the
// block in encrypted_content, text as messages, tool_use as function_call.
func anthropicMessagesToResponsesInput(msgs []anMessage, summaries bool) (jsonx.RawMessage, error) {
	var w rsInputWriter
	for i, m := range msgs {
		param := fmt.Sprintf("messages[%d]", i)
		blocks, err := anthropicContentBlocks(m.Content, param+".content")
		if err != nil {
			return nil, err
		}
		switch m.Role {
		case "user":
			err = appendResponsesUserTurn(&w, blocks, param)
		case "assistant":
			err = appendResponsesAssistantTurn(&w, blocks, param, summaries)
		case "system":
			var text string
			text, err = anthropicSystemText(m.Content, param+".content")
			if err == nil && text != "" {
				w.add(rsInMessageOut{Type: "message", Role: "system", Content: jsonx.AppendString(nil, text)})
			}
		default:
			err = InvalidParam(param+".role", "unknown role %q", m.Role)
		}
		if err != nil {
			return nil, err
		}
	}
	return w.bytes()
}

func appendResponsesUserTurn(w *rsInputWriter, blocks []anBlock, param string) error {
	var parts []jsonx.RawMessage
	for j, b := range blocks {
		bp := fmt.Sprintf("%s.content[%d]", param, j)
		switch b.Type {
		case "tool_result":
			if b.ToolUseID == "" {
				return InvalidParam(bp+".tool_use_id", "tool_result blocks need a tool_use_id")
			}
			output, err := toolResultToResponsesOutput(b, bp)
			if err != nil {
				return err
			}
			w.add(rsInFunctionCallOutputOut{Type: "function_call_output", CallID: b.ToolUseID, Output: output})
		case "text":
			if b.Text != "" {
				parts = append(parts, rsTextPart("input_text", b.Text))
			}
		case "image", "document":
			p, err := mediaBlockToResponsesPart(b, bp)
			if err != nil {
				return err
			}
			parts = append(parts, p)
		case "thinking", "redacted_thinking":
		default:
			return InvalidParam(bp+".type", "content block type %q is not supported for OpenAI models", b.Type)
		}
	}
	if len(parts) > 0 {
		w.add(rsInMessageOut{Type: "message", Role: "user", Content: joinParts(parts)})
	}
	return nil
}

func appendResponsesAssistantTurn(w *rsInputWriter, blocks []anBlock, param string, summaries bool) error {
	var text []jsonx.RawMessage
	flush := func() {
		if len(text) > 0 {
			w.add(rsInMessageOut{Type: "message", Role: "assistant", Content: joinParts(text)})
			text = nil
		}
	}
	for j, b := range blocks {
		bp := fmt.Sprintf("%s.content[%d]", param, j)
		switch b.Type {
		case "text":
			if b.Text != "" {
				text = append(text, rsTextPart("output_text", b.Text))
			}
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return InvalidParam(bp, "tool_use blocks need an id and a name")
			}
			flush()
			w.add(rsInFunctionCallOut{Type: "function_call", CallID: b.ID, Name: b.Name, Arguments: inputToArguments(b.Input)})
		case "thinking", "redacted_thinking":
			if b.Type == "thinking" && b.Signature == "" {
				// Unsigned thinking is only the readable text of OpenAI
				// reasoning the gateway answered with; no model can
				// replay it, and OpenAI refuses encrypted content it did
				// not make.
				continue
			}
			flush()
			st := thinkingState{Type: b.Type, Signature: b.Signature, Data: b.Data}
			item := rsInReasoningOut{Type: "reasoning", Summary: []rsInSummary{}}
			if b.Thinking != nil {
				st.Thinking = *b.Thinking
				if summaries && st.Thinking != "" {
					item.Summary = []rsInSummary{{Type: "summary_text", Text: st.Thinking}}
				}
			}
			item.EncryptedContent = encodeThinkingState(st)
			if token, ok := openAIReasoningToken(b); ok {
				item.EncryptedContent = token
			}
			w.add(item)
		case "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result":
			// Run by Anthropic; no Responses input item stands for them.
		default:
			return InvalidParam(bp+".type", "content block type %q is not supported for OpenAI models", b.Type)
		}
	}
	flush()
	return nil
}

func rsTextPart(typ, s string) jsonx.RawMessage {
	b := append([]byte(`{"type":"`), typ...)
	b = append(b, `","text":`...)
	b = jsonx.AppendString(b, s)
	return append(b, '}')
}

func joinParts(parts []jsonx.RawMessage) jsonx.RawMessage {
	b := []byte{'['}
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p...)
	}
	return append(b, ']')
}

// mediaBlockToResponsesPart converts an image or document block: images
// become input_image parts (base64 as a data URL), PDFs input_file parts,
// plain-text documents input_text parts.
func mediaBlockToResponsesPart(b anBlock, param string) (jsonx.RawMessage, error) {
	s := b.Source
	if s == nil {
		return nil, InvalidParam(param+".source", "%s blocks need a source", b.Type)
	}
	if b.Type == "document" {
		name := b.Title
		if name == "" {
			name = "document.pdf"
		}
		switch {
		case s.Type == "base64" && s.MediaType == "application/pdf":
			return jsonx.Marshal(rsInPart{Type: "input_file", Filename: name, FileData: "data:application/pdf;base64," + s.Data})
		case s.Type == "url":
			return jsonx.Marshal(rsInPart{Type: "input_file", FileURL: s.URL})
		case s.Type == "text":
			return rsTextPart("input_text", s.Data), nil
		}
		return nil, InvalidParam(param+".source", "only PDF (base64 or URL) and text documents can be sent to OpenAI models")
	}
	switch s.Type {
	case "base64":
		return jsonx.Marshal(rsInPart{Type: "input_image", ImageURL: "data:" + s.MediaType + ";base64," + s.Data, Detail: "auto"})
	case "url":
		return jsonx.Marshal(rsInPart{Type: "input_image", ImageURL: s.URL, Detail: "auto"})
	}
	return nil, InvalidParam(param+".source.type", "image source type %q is not supported for OpenAI models", s.Type)
}

// toolResultToResponsesOutput converts a tool_result's content: a string
// when it is text only (the shape every client sends), otherwise an array
// of input parts, which function_call_output accepts, images included.
// is_error has no Responses field and becomes an "Error: " prefix, as on
// the Chat path.
func toolResultToResponsesOutput(b anBlock, param string) (jsonx.RawMessage, error) {
	inner, err := anthropicContentBlocks(b.Content, param+".content")
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	if b.IsError {
		sb.WriteString("Error: ")
	}
	var media []jsonx.RawMessage
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
			p, err := mediaBlockToResponsesPart(ib, fmt.Sprintf("%s.content[%d]", param, j))
			if err != nil {
				return nil, err
			}
			media = append(media, p)
		default:
			return nil, InvalidParam(fmt.Sprintf("%s.content[%d].type", param, j), "tool_result content type %q is not supported for OpenAI models", ib.Type)
		}
	}
	if len(media) == 0 {
		return jsonx.AppendString(nil, sb.String()), nil
	}
	parts := media
	if sb.Len() > 0 {
		parts = append([]jsonx.RawMessage{rsTextPart("input_text", sb.String())}, media...)
	}
	return joinParts(parts), nil
}

// openAIReasoningToken recognises a thinking block that carries reasoning
// made by OpenAI: its signature (or a redacted block's data) is OpenAI's
// encrypted_content, a Fernet token, whose base64url text always starts
// with "gAAAAA" (version byte 0x80 and a timestamp's zero high bytes).
// Such a token goes back to OpenAI as it came; OpenAI refuses encrypted
// content it did not make.
func openAIReasoningToken(b anBlock) (string, bool) {
	token := b.Signature
	if b.Type == "redacted_thinking" {
		token = b.Data
	}
	return token, strings.HasPrefix(token, "gAAAAA")
}
