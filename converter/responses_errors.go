package converter

import (
	"strconv"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Errors of the OpenAI Responses API. Over HTTP the body has the OpenAI
// shape, {"error":{message,type,param,code}}. Inside a stream the API sends
// either an `error` event ({"type":"error","code","message","param",
// "sequence_number"}) or `response.failed`, whose response carries
// error {code, message}. The stream translators end a stream with
// response.failed: Codex reads only that one (its error code decides whether
// it retries, waits, or reports a full context window; an `error` event is
// skipped and the stream then counts as closed early), and the AI SDK and the
// openai-go SDK handle both. appendResponsesStreamError writes the `error`
// event for the places that have no response to fail (an ingress that lost
// its worker).

// appendResponsesErrorBody appends the JSON error body of e for a Responses
// client. The shape is OpenAI's, which has no request id member: the id
// travels in the x-request-id header.
func appendResponsesErrorBody(dst []byte, e *Error, requestID string) []byte {
	_ = requestID
	return appendOpenAIError(dst, e)
}

// appendResponsesStreamError appends a complete SSE `error` event reporting e
// with sequence number seq.
func appendResponsesStreamError(dst []byte, e *Error, seq int64) []byte {
	dst = append(dst, "event: error\ndata: {\"type\":\"error\",\"code\":"...)
	dst = appendNullableString(dst, responsesErrorCode(e))
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, e.Message)
	dst = append(dst, `,"param":`...)
	dst = appendNullableString(dst, e.Param)
	dst = append(dst, `,"sequence_number":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	return append(dst, "}\n\n"...)
}

// responsesErrorCode is the code a Responses client gets for e. Codex acts on
// a few codes (rate_limit_exceeded: retry after the delay in the message;
// insufficient_quota, context_length_exceeded, invalid_prompt: do not retry;
// server_is_overloaded: back off; anything else: retry), so each kind gets
// the code that leads to the right client behaviour. A code carried from the
// upstream wins.
func responsesErrorCode(e *Error) string {
	if e.Code != "" {
		return e.Code
	}
	switch e.Kind {
	case KindRateLimited:
		return "rate_limit_exceeded"
	case KindQuotaExceeded:
		return "insufficient_quota"
	case KindQueueFull, KindQueueTimeout, KindOverloaded:
		return "server_is_overloaded"
	case KindInvalidRequest, KindRequestTooLarge:
		return "invalid_prompt"
	case KindAuthentication:
		return "unauthorized"
	case KindStreamInterrupted, KindUpstreamUnavailable, KindUpstreamTimeout, KindInternal, KindUnavailable, KindNoWorkers:
		return "server_error"
	}
	if c := e.shape().openAICode; c != "" {
		return c
	}
	return "server_error"
}

// responsesCodeForAnthropic maps an Anthropic error type (from an error
// event of the hub stream) to a Responses error code, with the meaning
// Codex gives those codes (see responsesErrorCode).
func responsesCodeForAnthropic(typ, message string) string {
	switch typ {
	case "overloaded_error":
		return "server_is_overloaded"
	case "rate_limit_error":
		return "rate_limit_exceeded"
	case "billing_error":
		return "insufficient_quota"
	case "authentication_error":
		return "unauthorized"
	case "invalid_request_error", "request_too_large", "not_found_error", "permission_error":
		if strings.Contains(message, "prompt is too long") || strings.Contains(message, "context window") {
			return "context_length_exceeded"
		}
		return "invalid_prompt"
	}
	return "server_error"
}

// parseResponsesError reads an upstream Responses error in any of its
// shapes: an HTTP error body {"error":{…}}, an `error` event with its members
// at the top level or nested under "error", or a response.failed event (or a
// failed response object) with response.error. ok is false when none holds
// a message.
func parseResponsesError(data []byte) (parsedError, bool) {
	var v struct {
		Type     string           `json:"type"`
		Code     jsonx.RawMessage `json:"code"`
		Message  jsonx.RawMessage `json:"message"`
		Param    jsonx.RawMessage `json:"param"`
		Error    jsonx.RawMessage `json:"error"`
		Response *struct {
			Error *rsOutError `json:"error"`
		} `json:"response"`
	}
	if decodeUpstream(data, &v) != nil {
		return parsedError{}, false
	}
	var p parsedError
	switch {
	case v.Response != nil && v.Response.Error != nil:
		p = v.Response.Error.parsed()
	case !isNullRaw(v.Error) && v.Error[0] == '{':
		var o rsOutError
		if decodeUpstream(v.Error, &o) != nil {
			return parsedError{}, false
		}
		p = o.parsed()
	case !isNullRaw(v.Error):
		p.message = rawText(v.Error)
	default:
		p = parsedError{message: rawText(v.Message), code: rawText(v.Code), param: rawText(v.Param)}
	}
	return p, p.message != ""
}

func (o *rsOutError) parsed() parsedError {
	return parsedError{message: rawText(o.Message), typ: rawText(o.Type), param: rawText(o.Param), code: rawText(o.Code)}
}

// responsesErrorKind classifies an upstream Responses error for the
// gateway's other formats.
func responsesErrorKind(p parsedError) ErrorKind {
	switch p.code {
	case "rate_limit_exceeded":
		return KindRateLimited
	case "insufficient_quota":
		return KindQuotaExceeded
	case "server_is_overloaded", "slow_down":
		return KindOverloaded
	case "context_length_exceeded", "invalid_prompt", "invalid_image", "invalid_image_format",
		"invalid_base64_image", "invalid_image_url", "image_too_large", "image_too_small",
		"image_parse_error", "unsupported_image_media_type", "empty_image_file":
		return KindInvalidRequest
	case "unauthorized", "invalid_api_key":
		return KindAuthentication
	}
	switch p.typ {
	case "invalid_request_error":
		return KindInvalidRequest
	case "rate_limit_error":
		return KindRateLimited
	}
	return KindUpstreamUnavailable
}

// responsesFailure turns the error of a failed upstream response into the
// gateway's error, keeping the upstream's message, code and param.
func responsesFailure(o *rsOutError) *Error {
	p := parsedError{message: "the upstream response failed"}
	if o != nil {
		if q := o.parsed(); q.message != "" {
			p = q
		} else {
			p.code = q.code
		}
	}
	return &Error{Kind: responsesErrorKind(p), Message: p.message, Param: p.param, Code: p.code}
}
