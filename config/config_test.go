package config

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"go.uber.org/goleak"

	"github.com/aigateway/gateway/converter/format"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env returns a LookupFunc over a fixed set of variables.
func env(vars map[string]string) LookupFunc {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// noEnv is an environment with no variables at all.
var noEnv = env(nil)

// mustLoad loads path and fails the test on error.
func mustLoad(t *testing.T, path string, vars map[string]string) Config {
	t.Helper()
	cfg, err := Load(LoadOptions{Path: path, Env: env(vars)})
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return cfg
}

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fieldErrors flattens a joined error into its FieldErrors, failing on any
// other kind of error.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range multi.Unwrap() {
				walk(inner)
			}
			return
		}
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %q (%T) is not a *FieldError", e, e)
		}
		out = append(out, fe)
	}
	if err != nil {
		walk(err)
	}
	return out
}

// stripOrigin strips what legitimately differs between two loads of the
// same settings: where they came from.
func stripOrigin(c Config) Config {
	c.Source = ""
	c.meta = nil
	return c
}

func TestDefault(t *testing.T) {
	d := Default()
	if d.Server.Host != "0.0.0.0" || d.Server.Port != 8080 {
		t.Errorf("server = %s:%d, want 0.0.0.0:8080", d.Server.Host, d.Server.Port)
	}
	if d.Logging != (Logging{Level: "info", Format: "json"}) {
		t.Errorf("logging = %+v", d.Logging)
	}
	if d.Bus.Mode != "embedded" || d.Bus.Monitor != "127.0.0.1:8222" || d.Bus.StoreDir != "data/nats" {
		t.Errorf("bus = %+v", d.Bus)
	}
	if d.Access.Enabled || d.Access.StoreFailure != "closed" {
		t.Errorf("access = %+v", d.Access)
	}
	// The defaults alone are a valid (if useless) configuration.
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestApplyDefaults(t *testing.T) {
	cfg := Config{
		Upstreams: []Upstream{{Name: "u", URL: "http://127.0.0.1:1", Format: format.OpenAIChat, Concurrency: 3}},
		Routes:    []Route{{Path: "/v1/chat/completions", InputFormat: format.OpenAIChat, Upstream: "u"}},
		Access:    Access{Keys: []Key{{Name: "k", KeySHA256: HashKey("k")}}},
	}
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate before ApplyDefaults passed; zero sizes and timeouts must be reported")
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate after ApplyDefaults: %v", err)
	}
	want := DefaultUpstream()
	want.Name, want.URL, want.Format, want.Concurrency = "u", "http://127.0.0.1:1", format.OpenAIChat, 3
	if !reflect.DeepEqual(cfg.Upstreams[0], want) {
		t.Errorf("upstream = %+v\nwant       %+v", cfg.Upstreams[0], want)
	}
	if cfg.Access.Keys[0].QuotaPeriod != "month" {
		t.Errorf("quota_period = %q, want month", cfg.Access.Keys[0].QuotaPeriod)
	}
	if cfg.Server.ReadTimeout != Default().Server.ReadTimeout || cfg.Bus.MaxPayload != Default().Bus.MaxPayload {
		t.Errorf("server/bus defaults not applied: %+v %+v", cfg.Server, cfg.Bus)
	}
}

