package app

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress"
)

// Model routing end to end: a gateway whose /m/v1/... endpoints route by
// model over upstreams that are each a mock of their own, scripted to fail
// the way providers do.

// routedUpstreams are the upstreams of a routed gateway beside baseTOML's
// openai and anthropic: a second deployment of each format.
var routedUpstreams = []struct{ name, format string }{
	{"openai", "openai-chat"},
	{"anthropic", "anthropic"},
	{"openai-b", "openai-chat"},
	{"anthropic-b", "anthropic"},
}

// routedTOML adds the extra upstreams and the model-routed endpoints.
const routedTOML = `
[[upstreams]]
name = "openai-b"
url = %q
format = "openai-chat"
concurrency = %d
queue_size = 64
queue_timeout = "5s"
first_byte_timeout = "2s"
idle_timeout = "2s"

[[upstreams]]
name = "anthropic-b"
url = %q
format = "anthropic"
concurrency = 16
queue_size = 64
queue_timeout = "5s"
first_byte_timeout = "2s"
idle_timeout = "2s"

[[routes]]
path = "/m/v1/chat/completions"
input_format = "openai-chat"

[[routes]]
path = "/m/v1/messages"
input_format = "anthropic"
`

// routed is a gateway routing by model, with one mock per upstream.
type routed struct {
	*gateway
	mocks map[string]*mock.Server
	// prefix is the base of the model-routed endpoints, "/m" unless set.
	prefix string
}

func (r *routed) base() string { return cmp.Or(r.prefix, "/m") }

type routedOptions struct {
	// mocks configures each upstream's mock; unnamed ones answer normally.
	mocks map[string]mock.Config
	// urls replaces an upstream's URL (a port that refuses connections).
	urls map[string]string
	// models is the [[models]] configuration.
	models string
	// concurrencyB is the concurrency of openai-b (default 16).
	concurrencyB int
	// split runs an ingress and a worker process over an external NATS.
	split bool
}

