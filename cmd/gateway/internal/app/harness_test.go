package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"
	"go.uber.org/goleak"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide pools of the libraries, not owned by any test.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// The upstream client's idle-connection sweeper ends by itself once
		// its last connection is closed, after at most one sweep interval.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gateway is a gateway started in-process against a mock upstream.
type gateway struct {
	t    testing.TB
	app  *App
	mock *mock.Server
	url  string
	logs *syncBuffer
}

// fixture returns the path of a recorded provider payload.
func fixture(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "converter", "testdata", "fixtures", name)
}

// baseTOML routes both APIs to same-format upstreams and, under /x-anthropic
// and /x-openai, to upstreams of the other format.
const baseTOML = `
[server]
host = "127.0.0.1"
stall_timeout = "3s"
shutdown_grace = "5s"

[logging]
level = "info"

[bus]
monitor = ""
store_dir = %q

[[upstreams]]
name = "openai"
url = %q
format = "openai-chat"
concurrency = 16
queue_size = 64
queue_timeout = "5s"
first_byte_timeout = "2s"
idle_timeout = "2s"

[[upstreams]]
name = "anthropic"
url = %q
format = "anthropic"
concurrency = 16
queue_size = 64
queue_timeout = "5s"
first_byte_timeout = "2s"
idle_timeout = "2s"

[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"
upstream = "openai"

[[routes]]
path = "/v1/messages"
input_format = "anthropic"
upstream = "anthropic"

[[routes]]
path = "/x-anthropic/v1/chat/completions"
input_format = "openai-chat"
upstream = "anthropic"

[[routes]]
path = "/x-openai/v1/messages"
input_format = "anthropic"
upstream = "openai"
`

// startGateway starts a mock upstream with mockCfg and a gateway in front of
// it. extra is appended to the configuration; env supplies overrides.
func startGateway(t testing.TB, mockCfg mock.Config, extra string, env map[string]string) *gateway {
	t.Helper()
	m := mock.New(mockCfg)
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("starting mock upstream: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	g := startGatewayAt(t, m.URL(), m.URL(), extra, env)
	g.mock = m
	return g
}

func startGatewayAt(t testing.TB, openaiURL, anthropicURL, extra string, env map[string]string) *gateway {
	t.Helper()
	return launch(t, launchOptions{mode: ModeAll, openaiURL: openaiURL, anthropicURL: anthropicURL, extra: extra, env: env})
}

// launchOptions say how launch starts a gateway process.
type launchOptions struct {
	mode                    Mode
	openaiURL, anthropicURL string
	// storeDir is bus.store_dir; empty means a fresh temporary directory.
	// A second process given the first one's directory reopens its state.
	storeDir string
	// extra is appended to baseTOML; env answers the GATEWAY_* lookups.
	extra string
	env   map[string]string
	// tolerateShutdownErrors is set by tests that cut a process's bus
	// connection: its shutdown reports the failed unsubscriptions, and only
	// a hang matters.
	tolerateShutdownErrors bool
	// configFile, when set, is where the configuration is written and
	// loaded from, so that the process can reload it (Options.Load).
	configFile string
}

// launch starts a gateway process from baseTOML and shuts it down when the
// test ends; the test may call g.app.Shutdown earlier, which is idempotent.
func launch(t testing.TB, o launchOptions) *gateway {
	t.Helper()
	if o.storeDir == "" {
		o.storeDir = t.TempDir()
	}
	text := fmt.Sprintf(baseTOML, o.storeDir, o.openaiURL, o.anthropicURL) + o.extra
	lookup := func(name string) (string, bool) {
		v, ok := o.env[name]
		return v, ok
	}
	cfg, err := config.Parse("test.toml", []byte(text), lookup)
	var load func() (config.Config, error)
	if o.configFile != "" {
		if err := os.WriteFile(o.configFile, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		load = func() (config.Config, error) {
			return config.Load(config.LoadOptions{Path: o.configFile, Env: lookup})
		}
		cfg, err = load()
	}
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg, Options{Mode: o.mode, Logger: logger, Version: "test", Listener: ln, Load: load})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("starting gateway (%s): %v", o.mode, err)
	}
	g := &gateway{t: t, app: a, url: "http://" + a.Addr(), logs: logs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil && !o.tolerateShutdownErrors {
			t.Errorf("shutdown (%s): %v", o.mode, err)
		}
		if t.Failed() {
			t.Logf("%s gateway logs:\n%s", o.mode, tail(logs.String(), 40))
		}
	})
	return g
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, total time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShutdownIsQuick(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	if _, err := g.openAI("").Chat.Completions.New(context.Background(), chatParams("hi")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("shutdown took %v\n%s", time.Since(start), g.logs.String())
}

// accumulateMessage reads an Anthropic stream to its end and rebuilds the
// message with the SDK's own accumulator.
func accumulateMessage(t *testing.T, stream *ssestream.Stream[anthropic.MessageStreamEventUnion]) anthropic.Message {
	t.Helper()
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	return msg
}

// startMock starts the mock upstream on a loopback port for the rest of the
// test.
func startMock(t *testing.T, cfg mock.Config) *mock.Server {
	t.Helper()
	m := mock.New(cfg)
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}