func TestShippedFiles(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "default.toml",
			check: func(t *testing.T, c Config) {
				if c.Server.Host != "0.0.0.0" || c.Server.Port != 8080 || c.Logging.Level != "info" || c.Logging.Format != "json" {
					t.Errorf("server/logging = %+v %+v", c.Server, c.Logging)
				}
				if c.Bus.Mode != "embedded" || c.Bus.Monitor != "127.0.0.1:8222" || c.Bus.StoreDir != "data/nats" {
					t.Errorf("bus = %+v", c.Bus)
				}
				if c.Access.Enabled {
					t.Error("access enabled in default.toml")
				}
				checkUpstream(t, c, "openai", "https://api.openai.com", format.OpenAIChat)
				checkUpstream(t, c, "anthropic", "https://api.anthropic.com", format.Anthropic)
				checkRoute(t, c, "/v1/chat/completions", format.OpenAIChat, "openai")
				checkRoute(t, c, "/v1/messages", format.Anthropic, "anthropic")
			},
		},
		{
			name: "example.toml",
			check: func(t *testing.T, c Config) {
				u, _ := c.Upstream("anthropic")
				if u == nil || u.ModelMap["claude-sonnet"] != "claude-sonnet-4-5" || u.DefaultMaxTokens != 8192 {
					t.Errorf("anthropic upstream = %+v", u)
				}
				if len(c.Access.Keys) != 2 || c.Access.Keys[1].KeySHA256 != HashKey("test") {
					t.Errorf("access keys = %+v", c.Access.Keys)
				}
				// Access is off in the example, so key_env is not read.
				if c.Access.Keys[0].KeySHA256 != "" {
					t.Errorf("key_env resolved with access disabled: %+v", c.Access.Keys[0])
				}
			},
		},
		{
			name: "production.toml",
			vars: map[string]string{"TEAM_A_KEY": "sk-team-a-secret"},
			check: func(t *testing.T, c Config) {
				if c.Logging != (Logging{Level: "info", Format: "json"}) {
					t.Errorf("logging = %+v", c.Logging)
				}
				if c.Bus.Mode != "external" || c.Bus.URL != "nats://nats:4222" || c.Bus.Replicas != 3 {
					t.Errorf("bus = %+v", c.Bus)
				}
				if !c.Access.Enabled || c.Access.StoreFailure != "closed" {
					t.Errorf("access = %+v", c.Access)
				}
				if c.Server.Pprof != "" || !c.Server.AccessLog {
					t.Errorf("server pprof=%q access_log=%v", c.Server.Pprof, c.Server.AccessLog)
				}
				if len(c.Access.Keys) == 0 || c.Access.Keys[0].KeyEnv != "TEAM_A_KEY" ||
					c.Access.Keys[0].KeySHA256 != HashKey("sk-team-a-secret") {
					t.Errorf("keys = %+v", c.Access.Keys)
				}
				if strings.Contains(fmt.Sprintf("%+v", c), "sk-team-a-secret") {
					t.Error("the plain key is kept in the configuration")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.name, tt.vars)
			if c.Source != tt.name {
				t.Errorf("Source = %q, want %q", c.Source, tt.name)
			}
			tt.check(t, c)
		})
	}
}

func checkUpstream(t *testing.T, c Config, name, url string, f format.Format) {
	t.Helper()
	u, ok := c.Upstream(name)
	if !ok {
		t.Fatalf("no upstream %q", name)
	}
	if u.URL != url || u.Format != f {
		t.Errorf("upstream %q = %s %s, want %s %s", name, u.URL, u.Format, url, f)
	}
	// Everything the file leaves out carries the per-upstream default.
	d := DefaultUpstream()
	if u.Concurrency != d.Concurrency || u.QueueSize != d.QueueSize || u.Timeout != d.Timeout {
		t.Errorf("upstream %q defaults not applied: %+v", name, u)
	}
}

func checkRoute(t *testing.T, c Config, path string, in format.Format, upstream string) {
	t.Helper()
	r, ok := c.Route(path)
	if !ok {
		t.Fatalf("no route %q", path)
	}
	if r.InputFormat != in || r.Upstream != upstream {
		t.Errorf("route %q = %s → %s, want %s → %s", path, r.InputFormat, r.Upstream, in, upstream)
	}
}

// TestDefaultGolden pins the effective configuration of default.toml, every
// default included, so a changed default shows up in review.
func TestDefaultGolden(t *testing.T) {
	c := mustLoad(t, "default.toml", nil)
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(stripOrigin(c)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "default.golden.toml")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("effective default.toml differs from %s (run go test -update if intended):\n%s", golden, buf.String())
	}
	// The golden file is itself a configuration that loads to the same
	// thing, but for store_dir: written in a file, it is relative to the file.
	again := mustLoad(t, golden, nil)
	if want := filepath.Join(filepath.Dir(golden), c.Bus.StoreDir); again.Bus.StoreDir != want {
		t.Errorf("golden file's store_dir = %q, want %q", again.Bus.StoreDir, want)
	}
	again.Bus.StoreDir = c.Bus.StoreDir
	if !reflect.DeepEqual(stripOrigin(again), stripOrigin(c)) {
		t.Errorf("golden file loads differently:\n%+v\n%+v", again, c)
	}
}