func startRouted(t testing.TB, o routedOptions) *routed {
	t.Helper()
	r := &routed{mocks: make(map[string]*mock.Server)}
	urls := make(map[string]string)
	for _, u := range routedUpstreams {
		cfg, ok := o.mocks[u.name]
		if !ok {
			cfg = mock.DefaultConfig()
		}
		m := mock.New(cfg)
		if err := m.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		r.mocks[u.name] = m
		urls[u.name] = r.mocks[u.name].URL()
		if v, ok := o.urls[u.name]; ok {
			urls[u.name] = v
		}
	}
	if o.concurrencyB == 0 {
		o.concurrencyB = 16
	}
	extra := fmt.Sprintf(routedTOML, urls["openai-b"], o.concurrencyB, urls["anthropic-b"]) + o.models
	if !o.split {
		r.gateway = launch(t, launchOptions{mode: ModeAll, openaiURL: urls["openai"], anthropicURL: urls["anthropic"], extra: extra})
		return r
	}
	node := startNATSNode(t)
	env := map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": node.url()}
	startProc(t, ModeWorker, urls["openai"], urls["anthropic"], extra, env)
	r.gateway = startProc(t, ModeIngress, urls["openai"], urls["anthropic"], extra, env)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.app.ingress.WaitForWorkers(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return r
}

// requests returns how many API requests each upstream's mock received.
func (r *routed) requests() map[string]int64 {
	out := make(map[string]int64)
	for name, m := range r.mocks {
		out[name] = m.Stats().Requests
	}
	return out
}

func (r *routed) expectRequests(t *testing.T, want map[string]int64) {
	t.Helper()
	got := r.requests()
	for _, u := range routedUpstreams {
		if got[u.name] != want[u.name] {
			t.Errorf("upstream requests %v, want %v", got, want)
			return
		}
	}
}

// refusedURL is the URL of a loopback port nothing listens on.
func refusedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

const fallbackModels = `
[[models]]
name = "gpt-4o"
policy = "priority"

[[models.targets]]
upstream = "openai"
model = "gpt-4o-2024-08-06"

[[models.targets]]
upstream = "openai-b"
model = "gpt-4o-b"
priority = 1

[[models]]
name = "claude-sonnet"
aliases = ["sonnet"]

[[models.targets]]
upstream = "anthropic"
model = "claude-sonnet-4-5"

[[models.targets]]
upstream = "openai-b"
model = "claude-sonnet-on-openai"
priority = 1

[[models]]
name = "cross"

[[models.targets]]
upstream = "openai"
model = "gpt-4o"

[[models.targets]]
upstream = "anthropic-b"
model = "claude-sonnet-4-5"
priority = 1
`

func routedChat(model, text string) openai.ChatCompletionNewParams {
	p := chatParams(text)
	p.Model = model
	return p
}

func routedMessage(model, text string) anthropic.MessageNewParams {
	p := messageParams(text)
	p.Model = anthropic.Model(model)
	return p
}

// TestModelRoutingFallback fails the first target of each model in the
// ways providers fail before answering and checks that the next target
// serves the request, in the client's format, JSON and streamed, within a
// format and across formats, in one process and split.
func TestModelRoutingFallback(t *testing.T) {
	failures := []struct {
		name string
		cfg  mock.Config
		// refuse replaces the failing upstream's URL by a closed port.
		refuse bool
	}{
		{name: "500", cfg: mock.Config{ErrorStatus: 500}},
		{name: "529 overloaded", cfg: mock.Config{ErrorStatus: 529}},
		{name: "429 with a long Retry-After", cfg: mock.Config{ErrorStatus: 429, RetryAfter: 30 * time.Second}},
		{name: "connection refused", refuse: true},
		{name: "hang before headers", cfg: mock.Config{Hang: true}},
	}
	clients := []struct {
		name string
		// failing is the first target's upstream, serving the rest.
		failing, serving string
		call             func(t *testing.T, g *routed, stream bool) (text string, served string)
	}{
		{"openai client, openai fallback", "openai", "openai-b", func(t *testing.T, g *routed, stream bool) (string, string) {
			return openAICall(t, g, "gpt-4o", stream)
		}},
		{"openai client, anthropic fallback", "openai", "anthropic-b", func(t *testing.T, g *routed, stream bool) (string, string) {
			return openAICall(t, g, "cross", stream)
		}},
		{"anthropic client, openai fallback", "anthropic", "openai-b", func(t *testing.T, g *routed, stream bool) (string, string) {
			return anthropicCall(t, g, "sonnet", stream)
		}},
	}
	modes := []bool{false}
	if !testing.Short() {
		modes = append(modes, true)
	}
	for _, split := range modes {
		for _, f := range failures {
			if split && f.name != "500" && f.name != "connection refused" {
				continue // split mode: the bus path, not every failure again
			}
			for _, c := range clients {
				name := fmt.Sprintf("%s/%s/split=%v", f.name, c.name, split)
				t.Run(name, func(t *testing.T) {
					o := routedOptions{mocks: map[string]mock.Config{c.failing: withStrict(f.cfg)}, models: fallbackModels, split: split}
					if f.refuse {
						o.urls = map[string]string{c.failing: refusedURL(t)}
					}
					g := startRouted(t, o)
					for _, stream := range []bool{false, true} {
						text, served := c.call(t, g, stream)
						if !strings.Contains(text, "You said: fall back please") {
							t.Errorf("stream=%v: answer %q", stream, text)
						}
						if !strings.HasPrefix(served, c.serving+"/") {
							t.Errorf("stream=%v: x-gateway-upstream = %q, want %s/...", stream, served, c.serving)
						}
					}
					if got := g.mocks[c.serving].Stats().Requests; got != 2 {
						t.Errorf("serving upstream got %d requests, want 2", got)
					}
				})
			}
		}
	}
}

func withStrict(c mock.Config) mock.Config {
	c.Strict = true
	return c
}

func openAICall(t *testing.T, g *routed, model string, stream bool) (string, string) {
	t.Helper()
	ctx := context.Background()
	var resp *http.Response
	client := g.openAI(strings.TrimSuffix(g.base(), "/"))
	if !stream {
		out, err := client.Chat.Completions.New(ctx, routedChat(model, "fall back please"), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if out.Model != model {
			t.Errorf("answer reports model %q, want the requested %q", out.Model, model)
		}
		return out.Choices[0].Message.Content, resp.Header.Get("X-Gateway-Upstream")
	}
	s := client.Chat.Completions.NewStreaming(ctx, routedChat(model, "fall back please"), option.WithResponseInto(&resp))
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("%s stream: %v", model, err)
	}
	if acc.Model != model || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("stream reports model %q, finish %q", acc.Model, acc.Choices[0].FinishReason)
	}
	return acc.Choices[0].Message.Content, resp.Header.Get("X-Gateway-Upstream")
}

