// Package load drives HTTP load against the gateway (or straight against an
// upstream) and measures what a client sees: throughput, latency
// percentiles, time to first event and gaps between events of a stream,
// errors by status and by transport failure, and incomplete answers.
//
// Two load models are offered. Fixed concurrency (closed model) keeps N
// workers sending back to back. Constant arrival rate (open model) issues
// requests on a fixed schedule whether or not earlier ones finished, so a
// slow server cannot slow the offered load down; a request that finds every
// in-flight slot taken is counted as dropped instead of being queued.
//
// RunAB alternates the gateway and a direct target round by round so that
// drift of the machine (frequency, noisy neighbours) falls on both sides
// alike, and Compare turns the two sides into the gateway's overhead.
package load

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Shape is the API dialect of the requests sent.
type Shape string

// The request shapes the load generator speaks.
const (
	// ShapeOpenAI posts Chat Completions requests to /v1/chat/completions.
	ShapeOpenAI Shape = "openai"
	// ShapeAnthropic posts Messages requests to /v1/messages.
	ShapeAnthropic Shape = "anthropic"
)

// ClientKind selects the HTTP client implementation.
type ClientKind string

// The HTTP clients available. Both keep one connection per worker alive.
const (
	// ClientFastHTTP uses fasthttp's HostClient: the cheaper one per request,
	// and the default (cmd/loadgen/README.md has the measurement).
	ClientFastHTTP ClientKind = "fasthttp"
	// ClientNetHTTP uses net/http with a transport sized to the concurrency.
	ClientNetHTTP ClientKind = "nethttp"
)

// AnthropicVersion is the anthropic-version header sent with the Anthropic
// shape.
const AnthropicVersion = "2023-06-01"

// ErrInvalidConfig is returned by Validate (and so by Run) when the
// configuration cannot describe a run.
var ErrInvalidConfig = errors.New("load: invalid config")

// Header is one extra request header.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Config describes one load run.
type Config struct {
	// URL is the base URL of the target, e.g. http://127.0.0.1:8080. The
	// shape's path is appended to it unless Path is set.
	URL string
	// Direct is the base URL of the upstream to compare against in RunAB.
	Direct string
	// Path overrides the request path; empty means the shape's endpoint.
	Path string
	// DirectPath overrides the request path on the direct side of RunAB,
	// for a target route (a converting one, say) whose path the upstream
	// does not serve; empty means Path.
	DirectPath string
	// Shape is the request dialect.
	Shape Shape
	// Stream asks for a streamed answer (for OpenAI with
	// stream_options.include_usage) and expects server-sent events back.
	Stream bool
	// Model is the model named in generated bodies.
	Model string
	// Prompt is the user message of generated bodies.
	Prompt string
	// MaxTokens is max_tokens in generated bodies.
	MaxTokens int
	// Body, when not empty, is sent as is instead of a generated body. Stream
	// must still say whether the answer is a stream.
	Body []byte
	// Headers are added to every request (e.g. Authorization).
	Headers []Header

	// Concurrency is the number of workers in fixed-concurrency mode, and
	// the cap on requests in flight in constant-rate mode.
	Concurrency int
	// Rate, when above zero, selects constant-rate mode: requests per second
	// issued on schedule.
	Rate float64
	// LateAfter is how far behind its scheduled time a request may be issued
	// before it counts as late (constant-rate mode).
	LateAfter time.Duration
	// Duration is the measured part of a run (of each round in RunAB).
	Duration time.Duration
	// Warmup runs before Duration without being measured, so connections
	// are open and caches warm when measuring starts.
	Warmup time.Duration
	// Timeout bounds one request, stream included. A run never outlasts
	// Warmup+Duration whatever the timeout.
	Timeout time.Duration
	// Rounds is the number of target/direct pairs RunAB alternates.
	Rounds int
	// Client selects the HTTP client.
	Client ClientKind

	// RSSPid, when above zero, names a process whose resident memory is
	// sampled before, during and after the run.
	RSSPid int
	// RSSInterval is the sampling period of RSSPid.
	RSSInterval time.Duration
}