func TestResolution(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "default.toml", "[server]\nport = 1001\n")
	writeFile(t, dir, "production.toml", "[server]\nport = 1002\n")
	other := t.TempDir()
	writeFile(t, other, "default.toml", "[server]\nport = 1003\n")
	explicit := writeFile(t, t.TempDir(), "mine.toml", "[server]\nport = 1004\n")
	empty := t.TempDir()

	tests := []struct {
		name       string
		opts       LoadOptions
		vars       map[string]string
		wantPort   int
		wantSource string
		wantErr    string
	}{
		{name: "default file in dir", opts: LoadOptions{Dir: dir}, wantPort: 1001, wantSource: filepath.Join(dir, "default.toml")},
		{name: "GATEWAY_ENV selects file", opts: LoadOptions{Dir: dir}, vars: map[string]string{"GATEWAY_ENV": "production"},
			wantPort: 1002, wantSource: filepath.Join(dir, "production.toml")},
		{name: "explicit path wins over GATEWAY_ENV", opts: LoadOptions{Dir: dir, Path: explicit},
			vars: map[string]string{"GATEWAY_ENV": "production"}, wantPort: 1004, wantSource: explicit},
		{name: "GATEWAY_CONFIG_DIR replaces dir", opts: LoadOptions{Dir: dir},
			vars: map[string]string{"GATEWAY_CONFIG_DIR": other}, wantPort: 1003, wantSource: filepath.Join(other, "default.toml")},
		{name: "embedded fallback", opts: LoadOptions{Dir: empty}, wantPort: 8080, wantSource: EmbeddedSource},
		{name: "embedded fallback from empty GATEWAY_CONFIG_DIR", vars: map[string]string{"GATEWAY_CONFIG_DIR": empty},
			wantPort: 8080, wantSource: EmbeddedSource},
		{name: "missing GATEWAY_ENV file is an error", opts: LoadOptions{Dir: dir}, vars: map[string]string{"GATEWAY_ENV": "staging"},
			wantErr: filepath.Join(dir, "staging.toml")},
		{name: "missing explicit path is an error", opts: LoadOptions{Path: filepath.Join(empty, "nope.toml")},
			wantErr: filepath.Join(empty, "nope.toml")},
		{name: "GATEWAY_ENV must be a plain name", opts: LoadOptions{Dir: dir}, vars: map[string]string{"GATEWAY_ENV": "../production"},
			wantErr: "GATEWAY_ENV"},
		{name: "env override applies to the chosen file", opts: LoadOptions{Dir: dir},
			vars: map[string]string{"GATEWAY_ENV": "production", "GATEWAY_SERVER_PORT": "1005"}, wantPort: 1005,
			wantSource: filepath.Join(dir, "production.toml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Env = env(tt.vars)
			c, err := Load(opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.Port != tt.wantPort || c.Source != tt.wantSource {
				t.Errorf("port %d from %q, want %d from %q", c.Server.Port, c.Source, tt.wantPort, tt.wantSource)
			}
		})
	}
}

