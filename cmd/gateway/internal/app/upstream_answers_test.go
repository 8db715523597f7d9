package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
)

// wholeAnswerUpstream answers every call, streamed or not, with one body of
// the given content type and a Content-Length, as OpenAI-compatible servers
// that ignore "stream": true do.
func wholeAnswerUpstream(t *testing.T, contentType, openAIBody, anthropicBody string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		body := openAIBody
		if strings.HasSuffix(r.URL.Path, "/messages") {
			body = anthropicBody
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const (
	wholeOpenAIAnswer    = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
	wholeAnthropicAnswer = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"whole"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}`
)

// TestStreamedRequestAnsweredWithWholeBody covers an upstream that answers a
// streamed request with a whole JSON or plain-text body: every client gets a
// 502 in its own format, the gateway counts it and keeps serving.
func TestStreamedRequestAnsweredWithWholeBody(t *testing.T) {
	for _, contentType := range []string{"application/json", "text/plain; charset=utf-8"} {
		t.Run(contentType, func(t *testing.T) {
			up := wholeAnswerUpstream(t, contentType, wholeOpenAIAnswer, wholeAnthropicAnswer)
			g := startGatewayAt(t, up.URL, up.URL, "", nil)
			ctx := context.Background()
			for _, prefix := range []string{"", toAnthropicUpstream} {
				stream := g.openAI(prefix).Chat.Completions.NewStreaming(ctx, chatParams("hi"))
				for stream.Next() {
				}
				var oerr *openai.Error
				if err := stream.Err(); !errors.As(err, &oerr) || oerr.StatusCode != http.StatusBadGateway || oerr.Type != "server_error" {
					t.Errorf("openai client via %q: err = %v, want a 502 server_error", prefix, err)
				}
				_ = stream.Close()
			}
			for _, prefix := range []string{"", toOpenAIUpstream} {
				stream := g.anthropic(prefix).Messages.NewStreaming(ctx, messageParams("hi"))
				for stream.Next() {
				}
				var aerr *anthropic.Error
				if err := stream.Err(); !errors.As(err, &aerr) || aerr.StatusCode != http.StatusBadGateway || aerr.Type() != "api_error" {
					t.Errorf("anthropic client via %q: err = %v, want a 502 api_error", prefix, err)
				}
				_ = stream.Close()
			}
			// The gateway is still serving.
			if contentType == "application/json" {
				if _, err := g.openAI("").Chat.Completions.New(ctx, chatParams("hi")); err != nil {
					t.Errorf("a plain request after the streamed ones: %v", err)
				}
			}
			if got := accessSeries(t, g.metricsText(t), `upstream_errors_total{error_type="not_a_stream",upstream="openai"}`); got < 2 {
				t.Errorf("upstream_errors_total not_a_stream for openai = %v, want 2", got)
			}
		})
	}
}

// readStreamWithin reads a streamed answer to its end, or fails after
// timeout.
func readStreamWithin(url, body string, timeout time.Duration) (*tailWriter, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	w := &tailWriter{}
	_, err = io.Copy(w, resp.Body)
	return w, err
}

var busPayloadEnv = map[string]string{"GATEWAY_BUS_MAX_PAYLOAD": "1048576"}

// TestEventLargerThanTheBusPayload streams an event, and answers a whole
// body, larger than bus.max_payload: both reach the client whole instead of
// an empty 200.
func TestEventLargerThanTheBusPayload(t *testing.T) {
	const size = 3 << 20
	up := httptest.NewServer(&bigStream{events: 1, eventSize: size})
	t.Cleanup(up.Close)
	g := startGatewayAt(t, up.URL, up.URL, "", busPayloadEnv)
	w, err := readStreamWithin(g.url+"/v1/chat/completions", streamRequest("big"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if w.n < size || !strings.HasSuffix(string(w.last), "data: [DONE]\n\n") {
		t.Errorf("got %d bytes ending %q, want the %d-byte event and [DONE]", w.n, w.last, size)
	}

	whole := wholeAnswerUpstream(t, "application/json",
		`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"`+strings.Repeat("y", size)+`"},"finish_reason":"stop"}]}`, "")
	g2 := startGatewayAt(t, whole.URL, whole.URL, "", busPayloadEnv)
	resp, body := g2.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"big"}]}`)
	if resp.StatusCode != 200 || len(body) < size {
		t.Errorf("whole answer: status %d, %d bytes; want 200 and the %d-byte answer", resp.StatusCode, len(body), size)
	}
}
