package converter

import (
	"strconv"

	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/converter/sse"
)

// Anthropic events → Responses API events. The client sees the full event
// grammar: response.created and response.in_progress, then for every output
// item output_item.added, its content events and output_item.done, and last
// response.completed or response.incomplete with the whole response object.
// Every event carries a sequence_number counting from 0.

// rsA2RStream translates an Anthropic stream for a Responses client.
type rsA2RStream struct {
	opts     StreamOptions
	ids      responsesIDs
	model    string
	seq      int64
	started  bool   // response.created was written
	finished bool   // the terminal event was written
	stop     string // stop_reason from message_delta
	tokens   Usage
	// closing is the status of the items finished from now on: completed,
	// or incomplete for those still open when an answer cut off ends.
	closing string

	blocks []rsA2RBlock // by Anthropic block index
	nItems int          // output items announced so far
	output []byte       // the finished items, comma-separated
	msg    rsA2RMessage // the message item that collects text blocks

	ev anthropicStreamEvent
}

// rsA2RBlock is what the machine remembers of one Anthropic content block.
type rsA2RBlock struct {
	// kind is 't' text, 'k' thinking, 'u' function call, 'c' custom tool
	// call, 'l' local shell call, 0 other.
	kind byte
	open bool
	out  int    // output index of the item the block belongs to
	part int    // content index of a text block in its message
	id   string // item id
	// callID, name and namespace are a tool call's, as the client names
	// it.
	callID, name, namespace string
	// text is the block's text so far: text, thinking, or tool arguments.
	text    []byte
	sig     string
	summary bool // a reasoning summary part was opened
}

// rsA2RMessage is the message item that consecutive text blocks share, one
// output_text part each.
type rsA2RMessage struct {
	open    bool
	out     int
	id      string
	parts   int
	content []byte // the finished parts, comma-separated
}

var _ eventTranslator = (*rsA2RStream)(nil)

// newAnthropicToResponsesStream returns the Anthropic → Responses stream
// translator.
func newAnthropicToResponsesStream(opts StreamOptions) *rsA2RStream {
	return &rsA2RStream{opts: opts, ids: newResponsesIDs("", opts.FallbackID), closing: "completed"}
}

func (s *rsA2RStream) sawFinish() bool { return s.stop != "" }
func (s *rsA2RStream) usage() Usage    { return s.tokens }
func (s *rsA2RStream) done() bool      { return s.finished }

func (s *rsA2RStream) event(dst []byte, ev sse.Event) ([]byte, error) {
	if s.finished || len(ev.Data) == 0 {
		return dst, nil // comments; pings carry nothing either
	}
	s.ev.reset()
	if err := decodeUpstream(ev.Data, &s.ev); err != nil {
		return dst, malformed(err)
	}
	e := &s.ev
	switch e.Type {
	case "error":
		typ, msg := "api_error", "the upstream reported an error"
		if e.Error != nil {
			typ, msg = cmpModel(e.Error.Type, typ), cmpModel(e.Error.Message, msg)
		}
		return s.failed(dst, responsesCodeForAnthropic(typ, msg), msg), nil
	case "ping":
		return dst, nil
	case "message_start":
		if e.Message != nil && !s.started {
			s.ids = newResponsesIDs(e.Message.ID, s.opts.FallbackID)
			s.model = e.Message.Model
			applyAnthropicStreamUsage(&s.tokens, messageStartUsage(e.Message.Usage))
		}
		return s.start(dst), nil
	}
	dst = s.start(dst)
	switch e.Type {
	case "content_block_start":
		if e.Index < 0 || e.Index >= maxBlocks {
			return dst, malformed(errString("content block index " + strconv.Itoa(e.Index) + " out of range"))
		}
		if e.ContentBlock == nil {
			return dst, malformed(errString("content_block_start without content_block"))
		}
		return s.blockStart(dst, e.Index, e.ContentBlock), nil
	case "content_block_delta":
		if e.Index >= 0 && e.Index < len(s.blocks) && s.blocks[e.Index].open {
			dst = s.blockDelta(dst, &s.blocks[e.Index], &e.Delta)
		}
	case "content_block_stop":
		if e.Index >= 0 && e.Index < len(s.blocks) {
			dst = s.blockStop(dst, &s.blocks[e.Index])
		}
	case "message_delta":
		if e.Delta.StopReason != "" {
			s.stop = e.Delta.StopReason
		}
		applyAnthropicStreamUsage(&s.tokens, e.Usage)
	case "message_stop":
		if s.stop == "" {
			// A message_stop without a stop reason still ends the answer as
			// the upstream meant it; end_turn is what it implies.
			s.stop = "end_turn"
		}
		dst = s.finish(dst)
	}
	return dst, nil
}

