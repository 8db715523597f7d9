package workers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
)

func TestConfiguredModels(t *testing.T) {
	u := config.Upstream{Name: "openai", DefaultModel: "fast", ModelMap: map[string]string{"fast": "gpt-4o-mini", "smart": "gpt-4o"}}
	routes := []config.Route{
		{Path: "/v1/chat/completions", Upstream: "openai", ModelMap: map[string]string{"cheap": "gpt-4.1-nano"}},
		{Path: "/v1/messages", Upstream: "anthropic", DefaultModel: "claude-haiku-4-5"},
		{Path: "/mini/v1/chat/completions", Upstream: "openai", DefaultModel: "o4-mini"},
	}
	got := map[string]bool{}
	for _, m := range configuredModels(u, routes) {
		got[m] = true
	}
	for _, want := range []string{"gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "o4-mini"} {
		if !got[want] {
			t.Errorf("configured models %v lack %s", got, want)
		}
	}
	for _, not := range []string{"fast", "smart", "cheap", "claude-haiku-4-5", ""} {
		if got[not] {
			t.Errorf("configured models %v include %q, which is never sent to this upstream", got, not)
		}
	}
}

func TestTokenCounters(t *testing.T) {
	vec := newTokensVec()
	u := config.Upstream{Name: "openai", DefaultModel: "gpt-4o-mini"}
	tc := newTokenCounters(vec, u, nil)

	// Known names exist at zero before any answer.
	if n := testutil.CollectAndCount(vec); n != 3 {
		t.Fatalf("%d series before traffic, want 3 (one model, three kinds)", n)
	}
	tc.add("gpt-4o", converter.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 60})
	tc.add("gpt-4o", converter.Usage{InputTokens: 10, OutputTokens: 2})
	tc.add("gpt-4o", converter.Usage{}) // an answer without usage adds nothing
	tests := []struct {
		model, kind string
		want        float64
	}{
		{"gpt-4o", tokensInput, 110},
		{"gpt-4o", tokensOutput, 22},
		{"gpt-4o", tokensCached, 60},
		{"gpt-4o-mini", tokensInput, 0},
	}
	for _, tt := range tests {
		if got := testutil.ToFloat64(vec.WithLabelValues("openai", tt.model, tt.kind)); got != tt.want {
			t.Errorf("%s %s = %v, want %v", tt.model, tt.kind, got, tt.want)
		}
	}

	// A flood of invented names stays within the bound.
	for i := range 3 * maxModelLabels {
		tc.add(fmt.Sprintf("made-up-%d", i), converter.Usage{InputTokens: 1, OutputTokens: 1})
	}
	tc.add(strings.Repeat("x", maxModelLabelLen+1), converter.Usage{InputTokens: 1})
	tc.add("\xff\xfe", converter.Usage{InputTokens: 1})
	if n := testutil.CollectAndCount(vec); n > 3*(maxModelLabels+1) {
		t.Errorf("%d series after a flood of model names, want at most %d", n, 3*(maxModelLabels+1))
	}
	overflow := testutil.ToFloat64(vec.WithLabelValues("openai", overflowModel, tokensInput))
	// 64 slots: two used by gpt-4o-mini and gpt-4o, 62 by made-up names.
	if want := float64(3*maxModelLabels-(maxModelLabels-2)) + 2; overflow != want {
		t.Errorf("overflow input tokens = %v, want %v", overflow, want)
	}
}
