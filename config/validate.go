package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/converter/format"
)

// Limits checked by Validate.
const (
	// MaxBusPayload is the hard limit of nats-server's max_payload.
	MaxBusPayload = 64 << 20
	// MaxReplicas is the largest JetStream replica count.
	MaxReplicas = 5
)

// Reserved paths the ingress serves itself; routes may not use them.
var reservedPaths = [...]string{"/health", "/metrics", "/admin"}

// Validate checks the whole configuration and reports every problem it
// finds, joined with errors.Join. Each problem is a *FieldError naming the
// file, the key and, when known, the line or environment variable.
func (c *Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems lists what Validate reports, in file order.
func (c *Config) problems() []error {
	v := &validator{c: c}
	v.server()
	v.worker()
	v.logging()
	v.bus()
	v.upstreams()
	v.routes()
	v.models()
	v.access()
	v.breaker()
	v.keyPools()
	v.responses()
	sortByLine(v.errs)
	return v.errs
}

// sortByLine puts problems in file order; those without a line (set from
// the environment, or a Config built in code) keep their order at the end.
func sortByLine(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool {
		return lineOf(errs[i]) < lineOf(errs[j])
	})
}

func lineOf(err error) int {
	if fe, ok := err.(*FieldError); ok && fe.Line > 0 {
		return fe.Line
	}
	return math.MaxInt
}

type validator struct {
	c    *Config
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	err := fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	var fe *FieldError
	if v.c.meta != nil {
		fe = v.c.meta.fieldError(key, err)
	} else {
		fe = &FieldError{Key: key, Err: err}
	}
	fe.File = v.c.Source
	v.errs = append(v.errs, fe)
}

func (v *validator) positive(key string, n int64) {
	if n <= 0 {
		v.fail(key, "must be positive, got %d", n)
	}
}

func (v *validator) positiveDuration(key string, d Duration) {
	if d.Duration <= 0 {
		v.fail(key, "must be a positive duration, got %s", d.Duration)
	}
}

func (v *validator) nonNegative(key string, n int64) {
	if n < 0 {
		v.fail(key, "must not be negative, got %d", n)
	}
}

func (v *validator) oneOf(key, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.fail(key, "%q is not one of %s", got, strings.Join(allowed, ", "))
}

// hostPort checks an optional listen address such as "127.0.0.1:8222".
func (v *validator) hostPort(key, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(key, "%q is not a host:port address", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.fail(key, "%q has an invalid port", addr)
	}
}

func (v *validator) server() {
	s := v.c.Server
	if s.Port < 0 || s.Port > 65535 {
		v.fail("server.port", "%d is outside 0-65535", s.Port)
	}
	v.positive("server.max_body_bytes", int64(s.MaxBodyBytes))
	if s.MaxHeaderBytes < 1<<10 {
		v.fail("server.max_header_bytes", "%d is below 1024: no real client's headers fit", s.MaxHeaderBytes)
	}
	v.positiveDuration("server.read_timeout", s.ReadTimeout)
	v.positiveDuration("server.idle_timeout", s.IdleTimeout)
	v.positiveDuration("server.shutdown_grace", s.ShutdownGrace)
	v.positiveDuration("server.start_timeout", s.StartTimeout)
	v.positiveDuration("server.stall_timeout", s.StallTimeout)
	v.positiveDuration("server.slow_client_timeout", s.SlowClientTimeout)
	v.hostPort("server.pprof", s.Pprof)
}

func (v *validator) worker() {
	if p := v.c.Worker.Port; p < 0 || p > 65535 {
		v.fail("worker.port", "%d is outside 0-65535", p)
	}
}

func (v *validator) logging() {
	v.oneOf("logging.level", v.c.Logging.Level, "debug", "info", "warn", "error")
	v.oneOf("logging.format", v.c.Logging.Format, "json", "pretty")
}