// close ends the client's stream at upstream EOF after a stop reason:
// blocks left open (the upstream cut the stream after message_delta) are
// finished first.
func (s *rsA2RStream) close(dst []byte) []byte {
	if s.finished {
		return dst
	}
	return s.finish(s.start(dst))
}

// fail ends the client's stream with response.failed for e.
func (s *rsA2RStream) fail(dst []byte, e *Error) []byte {
	if s.finished {
		return dst
	}
	return s.failed(dst, responsesErrorCode(e), e.Message)
}

// failed writes response.failed with the items finished so far.
func (s *rsA2RStream) failed(dst []byte, code, message string) []byte {
	s.finished = true
	m := s.meta("failed")
	m.errCode, m.errMsg = code, message
	u := s.tokens
	m.usage = &u
	dst = s.begin(dst, "response.failed")
	dst = append(dst, `,"response":`...)
	dst = appendResponseObject(dst, &m, s.output)
	return end(dst)
}

func (s *rsA2RStream) meta(status string) rsOutMeta {
	return rsOutMeta{id: s.ids.response(), model: cmpModel(s.opts.Model, s.model), created: s.opts.Created, status: status, reasoning: -1}
}

// start writes response.created and response.in_progress once.
func (s *rsA2RStream) start(dst []byte) []byte {
	if s.started {
		return dst
	}
	s.started = true
	m := s.meta("in_progress")
	for _, typ := range [...]string{"response.created", "response.in_progress"} {
		dst = s.begin(dst, typ)
		dst = append(dst, `,"response":`...)
		dst = appendResponseObject(dst, &m, nil)
		dst = end(dst)
	}
	return dst
}

// finish closes what is open and writes the terminal event.
func (s *rsA2RStream) finish(dst []byte) []byte {
	status, incomplete := responsesStatus(s.stop)
	if status == "incomplete" {
		s.closing = "incomplete"
	}
	dst = s.closeBlocks(dst)
	dst = s.closeMessage(dst)
	m := s.meta(status)
	m.incomplete = incomplete
	u := s.tokens
	m.usage = &u
	typ := "response.completed"
	if status == "incomplete" {
		typ = "response.incomplete"
	}
	dst = s.begin(dst, typ)
	dst = append(dst, `,"response":`...)
	dst = appendResponseObject(dst, &m, s.output)
	s.finished = true
	return end(dst)
}

// begin opens an event of type typ up to its sequence number; the caller
// appends the other members and closes it with end.
func (s *rsA2RStream) begin(dst []byte, typ string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, typ...)
	dst = append(dst, `","sequence_number":`...)
	dst = strconv.AppendInt(dst, s.seq, 10)
	s.seq++
	return dst
}

func end(dst []byte) []byte { return append(dst, "}\n\n"...) }

// appendItemRef writes the item_id and output_index members.
func appendItemRef(dst []byte, id string, out int) []byte {
	dst = append(dst, `,"item_id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"output_index":`...)
	return strconv.AppendInt(dst, int64(out), 10)
}

// itemEvent writes output_item.added or output_item.done around item.
func (s *rsA2RStream) itemEvent(dst []byte, typ string, out int, item []byte) []byte {
	dst = s.begin(dst, typ)
	dst = append(dst, `,"output_index":`...)
	dst = strconv.AppendInt(dst, int64(out), 10)
	dst = append(dst, `,"item":`...)
	dst = append(dst, item...)
	return end(dst)
}