func anthropicCall(t *testing.T, g *routed, model string, stream bool) (string, string) {
	t.Helper()
	ctx := context.Background()
	var resp *http.Response
	client := g.anthropic(strings.TrimSuffix(g.base(), "/"))
	var msg anthropic.Message
	if !stream {
		out, err := client.Messages.New(ctx, routedMessage(model, "fall back please"), aoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		msg = *out
	} else {
		msg = accumulateMessage(t, client.Messages.NewStreaming(ctx, routedMessage(model, "fall back please"), aoption.WithResponseInto(&resp)))
	}
	if string(msg.Model) != model || msg.StopReason != anthropic.StopReasonEndTurn || len(msg.Content) == 0 {
		t.Fatalf("message: model %q, stop %q, content %+v", msg.Model, msg.StopReason, msg.Content)
	}
	return msg.Content[0].Text, resp.Header.Get("X-Gateway-Upstream")
}

// TestModelRoutingDoesNotRetryClientErrors: a 4xx that would fail on any
// target reaches the client from the first target, which alone was asked.
func TestModelRoutingDoesNotRetryClientErrors(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 413, 422} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			g := startRouted(t, routedOptions{mocks: map[string]mock.Config{"openai": {ErrorStatus: status}}, models: fallbackModels})
			_, err := g.openAI("/m").Chat.Completions.New(context.Background(), routedChat("gpt-4o", "hi"))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
				t.Fatalf("err = %v, want status %d", err, status)
			}
			g.expectRequests(t, map[string]int64{"openai": 1})
			if got := gatheredValue(t, g.app, "gateway_upstream_attempts_total", "upstream", "openai", "outcome", "status_4xx"); got != 1 {
				t.Errorf("status_4xx attempts = %v", got)
			}
		})
	}
}

