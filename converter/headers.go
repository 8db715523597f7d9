package converter

import (
	"net/http"
	"strconv"
	"time"
)

// Header is one response header for the client.
type Header struct{ Name, Value string }

// retryHeaders are understood by both SDK families and passed through as is.
var retryHeaders = [...]string{"retry-after", "retry-after-ms", "x-should-retry"}

// rateLimitPair links an Anthropic rate-limit header family to OpenAI's.
// Anthropic's input/output token splits have no OpenAI equivalent.
type rateLimitPair struct {
	anthropicPrefix string // anthropic-ratelimit-<what>-
	openAIWhat      string // x-ratelimit-{limit,remaining,reset}-<what>
}

var rateLimitPairs = [...]rateLimitPair{
	{"anthropic-ratelimit-requests-", "requests"},
	{"anthropic-ratelimit-tokens-", "tokens"},
}

// anthropicOnlyRateLimits are passed through on Anthropic → Anthropic routes.
var anthropicOnlyRateLimits = [...]string{
	"anthropic-ratelimit-input-tokens-limit",
	"anthropic-ratelimit-input-tokens-remaining",
	"anthropic-ratelimit-input-tokens-reset",
	"anthropic-ratelimit-output-tokens-limit",
	"anthropic-ratelimit-output-tokens-remaining",
	"anthropic-ratelimit-output-tokens-reset",
}

// TranslateResponseHeaders appends the upstream response headers worth
// passing on, in the client's dialect (CONVERSION §6), in a fixed order:
// request id, rate limits, retry hints.
//   - Request id: Anthropic request-id ⇄ OpenAI x-request-id.
//   - Rate limits: x-ratelimit-{limit,remaining,reset}-{requests,tokens} ⇄
//     anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}; OpenAI's
//     reset is a duration ("6m0s", "120ms"), Anthropic's an RFC 3339 time,
//     converted relative to now (a time from a duration is rounded up to the
//     second so that clients never retry early). Unparsable resets are
//     dropped.
//   - retry-after, retry-after-ms and x-should-retry pass through.
//
// Same format: those same headers pass through unchanged. Names are written
// in lower case, as the providers send them.
func TranslateResponseHeaders(from, to Format, h http.Header, now time.Time, dst []Header) []Header {
	add := func(name, value string) {
		if value != "" {
			dst = append(dst, Header{Name: name, Value: value})
		}
	}
	switch {
	case from == to && from == Anthropic:
		add("request-id", h.Get("request-id"))
		for _, p := range rateLimitPairs {
			for _, suffix := range [...]string{"limit", "remaining", "reset"} {
				add(p.anthropicPrefix+suffix, h.Get(p.anthropicPrefix+suffix))
			}
		}
		for _, name := range anthropicOnlyRateLimits {
			add(name, h.Get(name))
		}
	case from == to:
		add("x-request-id", h.Get("x-request-id"))
		for _, p := range rateLimitPairs {
			for _, kind := range [...]string{"limit", "remaining", "reset"} {
				name := "x-ratelimit-" + kind + "-" + p.openAIWhat
				add(name, h.Get(name))
			}
		}
	case from == Anthropic:
		add("x-request-id", h.Get("request-id"))
		for _, p := range rateLimitPairs {
			add("x-ratelimit-limit-"+p.openAIWhat, h.Get(p.anthropicPrefix+"limit"))
			add("x-ratelimit-remaining-"+p.openAIWhat, h.Get(p.anthropicPrefix+"remaining"))
			add("x-ratelimit-reset-"+p.openAIWhat, resetToDuration(h.Get(p.anthropicPrefix+"reset"), now))
		}
	default:
		add("request-id", h.Get("x-request-id"))
		for _, p := range rateLimitPairs {
			add(p.anthropicPrefix+"limit", h.Get("x-ratelimit-limit-"+p.openAIWhat))
			add(p.anthropicPrefix+"remaining", h.Get("x-ratelimit-remaining-"+p.openAIWhat))
			add(p.anthropicPrefix+"reset", durationToReset(h.Get("x-ratelimit-reset-"+p.openAIWhat), now))
		}
	}
	for _, name := range retryHeaders {
		add(name, h.Get(name))
	}
	return dst
}

// resetToDuration turns an RFC 3339 reset time into OpenAI's duration form,
// rounded to the millisecond; a time in the past gives "0s".
func resetToDuration(v string, now time.Time) string {
	if v == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return ""
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Millisecond).String()
}

// durationToReset turns OpenAI's reset duration into an RFC 3339 time in UTC.
// A bare number is read as seconds, which some compatible servers send.
func durationToReset(v string, now time.Time) string {
	if v == "" {
		return ""
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || secs < 0 || secs > 1e9 {
			return ""
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 {
		d = 0
	}
	t := now.Add(d).UTC()
	if t.Truncate(time.Second) != t {
		t = t.Truncate(time.Second).Add(time.Second)
	}
	return t.Format(time.RFC3339)
}
