package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// secretShapes returns API keys in the shapes clients send: the gateway's
// own, OpenAI's, Anthropic's, a JWT-like OAuth token and a base64 blob. Each
// is made at run time, so finding one in the output can only mean a leak.
func secretShapes(t *testing.T, gatewayKey string) map[string]string {
	t.Helper()
	random := func(n int) []byte {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string]string{
		"gateway":   gatewayKey,
		"openai":    "sk-proj-" + hex.EncodeToString(random(24)),
		"anthropic": "sk-ant-api03-" + base64.RawURLEncoding.EncodeToString(random(36)),
		"oauth":     "eyJ" + base64.RawURLEncoding.EncodeToString(random(18)) + "." + base64.RawURLEncoding.EncodeToString(random(30)),
		"base64":    base64.StdEncoding.EncodeToString(random(33)) + "==",
	}
}

// rawExchange writes req on a new connection and returns what comes back
// before the gateway closes it (or the read deadline passes).
func rawExchange(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, _ := io.ReadAll(conn)
	status := 0
	if _, err := fmt.Sscanf(string(raw), "HTTP/1.1 %d", &status); err != nil {
		t.Fatalf("no HTTP response to %.60q: %q", req, raw)
	}
	return status, string(raw)
}

// TestUnparsableRequestsLeakNoKey sends requests fasthttp cannot parse, each
// carrying an API key, and checks that no key of any shape reaches an
// answer, a log line (debug level included) or a metric, that oversized
// headers get 431 and that such requests are counted as unparsed.
func TestUnparsableRequestsLeakNoKey(t *testing.T) {
	keys := newTestKeys(t, "edge")
	m := startAccessMock(t, mock.DefaultConfig())
	g, _ := startAccessApp(t, ModeAll, m.URL(), "", accessTOML("closed", keyTOML("edge")),
		keys.with(map[string]string{
			"GATEWAY_SERVER_ACCESS_LOG":     "true",
			"GATEWAY_SERVER_READ_TIMEOUT":   "1s",
			"GATEWAY_SERVER_MAX_BODY_BYTES": "4096",
		}))
	addr := strings.TrimPrefix(g.url, "http://")
	const head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
	pad := strings.Repeat("a", 20<<10)
	cases := []struct {
		name   string
		req    func(key string) string
		status int // 0: any answer
	}{
		{"headers over the limit", func(k string) string {
			return head + "Authorization: Bearer " + k + "\r\nX-Pad: " + pad + "\r\n\r\n"
		}, 431},
		{"key header over the limit", func(k string) string {
			return head + "X-Api-Key: " + k + pad + "\r\n\r\n"
		}, 431},
		{"header line without colon", func(k string) string {
			return head + "Authorization Bearer " + k + "\r\nContent-Length: 2\r\n\r\n{}"
		}, 400},
		{"key as content length", func(k string) string {
			return head + "Authorization: Bearer " + k + "\r\nContent-Length: " + k + "\r\n\r\n"
		}, 400},
		{"broken chunked body", func(k string) string {
			return head + "X-Api-Key: " + k + "\r\nTransfer-Encoding: chunked\r\n\r\n" + k + "\r\n"
		}, 400},
		{"headers never end", func(k string) string {
			return head + "Authorization: Bearer " + k + "\r\n"
		}, 408},
		{"body over the limit", func(k string) string {
			return head + "Authorization: Bearer " + k + "\r\nContent-Length: 8192\r\n\r\n" + strings.Repeat("x", 8192)
		}, 413},
		{"key as method", func(k string) string {
			return k + " /v1/nowhere HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n"
		}, 0},
		{"control byte in key header", func(k string) string {
			return head + "X-Api-Key: " + k + "\x01\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
		}, 0},
	}
	secrets := secretShapes(t, keys.plain["edge"])
	var bodies strings.Builder
	for _, tc := range cases {
		for shape, key := range secrets {
			t.Run(tc.name+"/"+shape, func(t *testing.T) {
				status, raw := rawExchange(t, addr, tc.req(key))
				if tc.status != 0 && status != tc.status {
					t.Errorf("status %d, want %d: %q", status, tc.status, raw)
				}
				if strings.Contains(raw, key) {
					t.Errorf("the answer holds the key: %q", raw)
				}
				bodies.WriteString(raw)
			})
		}
	}

	metrics := g.metricsText(t)
	g.app.Shutdown(context.Background())
	logs := g.logs.String()
	for shape, key := range secrets {
		if strings.Contains(logs, key) {
			t.Errorf("the %s key is in the logs", shape)
		}
		if strings.Contains(metrics, key) {
			t.Errorf("the %s key is in the metrics", shape)
		}
	}
	for _, want := range []string{
		`http_requests_total{method="unparsed",path="unparsed",status="431"}`,
		`http_requests_total{method="unparsed",path="unparsed",status="408"}`,
		`http_requests_total{method="unparsed",path="unparsed",status="400"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `method="GET",path="other"`) {
		t.Errorf("unparsed requests counted as GET other:\n%s", grepLines(metrics, "http_requests_total"))
	}
	if !strings.Contains(bodies.String(), `"code":"request_header_fields_too_large"`) {
		t.Errorf("431 answers lack the OpenAI error body")
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestLargeSDKHeadersAccepted: a client whose headers are larger than
// fasthttp's 4 KiB default (long OAuth tokens, many beta flags) is served
// under the default header limit.
func TestLargeSDKHeadersAccepted(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	client := openai.NewClient(option.WithBaseURL(g.url+"/v1/"), option.WithAPIKey("sk-"+strings.Repeat("t", 2000)),
		option.WithMaxRetries(0), option.WithHeader("X-Client-Context", strings.Repeat("c", 8<<10)))
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	if err != nil {
		t.Fatalf("request with 10 KiB of headers: %v", err)
	}
	if len(resp.Choices) == 0 {
		t.Fatalf("no choices in %+v", resp)
	}
}

// headerStatus sends a request with n bytes of padding header and returns the
// status.
func headerStatus(t *testing.T, url string, n int) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/health/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Pad", strings.Repeat("p", n))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /health/live with %d bytes of header: %v", n, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestHeaderLimitConfigurable: server.max_header_bytes moves the 431 line.
func TestHeaderLimitConfigurable(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", map[string]string{"GATEWAY_SERVER_MAX_HEADER_BYTES": "65536"})
	if status := headerStatus(t, g.url, 40<<10); status != http.StatusOK {
		t.Errorf("40 KiB of headers under a 64 KiB limit: status %d, want 200", status)
	}
	if status := headerStatus(t, g.url, 80<<10); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("80 KiB of headers over a 64 KiB limit: status %d, want 431", status)
	}
}

// sendOn writes a small chat request on conn and reads the answer's head.
func sendOn(t *testing.T, conn net.Conn, r *bufio.Reader, body string) (*http.Response, error) {
	t.Helper()
	req := fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp, err
}

// TestDrainTellsKeepAliveClientsToClose: while the gateway drains, a client
// reusing its keep-alive connection, idle or just done with a stream, gets
// an answer with Connection: close rather than a socket closed under it.
func TestDrainTellsKeepAliveClientsToClose(t *testing.T) {
	g := startGateway(t, mock.Config{Chunks: 30, ChunkGap: 50 * time.Millisecond}, "", nil)
	addr := strings.TrimPrefix(g.url, "http://")
	dial := func() (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn, bufio.NewReader(conn)
	}
	// idle has been used once and waits in the client's pool.
	idle, idleR := dial()
	if resp, err := sendOn(t, idle, idleR, overloadBody("/v1/chat/completions", "warm")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("warm-up request: %v %v", resp, err)
	}
	// streaming is in the middle of a stream when the drain starts.
	streaming, streamingR := dial()
	body := streamRequest("drain")
	if _, err := fmt.Fprintf(streaming, "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		t.Fatal(err)
	}
	_ = streaming.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(streamingR, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- g.app.Shutdown(ctx)
	}()
	time.Sleep(300 * time.Millisecond) // the drain has begun

	answer, err := sendOn(t, idle, idleR, overloadBody("/v1/chat/completions", "after idle"))
	if err != nil {
		t.Errorf("request on the idle connection during the drain: %v", err)
	} else if !answer.Close {
		t.Errorf("answer during the drain (status %d) lacks Connection: close", answer.StatusCode)
	}

	streamed, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(streamed), "[DONE]") {
		t.Fatalf("the stream in flight did not finish during the drain: %v", err)
	}
	answer, err = sendOn(t, streaming, streamingR, overloadBody("/v1/chat/completions", "after stream"))
	if err != nil {
		t.Errorf("request after the stream on the same connection during the drain: %v", err)
	} else if !answer.Close {
		t.Errorf("answer after the stream (status %d) lacks Connection: close", answer.StatusCode)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
