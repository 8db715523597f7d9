package converter

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Answers of the OpenAI Responses API ⇄ Anthropic messages (the hub), not
// streamed. The stream translators (responses_stream*.go) write the same
// items and response object through the appenders below, so that a streamed
// answer's response.completed equals the JSON answer of the same message.

// responsesIDs derives the ids of a response and of its output items from
// the Anthropic message id, so that the output is reproducible: message
// "msg_01AB" becomes response "resp_01AB" and items "rs_01AB_0",
// "msg_01AB_1", "fc_01AB_2" … numbered by output index.
type responsesIDs struct{ base string }

func newResponsesIDs(messageID, fallback string) responsesIDs {
	base, _ := strings.CutPrefix(messageID, "msg_")
	if base == "" {
		base = cmpModel(fallback, "gateway")
	}
	return responsesIDs{base: anthropicToolID(base)}
}

func (r responsesIDs) response() string { return "resp_" + r.base }

func (r responsesIDs) item(prefix string, outputIndex int) string {
	return prefix + "_" + r.base + "_" + strconv.Itoa(outputIndex)
}

// rsOutMeta is what the response object says besides its output items.
type rsOutMeta struct {
	id, model string
	created   int64
	// status is completed, incomplete, failed or in_progress.
	status string
	// incomplete is incomplete_details.reason when status is incomplete.
	incomplete string
	// errCode and errMsg fill the error object of a failed response.
	errCode, errMsg string
	// usage is written when set; in_progress responses have none.
	usage     *Usage
	reasoning int64 // output_tokens_details.reasoning_tokens
}

// appendResponseObject writes a response object around output, the already
// written items joined by commas. The members the OpenAI SDKs declare
// required are all present: what the gateway does not know of the request
// (instructions, tools, sampling) is written as the API's defaults.
func appendResponseObject(dst []byte, m *rsOutMeta, output []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, m.id)
	dst = append(dst, `,"object":"response","created_at":`...)
	dst = strconv.AppendInt(dst, m.created, 10)
	dst = append(dst, `,"status":`...)
	dst = jsonx.AppendString(dst, m.status)
	dst = append(dst, `,"error":`...)
	if m.status == "failed" {
		dst = append(dst, `{"code":`...)
		dst = jsonx.AppendString(dst, m.errCode)
		dst = append(dst, `,"message":`...)
		dst = jsonx.AppendString(dst, m.errMsg)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"incomplete_details":`...)
	if m.incomplete != "" {
		dst = append(dst, `{"reason":`...)
		dst = jsonx.AppendString(dst, m.incomplete)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"instructions":null,"max_output_tokens":null,"metadata":{},"model":`...)
	dst = jsonx.AppendString(dst, m.model)
	dst = append(dst, `,"output":[`...)
	dst = append(dst, output...)
	dst = append(dst, `],"parallel_tool_calls":true,"previous_response_id":null,"temperature":null,"tool_choice":"auto","tools":[],"top_p":null,"usage":`...)
	if m.usage == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendResponsesUsage(dst, *m.usage, m.reasoning)
	}
	return append(dst, '}')
}

// appendResponsesUsage writes a Responses usage object: input_tokens counts
// every input token, cached ones included, as the gateway's Usage does.
func appendResponsesUsage(dst []byte, u Usage, reasoning int64) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, u.InputTokens, 10)
	dst = append(dst, `,"input_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, u.CacheReadTokens, 10)
	dst = append(dst, `,"cache_write_tokens":`...)
	dst = strconv.AppendInt(dst, u.CacheWriteTokens, 10)
	dst = append(dst, `},"output_tokens":`...)
	dst = strconv.AppendInt(dst, u.OutputTokens, 10)
	dst = append(dst, `,"output_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, max(reasoning, 0), 10)
	dst = append(dst, `},"total_tokens":`...)
	dst = strconv.AppendInt(dst, u.InputTokens+u.OutputTokens, 10)
	return append(dst, '}')
}

