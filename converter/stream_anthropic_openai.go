package converter

import (
	"strconv"

	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/converter/sse"
)

// Anthropic events → OpenAI chunks (docs/conversion.md, "Answers and
// streams").

// a2oStream translates an Anthropic stream for an OpenAI Chat client.
type a2oStream struct {
	streamBase
	anthropicDecoder
	a2o a2oState
}

func newA2OStream(opts StreamOptions) *a2oStream {
	return &a2oStream{streamBase: streamBase{opts: opts}}
}

func (s *a2oStream) event(dst []byte, ev sse.Event) ([]byte, error) {
	return s.anthropicToOpenAI(dst, ev)
}

// close ends the client's stream at upstream EOF.
func (s *a2oStream) close(dst []byte) []byte {
	dst = s.a2oClose(dst, true)
	s.ended = true
	return dst
}

func (s *a2oStream) fail(dst []byte, e *Error) []byte {
	s.ended = true
	return openAIErrors.streamError(dst, e)
}

func (s *a2oStream) sawFinish() bool { return s.a2o.finish != "" }

// maxBlocks bounds the content-block indexes a stream may use, so that a
// hostile index cannot make the state grow without limit.
const maxBlocks = 4096

// a2oState is the Anthropic → OpenAI machine's state.
type a2oState struct {
	prefix   []byte     // every chunk's bytes up to the delta: id, created, model
	blocks   []a2oBlock // by Anthropic block index
	nextTool int        // next OpenAI tool-call ordinal
	finish   string     // finish_reason from message_delta, "" until then
}

// a2oBlock is what the machine remembers of one content block.
type a2oBlock struct {
	kind     byte // 't' text, 'u' tool_use, 'k' thinking, 0 other or unknown
	open     bool
	argsSeen bool // a non-empty input_json_delta was forwarded
	ord      int  // OpenAI tool-call index of a tool_use block
	// thinking is a thinking block's text so far: the thinking_blocks
	// entry sent with the signature carries it whole, as a non-streamed
	// answer does, since a client must replay the block unchanged.
	thinking []byte
}

const chunkSuffix = `,"logprobs":null,"finish_reason":null}]}` + "\n\n"

