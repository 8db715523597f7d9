package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/ingress/accesslog"
)

// TestAccessLogWriter checks a gateway given its own access log: every line
// goes there, none to the general logger, and the lines a batching access
// log still holds are written when the gateway shuts down.
func TestAccessLogWriter(t *testing.T) {
	m := mock.New(mock.DefaultConfig())
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("starting mock upstream: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	cfg, err := config.Parse("test.toml", []byte(strings.Replace(
		fmt.Sprintf(baseTOML, t.TempDir(), m.URL(), m.URL()), "[logging]", "[logging]\nformat = \"json\"", 1)),
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs, lines := &syncBuffer{}, &syncBuffer{}
	// The flush interval is far longer than the test: only Shutdown writes.
	access := accesslog.New(lines, accesslog.Options{FlushInterval: time.Hour})
	t.Cleanup(func() { _ = access.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg, Options{
		Mode: ModeAll, Logger: slog.New(slog.NewJSONHandler(logs, nil)), AccessLog: access, Version: "test", Listener: ln,
	})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("starting gateway: %v", err)
	}
	shutdown := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	t.Cleanup(shutdown)

	requests := []struct {
		name, path, body string
		status           float64
	}{
		{"chat", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, 200},
		{"messages stream", "/v1/messages", `{"model":"claude","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, 200},
		{"malformed", "/v1/chat/completions", `{"model":`, 400},
		{"no route", "/v1/nowhere", `{}`, 404},
	}
	ids := map[string]float64{}
	for _, r := range requests {
		resp, err := http.Post("http://"+a.Addr()+r.path, "application/json", strings.NewReader(r.body))
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		ids[resp.Header.Get("X-Request-Id")] = r.status
	}
	if got := lines.String(); got != "" {
		t.Fatalf("access lines written before the flush: %s", got)
	}
	shutdown()

	if strings.Contains(logs.String(), `"msg":"request"`) {
		t.Errorf("access lines in the general log:\n%s", logs.String())
	}
	scanner := bufio.NewScanner(strings.NewReader(lines.String()))
	for scanner.Scan() {
		var line struct {
			Msg       string  `json:"msg"`
			Component string  `json:"component"`
			RequestID string  `json:"request_id"`
			Status    float64 `json:"status"`
		}
		if err := jsonx.Unmarshal(scanner.Bytes(), &line); err != nil {
			t.Fatalf("access line is not JSON: %s", scanner.Text())
		}
		want, ok := ids[line.RequestID]
		if !ok || line.Msg != "request" || line.Component != "ingress" || line.Status != want {
			t.Errorf("unexpected access line: %s", scanner.Text())
		}
		delete(ids, line.RequestID)
	}
	if len(ids) != 0 {
		t.Errorf("no access line for %v in\n%s", ids, lines.String())
	}
}
