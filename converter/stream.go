package converter

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/converter/sse"
)

// StreamOptions adjusts how a streamed answer is presented to the client.
type StreamOptions struct {
	// Model is the model name to report; "" keeps the upstream's.
	Model string
	// IncludeUsage reports that the OpenAI client asked for the usage chunk
	// (stream_options.include_usage). The gateway always asks the upstream
	// for it, to count tokens, and drops it when the client did not.
	IncludeUsage bool
	// Created is the Unix time reported in OpenAI chunks built from an
	// Anthropic stream (which carries no timestamp); 0 reports 0. The
	// converter never reads the clock so that its output is reproducible.
	Created int64
	// ReasoningSummary, Tools and FallbackID are as in ResponseOptions.
	ReasoningSummary bool
	Tools            map[string]ResponsesTool
	FallbackID       string
}

// eventTranslator is one direction of stream translation. Stream around it
// keeps the started/done bookkeeping, joins split surrogate pairs, and
// applies the end-of-stream rules (no answer → error; no finish reason →
// error).
type eventTranslator interface {
	// event appends the client bytes for one upstream event; an upstream
	// error event becomes the client's terminal error event.
	event(dst []byte, ev sse.Event) ([]byte, error)
	// close appends the closing events at upstream EOF; it is called only
	// when sawFinish reports true.
	close(dst []byte) []byte
	// fail appends the client's terminal error event for e.
	fail(dst []byte, e *Error) []byte
	// sawFinish reports whether the upstream gave a finish or stop reason.
	sawFinish() bool
	// usage returns the tokens counted so far.
	usage() Usage
	// done reports whether the client's terminal event was written.
	done() bool
}

// Stream translates one streamed answer event by event, from the upstream's
// format to the client's. It is not safe for concurrent use; a worker owns
// one per request.
//
// Keep-alive: an Anthropic ping has no OpenAI counterpart and is dropped when
// translating, since the worker's own heartbeats keep the connection alive.
type Stream struct {
	t eventTranslator
	// translating is set when the formats differ: only then are events
	// decoded and re-encoded, and split surrogate pairs joined.
	translating bool

	started bool // a byte was produced for the client
	ended   bool // Finish or Fail wrote the client's last event
	failed  *Error
	// held is a high-surrogate escape that ended the last event's text,
	// waiting for its low half (see joinSurrogates).
	held []byte
}

// NewStream returns a Stream translating from the upstream format from to the
// client format to. from == to is a pass-through (see Event). A pair of
// formats without a direct translation goes through the hub: the upstream's
// events are translated to hub events, which are translated to the client's.
// A pair the converter cannot translate gives a Stream that answers with the
// client's error event.
func NewStream(from, to format.Format, opts StreamOptions) *Stream {
	s := &Stream{translating: from != to}
	if from == to {
		if c := codecFor(from); c != nil && c.passStream != nil {
			s.t = c.passStream(opts)
		}
	} else if first, second, hops := route(from, to); hops > 0 {
		s.t = first.stream(opts)
		if hops == 2 {
			s.t = &chainStream{first: s.t, second: second.stream(opts)}
		}
	}
	if s.t == nil {
		s.t = &refusedStream{to: to, err: noTranslation(from, to)}
	}
	return s
}

// Event appends the client's bytes for one upstream event: possibly none,
// possibly several events. An upstream error event becomes the client's error
// event and ends the stream. Malformed JSON returns an *Error of kind
// KindStreamInterrupted; the caller then ends the stream with Fail.
//
// In pass-through mode (from == to) the event's Raw bytes are forwarded
// untouched, except that an OpenAI usage-only chunk is dropped unless the
// client asked for it and the model is patched when StreamOptions.Model is
// set; usage and completion are still tracked.
func (s *Stream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	if s.Done() {
		return dst, nil
	}
	n := len(dst)
	if s.translating && bytes.IndexByte(ev.Data, '\\') >= 0 || s.held != nil {
		ev.Data = s.joinSurrogates(ev.Data)
	}
	dst, err := s.t.event(dst, ev)
	if len(dst) > n {
		s.started = true
	}
	return dst, err
}

