package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// environ turns vars into the "NAME=value" lines of os.Environ.
func environ(vars map[string]string) []string {
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

func TestUnknownEnvironmentVariables(t *testing.T) {
	const withKeyEnv = `
[access]
enabled = true
[[access.keys]]
name = "team"
key_env = "GATEWAY_TEAM_KEY"
[[upstreams]]
name = "openai"
url = "https://api.openai.com"
format = "openai-chat"
[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"
upstream = "openai"
`
	tests := []struct {
		name string
		file string // text of the file; empty for default.toml
		vars map[string]string
		// want are the texts expected in the error, in order of the
		// problems; none means Load succeeds.
		want []string
	}{
		{"misspelt section key", "", map[string]string{"GATEWAY_SERVER_PROT": "9999"},
			[]string{"GATEWAY_SERVER_PROT: unknown environment variable: it sets no configuration key (did you mean GATEWAY_SERVER_PORT?)"}},
		{"upstream nobody configured", "", map[string]string{"GATEWAY_UPSTREAMS_NOPE_URL": "http://127.0.0.1:1"},
			[]string{"GATEWAY_UPSTREAMS_NOPE_URL", "GATEWAY_UPSTREAMS_OPENAI_*, GATEWAY_UPSTREAMS_ANTHROPIC_*"}},
		{"misspelt upstream key", "", map[string]string{"GATEWAY_UPSTREAMS_OPENAI_CONCURENCY": "3"},
			[]string{"did you mean GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY?"}},
		{"two typos, two problems", "", map[string]string{"GATEWAY_BUS_MOD": "external", "GATEWAY_LOGING_LEVEL": "debug"},
			[]string{"GATEWAY_BUS_MOD", "GATEWAY_LOGING_LEVEL"}},
		{"no guess for a name far from every key", "", map[string]string{"GATEWAY_COMPLETELY_DIFFERENT": "1"},
			[]string{"GATEWAY_COMPLETELY_DIFFERENT: unknown environment variable: it sets no configuration key; config/example.toml"}},
		{"known variables", "", map[string]string{
			"GATEWAY_SERVER_PORT": "9000", "GATEWAY_WORKER_PORT": "9001", "GATEWAY_UPSTREAMS_OPENAI_API_KEY": "sk",
			"GATEWAY_ENV": "", "GATEWAY_CONFIG_DIR": "", "GATEWAY_ACCESS_ADMIN_KEY": "admin", "HOME": "/root", "GATEWAYX": "1",
		}, nil},
		{"a key_env variable under the prefix", withKeyEnv, map[string]string{"GATEWAY_TEAM_KEY": "secret"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "default.toml"
			if tc.file != "" {
				path = writeFile(t, t.TempDir(), "gateway.toml", tc.file)
			}
			_, err := Load(LoadOptions{Path: path, Env: env(tc.vars), Environ: environ(tc.vars)})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnknownEnv) {
				t.Fatalf("err = %v, want ErrUnknownEnv", err)
			}
			if fes := fieldErrors(t, err); len(fes) != len(tc.want) && !strings.Contains(tc.name, "nobody") {
				t.Errorf("got %d problems, want %d: %v", len(fes), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "9999") || strings.Contains(err.Error(), "127.0.0.1:1") {
				t.Errorf("error %q shows a variable's value", err)
			}
		})
	}
}

// TestAllProblemsInOneRound checks that type errors, environment errors and
// validation errors come out together, each once.
func TestAllProblemsInOneRound(t *testing.T) {
	src := `[server]
port = "eighty"

[bus]
replicas = 9

[[upstreams]]
name = "openai"
url = "ftp://example.com"
format = 7

[[routes]]
path = "v1/chat"
input_format = "openai-chat"
upstream = "openai"
`
	path := writeFile(t, t.TempDir(), "gateway.toml", src)
	vars := map[string]string{"GATEWAY_LOGGING_LEVEL": "loud", "GATEWAY_SERVER_IDLE_TIMEOUT": "soon"}
	_, err := Load(LoadOptions{Path: path, Env: env(vars), Environ: environ(vars)})
	fes := fieldErrors(t, err)
	want := []string{
		path + ":2: server.port: wrong type",
		path + ":5: bus.replicas: invalid value",
		path + ":9: upstreams[0].url: invalid value",
		path + ":10: upstreams[0].format: wrong type",
		path + ":13: routes[0].path: invalid value",
		"server.idle_timeout (from GATEWAY_SERVER_IDLE_TIMEOUT): bad environment value",
		"logging.level (from GATEWAY_LOGGING_LEVEL): invalid value",
	}
	if len(fes) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(fes), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no problem %q in:\n%v", w, err)
		}
	}
	// The format's wrong type is not reported a second time as "missing".
	if strings.Contains(err.Error(), "upstreams[0].format: invalid value") {
		t.Errorf("the wrong-typed format is reported twice:\n%v", err)
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		wantLine int
		wantKey  string
	}{
		{"unclosed table header", "[server]\nport = 8080\n\n[logging]\nlevel = \"info\"\n\n[bus\nmode = \"embedded\"\n", 7, ""},
		{"unclosed header at the end", "[server]\nport = 8080\n[bus", 3, ""},
		{"missing value", "[server]\nhost = \"x\"\nport =\n[logging]\n", 3, "server.port"},
		{"string across lines", "[server]\nport = 1\nhost = \"a\n[logging]\n", 3, "server.host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("gateway.toml", []byte(tc.src), nil)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v, want a syntax FieldError", err)
			}
			if fe.Line != tc.wantLine || fe.Key != tc.wantKey {
				t.Errorf("line %d key %q, want line %d key %q (%v)", fe.Line, fe.Key, tc.wantLine, tc.wantKey, err)
			}
		})
	}
}

