package converter

import (
	"bytes"
	"cmp"
	"strconv"

	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/converter/sse"
)

// OpenAI chunks → Anthropic events (docs/conversion.md, "Answers and
// streams").
//
// Anthropic content blocks are strictly sequential: one block is open at a
// time and no delta may follow its content_block_stop. OpenAI streams tool
// calls keyed by index, and although OpenAI itself sends them one after the
// other, compatible servers may interleave the fragments of parallel calls,
// or text, with an unfinished call. The machine therefore closes a tool block
// only once its arguments form a complete JSON object (or at the end). When
// anything else arrives while the open call is incomplete, it switches to
// buffered mode: from then on new content is queued and emitted at the end,
// each queued block whole (start, one delta, stop), while the open call keeps
// streaming. A fragment for a call whose block is closed can then only follow
// complete arguments; it would make them invalid and is dropped.

// o2aStream translates an OpenAI Chat stream for an Anthropic client.
type o2aStream struct {
	streamBase
	o2a o2aState
	// och is the decoding target, reused for every chunk.
	och openAIChunkBody
}

func newO2AStream(opts StreamOptions) *o2aStream {
	s := &o2aStream{streamBase: streamBase{opts: opts}}
	s.o2a.open = -1
	return s
}

func (s *o2aStream) event(dst []byte, ev sse.Event) ([]byte, error) {
	return s.openAIToAnthropic(dst, ev)
}

// close ends the client's stream at upstream EOF.
func (s *o2aStream) close(dst []byte) []byte {
	dst = s.o2aClose(dst, true)
	s.ended = true
	return dst
}

func (s *o2aStream) fail(dst []byte, e *Error) []byte {
	s.ended = true
	return appendAnthropicStreamError(dst, e)
}

func (s *o2aStream) sawFinish() bool { return s.o2a.finish != "" }

// o2aState is the OpenAI → Anthropic machine's state.
type o2aState struct {
	started  bool
	closed   bool
	buffered bool
	next     int  // next block index
	open     int  // open block index, -1 when none
	openKind byte // kind of the open block: 't' text, 'k' thinking, 'u' tool_use
	openTool int  // tools index of the open tool_use block
	tools    []o2aTool
	queue    []o2aItem
	finish   string // finish_reason, held until the usage chunk or [DONE]
	refused  bool   // the answer came as a refusal
}

// o2aTool is one streamed tool call.
type o2aTool struct {
	key      int // the upstream's tool_calls index
	id, name string
	args     []byte
	state    byte // 'l' streaming in the open block, 'p' queued, 'c' closed
}

// o2aItem is a block queued in buffered mode.
type o2aItem struct {
	kind      byte // 't' text, 'k' thinking, 'r' redacted thinking, 'u' tool_use
	text      []byte
	signature []byte
	tool      int // tools index for 'u'
}

func (s *o2aStream) openAIToAnthropic(dst []byte, ev sse.Event) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return dst, nil // comments and keep-alives
	}
	st := &s.o2a
	if string(data) == "[DONE]" {
		if !st.started {
			dst = s.o2aStart(dst, "", "")
		}
		dst = s.o2aClose(dst, false)
		s.ended = true
		return dst, nil
	}
	// The first chunk also gives the id and model; later ones are decoded
	// without them, saving two string allocations per event.
	body := &s.och
	if !st.started {
		var head openAIChunkHead
		head.Choices[0].Index = -1
		if err := decodeUpstream(data, &head); err != nil {
			return dst, malformed(err)
		}
		*body = head.openAIChunkBody
		if body.Error == nil {
			dst = s.o2aStart(dst, head.ID, head.Model)
		}
	} else {
		*body = openAIChunkBody{}
		body.Choices[0].Index = -1
		if err := decodeUpstream(data, body); err != nil {
			return dst, malformed(err)
		}
	}
	if body.Error != nil {
		return s.o2aError(dst, body.Error), nil
	}
	if body.Usage != nil {
		s.tokens = body.Usage.gateway()
	}
	hasChoice := !emptyChoices(data)
	if ch := &body.Choices[0]; hasChoice && ch.Index <= 0 {
		// Index -1: a server that omits the index. Only choice 0 is
		// translated (n>1 is refused on the request side). Content first,
		// then the finish reason, for servers that send both in one chunk.
		var err error
		if dst, err = s.o2aDelta(dst, &ch.Delta); err != nil {
			return dst, err
		}
		if ch.FinishReason != "" {
			st.finish = ch.FinishReason
		}
	}
	// The usage chunk follows the finish reason: the answer is complete.
	if !hasChoice && body.Usage != nil && st.finish != "" {
		dst = s.o2aClose(dst, false)
		s.ended = true
	}
	return dst, nil
}

