// Package config defines the gateway's configuration: the TOML schema, its
// defaults, GATEWAY_* environment overrides and validation.
//
// Load picks the file (--config, else config/<GATEWAY_ENV>.toml, else
// config/default.toml, else the copy of default.toml built into the
// binary), lays it over Default and DefaultUpstream, applies environment
// overrides, hashes the API keys named by key_env, and runs Validate.
//
// Every scalar key of [server], [worker], [logging], [bus], [access] and
// [responses] is overridden by GATEWAY_<SECTION>_<KEY>
// (GATEWAY_SERVER_PORT=9000), and every scalar key of an upstream by GATEWAY_UPSTREAMS_<NAME>_<KEY>, NAME being the
// upstream's name upper-cased with other characters than letters and digits
// turned into "_". Upstream API keys exist only in the environment
// (GATEWAY_UPSTREAMS_<NAME>_API_KEY), and plain access keys only as their
// SHA-256.
//
// Problems are reported all at once, each as a *FieldError naming the file,
// the line, the key (upstreams[1].concurrency) and, for values taken from
// the environment, the variable. config/example.toml documents every key.
//
// The package does no logging and imports no other gateway package but the
// leaf converter/format, which names the wire formats routes and upstreams
// speak: every other package imports config.
package config

import (
	"fmt"
	"time"

	"github.com/aigateway/gateway/converter/format"
)

// Config is the whole gateway configuration.
type Config struct {
	Server    Server     `toml:"server"`
	Worker    Worker     `toml:"worker"`
	Logging   Logging    `toml:"logging"`
	Bus       Bus        `toml:"bus"`
	Access    Access     `toml:"access"`
	Responses Responses  `toml:"responses"`
	Upstreams []Upstream `toml:"upstreams"`
	Routes    []Route    `toml:"routes"`
	// Breaker configures circuit breaking (breaker.go).
	Breaker Breaker `toml:"breaker"`
	// Models route requests by the model they name (models.go).
	Models []Model `toml:"models"`

	// Source names the file the configuration was read from, for messages:
	// a path, or EmbeddedSource for the built-in default.toml.
	Source string `toml:"-"`

	// meta remembers the line or environment variable behind each key, so
	// Validate can point at it. Nil for a Config built in code.
	meta *sourceMeta
}

// Server configures the HTTP ingress.
type Server struct {
	// Host is the address to listen on; "0.0.0.0" means every interface.
	Host string `toml:"host"`
	// Port is the TCP port to listen on; 0 picks a free port (for tests).
	Port int `toml:"port"`
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	MaxBodyBytes int `toml:"max_body_bytes"`
	// MaxHeaderBytes bounds the request line and headers together; larger
	// ones get 431. Each connection holds a read buffer of this size.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// ReadTimeout bounds reading a request (headers and body).
	ReadTimeout Duration `toml:"read_timeout"`
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ShutdownGrace is how long in-flight requests may run after SIGTERM.
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// StartTimeout bounds setting up the queues and buckets on NATS at
	// start; a process that cannot do it in time exits with the last error
	// instead of running without serving.
	StartTimeout Duration `toml:"start_timeout"`
	// StallTimeout ends a request whose worker sent nothing (not even a
	// heartbeat) for this long.
	StallTimeout Duration `toml:"stall_timeout"`
	// SlowClientTimeout cuts a stream whose client has not read half a
	// flow-control window (128 KiB) for this long while the upstream has
	// more to send: the worker frees its upstream slot and the client's
	// stream ends with an error event after what it was already sent.
	SlowClientTimeout Duration `toml:"slow_client_timeout"`
	// Pprof serves net/http/pprof on this address when not empty.
	Pprof string `toml:"pprof"`
	// AccessLog writes one log line per request.
	AccessLog bool `toml:"access_log"`
}

// Worker configures a worker-only process (gateway worker).
type Worker struct {
	// Port is the TCP port, on server.host, where a worker-only process
	// serves /health, /health/live, /health/ready and /metrics. It has its
	// own default so that an ingress and a worker can share a host; the
	// all-in-one process serves them on server.port instead.
	Port int `toml:"port"`
}

// Logging configures log/slog output.
type Logging struct {
	// Level is the lowest level written: debug, info, warn or error.
	Level string `toml:"level"`
	// Format is json (one object per line) or pretty (for terminals).
	Format string `toml:"format"`
}