// TestEmbeddedIsDefaultFile checks that the fallback is the shipped file.
func TestEmbeddedIsDefaultFile(t *testing.T) {
	embedded, err := Load(LoadOptions{Dir: t.TempDir(), Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if embedded.Source != EmbeddedSource {
		t.Fatalf("Source = %q, want %q", embedded.Source, EmbeddedSource)
	}
	file := mustLoad(t, "default.toml", nil)
	if !reflect.DeepEqual(stripOrigin(embedded), stripOrigin(file)) {
		t.Errorf("embedded default differs from default.toml:\n%+v\n%+v", embedded, file)
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		check func(c Config) bool
	}{
		{"server port", map[string]string{"GATEWAY_SERVER_PORT": "9000"}, func(c Config) bool { return c.Server.Port == 9000 }},
		{"server duration", map[string]string{"GATEWAY_SERVER_STALL_TIMEOUT": "45s"},
			func(c Config) bool { return c.Server.StallTimeout.Duration == 45*time.Second }},
		{"server bool", map[string]string{"GATEWAY_SERVER_ACCESS_LOG": "false"}, func(c Config) bool { return !c.Server.AccessLog }},
		{"server pprof", map[string]string{"GATEWAY_SERVER_PPROF": "127.0.0.1:6060"},
			func(c Config) bool { return c.Server.Pprof == "127.0.0.1:6060" }},
		{"logging format", map[string]string{"GATEWAY_LOGGING_FORMAT": "pretty"}, func(c Config) bool { return c.Logging.Format == "pretty" }},
		{"logging level", map[string]string{"GATEWAY_LOGGING_LEVEL": "debug"}, func(c Config) bool { return c.Logging.Level == "debug" }},
		{"bus external", map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": "nats://a:4222,nats://b:4222"},
			func(c Config) bool { return c.Bus.Mode == "external" && c.Bus.URL == "nats://a:4222,nats://b:4222" }},
		{"bus secrets", map[string]string{"GATEWAY_BUS_USER": "gw", "GATEWAY_BUS_PASSWORD": "pw", "GATEWAY_BUS_MODE": "external"},
			func(c Config) bool { return c.Bus.User == "gw" && c.Bus.Password == "pw" }},
		{"bus replicas", map[string]string{"GATEWAY_BUS_REPLICAS": "3"}, func(c Config) bool { return c.Bus.Replicas == 3 }},
		{"access disabled", map[string]string{"GATEWAY_ACCESS_ENABLED": "false"}, func(c Config) bool { return !c.Access.Enabled }},
		{"access store failure", map[string]string{"GATEWAY_ACCESS_STORE_FAILURE": "open"},
			func(c Config) bool { return c.Access.StoreFailure == "open" }},
		{"admin key is hashed", map[string]string{"GATEWAY_ACCESS_ADMIN_KEY": "admin-secret"},
			func(c Config) bool { return c.Access.AdminKeySHA256 == HashKey("admin-secret") }},
		{"admin key hash", map[string]string{"GATEWAY_ACCESS_ADMIN_KEY_SHA256": strings.ToUpper(HashKey("x"))},
			func(c Config) bool { return c.Access.AdminKeySHA256 == HashKey("x") }},
		{"upstream api key", map[string]string{"GATEWAY_UPSTREAMS_OPENAI_API_KEY": "sk-1", "GATEWAY_UPSTREAMS_ANTHROPIC_API_KEY": "sk-2"},
			func(c Config) bool { return c.Upstreams[0].APIKey == "sk-1" && c.Upstreams[1].APIKey == "sk-2" }},
		{"upstream url", map[string]string{"GATEWAY_UPSTREAMS_OPENAI_URL": "http://127.0.0.1:9001"},
			func(c Config) bool { return c.Upstreams[0].URL == "http://127.0.0.1:9001" }},
		{"upstream numbers", map[string]string{"GATEWAY_UPSTREAMS_ANTHROPIC_CONCURRENCY": "7", "GATEWAY_UPSTREAMS_ANTHROPIC_QUEUE_SIZE": "9"},
			func(c Config) bool { return c.Upstreams[1].Concurrency == 7 && c.Upstreams[1].QueueSize == 9 }},
		{"upstream queue timeout", map[string]string{"GATEWAY_UPSTREAMS_OPENAI_QUEUE_TIMEOUT": "2m"},
			func(c Config) bool { return c.Upstreams[0].QueueTimeout.Duration == 2*time.Minute }},
		{"upstream default model", map[string]string{"GATEWAY_UPSTREAMS_OPENAI_DEFAULT_MODEL": "gpt-4o"},
			func(c Config) bool { return c.Upstreams[0].DefaultModel == "gpt-4o" }},
		{"variables of other upstreams are ignored", map[string]string{"GATEWAY_UPSTREAMS_GEMINI_URL": "::"},
			func(c Config) bool { return c.Upstreams[0].URL == "https://api.openai.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, "default.toml", tt.vars)
			if !tt.check(c) {
				t.Errorf("override not applied: %+v", c.Redacted())
			}
		})
	}
}

// TestUpstreamEnvName checks the NAME part of GATEWAY_UPSTREAMS_<NAME>_*.
func TestUpstreamEnvName(t *testing.T) {
	src := `
[[upstreams]]
name = "azure-east.2"
url = "https://east.example.com"
format = "openai-chat"
`
	c, err := Parse("inline.toml", []byte(src), env(map[string]string{"GATEWAY_UPSTREAMS_AZURE_EAST_2_API_KEY": "k"}))
	if err == nil {
		t.Fatal("a name with a dot was accepted")
	}
	src = strings.Replace(src, "azure-east.2", "azure-east_2", 1)
	c, err = Parse("inline.toml", []byte(src), env(map[string]string{"GATEWAY_UPSTREAMS_AZURE_EAST_2_API_KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Upstreams[0].EnvPrefix(); got != "GATEWAY_UPSTREAMS_AZURE_EAST_2_" {
		t.Errorf("EnvPrefix = %q", got)
	}
	if c.Upstreams[0].APIKey != "k" {
		t.Errorf("APIKey = %q, want k", c.Upstreams[0].APIKey)
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		wantVar  string
		wantKey  string
		sentinel error
	}{
		{"not an integer", map[string]string{"GATEWAY_SERVER_PORT": "eighty"}, "GATEWAY_SERVER_PORT", "server.port", ErrBadEnv},
		{"not a bool", map[string]string{"GATEWAY_ACCESS_ENABLED": "maybe"}, "GATEWAY_ACCESS_ENABLED", "access.enabled", ErrBadEnv},
		{"duration without unit", map[string]string{"GATEWAY_SERVER_READ_TIMEOUT": "30"}, "GATEWAY_SERVER_READ_TIMEOUT", "server.read_timeout", ErrBadEnv},
		{"upstream integer", map[string]string{"GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY": "many"},
			"GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY", "upstreams[0].concurrency", ErrBadEnv},
		{"valid type, invalid value", map[string]string{"GATEWAY_LOGGING_LEVEL": "loud"}, "GATEWAY_LOGGING_LEVEL", "logging.level", ErrInvalid},
		{"negative upstream value", map[string]string{"GATEWAY_UPSTREAMS_ANTHROPIC_QUEUE_SIZE": "-1"},
			"GATEWAY_UPSTREAMS_ANTHROPIC_QUEUE_SIZE", "upstreams[1].queue_size", ErrInvalid},
		{"external bus without url", map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": ""},
			"GATEWAY_BUS_URL", "bus.url", ErrInvalid},
		{"empty admin key", map[string]string{"GATEWAY_ACCESS_ADMIN_KEY": ""}, "GATEWAY_ACCESS_ADMIN_KEY", "access.admin_key_sha256", ErrMissingEnv},
		// Otherwise the gateway starts and answers 401 to every request.
		{"access on without keys", map[string]string{"GATEWAY_ACCESS_ENABLED": "true"}, "GATEWAY_ACCESS_ENABLED", "access.enabled", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(LoadOptions{Path: "default.toml", Env: env(tt.vars)})
			fes := fieldErrors(t, err)
			if len(fes) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(fes), err)
			}
			fe := fes[0]
			if fe.Env != tt.wantVar || fe.Key != tt.wantKey || fe.File != "default.toml" || !errors.Is(err, tt.sentinel) {
				t.Errorf("got %+v (%v), want variable %s key %s sentinel %v", fe, fe, tt.wantVar, tt.wantKey, tt.sentinel)
			}
			msg := err.Error()
			for _, want := range []string{"default.toml", tt.wantKey, tt.wantVar} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not name %q", msg, want)
				}
			}
		})
	}
}

