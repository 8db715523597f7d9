package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/converter/jsonx"
)

func (g *gateway) openAI(prefix string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(g.url+prefix+"/v1/"), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
	return &c
}

func (g *gateway) anthropic(prefix string) *anthropic.Client {
	c := anthropic.NewClient(aoption.WithBaseURL(g.url+prefix+"/"), aoption.WithAPIKey("client-key"), aoption.WithMaxRetries(0))
	return &c
}

func (g *gateway) post(path, body string, headers ...string) (*http.Response, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("reading answer of POST %s: %v", path, err)
	}
	return resp, data
}

func chatParams(text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

func messageParams(text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 256,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
	}
}

func TestOpenAIClientThroughSameFormatUpstream(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	client := g.openAI("")
	ctx := context.Background()

	t.Run("non-streaming", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, chatParams("hi there"))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "Hello! You said: hi there" {
			t.Errorf("content = %q", got)
		}
		if resp.Choices[0].FinishReason != "stop" || resp.Usage.CompletionTokens == 0 || resp.Usage.PromptTokens == 0 {
			t.Errorf("finish %q, usage %+v", resp.Choices[0].FinishReason, resp.Usage)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		params := chatParams("stream me please")
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := client.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "Hello! You said: stream me please" {
			t.Errorf("accumulated content = %q", got)
		}
		if chunks < 10 || acc.Usage.TotalTokens == 0 || acc.Choices[0].FinishReason != "stop" {
			t.Errorf("chunks %d, usage %+v, finish %q", chunks, acc.Usage, acc.Choices[0].FinishReason)
		}
	})
}

func TestAnthropicClientThroughSameFormatUpstream(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	client := g.anthropic("")
	ctx := context.Background()

	t.Run("non-streaming", func(t *testing.T) {
		msg, err := client.Messages.New(ctx, messageParams("hello claude"))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello! You said: hello claude" {
			t.Errorf("content = %+v", msg.Content)
		}
		if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.OutputTokens == 0 || msg.Usage.InputTokens == 0 {
			t.Errorf("stop %q, usage %+v", msg.StopReason, msg.Usage)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, messageParams("stream it"))
		msg := accumulateMessage(t, stream)
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello! You said: stream it" {
			t.Errorf("accumulated content = %+v", msg.Content)
		}
		if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.OutputTokens == 0 {
			t.Errorf("stop %q, usage %+v", msg.StopReason, msg.Usage)
		}
	})
}