// responsesStatus maps an Anthropic stop_reason to a response status and
// incomplete_details.reason.
func responsesStatus(stop string) (status, incomplete string) {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "incomplete", "max_output_tokens"
	case "refusal":
		return "incomplete", "content_filter"
	}
	return "completed", ""
}

// appendReasoningItem writes a reasoning item carrying an Anthropic thinking
// or redacted_thinking block. The block travels whole in encrypted_content
// (encodeThinkingState), which clients replay untouched; the thinking text
// is also shown as a summary when the client asked for summaries. state ""
// writes the item as announced by output_item.added, before its content is
// known.
func appendReasoningItem(dst []byte, id, summary string, withSummary bool, state string) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"reasoning","summary":[`...)
	if withSummary && summary != "" {
		dst = appendSummaryPart(dst, summary)
	}
	dst = append(dst, ']')
	if state != "" {
		dst = append(dst, `,"encrypted_content":`...)
		dst = jsonx.AppendString(dst, state)
	}
	return append(dst, '}')
}

func appendSummaryPart(dst []byte, text string) []byte {
	dst = append(dst, `{"type":"summary_text","text":`...)
	dst = jsonx.AppendString(dst, text)
	return append(dst, '}')
}

// appendMessageItemStart writes a message item up to its content parts.
func appendMessageItemStart(dst []byte, id, status string) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"message","status":`...)
	dst = jsonx.AppendString(dst, status)
	return append(dst, `,"content":[`...)
}

func appendMessageItemEnd(dst []byte) []byte {
	return append(dst, `],"role":"assistant"}`...)
}

// appendTextPart writes an output_text content part.
func appendTextPart(dst []byte, text string) []byte {
	dst = append(dst, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	dst = jsonx.AppendString(dst, text)
	return append(dst, '}')
}

// appendRefusalPart writes a refusal content part.
func appendRefusalPart(dst []byte, text string) []byte {
	dst = append(dst, `{"type":"refusal","refusal":`...)
	dst = jsonx.AppendString(dst, text)
	return append(dst, '}')
}

// appendFunctionCallItem writes a function_call item; args is the
// arguments string as it stands.
func appendFunctionCallItem(dst []byte, id, status, callID, name, args string) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"function_call","status":`...)
	dst = jsonx.AppendString(dst, status)
	dst = append(dst, `,"arguments":`...)
	dst = jsonx.AppendString(dst, args)
	dst = append(dst, `,"call_id":`...)
	dst = jsonx.AppendString(dst, callID)
	dst = append(dst, `,"name":`...)
	dst = jsonx.AppendString(dst, name)
	return append(dst, '}')
}

// appendCustomToolCallItem writes a custom_tool_call item.
func appendCustomToolCallItem(dst []byte, id, status, callID, name, input string) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"custom_tool_call","status":`...)
	dst = jsonx.AppendString(dst, status)
	dst = append(dst, `,"call_id":`...)
	dst = jsonx.AppendString(dst, callID)
	dst = append(dst, `,"input":`...)
	dst = jsonx.AppendString(dst, input)
	dst = append(dst, `,"name":`...)
	dst = jsonx.AppendString(dst, name)
	return append(dst, '}')
}

// ResponsesTool is how a Responses client declared a tool that reaches
// Anthropic under another shape (the request translator's choice, which the
// answer reverses).
type ResponsesTool struct {
	// Kind is ResponsesToolCustom, ResponsesToolLocalShell or
	// ResponsesToolNamespaced.
	Kind string
	// Namespace and Name are a namespaced function's own names.
	Namespace, Name string
}

// The kinds of ResponsesTool.
const (
	// ResponsesToolCustom is a custom (free-form) tool: the hub carries its
	// text as the tool_use input {"input": text}; the call is answered as a
	// custom_tool_call with that text.
	ResponsesToolCustom = "custom"
	// ResponsesToolLocalShell is the local_shell tool: the tool_use input is
	// the exec action; the call is answered as a local_shell_call.
	ResponsesToolLocalShell = "local_shell"
	// ResponsesToolNamespaced is a function of a namespace tool, whose
	// Anthropic name joins the two: the call is answered as a function_call
	// with the function's own name and its namespace.
	ResponsesToolNamespaced = "namespaced"
)