// itemDone writes output_item.done and keeps the item for the terminal
// response.
func (s *rsA2RStream) itemDone(dst []byte, out int, item []byte) []byte {
	if len(s.output) > 0 {
		s.output = append(s.output, ',')
	}
	s.output = append(s.output, item...)
	return s.itemEvent(dst, "response.output_item.done", out, item)
}

func (s *rsA2RStream) blockStart(dst []byte, i int, cb *anthropicResponseBlock) []byte {
	for len(s.blocks) <= i {
		s.blocks = append(s.blocks, rsA2RBlock{})
	}
	// One block is open at a time; one left open by the upstream ends
	// where the next begins.
	dst = s.closeBlocks(dst)
	b := &s.blocks[i]
	*b = rsA2RBlock{open: true}
	var item []byte
	switch cb.Type {
	case "text":
		b.kind = 't'
		if !s.msg.open {
			s.msg = rsA2RMessage{open: true, out: s.nItems, id: s.ids.item("msg", s.nItems)}
			s.nItems++
			item = appendMessageItemStart(nil, s.msg.id, "in_progress")
			dst = s.itemEvent(dst, "response.output_item.added", s.msg.out, appendMessageItemEnd(item))
		}
		b.out, b.id, b.part = s.msg.out, s.msg.id, s.msg.parts
		s.msg.parts++
		dst = s.begin(dst, "response.content_part.added")
		dst = appendItemRef(dst, b.id, b.out)
		dst = append(dst, `,"content_index":`...)
		dst = strconv.AppendInt(dst, int64(b.part), 10)
		dst = append(dst, `,"part":`...)
		dst = appendTextPart(dst, "")
		dst = end(dst)
		if cb.Text != "" {
			dst = s.blockDelta(dst, b, &anthropicStreamDelta{Type: "text_delta", Text: cb.Text})
		}
		return dst
	case "thinking":
		dst = s.closeMessage(dst)
		b.kind, b.out, b.id = 'k', s.nItems, s.ids.item("rs", s.nItems)
		s.nItems++
		dst = s.itemEvent(dst, "response.output_item.added", b.out, appendReasoningItem(nil, b.id, "", false, ""))
		if cb.Thinking != "" {
			dst = s.blockDelta(dst, b, &anthropicStreamDelta{Type: "thinking_delta", Thinking: cb.Thinking})
		}
		if cb.Signature != "" {
			b.sig = cb.Signature
		}
		return dst
	case "redacted_thinking":
		// Nothing of it is readable: the item is announced and finished at once.
		dst = s.closeMessage(dst)
		b.open, b.out, b.id = false, s.nItems, s.ids.item("rs", s.nItems)
		s.nItems++
		dst = s.itemEvent(dst, "response.output_item.added", b.out, appendReasoningItem(nil, b.id, "", false, ""))
		state := encodeThinkingState(thinkingState{Type: "redacted_thinking", Data: cb.Data})
		return s.itemDone(dst, b.out, appendReasoningItem(nil, b.id, "", false, state))
	case "tool_use":
		dst = s.closeMessage(dst)
		b.out, b.callID, b.name = s.nItems, cb.ID, cb.Name
		s.nItems++
		switch t := s.opts.Tools[cb.Name]; t.Kind {
		case ResponsesToolCustom:
			b.kind, b.id = 'c', s.ids.item("ctc", b.out)
			item = appendCustomToolCallItem(nil, b.id, "in_progress", b.callID, b.name, "")
		case ResponsesToolLocalShell:
			// The item needs its action, known only when the input is whole:
			// it is announced and finished together.
			b.kind, b.id = 'l', s.ids.item("lsc", b.out)
		default:
			b.kind, b.id = 'u', s.ids.item("fc", b.out)
			if t.Kind == ResponsesToolNamespaced {
				b.name, b.namespace = t.Name, t.Namespace
			}
			item = s.functionCallItem(b, "in_progress", "")
		}
		if item != nil {
			dst = s.itemEvent(dst, "response.output_item.added", b.out, item)
		}
		if isJSONObject(cb.Input) && !isEmptyObject(cb.Input) {
			dst = s.blockDelta(dst, b, &anthropicStreamDelta{Type: "input_json_delta", PartialJSON: string(cb.Input)})
		}
		return dst
	}
	// server_tool_use and server tool results ran on Anthropic's side: there
	// is no item for the client to act on.
	b.open = false
	return dst
}

