package bus

import (
	"encoding/binary"
	"fmt"
)

// Envelope versions. A worker decodes every version it knows; an ingress
// encodes the highest version that every worker of the upstream announced
// (Presence.Envelope), so ingresses and workers of adjacent releases work
// together during a rolling upgrade.
const (
	// EnvelopeV1 is the first envelope: the request is served as its route
	// says, and failures come back as FrameError in the client's format.
	EnvelopeV1 = 1
	// EnvelopeV2 adds the upstream model, the attempt number and the
	// client's scope, and asks for failures as typed FrameFailure frames.
	EnvelopeV2 = 2
	// EnvelopeVersion is the highest version this build speaks.
	EnvelopeVersion = EnvelopeV2
)

// Request is the envelope of one client request on its way to a worker.
type Request struct {
	// Version is the envelope version: the one it was decoded from, or the
	// one to encode (0 encodes EnvelopeVersion).
	Version int
	// ID is the gateway's request id; it is a valid subject token.
	ID string
	// ClientRequestID is the x-request-id the client sent or was given.
	ClientRequestID string
	// Reply is the subject the worker publishes reply frames to.
	Reply string
	// Route is the path of the route the request came in on.
	Route string
	// Upstream names the upstream whose workers serve the request.
	Upstream string
	// Model is the model the client asked for.
	Model string
	// Stream reports whether the client asked for a streamed answer.
	Stream bool
	// IncludeUsage reports whether an OpenAI client asked for the usage chunk.
	IncludeUsage bool
	// Deadline (Unix nanoseconds) is the last moment a worker may start the
	// request; after it the ingress has already answered the client.
	Deadline int64
	// Enqueued (Unix nanoseconds) is when the ingress queued the request.
	Enqueued int64
	// Headers are client request headers the upstream call needs.
	Headers []Header
	// BodySize is the length of the request body.
	BodySize int
	// BodySubject, when set, is where the worker fetches the body in chunks
	// because it does not fit in one bus message.
	BodySubject string
	// Body is the request body when it travels inline.
	Body []byte

	// UpstreamModel (version 2) is the model name to send upstream, as the
	// ingress's routing chose it; empty leaves the choice to the route's
	// model map, as version 1 did.
	UpstreamModel string
	// Attempt (version 2) counts the attempts at this client request, from
	// 1; a worker only logs it.
	Attempt int
	// Scope (version 2) identifies the API key the request came with to the
	// stores that keep what it made (stored responses); empty with access
	// control off, where every client shares one scope.
	Scope string
}

// TypedFailures reports whether the ingress that sent r reads FrameFailure.
func (r *Request) TypedFailures() bool { return r.Version >= EnvelopeV2 }

// AppendRequest encodes r into dst. The body goes last so that it is copied
// exactly once.
func AppendRequest(dst []byte, r *Request) []byte {
	version := r.Version
	if version == 0 {
		version = EnvelopeVersion
	}
	dst = append(dst, byte(version))
	for _, s := range [...]string{r.ID, r.ClientRequestID, r.Reply, r.Route, r.Upstream, r.Model, r.BodySubject} {
		dst = appendString(dst, s)
	}
	var flags byte
	if r.Stream {
		flags |= 1
	}
	if r.IncludeUsage {
		flags |= 2
	}
	dst = append(dst, flags)
	dst = binary.AppendVarint(dst, r.Deadline)
	dst = binary.AppendVarint(dst, r.Enqueued)
	dst = binary.AppendUvarint(dst, uint64(r.BodySize))
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendString(dst, h.Name)
		dst = appendString(dst, h.Value)
	}
	if version >= EnvelopeV2 {
		dst = appendString(dst, r.UpstreamModel)
		dst = binary.AppendUvarint(dst, uint64(max(r.Attempt, 0)))
		dst = appendString(dst, r.Scope)
	}
	return append(dst, r.Body...)
}

// DecodeRequest decodes an envelope. The body and every string alias data,
// which must not be modified afterwards.
func DecodeRequest(data []byte) (*Request, error) {
	if len(data) == 0 || data[0] < EnvelopeV1 || data[0] > EnvelopeVersion {
		return nil, fmt.Errorf("%w: unknown envelope version", ErrMalformedFrame)
	}
	p := data[1:]
	r := &Request{Version: int(data[0])}
	var err error
	for _, dst := range [...]*string{&r.ID, &r.ClientRequestID, &r.Reply, &r.Route, &r.Upstream, &r.Model, &r.BodySubject} {
		if *dst, p, err = readString(p); err != nil {
			return nil, err
		}
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("%w: truncated envelope", ErrMalformedFrame)
	}
	r.Stream, r.IncludeUsage = p[0]&1 != 0, p[0]&2 != 0
	p = p[1:]
	deadline, n := binary.Varint(p)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad deadline", ErrMalformedFrame)
	}
	r.Deadline, p = deadline, p[n:]
	enqueued, n := binary.Varint(p)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad enqueue time", ErrMalformedFrame)
	}
	r.Enqueued, p = enqueued, p[n:]
	size, p, err := readUvarint(p)
	if err != nil || size > 1<<40 {
		return nil, fmt.Errorf("%w: bad body size", ErrMalformedFrame)
	}
	r.BodySize = int(size)
	count, p, err := readUvarint(p)
	if err != nil || count > uint64(len(p)) {
		return nil, fmt.Errorf("%w: bad header count", ErrMalformedFrame)
	}
	for range count {
		var h Header
		if h.Name, p, err = readString(p); err != nil {
			return nil, err
		}
		if h.Value, p, err = readString(p); err != nil {
			return nil, err
		}
		r.Headers = append(r.Headers, h)
	}
	if r.Version >= EnvelopeV2 {
		if r.UpstreamModel, p, err = readString(p); err != nil {
			return nil, err
		}
		attempt, rest, err := readUvarint(p)
		if err != nil || attempt > 1<<16 {
			return nil, fmt.Errorf("%w: bad attempt", ErrMalformedFrame)
		}
		r.Attempt, p = int(attempt), rest
		if r.Scope, p, err = readString(p); err != nil {
			return nil, err
		}
	}
	if r.BodySubject == "" {
		if len(p) != r.BodySize {
			return nil, fmt.Errorf("%w: body is %d bytes, envelope says %d", ErrMalformedFrame, len(p), r.BodySize)
		}
		r.Body = p
	}
	return r, nil
}

// Header returns the value of the named client header, or "".
func (r *Request) Header(name string) string {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}
