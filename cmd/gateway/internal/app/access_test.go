package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// getWithKey fetches a gateway path with an optional bearer key.
func (g *gateway) getWithKey(t testing.TB, path, key string) (int, []byte) {
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

// keyUsage reads a key's report from the admin API.
func (g *gateway) keyUsage(t testing.TB, admin, name string) access.KeyReport {
	t.Helper()
	status, body := g.getWithKey(t, "/admin/keys/"+name+"/usage", admin)
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
	r := g.keyUsage(t, admin, name)
	if r.Period == nil {
		t.Fatalf("key %s has no quota period in its report", name)
	}
	return r.Period.Tokens
}

// metricsText returns the /metrics text.
func (g *gateway) metricsText(t testing.TB) string {
	t.Helper()
	status, body := g.getWithKey(t, "/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("/metrics: status %d", status)
	}
	return string(body)
}

// accessSeries returns the value of the series written exactly as series
// (name and sorted labels), or 0 when it is absent.
func accessSeries(t testing.TB, text, series string) float64 {
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

// freeLoopbackAddr returns a loopback host:port that was free a moment ago.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startAccessApp starts a gateway process of the given mode from the base
// configuration plus extra, against upstreamURL. It takes the store directory
// so that a second process can reopen the first one's quota counters, and
// returns a stop function for tests that restart the gateway (stopping is
// idempotent and also happens at cleanup).
func startAccessApp(t testing.TB, mode Mode, upstreamURL, storeDir, extra string, env map[string]string) (g *gateway, stop func()) {
	t.Helper()
	g = launch(t, launchOptions{mode: mode, openaiURL: upstreamURL, anthropicURL: upstreamURL,
		storeDir: storeDir, extra: extra, env: env})
	return g, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown (%s): %v", mode, err)
		}
	}
}