// Finish appends, at upstream EOF, the closing events the upstream did not
// send (docs/conversion.md, "Answers and streams"). It is idempotent and
// appends nothing when the stream already closed properly. An upstream that
// ended before sending anything gets the client an error event, since the
// response status is already out.
func (s *Stream) Finish(dst []byte) []byte {
	if s.Done() {
		return dst
	}
	if !s.started {
		return s.Fail(dst, Errorf(KindStreamInterrupted, "the upstream ended the stream without an answer"))
	}
	// Without a finish reason nothing says the answer is whole: closing it
	// as cut by the length limit would pass a broken connection off as a
	// complete answer, so the client is told it broke off.
	if !s.t.sawFinish() {
		return s.Fail(dst, Errorf(KindStreamInterrupted, "the upstream stream ended before the answer was complete"))
	}
	dst = s.t.close(dst)
	s.ended = true
	return dst
}

// joinSurrogates keeps a UTF-16 surrogate pair split across two events
// whole (see holdSurrogate).
func (s *Stream) joinSurrogates(data []byte) []byte {
	if s.held != nil {
		data = releaseSurrogate(data, s.held)
		s.held = nil
	}
	data, s.held = holdSurrogate(data)
	return data
}

// Fail appends the error event that ends the stream in the client's dialect,
// when the upstream broke off (disconnect, idle timeout). Nothing is sent
// after it.
func (s *Stream) Fail(dst []byte, e *Error) []byte {
	if s.Done() {
		return dst
	}
	s.ended = true
	s.started = true
	s.failed = e
	return s.t.fail(dst, e)
}

// Failed returns the error that ended the stream, nil when it ended as the
// upstream ended it. Finish may end a stream with an error (see Finish).
func (s *Stream) Failed() *Error { return s.failed }

// Done reports whether the client has received its closing event ([DONE],
// message_stop) or an error event.
func (s *Stream) Done() bool { return s.ended || s.t.done() }

// Usage returns the usage seen so far. Anthropic counts are cumulative and
// overwrite; OpenAI's arrive in the usage chunk.
func (s *Stream) Usage() Usage { return s.t.usage() }

// chainStream composes two translators through the hub: the first's output,
// hub events, is parsed back into events for the second. Its buffers are
// reused from event to event.
type chainStream struct {
	first, second eventTranslator
	mid           []byte // the hub events of one upstream event
	scratch       []byte // sse.Parse's buffer for multi-line data
}

func (c *chainStream) event(dst []byte, ev sse.Event) ([]byte, error) {
	var err error
	c.mid, err = c.first.event(c.mid[:0], ev)
	dst, ferr := c.feed(dst)
	if err != nil {
		return dst, err
	}
	return dst, ferr
}

