package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/ingress/access"
)

// testKeys holds the plain API keys of a test, made at run time so that no
// key is ever written to a file. The configuration names them by key_env.
type testKeys struct {
	plain map[string]string // key name → plain key
	env   map[string]string // variables for config.Parse
}

// newTestKeys makes a key for each name (variable NAME_KEY, upper-cased with
// '-' as '_') and an admin key in GATEWAY_ACCESS_ADMIN_KEY.
func newTestKeys(t testing.TB, names ...string) testKeys {
	t.Helper()
	k := testKeys{plain: map[string]string{}, env: map[string]string{}}
	for _, name := range append(names, "admin") {
		plain, _, err := access.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		k.plain[name] = plain
		k.env[keyEnv(name)] = plain
	}
	k.env[config.EnvAdminKey] = k.plain["admin"]
	return k
}

func keyEnv(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_KEY"
}

// with returns the variables plus extra ones.
func (k testKeys) with(extra map[string]string) map[string]string {
	out := make(map[string]string, len(k.env)+len(extra))
	for n, v := range k.env {
		out[n] = v
	}
	for n, v := range extra {
		out[n] = v
	}
	return out
}

// keyTOML is one [[access.keys]] table reading its key from keyEnv(name);
// limits are extra TOML lines such as `requests_per_minute = 5`.
func keyTOML(name string, limits ...string) string {
	return fmt.Sprintf("\n[[access.keys]]\nname = %q\nkey_env = %q\n%s\n", name, keyEnv(name), strings.Join(limits, "\n"))
}

// accessTOML enables access control with the given store failure policy.
func accessTOML(policy string, keys ...string) string {
	return fmt.Sprintf("\n[access]\nenabled = true\nstore_failure = %q\n%s", policy, strings.Join(keys, ""))
}

// credential says how a client presents its key.
type credential int

const (
	bearer  credential = iota // Authorization: Bearer <key>
	xAPIKey                   // x-api-key: <key>
	noKey                     // nothing at all
)

// openAIAs is an OpenAI SDK client of the gateway presenting key as cred.
func (g *gateway) openAIAs(prefix, key string, cred credential) *openai.Client {
	opts := []option.RequestOption{option.WithBaseURL(g.url + prefix + "/v1/"), option.WithMaxRetries(0), option.WithAPIKey("unused")}
	switch cred {
	case bearer:
		opts = append(opts, option.WithAPIKey(key))
	case xAPIKey:
		opts = append(opts, option.WithHeaderDel("Authorization"), option.WithHeader("X-Api-Key", key))
	case noKey:
		opts = append(opts, option.WithHeaderDel("Authorization"))
	}
	c := openai.NewClient(opts...)
	return &c
}

// anthropicAs is an Anthropic SDK client of the gateway presenting key as cred.
func (g *gateway) anthropicAs(prefix, key string, cred credential) *anthropic.Client {
	opts := []aoption.RequestOption{aoption.WithBaseURL(g.url + prefix + "/"), aoption.WithMaxRetries(0)}
	switch cred {
	case bearer:
		opts = append(opts, aoption.WithAuthToken(key), aoption.WithHeaderDel("X-Api-Key"))
	case xAPIKey:
		opts = append(opts, aoption.WithAPIKey(key), aoption.WithHeaderDel("Authorization"))
	case noKey:
		opts = append(opts, aoption.WithAPIKey("unused"), aoption.WithHeaderDel("X-Api-Key"), aoption.WithHeaderDel("Authorization"))
	}
	c := anthropic.NewClient(opts...)
	return &c
}

