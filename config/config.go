// Package config defines the gateway's configuration: the TOML schema, its
// defaults, GATEWAY_* environment overrides and validation.
package config

import "time"

// Format names a wire API spoken by clients or upstreams.
type Format string

// The wire formats the gateway speaks.
const (
	FormatOpenAIChat Format = "openai-chat"
	FormatAnthropic  Format = "anthropic"
)

// Config is the whole gateway configuration.
type Config struct {
	Server    Server     `toml:"server"`
	Logging   Logging    `toml:"logging"`
	Bus       Bus        `toml:"bus"`
	Access    Access     `toml:"access"`
	Upstreams []Upstream `toml:"upstreams"`
	Routes    []Route    `toml:"routes"`

	// Source names the file the configuration was read from, for messages.
	Source string `toml:"-"`
}

// Server configures the HTTP ingress.
type Server struct {
	Host string `toml:"host"`
	Port int    `toml:"port"`
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	MaxBodyBytes int `toml:"max_body_bytes"`
	// ReadTimeout bounds reading a request (headers and body).
	ReadTimeout Duration `toml:"read_timeout"`
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ShutdownGrace is how long in-flight requests may run after SIGTERM.
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// StallTimeout ends a request whose worker sent nothing (not even a
	// heartbeat) for this long.
	StallTimeout Duration `toml:"stall_timeout"`
	// Pprof serves net/http/pprof on this address when not empty.
	Pprof string `toml:"pprof"`
	// AccessLog writes one log line per request.
	AccessLog bool `toml:"access_log"`
}

// Logging configures log/slog output.
type Logging struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // json or pretty
}

// Bus configures NATS.
type Bus struct {
	Mode     string `toml:"mode"` // embedded or external
	URL      string `toml:"url"`  // external: comma-separated NATS URLs
	Listen   string `toml:"listen"`
	Monitor  string `toml:"monitor"`
	StoreDir string `toml:"store_dir"`
	// MaxPayload is the largest NATS message; bigger request bodies travel in chunks.
	MaxPayload int `toml:"max_payload"`
	// Credentials is a NATS .creds file (external mode).
	Credentials string `toml:"credentials"`
	// Token is a NATS auth token; prefer GATEWAY_BUS_TOKEN.
	Token string `toml:"token"`
	// User and Password authenticate to NATS; prefer GATEWAY_BUS_PASSWORD.
	User     string `toml:"user"`
	Password string `toml:"password"`
	TLSCA    string `toml:"tls_ca"`
	TLSCert  string `toml:"tls_cert"`
	TLSKey   string `toml:"tls_key"`
	// Replicas of the JetStream streams the gateway creates (3 on a cluster).
	Replicas int `toml:"replicas"`
}

// Access configures API keys, rate limits and quotas.
type Access struct {
	Enabled        bool   `toml:"enabled"`
	AdminKeySHA256 string `toml:"admin_key_sha256"`
	// StoreFailure decides what happens when the shared counter store is
	// unreachable: "closed" (503) or "open" (count locally).
	StoreFailure string `toml:"store_failure"`
	Keys         []Key  `toml:"keys"`
}

// Key is one gateway API key and its limits.
type Key struct {
	Name              string   `toml:"name"`
	KeySHA256         string   `toml:"key_sha256"`
	KeyEnv            string   `toml:"key_env"`
	Routes            []string `toml:"routes"`
	Models            []string `toml:"models"`
	RequestsPerMinute int64    `toml:"requests_per_minute"`
	TokensPerMinute   int64    `toml:"tokens_per_minute"`
	QuotaTokens       int64    `toml:"quota_tokens"`
	QuotaRequests     int64    `toml:"quota_requests"`
	QuotaPeriod       string   `toml:"quota_period"` // day, week, month
}

// Upstream is one model provider endpoint served by a worker pool.
type Upstream struct {
	Name   string `toml:"name"`
	URL    string `toml:"url"`
	Format Format `toml:"format"`
	// APIKey is never read from a file: it comes from
	// GATEWAY_UPSTREAMS_<NAME>_API_KEY.
	APIKey string `toml:"-"`
	// Concurrency is the number of upstream calls one worker process runs at once.
	Concurrency int `toml:"concurrency"`
	// QueueSize bounds the requests waiting for this upstream across the bus.
	QueueSize int `toml:"queue_size"`
	// QueueTimeout is the longest a request may wait before a worker starts it.
	QueueTimeout Duration `toml:"queue_timeout"`
	// ConnectTimeout bounds dialing the upstream.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// FirstByteTimeout bounds the wait for the upstream's response headers.
	FirstByteTimeout Duration `toml:"first_byte_timeout"`
	// IdleTimeout bounds the silence between two chunks of a streamed answer.
	IdleTimeout Duration `toml:"idle_timeout"`
	// Timeout bounds a whole non-streamed call.
	Timeout Duration `toml:"timeout"`
	// DefaultMaxTokens is sent to Anthropic-format upstreams when the client gave none.
	DefaultMaxTokens int `toml:"default_max_tokens"`
	// ModelMap renames client model names before the call.
	ModelMap map[string]string `toml:"model_map"`
	// DefaultModel is used when the client names no model.
	DefaultModel string `toml:"default_model"`
}

// Route binds an HTTP path to an upstream.
type Route struct {
	Path        string `toml:"path"`
	InputFormat Format `toml:"input_format"`
	Upstream    string `toml:"upstream"`
	// ModelMap renames client model names on this route; it wins over the upstream's.
	ModelMap map[string]string `toml:"model_map"`
	// DefaultModel is used when the client names no model.
	DefaultModel string `toml:"default_model"`
	// DefaultMaxTokens overrides the upstream's default_max_tokens on this route.
	DefaultMaxTokens int `toml:"default_max_tokens"`
	// ReportUpstreamModel reports the upstream's model name to the client
	// instead of the name the client asked for.
	ReportUpstreamModel bool `toml:"report_upstream_model"`
}

// Duration is a time.Duration written in TOML as a string such as "30s".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText formats the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Default returns the configuration used for anything a file leaves out.
func Default() Config {
	return Config{
		Server: Server{
			Host:          "0.0.0.0",
			Port:          8080,
			MaxBodyBytes:  32 << 20,
			ReadTimeout:   Duration{60 * time.Second},
			IdleTimeout:   Duration{120 * time.Second},
			ShutdownGrace: Duration{30 * time.Second},
			StallTimeout:  Duration{30 * time.Second},
			AccessLog:     true,
		},
		Logging: Logging{Level: "info", Format: "json"},
		Bus: Bus{
			Mode:       "embedded",
			URL:        "nats://127.0.0.1:4222",
			Monitor:    "127.0.0.1:8222",
			StoreDir:   "data/nats",
			MaxPayload: 8 << 20,
			Replicas:   1,
		},
		Access: Access{StoreFailure: "closed"},
	}
}

// DefaultUpstream holds the per-upstream defaults applied to every [[upstreams]] entry.
func DefaultUpstream() Upstream {
	return Upstream{
		Concurrency:      64,
		QueueSize:        256,
		QueueTimeout:     Duration{30 * time.Second},
		ConnectTimeout:   Duration{10 * time.Second},
		FirstByteTimeout: Duration{120 * time.Second},
		IdleTimeout:      Duration{120 * time.Second},
		Timeout:          Duration{600 * time.Second},
		DefaultMaxTokens: 4096,
	}
}
