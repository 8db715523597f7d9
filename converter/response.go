package converter

import (
	"bytes"
	"cmp"
	"errors"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

// ResponseOptions adjusts how an upstream answer is presented to the client.
type ResponseOptions struct {
	// Model is the model name to report to the client; "" keeps the
	// upstream's.
	Model string
	// Created is the Unix time reported in an OpenAI answer built from an
	// Anthropic one (which carries no timestamp); 0 reports 0. The converter
	// never reads the clock so that its output is reproducible.
	Created int64
	// ReasoningSummary reports that a Responses client asked for reasoning
	// summaries (reasoning.summary set, not "none"): thinking text is then
	// shown in a reasoning item's summary, otherwise the summary is empty.
	ReasoningSummary bool
	// Tools says, by Anthropic tool name, which tools of a Responses
	// client are not plain functions of the same name, so that their calls
	// come back as the client declared them (see ResponsesTool). Tools not
	// in it are answered as function_call.
	Tools map[string]ResponsesTool
	// FallbackID names an answer whose upstream sent no id, in the ids a
	// Responses answer is given (the request's id keeps it unique, which
	// matters where responses are stored by id); "" gives "gateway".
	FallbackID string
}

// TranslateResponse converts a non-streamed upstream answer (format from) to
// the client's format to and returns the usage it reports. When from == to
// the bytes are forwarded, with only the model patched when opts.Model is set,
// and the usage is still extracted. A pair of formats without a direct
// translation goes through the hub; the usage is the upstream's.
func TranslateResponse(from, to format.Format, body []byte, opts ResponseOptions) ([]byte, Usage, error) {
	if from == to {
		c := codecFor(from)
		if c == nil || c.forward == nil {
			return nil, Usage{}, noTranslation(from, to)
		}
		return c.forward(body, opts)
	}
	first, second, hops := route(from, to)
	if hops == 0 {
		return nil, Usage{}, noTranslation(from, to)
	}
	out, usage, err := first.response(body, opts)
	if err != nil || hops == 1 {
		return out, usage, err
	}
	out, _, err = second.response(out, opts)
	return out, usage, err
}

// anthropicToOpenAIResponse writes an Anthropic message as a chat.completion.
func anthropicToOpenAIResponse(body []byte, opts ResponseOptions) ([]byte, Usage, error) {
	var r anthropicResponse
	if err := decodeUpstream(body, &r); err != nil {
		return nil, Usage{}, badUpstreamBody(err)
	}
	return appendOpenAICompletion(make([]byte, 0, len(body)+256), &r, opts), r.Usage.gateway(), nil
}

// openAIToAnthropicResponse writes a chat.completion as an Anthropic message.
func openAIToAnthropicResponse(body []byte, opts ResponseOptions) ([]byte, Usage, error) {
	var r openAICompletion
	if err := decodeUpstream(body, &r); err != nil {
		return nil, Usage{}, badUpstreamBody(err)
	}
	return appendAnthropicMessage(make([]byte, 0, len(body)+256), &r, opts), r.Usage.gateway(), nil
}

func badUpstreamBody(err error) *Error {
	return Errorf(KindUpstreamUnavailable, "the upstream answer is not valid JSON: %v", err)
}

// usageReader decodes the usage object of an answer of one format.
type usageReader func(raw []byte) (Usage, error)

func openAIUsage(raw []byte) (Usage, error) {
	var usage *openAIResponseUsage
	err := decodeUpstream(raw, &usage)
	return usage.gateway(), err
}

func anthropicUsage(raw []byte) (Usage, error) {
	var usage anthropicResponseUsage
	err := decodeUpstream(raw, &usage)
	return usage.gateway(), err
}

// forwardResponse passes a same-format answer through untouched, except for
// the model name, and reads its usage with readUsage.
func forwardResponse(body []byte, opts ResponseOptions, readUsage usageReader) ([]byte, Usage, error) {
	// One pass of the scanner checks the answer and finds its usage, the
	// only member decoded: the rest is not built into values that would be
	// thrown away.
	var usage member
	found := false
	if _, err := walkTopObject(body, func(m member) error {
		if keyIs(body, m, "usage") {
			usage, found = m, true
		}
		return nil
	}); err != nil {
		if errors.Is(err, errNotObject) {
			return nil, Usage{}, Errorf(KindUpstreamUnavailable, "the upstream answer is not a JSON object")
		}
		return nil, Usage{}, badUpstreamBody(err)
	}
	var u Usage
	if found {
		var err error
		if u, err = readUsage(body[usage.valStart:usage.valEnd]); err != nil {
			return nil, Usage{}, badUpstreamBody(err)
		}
	}
	if opts.Model == "" {
		return body, u, nil
	}
	return replaceStringValue(make([]byte, 0, len(body)+len(opts.Model)), body, "model", opts.Model), u, nil
}

// appendOpenAICompletion writes an Anthropic answer as a chat.completion
// (docs/conversion.md, "Answers and streams"): text blocks concatenated, tool_use blocks as tool calls
// numbered by ordinal, thinking as reasoning_content plus thinking_blocks.
func appendOpenAICompletion(dst []byte, r *anthropicResponse, opts ResponseOptions) []byte {
	model := r.Model
	if opts.Model != "" {
		model = opts.Model
	}
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, r.ID)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = strconv.AppendInt(dst, opts.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = jsonx.AppendString(dst, model)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)

	var hasText, hasThinking, hasTools, hasBlocks bool
	for i := range r.Content {
		switch r.Content[i].Type {
		case "text":
			hasText = true
		case "thinking":
			hasThinking = true
			hasBlocks = true
		case "redacted_thinking":
			hasBlocks = true
		case "tool_use":
			hasTools = true
		}
	}
	// A refusal's text goes where OpenAI puts one: in refusal, with no
	// content.
	refused := r.StopReason == "refusal" && hasText
	if hasText && !refused {
		dst = appendContentText(dst, r)
	} else {
		dst = append(dst, "null"...)
	}
	if refused {
		dst = append(dst, `,"refusal":`...)
		dst = appendContentText(dst, r)
	} else {
		dst = append(dst, `,"refusal":null`...)
	}
	if hasThinking {
		dst = append(dst, `,"reasoning_content":"`...)
		for i := range r.Content {
			if r.Content[i].Type == "thinking" {
				dst = appendStringBody(dst, r.Content[i].Thinking)
			}
		}
		dst = append(dst, '"')
	}
	if hasBlocks {
		// The signatures must come back verbatim with the next request when
		// thinking is combined with tool use.
		dst = append(dst, `,"thinking_blocks":[`...)
		n := 0
		for i := range r.Content {
			b := &r.Content[i]
			if b.Type != "thinking" && b.Type != "redacted_thinking" {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = appendThinkingBlock(dst, b.Type, b.Thinking, b.Signature, b.Data)
		}
		dst = append(dst, ']')
	}
	if hasTools {
		dst = append(dst, `,"tool_calls":[`...)
		n := 0
		for i := range r.Content {
			b := &r.Content[i]
			if b.Type != "tool_use" {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `{"id":`...)
			dst = jsonx.AppendString(dst, b.ID)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = jsonx.AppendString(dst, b.Name)
			dst = append(dst, `,"arguments":`...)
			dst = appendArguments(dst, b.Input)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	finish := finishReasonFor(r.StopReason)
	if finish == "" {
		finish = "stop"
	}
	dst = jsonx.AppendString(dst, finish)
	dst = append(dst, `}],"usage":`...)
	var reasoning int64 = -1
	if d := r.Usage.OutputTokensDetails; d != nil {
		reasoning = d.ThinkingTokens
	}
	dst = appendOpenAIUsage(dst, r.Usage.gateway(), reasoning)
	return append(dst, '}')
}

// appendContentText writes the answer's text blocks as one JSON string.
// Envoy keeps only the first text block; every block is part of the answer,
// so they are concatenated.
func appendContentText(dst []byte, r *anthropicResponse) []byte {
	dst = append(dst, '"')
	for i := range r.Content {
		if r.Content[i].Type == "text" {
			dst = appendStringBody(dst, r.Content[i].Text)
		}
	}
	return append(dst, '"')
}

// appendThinkingBlock writes one entry of the thinking_blocks extension.
func appendThinkingBlock(dst []byte, typ, thinking, signature, data string) []byte {
	if typ == "redacted_thinking" {
		dst = append(dst, `{"type":"redacted_thinking","data":`...)
		dst = jsonx.AppendString(dst, data)
		return append(dst, '}')
	}
	dst = append(dst, `{"type":"thinking","thinking":`...)
	dst = jsonx.AppendString(dst, thinking)
	dst = append(dst, `,"signature":`...)
	dst = jsonx.AppendString(dst, signature)
	return append(dst, '}')
}

// appendArguments writes a tool_use input as an OpenAI arguments string.
// Clients JSON.parse it, so an absent, null or non-object input becomes "{}"
// (docs/conversion.md, "Answers and streams").
func appendArguments(dst []byte, input []byte) []byte {
	if !isJSONObject(input) {
		return append(dst, `"{}"`...)
	}
	dst = append(dst, '"')
	dst = appendStringBody(dst, string(input))
	return append(dst, '"')
}

// isJSONObject reports whether b holds one valid JSON object.
func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && jsonx.Valid(b)
}

// appendStringBody appends s escaped as the inside of a JSON string, so that
// several strings can be written as one.
func appendStringBody(dst []byte, s string) []byte {
	start := len(dst)
	dst = jsonx.AppendString(dst, s)
	copy(dst[start:], dst[start+1:len(dst)-1])
	return dst[:len(dst)-2]
}

// appendOpenAIUsage writes a usage object (docs/conversion.md, "Answers and streams"): prompt_tokens
// counts every input token, cached ones included. reasoning < 0 omits
// completion_tokens_details. The cache counts are also written as litellm's
// top-level extension fields when set, which keeps cache writes across a
// round trip.
func appendOpenAIUsage(dst []byte, u Usage, reasoning int64) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, u.InputTokens, 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, u.OutputTokens, 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, u.InputTokens+u.OutputTokens, 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, u.CacheReadTokens, 10)
	dst = append(dst, '}')
	if reasoning >= 0 {
		dst = append(dst, `,"completion_tokens_details":{"reasoning_tokens":`...)
		dst = strconv.AppendInt(dst, reasoning, 10)
		dst = append(dst, '}')
	}
	if u.CacheReadTokens > 0 {
		dst = append(dst, `,"cache_read_input_tokens":`...)
		dst = strconv.AppendInt(dst, u.CacheReadTokens, 10)
	}
	if u.CacheWriteTokens > 0 {
		dst = append(dst, `,"cache_creation_input_tokens":`...)
		dst = strconv.AppendInt(dst, u.CacheWriteTokens, 10)
	}
	return append(dst, '}')
}