// DefaultConfig returns the defaults used by the command.
func DefaultConfig() Config {
	return Config{
		URL:         "http://127.0.0.1:8080",
		Shape:       ShapeOpenAI,
		Model:       "gpt-4o-mini",
		Prompt:      "Say hello.",
		MaxTokens:   64,
		Concurrency: 50,
		LateAfter:   5 * time.Millisecond,
		Duration:    10 * time.Second,
		Warmup:      time.Second,
		Timeout:     30 * time.Second,
		Rounds:      2,
		Client:      ClientFastHTTP,
		RSSInterval: 100 * time.Millisecond,
	}
}

// Validate reports the first problem that makes the config unusable.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if err := checkURL(c.URL); err != nil {
		return bad("url: %v", err)
	}
	if c.Direct != "" {
		if err := checkURL(c.Direct); err != nil {
			return bad("direct: %v", err)
		}
	}
	switch c.Shape {
	case ShapeOpenAI, ShapeAnthropic:
	default:
		return bad("shape %q: want %q or %q", c.Shape, ShapeOpenAI, ShapeAnthropic)
	}
	switch c.Client {
	case ClientFastHTTP, ClientNetHTTP:
	default:
		return bad("client %q: want %q or %q", c.Client, ClientFastHTTP, ClientNetHTTP)
	}
	switch {
	case c.Concurrency < 1:
		return bad("concurrency %d: want at least 1", c.Concurrency)
	case c.Rate < 0:
		return bad("rate %v: want 0 (fixed concurrency) or more", c.Rate)
	case c.Duration <= 0:
		return bad("duration %v: want more than 0", c.Duration)
	case c.Warmup < 0:
		return bad("warmup %v: want 0 or more", c.Warmup)
	case c.Timeout <= 0:
		return bad("timeout %v: want more than 0", c.Timeout)
	case c.LateAfter < 0:
		return bad("late threshold %v: want 0 or more", c.LateAfter)
	case c.Rounds < 1:
		return bad("rounds %d: want at least 1", c.Rounds)
	case c.RSSPid < 0:
		return bad("rss pid %d: want 0 (off) or a process id", c.RSSPid)
	case c.RSSPid > 0 && c.RSSInterval <= 0:
		return bad("rss interval %v: want more than 0", c.RSSInterval)
	case len(c.Body) == 0 && c.Model == "":
		return bad("model: empty")
	case len(c.Body) == 0 && c.MaxTokens < 1:
		return bad("max tokens %d: want at least 1", c.MaxTokens)
	}
	for _, h := range c.Headers {
		if h.Key == "" || strings.ContainsAny(h.Key, " :\r\n") || strings.ContainsAny(h.Value, "\r\n") {
			return bad("header %q: malformed", h.Key)
		}
	}
	return nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", raw)
	}
	return nil
}

// endpoint returns the full request URL for base.
func (c Config) endpoint(base string) string {
	path := c.Path
	if path == "" {
		path = "/v1/chat/completions"
		if c.Shape == ShapeAnthropic {
			path = "/v1/messages"
		}
	}
	return strings.TrimSuffix(base, "/") + path
}

// streamMarker returns the line that closes a stream of the config's shape.
func (c Config) streamMarker() string {
	if c.Shape == ShapeAnthropic {
		return markerAnthropic
	}
	return markerOpenAI
}

// requestBody returns the body to send: Body as is, or a minimal request of
// the configured shape.
func (c Config) requestBody() ([]byte, error) {
	if len(c.Body) > 0 {
		return c.Body, nil
	}
	type message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	type streamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
	body := struct {
		Model         string         `json:"model"`
		MaxTokens     int            `json:"max_tokens"`
		Messages      []message      `json:"messages"`
		Stream        bool           `json:"stream,omitempty"`
		StreamOptions *streamOptions `json:"stream_options,omitempty"`
	}{
		Model:     c.Model,
		MaxTokens: c.MaxTokens,
		Messages:  []message{{Role: "user", Content: c.Prompt}},
		Stream:    c.Stream,
	}
	if c.Stream && c.Shape == ShapeOpenAI {
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	b, err := jsonx.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("load: encode request body: %w", err)
	}
	return b, nil
}
