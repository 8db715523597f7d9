package ingress

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/converter/format"
)

func recoveringServer(t *testing.T) (*Server, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	return &Server{
		logger:  slog.New(slog.NewJSONHandler(logs, nil)),
		metrics: newMetrics(prometheus.NewRegistry()),
	}, logs
}

// TestHandlerPanicAnswersInTheClientsFormat serves requests over loopback
// with a handler that panics: each gets a 500 in its path's dialect, the
// panic is counted and logged with the request id, and the server goes on.
func TestHandlerPanicAnswersInTheClientsFormat(t *testing.T) {
	s, logs := recoveringServer(t)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		defer s.recoverHandler(ctx)
		var m map[string]int
		m[string(ctx.Path())]++ // a nil map write: a real runtime panic
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	for _, tc := range []struct{ path, want string }{
		{"/v1/chat/completions", `"type":"server_error"`},
		{"/v1/messages", `"type":"api_error"`},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+tc.path, strings.NewReader(`{}`))
		if strings.HasSuffix(tc.path, "/messages") {
			req.Header.Set("anthropic-version", "2023-06-01")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v (the server did not survive the panic)", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(body), tc.want) || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: %d %s, want a 500 with %s and a request id", tc.path, resp.StatusCode, body, tc.want)
		}
		if !strings.Contains(logs.String(), resp.Header.Get("X-Request-Id")) {
			t.Errorf("%s: the log does not name request %s:\n%s", tc.path, resp.Header.Get("X-Request-Id"), logs)
		}
	}
	if got := testutil.ToFloat64(s.metrics.panics); got != 2 {
		t.Errorf("gateway_panics_total = %v, want 2", got)
	}
}

// TestStreamPanicEndsWithAnErrorEvent relays a stream whose reply is
// missing, so that reading it panics: the client gets the dialect's error
// event instead of a cut connection.
func TestStreamPanicEndsWithAnErrorEvent(t *testing.T) {
	s, logs := recoveringServer(t)
	b := &streamBody{x: &exchange{s: s, r: &route{format: format.Anthropic}, requestID: "req_stream"}}
	var out bytes.Buffer
	if _, err := b.WriteTo(&out); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if got := out.String(); !strings.HasPrefix(got, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"") {
		t.Errorf("stream %q, want an Anthropic error event", got)
	}
	if !strings.Contains(logs.String(), `"request_id":"req_stream"`) || testutil.ToFloat64(s.metrics.panics) != 1 {
		t.Errorf("the panic was not counted and logged with its request id:\n%s", logs)
	}
}