// Bus configures NATS.
type Bus struct {
	// Mode is embedded (run nats-server in the process) or external.
	Mode string `toml:"mode"`
	// URL lists the NATS servers to connect to in external mode, comma-separated.
	URL string `toml:"url"`
	// Listen, in embedded mode, opens a TCP listener (host:port) so worker
	// or ingress processes elsewhere can join; empty means in-process only.
	Listen string `toml:"listen"`
	// Monitor is the host:port of the embedded server's HTTP monitoring
	// (/varz, /connz, /jsz, /healthz); empty turns it off.
	Monitor string `toml:"monitor"`
	// StoreDir is where the embedded server keeps JetStream files (quota
	// counters that must survive a restart).
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
	// TLSCA is a PEM file of CAs that sign the NATS servers' certificates.
	TLSCA string `toml:"tls_ca"`
	// TLSCert and TLSKey are a PEM client certificate and key (mutual TLS).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Replicas of the JetStream streams the gateway creates (3 on a cluster).
	Replicas int `toml:"replicas"`
	// QueueOnly sends every request through its upstream's JetStream
	// queue. By default a request is first offered to an idle worker over
	// core NATS, and queued only when no worker takes it at once.
	QueueOnly bool `toml:"queue_only"`
}

// Access configures API keys, rate limits and quotas.
type Access struct {
	// Enabled turns on API keys, rate limits and quotas at the ingress.
	Enabled bool `toml:"enabled"`
	// AdminKeySHA256 is the hex SHA-256 of the key for /admin/ endpoints;
	// GATEWAY_ACCESS_ADMIN_KEY (the plain key) sets it from the environment.
	AdminKeySHA256 string `toml:"admin_key_sha256"`
	// StoreFailure decides what happens when the shared counter store is
	// unreachable: "closed" (503) or "open" (count locally).
	StoreFailure string `toml:"store_failure"`
	// Keys are the API keys clients may present.
	Keys []Key `toml:"keys"`
}

// Key is one gateway API key and its limits.
type Key struct {
	// Name identifies the key in logs, metrics and quota counters.
	Name string `toml:"name"`
	// KeySHA256 is the lower-case hex SHA-256 of the key. Load fills it from
	// KeyEnv; the plain key is never kept.
	KeySHA256 string `toml:"key_sha256"`
	// KeyEnv names an environment variable holding the plain key.
	KeyEnv string `toml:"key_env"`
	// Routes limits the key to these route paths; empty allows all.
	Routes []string `toml:"routes"`
	// Models limits the key to these client model names; empty allows all.
	Models []string `toml:"models"`
	// RequestsPerMinute and TokensPerMinute are rate limits; 0 is unlimited.
	RequestsPerMinute int64 `toml:"requests_per_minute"`
	TokensPerMinute   int64 `toml:"tokens_per_minute"`
	// QuotaTokens and QuotaRequests cap use per QuotaPeriod; 0 is unlimited.
	QuotaTokens   int64 `toml:"quota_tokens"`
	QuotaRequests int64 `toml:"quota_requests"`
	// QuotaPeriod is day, week or month (the default).
	QuotaPeriod string `toml:"quota_period"`
}

// Upstream is one model provider endpoint served by a worker pool.
type Upstream struct {
	// Name identifies the upstream in routes, metrics, subjects and
	// environment variables (letters, digits, '-' and '_').
	Name string `toml:"name"`
	// URL is the provider's base URL, e.g. https://api.openai.com.
	URL string `toml:"url"`
	// Format is the wire API the upstream speaks.
	Format format.Format `toml:"format"`
	// APIKey is never read from a file: it comes from
	// GATEWAY_UPSTREAMS_<NAME>_API_KEY.
	APIKey string `toml:"-"`
	// APIKeyEnvs names more environment variables holding provider keys:
	// the upstream's calls spread over all of them (keypool.go).
	APIKeyEnvs []string `toml:"api_key_envs"`
	// KeyPolicy picks a key of the pool per call: rotate or headroom.
	KeyPolicy string `toml:"key_policy"`
	// Keys is the key pool Load resolves from APIKey and APIKeyEnvs.
	Keys []UpstreamKey `toml:"-"`
	// Breaker overrides [breaker] settings for this upstream's targets.
	Breaker BreakerOverride `toml:"breaker"`
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

// Route binds an HTTP path to an upstream, or, without one, to the
// configured [[models]].
type Route struct {
	// Path is the HTTP path clients call, e.g. /v1/chat/completions.
	Path string `toml:"path"`
	// InputFormat is the wire API clients speak on this path.
	InputFormat format.Format `toml:"input_format"`
	// Upstream names the [[upstreams]] entry that serves the route; empty
	// routes each request by its model to the [[models]] entries.
	Upstream string `toml:"upstream"`
	// Models restricts the route to these client model names (or [[models]]
	// entry names); empty allows all.
	Models []string `toml:"models"`
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
		return fmt.Errorf("invalid duration %q (want a form such as \"30s\" or \"1m30s\"): %w", b, err)
	}
	d.Duration = v
	return nil
}

