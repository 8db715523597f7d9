package converter

import (
	"net/http"
	"strconv"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

// statusErrorShape is how an upstream HTTP status is reported in each format
// when the error crosses formats. The status itself is always kept: both SDK
// families pick their exception class and retry policy from it.
type statusErrorShape struct {
	openAIType    string
	openAICode    string
	anthropicType string
}

// statusShape maps a status to error types. The OpenAI side uses the same
// vocabulary as the gateway's own errors (errors.go), so a client sees one
// set of types whoever raised the error.
func statusShape(status int) statusErrorShape {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return statusErrorShape{"invalid_request_error", "", "invalid_request_error"}
	case http.StatusUnauthorized:
		return statusErrorShape{"invalid_request_error", "invalid_api_key", "authentication_error"}
	case http.StatusPaymentRequired:
		return statusErrorShape{"invalid_request_error", "billing_error", "billing_error"}
	case http.StatusForbidden:
		return statusErrorShape{"invalid_request_error", "permission_denied", "permission_error"}
	case http.StatusNotFound:
		return statusErrorShape{"invalid_request_error", "not_found", "not_found_error"}
	case http.StatusRequestEntityTooLarge:
		return statusErrorShape{"invalid_request_error", "request_too_large", "request_too_large"}
	case http.StatusTooManyRequests:
		return statusErrorShape{"rate_limit_error", "rate_limit_exceeded", "rate_limit_error"}
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return statusErrorShape{"server_error", "timeout", "timeout_error"}
	case 529:
		return statusErrorShape{"server_error", "overloaded", "overloaded_error"}
	}
	if status >= 500 {
		return statusErrorShape{"server_error", "", "api_error"}
	}
	return statusErrorShape{"invalid_request_error", "", "invalid_request_error"}
}

// anthropicTypeStatus is the HTTP status Anthropic answers with for an
// error type, so that an error that arrives without a status (an error
// event inside a stream) is reported like the same error over HTTP.
func anthropicTypeStatus(typ string) int {
	switch typ {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "billing_error":
		return http.StatusPaymentRequired
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "timeout_error":
		return http.StatusGatewayTimeout
	case "overloaded_error":
		return 529
	}
	return http.StatusInternalServerError
}

// upstreamError is the union of the error bodies seen from providers:
// OpenAI {"error":{message,type,param,code}}, Anthropic
// {"type":"error","error":{type,message},"request_id"}, and the looser shapes
// of OpenAI-compatible servers ({"error":"…"}, {"message":"…"},
// {"detail":"…"}).
type upstreamError struct {
	Error   jsonx.RawMessage `json:"error"`
	Message jsonx.RawMessage `json:"message"`
	Detail  jsonx.RawMessage `json:"detail"`
}

// upstreamErrorObject is the "error" object of either provider.
type upstreamErrorObject struct {
	Message jsonx.RawMessage `json:"message"`
	Type    jsonx.RawMessage `json:"type"`
	Param   jsonx.RawMessage `json:"param"`
	Code    jsonx.RawMessage `json:"code"`
}

// parsedError is what the gateway keeps of an upstream error body.
type parsedError struct {
	message, typ, param, code string
}

// rawText returns a JSON string's value, a number's or other value's JSON
// text, or "" for null and absent values.
func rawText(r jsonx.RawMessage) string {
	if isNullRaw(r) {
		return ""
	}
	if r[0] == '"' {
		var s string
		if jsonx.Unmarshal(r, &s) == nil {
			return s
		}
		return ""
	}
	return string(r)
}

// parseUpstreamError reads an error body of either provider; ok is false when
// the body carries no message in any known shape.
func parseUpstreamError(body []byte) (parsedError, bool) {
	var u upstreamError
	if len(body) == 0 || jsonx.Unmarshal(body, &u) != nil {
		return parsedError{}, false
	}
	var p parsedError
	switch {
	case !isNullRaw(u.Error) && u.Error[0] == '{':
		var o upstreamErrorObject
		if jsonx.Unmarshal(u.Error, &o) != nil {
			return parsedError{}, false
		}
		p = parsedError{message: rawText(o.Message), typ: rawText(o.Type), param: rawText(o.Param), code: rawText(o.Code)}
	case !isNullRaw(u.Error):
		p.message = rawText(u.Error)
	case !isNullRaw(u.Message):
		p.message = rawText(u.Message)
	case !isNullRaw(u.Detail):
		p.message = rawText(u.Detail)
	}
	return p, p.message != ""
}

// TranslateErrorBody converts an upstream HTTP error body (status, body in
// format from) into the client's format to; the caller keeps the status.
//   - Same format, or another format of the same error dialect (the two
//     OpenAI APIs share one error body): the body is returned unchanged when
//     it is valid JSON.
//   - Anthropic → OpenAI: {"error":{message, type by status, param:null,
//     code: the Anthropic error type}}.
//   - OpenAI → Anthropic: {"type":"error","error":{type by status, message},
//     "request_id"}; the type follows the status, not OpenAI's type, because
//     OpenAI reports a bad key as invalid_request_error.
//   - Bodies that are not JSON or not a known error shape (HTML from a proxy,
//     an empty body) get a clean body built from the status.
func TranslateErrorBody(from, to format.Format, status int, body []byte, requestID string) []byte {
	src, dst := errorCodec(from), errorCodec(to)
	if (from == to || src.errors.shape == dst.errors.shape) && validJSON(body) {
		return body
	}
	p, ok := parseUpstreamError(body)
	if !ok {
		text := http.StatusText(status)
		if status == 529 {
			text = "Overloaded"
		}
		if text == "" {
			text = "Unknown error"
		}
		p = parsedError{message: "upstream error: " + text + " (HTTP " + strconv.Itoa(status) + ")"}
	}
	code, param := src.errors.fields(p)
	return dst.errors.translated(nil, status, p.message, param, code, requestID)
}

// appendAnthropicTranslatedError writes an upstream's error for an Anthropic
// client: the type follows the status, and the parameter, which Anthropic's
// body has no place for, leads the message.
func appendAnthropicTranslatedError(dst []byte, status int, msg, param, _, requestID string) []byte {
	if param != "" {
		msg = param + ": " + msg
	}
	if dst == nil {
		dst = make([]byte, 0, 96+len(msg)+len(requestID))
	}
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = jsonx.AppendString(dst, statusShape(status).anthropicType)
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, msg)
	dst = append(dst, `},"request_id":`...)
	dst = jsonx.AppendString(dst, requestID)
	return append(dst, '}')
}

// appendOpenAITranslatedError writes an upstream's error for an OpenAI
// client: the type follows the status, the code is the upstream's own when
// it gave one.
func appendOpenAITranslatedError(dst []byte, status int, msg, param, code, _ string) []byte {
	shape := statusShape(status)
	if code == "" {
		code = shape.openAICode
	}
	if dst == nil {
		dst = make([]byte, 0, 96+len(msg))
	}
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonx.AppendString(dst, msg)
	dst = append(dst, `,"type":`...)
	dst = jsonx.AppendString(dst, shape.openAIType)
	dst = append(dst, `,"param":`...)
	dst = appendNullableString(dst, param)
	dst = append(dst, `,"code":`...)
	dst = appendNullableString(dst, code)
	return append(dst, "}}"...)
}