func (s *a2oStream) anthropicToOpenAI(dst []byte, ev sse.Event) ([]byte, error) {
	if len(ev.Data) == 0 {
		return dst, nil // comments
	}
	if err := s.decodeAnthropic(ev.Data); err != nil {
		return dst, err
	}
	e := &s.aev
	st := &s.a2o
	if e.Type == "error" {
		return s.a2oError(dst), nil
	}
	if st.prefix == nil {
		// The role chunk goes first, even if an upstream skipped message_start.
		var id, model string
		if e.Type == "message_start" && e.Message != nil {
			id, model = e.Message.ID, e.Message.Model
			s.applyAnthropicUsage(messageStartUsage(e.Message.Usage))
		}
		st.prefix = appendChunkPrefix(make([]byte, 0, 160), id, s.opts.Created, cmpModel(s.opts.Model, model))
		dst = s.a2oChunk(dst, `{"role":"assistant","content":""}`)
	}
	switch e.Type {
	case "content_block_start":
		b, err := st.block(e.Index)
		if err != nil {
			return dst, err
		}
		cb := e.ContentBlock
		if cb == nil {
			return dst, malformed(errString("content_block_start without content_block"))
		}
		*b = a2oBlock{open: true}
		switch cb.Type {
		case "text":
			b.kind = 't'
			if cb.Text != "" {
				dst = s.a2oText(dst, "content", cb.Text)
			}
		case "thinking":
			b.kind = 'k'
			if cb.Thinking != "" {
				b.thinking = append(b.thinking, cb.Thinking...)
				dst = s.a2oText(dst, "reasoning_content", cb.Thinking)
			}
		case "redacted_thinking":
			dst = s.a2oThinkingBlock(dst, "redacted_thinking", "", cb.Data)
		case "tool_use":
			// The OpenAI index is the tool ordinal, never the block index:
			// text usually owns block 0.
			b.kind, b.ord = 'u', st.nextTool
			st.nextTool++
			dst = append(dst, st.prefix...)
			dst = append(dst, `{"tool_calls":[{"index":`...)
			dst = strconv.AppendInt(dst, int64(b.ord), 10)
			dst = append(dst, `,"id":`...)
			dst = jsonx.AppendString(dst, cb.ID)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = jsonx.AppendString(dst, cb.Name)
			dst = append(dst, `,"arguments":`...)
			if isJSONObject(cb.Input) && !isEmptyObject(cb.Input) {
				b.argsSeen = true
				dst = jsonx.AppendString(dst, string(cb.Input))
			} else {
				dst = append(dst, `""`...)
			}
			dst = append(dst, "}}]}"...)
			dst = append(dst, chunkSuffix...)
		}
		// server_tool_use and tool results run on Anthropic's side: the client
		// has nothing to execute, so they are not shown as tool calls (as in
		// non-streamed answers, docs/conversion.md "Answers and streams").
	case "content_block_delta":
		d := &e.Delta
		switch d.Type {
		case "text_delta":
			if d.Text != "" {
				dst = s.a2oText(dst, "content", d.Text)
			}
		case "thinking_delta":
			if d.Thinking != "" {
				if e.Index >= 0 && e.Index < len(st.blocks) && st.blocks[e.Index].kind == 'k' {
					st.blocks[e.Index].thinking = append(st.blocks[e.Index].thinking, d.Thinking...)
				}
				dst = s.a2oText(dst, "reasoning_content", d.Thinking)
			}
		case "signature_delta":
			if d.Signature != "" {
				var text []byte
				if e.Index >= 0 && e.Index < len(st.blocks) && st.blocks[e.Index].kind == 'k' {
					text = st.blocks[e.Index].thinking
				}
				dst = s.a2oThinkingText(dst, string(text), d.Signature)
			}
		case "input_json_delta":
			// Routed by the event's index, not by a "current tool".
			if d.PartialJSON == "" || e.Index < 0 || e.Index >= len(st.blocks) || st.blocks[e.Index].kind != 'u' {
				break
			}
			b := &st.blocks[e.Index]
			b.argsSeen = true
			dst = s.a2oArgs(dst, b.ord, d.PartialJSON)
		}
	case "content_block_stop":
		if e.Index >= 0 && e.Index < len(st.blocks) {
			dst = s.a2oStopBlock(dst, &st.blocks[e.Index])
		}
	case "message_delta":
		if f := finishReasonFor(e.Delta.StopReason); f != "" {
			st.finish = f
		}
		s.applyAnthropicUsage(e.Usage)
	case "message_stop":
		dst = s.a2oClose(dst, false)
		s.ended = true
	}
	return dst, nil
}

// block returns the state of block i, growing the table as needed.
func (st *a2oState) block(i int) (*a2oBlock, error) {
	if i < 0 || i >= maxBlocks {
		return nil, malformed(errString("content block index " + strconv.Itoa(i) + " out of range"))
	}
	for len(st.blocks) <= i {
		st.blocks = append(st.blocks, a2oBlock{})
	}
	return &st.blocks[i], nil
}

// a2oStopBlock closes a block. A tool call whose arguments never came gets
// "{}", since clients JSON.parse the accumulated string.
func (s *a2oStream) a2oStopBlock(dst []byte, b *a2oBlock) []byte {
	if !b.open {
		return dst
	}
	b.open = false
	if b.kind == 'u' && !b.argsSeen {
		b.argsSeen = true
		dst = s.a2oArgs(dst, b.ord, "{}")
	}
	return dst
}

