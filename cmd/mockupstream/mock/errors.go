package mock

import (
	"net/http"
	"strconv"
	"time"

	"github.com/aigateway/gateway/converter/jsonx"
)

// provider is the API dialect of a request.
type provider int

const (
	provOpenAI provider = iota
	provAnthropic
	// provResponses is OpenAI's Responses API: OpenAI's error shape and
	// headers, its own request and answer formats.
	provResponses
)

// apiError is an error answer. typ is the provider's error type; param and
// code exist only in OpenAI's shape, where "" encodes as null.
type apiError struct {
	status int
	typ    string
	msg    string
	param  string
	code   string
	// retryAfter, when set, replaces the default Retry-After of a 429 or
	// 529 (Config.RetryAfter).
	retryAfter time.Duration
}

// invalid returns a 400 invalid_request_error.
func invalid(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", msg: msg}
}

// invalidParam returns an OpenAI 400 naming the offending parameter.
func invalidParam(msg, param, code string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", msg: msg, param: param, code: code}
}

// statusError returns the error a provider answers with the given status,
// with the type and message the real API uses for it.
func statusError(p provider, status int) *apiError {
	if p == provAnthropic {
		e := &apiError{status: status}
		switch status {
		case 400:
			e.typ, e.msg = "invalid_request_error", "Invalid request"
		case 401:
			e.typ, e.msg = "authentication_error", "invalid x-api-key"
		case 402:
			e.typ, e.msg = "billing_error", "Your credit balance is too low to access the Anthropic API."
		case 403:
			e.typ, e.msg = "permission_error", "Your API key does not have permission to use the specified resource."
		case 404:
			e.typ, e.msg = "not_found_error", "Not found"
		case 413:
			e.typ, e.msg = "request_too_large", "Request exceeds the maximum allowed number of bytes."
		case 429:
			e.typ, e.msg = "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
		case 504:
			e.typ, e.msg = "timeout_error", "Request timed out"
		case 529:
			e.typ, e.msg = "overloaded_error", "Overloaded"
		default:
			if status >= 500 {
				e.typ, e.msg = "api_error", "Internal server error"
			} else {
				e.typ, e.msg = "invalid_request_error", http.StatusText(status)
			}
		}
		return e
	}
	e := &apiError{status: status, typ: "invalid_request_error"}
	switch {
	case status == 401:
		e.msg, e.code = "Incorrect API key provided.", "invalid_api_key"
	case status == 403:
		e.msg, e.code = "You are not allowed to access this resource.", "unsupported_country_region_territory"
	case status == 404:
		e.msg, e.code = "The model does not exist or you do not have access to it.", "model_not_found"
	case status == 429:
		e.typ, e.code = "requests", "rate_limit_exceeded"
		e.msg = "Rate limit reached for requests. Please try again in 1s."
	case status == 503:
		e.typ, e.msg = "server_error", "The server is overloaded or not ready yet."
	case status >= 500:
		e.typ, e.msg = "server_error", "The server had an error while processing your request. Sorry about that!"
	default:
		e.msg = http.StatusText(status)
	}
	return e
}

// appendErrorBody appends e in the provider's error shape.
func appendErrorBody(b []byte, p provider, e *apiError, seq uint64) []byte {
	if p == provAnthropic {
		b = append(b, `{"type":"error","error":{"type":`...)
		b = jsonx.AppendString(b, e.typ)
		b = append(b, `,"message":`...)
		b = jsonx.AppendString(b, e.msg)
		b = append(b, `},"request_id":"req_mock_`...)
		b = strconv.AppendUint(b, seq, 10)
		return append(b, `"}`...)
	}
	b = append(b, `{"error":{"message":`...)
	b = jsonx.AppendString(b, e.msg)
	b = append(b, `,"type":`...)
	b = jsonx.AppendString(b, e.typ)
	b = append(b, `,"param":`...)
	b = appendNullable(b, e.param)
	b = append(b, `,"code":`...)
	b = appendNullable(b, e.code)
	return append(b, `}}`...)
}

// appendNullable appends s as a JSON string, or null when empty.
func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonx.AppendString(b, s)
}

// Rate-limit figures reported in response headers. They never run out: the
// headers exist so the gateway's translation of them can be tested.
const (
	rateRequestsLimit = 10000
	rateTokensLimit   = 2000000
	retryAfterSeconds = "1"
)

// Header values shared by every response; net/http never modifies them.
var (
	hvJSON        = []string{"application/json"}
	hvEventStream = []string{"text/event-stream; charset=utf-8"}
	hvNoCache     = []string{"no-cache"}
	hvRetryAfter  = []string{retryAfterSeconds}
	hvReqLimit    = []string{strconv.Itoa(rateRequestsLimit)}
	hvReqRemain   = []string{strconv.Itoa(rateRequestsLimit - 1)}
	hvTokLimit    = []string{strconv.Itoa(rateTokensLimit)}
	hvResetReq    = []string{(6 * time.Minute).String()}
	hvResetTok    = []string{time.Second.String()}
)

// setProviderHeaders sets the request id and rate-limit headers the
// provider sends with every answer, errors included. tokens is what the
// request costs, subtracted from the remaining token budget.
func setProviderHeaders(h http.Header, p provider, seq uint64, tokens int, now time.Time, status int) {
	reqID := "req_mock_" + strconv.FormatUint(seq, 10)
	remaining := []string{strconv.Itoa(max(rateTokensLimit-tokens, 0))}
	if p == provAnthropic {
		h["Request-Id"] = []string{reqID}
		reset := []string{now.Add(time.Minute).UTC().Truncate(time.Second).Format(time.RFC3339)}
		h["Anthropic-Ratelimit-Requests-Limit"] = hvReqLimit
		h["Anthropic-Ratelimit-Requests-Remaining"] = hvReqRemain
		h["Anthropic-Ratelimit-Requests-Reset"] = reset
		h["Anthropic-Ratelimit-Tokens-Limit"] = hvTokLimit
		h["Anthropic-Ratelimit-Tokens-Remaining"] = remaining
		h["Anthropic-Ratelimit-Tokens-Reset"] = reset
		if status == http.StatusTooManyRequests || status == 529 {
			h["Retry-After"] = hvRetryAfter
		}
		return
	}
	h["X-Request-Id"] = []string{reqID}
	h["X-Ratelimit-Limit-Requests"] = hvReqLimit
	h["X-Ratelimit-Limit-Tokens"] = hvTokLimit
	h["X-Ratelimit-Remaining-Requests"] = hvReqRemain
	h["X-Ratelimit-Remaining-Tokens"] = remaining
	h["X-Ratelimit-Reset-Requests"] = hvResetReq
	h["X-Ratelimit-Reset-Tokens"] = hvResetTok
	if status == http.StatusTooManyRequests || status == 529 {
		h["Retry-After"] = hvRetryAfter
	}
}
