package converter

import (
	"bytes"
	"strconv"

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

// Stream translates one streamed answer event by event, from the upstream's
// format to the client's. It is not safe for concurrent use; a worker owns
// one per request.
//
// Keep-alive: an Anthropic ping has no OpenAI counterpart and is dropped when
// translating, since the worker's own heartbeats keep the connection alive.
type Stream struct {
	from, to Format
	opts     StreamOptions

	started bool // a byte was produced for the client
	done    bool // the client got its closing or error event
	failed  *Error
	usage   Usage
	// held is a high-surrogate escape that ended the last event's text,
	// waiting for its low half (see joinSurrogates).
	held []byte

	a2o a2oState
	o2a o2aState
	pt  passState

	// Decoding targets, reused for every event.
	aev anthropicStreamEvent
	och openAIChunkBody
}

// NewStream returns a Stream translating from the upstream format from to the
// client format to. from == to is a pass-through (see Event).
func NewStream(from, to Format, opts StreamOptions) *Stream {
	s := &Stream{from: from, to: to, opts: opts}
	s.o2a.open = -1
	s.pt.openBlock = -1
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
	if s.done {
		return dst, nil
	}
	n := len(dst)
	var err error
	if s.from != s.to && bytes.IndexByte(ev.Data, '\\') >= 0 || s.held != nil {
		ev.Data = s.joinSurrogates(ev.Data)
	}
	switch {
	case s.from == s.to:
		dst, err = s.passEvent(dst, ev)
	case s.from == Anthropic:
		dst, err = s.anthropicToOpenAI(dst, ev)
	default:
		dst, err = s.openAIToAnthropic(dst, ev)
	}
	if len(dst) > n {
		s.started = true
	}
	return dst, err
}

// Finish appends, at upstream EOF, the closing events the upstream did not
// send (CONVERSION §4.3 "EOF without message_stop", §4.4 step 7). It is
// idempotent and appends nothing when the stream already closed properly. An
// upstream that ended before sending anything gets the client an error
// event, since the response status is already out.
func (s *Stream) Finish(dst []byte) []byte {
	if s.done {
		return dst
	}
	if !s.started {
		return s.Fail(dst, Errorf(KindStreamInterrupted, "the upstream ended the stream without an answer"))
	}
	// Without a finish reason nothing says the answer is whole: closing it
	// as cut by the length limit would pass a broken connection off as a
	// complete answer, so the client is told it broke off.
	if !s.sawFinish() {
		return s.Fail(dst, Errorf(KindStreamInterrupted, "the upstream stream ended before the answer was complete"))
	}
	switch {
	case s.from == s.to:
		dst = s.passFinish(dst)
	case s.from == Anthropic:
		dst = s.a2oClose(dst, true)
	default:
		dst = s.o2aClose(dst, true)
	}
	s.done = true
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

// sawFinish reports whether the upstream said how the answer ended: a
// finish_reason, or a message_delta with its stop_reason.
func (s *Stream) sawFinish() bool {
	switch {
	case s.from == s.to && s.from == OpenAIChat:
		return s.pt.sawFinish
	case s.from == s.to:
		return s.pt.sawDelta
	case s.from == Anthropic:
		return s.a2o.finish != ""
	default:
		return s.o2a.finish != ""
	}
}

// isComment reports an event made of SSE comment lines only (": ping"),
// which keeps a connection alive and carries nothing else. An event with
// neither data nor comment is not SSE (an HTML page sent as an event
// stream, say) and is not forwarded.
func isComment(ev sse.Event) bool {
	raw := bytes.TrimLeft(ev.Raw, "\r\n")
	return len(raw) > 0 && raw[0] == ':'
}

// Fail appends the error event that ends the stream in the client's dialect,
// when the upstream broke off (disconnect, idle timeout). Nothing is sent
// after it.
func (s *Stream) Fail(dst []byte, e *Error) []byte {
	if s.done {
		return dst
	}
	s.done = true
	s.started = true
	s.failed = e
	return AppendStreamError(dst, s.to, e)
}

// Failed returns the error that ended the stream, nil when it ended as the
// upstream ended it. Finish may end a stream with an error (see Finish).
func (s *Stream) Failed() *Error { return s.failed }

// Done reports whether the client has received its closing event ([DONE],
// message_stop) or an error event.
func (s *Stream) Done() bool { return s.done }

// Usage returns the usage seen so far. Anthropic counts are cumulative and
// overwrite; OpenAI's arrive in the usage chunk.
func (s *Stream) Usage() Usage { return s.usage }

// Started reports whether at least one byte was produced for the client.
func (s *Stream) Started() bool { return s.started }

// malformed reports an upstream event that cannot be decoded.
func malformed(err error) *Error {
	return Errorf(KindStreamInterrupted, "the upstream sent a malformed stream event: %v", err)
}

// decodeAnthropic decodes an Anthropic event into s.aev.
func (s *Stream) decodeAnthropic(data []byte) error {
	s.aev.reset()
	if err := decodeUpstream(data, &s.aev); err != nil {
		return malformed(err)
	}
	return nil
}

// applyAnthropicUsage records cumulative Anthropic counts: message_delta's
// usage overwrites what message_start said, field by field (CONVERSION §7.5).
func (s *Stream) applyAnthropicUsage(u anthropicStreamUsage) {
	in := anthropicInputTokens(s.usage)
	if u.InputTokens >= 0 {
		in = u.InputTokens
	}
	if u.CacheReadInputTokens >= 0 {
		s.usage.CacheReadTokens = u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens >= 0 {
		s.usage.CacheWriteTokens = u.CacheCreationInputTokens
	}
	if u.OutputTokens >= 0 {
		s.usage.OutputTokens = u.OutputTokens
	}
	s.usage.InputTokens = in + s.usage.CacheReadTokens + s.usage.CacheWriteTokens
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

// passEvent forwards one event of a same-format stream.
func (s *Stream) passEvent(dst []byte, ev sse.Event) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if s.from == OpenAIChat {
		return s.passOpenAI(dst, ev, data)
	}
	return s.passAnthropic(dst, ev, data)
}

func (s *Stream) passOpenAI(dst []byte, ev sse.Event, data []byte) ([]byte, error) {
	if len(data) == 0 {
		if isComment(ev) {
			return appendRaw(dst, ev.Raw), nil // keep-alives
		}
		return dst, nil
	}
	if string(data) == "[DONE]" {
		s.done = true
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
		s.done = true
		return appendRaw(dst, ev.Raw), nil
	}
	if hasUsage {
		var u openAIResponseUsage
		if err := decodeUpstream(data[usage.valStart:usage.valEnd], &u); err != nil {
			return dst, malformed(err)
		}
		s.usage = u.gateway()
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

func (s *Stream) passAnthropic(dst []byte, ev sse.Event, data []byte) ([]byte, error) {
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
		s.done = true
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

// passFinish closes a same-format stream the upstream left open.
func (s *Stream) passFinish(dst []byte) []byte {
	if s.from == OpenAIChat {
		if !s.pt.sawFinish && s.pt.chunkPrefix != nil {
			dst = append(dst, s.pt.chunkPrefix...)
			dst = append(dst, `{},"logprobs":null,"finish_reason":"length"}]}`+"\n\n"...)
		}
		return append(dst, "data: [DONE]\n\n"...)
	}
	if s.pt.openBlock >= 0 {
		dst = appendBlockStop(dst, s.pt.openBlock)
	}
	if !s.pt.sawDelta {
		dst = appendMessageDelta(dst, "max_tokens", s.usage)
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