// TestModelRoutingRetryBudget: attempts stop at max_attempts, and no
// attempt starts after the retry window; the client gets the last
// upstream error in its own format.
func TestModelRoutingRetryBudget(t *testing.T) {
	t.Run("max_attempts", func(t *testing.T) {
		models := `
[[models]]
name = "gpt-4o"
policy = "priority"
max_attempts = 2

[[models.targets]]
upstream = "openai"

[[models.targets]]
upstream = "openai-b"
priority = 1

[[models.targets]]
upstream = "anthropic"
priority = 2
`
		failing := mock.Config{ErrorStatus: 503}
		g := startRouted(t, routedOptions{mocks: map[string]mock.Config{"openai": failing, "openai-b": failing, "anthropic": failing}, models: models})
		var resp *http.Response
		_, err := g.openAI("/m").Chat.Completions.New(context.Background(), routedChat("gpt-4o", "hi"), option.WithResponseInto(&resp))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
			t.Fatalf("err = %v, want the upstream's 503", err)
		}
		g.expectRequests(t, map[string]int64{"openai": 1, "openai-b": 1})
		if got := resp.Header.Get("X-Gateway-Upstream"); got != "openai-b/gpt-4o" {
			t.Errorf("x-gateway-upstream = %q", got)
		}
		line := accessLine(t, g.logs.String(), "/m/v1/chat/completions")
		var entry struct {
			Attempts []struct {
				Target, Outcome string
				Status          int
			}
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(entry.Attempts); got != "[{openai/gpt-4o status_5xx 503} {openai-b/gpt-4o status_5xx 503}]" {
			t.Errorf("access line lists attempts %s: %s", got, line)
		}
	})
	t.Run("retry_window", func(t *testing.T) {
		// Each attempt takes 400ms to fail; a one-second window leaves room
		// for three of the ten allowed attempts at most.
		models := `
[[models]]
name = "gpt-4o"
max_attempts = 10
retry_window = "1s"

[[models.targets]]
upstream = "openai"
`
		g := startRouted(t, routedOptions{mocks: map[string]mock.Config{"openai": {ErrorStatus: 500, Latency: 400 * time.Millisecond}}, models: models})
		_, err := g.openAI("/m").Chat.Completions.New(context.Background(), routedChat("gpt-4o", "hi"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
			t.Fatalf("err = %v, want 500", err)
		}
		if n := g.mocks["openai"].Stats().Requests; n < 2 || n > 3 {
			t.Errorf("%d attempts within a 1s window of 400ms attempts", n)
		}
	})
	t.Run("Retry-After within max_retry_wait", func(t *testing.T) {
		// openai asks for 300ms; openai-b fails too, so the third attempt
		// goes back to openai once the wait is over.
		models := `
[[models]]
name = "gpt-4o"
max_attempts = 3
max_retry_wait = "2s"

[[models.targets]]
upstream = "openai"

[[models.targets]]
upstream = "openai-b"
priority = 1
`
		g := startRouted(t, routedOptions{mocks: map[string]mock.Config{
			"openai":   {ErrorStatus: 429, RetryAfter: 300 * time.Millisecond},
			"openai-b": {ErrorStatus: 500},
		}, models: models})
		var resp *http.Response
		_, err := g.openAI("/m").Chat.Completions.New(context.Background(), routedChat("gpt-4o", "hi"), option.WithResponseInto(&resp))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
			t.Fatalf("err = %v, want the last attempt's 429", err)
		}
		g.expectRequests(t, map[string]int64{"openai": 2, "openai-b": 1})
		if resp.Header.Get("Retry-After") == "" {
			t.Error("the final 429 lost its Retry-After")
		}
	})
}

// accessLine returns the access-log line of the last request to route.
func accessLine(t *testing.T, logs, route string) string {
	t.Helper()
	var found string
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, `"msg":"request"`) && strings.Contains(l, `"route":"`+route+`"`) {
			found = l
		}
	}
	if found == "" {
		t.Fatalf("no access line for %s", route)
	}
	return found
}

// TestModelRoutingFirstTokenTimeout: a stream whose first event is late is
// cancelled and served by the next target; so is a whole answer whose head
// is late.
func TestModelRoutingFirstTokenTimeout(t *testing.T) {
	models := `
[[models]]
name = "gpt-4o"

[[models.targets]]
upstream = "openai"
first_token_timeout = "300ms"

[[models.targets]]
upstream = "anthropic-b"
model = "claude-sonnet-4-5"
priority = 1
`
	for _, tc := range []struct {
		name   string
		cfg    mock.Config
		stream bool
	}{
		{"stream stalls before its first event", mock.Config{Stall: 5 * time.Second, Strict: true}, true},
		{"whole answer is late", mock.Config{Latency: 5 * time.Second, Strict: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startRouted(t, routedOptions{mocks: map[string]mock.Config{"openai": tc.cfg}, models: models})
			text, served := openAICall(t, g, "gpt-4o", tc.stream)
			if !strings.Contains(text, "fall back please") || served != "anthropic-b/claude-sonnet-4-5" {
				t.Errorf("answer %q from %q", text, served)
			}
			if got := gatheredValue(t, g.app, "gateway_upstream_attempts_total", "upstream", "openai", "outcome", "first_token_timeout"); got != 1 {
				t.Errorf("first_token_timeout attempts = %v", got)
			}
			// The cancelled call is aborted upstream, not left running.
			eventually(t, 5*time.Second, func() error {
				if n := g.mocks["openai"].Stats().Active; n != 0 {
					return fmt.Errorf("%d calls still open on the slow upstream", n)
				}
				return nil
			})
		})
	}
}

