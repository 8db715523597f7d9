package converter

import (
	"strconv"

	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/converter/sse"
)

// Responses API events → Anthropic events. Output items arrive one after
// the other; each becomes zero or more content blocks, strictly sequential:
// a message's output_text (and refusal) parts become text blocks, reasoning
// items thinking blocks (or the Anthropic block they carry), function_call
// and custom_tool_call items tool_use blocks. Content the upstream sends only
// in a done event (output_text.done, function_call_arguments.done,
// output_item.done, or only in the final response) still reaches the client.

// rsR2AStream translates a Responses stream for an Anthropic client.
type rsR2AStream struct {
	opts     StreamOptions
	started  bool // message_start was written
	finished bool // message_stop or error was written
	finish   bool // response.completed or response.incomplete arrived
	tokens   Usage

	items    []rsR2AItem // by output index
	next     int         // next Anthropic block index
	open     int         // open block index, -1 when none
	openOut  int         // output index of the item owning the open block
	openPart int         // content index of the open text block
	tools    int
	refusal  bool

	ev rsOutEvent
}

// rsR2AItem is what the machine remembers of one output item.
type rsR2AItem struct {
	typ          string
	id           string
	callID, name string
	block        int   // the item's tool_use or thinking block, -1 before it starts
	sent         bool  // content of the item reached the client
	parts        []int // message: per content index, 1 once its text was sent
	summary      int   // reasoning: summary index of the last text sent
	args         []byte
	done         bool
}

var _ eventTranslator = (*rsR2AStream)(nil)

// newResponsesToAnthropicStream returns the Responses → Anthropic stream
// translator.
func newResponsesToAnthropicStream(opts StreamOptions) *rsR2AStream {
	return &rsR2AStream{opts: opts, open: -1}
}

func (s *rsR2AStream) sawFinish() bool { return s.finish }
func (s *rsR2AStream) usage() Usage    { return s.tokens }
func (s *rsR2AStream) done() bool      { return s.finished }

// close is called at EOF after response.completed, which already ended the
// client's stream; it appends nothing then.
func (s *rsR2AStream) close(dst []byte) []byte {
	if s.finished {
		return dst
	}
	return s.end(s.start(dst, "", ""), "end_turn")
}

// fail ends the client's stream with an Anthropic error event.
func (s *rsR2AStream) fail(dst []byte, e *Error) []byte {
	if s.finished {
		return dst
	}
	s.finished = true
	dst = append(dst, "event: error\ndata: "...)
	dst = appendAnthropicError(dst, e)
	return append(dst, "\n\n"...)
}

func (s *rsR2AStream) event(dst []byte, ev sse.Event) ([]byte, error) {
	if s.finished || len(ev.Data) == 0 {
		return dst, nil
	}
	s.ev.reset()
	if err := decodeUpstream(ev.Data, &s.ev); err != nil {
		return dst, malformed(err)
	}
	e := &s.ev
	switch e.Type {
	case "error", "response.failed":
		p, ok := parseResponsesError(ev.Data)
		if !ok {
			p.message = "the upstream reported an error"
		}
		if e.Response != nil {
			s.tokensFrom(e.Response)
		}
		return s.fail(dst, &Error{Kind: responsesErrorKind(p), Message: p.message, Param: p.param, Code: p.code}), nil
	case "response.created", "response.in_progress", "response.queued":
		if e.Response != nil {
			return s.start(dst, e.Response.ID, e.Response.Model), nil
		}
		return s.start(dst, "", ""), nil
	}
	dst = s.start(dst, "", "")
	switch e.Type {
	case "response.output_item.added":
		it, err := s.item(e.OutputIndex, e.Item)
		if err != nil {
			return dst, err
		}
		if isToolCallItem(it.typ) {
			dst = s.startTool(dst, e.OutputIndex, it)
		}
	case "response.output_text.delta", "response.refusal.delta":
		if e.Type == "response.refusal.delta" {
			s.refusal = true
		}
		dst = s.text(dst, e.OutputIndex, e.ContentIndex, e.Delta, false)
	case "response.output_text.done":
		dst = s.text(dst, e.OutputIndex, e.ContentIndex, e.Text, true)
	case "response.refusal.done":
		s.refusal = true
		dst = s.text(dst, e.OutputIndex, e.ContentIndex, e.Refusal, true)
	case "response.content_part.done":
		if e.Part != nil {
			text := e.Part.Text
			if e.Part.Type == "refusal" {
				s.refusal, text = true, e.Part.Refusal
			}
			dst = s.text(dst, e.OutputIndex, e.ContentIndex, text, true)
		}
		if s.open >= 0 && s.openOut == e.OutputIndex && s.openPart == e.ContentIndex {
			dst = s.closeOpen(dst)
		}
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		idx := e.SummaryIndex
		if e.Type == "response.reasoning_text.delta" {
			idx = e.ContentIndex
		}
		dst = s.thinking(dst, e.OutputIndex, idx, e.Delta)
	case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
		dst = s.toolInput(dst, e.OutputIndex, e.Delta, false)
	case "response.function_call_arguments.done":
		dst = s.toolInput(dst, e.OutputIndex, e.Arguments, true)
	case "response.custom_tool_call_input.done":
		dst = s.toolInput(dst, e.OutputIndex, e.Input, true)
	case "response.output_item.done":
		if e.Item == nil {
			return dst, malformed(errString("output_item.done without item"))
		}
		it, err := s.item(e.OutputIndex, e.Item)
		if err != nil {
			return dst, err
		}
		dst = s.itemDone(dst, e.OutputIndex, it, e.Item)
	case "response.completed", "response.incomplete":
		r := e.Response
		if r == nil {
			return dst, malformed(errString(e.Type + " without response"))
		}
		// Items whose output_item.done never came (an upstream that sends
		// only the final response, or skips done events) are finished from
		// the final response: what of them has not reached the client yet is
		// sent.
		for i := range r.Output {
			it, err := s.item(i, &r.Output[i])
			if err != nil {
				return dst, err
			}
			dst = s.itemDone(dst, i, it, &r.Output[i])
		}
		s.tokensFrom(r)
		s.finish = true
		return s.end(dst, anthropicStopFromResponses(r.Status, incompleteReason(r.IncompleteDetails), s.tools > 0, s.refusal)), nil
	}
	return dst, nil
}