func (s *rsA2RStream) blockDelta(dst []byte, b *rsA2RBlock, d *anthropicStreamDelta) []byte {
	switch {
	case b.kind == 't' && d.Type == "text_delta" && d.Text != "":
		b.text = append(b.text, d.Text...)
		dst = s.begin(dst, "response.output_text.delta")
		dst = appendItemRef(dst, b.id, b.out)
		dst = append(dst, `,"content_index":`...)
		dst = strconv.AppendInt(dst, int64(b.part), 10)
		dst = append(dst, `,"delta":`...)
		dst = jsonx.AppendString(dst, d.Text)
		dst = append(dst, `,"logprobs":[]`...)
		dst = end(dst)
	case b.kind == 'k' && d.Type == "thinking_delta" && d.Thinking != "":
		b.text = append(b.text, d.Thinking...)
		if !s.opts.ReasoningSummary {
			break
		}
		if !b.summary {
			b.summary = true
			dst = s.begin(dst, "response.reasoning_summary_part.added")
			dst = appendItemRef(dst, b.id, b.out)
			dst = append(dst, `,"summary_index":0,"part":`...)
			dst = appendSummaryPart(dst, "")
			dst = end(dst)
		}
		dst = s.begin(dst, "response.reasoning_summary_text.delta")
		dst = appendItemRef(dst, b.id, b.out)
		dst = append(dst, `,"summary_index":0,"delta":`...)
		dst = jsonx.AppendString(dst, d.Thinking)
		dst = end(dst)
	case b.kind == 'k' && d.Type == "signature_delta":
		b.sig += d.Signature
	case b.kind == 'u' && d.Type == "input_json_delta" && d.PartialJSON != "":
		b.text = append(b.text, d.PartialJSON...)
		dst = s.begin(dst, "response.function_call_arguments.delta")
		dst = appendItemRef(dst, b.id, b.out)
		dst = append(dst, `,"delta":`...)
		dst = jsonx.AppendString(dst, d.PartialJSON)
		dst = end(dst)
	case (b.kind == 'c' || b.kind == 'l') && d.Type == "input_json_delta":
		// The free-form input is a string inside the JSON object: it can be
		// told only once the object is whole.
		b.text = append(b.text, d.PartialJSON...)
	}
	return dst
}

