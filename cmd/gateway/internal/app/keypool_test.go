package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// Provider keys of the pooled upstream, as the environment holds them.
const (
	pooledKeyA = "sk-pool-a-0123456789"
	pooledKeyB = "sk-pool-b-9876543210"
)

// pooledTOML adds an upstream with a key pool of two variables, routed at
// /pooled. policy is its key_policy.
func pooledTOML(url, policy string) string {
	return fmt.Sprintf(`
[[upstreams]]
name = "pooled"
url = %q
format = "openai-chat"
api_key_envs = ["POOL_KEY_A", "POOL_KEY_B"]
key_policy = %q

[[routes]]
path = "/pooled/v1/chat/completions"
input_format = "openai-chat"
upstream = "pooled"
`, url, policy)
}

func startPooled(t *testing.T, mockCfg mock.Config, policy string) *gateway {
	t.Helper()
	m := startMock(t, mockCfg)
	g := startGatewayAt(t, m.URL(), m.URL(), pooledTOML(m.URL(), policy), map[string]string{
		"POOL_KEY_A": pooledKeyA, "POOL_KEY_B": pooledKeyB,
	})
	g.mock = m
	return g
}

// noKeyText fails the test when a provider key shows in the logs, the
// metrics or any of the bodies.
func noKeyText(t *testing.T, g *gateway, bodies ...string) {
	t.Helper()
	texts := map[string]string{"logs": g.logs.String(), "metrics": g.metricsText(t)}
	for i, b := range bodies {
		texts[fmt.Sprintf("body %d", i)] = b
	}
	for where, text := range texts {
		for _, key := range []string{pooledKeyA, pooledKeyB} {
			if strings.Contains(text, key) {
				t.Errorf("the %s show a provider key", where)
			}
		}
	}
}

func TestKeyPoolRotates(t *testing.T) {
	g := startPooled(t, mock.DefaultConfig(), "rotate")
	ctx := context.Background()
	for i := range 10 {
		if _, err := g.openAI("/pooled").Chat.Completions.New(ctx, chatParams(fmt.Sprint("call ", i))); err != nil {
			t.Fatal(err)
		}
	}
	use := g.mock.KeyUse()
	if use[pooledKeyA] != 5 || use[pooledKeyB] != 5 {
		t.Errorf("calls by key: A %d, B %d; want 5 each", use[pooledKeyA], use[pooledKeyB])
	}
	if v := gatheredValue(t, g.app, "gateway_upstream_keys", "upstream", "pooled", "state", "active"); v != 2 {
		t.Errorf("active keys = %v", v)
	}
	noKeyText(t, g)
}

func TestKeyPoolHeadroom(t *testing.T) {
	g := startPooled(t, mock.Config{Chunks: 3, KeyRequestLimits: map[string]int{pooledKeyA: 1000, pooledKeyB: 5}}, "headroom")
	ctx := context.Background()
	for i := range 10 {
		if _, err := g.openAI("/pooled").Chat.Completions.New(ctx, chatParams(fmt.Sprint("call ", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Each key is tried once to learn its headroom; then the one with more
	// requests left takes the calls.
	use := g.mock.KeyUse()
	if use[pooledKeyA] != 9 || use[pooledKeyB] != 1 {
		t.Errorf("calls by key: A %d, B %d; want 9 and 1", use[pooledKeyA], use[pooledKeyB])
	}
}

func TestKeyPoolRevokedKey(t *testing.T) {
	g := startPooled(t, mock.Config{Chunks: 3, RevokedKeys: []string{pooledKeyB}}, "rotate")
	ctx := context.Background()
	for i := range 6 {
		if _, err := g.openAI("/pooled").Chat.Completions.New(ctx, chatParams(fmt.Sprint("call ", i))); err != nil {
			t.Fatalf("call %d: %v (the refused key's call should have been retried on the other key)", i, err)
		}
	}
	use := g.mock.KeyUse()
	if use[pooledKeyB] != 1 || use[pooledKeyA] != 6 {
		t.Errorf("calls by key: A %d, B %d; want 6 and 1 (B refused once, then out of the pool)", use[pooledKeyA], use[pooledKeyB])
	}
	if v := gatheredValue(t, g.app, "gateway_upstream_keys", "upstream", "pooled", "state", "revoked"); v != 1 {
		t.Errorf("revoked keys = %v", v)
	}
	if v := gatheredValue(t, g.app, "gateway_upstream_keys", "upstream", "pooled", "state", "active"); v != 1 {
		t.Errorf("active keys = %v", v)
	}
	if !strings.Contains(g.logs.String(), `"env":"POOL_KEY_B"`) {
		t.Errorf("no log line names the refused key's variable:\n%s", tail(g.logs.String(), 20))
	}
	noKeyText(t, g)
}

func TestKeyPoolAllRevoked(t *testing.T) {
	g := startPooled(t, mock.Config{Chunks: 3, RevokedKeys: []string{pooledKeyA, pooledKeyB}}, "rotate")
	var bodies []string
	for i := range 2 {
		resp, body := g.post("/pooled/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		bodies = append(bodies, string(body))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "upstream pooled has no usable API key") {
			t.Errorf("call %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// The SDK sees a 502, not the provider's 401 that would read as its
	// own key being wrong.
	_, err := g.openAI("/pooled").Chat.Completions.New(context.Background(), chatParams("sdk"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway {
		t.Errorf("SDK call: %v", err)
	}
	if use := g.mock.KeyUse(); use[pooledKeyA] != 1 || use[pooledKeyB] != 1 {
		t.Errorf("calls by key: %v; want one refusal each, then none", use)
	}
	if v := gatheredValue(t, g.app, "gateway_upstream_keys", "upstream", "pooled", "state", "revoked"); v != 2 {
		t.Errorf("revoked keys = %v", v)
	}
	noKeyText(t, g, bodies...)
}
