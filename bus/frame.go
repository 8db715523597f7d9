package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// FrameKind tells what a reply frame carries.
type FrameKind byte

// The reply frame kinds. Every frame has a sequence number; heartbeats repeat
// the last sequence number sent so the ingress can detect a lost final frame.
const (
	// FrameAccept says a worker took the request off the queue; its payload is
	// the worker's control subject for credit grants and cancellation.
	FrameAccept FrameKind = 'A'
	// FrameHead carries the HTTP status and headers for the client.
	FrameHead FrameKind = 'H'
	// FrameData carries bytes to write to the client as they are.
	FrameData FrameKind = 'D'
	// FrameHeartbeat is sent while the upstream is silent.
	FrameHeartbeat FrameKind = 'B'
	// FrameEnd is the final frame of a successful answer; it carries usage.
	FrameEnd FrameKind = 'E'
	// FrameError is a final frame carrying a status and a body in the client's
	// error format; it is only sent before any head frame.
	FrameError FrameKind = 'X'
	// FrameFailure is a final frame carrying a typed Failure: what failed,
	// whether another attempt may succeed, and for an upstream HTTP error
	// its status, Retry-After and raw body. It replaces FrameError for
	// requests of envelope version 2 and later, so the ingress decides on a
	// retry without parsing a client-format body, and builds that body
	// only for the answer it finally gives. It is only sent before any head
	// frame.
	FrameFailure FrameKind = 'F'
)

// ErrMalformedFrame is returned when a message does not decode as frames.
var ErrMalformedFrame = errors.New("bus: malformed frame")

// Frame is one decoded reply frame. Payload aliases the message it came from.
type Frame struct {
	Kind    FrameKind
	Seq     uint64
	Payload []byte
}

// AppendFrame appends one encoded frame to dst. Several frames may be
// appended to one buffer and sent as a single message: that is how a burst of
// events is coalesced into one bus hop.
func AppendFrame(dst []byte, kind FrameKind, seq uint64, payload []byte) []byte {
	dst = append(dst, byte(kind))
	dst = binary.AppendUvarint(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}

// NextFrame decodes the first frame of msg and returns the remaining bytes.
func NextFrame(msg []byte) (Frame, []byte, error) {
	if len(msg) == 0 {
		return Frame{}, nil, fmt.Errorf("%w: empty", ErrMalformedFrame)
	}
	f := Frame{Kind: FrameKind(msg[0])}
	switch f.Kind {
	case FrameAccept, FrameHead, FrameData, FrameHeartbeat, FrameEnd, FrameError, FrameFailure:
	default:
		return Frame{}, nil, fmt.Errorf("%w: unknown kind %q", ErrMalformedFrame, msg[0])
	}
	rest := msg[1:]
	seq, n := binary.Uvarint(rest)
	if n <= 0 {
		return Frame{}, nil, fmt.Errorf("%w: bad sequence number", ErrMalformedFrame)
	}
	rest = rest[n:]
	size, n := binary.Uvarint(rest)
	if n <= 0 || size > uint64(len(rest)-n) {
		return Frame{}, nil, fmt.Errorf("%w: bad length", ErrMalformedFrame)
	}
	rest = rest[n:]
	f.Seq = seq
	f.Payload = rest[:size:size]
	return f, rest[size:], nil
}

// Header is one HTTP response header carried by a head frame.
type Header struct{ Name, Value string }

// Head is the payload of a head frame.
type Head struct {
	Status  int
	Headers []Header
}

// AppendHead encodes a head frame's payload.
func AppendHead(dst []byte, h Head) []byte {
	dst = binary.AppendUvarint(dst, uint64(h.Status))
	dst = binary.AppendUvarint(dst, uint64(len(h.Headers)))
	for _, kv := range h.Headers {
		dst = appendString(dst, kv.Name)
		dst = appendString(dst, kv.Value)
	}
	return dst
}

// DecodeHead decodes a head frame's payload. Its strings alias p.
func DecodeHead(p []byte) (Head, error) {
	status, p, err := readUvarint(p)
	if err != nil || status < 100 || status > 999 {
		return Head{}, fmt.Errorf("%w: bad status", ErrMalformedFrame)
	}
	count, p, err := readUvarint(p)
	if err != nil || count > uint64(len(p)) {
		return Head{}, fmt.Errorf("%w: bad header count", ErrMalformedFrame)
	}
	h := Head{Status: int(status), Headers: make([]Header, 0, count)}
	for range count {
		var name, value string
		if name, p, err = readString(p); err != nil {
			return Head{}, err
		}
		if value, p, err = readString(p); err != nil {
			return Head{}, err
		}
		h.Headers = append(h.Headers, Header{Name: name, Value: value})
	}
	return h, nil
}

// Usage is the token accounting an end frame carries.
type Usage struct {
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
}

// AppendUsage encodes an end frame's payload.
func AppendUsage(dst []byte, u Usage) []byte {
	for _, v := range [...]int64{u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens} {
		dst = binary.AppendUvarint(dst, uint64(max(v, 0)))
	}
	return dst
}

// DecodeUsage decodes an end frame's payload. An empty payload is zero usage.
func DecodeUsage(p []byte) (Usage, error) {
	var vals [4]int64
	for i := range vals {
		if len(p) == 0 {
			break
		}
		v, rest, err := readUvarint(p)
		if err != nil {
			return Usage{}, err
		}
		vals[i], p = int64(min(v, 1<<62)), rest
	}
	return Usage{InputTokens: vals[0], OutputTokens: vals[1], CacheReadTokens: vals[2], CacheWriteTokens: vals[3]}, nil
}

// AppendError encodes an error frame's payload: the status, then the body.
func AppendError(dst []byte, status int, body []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(status))
	return append(dst, body...)
}

// DecodeError decodes an error frame's payload.
func DecodeError(p []byte) (status int, body []byte, err error) {
	s, rest, err := readUvarint(p)
	if err != nil || s < 100 || s > 999 {
		return 0, nil, fmt.Errorf("%w: bad error status", ErrMalformedFrame)
	}
	return int(s), rest, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func readUvarint(p []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad varint", ErrMalformedFrame)
	}
	return v, p[n:], nil
}

// readString reads a length-prefixed string without copying it: the result
// aliases p. Bus messages are allocated afresh for each delivery and never
// modified, so the strings of a decoded envelope or head stay valid, and
// decoding one costs no allocation per field.
func readString(p []byte) (string, []byte, error) {
	size, p, err := readUvarint(p)
	if err != nil || size > uint64(len(p)) {
		return "", nil, fmt.Errorf("%w: bad string", ErrMalformedFrame)
	}
	if size == 0 {
		return "", p, nil
	}
	return unsafe.String(&p[0], size), p[size:], nil
}