func TestKeyEnv(t *testing.T) {
	src := `
[[upstreams]]
name = "openai"
url = "https://api.openai.com"
format = "openai-chat"

[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"
upstream = "openai"

[access]
enabled = true

[[access.keys]]
name = "team-a"
key_env = "TEAM_A_KEY"

[[access.keys]]
name = "team-b"
key_env = "TEAM_B_KEY"
`
	t.Run("hashed", func(t *testing.T) {
		c, err := Parse("keys.toml", []byte(src), env(map[string]string{"TEAM_A_KEY": "plain-a", "TEAM_B_KEY": "plain-b"}))
		if err != nil {
			t.Fatal(err)
		}
		if c.Access.Keys[0].KeySHA256 != HashKey("plain-a") || c.Access.Keys[1].KeySHA256 != HashKey("plain-b") {
			t.Errorf("keys = %+v", c.Access.Keys)
		}
		dump := fmt.Sprintf("%#v", c)
		if strings.Contains(dump, "plain-a") || strings.Contains(dump, "plain-b") {
			t.Error("a plain key is kept in the configuration")
		}
		// A loaded configuration stays valid when checked again.
		if err := c.Validate(); err != nil {
			t.Errorf("Validate on a loaded config: %v", err)
		}
	})
	t.Run("missing and empty", func(t *testing.T) {
		_, err := Parse("keys.toml", []byte(src), env(map[string]string{"TEAM_B_KEY": ""}))
		fes := fieldErrors(t, err)
		if len(fes) != 2 {
			t.Fatalf("got %d problems, want 2: %v", len(fes), err)
		}
		for i, want := range []string{"TEAM_A_KEY is not set", "TEAM_B_KEY is empty"} {
			if !errors.Is(fes[i], ErrMissingEnv) || !strings.Contains(fes[i].Error(), want) ||
				fes[i].Key != fmt.Sprintf("access.keys[%d].key_env", i) || fes[i].Line == 0 {
				t.Errorf("problem %d = %v (%+v), want %q with a line", i, fes[i], fes[i], want)
			}
		}
	})
	t.Run("not read while access is disabled", func(t *testing.T) {
		off := strings.Replace(src, "enabled = true", "enabled = false", 1)
		if _, err := Parse("keys.toml", []byte(off), noEnv); err != nil {
			t.Fatal(err)
		}
	})
}