func (s *rsR2AStream) tokensFrom(r *rsOutResponse) {
	if r.Usage != nil {
		s.tokens = r.Usage.gateway()
	}
}

// start writes message_start once.
func (s *rsR2AStream) start(dst []byte, id, model string) []byte {
	if s.started {
		return dst
	}
	s.started = true
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	dst = jsonx.AppendString(dst, anthropicMessageIDFromResponse(id, s.opts.FallbackID))
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonx.AppendString(dst, cmpModel(s.opts.Model, model))
	// The usage comes with response.completed; message_delta carries it.
	return append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`+"\n\n"...)
}

// end closes the open block and writes message_delta and message_stop.
func (s *rsR2AStream) end(dst []byte, stop string) []byte {
	dst = s.closeOpen(dst)
	dst = appendMessageDelta(dst, stop, s.tokens)
	s.finished = true
	return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// item returns the state of output item i, recording it on first sight.
func (s *rsR2AStream) item(i int, it *rsOutItem) (*rsR2AItem, error) {
	if i < 0 || i >= maxBlocks {
		return nil, malformed(errString("output index " + strconv.Itoa(i) + " out of range"))
	}
	for len(s.items) <= i {
		s.items = append(s.items, rsR2AItem{block: -1, summary: -1})
	}
	st := &s.items[i]
	if it != nil && st.typ == "" {
		st.typ, st.id, st.callID, st.name = it.Type, it.ID, it.CallID, hubToolName(it)
	}
	return st, nil
}

// known returns the state of output item i when it was announced.
func (s *rsR2AStream) known(i int) *rsR2AItem {
	if i < 0 || i >= len(s.items) || s.items[i].typ == "" {
		return nil
	}
	return &s.items[i]
}

// openBlock closes the open block and starts a new one; block is the
// content_block JSON.
func (s *rsR2AStream) openBlock(dst []byte, out, part int, block []byte) []byte {
	dst = s.closeOpen(dst)
	s.open, s.openOut, s.openPart = s.next, out, part
	s.next++
	dst = appendBlockStartHead(dst, s.open)
	dst = append(dst, block...)
	return append(dst, "}\n\n"...)
}

func (s *rsR2AStream) closeOpen(dst []byte) []byte {
	if s.open < 0 {
		return dst
	}
	dst = appendBlockStop(dst, s.open)
	s.open = -1
	return dst
}

// text sends text of content part (out, part) of a message; whole reports
// the part's complete text (a done event), sent only when no delta came.
func (s *rsR2AStream) text(dst []byte, out, part int, text string, whole bool) []byte {
	it := s.known(out)
	if it == nil {
		var err error
		if it, err = s.item(out, &rsOutItem{Type: "message"}); err != nil {
			return dst // an index no item can have: nothing to attach the text to
		}
	}
	if it.typ != "message" || part < 0 || part >= maxBlocks || text == "" {
		return dst
	}
	for len(it.parts) <= part {
		it.parts = append(it.parts, 0)
	}
	if whole && it.parts[part] != 0 {
		return dst
	}
	if s.open < 0 || s.openOut != out || s.openPart != part {
		dst = s.openBlock(dst, out, part, []byte(`{"type":"text","text":""}`))
	}
	it.parts[part], it.sent = 1, true
	return appendTextDelta(dst, s.open, "text_delta", "text", text)
}

// thinking sends reasoning text of item out; a new summary part is set off
// by a blank line, as the JSON translation joins summaries.
func (s *rsR2AStream) thinking(dst []byte, out, summary int, text string) []byte {
	it := s.known(out)
	if it == nil || it.typ != "reasoning" || text == "" {
		return dst
	}
	if it.block < 0 || s.open != it.block {
		if it.sent {
			return dst // its block was closed by another item's: nowhere to put it
		}
		dst = s.openBlock(dst, out, -1, []byte(`{"type":"thinking","thinking":"","signature":""}`))
		it.block = s.open
	} else if summary != it.summary {
		dst = appendTextDelta(dst, s.open, "thinking_delta", "thinking", "\n\n")
	}
	it.sent, it.summary = true, summary
	return appendTextDelta(dst, s.open, "thinking_delta", "thinking", text)
}

func (s *rsR2AStream) startTool(dst []byte, out int, it *rsR2AItem) []byte {
	if it.block >= 0 {
		return dst
	}
	block := append([]byte(`{"type":"tool_use","id":`), jsonx.AppendString(nil, responseToolID(cmpModel(it.callID, it.id), s.tools))...)
	block = append(block, `,"name":`...)
	block = jsonx.AppendString(block, it.name)
	block = append(block, `,"input":{}}`...)
	s.tools++
	dst = s.openBlock(dst, out, -1, block)
	it.block = s.open
	return dst
}

// toolInput sends arguments (or a custom tool's input) of item out; whole
// reports the complete value, sent only when no delta came. A custom tool's
// free-form input reaches the client as the string member "input" of the
// tool_use input, written as partial JSON: the opening `{"input":"` comes
// with the first piece, the closing `"}` when the item is done.
func (s *rsR2AStream) toolInput(dst []byte, out int, text string, whole bool) []byte {
	it := s.known(out)
	if it == nil || !isToolCallItem(it.typ) || it.done {
		return dst
	}
	if whole && it.sent || text == "" {
		return dst
	}
	dst = s.startTool(dst, out, it)
	if s.open != it.block {
		return dst // its block was closed by another item's
	}
	if it.typ == "custom_tool_call" {
		piece := make([]byte, 0, len(text)+12)
		if !it.sent {
			piece = append(piece, `{"input":"`...)
		}
		piece = appendStringBody(piece, text)
		it.sent = true
		return appendTextDelta(dst, s.open, "input_json_delta", "partial_json", string(piece))
	}
	it.sent = true
	it.args = append(it.args, text...)
	return appendTextDelta(dst, s.open, "input_json_delta", "partial_json", text)
}

// isToolCallItem reports the item types that become tool_use blocks.
func isToolCallItem(typ string) bool {
	return typ == "function_call" || typ == "custom_tool_call" || typ == "local_shell_call"
}

// itemDone finishes output item out with its final state src: whatever of
// it has not reached the client yet is sent whole.
func (s *rsR2AStream) itemDone(dst []byte, out int, it *rsR2AItem, src *rsOutItem) []byte {
	if it.done {
		return dst
	}
	switch it.typ {
	case "message":
		if !it.sent {
			for j, p := range src.Content {
				switch p.Type {
				case "output_text":
					dst = s.text(dst, out, j, p.Text, true)
				case "refusal":
					s.refusal = true
					dst = s.text(dst, out, j, p.Refusal, true)
				}
			}
		}
		if s.open >= 0 && s.openOut == out {
			dst = s.closeOpen(dst)
		}
	case "reasoning":
		if st, ok := decodeThinkingState(src.EncryptedContent); ok {
			switch {
			case st.Type == "redacted_thinking" && !it.sent:
				block := append([]byte(`{"type":"redacted_thinking","data":`), jsonx.AppendString(nil, st.Data)...)
				dst = s.openBlock(dst, out, -1, append(block, '}'))
			case !it.sent:
				dst = s.openBlock(dst, out, -1, []byte(`{"type":"thinking","thinking":"","signature":""}`))
				if st.Thinking != "" {
					dst = appendTextDelta(dst, s.open, "thinking_delta", "thinking", st.Thinking)
				}
				fallthrough
			case s.open == it.block:
				if st.Signature != "" {
					dst = appendTextDelta(dst, s.open, "signature_delta", "signature", st.Signature)
				}
			}
			it.sent = true
		} else if !it.sent {
			dst = s.thinking(dst, out, 0, reasoningText(src))
		}
		if s.open >= 0 && s.openOut == out {
			dst = s.closeOpen(dst)
		}
	case "function_call", "custom_tool_call", "local_shell_call":
		dst = s.startTool(dst, out, it)
		if !it.sent {
			switch it.typ {
			case "custom_tool_call":
				dst = s.toolInput(dst, out, src.Input, false)
			case "local_shell_call":
				dst = s.toolInput(dst, out, string(src.Action), false)
			default:
				dst = s.toolInput(dst, out, rawText(src.Arguments), false)
			}
		}
		if it.typ == "custom_tool_call" && s.open == it.block {
			closing := `"}`
			if !it.sent {
				closing = `{"input":""}`
			}
			dst = appendTextDelta(dst, s.open, "input_json_delta", "partial_json", closing)
		}
		if s.open == it.block {
			dst = s.closeOpen(dst)
		}
	}
	it.done = true
	return dst
}
