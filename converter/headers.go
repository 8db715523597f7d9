package converter

import (
	"strconv"
	"time"

	"github.com/aigateway/gateway/converter/format"
)

// Header is one response header for the client.
type Header struct{ Name, Value string }

// HeaderLookup returns the value of an upstream response header, "" when
// absent. Names are passed in lower case; lookups are case-insensitive.
type HeaderLookup func(name string) string

// retryHeaders are understood by both SDK families and passed through as is.
var retryHeaders = [...]string{"retry-after", "retry-after-ms", "x-should-retry"}

// The rate-limit dimensions and, within one, its three headers.
const (
	limitRequests, limitTokens = 0, 1
	limit, remaining, reset    = 0, 1, 2
)

// headerDialect is the header vocabulary of a provider family, shared by
// its formats: the request id, the rate limits and how their reset is
// written, the protocol headers of its requests, and what marks a client of
// the family. Names are in lower case, as the providers send them.
type headerDialect struct {
	requestID string
	// rateLimits are the limit, remaining and reset headers of the request
	// and token dimensions.
	rateLimits [2][3]string
	// only are passed on between formats of the dialect alone.
	only []string
	// parseReset reads a reset header value as a time; ok is false for a
	// value it cannot read.
	parseReset func(v string, now time.Time) (t time.Time, ok bool)
	// appendReset writes a reset time as the dialect does.
	appendReset func(dst []byte, t, now time.Time) []byte

	// auth names the header that carries an upstream API key, and the text
	// before the key in its value.
	auth, authPrefix string
	// protocol are the request headers of the dialect's API: sent to an
	// upstream of the dialect with the value of the client's request when
	// the client speaks the dialect too, else the default of defaults, if
	// any.
	protocol []string
	defaults []Header
	// sniff are request headers that only a client of the dialect sends.
	sniff []string
}

func rateLimitNames(prefix string, openAIOrder bool) [2][3]string {
	var names [2][3]string
	for i, what := range [...]string{"requests", "tokens"} {
		for j, kind := range [...]string{"limit", "remaining", "reset"} {
			if openAIOrder {
				names[i][j] = prefix + kind + "-" + what
			} else {
				names[i][j] = prefix + what + "-" + kind
			}
		}
	}
	return names
}

// openAIHeaders is the dialect of both OpenAI formats: x-request-id and
// x-ratelimit-{limit,remaining,reset}-{requests,tokens}, a reset being a
// duration ("6m0s", "120ms").
var openAIHeaders = headerDialect{
	requestID:   "x-request-id",
	rateLimits:  rateLimitNames("x-ratelimit-", true),
	parseReset:  durationReset,
	appendReset: appendDurationReset,
	auth:        "authorization",
	authPrefix:  "Bearer ",
	protocol:    []string{"openai-organization", "openai-project"},
}

// anthropicHeaders is Anthropic's dialect: request-id and
// anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}, a reset
// being an RFC 3339 time; its input/output token splits have no OpenAI
// equivalent.
var anthropicHeaders = headerDialect{
	requestID:  "request-id",
	rateLimits: rateLimitNames("anthropic-ratelimit-", false),
	only: []string{
		"anthropic-ratelimit-input-tokens-limit",
		"anthropic-ratelimit-input-tokens-remaining",
		"anthropic-ratelimit-input-tokens-reset",
		"anthropic-ratelimit-output-tokens-limit",
		"anthropic-ratelimit-output-tokens-remaining",
		"anthropic-ratelimit-output-tokens-reset",
	},
	parseReset:  timeReset,
	appendReset: appendTimeReset,
	auth:        "x-api-key",
	protocol:    []string{"anthropic-version", "anthropic-beta"},
	defaults:    []Header{{Name: "anthropic-version", Value: defaultAnthropicVersion}},
	// Anthropic's SDKs send anthropic-version and usually x-api-key,
	// OpenAI's neither.
	sniff: []string{"anthropic-version", "x-api-key"},
}

// defaultAnthropicVersion is sent to an Anthropic upstream when the client
// gave none, or speaks another dialect.
const defaultAnthropicVersion = "2023-06-01"

func headersOf(f format.Format) *headerDialect { return errorCodec(f).headers }