// MarshalText formats the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Default returns the configuration used for anything a file leaves out.
// It has no upstreams, routes or keys.
func Default() Config {
	return Config{
		Server: Server{
			Host:          "0.0.0.0",
			Port:          8080,
			MaxBodyBytes:  32 << 20,
			ReadTimeout:   Duration{60 * time.Second},
			IdleTimeout:   Duration{120 * time.Second},
			ShutdownGrace: Duration{30 * time.Second},
			StartTimeout:  Duration{60 * time.Second},
			StallTimeout:  Duration{30 * time.Second},
			AccessLog:     true,

			// Node.js's limit, so what reaches a Node service reaches us:
			// SDK headers are 1-2 KiB, OAuth tokens and beta lists add a few.
			MaxHeaderBytes: 16 << 10,
			// A client reading 2 KiB/s still renews the window in time.
			SlowClientTimeout: Duration{60 * time.Second},
		},
		Worker:  Worker{Port: 8081},
		Logging: Logging{Level: "info", Format: "json"},
		Bus: Bus{
			Mode:       "embedded",
			URL:        "nats://127.0.0.1:4222",
			Monitor:    "127.0.0.1:8222",
			StoreDir:   "data/nats",
			MaxPayload: 8 << 20,
			Replicas:   1,
		},
		Access:  Access{StoreFailure: "closed"},
		Breaker: DefaultBreaker(),
		// max_item_bytes is left for ApplyDefaults: it follows bus.max_payload.
		Responses: Responses{Store: true, StoreTTL: Duration{DefaultResponsesTTL}},
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
		KeyPolicy:        KeyPolicyRotate,
	}
}

// ApplyDefaults fills the settings left at their zero value with the values
// of Default and DefaultUpstream, the way a file that leaves a key out gets
// the default. Load calls it; code that builds a Config by hand may too.
// Zero counts as "not set" for sizes, timeouts, enumerations and the store
// directory, none of which has a meaningful zero; addresses and booleans are
// left alone since an empty address ("off") and false mean something.
func (c *Config) ApplyDefaults() {
	d := Default()
	fill(&c.Server.MaxBodyBytes, d.Server.MaxBodyBytes)
	fill(&c.Server.MaxHeaderBytes, d.Server.MaxHeaderBytes)
	fill(&c.Server.ReadTimeout, d.Server.ReadTimeout)
	fill(&c.Server.IdleTimeout, d.Server.IdleTimeout)
	fill(&c.Server.ShutdownGrace, d.Server.ShutdownGrace)
	fill(&c.Server.StartTimeout, d.Server.StartTimeout)
	fill(&c.Server.StallTimeout, d.Server.StallTimeout)
	fill(&c.Server.SlowClientTimeout, d.Server.SlowClientTimeout)
	fill(&c.Logging.Level, d.Logging.Level)
	fill(&c.Logging.Format, d.Logging.Format)
	fill(&c.Bus.Mode, d.Bus.Mode)
	fill(&c.Bus.StoreDir, d.Bus.StoreDir)
	fill(&c.Bus.MaxPayload, d.Bus.MaxPayload)
	fill(&c.Bus.Replicas, d.Bus.Replicas)
	fill(&c.Access.StoreFailure, d.Access.StoreFailure)
	c.Breaker.applyDefaults()
	c.Responses.applyDefaults(c.Bus.MaxPayload)
	for i := range c.Access.Keys {
		fill(&c.Access.Keys[i].QuotaPeriod, "month")
	}
	du := DefaultUpstream()
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		fill(&u.Concurrency, du.Concurrency)
		fill(&u.QueueSize, du.QueueSize)
		fill(&u.QueueTimeout, du.QueueTimeout)
		fill(&u.ConnectTimeout, du.ConnectTimeout)
		fill(&u.FirstByteTimeout, du.FirstByteTimeout)
		fill(&u.IdleTimeout, du.IdleTimeout)
		fill(&u.Timeout, du.Timeout)
		fill(&u.DefaultMaxTokens, du.DefaultMaxTokens)
		fill(&u.KeyPolicy, du.KeyPolicy)
	}
}

// fill sets *dst to def when *dst is the zero value.
func fill[T comparable](dst *T, def T) {
	var zero T
	if *dst == zero {
		*dst = def
	}
}
