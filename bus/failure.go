package bus

import (
	"encoding/binary"
	"fmt"
	"time"
)

// FailureKind says what failed in a FrameFailure.
type FailureKind byte

// The kinds of failure a worker reports.
const (
	// FailGateway is a failure the gateway itself decided (a request it
	// cannot convert, a bug, a shutdown); Code and Message describe it.
	FailGateway FailureKind = iota
	// FailUpstreamStatus is an upstream HTTP error: Status, RetryAfter,
	// UpstreamFormat and Body carry what the upstream sent.
	FailUpstreamStatus
	// FailConnect means the upstream could not be reached.
	FailConnect
	// FailTimeout means the upstream sent no response in time.
	FailTimeout
	// FailProtocol means the upstream answered with something unreadable.
	FailProtocol
)

// Failure is the payload of a FrameFailure.
type Failure struct {
	Kind FailureKind
	// Retryable is the worker's verdict: another attempt, on this target
	// or another, may succeed. The ingress may narrow it (retry_on).
	Retryable bool
	// Code is the converter.ErrorKind of a failure the gateway describes
	// (every kind but FailUpstreamStatus), for the client's error body.
	Code uint8
	// Message, Param and ErrorCode describe such a failure; Message is safe
	// to show, and ErrorCode, when set, replaces the kind's default
	// machine-readable code in the client's error body.
	Message   string
	Param     string
	ErrorCode string
	// Status is the upstream's HTTP status (FailUpstreamStatus).
	Status int
	// RetryAfter is the upstream's Retry-After; 0 when it sent none.
	RetryAfter time.Duration
	// UpstreamFormat is the wire format of Body.
	UpstreamFormat string
	// UpstreamRequestID is the upstream's request id, when it sent one.
	UpstreamRequestID string
	// Headers are the upstream's response headers already translated to
	// the client's dialect, for the answer if this failure is final.
	Headers []Header
	// Body is the upstream's raw error body, bounded by the worker.
	Body []byte
}

// AppendFailure encodes a failure frame's payload. The body goes last.
func AppendFailure(dst []byte, f *Failure) []byte {
	var flags byte
	if f.Retryable {
		flags |= 1
	}
	dst = append(dst, byte(f.Kind), flags, f.Code)
	dst = binary.AppendUvarint(dst, uint64(max(f.Status, 0)))
	dst = binary.AppendUvarint(dst, uint64(max(f.RetryAfter, 0)/time.Millisecond))
	for _, s := range [...]string{f.Message, f.Param, f.ErrorCode, f.UpstreamFormat, f.UpstreamRequestID} {
		dst = appendString(dst, s)
	}
	dst = binary.AppendUvarint(dst, uint64(len(f.Headers)))
	for _, h := range f.Headers {
		dst = appendString(dst, h.Name)
		dst = appendString(dst, h.Value)
	}
	return append(dst, f.Body...)
}

// DecodeFailure decodes a failure frame's payload. Strings and Body alias p.
func DecodeFailure(p []byte) (Failure, error) {
	if len(p) < 3 {
		return Failure{}, fmt.Errorf("%w: truncated failure", ErrMalformedFrame)
	}
	f := Failure{Kind: FailureKind(p[0]), Retryable: p[1]&1 != 0, Code: p[2]}
	if f.Kind > FailProtocol {
		return Failure{}, fmt.Errorf("%w: unknown failure kind %d", ErrMalformedFrame, p[0])
	}
	p = p[3:]
	status, p, err := readUvarint(p)
	if err != nil || status > 999 || f.Kind == FailUpstreamStatus && status < 100 {
		return Failure{}, fmt.Errorf("%w: bad failure status", ErrMalformedFrame)
	}
	f.Status = int(status)
	wait, p, err := readUvarint(p)
	if err != nil || wait > uint64(24*time.Hour/time.Millisecond) {
		return Failure{}, fmt.Errorf("%w: bad retry-after", ErrMalformedFrame)
	}
	f.RetryAfter = time.Duration(wait) * time.Millisecond
	for _, dst := range [...]*string{&f.Message, &f.Param, &f.ErrorCode, &f.UpstreamFormat, &f.UpstreamRequestID} {
		if *dst, p, err = readString(p); err != nil {
			return Failure{}, err
		}
	}
	count, p, err := readUvarint(p)
	if err != nil || count > uint64(len(p)) {
		return Failure{}, fmt.Errorf("%w: bad header count", ErrMalformedFrame)
	}
	for range count {
		var h Header
		if h.Name, p, err = readString(p); err != nil {
			return Failure{}, err
		}
		if h.Value, p, err = readString(p); err != nil {
			return Failure{}, err
		}
		f.Headers = append(f.Headers, h)
	}
	f.Body = p
	return f, nil
}