// appendAnthropicUsage writes the usage of an answer or of message_delta
// (docs/conversion.md, "Answers and streams"): input_tokens excludes the cached tokens.
func appendAnthropicUsage(dst []byte, u Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, anthropicInputTokens(u), 10)
	if u.CacheWriteTokens > 0 {
		dst = append(dst, `,"cache_creation_input_tokens":`...)
		dst = strconv.AppendInt(dst, u.CacheWriteTokens, 10)
	}
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = strconv.AppendInt(dst, u.CacheReadTokens, 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, u.OutputTokens, 10)
	return append(dst, '}')
}

// anthropicInputTokens is the uncached part of the input, never negative even
// when an upstream reports more cached tokens than prompt tokens.
func anthropicInputTokens(u Usage) int64 {
	return max(u.InputTokens-u.CacheReadTokens-u.CacheWriteTokens, 0)
}

// finishReasonFor maps an Anthropic stop_reason to an OpenAI finish_reason
// (docs/conversion.md, "Answers and streams"); "" stays "" (not known yet) and unknown values are "stop".
func finishReasonFor(stop string) string {
	switch stop {
	case "":
		return ""
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn
		return "stop"
	}
}

// stopReasonFor maps an OpenAI finish_reason to an Anthropic stop_reason
// (docs/conversion.md, "Answers and streams"). OpenAI does not say which stop sequence matched, so
// "stop" is always end_turn.
func stopReasonFor(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	default:
		return "end_turn"
	}
}