// wantMarker is the comment that marks an expected problem on its line.
const wantMarker = "# want: "

// TestInvalidFiles loads every testdata/invalid/*.toml. Each line ending in
// "# want: TEXT" must produce exactly one problem on that line whose message
// contains TEXT, and there must be no other problems.
func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".toml"), func(t *testing.T) {
			wants := readWants(t, file)
			_, err := Load(LoadOptions{Path: file, Env: noEnv})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			fes := fieldErrors(t, err)
			for _, fe := range fes {
				if fe.File != file || !strings.HasPrefix(fe.Error(), file+":") {
					t.Errorf("problem %q does not name the file %s", fe, file)
				}
			}
			lines := make([]int, 0, len(wants))
			for line := range wants {
				lines = append(lines, line)
			}
			sort.Ints(lines)
			for _, line := range lines {
				found := false
				for _, fe := range fes {
					if fe.Line == line && strings.Contains(fe.Error(), wants[line]) {
						found = true
					}
				}
				if !found {
					t.Errorf("line %d: no problem containing %q in:\n%v", line, wants[line], err)
				}
			}
			if len(fes) != len(wants) {
				t.Errorf("got %d problems, want %d:\n%v", len(fes), len(wants), err)
			}
		})
	}
}

func readWants(t *testing.T, file string) map[int]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wants := map[int]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if _, want, ok := strings.Cut(sc.Text(), wantMarker); ok {
			wants[n] = want
		}
	}
	if len(wants) == 0 {
		t.Fatalf("%s has no %q comment", file, wantMarker)
	}
	return wants
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Routes = []Route{{Path: "/x", InputFormat: format.Anthropic, Upstream: "nowhere"}}
	fes := fieldErrors(t, c.Validate())
	if len(fes) != 1 || fes[0].Key != "routes[0].upstream" || fes[0].File != "" || fes[0].Line != 0 {
		t.Fatalf("problems = %+v", fes)
	}
	if got := fes[0].Error(); got != `routes[0].upstream: invalid value: no upstream is named "nowhere"` {
		t.Errorf("message = %q", got)
	}
}

func TestRedacted(t *testing.T) {
	const apiKey, password, token, urlPass = "sk-live-123456", "bus-pass-789", "bus-token-456", "url-pass-321"
	c := mustLoad(t, "default.toml", map[string]string{
		"GATEWAY_UPSTREAMS_OPENAI_API_KEY": apiKey,
		"GATEWAY_BUS_MODE":                 "external",
		"GATEWAY_BUS_URL":                  "nats://gw:" + urlPass + "@a:4222, nats://" + token + "@b:4222",
		"GATEWAY_BUS_USER":                 "gw",
		"GATEWAY_BUS_PASSWORD":             password,
	})
	c.Bus.Token = token // set directly: a token and a user may not be combined in a valid file
	r := c.Redacted()
	dump := fmt.Sprintf("%+v %#v", r, r)
	for _, secret := range []string{apiKey, password, token, urlPass} {
		if strings.Contains(dump, secret) {
			t.Errorf("redacted copy contains %q: %s", secret, dump)
		}
	}
	if r.Upstreams[0].APIKey != RedactedValue || r.Bus.Password != RedactedValue || r.Bus.Token != RedactedValue {
		t.Errorf("secrets not marked: %+v %+v", r.Upstreams[0], r.Bus)
	}
	if r.Upstreams[1].APIKey != "" {
		t.Errorf("an unset key shows as %q, want empty", r.Upstreams[1].APIKey)
	}
	if want := "nats://gw:[redacted]@a:4222,nats://[redacted]@b:4222"; r.Bus.URL != want {
		t.Errorf("bus url = %q, want %q", r.Bus.URL, want)
	}
	// The original is untouched.
	if c.Upstreams[0].APIKey != apiKey || c.Bus.Password != password || !strings.Contains(c.Bus.URL, urlPass) {
		t.Error("Redacted changed the original configuration")
	}
	r.Routes[0].ModelMap = map[string]string{"a": "b"}
	r.Upstreams[0].Name = "changed"
	if c.Upstreams[0].Name != "openai" || c.Routes[0].ModelMap != nil {
		t.Error("the redacted copy shares memory with the original")
	}
}

