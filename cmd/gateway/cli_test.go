package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/config"
)

// runCLI runs one command line in-process and returns its exit status and
// output.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeConfig writes a configuration file for the tests: the shipped
// default with the given TOML appended, its state in a temporary directory.
func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf(`
[server]
host = "127.0.0.1"
port = %d

[bus]
monitor = ""
store_dir = %q

[[upstreams]]
name = "openai"
url = "https://api.openai.com"
format = "openai-chat"

[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"
upstream = "openai"
`, freePort(t), filepath.Join(dir, "nats")) + extra
	p := filepath.Join(dir, "gateway.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestHelp(t *testing.T) {
	type invocation struct {
		name string
		args []string
		want string // in stdout
	}
	cases := []invocation{
		{"--help", []string{"--help"}, "Commands:"},
		{"-h", []string{"-h"}, "Commands:"},
		{"help", []string{"help"}, "Commands:"},
	}
	for _, c := range commands() {
		cases = append(cases,
			invocation{c.name + " --help", []string{c.name, "--help"}, "Usage: gateway " + c.usage},
			invocation{"help " + c.name, []string{"help", c.name}, "Usage: gateway " + c.usage},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tc.args...)
			if code != exitOK {
				t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stdout, tc.want) {
				t.Errorf("stdout lacks %q:\n%s", tc.want, stdout)
			}
		})
	}
	// The list gives every command its one line.
	_, stdout, _ := runCLI(t, "", "help")
	for _, c := range commands() {
		if !strings.Contains(stdout, fmt.Sprintf("  %-12s %s\n", c.name, c.summary)) {
			t.Errorf("help does not list %s with its summary:\n%s", c.name, stdout)
		}
	}
	// Serving commands show their flag.
	_, stdout, _ = runCLI(t, "", "worker", "--help")
	if !strings.Contains(stdout, "-config") || !strings.Contains(stdout, "worker.port") {
		t.Errorf("worker --help lacks --config or the port it uses:\n%s", stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown command", []string{"serve"}, `unknown command "serve"`},
		{"unknown flag", []string{"run", "--port", "1"}, "flag provided but not defined: -port"},
		{"unknown flag of the default command", []string{"--verbose"}, "flag provided but not defined: -verbose"},
		{"stray argument", []string{"check", "extra"}, `unexpected argument "extra"`},
		{"keys without a subcommand", []string{"keys"}, "missing new or hash"},
		{"keys new without a name", []string{"keys", "new"}, "keys new takes one NAME"},
		{"help for an unknown command", []string{"help", "serve"}, `unknown command "serve"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Usage: gateway") {
				t.Errorf("stderr lacks %q and the usage:\n%s", tc.want, stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, _ := runCLI(t, "", args...)
		if code != exitOK || !strings.HasPrefix(stdout, "gateway ") || !strings.Contains(stdout, "commit ") || !strings.Contains(stdout, "built ") {
			t.Errorf("%v: exit %d, %q", args, code, stdout)
		}
	}
	// Stamps set with -ldflags -X win over the toolchain's VCS data.
	saved := [3]string{version, commit, date}
	t.Cleanup(func() { version, commit, date = saved[0], saved[1], saved[2] })
	version, commit, date = "v1.4.0", "0123abcd", "2026-11-30T12:00:00Z"
	_, stdout, _ := runCLI(t, "", "version")
	if !strings.HasPrefix(stdout, "gateway v1.4.0 (commit 0123abcd") || !strings.Contains(stdout, "built 2026-11-30T12:00:00Z") {
		t.Errorf("stamped version printed %q", stdout)
	}
}

func TestCheck(t *testing.T) {
	t.Run("valid, secrets redacted", func(t *testing.T) {
		t.Setenv("GATEWAY_UPSTREAMS_OPENAI_API_KEY", "sk-live-do-not-print")
		t.Setenv("GATEWAY_BUS_USER", "gw")
		t.Setenv("GATEWAY_BUS_PASSWORD", "nats-password-do-not-print")
		t.Setenv("GATEWAY_SERVER_PORT", "9123")
		path := writeConfig(t, "")
		code, stdout, stderr := runCLI(t, "", "check", "--config", path)
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "is valid") {
			t.Errorf("stderr %q does not say the configuration is valid", stderr)
		}
		for _, secret := range []string{"sk-live-do-not-print", "nats-password-do-not-print"} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("check printed a secret:\n%s", stdout)
			}
		}
		for _, want := range []string{"port = 9123", `password = "[redacted]"`, "# GATEWAY_UPSTREAMS_OPENAI_API_KEY: set", "[worker]", "queue_size = 256"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("effective configuration lacks %q:\n%s", want, stdout)
			}
		}
		// What check prints is a configuration that loads to the same settings.
		printed, err := config.Parse("printed.toml", []byte(stdout), nil)
		if err != nil {
			t.Fatalf("printed configuration does not load: %v\n%s", err, stdout)
		}
		if printed.Server.Port != 9123 || printed.Upstreams[0].QueueSize != 256 {
			t.Errorf("printed configuration loads to %+v", printed)
		}
	})
	t.Run("quiet", func(t *testing.T) {
		code, stdout, _ := runCLI(t, "", "check", "--quiet", "--config", writeConfig(t, ""))
		if code != exitOK || stdout != "" {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
	})
	t.Run("every problem, one a line", func(t *testing.T) {
		t.Setenv("GATEWAY_SERVER_PROT", "9999")
		path := writeConfig(t, "\n[logging]\nlevel = \"loud\"\n[access]\nenabled = true\n")
		code, stdout, stderr := runCLI(t, "", "check", "--config", path)
		if code != exitError || stdout != "" {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != 3 {
			t.Errorf("want 3 problem lines, got:\n%s", stderr)
		}
		for _, want := range []string{"did you mean GATEWAY_SERVER_PORT?", "logging.level", "access.enabled"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "gateway: ") {
				t.Errorf("line %q lacks the gateway: prefix", l)
			}
		}
	})
}

func TestKeysNew(t *testing.T) {
	tests := []struct {
		name string
		code int
		want string
	}{
		{"team-a", exitOK, `name = "team-a"`},
		{"team a", exitError, "use letters, digits"},
		{"team/a", exitError, "use letters, digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", "keys", "new", tc.name)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, output %q%q; want exit %d with %q", code, stdout, stderr, tc.code, tc.want)
			}
			if tc.code == exitOK {
				// What it prints is accepted by the configuration.
				_, entry, _ := strings.Cut(stdout, "[[access.keys]]")
				if _, err := config.Parse("keys.toml", []byte("[access]\nenabled = true\n[[access.keys]]"+entry), nil); err != nil {
					t.Errorf("printed entry does not load: %v", err)
				}
			}
		})
	}
	code, stdout, _ := runCLI(t, "secret-key\n", "keys", "hash")
	if code != exitOK || strings.TrimSpace(stdout) != config.HashKey("secret-key") {
		t.Errorf("keys hash: exit %d, %q", code, stdout)
	}
}

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if code, _, stderr := runCLI(t, "", "healthcheck", srv.URL+"/health"); code != exitOK {
		t.Errorf("healthy: exit %d: %s", code, stderr)
	}
	status = http.StatusServiceUnavailable
	if code, _, stderr := runCLI(t, "", "healthcheck", srv.URL+"/health"); code != exitError || !strings.Contains(stderr, "503") {
		t.Errorf("unhealthy: exit %d: %s", code, stderr)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	t.Setenv("GATEWAY_WORKER_PORT", port)
	status = http.StatusOK
	if code, _, stderr := runCLI(t, "", "healthcheck", "--worker"); code != exitOK {
		t.Errorf("--worker on GATEWAY_WORKER_PORT: exit %d: %s", code, stderr)
	}
}

// TestStartFailureExits runs the server with a configuration it cannot
// start: it prints the cause and how to fix it, and exits 1 instead of
// panicking or listening without answering.
func TestStartFailureExits(t *testing.T) {
	path := writeConfig(t, "")
	t.Setenv("GATEWAY_BUS_REPLICAS", "3")
	t.Setenv("GATEWAY_SERVER_START_TIMEOUT", "3s")
	t.Setenv("GATEWAY_LOGGING_LEVEL", "error")
	code, _, stderr := runCLI(t, "", "--config", path)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	if !strings.Contains(stderr, "gateway: starting the") || !strings.Contains(stderr, "replicas > 1 not supported") {
		t.Errorf("stderr does not give the cause:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gateway: hint: bus.replicas > 1 needs a NATS cluster") {
		t.Errorf("stderr gives no way to fix it:\n%s", stderr)
	}
}