// TestModelRoutingAfterFirstByte: a stream that breaks after its first
// event is not retried: the client gets the dialect's terminal error event,
// after one message_start, never a stream that looks complete.
func TestModelRoutingAfterFirstByte(t *testing.T) {
	g := startRouted(t, routedOptions{mocks: map[string]mock.Config{"anthropic": {DisconnectAfter: 2, Strict: true}}, models: fallbackModels})
	resp, body := g.post("/m/v1/messages", `{"model":"claude-sonnet","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"cut me off"}]}`,
		"anthropic-version", "2023-06-01")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	text := string(body)
	if n := strings.Count(text, "event: message_start"); n != 1 {
		t.Errorf("%d message_start events:\n%s", n, text)
	}
	if strings.Contains(text, "event: message_stop") || !strings.Contains(text, "event: error") {
		t.Errorf("the broken stream does not end with an error event:\n%s", text)
	}
	g.expectRequests(t, map[string]int64{"anthropic": 1})

	// The SDK sees the error, not a complete message.
	stream := g.anthropic("/m").Messages.NewStreaming(context.Background(), routedMessage("claude-sonnet", "cut me off"))
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Error("the SDK read the broken stream as complete")
	}
}

// TestModelRoutingUnknownModel: a model no entry serves gets 404 in the
// client's format; /v1/models lists the names and aliases.
func TestModelRoutingUnknownModel(t *testing.T) {
	g := startRouted(t, routedOptions{models: fallbackModels})
	_, err := g.openAI("/m").Chat.Completions.New(context.Background(), routedChat("gpt-5-nonexistent", "hi"))
	var oErr *openai.Error
	if !errors.As(err, &oErr) || oErr.StatusCode != 404 || oErr.Code != "model_not_found" {
		t.Errorf("openai: err = %v", err)
	}
	_, err = g.anthropic("/m").Messages.New(context.Background(), routedMessage("claude-nonexistent", "hi"))
	var aErr *anthropic.Error
	if !errors.As(err, &aErr) || aErr.StatusCode != 404 || !strings.Contains(aErr.RawJSON(), "not_found_error") {
		t.Errorf("anthropic: err = %v", err)
	}
	g.expectRequests(t, map[string]int64{})

	page, err := g.openAI("/m").Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	sort.Strings(ids)
	if got := strings.Join(ids, ","); got != "claude-sonnet,cross,gpt-4o,sonnet" {
		t.Errorf("models listed: %s", got)
	}
	am, err := g.anthropic("/m").Models.Get(context.Background(), "sonnet", anthropic.ModelGetParams{})
	if err != nil || am.ID != "sonnet" {
		t.Errorf("anthropic model lookup: %+v, %v", am, err)
	}
}

// TestModelRoutingLeastBusy: under a burst, least-busy sends requests to the
// target with free slots rather than queueing them behind a full one.
func TestModelRoutingLeastBusy(t *testing.T) {
	models := `
[[models]]
name = "gpt-4o"
policy = "least-busy"

[[models.targets]]
upstream = "openai"

[[models.targets]]
upstream = "openai-b"
`
	slow := mock.Config{Latency: 500 * time.Millisecond, Strict: true}
	// openai has 16 slots, openai-b 8: the first requests go to openai
	// until both have as many free, then to both alike.
	g := startRouted(t, routedOptions{mocks: map[string]mock.Config{"openai": slow, "openai-b": slow}, models: models, concurrencyB: 8})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := g.openAI("/m").Chat.Completions.New(context.Background(), routedChat("gpt-4o", "busy")); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := g.requests()
	if got["openai"]+got["openai-b"] != n {
		t.Fatalf("requests %v, want %d in all", got, n)
	}
	// Balanced free slots: openai 14, openai-b 6; requests arriving a
	// little apart shift that by a few.
	if got["openai-b"] < 3 || got["openai-b"] > 9 {
		t.Errorf("least-busy sent %v, want about 14 and 6", got)
	}
}

