package converter

import (
	"net/http"
	"strconv"
	"time"

	"github.com/aigateway/gateway/converter/format"
)

// Header is one response header for the client.
type Header struct{ Name, Value string }

// HeaderLookup returns the value of an upstream response header, "" when
// absent. Names are passed in lower case; lookups are case-insensitive.
type HeaderLookup func(name string) string

// HTTPHeader looks headers up in an http.Header.
func HTTPHeader(h http.Header) HeaderLookup {
	return func(name string) string { return h.Get(name) }
}

// retryHeaders are understood by both SDK families and passed through as is.
var retryHeaders = [...]string{"retry-after", "retry-after-ms", "x-should-retry"}

const (
	anthropicRequestID = "request-id"
	openAIRequestID    = "x-request-id"
)

// rateLimitFamily is one rate-limit dimension in both dialects: Anthropic's
// anthropic-ratelimit-<what>-{limit,remaining,reset} and OpenAI's
// x-ratelimit-{limit,remaining,reset}-<what>. Anthropic's input/output token
// splits have no OpenAI equivalent.
type rateLimitFamily struct {
	anthropic [3]string // limit, remaining, reset
	openAI    [3]string
}

func family(what string) rateLimitFamily {
	var f rateLimitFamily
	for i, kind := range [...]string{"limit", "remaining", "reset"} {
		f.anthropic[i] = "anthropic-ratelimit-" + what + "-" + kind
		f.openAI[i] = "x-ratelimit-" + kind + "-" + what
	}
	return f
}

var rateLimitFamilies = [...]rateLimitFamily{family("requests"), family("tokens")}

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
func TranslateResponseHeaders(from, to format.Format, lookup HeaderLookup, now time.Time, dst []Header) []Header {
	add := func(name, value string) {
		if value != "" {
			dst = append(dst, Header{Name: name, Value: value})
		}
	}
	const limit, remaining, reset = 0, 1, 2
	switch {
	case from == to && from == format.Anthropic:
		add(anthropicRequestID, lookup(anthropicRequestID))
		for _, f := range rateLimitFamilies {
			for _, n := range f.anthropic {
				add(n, lookup(n))
			}
		}
		for _, n := range anthropicOnlyRateLimits {
			add(n, lookup(n))
		}
	case from == to:
		add(openAIRequestID, lookup(openAIRequestID))
		for _, f := range rateLimitFamilies {
			for _, n := range f.openAI {
				add(n, lookup(n))
			}
		}
	case from == format.Anthropic:
		add(openAIRequestID, lookup(anthropicRequestID))
		for _, f := range rateLimitFamilies {
			add(f.openAI[limit], lookup(f.anthropic[limit]))
			add(f.openAI[remaining], lookup(f.anthropic[remaining]))
			add(f.openAI[reset], resetToDuration(lookup(f.anthropic[reset]), now))
		}
	default:
		add(anthropicRequestID, lookup(openAIRequestID))
		for _, f := range rateLimitFamilies {
			add(f.anthropic[limit], lookup(f.openAI[limit]))
			add(f.anthropic[remaining], lookup(f.openAI[remaining]))
			add(f.anthropic[reset], durationToReset(lookup(f.openAI[reset]), now))
		}
	}
	for _, n := range retryHeaders {
		add(n, lookup(n))
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