// TranslateResponseHeaders appends the upstream response headers worth
// passing on, in the client's dialect (docs/conversion.md, "Response
// headers"), in a fixed order: request id, rate limits, retry hints.
//   - Request id: Anthropic request-id ⇄ OpenAI x-request-id.
//   - Rate limits: x-ratelimit-{limit,remaining,reset}-{requests,tokens} ⇄
//     anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}; OpenAI's
//     reset is a duration ("6m0s", "120ms"), Anthropic's an RFC 3339 time,
//     converted relative to now (a time from a duration is rounded up to the
//     second so that clients never retry early). Unparsable resets are
//     dropped.
//   - retry-after, retry-after-ms and x-should-retry pass through.
//
// Same dialect (the same format, or both OpenAI formats): those same
// headers pass through unchanged. Names are written in lower case, as the
// providers send them.
func TranslateResponseHeaders(from, to format.Format, lookup HeaderLookup, now time.Time, dst []Header) []Header {
	add := func(name, value string) {
		if value != "" {
			dst = append(dst, Header{Name: name, Value: value})
		}
	}
	src, out := headersOf(from), headersOf(to)
	if src == out {
		add(src.requestID, lookup(src.requestID))
		for _, dim := range src.rateLimits {
			for _, n := range dim {
				add(n, lookup(n))
			}
		}
		for _, n := range src.only {
			add(n, lookup(n))
		}
	} else {
		add(out.requestID, lookup(src.requestID))
		var buf [40]byte
		for i, dim := range src.rateLimits {
			names := out.rateLimits[i]
			add(names[limit], lookup(dim[limit]))
			add(names[remaining], lookup(dim[remaining]))
			if t, ok := src.parseReset(lookup(dim[reset]), now); ok {
				add(names[reset], string(out.appendReset(buf[:0], t, now)))
			}
		}
	}
	for _, n := range retryHeaders {
		add(n, lookup(n))
	}
	return dst
}

// RateLimitHeaders names the headers that report a rate limit to a client of
// format f, and writes their reset values in its dialect.
type RateLimitHeaders struct{ d *headerDialect }

// RateLimitHeadersOf returns the rate-limit headers of f's dialect.
func RateLimitHeadersOf(f format.Format) RateLimitHeaders { return RateLimitHeaders{headersOf(f)} }

// Requests returns the limit, remaining and reset headers of the request
// count.
func (h RateLimitHeaders) Requests() (limit, remaining, reset string) {
	n := h.d.rateLimits[limitRequests]
	return n[0], n[1], n[2]
}

// Tokens returns the limit, remaining and reset headers of the token count.
func (h RateLimitHeaders) Tokens() (limit, remaining, reset string) {
	n := h.d.rateLimits[limitTokens]
	return n[0], n[1], n[2]
}

// AppendReset appends the reset time t as the dialect writes it, relative
// to now where it is a duration.
func (h RateLimitHeaders) AppendReset(dst []byte, t, now time.Time) []byte {
	return h.d.appendReset(dst, t, now)
}

// ClientHeaders returns the request headers a client of format f may send
// that an upstream of its dialect needs (anthropic-version, openai-project,
// …): the ingress forwards them over the bus. The slice must not be
// modified.
func ClientHeaders(f format.Format) []string { return headersOf(f).protocol }

// UpstreamAuth returns the header that carries apiKey to an upstream of
// format f, and its value.
func UpstreamAuth(f format.Format, apiKey string) (name, value string) {
	d := headersOf(f)
	return d.auth, d.authPrefix + apiKey
}

// UpstreamHeaders calls set for each protocol header of a request to an
// upstream of format upstream: the client's value (lookup) when the client,
// of format client, speaks the same dialect and sent one, else the
// dialect's default, if any.
func UpstreamHeaders(upstream, client format.Format, lookup HeaderLookup, set func(name, value string)) {
	d := headersOf(upstream)
	same := headersOf(client) == d
	for _, name := range d.protocol {
		v := ""
		if same {
			v = lookup(name)
		}
		for _, h := range d.defaults {
			if v == "" && h.Name == name {
				v = h.Value
			}
		}
		if v != "" {
			set(name, v)
		}
	}
}

// GuessFormat guesses the format of a request to a path the gateway does not
// serve, for the shape of its error, from the headers only one dialect's
// clients send (has reports a header present). Without any, it is OpenAI
// Chat, whose error shape most clients understand.
func GuessFormat(has func(name string) bool) format.Format {
	for _, f := range format.All() {
		for _, name := range headersOf(f).sniff {
			if has(name) {
				return f
			}
		}
	}
	return format.OpenAIChat
}

// durationReset reads OpenAI's reset duration as a time. A bare number is
// read as seconds, which some compatible servers send.
func durationReset(v string, now time.Time) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || secs < 0 || secs > 1e9 {
			return time.Time{}, false
		}
		d = time.Duration(secs * float64(time.Second))
	}
	return now.Add(max(d, 0)), true
}

// appendDurationReset writes a reset as the time left, rounded to the
// millisecond; a time in the past gives "0s".
func appendDurationReset(dst []byte, t, now time.Time) []byte {
	return append(dst, max(t.Sub(now), 0).Round(time.Millisecond).String()...)
}

// timeReset reads Anthropic's RFC 3339 reset time.
func timeReset(v string, _ time.Time) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

// appendTimeReset writes a reset as an RFC 3339 time in UTC, rounded up to
// the second so that clients never retry early.
func appendTimeReset(dst []byte, t, _ time.Time) []byte {
	t = t.UTC()
	if t.Truncate(time.Second) != t {
		t = t.Truncate(time.Second).Add(time.Second)
	}
	return t.AppendFormat(dst, time.RFC3339)
}

// RequestIDHeader returns the response header in which an upstream of format
// f names its request id.
func RequestIDHeader(f format.Format) string { return headersOf(f).requestID }