// feed hands the hub events in c.mid to the second translator.
func (c *chainStream) feed(dst []byte) ([]byte, error) {
	buf := c.mid
	for len(buf) > 0 && !c.second.done() {
		ev, n, ok, scratch := sse.Parse(buf, true, c.scratch)
		c.scratch = scratch
		if !ok || n == 0 {
			break
		}
		buf = buf[n:]
		var err error
		if dst, err = c.second.event(dst, ev); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (c *chainStream) close(dst []byte) []byte {
	c.mid = c.first.close(c.mid[:0])
	dst, err := c.feed(dst)
	switch {
	case err != nil:
		return c.second.fail(dst, asStreamError(err))
	case c.second.done():
		return dst
	case c.second.sawFinish():
		return c.second.close(dst)
	}
	return c.second.fail(dst, Errorf(KindStreamInterrupted, "the upstream stream ended before the answer was complete"))
}

func (c *chainStream) fail(dst []byte, e *Error) []byte { return c.second.fail(dst, e) }
func (c *chainStream) sawFinish() bool                  { return c.first.sawFinish() }
func (c *chainStream) usage() Usage                     { return c.first.usage() }
func (c *chainStream) done() bool                       { return c.second.done() }

// asStreamError is err as the *Error that ends a stream.
func asStreamError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return malformed(err)
}

// refusedStream answers a pair of formats the converter cannot translate
// with the client's error event.
type refusedStream struct {
	to    format.Format
	err   *Error
	ended bool
}

func (r *refusedStream) event(dst []byte, _ sse.Event) ([]byte, error) {
	return r.fail(dst, r.err), nil
}
func (r *refusedStream) close(dst []byte) []byte { return r.fail(dst, r.err) }
func (r *refusedStream) fail(dst []byte, e *Error) []byte {
	r.ended = true
	return AppendStreamError(dst, r.to, e)
}
func (r *refusedStream) sawFinish() bool { return false }
func (r *refusedStream) usage() Usage    { return Usage{} }
func (r *refusedStream) done() bool      { return r.ended }

// streamBase is what every translator keeps: its options, the usage so far,
// and whether the client's terminal event was written.
type streamBase struct {
	opts   StreamOptions
	tokens Usage
	ended  bool
}

func (b *streamBase) usage() Usage { return b.tokens }
func (b *streamBase) done() bool   { return b.ended }

// isComment reports an event made of SSE comment lines only (": ping"),
// which keeps a connection alive and carries nothing else. An event with
// neither data nor comment is not SSE (an HTML page sent as an event
// stream, say) and is not forwarded.
func isComment(ev sse.Event) bool {
	raw := bytes.TrimLeft(ev.Raw, "\r\n")
	return len(raw) > 0 && raw[0] == ':'
}

// malformed reports an upstream event that cannot be decoded.
func malformed(err error) *Error {
	return Errorf(KindStreamInterrupted, "the upstream sent a malformed stream event: %v", err)
}

// anthropicDecoder decodes Anthropic events into one value reused for
// every event.
type anthropicDecoder struct {
	aev anthropicStreamEvent
}

// decodeAnthropic decodes an Anthropic event into s.aev.
func (s *anthropicDecoder) decodeAnthropic(data []byte) error {
	s.aev.reset()
	if err := decodeUpstream(data, &s.aev); err != nil {
		return malformed(err)
	}
	return nil
}

// applyAnthropicUsage records cumulative Anthropic counts: message_delta's
// usage overwrites what message_start said, field by field (docs/conversion.md,
// "Answers and streams").
func (s *streamBase) applyAnthropicUsage(u anthropicStreamUsage) {
	in := anthropicInputTokens(s.tokens)
	if u.InputTokens >= 0 {
		in = u.InputTokens
	}
	if u.CacheReadInputTokens >= 0 {
		s.tokens.CacheReadTokens = u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens >= 0 {
		s.tokens.CacheWriteTokens = u.CacheCreationInputTokens
	}
	if u.OutputTokens >= 0 {
		s.tokens.OutputTokens = u.OutputTokens
	}
	s.tokens.InputTokens = in + s.tokens.CacheReadTokens + s.tokens.CacheWriteTokens
}

// messageStartUsage converts message_start's usage to the stream form.
func messageStartUsage(u anthropicResponseUsage) anthropicStreamUsage {
	return anthropicStreamUsage{
		InputTokens:              u.InputTokens,
		OutputTokens:             u.OutputTokens,
		CacheCreationInputTokens: u.CacheCreationInputTokens,
		CacheReadInputTokens:     u.CacheReadInputTokens,
	}
}

// appendRaw forwards an event's bytes exactly as the upstream sent them. The
// last event of a stream may lack its terminating blank line; it is still
// forwarded untouched, because a same-format route promises the upstream's
// bytes and the client sees the same stream it would have seen directly.
func appendRaw(dst []byte, raw []byte) []byte {
	return append(dst, raw...)
}

// passState is the pass-through's bookkeeping: just enough to extract the
// usage and to close a stream the upstream left open.
type passState struct {
	openBlock   int    // Anthropic: index of the open content block, or -1
	sawDelta    bool   // Anthropic: message_delta seen
	sawFinish   bool   // OpenAI: a finish_reason was seen
	chunkPrefix []byte // OpenAI: id/created/model of the first chunk, for a closing chunk
}

// openAIPassStream forwards an OpenAI Chat stream to an OpenAI Chat client.
type openAIPassStream struct {
	streamBase
	pt passState
}

func newOpenAIPassStream(opts StreamOptions) *openAIPassStream {
	return &openAIPassStream{streamBase: streamBase{opts: opts}}
}

func (s *openAIPassStream) sawFinish() bool { return s.pt.sawFinish }

func (s *openAIPassStream) fail(dst []byte, e *Error) []byte {
	s.ended = true
	return openAIErrors.streamError(dst, e)
}

func (s *openAIPassStream) event(dst []byte, ev sse.Event) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		if isComment(ev) {
			return appendRaw(dst, ev.Raw), nil // keep-alives
		}
		return dst, nil
	}
	if string(data) == "[DONE]" {
		s.ended = true
		return appendRaw(dst, ev.Raw), nil
	}
	// One scan of the top-level members finds what matters without decoding
	// the deltas: the usage, an empty choices array, a finish_reason, an error.
	var usage, choices member
	var hasUsage, hasChoices, hasError bool
	_, err := walkTopObject(data, func(m member) error {
		switch {
		case keyIs(data, m, "usage"):
			usage, hasUsage = m, !isNull(data, m)
		case keyIs(data, m, "choices"):
			choices, hasChoices = m, true
		case keyIs(data, m, "error"):
			hasError = !isNull(data, m)
		}
		return nil
	})
	if err != nil {
		return dst, malformed(err)
	}
	if hasError {
		s.ended = true
		return appendRaw(dst, ev.Raw), nil
	}
	if hasUsage {
		var u openAIResponseUsage
		if err := decodeUpstream(data[usage.valStart:usage.valEnd], &u); err != nil {
			return dst, malformed(err)
		}
		s.tokens = u.gateway()
	}
	usageOnly := false
	if hasChoices {
		arr := data[choices.valStart:choices.valEnd]
		usageOnly = hasUsage && arr[0] == '[' && arr[skipSpace(arr, 1)] == ']'
		if !s.pt.sawFinish && hasFinishReason(arr) {
			s.pt.sawFinish = true
		}
	}
	if s.pt.chunkPrefix == nil {
		var c openAIChunk
		if err := decodeUpstream(data, &c); err != nil {
			return dst, malformed(err)
		}
		s.pt.chunkPrefix = appendChunkPrefix(nil, c.ID, c.Created, cmpModel(s.opts.Model, c.Model))
	}
	if usageOnly && !s.opts.IncludeUsage {
		return dst, nil
	}
	if s.opts.Model == "" {
		return appendRaw(dst, ev.Raw), nil
	}
	return appendPatchedEvent(dst, ev, data, s.opts.Model, nil), nil
}