// get fetches a gateway path with an optional bearer key.
func (g *gateway) get(t testing.TB, path, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

// usage reads a key's report from the admin API.
func (g *gateway) usage(t testing.TB, admin, name string) access.KeyReport {
	t.Helper()
	status, body := g.get(t, "/admin/keys/"+name+"/usage", admin)
	if status != http.StatusOK {
		t.Fatalf("usage of %s: status %d: %s", name, status, body)
	}
	var r access.KeyReport
	if err := jsonx.Unmarshal(body, &r); err != nil {
		t.Fatalf("usage of %s: %v in %s", name, err, body)
	}
	return r
}

// periodTokens is the tokens the key used in its quota period.
func (g *gateway) periodTokens(t testing.TB, admin, name string) int64 {
	t.Helper()
	r := g.usage(t, admin, name)
	if r.Period == nil {
		t.Fatalf("key %s has no quota period in its report", name)
	}
	return r.Period.Tokens
}

// metrics returns the /metrics text.
func (g *gateway) metrics(t testing.TB) string {
	t.Helper()
	status, body := g.get(t, "/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("/metrics: status %d", status)
	}
	return string(body)
}

// metricValue returns the value of the series written exactly as series
// (name and sorted labels), or 0 when it is absent.
func metricValue(t testing.TB, text, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return v
		}
	}
	return 0
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startApp starts a gateway process of the given mode from the base
// configuration plus extra, against upstreamURL. Unlike startGatewayAt it
// lets the test stop the process itself (stop is idempotent and also runs
// at cleanup), and takes the store directory so that a second process can
// reopen the first one's quota counters.
func startApp(t testing.TB, mode Mode, upstreamURL, storeDir, extra string, env map[string]string) (g *gateway, stop func()) {
	t.Helper()
	text := fmt.Sprintf(baseTOML, storeDir, upstreamURL, upstreamURL) + extra
	cfg, err := config.Parse("test.toml", []byte(text), func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg, Options{Mode: mode, Logger: logger, Version: "test", Listener: ln})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("starting gateway (%s): %v", mode, err)
	}
	g = &gateway{t: t, app: a, url: "http://" + a.Addr(), logs: logs}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Shutdown(ctx); err != nil {
				t.Errorf("shutdown (%s): %v", mode, err)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s gateway logs:\n%s", mode, tail(logs.String(), 40))
		}
	})
	return g, stop
}