func (v *validator) bus() {
	b := v.c.Bus
	v.oneOf("bus.mode", b.Mode, "embedded", "external")
	switch {
	case b.Mode == "external" && strings.TrimSpace(b.URL) == "":
		v.fail("bus.url", "external mode needs at least one NATS URL")
	case b.URL != "":
		for _, u := range strings.Split(b.URL, ",") {
			if err := checkNATSURL(strings.TrimSpace(u)); err != nil {
				v.fail("bus.url", "%v", err)
			}
		}
	}
	if b.Mode == "embedded" && b.StoreDir == "" {
		v.fail("bus.store_dir", "embedded mode needs a directory for JetStream files")
	}
	v.hostPort("bus.listen", b.Listen)
	v.hostPort("bus.monitor", b.Monitor)
	if b.MaxPayload <= 0 || b.MaxPayload > MaxBusPayload {
		v.fail("bus.max_payload", "%d is outside 1-%d bytes", b.MaxPayload, MaxBusPayload)
	}
	if b.Replicas < 1 || b.Replicas > MaxReplicas {
		v.fail("bus.replicas", "%d is outside 1-%d", b.Replicas, MaxReplicas)
	}
	if b.Password != "" && b.User == "" {
		v.fail("bus.password", "a password needs a user")
	}
	if b.Token != "" && (b.User != "" || b.Credentials != "") {
		v.fail("bus.token", "use one of token, user/password or credentials")
	}
	if b.User != "" && b.Credentials != "" {
		v.fail("bus.credentials", "use one of token, user/password or credentials")
	}
	switch {
	case b.TLSCert != "" && b.TLSKey == "":
		v.fail("bus.tls_cert", "tls_cert needs tls_key")
	case b.TLSKey != "" && b.TLSCert == "":
		v.fail("bus.tls_key", "tls_key needs tls_cert")
	}
}

// checkNATSURL accepts what nats.go accepts: nats, tls, ws or wss URLs, or
// a bare host:port.
func checkNATSURL(s string) error {
	if s == "" {
		return errors.New("empty URL in the list")
	}
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", redactURL(s))
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("%q: scheme must be nats, tls, ws or wss", redactURL(s))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", redactURL(s))
	}
	return nil
}

func (v *validator) upstreams() {
	names := map[string]int{}
	envNames := map[string]string{}
	for i, u := range v.c.Upstreams {
		p := indexKey("upstreams", i)
		switch {
		case u.Name == "":
			v.fail(p+".name", "an upstream needs a name")
		case !validName(u.Name, "-_"):
			v.fail(p+".name", "%q: use letters, digits, '-' and '_' only", u.Name)
		default:
			if j, dup := names[u.Name]; dup {
				v.fail(p+".name", "%q is already the name of upstreams[%d]", u.Name, j)
			} else {
				names[u.Name] = i
			}
			// "a-b" and "a_b" would read the same GATEWAY_UPSTREAMS_A_B_* variables.
			prefix := u.EnvPrefix()
			if other, dup := envNames[prefix]; dup && other != u.Name {
				v.fail(p+".name", "%q and %q share the environment prefix %s", u.Name, other, prefix)
			} else {
				envNames[prefix] = u.Name
			}
		}
		if err := checkHTTPURL(u.URL); err != nil {
			v.fail(p+".url", "%v", err)
		}
		v.format(p+".format", u.Format)
		v.positive(p+".concurrency", int64(u.Concurrency))
		v.positive(p+".queue_size", int64(u.QueueSize))
		v.positiveDuration(p+".queue_timeout", u.QueueTimeout)
		v.positiveDuration(p+".connect_timeout", u.ConnectTimeout)
		v.positiveDuration(p+".first_byte_timeout", u.FirstByteTimeout)
		v.positiveDuration(p+".idle_timeout", u.IdleTimeout)
		v.positiveDuration(p+".timeout", u.Timeout)
		v.positive(p+".default_max_tokens", int64(u.DefaultMaxTokens))
		v.modelMap(p+".model_map", u.ModelMap)
	}
}

func checkHTTPURL(s string) error {
	if s == "" {
		return errors.New("an upstream needs a url")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", redactURL(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", redactURL(s))
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", redactURL(s))
	}
	return nil
}

func (v *validator) format(key string, f format.Format) {
	switch {
	case f.Valid():
	case f == "":
		v.fail(key, "missing; use %s", formatNames())
	default:
		v.fail(key, "unknown format %q; use %s", f, formatNames())
	}
}

