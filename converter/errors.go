package converter

import (
	"fmt"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

// ErrorKind classifies a failure independently of any wire format; each
// format maps it to its own status code, error type and code.
type ErrorKind uint8

// The failures the gateway reports.
const (
	KindInternal            ErrorKind = iota // a bug or an unexpected state
	KindInvalidRequest                       // the client's request is malformed or unsupported
	KindAuthentication                       // missing or wrong API key
	KindPermission                           // key not allowed on the route or model
	KindNotFound                             // no such path
	KindMethodNotAllowed                     // path exists, method does not
	KindRequestTooLarge                      // body over the configured maximum
	KindRateLimited                          // per-key rate limit reached
	KindQuotaExceeded                        // per-key quota for the period used up
	KindQueueFull                            // the upstream's queue is full
	KindQueueTimeout                         // no worker started the request in time
	KindNoWorkers                            // no worker serves the upstream
	KindOverloaded                           // the gateway refuses work for now
	KindUnavailable                          // a dependency of the gateway is down
	KindUpstreamUnavailable                  // the upstream could not be reached
	KindUpstreamTimeout                      // the upstream did not answer in time
	KindStreamInterrupted                    // the answer broke off after it started
	KindHeadersTooLarge                      // request line and headers over the configured maximum
	KindRequestTimeout                       // the client did not send its request in time
)

// Error is a failure reported to a client in its own API's error shape.
type Error struct {
	Kind    ErrorKind
	Message string
	// Param names the offending request field, when there is one.
	Param string
	// Code overrides the kind's default machine-readable code.
	Code string
}

// Errorf returns an Error of the given kind with a formatted message.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// InvalidParam returns a 400 error that names the offending field.
func InvalidParam(param, format string, args ...any) *Error {
	return &Error{Kind: KindInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Param != "" {
		return e.Message + " (param " + e.Param + ")"
	}
	return e.Message
}

// errorShape is how one kind looks in each format.
type errorShape struct {
	openAIStatus    int
	openAIType      string
	openAICode      string
	anthropicStatus int
	anthropicType   string
}

var errorShapes = [...]errorShape{
	KindInternal:            {500, "server_error", "internal_error", 500, "api_error"},
	KindInvalidRequest:      {400, "invalid_request_error", "", 400, "invalid_request_error"},
	KindAuthentication:      {401, "invalid_request_error", "invalid_api_key", 401, "authentication_error"},
	KindPermission:          {403, "invalid_request_error", "permission_denied", 403, "permission_error"},
	KindNotFound:            {404, "invalid_request_error", "not_found", 404, "not_found_error"},
	KindMethodNotAllowed:    {405, "invalid_request_error", "method_not_allowed", 405, "invalid_request_error"},
	KindRequestTooLarge:     {413, "invalid_request_error", "request_too_large", 413, "request_too_large"},
	KindRateLimited:         {429, "rate_limit_error", "rate_limit_exceeded", 429, "rate_limit_error"},
	KindQuotaExceeded:       {429, "insufficient_quota", "insufficient_quota", 429, "rate_limit_error"},
	KindQueueFull:           {429, "rate_limit_error", "queue_full", 529, "overloaded_error"},
	KindQueueTimeout:        {503, "server_error", "queue_timeout", 529, "overloaded_error"},
	KindNoWorkers:           {503, "server_error", "no_workers", 503, "api_error"},
	KindOverloaded:          {503, "server_error", "overloaded", 529, "overloaded_error"},
	KindUnavailable:         {503, "server_error", "service_unavailable", 503, "api_error"},
	KindUpstreamUnavailable: {502, "server_error", "upstream_unavailable", 502, "api_error"},
	KindUpstreamTimeout:     {504, "server_error", "upstream_timeout", 504, "timeout_error"},
	KindStreamInterrupted:   {502, "server_error", "stream_interrupted", 502, "api_error"},
	KindHeadersTooLarge:     {431, "invalid_request_error", "request_header_fields_too_large", 431, "invalid_request_error"},
	KindRequestTimeout:      {408, "invalid_request_error", "request_timeout", 408, "timeout_error"},
}

func (e *Error) shape() errorShape {
	if int(e.Kind) < len(errorShapes) {
		return errorShapes[e.Kind]
	}
	return errorShapes[KindInternal]
}

// Status returns the HTTP status the error carries in format f.
func (e *Error) Status(f format.Format) int { return errorCodec(f).errors.status(e) }

// Type returns the error type the error carries in format f.
func (e *Error) Type(f format.Format) string { return errorCodec(f).errors.typ(e) }

func (e *Error) code() string {
	if e.Code != "" {
		return e.Code
	}
	return e.shape().openAICode
}

// Retryable reports whether a client may retry the same request later, which
// decides whether the gateway sends Retry-After.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindRateLimited, KindQueueFull, KindQueueTimeout, KindNoWorkers, KindOverloaded,
		KindUnavailable, KindUpstreamUnavailable, KindUpstreamTimeout:
		return true
	}
	return false
}

// AppendErrorBody appends the JSON error body of e in format f. requestID is
// reported in the Anthropic body's request_id field.
func AppendErrorBody(dst []byte, f format.Format, e *Error, requestID string) []byte {
	return errorCodec(f).errors.body(dst, e, requestID)
}

// AppendStreamError appends the SSE event that reports e inside an already
// started stream of format f. The stream ends after it.
func AppendStreamError(dst []byte, f format.Format, e *Error) []byte {
	return errorCodec(f).errors.streamError(dst, e)
}

// appendAnthropicErrorBody is Anthropic's error body, with the request id.
func appendAnthropicErrorBody(dst []byte, e *Error, requestID string) []byte {
	dst = appendAnthropicError(dst, e)
	dst = dst[:len(dst)-1] // reopen the object to add request_id
	dst = append(dst, `,"request_id":`...)
	dst = jsonx.AppendString(dst, requestID)
	return append(dst, '}')
}

// appendAnthropicStreamError is Anthropic's error event.
func appendAnthropicStreamError(dst []byte, e *Error) []byte {
	dst = append(dst, "event: error\ndata: "...)
	dst = appendAnthropicError(dst, e)
	return append(dst, "\n\n"...)
}

func appendOpenAIError(dst []byte, e *Error) []byte {
	s := e.shape()
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonx.AppendString(dst, e.Message)
	dst = append(dst, `,"type":`...)
	dst = jsonx.AppendString(dst, s.openAIType)
	dst = append(dst, `,"param":`...)
	dst = appendNullableString(dst, e.Param)
	dst = append(dst, `,"code":`...)
	dst = appendNullableString(dst, e.code())
	return append(dst, "}}"...)
}

func appendAnthropicError(dst []byte, e *Error) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = jsonx.AppendString(dst, e.shape().anthropicType)
	dst = append(dst, `,"message":`...)
	msg := e.Message
	if e.Param != "" {
		msg = e.Param + ": " + msg
	}
	dst = jsonx.AppendString(dst, msg)
	return append(dst, "}}"...)
}

func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return jsonx.AppendString(dst, s)
}