// startMock starts a mock upstream for the test.
func startMock(t testing.TB, cfg mock.Config) *mock.Server {
	t.Helper()
	m := mock.New(cfg)
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("starting mock upstream: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// dialect is the client API of a case.
type dialect string

const (
	dialectOpenAI    dialect = "openai"
	dialectAnthropic dialect = "anthropic"
)

// answer is what a client saw for one request.
type answer struct {
	status  int
	code    string // OpenAI error code, Anthropic error type
	message string
	header  http.Header
	err     error // a failure that is not an API error
}

// call sends one non-streaming request with the official SDK of d and
// reduces the outcome to an answer.
func (g *gateway) call(d dialect, prefix, key string, cred credential, model string) answer {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp *http.Response
	if d == dialectOpenAI {
		params := chatParams("hi")
		params.Model = model
		_, err := g.openAIAs(prefix, key, cred).Chat.Completions.New(ctx, params, option.WithResponseInto(&resp))
		var oerr *openai.Error
		switch {
		case err == nil:
			return answer{status: resp.StatusCode, header: resp.Header}
		case errors.As(err, &oerr):
			return answer{status: oerr.StatusCode, code: oerr.Code, message: oerr.Message, header: oerr.Response.Header}
		}
		return answer{err: err}
	}
	params := messageParams("hi")
	params.Model = anthropic.Model(model)
	params.MaxTokens = 16
	_, err := g.anthropicAs(prefix, key, cred).Messages.New(ctx, params, aoption.WithResponseInto(&resp))
	var aerr *anthropic.Error
	switch {
	case err == nil:
		return answer{status: resp.StatusCode, header: resp.Header}
	case errors.As(err, &aerr):
		var body struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if jerr := jsonx.Unmarshal([]byte(aerr.RawJSON()), &body); jerr != nil || body.Type != "error" {
			return answer{status: aerr.StatusCode, err: fmt.Errorf("not an Anthropic error body (%v): %s", jerr, aerr.RawJSON())}
		}
		return answer{status: aerr.StatusCode, code: body.Error.Type, message: body.Error.Message, header: aerr.Response.Header}
	}
	return answer{err: err}
}

// rateLimitHeaders are the request-limit headers each dialect must carry.
var rateLimitHeaders = map[dialect][]string{
	dialectOpenAI:    {"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
	dialectAnthropic: {"Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Requests-Reset"},
}

// checkLimitHeaders asserts the key's request limit in the dialect's
// headers, and none of the other dialect's. A negative limit accepts any
// positive one: a successful answer carries the headers of the upstream
// after the gateway's (see the note at the successful cases).
func checkLimitHeaders(t *testing.T, d dialect, h http.Header, limit int64) {
	t.Helper()
	want := rateLimitHeaders[d]
	got, err := strconv.ParseInt(h.Get(want[0]), 10, 64)
	if err != nil || got <= 0 || limit >= 0 && got != limit {
		t.Errorf("%s = %q, want %d", want[0], h.Get(want[0]), limit)
	}
	remaining, err := strconv.ParseInt(h.Get(want[1]), 10, 64)
	if err != nil || remaining < 0 || remaining > got {
		t.Errorf("%s = %q, want 0..%d", want[1], h.Get(want[1]), got)
	}
	if h.Get(want[2]) == "" {
		t.Errorf("no %s header", want[2])
	}
	other := dialectAnthropic
	if d == dialectAnthropic {
		other = dialectOpenAI
	}
	for _, name := range rateLimitHeaders[other] {
		if h.Get(name) != "" {
			t.Errorf("%s answer carries %s", d, name)
		}
	}
}

// TestAccessRefusalsThroughSDKs drives every refusal of the access layer
// through the official SDKs of both APIs and checks status, error shape,
// message and headers.
func TestAccessRefusalsThroughSDKs(t *testing.T) {
	keys := newTestKeys(t, "team-a", "rpm-o", "rpm-a", "qreq-o", "qreq-a", "qtok-o", "qtok-a")
	routes := `routes = ["/v1/chat/completions", "/v1/messages"]`
	models := `models = ["gpt-4o", "claude-sonnet-4-5"]`
	g := startGateway(t, mock.DefaultConfig(), accessTOML("closed",
		keyTOML("team-a", routes, models, "requests_per_minute = 1000", "tokens_per_minute = 1000000"),
		keyTOML("rpm-o", "requests_per_minute = 2"),
		keyTOML("rpm-a", "requests_per_minute = 2"),
		keyTOML("qreq-o", "quota_requests = 2", `quota_period = "day"`),
		keyTOML("qreq-a", "quota_requests = 2", `quota_period = "day"`),
		keyTOML("qtok-o", "quota_tokens = 60", `quota_period = "day"`),
		keyTOML("qtok-a", "quota_tokens = 60", `quota_period = "day"`),
	), keys.env)

	cases := []struct {
		name    string
		dialect dialect
		prefix  string
		key     string // key name, "" for none, "wrong" for an unknown key
		cred    credential
		model   string
		before  int  // requests that must succeed first
		exhaust bool // send until refused (at most 20), after at least one success
		status  int
		code    string
		message string
		limit   int64 // request limit expected in the rate-limit headers, 0: none
		retry   bool  // expect Retry-After
	}{
		// A successful answer carries rate-limit headers in the client's
		// dialect, but the worker's head frame replaces the gateway key's
		// values with the upstream's (ingress/proxy.go sets the head's
		// headers over those admit wrote), so only their presence is
		// checked here; refusals below check the key's own values.
		{name: "openai ok bearer", dialect: dialectOpenAI, key: "team-a", cred: bearer, model: "gpt-4o", status: 200, limit: -1},
		{name: "openai ok x-api-key", dialect: dialectOpenAI, key: "team-a", cred: xAPIKey, model: "gpt-4o", status: 200, limit: -1},
		{name: "anthropic ok x-api-key", dialect: dialectAnthropic, key: "team-a", cred: xAPIKey, model: "claude-sonnet-4-5", status: 200, limit: -1},
		{name: "anthropic ok bearer", dialect: dialectAnthropic, key: "team-a", cred: bearer, model: "claude-sonnet-4-5", status: 200, limit: -1},

		{name: "openai missing key", dialect: dialectOpenAI, cred: noKey, model: "gpt-4o", status: 401, code: "invalid_api_key", message: "missing API key"},
		{name: "anthropic missing key", dialect: dialectAnthropic, cred: noKey, model: "claude-sonnet-4-5", status: 401, code: "authentication_error", message: "missing API key"},
		{name: "openai wrong key bearer", dialect: dialectOpenAI, key: "wrong", cred: bearer, model: "gpt-4o", status: 401, code: "invalid_api_key", message: "invalid API key"},
		{name: "openai wrong key x-api-key", dialect: dialectOpenAI, key: "wrong", cred: xAPIKey, model: "gpt-4o", status: 401, code: "invalid_api_key", message: "invalid API key"},
		{name: "anthropic wrong key x-api-key", dialect: dialectAnthropic, key: "wrong", cred: xAPIKey, model: "claude-sonnet-4-5", status: 401, code: "authentication_error", message: "invalid API key"},
		{name: "anthropic wrong key bearer", dialect: dialectAnthropic, key: "wrong", cred: bearer, model: "claude-sonnet-4-5", status: 401, code: "authentication_error", message: "invalid API key"},

		{name: "openai route not allowed", dialect: dialectOpenAI, prefix: "/x-anthropic", key: "team-a", cred: bearer, model: "gpt-4o", status: 403, code: "permission_denied", message: "route /x-anthropic/v1/chat/completions"},
		{name: "anthropic route not allowed", dialect: dialectAnthropic, prefix: "/x-openai", key: "team-a", cred: xAPIKey, model: "claude-sonnet-4-5", status: 403, code: "permission_error", message: "route /x-openai/v1/messages"},
		{name: "openai model not allowed", dialect: dialectOpenAI, key: "team-a", cred: bearer, model: "gpt-4o-mini", status: 403, code: "permission_denied", message: "model gpt-4o-mini"},
		{name: "anthropic model not allowed", dialect: dialectAnthropic, key: "team-a", cred: xAPIKey, model: "claude-3-haiku", status: 403, code: "permission_error", message: "model claude-3-haiku"},

		{name: "openai rpm exceeded", dialect: dialectOpenAI, key: "rpm-o", cred: bearer, model: "gpt-4o", before: 2, status: 429, code: "rate_limit_exceeded", message: "rate limit", limit: 2, retry: true},
		{name: "anthropic rpm exceeded", dialect: dialectAnthropic, key: "rpm-a", cred: xAPIKey, model: "claude-sonnet-4-5", before: 2, status: 429, code: "rate_limit_error", message: "rate limit", limit: 2, retry: true},
		{name: "openai request quota exceeded", dialect: dialectOpenAI, key: "qreq-o", cred: bearer, model: "gpt-4o", before: 2, status: 429, code: "insufficient_quota", message: "request quota", limit: 2, retry: true},
		{name: "anthropic request quota exceeded", dialect: dialectAnthropic, key: "qreq-a", cred: xAPIKey, model: "claude-sonnet-4-5", before: 2, status: 429, code: "rate_limit_error", message: "request quota", limit: 2, retry: true},
		{name: "openai token quota exhausted", dialect: dialectOpenAI, key: "qtok-o", cred: bearer, model: "gpt-4o", exhaust: true, status: 429, code: "insufficient_quota", message: "token quota", retry: true},
		{name: "anthropic token quota exhausted", dialect: dialectAnthropic, key: "qtok-a", cred: xAPIKey, model: "claude-sonnet-4-5", exhaust: true, status: 429, code: "rate_limit_error", message: "token quota", retry: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := keys.plain[tc.key]
			if tc.key == "wrong" {
				key, _, _ = access.NewKey()
			}
			for i := range tc.before {
				if a := g.call(tc.dialect, tc.prefix, key, tc.cred, tc.model); a.err != nil || a.status != 200 {
					t.Fatalf("request %d before the limit: status %d, %s %q, %v", i+1, a.status, a.code, a.message, a.err)
				}
			}
			a := g.call(tc.dialect, tc.prefix, key, tc.cred, tc.model)
			if tc.exhaust {
				ok := 0
				for ; a.status == 200 && a.err == nil && ok < 20; ok++ {
					a = g.call(tc.dialect, tc.prefix, key, tc.cred, tc.model)
				}
				if ok == 0 {
					t.Fatal("the first request was already refused: the quota must allow some use")
				}
			}
			if a.err != nil {
				t.Fatalf("request failed outside the API: %v", a.err)
			}
			if a.status != tc.status || a.code != tc.code {
				t.Fatalf("status %d, code %q (%q); want %d, %q", a.status, a.code, a.message, tc.status, tc.code)
			}
			if !strings.Contains(a.message, tc.message) {
				t.Errorf("message %q does not say %q", a.message, tc.message)
			}
			if a.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if tc.limit > 0 {
				checkLimitHeaders(t, tc.dialect, a.header, tc.limit)
			}
			retry := a.header.Get("Retry-After")
			if !tc.retry {
				if retry != "" && tc.status != 200 {
					t.Errorf("Retry-After %q on a %d that retrying cannot fix", retry, tc.status)
				}
				return
			}
			if secs, err := strconv.Atoi(retry); err != nil || secs < 1 {
				t.Errorf("Retry-After = %q, want a positive number of seconds", retry)
			} else if tc.code == "rate_limit_exceeded" || strings.Contains(tc.message, "rate limit") {
				if secs > 60 {
					t.Errorf("Retry-After = %d s for a per-minute limit", secs)
				}
			}
		})
	}

	// Refusals are counted by key name.
	text := g.metrics(t)
	for _, series := range []string{
		`rate_limit_exceeded_total{key_name="rpm-o"}`,
		`rate_limit_exceeded_total{key_name="rpm-a"}`,
		`quota_exceeded_total{key_name="qreq-o"}`,
		`quota_exceeded_total{key_name="qtok-a"}`,
	} {
		if metricValue(t, text, series) < 1 {
			t.Errorf("%s not counted", series)
		}
	}
	if metricValue(t, text, `auth_requests_total{result="denied"}`) < 6 {
		t.Errorf("denied authentications not counted:\n%s", grepLines(text, "auth_requests_total"))
	}
}

// grepLines returns the lines of text containing s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestAccessRateLimitAcrossIngressReplicas hammers two ingress processes that
// share one NATS server and checks that together they admit exactly the
// key's requests per minute.
func TestAccessRateLimitAcrossIngressReplicas(t *testing.T) {
	const rpm = 300
	keys := newTestKeys(t, "shared-1", "shared-2")
	accessCfg := accessTOML("closed",
		keyTOML("shared-1", fmt.Sprintf("requests_per_minute = %d", rpm)),
		keyTOML("shared-2", fmt.Sprintf("requests_per_minute = %d", rpm)),
	)
	m := startMock(t, mock.Config{Chunks: 2})
	first, _ := startApp(t, ModeAll, m.URL(), t.TempDir(), accessCfg, keys.with(map[string]string{"GATEWAY_BUS_LISTEN": freeAddr(t)}))
	if first.app.NATSURL() == "" {
		t.Fatal("the first process does not listen for NATS clients")
	}
	second, _ := startApp(t, ModeIngress, m.URL(), t.TempDir(), accessCfg, keys.with(map[string]string{
		"GATEWAY_BUS_MODE": "external",
		"GATEWAY_BUS_URL":  first.app.NATSURL(),
	}))
	urls := []string{first.url, second.url}
	body := `{"model":"gpt-4o","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	send := func(url, key string) (int, error) {
		req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	// measure hammers both replicas with one key from 16 goroutines, each
	// stopping at its first refusal, and reports the successes and whether
	// the run stayed inside one UTC minute (a new window would rightly
	// admit more).
	measure := func(key string) (admitted int64, oneWindow bool) {
		startMinute := time.Now().UTC().Truncate(time.Minute)
		var ok, failures atomic.Int64
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				url := urls[i%2]
				for n := 0; n < 2*rpm; n++ {
					status, err := send(url, key)
					if err != nil || (status != 200 && status != 429) {
						failures.Add(1)
						return
					}
					if status == 429 {
						return
					}
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if f := failures.Load(); f > 0 {
			t.Fatalf("%d requests failed with something else than 200 or 429", f)
		}
		// Both replicas now refuse the key.
		for _, url := range urls {
			if status, err := send(url, key); err != nil || status != 429 {
				t.Errorf("%s after the limit: status %d, %v", url, status, err)
			}
		}
		endMinute := time.Now().UTC().Truncate(time.Minute)
		return ok.Load(), startMinute.Equal(endMinute)
	}

	admitted, oneWindow := measure(keys.plain["shared-1"])
	if !oneWindow {
		// The run straddled a minute boundary; it takes a few seconds, so
		// a second run with the other key fits in one window.
		t.Logf("first run crossed a minute boundary (%d admitted); measuring again", admitted)
		admitted, oneWindow = measure(keys.plain["shared-2"])
		if !oneWindow {
			t.Fatal("both runs crossed a minute boundary")
		}
	}
	t.Logf("admitted %d of %d across two ingress processes", admitted, rpm)
	if admitted > rpm || admitted < rpm*98/100 {
		t.Errorf("admitted %d requests, want within 2%% below %d and never above", admitted, rpm)
	}
}