func TestMapModel(t *testing.T) {
	u := Upstream{DefaultModel: "u-default", ModelMap: map[string]string{"gpt-4": "u-gpt-4", "shared": "u-shared"}}
	r := Route{DefaultModel: "r-default", ModelMap: map[string]string{"shared": "r-shared", "fast": "r-fast"}}
	tests := []struct {
		name  string
		route Route
		model string
		want  string
	}{
		{"route map wins", r, "shared", "r-shared"},
		{"route map only", r, "fast", "r-fast"},
		{"upstream map", r, "gpt-4", "u-gpt-4"},
		{"unmapped passes", r, "claude", "claude"},
		{"empty uses route default", r, "", "r-default"},
		{"empty uses upstream default", Route{}, "", "u-default"},
		{"default is mapped too", Route{DefaultModel: "fast", ModelMap: r.ModelMap}, "", "r-fast"},
		{"no default stays empty", Route{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := u
			if tt.name == "no default stays empty" {
				up = Upstream{}
			}
			if got := tt.route.MapModel(up, tt.model); got != tt.want {
				t.Errorf("MapModel(%q) = %q, want %q", tt.model, got, tt.want)
			}
		})
	}
}

func TestMaxTokensDefault(t *testing.T) {
	u := Upstream{DefaultMaxTokens: 4096}
	tests := []struct {
		name  string
		route Route
		want  int
	}{
		{"upstream default", Route{}, 4096},
		{"route override", Route{DefaultMaxTokens: 1024}, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.route.MaxTokensDefault(u); got != tt.want {
				t.Errorf("MaxTokensDefault = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	c := mustLoad(t, "default.toml", nil)
	u, ok := c.Upstream("anthropic")
	if !ok || u.Name != "anthropic" {
		t.Fatalf("Upstream(anthropic) = %v, %v", u, ok)
	}
	u.Concurrency = 1 // a pointer into the configuration
	if c.Upstreams[1].Concurrency != 1 {
		t.Error("Upstream does not return a pointer into Upstreams")
	}
	if _, ok := c.Upstream("gemini"); ok {
		t.Error("Upstream(gemini) found")
	}
	if _, ok := c.Route("/v1/messages"); !ok {
		t.Error("Route(/v1/messages) not found")
	}
	if _, ok := c.Route("/v1/embeddings"); ok {
		t.Error("Route(/v1/embeddings) found")
	}
}

func TestHashKey(t *testing.T) {
	// printf %s test | sha256sum
	if got := HashKey("test"); got != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("HashKey(test) = %s", got)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Duration != 90*time.Second {
		t.Fatalf("UnmarshalText = %v, %v", d, err)
	}
	b, _ := d.MarshalText()
	if string(b) != "1m30s" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil || !strings.Contains(err.Error(), `"soon"`) {
		t.Errorf("UnmarshalText(soon) = %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"*.toml", filepath.Join("testdata", "invalid", "*.toml")} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("a = \"\"\"\nx\n\"\"\"\nb = [1,\n2]\n[[t]]\nc = {d = 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data, noEnv)
		if err != nil {
			// Every problem carries the file name.
			if !strings.HasPrefix(err.Error(), "fuzz.toml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Parse accepted a configuration that Validate rejects: %v", err)
		}
		_ = c.Redacted()
	})
}

// schemaKeys lists every key the schema reads from a file, without array
// indices (upstreams.concurrency); maps are listed as one key.
func schemaKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		name := tagName(t.Field(i))
		if name == "" {
			continue
		}
		key := joinKey(prefix, name)
		out = append(out, key)
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			out = append(out, schemaKeys(ft, key)...)
		}
	}
	return out
}

// TestExampleDocumentsEverything keeps example.toml complete: it must set
// every key of the schema, and the values it shows as defaults must be the
// defaults.
func TestExampleDocumentsEverything(t *testing.T) {
	src, err := os.ReadFile("example.toml")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for path := range keyLines(string(src)) {
		found[indexRE.ReplaceAllString(path, "")] = true
	}
	for _, key := range schemaKeys(reflect.TypeFor[Config](), "") {
		if !found[key] {
			t.Errorf("example.toml does not show %s", key)
		}
	}
	c := mustLoad(t, "example.toml", nil)
	d := Default()
	if c.Server != d.Server || c.Logging != d.Logging || c.Bus != d.Bus {
		t.Errorf("example.toml [server], [logging] or [bus] differ from the defaults:\n%+v\n%+v", c, d)
	}
	if c.Access.Enabled != d.Access.Enabled || c.Access.StoreFailure != d.Access.StoreFailure || c.Access.AdminKeySHA256 != "" {
		t.Errorf("example.toml [access] differs from the defaults: %+v", c.Access)
	}
	u, _ := c.Upstream("openai")
	du := DefaultUpstream()
	du.Name, du.URL, du.Format, du.DefaultModel, du.ModelMap = u.Name, u.URL, u.Format, u.DefaultModel, u.ModelMap
	if !reflect.DeepEqual(*u, du) {
		t.Errorf("example.toml's openai upstream shows values other than the defaults:\n%+v\n%+v", *u, du)
	}
}

// TestEnvNamesAreRead sets each variable EnvNames lists, one at a time, to
// a value no key holds, and checks that Load either takes it or rejects it
// naming that variable: the list is exactly what Load reads.
func TestEnvNamesAreRead(t *testing.T) {
	base := mustLoad(t, "production.toml", map[string]string{"TEAM_A_KEY": "k"})
	names := base.EnvNames()
	for _, want := range []string{"GATEWAY_SERVER_PORT", "GATEWAY_BUS_TLS_CA", "GATEWAY_ACCESS_ADMIN_KEY_SHA256",
		"GATEWAY_UPSTREAMS_OPENAI_API_KEY", "GATEWAY_UPSTREAMS_ANTHROPIC_QUEUE_TIMEOUT", "TEAM_A_KEY"} {
		if !slices.Contains(names, want) {
			t.Errorf("EnvNames lacks %s", want)
		}
	}
	if slices.Contains(names, "GATEWAY_UPSTREAMS_OPENAI_NAME") {
		t.Error("EnvNames lists the upstream name, which is not overridable")
	}
	for _, name := range names {
		if name == EnvName || name == EnvConfigDir {
			continue // they pick the file, and Path overrides them
		}
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"TEAM_A_KEY": "k", name: "zz-unusual-value"}
			c, err := Load(LoadOptions{Path: "production.toml", Env: env(vars)})
			if err != nil {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name %s: %v", name, err)
				}
				return
			}
			if reflect.DeepEqual(stripOrigin(c), stripOrigin(base)) {
				t.Errorf("setting %s changed nothing", name)
			}
		})
	}
}

// TestSecretsNotInMessages checks that a mistyped secret is not echoed.
func TestSecretsNotInMessages(t *testing.T) {
	_, err := Parse("s.toml", []byte("[bus]\npassword = 123456\ntoken = 987654\nuser = [\"u\"]\n"), nil)
	fes := fieldErrors(t, err)
	if len(fes) != 3 {
		t.Fatalf("got %d problems, want 3: %v", len(fes), err)
	}
	if msg := err.Error(); strings.Contains(msg, "123456") || strings.Contains(msg, "987654") {
		t.Errorf("message shows a secret: %s", msg)
	}
	if !strings.Contains(fes[0].Error(), "s.toml:2: bus.password: wrong type: expected a string, got integer") {
		t.Errorf("first problem = %v", fes[0])
	}
}
