package app

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/converter/jsonx"
)

// healthReport is the body of GET /health.
type healthReport struct {
	Status string `json:"status"`
	Checks []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

// getHealth fetches one of the health endpoints.
func getHealth(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// failingCheck returns the named check when it fails, from a /health body.
func failingCheck(t testing.TB, body []byte, name string) (string, bool) {
	t.Helper()
	var h healthReport
	if err := jsonx.Unmarshal(body, &h); err != nil {
		t.Fatalf("health report %s: %v", body, err)
	}
	for _, c := range h.Checks {
		if c.Name == name {
			return c.Error, !c.OK
		}
	}
	t.Fatalf("health report has no check %q: %s", name, body)
	return "", false
}

// TestWorkerThatCannotServeSaysWhy starts a worker that asks a single NATS
// server for replicated queues, which it can never place. The worker says
// why at once at error level, exports zero capacity and is unhealthy, while
// it stays alive.
func TestWorkerThatCannotServeSaysWhy(t *testing.T) {
	node := startNATSNode(t)
	env := map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": node.url(), "GATEWAY_BUS_REPLICAS": "3"}
	w := startProc(t, ModeWorker, "http://127.0.0.1:1", "http://127.0.0.1:1", "", env)

	eventually(t, 5*time.Second, func() error {
		for _, line := range strings.Split(w.logs.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "queue openai") &&
				strings.Contains(line, "replicas") {
				return nil
			}
		}
		return fmt.Errorf("no error line says why the queue cannot be created")
	})
	if c := gatheredValue(t, w.app, "gateway_worker_capacity", "upstream", "openai"); c != 0 {
		t.Errorf("gateway_worker_capacity = %v, want 0", c)
	}
	status, body := getHealth(t, w.url+"/health")
	if status != http.StatusServiceUnavailable {
		t.Errorf("/health: %d %s, want 503", status, body)
	}
	if why, failing := failingCheck(t, body, "worker queue openai"); !failing || !strings.Contains(why, "replicas") {
		t.Errorf("queue check: failing %v, error %q", failing, why)
	}
	if status, body := getHealth(t, w.url+"/health/ready"); status != http.StatusServiceUnavailable {
		t.Errorf("/health/ready: %d %s, want 503", status, body)
	}
	if status, body := getHealth(t, w.url+"/health/live"); status != http.StatusOK {
		t.Errorf("/health/live: %d %s, want 200", status, body)
	}
}

// TestHealthFollowsTheBus stops the NATS server under an ingress and a
// worker: both stay alive but not ready, and are ready again once the
// server is back and the queues are recreated.
func TestHealthFollowsTheBus(t *testing.T) {
	node := startNATSNode(t)
	m := startMock(t, mock.DefaultConfig())
	env := map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": node.url()}
	w := startProc(t, ModeWorker, m.URL(), m.URL(), "", env)
	in := startProc(t, ModeIngress, m.URL(), m.URL(), "", env)

	ready := func(want int) func() error {
		return func() error {
			for _, p := range []*proc{w, in} {
				if status, body := getHealth(t, p.url+"/health/ready"); status != want {
					return fmt.Errorf("%s: /health/ready %d %s, want %d", p.url, status, body, want)
				}
				if status, body := getHealth(t, p.url+"/health"); status != want {
					return fmt.Errorf("%s: /health %d %s, want %d", p.url, status, body, want)
				}
			}
			return nil
		}
	}
	eventually(t, 5*time.Second, ready(http.StatusOK))
	status, body := getHealth(t, in.url+"/health")
	for _, name := range []string{"bus", "queue openai", "queue anthropic", "workers openai", "workers anthropic"} {
		if why, failing := failingCheck(t, body, name); failing {
			t.Errorf("ingress check %s fails: %s (%d)", name, why, status)
		}
	}

	node.stop()
	eventually(t, 5*time.Second, ready(http.StatusServiceUnavailable))
	for _, p := range []*proc{w, in} {
		if status, body := getHealth(t, p.url+"/health/live"); status != http.StatusOK {
			t.Errorf("/health/live with NATS down: %d %s", status, body)
		}
	}
	node.start()
	eventually(t, 10*time.Second, ready(http.StatusOK))
}

// TestRefusalsDoNotFloodTheLog cuts the ingress's bus connection and sends
// a burst of requests, each refused because it cannot be queued: the log
// keeps a few of the identical error lines and counts the rest.
func TestRefusalsDoNotFloodTheLog(t *testing.T) {
	m := startMock(t, mock.DefaultConfig())
	// In one process the workers would still serve: their replies and
	// offers do not go through NATS.
	_, p := startSplit(t, m.URL(), map[string]string{})
	g := &gateway{t: t, url: p.url, app: p.app, mock: m, logs: p.logs}
	cutBus(t, p.app, "ingress")
	const requests = 100
	refused := 0
	for range requests {
		resp, _ := g.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused < requests/2 {
		t.Fatalf("only %d of %d requests refused", refused, requests)
	}
	lines := strings.Count(g.logs.String(), `"msg":"publishing request failed"`)
	if lines > 10 {
		t.Errorf("%d error lines for %d refused requests", lines, refused)
	}
	suppressed := gatheredValue(t, p.app, "gateway_log_lines_suppressed_total", "level", "ERROR")
	if int(suppressed)+lines < refused {
		t.Errorf("%d lines logged and %v counted as suppressed for %d refusals", lines, suppressed, refused)
	}
	t.Logf("%d refusals: %d lines logged, %v suppressed", refused, lines, suppressed)
}