// a2oClose ends the client's stream: finish chunk, usage chunk when asked
// for, [DONE]. At EOF (eof set) blocks left open are closed and a missing
// finish reason is "length": the answer was cut off. Arguments already sent
// for a cut tool call stay as they are, incomplete, exactly as OpenAI itself
// streams a call cut by the length limit; finish_reason "length" tells the
// client not to trust them.
func (s *a2oStream) a2oClose(dst []byte, eof bool) []byte {
	st := &s.a2o
	for i := range st.blocks {
		dst = s.a2oStopBlock(dst, &st.blocks[i])
	}
	finish := st.finish
	if finish == "" {
		finish = "stop"
		if eof {
			finish = "length"
		}
	}
	dst = append(dst, st.prefix...)
	dst = append(dst, `{},"logprobs":null,"finish_reason":`...)
	dst = jsonx.AppendString(dst, finish)
	dst = append(dst, "}]}\n\n"...)
	if s.opts.IncludeUsage {
		// The prefix ends with the choices array opened for a delta; the usage
		// chunk has an empty one instead.
		dst = append(dst, st.prefix[:len(st.prefix)-len(`[{"index":0,"delta":`)]...)
		dst = append(dst, `[],"usage":`...)
		dst = appendOpenAIUsage(dst, s.tokens, -1)
		dst = append(dst, "}\n\n"...)
	}
	return append(dst, "data: [DONE]\n\n"...)
}

// a2oError turns an upstream error event into an OpenAI error payload; the
// HTTP status is already sent, so the stream ends with it. Type and code
// are those of the same error answered over HTTP (TranslateErrorBody): an
// OpenAI type, and Anthropic's own type as the code.
func (s *a2oStream) a2oError(dst []byte) []byte {
	s.ended = true
	typ, msg := "api_error", "the upstream reported an error"
	if e := s.aev.Error; e != nil {
		typ = cmpModel(e.Type, typ)
		msg = cmpModel(e.Message, msg)
	}
	dst = append(dst, `data: {"error":{"message":`...)
	dst = jsonx.AppendString(dst, msg)
	dst = append(dst, `,"type":`...)
	dst = jsonx.AppendString(dst, statusShape(anthropicTypeStatus(typ)).openAIType)
	dst = append(dst, `,"param":null,"code":`...)
	dst = jsonx.AppendString(dst, typ)
	return append(dst, "}}\n\n"...)
}

func (s *a2oStream) a2oChunk(dst []byte, delta string) []byte {
	dst = append(dst, s.a2o.prefix...)
	dst = append(dst, delta...)
	return append(dst, chunkSuffix...)
}

// a2oText emits a delta with one string field (content, reasoning_content).
func (s *a2oStream) a2oText(dst []byte, field, text string) []byte {
	dst = append(dst, s.a2o.prefix...)
	dst = append(dst, `{"`...)
	dst = append(dst, field...)
	dst = append(dst, `":`...)
	dst = jsonx.AppendString(dst, text)
	dst = append(dst, '}')
	return append(dst, chunkSuffix...)
}

// a2oThinkingBlock emits a thinking_blocks extension delta: a signature (or
// a redacted block) that the client must send back verbatim.
func (s *a2oStream) a2oThinkingBlock(dst []byte, typ, signature, data string) []byte {
	dst = append(dst, s.a2o.prefix...)
	dst = append(dst, `{"thinking_blocks":[`...)
	dst = appendThinkingBlock(dst, typ, "", signature, data)
	dst = append(dst, "]}"...)
	return append(dst, chunkSuffix...)
}

// a2oThinkingText emits the thinking_blocks entry of a whole thinking
// block: its text and its signature.
func (s *a2oStream) a2oThinkingText(dst []byte, text, signature string) []byte {
	dst = append(dst, s.a2o.prefix...)
	dst = append(dst, `{"thinking_blocks":[`...)
	dst = appendThinkingBlock(dst, "thinking", text, signature, "")
	dst = append(dst, "]}"...)
	return append(dst, chunkSuffix...)
}

func (s *a2oStream) a2oArgs(dst []byte, ord int, args string) []byte {
	dst = append(dst, s.a2o.prefix...)
	dst = append(dst, `{"tool_calls":[{"index":`...)
	dst = strconv.AppendInt(dst, int64(ord), 10)
	dst = append(dst, `,"function":{"arguments":`...)
	dst = jsonx.AppendString(dst, args)
	dst = append(dst, "}}]}"...)
	return append(dst, chunkSuffix...)
}

// isEmptyObject reports whether a valid JSON object has no members.
func isEmptyObject(b []byte) bool {
	i := skipSpace(b, 0)
	return i < len(b) && b[i] == '{' && b[skipSpace(b, i+1)] == '}'
}

// errString is a constant error message.
type errString string

func (e errString) Error() string { return string(e) }