func (s *o2aStream) o2aDelta(dst []byte, d *openAIChunkDelta) ([]byte, error) {
	reasoning := cmp.Or(d.ReasoningContent, d.Reasoning)
	if reasoning != "" {
		dst = s.o2aThinking(dst, reasoning, "")
	}
	for i := range d.ThinkingBlocks {
		b := &d.ThinkingBlocks[i]
		if b.Type == "redacted_thinking" {
			dst = s.o2aRedacted(dst, b.Data)
			continue
		}
		text := b.Thinking
		if reasoning != "" {
			text = "" // litellm repeats reasoning_content in thinking_blocks
		}
		if text != "" || b.Signature != "" {
			dst = s.o2aThinking(dst, text, b.Signature)
		}
	}
	// Blank deltas never open a block.
	if d.Content != "" {
		dst = s.o2aText(dst, d.Content)
	}
	if d.Refusal != "" {
		s.o2a.refused = true
		dst = s.o2aText(dst, d.Refusal)
	}
	for i := range d.ToolCalls {
		var err error
		if dst, err = s.o2aToolCall(dst, &d.ToolCalls[i]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// canStream reports whether a new block may be emitted now, switching to
// buffered mode when the open tool call's arguments are incomplete.
func (s *o2aStream) canStream() bool {
	st := &s.o2a
	if st.buffered {
		return false
	}
	if st.open >= 0 && st.openKind == 'u' && !isJSONObject(st.tools[st.openTool].args) {
		st.buffered = true
		return false
	}
	return true
}

func (s *o2aStream) o2aText(dst []byte, text string) []byte {
	st := &s.o2a
	if st.open >= 0 && st.openKind == 't' && !st.buffered {
		return appendTextDelta(dst, st.open, "text_delta", "text", text)
	}
	if !s.canStream() {
		st.enqueue('t', text, "")
		return dst
	}
	dst = s.o2aCloseOpen(dst)
	dst = s.o2aStartBlock(dst, 't', `{"type":"text","text":""}`)
	return appendTextDelta(dst, st.open, "text_delta", "text", text)
}

func (s *o2aStream) o2aThinking(dst []byte, text, signature string) []byte {
	st := &s.o2a
	if !(st.open >= 0 && st.openKind == 'k' && !st.buffered) {
		if !s.canStream() {
			st.enqueue('k', text, signature)
			return dst
		}
		dst = s.o2aCloseOpen(dst)
		dst = s.o2aStartBlock(dst, 'k', `{"type":"thinking","thinking":"","signature":""}`)
	}
	if text != "" {
		dst = appendTextDelta(dst, st.open, "thinking_delta", "thinking", text)
	}
	if signature != "" {
		dst = appendTextDelta(dst, st.open, "signature_delta", "signature", signature)
	}
	return dst
}

func (s *o2aStream) o2aRedacted(dst []byte, data string) []byte {
	st := &s.o2a
	if !s.canStream() {
		st.enqueue('r', data, "")
		return dst
	}
	dst = s.o2aCloseOpen(dst)
	return s.o2aWholeRedacted(dst, data)
}

func (s *o2aStream) o2aWholeRedacted(dst []byte, data string) []byte {
	st := &s.o2a
	dst = appendBlockStartHead(dst, st.next)
	dst = append(dst, `{"type":"redacted_thinking","data":`...)
	dst = jsonx.AppendString(dst, data)
	dst = append(dst, "}}\n\n"...)
	dst = appendBlockStop(dst, st.next)
	st.next++
	return dst
}

func (s *o2aStream) o2aToolCall(dst []byte, tc *openAIChunkToolCall) ([]byte, error) {
	st := &s.o2a
	ti := -1
	for i := len(st.tools) - 1; i >= 0; i-- {
		if st.tools[i].key == tc.Index {
			ti = i
			break
		}
	}
	// Some compatible servers send every parallel call with index 0: a new
	// id under a known index is a new call.
	if ti >= 0 && tc.ID != "" && st.tools[ti].id != "" && tc.ID != st.tools[ti].id {
		ti = -1
	}
	if ti < 0 {
		if len(st.tools) >= maxBlocks {
			return dst, malformed(errString("too many tool calls"))
		}
		st.tools = append(st.tools, o2aTool{key: tc.Index, id: tc.ID, name: tc.Function.Name})
		ti = len(st.tools) - 1
		if s.canStream() {
			dst = s.o2aCloseOpen(dst)
			dst = s.o2aStartTool(dst, ti)
			st.openTool = ti
			st.tools[ti].state = 'l'
		} else {
			st.tools[ti].state = 'p'
			st.queue = append(st.queue, o2aItem{kind: 'u', tool: ti})
		}
	} else {
		t := &st.tools[ti]
		if t.id == "" {
			t.id = tc.ID
		}
		if t.name == "" {
			t.name = tc.Function.Name
		}
	}
	t := &st.tools[ti]
	args := tc.Function.Arguments
	if args == "" {
		return dst, nil
	}
	switch t.state {
	case 'l':
		t.args = append(t.args, args...)
		dst = appendTextDelta(dst, st.open, "input_json_delta", "partial_json", args)
	case 'p':
		t.args = append(t.args, args...)
	}
	return dst, nil
}

// enqueue queues content in buffered mode, merging it into the last queued
// block of the same kind.
func (st *o2aState) enqueue(kind byte, text, signature string) {
	if n := len(st.queue); n > 0 && kind != 'r' && st.queue[n-1].kind == kind && len(st.queue[n-1].signature) == 0 {
		st.queue[n-1].text = append(st.queue[n-1].text, text...)
		st.queue[n-1].signature = append(st.queue[n-1].signature, signature...)
		return
	}
	st.queue = append(st.queue, o2aItem{kind: kind, text: []byte(text), signature: []byte(signature)})
}

func (s *o2aStream) o2aStart(dst []byte, id, model string) []byte {
	s.o2a.started = true
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	dst = jsonx.AppendString(dst, anthropicMessageID(id))
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonx.AppendString(dst, cmpModel(s.opts.Model, model))
	// The input is unknown until the usage chunk; message_delta carries it.
	return append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`+"\n\n"...)
}

func (s *o2aStream) o2aStartBlock(dst []byte, kind byte, block string) []byte {
	st := &s.o2a
	st.open, st.openKind = st.next, kind
	st.next++
	dst = appendBlockStartHead(dst, st.open)
	dst = append(dst, block...)
	return append(dst, "}\n\n"...)
}

func (s *o2aStream) o2aStartTool(dst []byte, ti int) []byte {
	st := &s.o2a
	t := &st.tools[ti]
	st.open, st.openKind = st.next, 'u'
	st.next++
	dst = appendBlockStartHead(dst, st.open)
	dst = append(dst, `{"type":"tool_use","id":`...)
	dst = jsonx.AppendString(dst, responseToolID(t.id, ti))
	dst = append(dst, `,"name":`...)
	dst = jsonx.AppendString(dst, t.name)
	return append(dst, `,"input":{}}}`+"\n\n"...)
}

func (s *o2aStream) o2aCloseOpen(dst []byte) []byte {
	st := &s.o2a
	if st.open < 0 {
		return dst
	}
	if st.openKind == 'u' {
		st.tools[st.openTool].state = 'c'
	}
	dst = appendBlockStop(dst, st.open)
	st.open, st.openKind = -1, 0
	return dst
}

// o2aClose ends the client's stream (§4.4 step 7): the open block, the
// queued blocks, message_delta with the stop reason and usage, message_stop.
// At EOF (eof set) without a finish reason the answer was cut: max_tokens.
func (s *o2aStream) o2aClose(dst []byte, eof bool) []byte {
	st := &s.o2a
	if st.closed {
		return dst
	}
	st.closed = true
	dst = s.o2aCloseOpen(dst)
	for i := range st.queue {
		q := &st.queue[i]
		switch q.kind {
		case 't':
			dst = s.o2aStartBlock(dst, 't', `{"type":"text","text":""}`)
			dst = appendTextDelta(dst, st.open, "text_delta", "text", string(q.text))
		case 'k':
			dst = s.o2aStartBlock(dst, 'k', `{"type":"thinking","thinking":"","signature":""}`)
			if len(q.text) > 0 {
				dst = appendTextDelta(dst, st.open, "thinking_delta", "thinking", string(q.text))
			}
			if len(q.signature) > 0 {
				dst = appendTextDelta(dst, st.open, "signature_delta", "signature", string(q.signature))
			}
		case 'r':
			dst = s.o2aWholeRedacted(dst, string(q.text))
			continue
		case 'u':
			dst = s.o2aStartTool(dst, q.tool)
			st.openTool = q.tool
			// Arguments that are not a complete object (cut off by the length
			// limit) are left out: the input stays {} (docs/conversion.md, "Answers and streams").
			if args := st.tools[q.tool].args; isJSONObject(args) {
				dst = appendTextDelta(dst, st.open, "input_json_delta", "partial_json", string(bytes.TrimSpace(args)))
			}
		}
		dst = s.o2aCloseOpen(dst)
	}
	stop := "end_turn"
	switch {
	case st.finish != "":
		stop = stopReasonFor(st.finish)
	case eof:
		stop = "max_tokens"
	}
	if st.refused && stop == "end_turn" {
		stop = "refusal"
	}
	if len(st.tools) > 0 && stop != "max_tokens" {
		stop = "tool_use"
	}
	dst = appendMessageDelta(dst, stop, s.tokens)
	return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// o2aError turns an upstream error payload into an Anthropic error event;
// the stream ends with it.
func (s *o2aStream) o2aError(dst []byte, e *openAIStreamError) []byte {
	s.ended = true
	dst = append(dst, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"...)
	dst = jsonx.AppendString(dst, anthropicStreamErrorType(e.Type))
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, cmp.Or(e.Message, "the upstream reported an error"))
	return append(dst, "}}\n\n"...)
}

// anthropicStreamErrorType names an OpenAI error type the way Anthropic
// does, so that an Anthropic client can tell a refused request or a rate
// limit from a failure of the upstream even after the stream has started.
// OpenAI reports rate limits with the limit's kind as the type.
func anthropicStreamErrorType(openAIType string) string {
	switch openAIType {
	case "invalid_request_error":
		return "invalid_request_error"
	case "rate_limit_error", "rate_limit_exceeded", "requests", "tokens", "insufficient_quota":
		return "rate_limit_error"
	}
	return "api_error"
}

func appendBlockStartHead(dst []byte, index int) []byte {
	dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	return append(dst, `,"content_block":`...)
}

func appendBlockStop(dst []byte, index int) []byte {
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	return append(dst, "}\n\n"...)
}

// appendTextDelta writes a content_block_delta whose delta has one string
// field: text_delta/text, thinking_delta/thinking, signature_delta/signature
// or input_json_delta/partial_json.
func appendTextDelta(dst []byte, index int, typ, field, value string) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, `,"delta":{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","`...)
	dst = append(dst, field...)
	dst = append(dst, `":`...)
	dst = jsonx.AppendString(dst, value)
	return append(dst, "}}\n\n"...)
}

func appendMessageDelta(dst []byte, stop string, u Usage) []byte {
	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"...)
	dst = jsonx.AppendString(dst, stop)
	dst = append(dst, `,"stop_sequence":null},"usage":`...)
	dst = appendAnthropicUsage(dst, u)
	return append(dst, "}\n\n"...)
}

// emptyChoices reports whether a chunk has no choice: "choices":[] (the
// usage chunk) or no choices member at all. The key cannot occur inside a
// string, where its quotes would be escaped.
func emptyChoices(data []byte) bool {
	const key = `"choices"`
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return true
	}
	i = skipSpace(data, i+len(key))
	if i >= len(data) || data[i] != ':' {
		return true
	}
	i = skipSpace(data, i+1)
	if i >= len(data) || data[i] != '[' {
		return true
	}
	i = skipSpace(data, i+1)
	return i < len(data) && data[i] == ']'
}
