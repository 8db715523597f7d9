package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/config"
)

// freePort returns a TCP port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNATS starts one standalone nats-server with JetStream on loopback.
func startNATS(t testing.TB) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// startOnPorts starts a process of mode from baseTOML the way cmd/gateway
// does: no listener handed in, so Start binds server.port or worker.port
// itself. The caller shuts down a process that started.
func startOnPorts(t testing.TB, mode Mode, upstreamURL string, env map[string]string) (*App, *syncBuffer, error) {
	t.Helper()
	text := fmt.Sprintf(baseTOML, t.TempDir(), upstreamURL, upstreamURL)
	cfg, err := config.Parse("test.toml", []byte(text), func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg, Options{Mode: mode, Logger: logger, Version: "test"})
	return a, logs, err
}

func shutdown(t testing.TB, a *App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestStartFailureUndoesEverything starts processes that cannot come up and
// checks that Start returns the real cause instead of panicking, and leaves
// nothing behind: no goroutine, and the HTTP port free again.
func TestStartFailureUndoesEverything(t *testing.T) {
	m := startMock(t, mock.DefaultConfig())

	tests := []struct {
		name string
		mode Mode
		env  map[string]string
		want string
	}{
		{
			name: "three replicas on the embedded server",
			mode: ModeAll,
			env:  map[string]string{"GATEWAY_BUS_REPLICAS": "3"},
			want: "replicas",
		},
		// A worker-only process in the same state starts, says why at error
		// level and stays unready at zero capacity, so that it serves as
		// soon as the bus can hold its queues: TestWorkerThatCannotServeSaysWhy.
		{
			name: "an ingress with three replicas on one external server",
			mode: ModeIngress,
			env:  map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_REPLICAS": "3"},
			want: "replicas",
		},
		{
			name: "HTTP port taken",
			mode: ModeAll,
			env:  map[string]string{"busy": "1"},
			want: "server.port",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			if env["GATEWAY_BUS_MODE"] == "external" {
				env["GATEWAY_BUS_URL"] = startNATS(t).ClientURL()
			}
			port := freePort(t)
			if env["busy"] != "" {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			env["GATEWAY_SERVER_PORT"] = strconv.Itoa(port)
			env["GATEWAY_WORKER_PORT"] = strconv.Itoa(port)
			// JetStream answers a stream it cannot place with an error
			// that may be retried; the start gives up after this long.
			env["GATEWAY_SERVER_START_TIMEOUT"] = "3s"
			before := goleak.IgnoreCurrent()

			a, logs, err := startOnPorts(t, tc.mode, m.URL(), env)
			if err == nil {
				shutdown(t, a)
				t.Fatalf("Start succeeded, want an error about %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(logs.String(), "admin-secret") || strings.Contains(err.Error(), "admin-secret") {
				t.Error("a secret reached the logs or the error")
			}
			if env["busy"] == "" {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
				if err != nil {
					t.Errorf("port %d still held after the failed start: %v", port, err)
				} else {
					ln.Close()
				}
			}
			goleak.VerifyNone(t, before,
				goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
				goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine"),
				goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
				goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
				goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			)
		})
	}
}

// TestAllInOneOnExternalNATS runs ingress and workers in one process on a
// NATS server of its own rather than an embedded one, as
// bus.mode = "external" asks.
func TestAllInOneOnExternalNATS(t *testing.T) {
	srv := startNATS(t)
	m := startMock(t, mock.DefaultConfig())
	env := map[string]string{
		"GATEWAY_BUS_MODE":    "external",
		"GATEWAY_BUS_URL":     srv.ClientURL(),
		"GATEWAY_SERVER_PORT": strconv.Itoa(freePort(t)),
	}
	a, logs, err := startOnPorts(t, ModeAll, m.URL(), env)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, a)
	if a.NATSURL() != "" {
		t.Errorf("an embedded server runs at %s", a.NATSURL())
	}
	if n := srv.NumClients(); n < 2 {
		t.Errorf("the external server has %d clients, want the ingress and the worker", n)
	}
	g := &gateway{t: t, app: a, url: "http://" + a.Addr(), logs: logs}
	got, err := g.openAI("").Chat.Completions.New(context.Background(), chatParams("over external NATS"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Choices[0].Message.Content != "Hello! You said: over external NATS" {
		t.Errorf("answer %q", got.Choices[0].Message.Content)
	}
	if !strings.Contains(logs.String(), `"nats":"external"`) {
		t.Errorf("start-up logs do not say NATS is external:\n%s", logs.String())
	}
}

// TestWorkerPorts runs an ingress and a worker on one host with the same
// configuration: the worker serves health and metrics on worker.port and
// leaves server.port to the ingress.
func TestWorkerPorts(t *testing.T) {
	srv := startNATS(t)
	m := startMock(t, mock.DefaultConfig())
	env := map[string]string{
		"GATEWAY_BUS_MODE":    "external",
		"GATEWAY_BUS_URL":     srv.ClientURL(),
		"GATEWAY_SERVER_PORT": strconv.Itoa(freePort(t)),
		"GATEWAY_WORKER_PORT": strconv.Itoa(freePort(t)),
	}
	ingressApp, _, err := startOnPorts(t, ModeIngress, m.URL(), env)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, ingressApp)
	worker, _, err := startOnPorts(t, ModeWorker, m.URL(), env)
	if err != nil {
		t.Fatalf("worker beside an ingress: %v", err)
	}
	defer shutdown(t, worker)
	if _, port, _ := net.SplitHostPort(worker.Addr()); port != env["GATEWAY_WORKER_PORT"] {
		t.Errorf("worker listens on %s, want port %s", worker.Addr(), env["GATEWAY_WORKER_PORT"])
	}
	for _, path := range []string{"/health", "/metrics"} {
		resp, err := http.Get("http://" + worker.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("worker %s: status %d", path, resp.StatusCode)
		}
	}
	g := &gateway{t: t, app: ingressApp, url: "http://" + ingressApp.Addr()}
	eventually(t, 10*time.Second, func() error {
		_, err := g.openAI("").Chat.Completions.New(context.Background(), chatParams("split on one host"))
		return err
	})
}

// TestStartupLogs checks that the first lines say what runs, and that a
// clean shutdown logs no NATS disconnection warning.
func TestStartupLogs(t *testing.T) {
	m := startMock(t, mock.DefaultConfig())
	env := map[string]string{
		"GATEWAY_SERVER_PORT":              strconv.Itoa(freePort(t)),
		"GATEWAY_UPSTREAMS_OPENAI_API_KEY": "sk-very-secret",
	}
	a, logs, err := startOnPorts(t, ModeAll, m.URL(), env)
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, a)
	out := logs.String()
	for _, want := range []string{
		`"msg":"gateway starting","version":"test","mode":"all"`,
		`"nats":"embedded"`,
		`"access":false`,
		`"msg":"route","path":"/v1/chat/completions","input_format":"openai-chat","upstream":"openai"`,
		`"msg":"upstream API key not set; calls go without one","upstream":"anthropic","env":"GATEWAY_UPSTREAMS_ANTHROPIC_API_KEY"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if strings.Contains(out, `"env":"GATEWAY_UPSTREAMS_OPENAI_API_KEY"`) {
		t.Error("the openai key is set but reported missing")
	}
	if strings.Contains(out, "sk-very-secret") {
		t.Error("an API key reached the logs")
	}
	if strings.Contains(out, "disconnected from NATS") {
		t.Errorf("a clean shutdown logged a disconnection:\n%s", out)
	}
}