func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc", "gateway")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "abs")
	tests := []struct {
		name string
		bus  string
		vars map[string]string
		want Bus
	}{
		{"relative in the file", `store_dir = "state/nats"`, nil, Bus{StoreDir: filepath.Join(sub, "state/nats")}},
		{"parent directory", `store_dir = "../../var"`, nil, Bus{StoreDir: filepath.Join(dir, "var")}},
		{"absolute", `store_dir = "` + abs + `"`, nil, Bus{StoreDir: abs}},
		{"from the environment: the working directory's", `store_dir = "state"`,
			map[string]string{"GATEWAY_BUS_STORE_DIR": "here/nats"}, Bus{StoreDir: "here/nats"}},
		{"left out: the default, under the working directory", ``, nil, Bus{StoreDir: "data/nats"}},
		{"TLS files", "mode = \"external\"\ntls_ca = \"ca.pem\"\ntls_cert = \"c.pem\"\ntls_key = \"/k.pem\"\ncredentials = \"x.creds\"", nil,
			Bus{StoreDir: "data/nats", TLSCA: filepath.Join(sub, "ca.pem"), TLSCert: filepath.Join(sub, "c.pem"), TLSKey: "/k.pem",
				Credentials: filepath.Join(sub, "x.creds")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, sub, "gateway.toml", "[bus]\n"+tc.bus+"\n")
			c, err := Load(LoadOptions{Path: path, Env: env(tc.vars)})
			if err != nil {
				t.Fatal(err)
			}
			got := Bus{StoreDir: c.Bus.StoreDir, TLSCA: c.Bus.TLSCA, TLSCert: c.Bus.TLSCert, TLSKey: c.Bus.TLSKey, Credentials: c.Bus.Credentials}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCheckKeyName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"team-a", true},
		{"svc.batch_2", true},
		{"", false},
		{"team a", false},
		{"team/a", false},
		{"équipe", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckKeyName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckKeyName(%q) = %v, want ok %v", tc.name, err, tc.ok)
			}
			// The same verdict as Validate gives the name in a file.
			c := Default()
			c.Access.Keys = []Key{{Name: tc.name, KeySHA256: HashKey("k"), QuotaPeriod: "month"}}
			verr := c.Validate()
			if (verr == nil) != tc.ok {
				t.Errorf("Validate disagrees: %v", verr)
			}
		})
	}
}