// TestFixturesPassThroughByteForByte replays recorded provider answers and
// checks a same-format route hands them to the client unchanged.
func TestFixturesPassThroughByteForByte(t *testing.T) {
	cases := []struct {
		fixture string
		status  int
		path    string
		body    string
	}{
		{"openai_stream_parallel_tool_calls_usage.sse", 200, "/v1/chat/completions",
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"weather?"}]}`},
		{"anthropic_stream_text_tool_use.sse", 200, "/v1/messages",
			`{"model":"claude-3-7-sonnet-20250219","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"weather?"}]}`},
		{"anthropic_stream_tool_use_max_tokens_incomplete.sse", 200, "/v1/messages",
			`{"model":"claude-3-7-sonnet-20250219","max_tokens":124,"stream":true,"messages":[{"role":"user","content":"taxes"}]}`},
		{"anthropic_error_400.json", 400, "/v1/messages",
			`{"model":"claude-3-7-sonnet-20250219","max_tokens":1024,"messages":[{"role":"user","content":"hi"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			want, err := os.ReadFile(fixture(tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			g := startGateway(t, mock.Config{ReplayFile: fixture(tc.fixture), ReplayStatus: tc.status}, "", nil)
			resp, got := g.post(tc.path, tc.body, "anthropic-version", "2023-06-01")
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.status, got)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("body differs from the recording\n--- got ---\n%s\n--- want ---\n%s", got, want)
			}
		})
	}
}

func TestUpstreamHTTPErrorsReachTheClient(t *testing.T) {
	for _, status := range []int{400, 401, 404, 429, 500, 503, 529} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			g := startGateway(t, mock.Config{ErrorStatus: status}, "", nil)
			ctx := context.Background()

			_, err := g.openAI("").Chat.Completions.New(ctx, chatParams("hi"))
			var oerr *openai.Error
			if !errors.As(err, &oerr) || oerr.StatusCode != status {
				t.Errorf("openai client: err = %v, want status %d", err, status)
			} else if oerr.Message == "" {
				t.Errorf("openai client: error without message: %s", oerr.RawJSON())
			}

			_, err = g.anthropic("").Messages.New(ctx, messageParams("hi"))
			var aerr *anthropic.Error
			if !errors.As(err, &aerr) || aerr.StatusCode != status {
				t.Errorf("anthropic client: err = %v, want status %d", err, status)
			}
		})
	}
}

// closedPort returns a loopback URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

func TestUpstreamFailuresGiveOneClearAnswer(t *testing.T) {
	t.Run("upstream down", func(t *testing.T) {
		down := closedPort(t)
		g := startGatewayAt(t, down, down, "", nil)
		resp, body := g.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		assertError(t, resp, body, 502, `"upstream_unavailable"`)
		resp, body = g.post("/v1/messages", `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
		assertError(t, resp, body, 502, `"api_error"`)
	})

	t.Run("upstream time-out", func(t *testing.T) {
		g := startGateway(t, mock.Config{Hang: true}, "", nil)
		start := time.Now()
		resp, body := g.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		assertError(t, resp, body, 504, `"upstream_timeout"`)
		resp, body = g.post("/v1/messages", `{"model":"c","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		assertError(t, resp, body, 504, `"timeout_error"`)
		if elapsed := time.Since(start); elapsed > 10*time.Second {
			t.Errorf("time-outs took %v", elapsed)
		}
		eventually(t, 5*time.Second, func() error {
			if gone := g.mock.Stats().ClientGone; gone < 2 {
				return errors.New("the upstream did not see the calls abandoned")
			}
			return nil
		})
	})

	t.Run("disconnect mid-stream", func(t *testing.T) {
		g := startGateway(t, mock.Config{Chunks: 10, DisconnectAfter: 3}, "", nil)
		resp, body := g.post("/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		text := string(body)
		if !strings.Contains(text, `"delta":{"content":`) || !strings.HasSuffix(text, "\n\n") ||
			!strings.Contains(text, `data: {"error":{`) || strings.Contains(text, "[DONE]") {
			t.Errorf("want some content, then an error event ending the stream; got\n%s", text)
		}
		stream := g.openAI("").Chat.Completions.NewStreaming(context.Background(), chatParams("hi"))
		for stream.Next() {
		}
		if stream.Err() == nil {
			t.Error("openai SDK saw no error for an interrupted stream")
		}

		astream := g.anthropic("").Messages.NewStreaming(context.Background(), messageParams("hi"))
		for astream.Next() {
		}
		if astream.Err() == nil {
			t.Error("anthropic SDK saw no error for an interrupted stream")
		}
	})
}

func assertError(t *testing.T, resp *http.Response, body []byte, status int, contains string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if !jsonx.Valid(body) || !strings.Contains(string(body), contains) {
		t.Errorf("body %s: want valid JSON containing %s", body, contains)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id header")
	}
}

func TestEdgeErrors(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), `
`, map[string]string{"GATEWAY_SERVER_MAX_BODY_BYTES": "4096"})
	cases := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"unknown path", "GET", "/v1/nothing", "", 404, `"not_found"`},
		{"wrong method", "GET", "/v1/chat/completions", "", 405, `"method_not_allowed"`},
		{"invalid json openai", "POST", "/v1/chat/completions", `{"model":`, 400, `"invalid_request_error"`},
		{"invalid json anthropic", "POST", "/v1/messages", `[1,2`, 400, `"type":"error"`},
		{"body too large openai", "POST", "/v1/chat/completions", `{"model":"` + strings.Repeat("x", 5000) + `"}`, 413, `"request_too_large"`},
		{"body too large anthropic", "POST", "/v1/messages", `{"model":"` + strings.Repeat("x", 5000) + `"}`, 413, `"request_too_large"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, g.url+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assertError(t, resp, body, tc.status, tc.contains)
		})
	}
	// The gateway keeps serving after bad input.
	if _, err := g.openAI("").Chat.Completions.New(context.Background(), chatParams("still there?")); err != nil {
		t.Fatal(err)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	if _, err := g.openAI("").Chat.Completions.New(context.Background(), chatParams("count me")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(g.url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status        string         `json:"status"`
		Version       string         `json:"version"`
		UptimeSeconds *int64         `json:"uptime_seconds"`
		Workers       map[string]int `json:"workers"`
		Bus           struct {
			Connected bool `json:"connected"`
		} `json:"bus"`
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := jsonx.Unmarshal(body, &h); err != nil || resp.StatusCode != 200 || h.Status != "healthy" ||
		h.Version != "test" || h.UptimeSeconds == nil || !h.Bus.Connected || h.Workers["openai"] != 1 {
		t.Errorf("health %d %s (%v)", resp.StatusCode, body, err)
	}
	resp, err = http.Get(g.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`http_requests_total{method="POST",path="/v1/chat/completions",status="200"} 1`,
		`upstream_requests_total{provider="openai",status="200",upstream="openai"} 1`,
		`upstream_request_duration_seconds_count{provider="openai",upstream="openai"} 1`,
		`gateway_worker_capacity{upstream="openai"} 16`,
		`gateway_nats_connected{role="ingress"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