// hasFinishReason reports whether a choices array holds a non-null
// finish_reason.
func hasFinishReason(arr []byte) bool {
	const key = `"finish_reason"`
	for {
		i := bytes.Index(arr, []byte(key))
		if i < 0 {
			return false
		}
		arr = arr[i+len(key):]
		j := skipSpace(arr, 0)
		if j < len(arr) && arr[j] == ':' {
			j = skipSpace(arr, j+1)
			if j < len(arr) && arr[j] == '"' {
				return true
			}
		}
	}
}

// anthropicPassStream forwards an Anthropic stream to an Anthropic client.
type anthropicPassStream struct {
	streamBase
	anthropicDecoder
	pt passState
}

func newAnthropicPassStream(opts StreamOptions) *anthropicPassStream {
	s := &anthropicPassStream{streamBase: streamBase{opts: opts}}
	s.pt.openBlock = -1
	return s
}

func (s *anthropicPassStream) sawFinish() bool { return s.pt.sawDelta }

func (s *anthropicPassStream) fail(dst []byte, e *Error) []byte {
	s.ended = true
	return appendAnthropicStreamError(dst, e)
}

func (s *anthropicPassStream) event(dst []byte, ev sse.Event) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		if isComment(ev) {
			return appendRaw(dst, ev.Raw), nil
		}
		return dst, nil
	}
	typ := ev.Name
	var model bool
	switch string(typ) {
	case "content_block_delta", "ping":
		// The bulk of a stream: forwarded without decoding.
		return appendRaw(dst, ev.Raw), nil
	}
	if err := s.decodeAnthropic(data); err != nil {
		return dst, err
	}
	switch s.aev.Type {
	case "message_start":
		if s.aev.Message != nil {
			s.applyAnthropicUsage(messageStartUsage(s.aev.Message.Usage))
		}
		model = s.opts.Model != ""
	case "content_block_start":
		s.pt.openBlock = s.aev.Index
	case "content_block_stop":
		s.pt.openBlock = -1
	case "message_delta":
		s.pt.sawDelta = true
		s.applyAnthropicUsage(s.aev.Usage)
	case "message_stop", "error":
		s.ended = true
	}
	if !model {
		return appendRaw(dst, ev.Raw), nil
	}
	return appendPatchedEvent(dst, ev, data, s.opts.Model, []string{"message"}), nil
}

