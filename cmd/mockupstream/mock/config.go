package mock

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// DefaultChunks is the number of content chunks in a streamed answer when
// Config.Chunks is zero.
const DefaultChunks = 10

// Config sets how the server answers. The zero value answers at once, with
// DefaultChunks chunks and without validating requests; DefaultConfig turns
// strict validation on.
type Config struct {
	// Latency is the wait before the first byte (the response headers).
	Latency time.Duration
	// Chunks is the number of content chunks in a streamed answer; 0 means
	// DefaultChunks.
	Chunks int
	// ChunkGap is the wait between two streamed content chunks.
	ChunkGap time.Duration
	// ErrorStatus, when non-zero, makes every API request fail with this
	// HTTP status and a provider-shaped error body.
	ErrorStatus int
	// DisconnectAfter, when positive, cuts the connection after this many
	// content chunks of a streamed answer, without the closing events. A
	// non-streamed answer is cut after half of its body.
	DisconnectAfter int
	// Hang accepts the request and never answers until the client goes away.
	Hang bool
	// Stall is the wait, in a streamed answer, between the response headers
	// and the first event: a model slow to produce its first token.
	Stall time.Duration
	// RetryAfter, when positive, is the Retry-After of an ErrorStatus of
	// 429 or 529 (whole seconds, rounded up; OpenAI's retry-after-ms
	// exactly); 0 sends the default of one second.
	RetryAfter time.Duration
	// ReplayFile, when set, answers every API request with the bytes of this
	// file, unchanged: text/event-stream for a .sse file, application/json
	// otherwise. SSE files are written one event at a time so ChunkGap and
	// DisconnectAfter apply to them (counted in events).
	ReplayFile string
	// ScriptFile, when set, names a JSON script of written answers for
	// requests whose last user text matches a rule (see script.go); other
	// requests get the derived answer. It is read for every request, so a
	// test may rewrite it between requests.
	ScriptFile string
	// ReplayStatus is the HTTP status for ReplayFile; 0 means 200.
	ReplayStatus int
	// Strict validates requests the way the real providers do and answers
	// 400 in the provider's error shape on violations.
	Strict bool
	// StreamError, when "failed" or "error", makes every streamed
	// Responses answer fail after its first delta (see HeaderStreamError).
	StreamError string
	// APIKey, when set, is required: "Authorization: Bearer <key>" for
	// OpenAI, "x-api-key: <key>" for Anthropic. Other requests get 401.
	APIKey string
	// RevokedKeys are keys answered with 401, as a provider answers a key
	// that was revoked, whatever APIKey says.
	RevokedKeys []string
	// KeyRequestLimits gives keys a request limit of their own: the
	// remaining-requests rate-limit header of an answer is that limit less
	// the requests made with the key so far. Other keys report the usual
	// fixed figures.
	KeyRequestLimits map[string]int
}

// DefaultConfig returns the configuration used by the mockupstream command:
// DefaultChunks chunks, no delays and strict validation.
func DefaultConfig() Config {
	return Config{Chunks: DefaultChunks, Strict: true}
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	switch {
	case c.Latency < 0:
		return fmt.Errorf("mock: latency %v is negative", c.Latency)
	case c.Stall < 0:
		return fmt.Errorf("mock: stall %v is negative", c.Stall)
	case c.RetryAfter < 0:
		return fmt.Errorf("mock: retry-after %v is negative", c.RetryAfter)
	case c.ChunkGap < 0:
		return fmt.Errorf("mock: chunk gap %v is negative", c.ChunkGap)
	case c.Chunks < 0:
		return fmt.Errorf("mock: chunks %d is negative", c.Chunks)
	case c.DisconnectAfter < 0:
		return fmt.Errorf("mock: disconnect-after %d is negative", c.DisconnectAfter)
	case c.ErrorStatus != 0 && (c.ErrorStatus < 400 || c.ErrorStatus > 599):
		return fmt.Errorf("mock: error status %d is not a 4xx or 5xx status", c.ErrorStatus)
	case c.ReplayStatus != 0 && (c.ReplayStatus < 100 || c.ReplayStatus > 599):
		return fmt.Errorf("mock: replay status %d is not an HTTP status", c.ReplayStatus)
	}
	return nil
}

// withDefaults fills in the values that zero stands for, and clamps what
// Validate would reject so that SetConfig never breaks a running server.
func (c Config) withDefaults() Config {
	if c.Chunks <= 0 {
		c.Chunks = DefaultChunks
	}
	if c.ReplayStatus == 0 {
		c.ReplayStatus = http.StatusOK
	}
	c.Latency = max(c.Latency, 0)
	c.ChunkGap = max(c.ChunkGap, 0)
	c.Stall = max(c.Stall, 0)
	c.RetryAfter = max(c.RetryAfter, 0)
	c.DisconnectAfter = max(c.DisconnectAfter, 0)
	return c
}

// Headers that override Config fields for one request.
const (
	HeaderLatency         = "X-Mock-Latency"
	HeaderChunks          = "X-Mock-Chunks"
	HeaderGap             = "X-Mock-Gap"
	HeaderStatus          = "X-Mock-Status"
	HeaderDisconnectAfter = "X-Mock-Disconnect-After"
	HeaderHang            = "X-Mock-Hang"
	HeaderReplay          = "X-Mock-Replay"
	HeaderStall           = "X-Mock-Stall"
	HeaderRetryAfter      = "X-Mock-Retry-After"
)

// errBadOverride marks an unparsable X-Mock-* header.
var errBadOverride = errors.New("invalid override header")

// applyOverrides returns cfg with the X-Mock-* headers of h applied. Most
// requests carry none, so the common path is one map lookup per header.
func applyOverrides(cfg Config, h http.Header) (Config, error) {
	if v := h.Get(HeaderLatency); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("%w: %s: %q", errBadOverride, HeaderLatency, v)
		}
		cfg.Latency = d
	}
	if v := h.Get(HeaderGap); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("%w: %s: %q", errBadOverride, HeaderGap, v)
		}
		cfg.ChunkGap = d
	}
	if v := h.Get(HeaderChunks); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("%w: %s: %q", errBadOverride, HeaderChunks, v)
		}
		cfg.Chunks = n
	}
	if v := h.Get(HeaderStatus); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			return cfg, fmt.Errorf("%w: %s: %q", errBadOverride, HeaderStatus, v)
		}
		if cfg.ReplayFile != "" || h.Get(HeaderReplay) != "" {
			cfg.ReplayStatus = n
		} else if n >= 400 {
			cfg.ErrorStatus = n
		} else {
			// A success status asks for a normal answer even when the
			// Config injects errors.
			cfg.ErrorStatus = 0
		}
	}
	if v := h.Get(HeaderDisconnectAfter); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("%w: %s: %q", errBadOverride, HeaderDisconnectAfter, v)
		}
		cfg.DisconnectAfter = n
	}
	if v := h.Get(HeaderHang); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("%w: %s: %q", errBadOverride, HeaderHang, v)
		}
		cfg.Hang = b
	}
	if v := h.Get(HeaderReplay); v != "" {
		cfg.ReplayFile = v
	}
	for _, d := range [...]struct {
		name string
		dst  *time.Duration
	}{{HeaderStall, &cfg.Stall}, {HeaderRetryAfter, &cfg.RetryAfter}} {
		if v := h.Get(d.name); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur < 0 {
				return cfg, fmt.Errorf("%w: %s: %q", errBadOverride, d.name, v)
			}
			*d.dst = dur
		}
	}
	return cfg, nil
}