// startAccessMock starts a mock upstream for the test.
func startAccessMock(t testing.TB, cfg mock.Config) *mock.Server {
	t.Helper()
	m := mock.New(cfg)
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("starting mock upstream: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// avoidMinuteEdge waits for the next UTC minute when it is less than two
// seconds away, so a short scenario that counts against a per-minute limit
// runs inside one window: at the boundary the limit rightly frees again.
func avoidMinuteEdge() {
	now := time.Now()
	if left := now.Truncate(time.Minute).Add(time.Minute).Sub(now); left < 2*time.Second {
		time.Sleep(left + 10*time.Millisecond)
	}
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

// sdkCall sends one non-streaming request with the official SDK of d and
// reduces the outcome to an answer.
func (g *gateway) sdkCall(d dialect, prefix, key string, cred credential, model string) answer {
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
		tokens  int64 // token limit expected in the rate-limit headers, 0: not checked
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

		{name: "openai route not allowed", dialect: dialectOpenAI, prefix: "/x-anthropic", key: "team-a", cred: bearer, model: "gpt-4o", status: 403, code: "permission_denied", message: "route /x-anthropic/v1/chat/completions", limit: 1000},
		{name: "anthropic route not allowed", dialect: dialectAnthropic, prefix: "/x-openai", key: "team-a", cred: xAPIKey, model: "claude-sonnet-4-5", status: 403, code: "permission_error", message: "route /x-openai/v1/messages", limit: 1000},
		{name: "openai model not allowed", dialect: dialectOpenAI, key: "team-a", cred: bearer, model: "gpt-4o-mini", status: 403, code: "permission_denied", message: "model gpt-4o-mini", limit: 1000},
		{name: "anthropic model not allowed", dialect: dialectAnthropic, key: "team-a", cred: xAPIKey, model: "claude-3-haiku", status: 403, code: "permission_error", message: "model claude-3-haiku", limit: 1000},

		{name: "openai rpm exceeded", dialect: dialectOpenAI, key: "rpm-o", cred: bearer, model: "gpt-4o", before: 2, status: 429, code: "rate_limit_exceeded", message: "rate limit", limit: 2, retry: true},
		{name: "anthropic rpm exceeded", dialect: dialectAnthropic, key: "rpm-a", cred: xAPIKey, model: "claude-sonnet-4-5", before: 2, status: 429, code: "rate_limit_error", message: "rate limit", limit: 2, retry: true},
		{name: "openai request quota exceeded", dialect: dialectOpenAI, key: "qreq-o", cred: bearer, model: "gpt-4o", before: 2, status: 429, code: "insufficient_quota", message: "request quota", limit: 2, retry: true},
		{name: "anthropic request quota exceeded", dialect: dialectAnthropic, key: "qreq-a", cred: xAPIKey, model: "claude-sonnet-4-5", before: 2, status: 429, code: "rate_limit_error", message: "request quota", limit: 2, retry: true},
		{name: "openai token quota exhausted", dialect: dialectOpenAI, key: "qtok-o", cred: bearer, model: "gpt-4o", exhaust: true, status: 429, code: "insufficient_quota", message: "token quota", tokens: 60, retry: true},
		{name: "anthropic token quota exhausted", dialect: dialectAnthropic, key: "qtok-a", cred: xAPIKey, model: "claude-sonnet-4-5", exhaust: true, status: 429, code: "rate_limit_error", message: "token quota", tokens: 60, retry: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := keys.plain[tc.key]
			if tc.key == "wrong" {
				key, _, _ = access.NewKey()
			}
			if tc.before > 0 {
				avoidMinuteEdge()
			}
			for i := range tc.before {
				if a := g.sdkCall(tc.dialect, tc.prefix, key, tc.cred, tc.model); a.err != nil || a.status != 200 {
					t.Fatalf("request %d before the limit: status %d, %s %q, %v", i+1, a.status, a.code, a.message, a.err)
				}
			}
			a := g.sdkCall(tc.dialect, tc.prefix, key, tc.cred, tc.model)
			if tc.exhaust {
				ok := 0
				for ; a.status == 200 && a.err == nil && ok < 20; ok++ {
					a = g.sdkCall(tc.dialect, tc.prefix, key, tc.cred, tc.model)
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
			switch {
			case tc.limit != 0:
				checkLimitHeaders(t, tc.dialect, a.header, tc.limit)
			default:
				// An unknown client learns nothing about any key's limits.
				for _, names := range rateLimitHeaders {
					for _, name := range names {
						if v := a.header.Get(name); v != "" {
							t.Errorf("%s: %s", name, v)
						}
					}
				}
			}
			if tc.tokens > 0 {
				name := "X-Ratelimit-Limit-Tokens"
				if tc.dialect == dialectAnthropic {
					name = "Anthropic-Ratelimit-Tokens-Limit"
				}
				if got := a.header.Get(name); got != strconv.FormatInt(tc.tokens, 10) {
					t.Errorf("%s = %q, want %d", name, got, tc.tokens)
				}
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
	text := g.metricsText(t)
	for _, series := range []string{
		`rate_limit_exceeded_total{key_name="rpm-o"}`,
		`rate_limit_exceeded_total{key_name="rpm-a"}`,
		`quota_exceeded_total{key_name="qreq-o"}`,
		`quota_exceeded_total{key_name="qtok-a"}`,
	} {
		if accessSeries(t, text, series) < 1 {
			t.Errorf("%s not counted", series)
		}
	}
	if accessSeries(t, text, `auth_requests_total{result="denied"}`) < 6 {
		t.Errorf("denied authentications not counted:\n%s", linesWith(text, "auth_requests_total"))
	}
}

// linesWith returns the lines of text containing s.
func linesWith(text, s string) string {
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
	m := startAccessMock(t, mock.Config{Chunks: 2})
	first, _ := startAccessApp(t, ModeAll, m.URL(), t.TempDir(), accessCfg, keys.with(map[string]string{"GATEWAY_BUS_LISTEN": freeLoopbackAddr(t)}))
	if first.app.NATSURL() == "" {
		t.Fatal("the first process does not listen for NATS clients")
	}
	second, _ := startAccessApp(t, ModeIngress, m.URL(), t.TempDir(), accessCfg, keys.with(map[string]string{
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

	// measure hammers both replicas with one key from 8 goroutines, each
	// stopping at its first refusal, and reports the successes and whether
	// the run stayed inside one UTC minute (a new window would rightly
	// admit more).
	measure := func(key string) (admitted int64, oneWindow bool) {
		startMinute := time.Now().UTC().Truncate(time.Minute)
		var ok, failures atomic.Int64
		// Eight clients contend enough for the compare-and-set to retry
		// on both replicas; more only make the store's 250 ms bound on a
		// call fail under the race detector on two cores.
		var wg sync.WaitGroup
		for i := range 8 {
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

// TestAccessTokenQuotaCountsUsageAndSurvivesRestart checks that the tokens
// the SDKs see in streamed and non-streamed answers of both APIs are what
// the key's quota is charged, and that a restarted gateway on the same
// store directory starts from the same remaining quota.
func TestAccessTokenQuotaCountsUsageAndSurvivesRestart(t *testing.T) {
	keys := newTestKeys(t, "metered")
	accessCfg := accessTOML("closed", keyTOML("metered", "quota_tokens = 1000000", `quota_period = "month"`))
	m := startAccessMock(t, mock.DefaultConfig())
	storeDir := t.TempDir()
	g, stop := startAccessApp(t, ModeAll, m.URL(), storeDir, accessCfg, keys.env)
	admin, key := keys.plain["admin"], keys.plain["metered"]
	ctx := context.Background()

	cases := []struct {
		name string
		run  func(t *testing.T, g *gateway) int64 // returns the tokens the SDK saw
	}{
		{"openai non-streaming", func(t *testing.T, g *gateway) int64 {
			resp, err := g.openAIAs("", key, bearer).Chat.Completions.New(ctx, chatParams("count these tokens"))
			if err != nil {
				t.Fatal(err)
			}
			return resp.Usage.PromptTokens + resp.Usage.CompletionTokens
		}},
		{"openai streaming", func(t *testing.T, g *gateway) int64 {
			params := chatParams("count the streamed tokens too")
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := g.openAIAs("", key, xAPIKey).Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			return acc.Usage.PromptTokens + acc.Usage.CompletionTokens
		}},
		{"anthropic non-streaming", func(t *testing.T, g *gateway) int64 {
			msg, err := g.anthropicAs("", key, xAPIKey).Messages.New(ctx, messageParams("count these tokens"))
			if err != nil {
				t.Fatal(err)
			}
			return msg.Usage.InputTokens + msg.Usage.CacheReadInputTokens + msg.Usage.OutputTokens
		}},
		{"anthropic streaming", func(t *testing.T, g *gateway) int64 {
			stream := g.anthropicAs("", key, bearer).Messages.NewStreaming(ctx, messageParams("count the streamed tokens too"))
			msg := accumulateMessage(t, stream)
			return msg.Usage.InputTokens + msg.Usage.CacheReadInputTokens + msg.Usage.OutputTokens
		}},
	}
	var total int64
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := g.periodTokens(t, admin, "metered")
			used := tc.run(t, g)
			if used <= 0 {
				t.Fatalf("the SDK saw no usage (%d)", used)
			}
			total += used
			// A streamed answer is settled once its last byte is written,
			// which can follow the client's last read by a moment.
			eventually(t, 5*time.Second, func() error {
				if got := g.periodTokens(t, admin, "metered"); got != before+used {
					return fmt.Errorf("quota usage %d, want %d + %d", got, before, used)
				}
				return nil
			})
		})
	}

	text := g.metricsText(t)
	counted := accessSeries(t, text, `gateway_key_tokens_total{key_name="metered",kind="input",model="other"}`) +
		accessSeries(t, text, `gateway_key_tokens_total{key_name="metered",kind="output",model="other"}`)
	if int64(counted) != total {
		t.Errorf("gateway_key_tokens_total input+output = %v, want %d:\n%s", counted, total, linesWith(text, "gateway_key_tokens_total"))
	}
	if ratio := accessSeries(t, text, `gateway_quota_remaining_ratio{key_name="metered"}`); ratio <= 0 || ratio >= 1 {
		t.Errorf("gateway_quota_remaining_ratio = %v, want between 0 and 1", ratio)
	}

	before := g.keyUsage(t, admin, "metered")
	stop()
	g2, _ := startAccessApp(t, ModeAll, m.URL(), storeDir, accessCfg, keys.env)
	after := g2.keyUsage(t, admin, "metered")
	if before.Period == nil || after.Period == nil || before.Period.TokensRemaining == nil || after.Period.TokensRemaining == nil {
		t.Fatalf("reports without quota period: %+v / %+v", before, after)
	}
	if after.Period.Tokens != total || after.Period.Tokens != before.Period.Tokens ||
		*after.Period.TokensRemaining != *before.Period.TokensRemaining {
		t.Errorf("after restart: used %d, remaining %d; before: used %d, remaining %d; SDKs saw %d",
			after.Period.Tokens, *after.Period.TokensRemaining, before.Period.Tokens, *before.Period.TokensRemaining, total)
	}
	// The restarted gateway goes on counting from there.
	used := cases[0].run(t, g2)
	eventually(t, 5*time.Second, func() error {
		if got := g2.periodTokens(t, admin, "metered"); got != total+used {
			return fmt.Errorf("quota usage %d after restart, want %d", got, total+used)
		}
		return nil
	})
}

// gatewayJetStream connects to the gateway's embedded NATS server, for a
// test that changes what the gateway keeps there. The connection and the
// context end with the test.
func gatewayJetStream(t *testing.T, g *gateway) (jetstream.JetStream, context.Context) {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(g.app.embedded))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return js, ctx
}

// deleteAccessBucket makes the counter store unreachable while the bus stays
// up, the way an operator deleting the bucket or a lost JetStream volume
// would: the gateway's next claim finds no stream behind the bucket's
// subjects. Stopping NATS instead would take the request path down too, and
// the policy would never be what decides the answer.
func deleteAccessBucket(t *testing.T, g *gateway) {
	t.Helper()
	js, ctx := gatewayJetStream(t, g)
	if err := js.DeleteKeyValue(ctx, access.DefaultBucket); err != nil {
		t.Fatalf("deleting the access bucket: %v", err)
	}
}

// restoreAccessBucket brings the counter store back, as an operator would
// after deleting it by mistake, unless the gateway already did.
func restoreAccessBucket(t *testing.T, g *gateway) {
	t.Helper()
	js, ctx := gatewayJetStream(t, g)
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: access.DefaultBucket, History: 1, Storage: jetstream.FileStorage}); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
		t.Fatalf("recreating the access bucket: %v", err)
	}
}

// TestAccessStoreDown checks both store failure policies: "closed" refuses
// with 503 in the client's shape, "open" admits, and
// gateway_access_store_errors_total says which policy decided.
func TestAccessStoreDown(t *testing.T) {
	cases := []struct {
		policy    string
		status    int
		openAI    string // error code; "" for success
		anthropic string // error type; "" for success
	}{
		{policy: "closed", status: 503, openAI: "service_unavailable", anthropic: "api_error"},
		{policy: "open", status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			keys := newTestKeys(t, "team")
			// 100 per minute leases one request at a time, so every
			// request needs the store.
			g := startGateway(t, mock.DefaultConfig(), accessTOML(tc.policy, keyTOML("team", "requests_per_minute = 100")), keys.env)
			key := keys.plain["team"]
			if a := g.sdkCall(dialectOpenAI, "", key, bearer, "gpt-4o"); a.status != 200 {
				t.Fatalf("with the store up: status %d %s %q %v", a.status, a.code, a.message, a.err)
			}
			deleteAccessBucket(t, g)

			for _, d := range []struct {
				dialect dialect
				model   string
				code    string
			}{{dialectOpenAI, "gpt-4o", tc.openAI}, {dialectAnthropic, "claude-sonnet-4-5", tc.anthropic}} {
				a := g.sdkCall(d.dialect, "", key, xAPIKey, d.model)
				if a.err != nil || a.status != tc.status || a.code != d.code {
					t.Errorf("%s with the store down: status %d, code %q (%q), %v; want %d %q", d.dialect, a.status, a.code, a.message, a.err, tc.status, d.code)
					continue
				}
				if tc.status == 503 {
					if !strings.Contains(a.message, "rate limits cannot be checked") {
						t.Errorf("%s: message %q", d.dialect, a.message)
					}
					if a.header.Get("Retry-After") == "" {
						t.Errorf("%s: 503 without Retry-After", d.dialect)
					}
				}
			}

			text := g.metricsText(t)
			if n := accessSeries(t, text, fmt.Sprintf(`gateway_access_store_errors_total{policy=%q}`, tc.policy)); n < 2 {
				t.Errorf("store errors under policy %s = %v, want at least 2:\n%s", tc.policy, n, linesWith(text, "store_errors"))
			}
			if !strings.Contains(g.logs.String(), "counter store unreachable") {
				t.Error("the store failure was not logged")
			}

			// Once the store is back, requests are counted in it again
			// (after the back-off that spares a dead store a call per
			// request), and shutdown can return the leases.
			restoreAccessBucket(t, g)
			eventually(t, 10*time.Second, func() error {
				if a := g.sdkCall(dialectOpenAI, "", key, bearer, "gpt-4o"); a.status != 200 {
					return fmt.Errorf("status %d %s", a.status, a.code)
				}
				if !strings.Contains(g.logs.String(), "counter store reachable again") {
					return errors.New("the store is not used again yet")
				}
				return nil
			})
		})
	}
}

// TestAccessSecretsStayOutOfLogsAndMetrics runs good and bad requests and
// admin calls with debug logging and checks that no key, key hash or
// upstream API key shows up in the logs or on /metrics.
func TestAccessSecretsStayOutOfLogsAndMetrics(t *testing.T) {
	keys := newTestKeys(t, "team-a", "team-b")
	upstreamKey, _, err := access.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _, err := access.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	env := keys.with(map[string]string{
		"GATEWAY_UPSTREAMS_OPENAI_API_KEY":    upstreamKey,
		"GATEWAY_UPSTREAMS_ANTHROPIC_API_KEY": upstreamKey,
	})
	mcfg := mock.DefaultConfig()
	mcfg.APIKey = upstreamKey // the mock refuses calls without it
	g := startGateway(t, mcfg, accessTOML("closed",
		keyTOML("team-a", `models = ["gpt-4o", "claude-sonnet-4-5"]`, "requests_per_minute = 3", "quota_tokens = 100000"),
		keyTOML("team-b", "quota_requests = 1"),
	), env)
	a, b, admin := keys.plain["team-a"], keys.plain["team-b"], keys.plain["admin"]

	ok := 0
	avoidMinuteEdge() // team-a's third request a minute is refused
	for _, c := range []struct {
		dialect dialect
		key     string
		cred    credential
		model   string
	}{
		{dialectOpenAI, a, bearer, "gpt-4o"},
		{dialectAnthropic, a, xAPIKey, "claude-sonnet-4-5"},
		{dialectOpenAI, a, bearer, "gpt-4o-mini"}, // model not allowed
		{dialectAnthropic, wrongKey, bearer, "claude-sonnet-4-5"},
		{dialectOpenAI, wrongKey, xAPIKey, "gpt-4o"},
		{dialectOpenAI, "", noKey, "gpt-4o"},
		{dialectOpenAI, b, bearer, "gpt-4o"},
		{dialectAnthropic, b, xAPIKey, "claude-sonnet-4-5"}, // quota spent
		{dialectOpenAI, a, xAPIKey, "gpt-4o"},
		{dialectOpenAI, a, bearer, "gpt-4o"}, // rate limited
	} {
		ans := g.sdkCall(c.dialect, "", c.key, c.cred, c.model)
		if ans.err != nil {
			t.Fatalf("%+v: %v", c, ans.err)
		}
		if ans.status == 200 {
			ok++
		}
	}
	if ok != 4 {
		t.Errorf("%d requests succeeded, want 4: the upstream key must reach the mock", ok)
	}
	stream := g.anthropicAs("", a, bearer).Messages.NewStreaming(context.Background(), messageParams("stream"))
	for stream.Next() {
	}
	_ = stream.Close()

	for _, c := range []struct {
		path, key string
		status    int
	}{
		{"/admin/keys", admin, 200},
		{"/admin/keys/team-a/usage", admin, 200},
		{"/admin/keys/nobody/usage", admin, 404},
		{"/admin/keys", a, 401},
		{"/admin/keys", "", 401},
		{"/admin/keys/team-b/usage", wrongKey, 401},
	} {
		status, body := g.getWithKey(t, c.path, c.key)
		if status != c.status {
			t.Errorf("GET %s: status %d, want %d: %s", c.path, status, c.status, body)
		}
		for _, secret := range []string{a, b, admin, access.HashKey(a), access.HashKey(b), access.HashKey(admin)} {
			if strings.Contains(string(body), secret) {
				t.Errorf("GET %s answers with a key or its hash", c.path)
			}
		}
	}

	metrics := g.metricsText(t)
	logs := g.logs.String()
	if !strings.Contains(logs, `"key":"team-a"`) && !strings.Contains(logs, "team-a") {
		t.Error("the logs never name the key: the capture is not working")
	}
	secrets := map[string]string{"upstream API key": upstreamKey, "wrong key": wrongKey}
	for name, plain := range keys.plain {
		secrets[name+" key"] = plain
		secrets[name+" key SHA-256"] = access.HashKey(plain)
		secrets[name+" key SHA-256 upper-case"] = strings.ToUpper(access.HashKey(plain))
	}
	secrets["wrong key SHA-256"] = access.HashKey(wrongKey)
	secrets["upstream key SHA-256"] = access.HashKey(upstreamKey)
	for name, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
		if strings.Contains(metrics, secret) {
			t.Errorf("/metrics contains the %s", name)
		}
		// A prefix long enough to identify the secret counts as a leak too.
		if frag := secret[:24]; strings.Contains(logs, frag) || strings.Contains(metrics, frag) {
			t.Errorf("the logs or metrics contain the start of the %s", name)
		}
	}
}

// TestAccessAbortedStreamChargedForWhatWasProduced cancels a slow stream
// mid-way and checks the key is charged once, for what the worker reported,
// which is less than the whole answer.
func TestAccessAbortedStreamChargedForWhatWasProduced(t *testing.T) {
	keys := newTestKeys(t, "streamer")
	g := startGateway(t, mock.Config{Chunks: 40, ChunkGap: 25 * time.Millisecond},
		accessTOML("closed", keyTOML("streamer", "quota_tokens = 1000000", `quota_period = "day"`)), keys.env)
	admin, key := keys.plain["admin"], keys.plain["streamer"]
	client := g.anthropicAs("", key, xAPIKey)
	const input = `gateway_key_tokens_total{key_name="streamer",kind="input",model="other"}`
	const output = `gateway_key_tokens_total{key_name="streamer",kind="output",model="other"}`
	charged := func() (quota int64, in, out float64) {
		text := g.metricsText(t)
		return g.periodTokens(t, admin, "streamer"), accessSeries(t, text, input), accessSeries(t, text, output)
	}

	// The whole answer, for reference.
	stream := client.Messages.NewStreaming(context.Background(), messageParams("tell me a long story"))
	msg := accumulateMessage(t, stream)
	full := msg.Usage.InputTokens + msg.Usage.OutputTokens
	eventually(t, 5*time.Second, func() error {
		if q, _, _ := charged(); q != full {
			return fmt.Errorf("charged %d for the whole answer, want %d", q, full)
		}
		return nil
	})
	q0, in0, out0 := charged()

	// The same request, abandoned after a few events.
	ctx, cancel := context.WithCancel(context.Background())
	stream = client.Messages.NewStreaming(ctx, messageParams("tell me a long story"))
	events := 0
	for stream.Next() {
		if events++; events == 5 {
			cancel()
			break
		}
	}
	_ = stream.Close()
	cancel()
	if events < 5 {
		t.Fatalf("the stream ended after %d events: %v", events, stream.Err())
	}
	// The worker's report of what it produced settles the request.
	eventually(t, 10*time.Second, func() error {
		if _, in, _ := charged(); in <= in0 {
			return errors.New("the aborted request is not settled yet")
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		if gone := g.mock.Stats().ClientGone; gone < 1 {
			return errors.New("the upstream call was not abandoned")
		}
		return nil
	})
	q1, in1, out1 := charged()
	reported := int64(in1-in0) + int64(out1-out0)
	aborted := q1 - q0
	t.Logf("whole answer %d tokens; aborted one charged %d, reported %d", full, aborted, reported)
	if aborted <= 0 || aborted >= full {
		t.Errorf("aborted stream charged %d tokens, want more than 0 and less than the whole answer's %d", aborted, full)
	}
	if aborted != reported {
		t.Errorf("aborted stream charged %d tokens to the quota but %d were reported", aborted, reported)
	}
	// Nothing more arrives later: one more request is charged on its own.
	before := q1
	if a := g.sdkCall(dialectAnthropic, "", key, xAPIKey, "claude-sonnet-4-5"); a.status != 200 {
		t.Fatalf("status %d %v", a.status, a.err)
	}
	q2, in2, out2 := charged()
	if q2-before != int64(in2-in1)+int64(out2-out1) {
		t.Errorf("after the abort, a request changed the quota by %d but reported %v tokens", q2-before, (in2-in1)+(out2-out1))
	}
}