// blockStop finishes a block: the done events of its text, summary or
// arguments, and the item's output_item.done (a message item stays open for
// the text blocks that may follow).
func (s *rsA2RStream) blockStop(dst []byte, b *rsA2RBlock) []byte {
	if !b.open {
		return dst
	}
	b.open = false
	switch b.kind {
	case 't':
		dst = s.begin(dst, "response.output_text.done")
		dst = appendItemRef(dst, b.id, b.out)
		dst = append(dst, `,"content_index":`...)
		dst = strconv.AppendInt(dst, int64(b.part), 10)
		dst = append(dst, `,"text":`...)
		dst = jsonx.AppendString(dst, string(b.text))
		dst = append(dst, `,"logprobs":[]`...)
		dst = end(dst)
		part := appendTextPart(nil, string(b.text))
		dst = s.begin(dst, "response.content_part.done")
		dst = appendItemRef(dst, b.id, b.out)
		dst = append(dst, `,"content_index":`...)
		dst = strconv.AppendInt(dst, int64(b.part), 10)
		dst = append(dst, `,"part":`...)
		dst = append(dst, part...)
		dst = end(dst)
		if len(s.msg.content) > 0 {
			s.msg.content = append(s.msg.content, ',')
		}
		s.msg.content = append(s.msg.content, part...)
	case 'k':
		text := string(b.text)
		if b.summary {
			dst = s.begin(dst, "response.reasoning_summary_text.done")
			dst = appendItemRef(dst, b.id, b.out)
			dst = append(dst, `,"summary_index":0,"text":`...)
			dst = jsonx.AppendString(dst, text)
			dst = end(dst)
			dst = s.begin(dst, "response.reasoning_summary_part.done")
			dst = appendItemRef(dst, b.id, b.out)
			dst = append(dst, `,"summary_index":0,"part":`...)
			dst = appendSummaryPart(dst, text)
			dst = end(dst)
		}
		state := encodeThinkingState(thinkingState{Type: "thinking", Thinking: text, Signature: b.sig})
		dst = s.itemDone(dst, b.out, appendReasoningItem(nil, b.id, text, b.summary, state))
	case 'u':
		args := string(b.text)
		if args == "" {
			// A call without arguments: clients parse the string as JSON.
			args = "{}"
			dst = s.begin(dst, "response.function_call_arguments.delta")
			dst = appendItemRef(dst, b.id, b.out)
			dst = append(dst, `,"delta":"{}"`...)
			dst = end(dst)
		}
		dst = s.begin(dst, "response.function_call_arguments.done")
		dst = appendItemRef(dst, b.id, b.out)
		dst = append(dst, `,"name":`...)
		dst = jsonx.AppendString(dst, b.name)
		dst = append(dst, `,"arguments":`...)
		dst = jsonx.AppendString(dst, args)
		dst = end(dst)
		dst = s.itemDone(dst, b.out, s.functionCallItem(b, s.closing, args))
	case 'c':
		input := customToolInput(b.text)
		if input != "" {
			dst = s.begin(dst, "response.custom_tool_call_input.delta")
			dst = appendItemRef(dst, b.id, b.out)
			dst = append(dst, `,"delta":`...)
			dst = jsonx.AppendString(dst, input)
			dst = end(dst)
		}
		dst = s.begin(dst, "response.custom_tool_call_input.done")
		dst = appendItemRef(dst, b.id, b.out)
		dst = append(dst, `,"input":`...)
		dst = jsonx.AppendString(dst, input)
		dst = end(dst)
		dst = s.itemDone(dst, b.out, appendCustomToolCallItem(nil, b.id, s.closing, b.callID, b.name, input))
	case 'l':
		dst = s.itemEvent(dst, "response.output_item.added", b.out, appendLocalShellCallItem(nil, b.id, "in_progress", b.callID, b.text))
		dst = s.itemDone(dst, b.out, appendLocalShellCallItem(nil, b.id, s.closing, b.callID, b.text))
	}
	return dst
}

// functionCallItem writes the function_call item of block b.
func (s *rsA2RStream) functionCallItem(b *rsA2RBlock, status, args string) []byte {
	if b.namespace != "" {
		return appendNamespacedCallItem(nil, b.id, status, b.callID, ResponsesTool{Namespace: b.namespace, Name: b.name}, args)
	}
	return appendFunctionCallItem(nil, b.id, status, b.callID, b.name, args)
}

// closeBlocks finishes every block still open.
func (s *rsA2RStream) closeBlocks(dst []byte) []byte {
	for i := range s.blocks {
		dst = s.blockStop(dst, &s.blocks[i])
	}
	return dst
}

// closeMessage finishes the open message item, whose text blocks are all
// finished by then.
func (s *rsA2RStream) closeMessage(dst []byte) []byte {
	if !s.msg.open {
		return dst
	}
	s.msg.open = false
	item := appendMessageItemStart(nil, s.msg.id, s.closing)
	item = append(item, s.msg.content...)
	item = appendMessageItemEnd(item)
	s.msg.content = nil
	return s.itemDone(dst, s.msg.out, item)
}

// applyAnthropicStreamUsage records cumulative Anthropic counts into u, as
// Stream.applyAnthropicUsage does (CONVERSION §7.5).
func applyAnthropicStreamUsage(u *Usage, su anthropicStreamUsage) {
	in := anthropicInputTokens(*u)
	if su.InputTokens >= 0 {
		in = su.InputTokens
	}
	if su.CacheReadInputTokens >= 0 {
		u.CacheReadTokens = su.CacheReadInputTokens
	}
	if su.CacheCreationInputTokens >= 0 {
		u.CacheWriteTokens = su.CacheCreationInputTokens
	}
	if su.OutputTokens >= 0 {
		u.OutputTokens = su.OutputTokens
	}
	u.InputTokens = in + u.CacheReadTokens + u.CacheWriteTokens
}