// anthropicMessageID gives an OpenAI completion id the msg_ prefix some
// Anthropic clients expect: "chatcmpl-ABC" becomes "msg_ABC".
func anthropicMessageID(id string) string {
	if len(id) > 4 && id[:4] == "msg_" {
		return id
	}
	id, _ = strings.CutPrefix(id, "chatcmpl-")
	if id == "" {
		id = "gateway"
	}
	return "msg_" + anthropicToolID(id)
}

// responseToolID returns an OpenAI tool-call id usable as an Anthropic
// tool_use id, sanitized as the request side does (anthropicToolID) so the
// ids keep matching over a conversation. A missing id is made up from the
// call's ordinal so that the output stays deterministic.
func responseToolID(id string, ordinal int) string {
	if id == "" {
		return "toolu_" + strconv.Itoa(ordinal)
	}
	return anthropicToolID(id)
}

// appendAnthropicMessage writes an OpenAI answer as an Anthropic message
// (docs/conversion.md, "Answers and streams"): thinking, then text, then one tool_use per tool call.
func appendAnthropicMessage(dst []byte, r *openAICompletion, opts ResponseOptions) []byte {
	model := r.Model
	if opts.Model != "" {
		model = opts.Model
	}
	var msg openAICompletionMessage
	var finish string
	if len(r.Choices) > 0 {
		msg, finish = r.Choices[0].Message, r.Choices[0].FinishReason
	}
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, anthropicMessageID(r.ID))
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonx.AppendString(dst, model)
	dst = append(dst, `,"content":[`...)
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	if len(msg.ThinkingBlocks) > 0 {
		for _, b := range msg.ThinkingBlocks {
			if b.Type != "redacted_thinking" && b.Thinking == "" && b.Signature == "" {
				continue
			}
			sep()
			dst = appendThinkingBlock(dst, b.Type, b.Thinking, b.Signature, b.Data)
		}
	} else if rc := cmp.Or(msg.ReasoningContent, msg.Reasoning); rc != "" {
		sep()
		dst = appendThinkingBlock(dst, "thinking", rc, "", "")
	}
	text := completionText(msg.Content)
	if text == "" {
		text = msg.Refusal
	}
	if text != "" {
		sep()
		dst = append(dst, `{"type":"text","text":`...)
		dst = jsonx.AppendString(dst, text)
		dst = append(dst, '}')
	}
	tools := 0
	appendTool := func(id, name, args string) {
		sep()
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = jsonx.AppendString(dst, responseToolID(id, tools))
		dst = append(dst, `,"name":`...)
		dst = jsonx.AppendString(dst, name)
		dst = append(dst, `,"input":`...)
		// Empty or malformed arguments (cut off at max_tokens) become {}
		// (docs/conversion.md, "Answers and streams").
		if a := []byte(args); isJSONObject(a) {
			dst = append(dst, bytes.TrimSpace(a)...)
		} else {
			dst = append(dst, "{}"...)
		}
		dst = append(dst, '}')
		tools++
	}
	for _, tc := range msg.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue
		}
		appendTool(tc.ID, tc.Function.Name, tc.Function.Arguments)
	}
	if fc := msg.FunctionCall; fc != nil && len(msg.ToolCalls) == 0 {
		appendTool("", fc.Name, fc.Arguments)
	}
	stop := stopReasonFor(finish)
	// OpenAI reports a refusal in its own field and finishes with "stop";
	// Anthropic's clients look for stop_reason "refusal".
	if msg.Refusal != "" && completionText(msg.Content) == "" && stop == "end_turn" {
		stop = "refusal"
	}
	// Some compatible upstreams report "stop" with tool calls; the client
	// must still see tool_use to run them. A call cut off by the length limit
	// keeps max_tokens so that it is not run with incomplete input.
	if tools > 0 && stop != "max_tokens" {
		stop = "tool_use"
	}
	dst = append(dst, `],"stop_reason":`...)
	dst = jsonx.AppendString(dst, stop)
	dst = append(dst, `,"stop_sequence":null,"usage":`...)
	dst = appendAnthropicUsage(dst, r.Usage.gateway())
	return append(dst, '}')
}

// completionText returns a message's content: a string, or the text parts
// some compatible servers send, joined.
func completionText(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if decodeUpstream(raw, &s) == nil {
			return s
		}
	case '[':
		var parts []openAIResponseTextPart
		if decodeUpstream(raw, &parts) == nil {
			var sb strings.Builder
			for _, p := range parts {
				if p.Type == "text" {
					sb.WriteString(p.Text)
				}
			}
			return sb.String()
		}
	}
	return ""
}