// formatNames lists the known formats for a message: "a, b or c".
func formatNames() string {
	all := format.All()
	names := make([]string, len(all))
	for i, f := range all {
		names[i] = f.String()
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func (v *validator) modelMap(key string, m map[string]string) {
	for from, to := range m {
		if from == "" || to == "" {
			v.fail(joinKey(key, from), "model names must not be empty")
		}
	}
}

func (v *validator) routes() {
	paths := map[string]int{}
	for i, r := range v.c.Routes {
		p := indexKey("routes", i)
		switch {
		case !strings.HasPrefix(r.Path, "/"):
			v.fail(p+".path", "%q must start with /", r.Path)
		case isReserved(r.Path):
			v.fail(p+".path", "%q is served by the gateway itself", r.Path)
		default:
			if j, dup := paths[r.Path]; dup {
				v.fail(p+".path", "%q is already the path of routes[%d]", r.Path, j)
			} else {
				paths[r.Path] = i
			}
		}
		v.format(p+".input_format", r.InputFormat)
		if r.Upstream == "" {
			// A model-routed route; models() checks it.
		} else if _, ok := v.c.Upstream(r.Upstream); !ok {
			v.fail(p+".upstream", "no upstream is named %q", r.Upstream)
		}
		v.nonNegative(p+".default_max_tokens", int64(r.DefaultMaxTokens))
		v.modelMap(p+".model_map", r.ModelMap)
	}
}

func isReserved(path string) bool {
	for _, r := range reservedPaths {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

func (v *validator) access() {
	a := v.c.Access
	v.oneOf("access.store_failure", a.StoreFailure, "closed", "open")
	if a.AdminKeySHA256 != "" && !isSHA256Hex(a.AdminKeySHA256) {
		v.fail("access.admin_key_sha256", "must be 64 hex characters (a SHA-256)")
	}
	if a.Enabled && len(a.Keys) == 0 {
		// Every request would get 401: nobody holds a key.
		v.fail("access.enabled", "access control is on but no [[access.keys]] entry exists; "+
			"add one (gateway keys new NAME prints it) or turn access control off")
	}
	names := map[string]int{}
	hashes := map[string]int{}
	for i, k := range a.Keys {
		p := indexKey("access.keys", i)
		if err := checkKeyName(k.Name); err != nil {
			v.fail(p+".name", "%v", err)
		} else {
			if j, dup := names[k.Name]; dup {
				v.fail(p+".name", "%q is already the name of access.keys[%d]", k.Name, j)
			} else {
				names[k.Name] = i
			}
		}
		fromEnv := v.c.meta != nil && v.c.meta.keyFromEnv[i]
		switch {
		case k.KeySHA256 == "" && k.KeyEnv == "":
			v.fail(p, "set one of key_sha256 or key_env")
		case k.KeySHA256 != "" && k.KeyEnv != "" && !fromEnv:
			v.fail(p, "set key_sha256 or key_env, not both")
		case k.KeySHA256 != "" && !isSHA256Hex(k.KeySHA256):
			v.fail(p+".key_sha256", "must be 64 hex characters (a SHA-256)")
		case k.KeySHA256 != "":
			h := strings.ToLower(k.KeySHA256)
			if j, dup := hashes[h]; dup {
				v.fail(p+".key_sha256", "the same key as access.keys[%d]", j)
			} else {
				hashes[h] = i
			}
		}
		if k.KeyEnv != "" && !validEnvName(k.KeyEnv) {
			v.fail(p+".key_env", "%q is not an environment variable name", k.KeyEnv)
		}
		v.oneOf(p+".quota_period", k.QuotaPeriod, "day", "week", "month")
		v.nonNegative(p+".requests_per_minute", k.RequestsPerMinute)
		v.nonNegative(p+".tokens_per_minute", k.TokensPerMinute)
		v.nonNegative(p+".quota_tokens", k.QuotaTokens)
		v.nonNegative(p+".quota_requests", k.QuotaRequests)
		for j, route := range k.Routes {
			if _, ok := v.c.Route(route); !ok {
				v.fail(indexKey(p+".routes", j), "no route has the path %q", route)
			}
		}
	}
}

// CheckKeyName reports whether name may name an access key: the rule
// Validate applies to access.keys[].name, for tools that make keys.
func CheckKeyName(name string) error {
	if err := checkKeyName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func checkKeyName(name string) error {
	switch {
	case name == "":
		return errors.New("a key needs a name")
	case !validName(name, "-_."):
		return fmt.Errorf("%q: use letters, digits, '-', '_' and '.' only", name)
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// validName reports whether s has only ASCII letters, digits and extra:
// names end up in NATS subjects, key-value keys and metric labels.
func validName(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return s != ""
}

// validEnvName reports whether s is a portable environment variable name:
// a letter or '_', then letters, digits and '_'.
func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}