// appendLocalShellCallItem writes a local_shell_call item; action is the
// exec action as the tool_use input gave it.
func appendLocalShellCallItem(dst []byte, id, status, callID string, action []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"type":"local_shell_call","status":`...)
	dst = jsonx.AppendString(dst, status)
	dst = append(dst, `,"call_id":`...)
	dst = jsonx.AppendString(dst, callID)
	dst = append(dst, `,"action":`...)
	if action = bytes.TrimSpace(action); isJSONObject(action) {
		dst = append(dst, action...)
	} else {
		dst = append(dst, `{"type":"exec","command":[]}`...)
	}
	return append(dst, '}')
}

// appendToolCallItem writes the item that answers a tool_use of tool name
// with input (the whole JSON text; for a function, its arguments string).
func appendToolCallItem(dst []byte, ids responsesIDs, n int, tools map[string]ResponsesTool, status, callID, name string, input []byte) []byte {
	t := tools[name]
	switch t.Kind {
	case ResponsesToolCustom:
		return appendCustomToolCallItem(dst, ids.item("ctc", n), status, callID, name, customToolInput(input))
	case ResponsesToolLocalShell:
		return appendLocalShellCallItem(dst, ids.item("lsc", n), status, callID, input)
	}
	args := "{}"
	if isJSONObject(input) {
		args = string(bytes.TrimSpace(input))
	}
	if t.Kind == ResponsesToolNamespaced {
		return appendNamespacedCallItem(dst, ids.item("fc", n), status, callID, t, args)
	}
	return appendFunctionCallItem(dst, ids.item("fc", n), status, callID, name, args)
}

// appendNamespacedCallItem writes a function_call of a namespace's function.
func appendNamespacedCallItem(dst []byte, id, status, callID string, t ResponsesTool, args string) []byte {
	dst = appendFunctionCallItem(dst, id, status, callID, t.Name, args)
	dst = append(dst[:len(dst)-1], `,"namespace":`...)
	dst = jsonx.AppendString(dst, t.Namespace)
	return append(dst, '}')
}

// customToolInput returns the free-form input of a custom tool call from
// the tool_use input the hub carries it in, {"input": "…"}. Any other shape
// (a model that ignored the schema) is passed on as its JSON text, so that
// nothing the model wrote is lost.
func customToolInput(input []byte) string {
	input = bytes.TrimSpace(input)
	var v struct {
		Input *string `json:"input"`
	}
	if isJSONObject(input) && decodeUpstream(input, &v) == nil && v.Input != nil {
		return *v.Input
	}
	if len(input) == 0 || string(input) == "null" || isJSONObject(input) && isEmptyObject(input) {
		return ""
	}
	return string(input)
}

// anthropicToResponsesResponse converts an Anthropic message into a
// Responses API response object. Consecutive text blocks become the parts of
// one message item; thinking and redacted_thinking blocks become reasoning
// items; tool_use blocks become function_call items, or the item of the
// kind opts.Tools names (custom_tool_call, local_shell_call, a namespaced
// function_call). server_tool_use and server tool
// results ran on Anthropic's side and have no item the client could act
// on; they are left out.
func anthropicToResponsesResponse(body []byte, opts ResponseOptions) ([]byte, Usage, error) {
	var r anthropicResponse
	if err := decodeUpstream(body, &r); err != nil {
		return nil, Usage{}, badUpstreamBody(err)
	}
	ids := newResponsesIDs(r.ID, opts.FallbackID)
	refused := r.StopReason == "refusal"
	var out []byte
	n := 0         // output index of the next item
	inMsg := false // a message item is open
	closeMsg := func() {
		if inMsg {
			out = appendMessageItemEnd(out)
			inMsg = false
		}
	}
	sep := func() {
		if n > 0 {
			out = append(out, ',')
		}
	}
	parts := 0
	for i := range r.Content {
		b := &r.Content[i]
		switch b.Type {
		case "text":
			if !inMsg {
				sep()
				out = appendMessageItemStart(out, ids.item("msg", n), "completed")
				n++
				inMsg, parts = true, 0
			}
			if parts > 0 {
				out = append(out, ',')
			}
			parts++
			// A refusal's text goes where the Responses API puts one.
			if refused {
				out = appendRefusalPart(out, b.Text)
			} else {
				out = appendTextPart(out, b.Text)
			}
		case "thinking", "redacted_thinking":
			closeMsg()
			sep()
			st := thinkingState{Type: b.Type, Thinking: b.Thinking, Signature: b.Signature, Data: b.Data}
			out = appendReasoningItem(out, ids.item("rs", n), b.Thinking, opts.ReasoningSummary, encodeThinkingState(st))
			n++
		case "tool_use":
			closeMsg()
			sep()
			out = appendToolCallItem(out, ids, n, opts.Tools, "completed", b.ID, b.Name, b.Input)
			n++
		}
	}
	closeMsg()
	u := r.Usage.gateway()
	m := rsOutMeta{id: ids.response(), model: cmpModel(opts.Model, r.Model), created: opts.Created, usage: &u, reasoning: -1}
	m.status, m.incomplete = responsesStatus(r.StopReason)
	if d := r.Usage.OutputTokensDetails; d != nil {
		m.reasoning = d.ThinkingTokens
	}
	dst := make([]byte, 0, len(out)+640)
	return appendResponseObject(dst, &m, out), u, nil
}

// responsesToAnthropicResponse converts a Responses API response object into
// an Anthropic message (see docs/conversion.md, "Responses answers and
// streams"). A failed response is an upstream error.
func responsesToAnthropicResponse(body []byte, opts ResponseOptions) ([]byte, Usage, error) {
	var r rsOutResponse
	if err := decodeUpstream(body, &r); err != nil {
		return nil, Usage{}, badUpstreamBody(err)
	}
	if r.Status == "failed" || r.Error != nil && rawText(r.Error.Message) != "" {
		return nil, Usage{}, responsesFailure(r.Error)
	}
	u := r.Usage.gateway()
	dst := make([]byte, 0, len(body)+128)
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, anthropicMessageIDFromResponse(r.ID, opts.FallbackID))
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonx.AppendString(dst, cmpModel(opts.Model, r.Model))
	dst = append(dst, `,"content":[`...)
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	tools, refusal := 0, false
	for i := range r.Output {
		it := &r.Output[i]
		switch it.Type {
		case "reasoning":
			if st, ok := decodeThinkingState(it.EncryptedContent); ok {
				sep()
				dst = appendThinkingBlock(dst, st.Type, st.Thinking, st.Signature, st.Data)
				continue
			}
			if text := reasoningText(it); text != "" {
				sep()
				dst = appendThinkingBlock(dst, "thinking", text, "", "")
			}
		case "message":
			for _, p := range it.Content {
				text := p.Text
				if p.Type == "refusal" {
					text, refusal = p.Refusal, true
				} else if p.Type != "output_text" {
					continue
				}
				if text == "" {
					continue // Anthropic refuses empty text blocks
				}
				sep()
				dst = append(dst, `{"type":"text","text":`...)
				dst = jsonx.AppendString(dst, text)
				dst = append(dst, '}')
			}
		case "function_call", "custom_tool_call", "local_shell_call":
			sep()
			dst = append(dst, `{"type":"tool_use","id":`...)
			dst = jsonx.AppendString(dst, responseToolID(cmpModel(it.CallID, it.ID), tools))
			dst = append(dst, `,"name":`...)
			dst = jsonx.AppendString(dst, hubToolName(it))
			dst = append(dst, `,"input":`...)
			switch it.Type {
			case "custom_tool_call":
				dst = append(dst, `{"input":`...)
				dst = jsonx.AppendString(dst, it.Input)
				dst = append(dst, '}')
			case "local_shell_call":
				dst = appendToolInput(dst, string(it.Action))
			default:
				dst = appendToolInput(dst, rawText(it.Arguments))
			}
			dst = append(dst, '}')
			tools++
		}
	}
	dst = append(dst, `],"stop_reason":`...)
	dst = jsonx.AppendString(dst, anthropicStopFromResponses(r.Status, incompleteReason(r.IncompleteDetails), tools > 0, refusal))
	dst = append(dst, `,"stop_sequence":null,"usage":`...)
	dst = appendAnthropicUsage(dst, u)
	return append(dst, '}'), u, nil
}

// hubToolName is the Anthropic name of the tool an item calls, as the
// request side names such tools: local_shell for a local_shell_call, and a
// namespace's function under its joined name.
func hubToolName(it *rsOutItem) string {
	if it.Type == "local_shell_call" {
		return localShellToolName
	}
	return namespacedToolName(it.Namespace, it.Name)
}

// appendToolInput writes function_call arguments as a tool_use input:
// empty or malformed arguments (cut off by the output limit) become {}
// (CONVERSION §7.4).
func appendToolInput(dst []byte, args string) []byte {
	if a := []byte(args); isJSONObject(a) {
		return append(dst, bytes.TrimSpace(a)...)
	}
	return append(dst, "{}"...)
}

// reasoningText is the readable text of a reasoning item that does not
// carry an Anthropic block: its summaries, or else its reasoning_text
// content, joined by blank lines. OpenAI's own encrypted_content can be
// replayed only to OpenAI and an Anthropic client has nowhere to keep it, so
// it is not carried.
func reasoningText(it *rsOutItem) string {
	var sb strings.Builder
	add := func(parts []rsOutPart, typ string) {
		for _, p := range parts {
			if p.Type != typ || p.Text == "" {
				continue
			}
			if sb.Len() > 0 {
				sb.WriteString("\n\n")
			}
			sb.WriteString(p.Text)
		}
	}
	add(it.Summary, "summary_text")
	if sb.Len() == 0 {
		add(it.Content, "reasoning_text")
	}
	return sb.String()
}

func incompleteReason(d *rsOutIncomplete) string {
	if d == nil {
		return ""
	}
	return d.Reason
}

// anthropicStopFromResponses maps a response's status to a stop_reason:
// incomplete for the output limit is max_tokens (a tool call cut there keeps
// it, so that it is not run with incomplete input), for the content filter
// refusal; tool calls are tool_use.
func anthropicStopFromResponses(status, incomplete string, tools, refusal bool) string {
	if status == "incomplete" {
		switch incomplete {
		case "content_filter":
			return "refusal"
		default: // max_output_tokens, and reasons added later
			return "max_tokens"
		}
	}
	switch {
	case tools:
		return "tool_use"
	case refusal:
		return "refusal"
	}
	return "end_turn"
}

// anthropicMessageIDFromResponse gives a response id the msg_ prefix:
// "resp_ABC" becomes "msg_ABC"; a missing id is made of fallback.
func anthropicMessageIDFromResponse(id, fallback string) string {
	id, _ = strings.CutPrefix(id, "resp_")
	if id == "" {
		id = cmpModel(fallback, "gateway")
	}
	return "msg_" + anthropicToolID(id)
}

// forwardResponsesResponse passes a Responses answer through untouched,
// except for the model name when opts.Model is set, and reads its usage.
func forwardResponsesResponse(body []byte, opts ResponseOptions) ([]byte, Usage, error) {
	var usage member
	found := false
	if _, err := walkTopObject(body, func(m member) error {
		if keyIs(body, m, "usage") {
			usage, found = m, true
		}
		return nil
	}); err != nil {
		return nil, Usage{}, badUpstreamBody(err)
	}
	var u Usage
	if found {
		var ru *rsOutUsage
		if err := decodeUpstream(body[usage.valStart:usage.valEnd], &ru); err != nil {
			return nil, Usage{}, badUpstreamBody(err)
		}
		u = ru.gateway()
	}
	if opts.Model == "" {
		return body, u, nil
	}
	return replaceStringValue(make([]byte, 0, len(body)+len(opts.Model)), body, "model", opts.Model), u, nil
}
