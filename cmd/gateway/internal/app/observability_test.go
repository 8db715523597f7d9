package app

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/deploy"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// scrape returns the metric families a running gateway exports.
func (g *gateway) scrape() map[string]bool {
	g.t.Helper()
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		g.t.Fatalf("parsing /metrics: %v", err)
	}
	names := make(map[string]bool, len(families))
	for name, f := range families {
		if len(f.GetMetric()) > 0 {
			names[name] = true
		}
	}
	return names
}

const metricsAccessTOML = `
[access]
enabled = true
store_failure = "closed"

[[access.keys]]
name = "team-a"
key_env = "TEAM_A_KEY"
requests_per_minute = 1000
tokens_per_minute = 1000000
quota_tokens = 100000000
`

// TestDashboardAndAlertMetricsAreExported checks that every metric of the
// deployment contract is one a running gateway really exports, after
// ordinary traffic. That the shipped Grafana dashboard and Prometheus rules
// query only contract metrics is checked by the deploy package's tests
// (TestReferencedMetricsAreExported): together, every metric they query is
// exported.
func TestDashboardAndAlertMetricsAreExported(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), metricsAccessTOML, map[string]string{"TEAM_A_KEY": "sk-team-a-secret"})
	ctx := context.Background()
	oa := openai.NewClient(option.WithBaseURL(g.url+"/v1/"), option.WithAPIKey("sk-team-a-secret"), option.WithMaxRetries(0))
	if _, err := oa.Chat.Completions.New(ctx, chatParams("metrics please")); err != nil {
		t.Fatal(err)
	}
	stream := oa.Chat.Completions.NewStreaming(ctx, chatParams("and a stream"))
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}

	exported := g.scrape()
	names := deploy.GatewayMetricNames()
	if len(names) < 10 {
		t.Fatalf("only %d metrics in the contract", len(names))
	}
	for _, name := range names {
		if !exported[name] {
			t.Errorf("contract metric %s is not exported", name)
		}
	}
}

// TestAccessLogAndRequestID checks the request id round trip and the one
// access-log line per request.
func TestAccessLogAndRequestID(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)

	resp, _ := g.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
		"X-Request-Id", "client-chosen-id-42")
	if got := resp.Header.Get("X-Request-Id"); got != "client-chosen-id-42" {
		t.Errorf("X-Request-Id = %q, want the client's", got)
	}
	resp, _ = g.post("/v1/messages", `{"model":"claude","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	generated := resp.Header.Get("X-Request-Id")
	if !strings.HasPrefix(generated, "req_") {
		t.Errorf("generated X-Request-Id = %q", generated)
	}
	resp, _ = g.post("/v1/chat/completions", `{"model":`)
	refused := resp.Header.Get("X-Request-Id")

	lines := map[string]map[string]any{}
	scanner := bufio.NewScanner(strings.NewReader(g.logs.String()))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var line map[string]any
		if err := jsonx.Unmarshal(scanner.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", scanner.Text())
		}
		if line["msg"] != "request" {
			continue
		}
		id, _ := line["request_id"].(string)
		if _, dup := lines[id]; dup {
			t.Errorf("two access-log lines for %s", id)
		}
		lines[id] = line
	}
	for _, tc := range []struct {
		id     string
		status float64
		stream bool
	}{
		{"client-chosen-id-42", 200, false},
		{generated, 200, true},
	} {
		line, ok := lines[tc.id]
		if !ok {
			t.Errorf("no access-log line for %s", tc.id)
			continue
		}
		for _, key := range []string{"route", "upstream", "model", "status", "queue_wait_ms", "ttfb_ms", "duration_ms", "input_tokens", "output_tokens", "cached_tokens"} {
			if _, ok := line[key]; !ok {
				t.Errorf("access-log line for %s lacks %s: %v", tc.id, key, line)
			}
		}
		if line["status"] != tc.status || line["stream"] != tc.stream || line["output_tokens"].(float64) <= 0 {
			t.Errorf("access-log line %v", line)
		}
	}
	if line, ok := lines[refused]; !ok || line["status"] != float64(400) || line["error"] == nil {
		t.Errorf("refused request's access-log line: %v", line)
	}
}
