package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/converter/jsonx"
)

// circuitTOML opens a circuit after two failures in a row, for two seconds.
const circuitTOML = `
[breaker]
enabled = true
consecutive_failures = 2
open_for = "2s"
`

// TestCircuitOpensAndCloses fails the upstream until the circuit of its
// target opens: the next requests get 503 at once in the client's format,
// naming the upstream, with Retry-After, and never reach the upstream; the
// process stays ready and /health shows the circuit. Once the upstream is
// back and open_for is over, one probe closes the circuit.
func TestCircuitOpensAndCloses(t *testing.T) {
	g := startGateway(t, mock.Config{ErrorStatus: http.StatusInternalServerError}, circuitTOML, nil)
	ctx := context.Background()
	for i := range 2 {
		_, err := g.openAI("").Chat.Completions.New(ctx, chatParams(fmt.Sprintf("failing %d", i)))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusInternalServerError {
			t.Fatalf("call %d: %v, want the upstream's 500", i, err)
		}
	}
	calls := g.mock.Stats().Requests

	resp, body := g.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"refused"}]}`)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("open circuit: %d %s", resp.StatusCode, body)
	}
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 2 {
		t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	var oe struct {
		Error struct{ Message, Type, Code string }
	}
	if err := jsonx.Unmarshal(body, &oe); err != nil || oe.Error.Type != "server_error" || !strings.Contains(oe.Error.Message, "upstream openai") {
		t.Errorf("open circuit body %s", body)
	}
	// The Anthropic-format route to the same upstream and model is the
	// same target: refused in Anthropic's shape.
	resp, body = g.post("/x-openai/v1/messages", `{"model":"gpt-4o","max_tokens":10,"messages":[{"role":"user","content":"refused"}]}`,
		"anthropic-version", "2023-06-01")
	var ae struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if resp.StatusCode != http.StatusServiceUnavailable || jsonx.Unmarshal(body, &ae) != nil || ae.Type != "error" || !strings.Contains(ae.Error.Message, "upstream openai") {
		t.Errorf("open circuit, Anthropic client: %d %s", resp.StatusCode, body)
	}
	if got := g.mock.Stats().Requests; got != calls {
		t.Errorf("the upstream got %d calls through an open circuit", got-calls)
	}
	// Another model of the same upstream is another target.
	if _, err := g.openAI("").Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "other-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	}); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("another target: %v, want the upstream's own 500", err)
	}

	if v := gatheredValue(t, g.app, "gateway_circuit_state", "target", "openai/gpt-4o"); v != 1 {
		t.Errorf("gateway_circuit_state = %v, want 1 (open)", v)
	}
	if v := gatheredValue(t, g.app, "gateway_circuit_transitions_total", "target", "openai/gpt-4o", "to", "open"); v != 1 {
		t.Errorf("transitions to open = %v", v)
	}
	health := getJSON(t, g.url+"/health")
	if health.status != http.StatusOK || !strings.Contains(health.body, `"target":"openai/gpt-4o","state":"open"`) {
		t.Errorf("/health with an open circuit: %d %s", health.status, health.body)
	}
	if ready := getJSON(t, g.url+"/health/ready"); ready.status != http.StatusOK {
		t.Errorf("/health/ready with an open circuit: %d %s", ready.status, ready.body)
	}

	g.mock.SetConfig(mock.DefaultConfig())
	eventually(t, 10*time.Second, func() error {
		_, err := g.openAI("").Chat.Completions.New(ctx, chatParams("back"))
		return err
	})
	if v := gatheredValue(t, g.app, "gateway_circuit_state", "target", "openai/gpt-4o"); v != 0 {
		t.Errorf("gateway_circuit_state after the probe = %v, want 0 (closed)", v)
	}
	for _, to := range []string{"half-open", "closed"} {
		if v := gatheredValue(t, g.app, "gateway_circuit_transitions_total", "target", "openai/gpt-4o", "to", to); v != 1 {
			t.Errorf("transitions to %s = %v, want 1", to, v)
		}
	}
}

// TestCircuitSharedAcrossIngresses opens a circuit through one ingress and
// checks that a second ingress on the same NATS refuses that target too,
// without ever having seen it fail; and that it closes on both.
func TestCircuitSharedAcrossIngresses(t *testing.T) {
	m := startMock(t, mock.Config{ErrorStatus: http.StatusBadGateway})
	hub := startProc(t, ModeAll, m.URL(), m.URL(), circuitTOML, map[string]string{"GATEWAY_BUS_LISTEN": "127.0.0.1:0"})
	edge := startProc(t, ModeIngress, m.URL(), m.URL(), circuitTOML, map[string]string{
		"GATEWAY_BUS_MODE": "external",
		"GATEWAY_BUS_URL":  hub.app.NATSURL(),
	})
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	for range 2 {
		if resp, data := hub.post("/v1/chat/completions", body); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("failing call: %d %s", resp.StatusCode, data)
		}
	}
	calls := m.Stats().Requests
	eventually(t, 5*time.Second, func() error {
		if v := gatheredValue(t, edge.app, "gateway_circuit_state", "target", "openai/gpt-4o"); v != 1 {
			return fmt.Errorf("the other ingress's circuit state is %v", v)
		}
		return nil
	})
	resp, data := edge.post("/v1/chat/completions", body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("other ingress, open circuit: %d %s", resp.StatusCode, data)
	}
	if got := m.Stats().Requests; got != calls {
		t.Errorf("the upstream got %d calls through the other ingress's open circuit", got-calls)
	}

	m.SetConfig(mock.DefaultConfig())
	eventually(t, 10*time.Second, func() error {
		if resp, data := hub.post("/v1/chat/completions", body); resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%d %s", resp.StatusCode, data)
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		if v := gatheredValue(t, edge.app, "gateway_circuit_state", "target", "openai/gpt-4o"); v != 0 {
			return fmt.Errorf("the other ingress's circuit state is %v", v)
		}
		return nil
	})
}

type httpAnswer struct {
	status int
	body   string
}

func getJSON(t *testing.T, url string) httpAnswer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpAnswer{status: resp.StatusCode, body: string(data)}
}

// TestCircuitModelRoutingPassesOver opens the circuit of a model's first
// target through the fallback: later requests go to the second target at
// once, without calling the first. When every target's circuit is open the
// request is still attempted (routing's rule), and the client gets the
// upstream's own error rather than the gateway's 503.
func TestCircuitModelRoutingPassesOver(t *testing.T) {
	g := startRouted(t, routedOptions{
		mocks:  map[string]mock.Config{"openai": {ErrorStatus: http.StatusInternalServerError}},
		models: fallbackModels + circuitTOML,
	})
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	for i := range 3 {
		resp, data := g.post("/m/v1/chat/completions", body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("X-Gateway-Upstream"), "openai-b/") {
			t.Fatalf("call %d: %d %s, served by %q", i, resp.StatusCode, data, resp.Header.Get("X-Gateway-Upstream"))
		}
	}
	if got := g.mocks["openai"].Stats().Requests; got != 2 {
		t.Errorf("the first target got %d calls, want 2: its circuit opened after two failures", got)
	}
	if v := gatheredValue(t, g.app, "gateway_circuit_state", "target", "openai/gpt-4o-2024-08-06"); v != 1 {
		t.Errorf("gateway_circuit_state of the first target = %v, want 1 (open)", v)
	}

	g.mocks["openai-b"].SetConfig(mock.Config{ErrorStatus: http.StatusInternalServerError})
	eventually(t, 5*time.Second, func() error {
		g.post("/m/v1/chat/completions", body)
		if v := gatheredValue(t, g.app, "gateway_circuit_state", "target", "openai-b/gpt-4o-b"); v != 1 {
			return fmt.Errorf("the second target's circuit state is %v", v)
		}
		return nil
	})
	before := g.mocks["openai"].Stats().Requests + g.mocks["openai-b"].Stats().Requests
	resp, data := g.post("/m/v1/chat/completions", body)
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(data), "circuit breaker") {
		t.Errorf("every circuit open: %d %s, want the upstream's own 500", resp.StatusCode, data)
	}
	if after := g.mocks["openai"].Stats().Requests + g.mocks["openai-b"].Stats().Requests; after == before {
		t.Error("with every circuit open the request reached no target")
	}
}