// TestModelRoutingExampleFile runs the shipped example,
// config/examples/model-routing.toml, against mocks of its four providers:
// Anthropic fails and claude-sonnet is served by the other provider in
// Anthropic's format; gpt-4o is served from both of its targets.
func TestModelRoutingExampleFile(t *testing.T) {
	mocks := map[string]*mock.Server{}
	vars := map[string]string{
		"GATEWAY_SERVER_HOST": "127.0.0.1", "GATEWAY_BUS_MONITOR": "", "GATEWAY_BUS_STORE_DIR": t.TempDir(),
	}
	for _, name := range []string{"anthropic", "openrouter", "openai", "openai-backup"} {
		cfg := mock.DefaultConfig()
		if name == "anthropic" {
			cfg.ErrorStatus = 529
			cfg.RetryAfter = 30 * time.Second
		}
		mocks[name] = startMock(t, cfg)
		vars["GATEWAY_UPSTREAMS_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"_URL"] = mocks[name].URL()
	}
	cfg, err := config.Load(config.LoadOptions{Path: "../../../../config/examples/model-routing.toml", Env: func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg, Options{Mode: ModeAll, Logger: slog.New(slog.NewJSONHandler(logs, nil)), Version: "test", Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	g := &routed{gateway: &gateway{t: t, app: a, url: "http://" + a.Addr(), logs: logs}, mocks: mocks, prefix: "/"}
	if err := a.ingress.WaitForWorkers(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, stream := range []bool{false, true} {
		text, served := anthropicCall(t, g, "claude-sonnet", stream)
		if !strings.Contains(text, "fall back please") || served != "openrouter/anthropic/claude-sonnet-4.5" {
			t.Errorf("claude-sonnet stream=%v: %q from %q", stream, text, served)
		}
		if _, served := openAICall(t, g, "gpt-4o", stream); served != "openai/gpt-4o" && served != "openai-backup/gpt-4o" {
			t.Errorf("gpt-4o served by %q", served)
		}
	}
	if n := mocks["anthropic"].Stats().Requests; n != 2 {
		t.Errorf("anthropic got %d requests, want one per claude-sonnet request", n)
	}
}

// TestSetRoutes swaps the routing table while a stream is being served: the
// stream finishes on the table it started with, new requests use the new
// one.
func TestSetRoutes(t *testing.T) {
	slowA := mock.DefaultConfig()
	slowA.ChunkGap = 80 * time.Millisecond
	g := startRouted(t, routedOptions{mocks: map[string]mock.Config{"openai": slowA}, models: fallbackModels})

	// The stream starts on the old table: gpt-4o → openai.
	var resp *http.Response
	stream := g.openAI("/m").Chat.Completions.NewStreaming(context.Background(), routedChat("gpt-4o", "keep streaming"), option.WithResponseInto(&resp))
	if !stream.Next() {
		t.Fatalf("no first chunk: %v", stream.Err())
	}

	text := fmt.Sprintf(baseTOML, t.TempDir(), g.mocks["openai"].URL(), g.mocks["anthropic"].URL()) +
		fmt.Sprintf(routedTOML, g.mocks["openai-b"].URL(), 16, g.mocks["anthropic-b"].URL()) + `
[[models]]
name = "gpt-4o"

[[models.targets]]
upstream = "openai-b"
model = "gpt-4o-reloaded"
`
	cfg, err := config.Parse("reload.toml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	table, err := ingress.NewRouteTable(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.app.ingress.SetRoutes(table)

	if _, served := openAICall(t, g, "gpt-4o", false); served != "openai-b/gpt-4o-reloaded" {
		t.Errorf("a request after the swap was served by %q", served)
	}
	var acc openai.ChatCompletionAccumulator
	acc.AddChunk(stream.Current())
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil || acc.Choices[0].FinishReason != "stop" {
		t.Fatalf("the stream in flight broke: %v, %+v", err, acc.Choices)
	}
	if got := resp.Header.Get("X-Gateway-Upstream"); got != "openai/gpt-4o-2024-08-06" {
		t.Errorf("the stream in flight was served by %q", got)
	}
	if _, err := g.openAI("/m").Chat.Completions.New(context.Background(), routedChat("sonnet", "gone")); err == nil {
		t.Error("a model the new table lacks is still served")
	}
}
