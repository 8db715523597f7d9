package converter

import (
	"bytes"

	"github.com/aigateway/gateway/converter/sse"
)

// rsPassStream forwards a Responses stream to a Responses client. The bytes
// are the upstream's; only the events that carry the response object are
// decoded, to read the usage and the way the answer ended, and re-framed
// with the model replaced when StreamOptions.Model is set.
type rsPassStream struct {
	opts     StreamOptions
	finish   bool // response.completed or response.incomplete arrived
	finished bool // a terminal event (those, response.failed or error) passed
	seq      int64
	tokens   Usage
	// unterminated reports that the last bytes forwarded did not end an
	// event (an upstream's last event may lack its blank line): an event
	// of the gateway's own must not be glued to them.
	unterminated bool
}

var _ eventTranslator = (*rsPassStream)(nil)

// newResponsesPassStream returns the Responses pass-through translator.
func newResponsesPassStream(opts StreamOptions) *rsPassStream {
	return &rsPassStream{opts: opts}
}

func (s *rsPassStream) sawFinish() bool { return s.finish }
func (s *rsPassStream) usage() Usage    { return s.tokens }
func (s *rsPassStream) done() bool      { return s.finished }

// close appends nothing: a stream whose finish was seen is already whole.
func (s *rsPassStream) close(dst []byte) []byte {
	s.finished = true
	return dst
}

// fail ends the stream with an `error` event numbered after the last event
// that passed.
func (s *rsPassStream) fail(dst []byte, e *Error) []byte {
	if s.finished {
		return dst
	}
	s.finished = true
	if s.unterminated {
		dst = append(dst, "\n\n"...)
	}
	return appendResponsesStreamError(dst, e, s.seq)
}

// forward appends an event's bytes as the upstream sent them.
func (s *rsPassStream) forward(dst, raw []byte) []byte {
	s.unterminated = !bytes.HasSuffix(raw, []byte("\n\n")) && !bytes.HasSuffix(raw, []byte("\r\r")) && !bytes.HasSuffix(raw, []byte("\n\r\n"))
	return append(dst, raw...)
}

// rsPassEvent is what the pass-through decodes of an event.
type rsPassEvent struct {
	Type           string `json:"type"`
	SequenceNumber *int64 `json:"sequence_number"`
	Response       *struct {
		Usage *rsOutUsage `json:"usage"`
	} `json:"response"`
}

func (s *rsPassStream) event(dst []byte, ev sse.Event) ([]byte, error) {
	if s.finished {
		return dst, nil
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		if isComment(ev) {
			return s.forward(dst, ev.Raw), nil // keep-alives
		}
		return dst, nil
	}
	// The bulk of a stream is deltas: their type is read from the event
	// name, and they pass without decoding.
	name := string(ev.Name)
	if isResponsesDelta(name) {
		s.seq++
		return s.forward(dst, ev.Raw), nil
	}
	var e rsPassEvent
	if err := decodeUpstream(data, &e); err != nil {
		return dst, malformed(err)
	}
	if e.SequenceNumber != nil {
		s.seq = *e.SequenceNumber + 1
	} else {
		s.seq++
	}
	withResponse := false
	switch e.Type {
	case "response.completed", "response.incomplete":
		s.finish, s.finished = true, true
		withResponse = true
	case "response.failed":
		s.finished, withResponse = true, true
	case "error":
		s.finished = true
	case "response.created", "response.in_progress", "response.queued":
		withResponse = true
	}
	if e.Response != nil && e.Response.Usage != nil {
		s.tokens = e.Response.Usage.gateway()
	}
	if !withResponse || s.opts.Model == "" || e.Response == nil {
		return s.forward(dst, ev.Raw), nil
	}
	s.unterminated = false
	return appendPatchedEvent(dst, ev, data, s.opts.Model, []string{"response"}), nil
}

// isResponsesDelta reports the event names of the incremental events, which
// carry neither a response object nor an ending.
func isResponsesDelta(name string) bool {
	switch name {
	case "response.output_text.delta", "response.function_call_arguments.delta",
		"response.reasoning_summary_text.delta", "response.reasoning_text.delta",
		"response.custom_tool_call_input.delta", "response.refusal.delta":
		return true
	}
	return false
}