// appendPatchedEvent re-frames an event with its model replaced. Only the
// data changes; the framing is normalized to one "event:" and one "data:"
// line.
func appendPatchedEvent(dst []byte, ev sse.Event, data []byte, model string, path []string) []byte {
	if len(ev.Name) > 0 {
		dst = append(dst, "event: "...)
		dst = append(dst, ev.Name...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	start := len(dst)
	dst = replaceStringValue(dst, data, "model", model, path...)
	// Data split over several lines holds line breaks, which JSON allows only
	// as white space between tokens: spaces keep it on one data line.
	for i := start; i < len(dst); i++ {
		if dst[i] == '\n' || dst[i] == '\r' {
			dst[i] = ' '
		}
	}
	return append(dst, "\n\n"...)
}

// close ends a same-format stream the upstream left open.
func (s *openAIPassStream) close(dst []byte) []byte {
	if !s.pt.sawFinish && s.pt.chunkPrefix != nil {
		dst = append(dst, s.pt.chunkPrefix...)
		dst = append(dst, `{},"logprobs":null,"finish_reason":"length"}]}`+"\n\n"...)
	}
	s.ended = true
	return append(dst, "data: [DONE]\n\n"...)
}

// close ends a same-format stream the upstream left open.
func (s *anthropicPassStream) close(dst []byte) []byte {
	s.ended = true
	if s.pt.openBlock >= 0 {
		dst = appendBlockStop(dst, s.pt.openBlock)
	}
	if !s.pt.sawDelta {
		dst = appendMessageDelta(dst, "max_tokens", s.tokens)
	}
	return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// appendChunkPrefix builds the bytes every OpenAI chunk of a stream starts
// with, up to the delta object.
func appendChunkPrefix(dst []byte, id string, created int64, model string) []byte {
	dst = append(dst, `data: {"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = strconv.AppendInt(dst, created, 10)
	dst = append(dst, `,"model":`...)
	dst = jsonx.AppendString(dst, model)
	return append(dst, `,"choices":[{"index":0,"delta":`...)
}

func cmpModel(override, upstream string) string {
	if override != "" {
		return override
	}
	return upstream
}
