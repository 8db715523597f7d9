package app

import (
	"context"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// seriesValue returns the value of the counter name with exactly these
// labels, and whether the series exists at all.
func seriesValue(t testing.TB, a *App, name string, labels ...string) (float64, bool) {
	t.Helper()
	families, err := a.Registry().Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == len(labels)/2 && hasLabels(m, labels) {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestTokensCountedWithoutAccessControl checks that gateway_tokens_total
// counts the tokens of every answer by upstream and the real model name,
// with access control off, and that configured model names are exported
// at zero before any traffic.
func TestTokensCountedWithoutAccessControl(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", map[string]string{
		"GATEWAY_UPSTREAMS_ANTHROPIC_DEFAULT_MODEL": "claude-default",
	})
	tokens := func(upstream, model, kind string) (float64, bool) {
		return seriesValue(t, g.app, "gateway_tokens_total", "upstream", upstream, "model", model, "kind", kind)
	}
	for _, kind := range []string{"input", "output", "cached"} {
		if v, ok := tokens("anthropic", "claude-default", kind); !ok || v != 0 {
			t.Errorf("configured model before traffic: gateway_tokens_total{kind=%q} = %v (exists %v), want 0", kind, v, ok)
		}
	}

	ctx := context.Background()
	oa := openai.NewClient(option.WithBaseURL(g.url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	chat, err := oa.Chat.Completions.New(ctx, chatParams("count my tokens"))
	if err != nil {
		t.Fatal(err)
	}
	stream := oa.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "gpt-4o-mini",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("and a stream")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var streamed openai.CompletionUsage
	for stream.Next() {
		if u := stream.Current().Usage; u.TotalTokens > 0 {
			streamed = u
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	an := anthropic.NewClient(anthropicoption.WithBaseURL(g.url), anthropicoption.WithAPIKey("unused"), anthropicoption.WithMaxRetries(0))
	msg, err := an.Messages.New(ctx, messageParams("and through the other API"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name            string
		upstream, model string
		input, output   int64
	}{
		{"openai answer", "openai", chat.Model, chat.Usage.PromptTokens, chat.Usage.CompletionTokens},
		{"openai stream", "openai", "gpt-4o-mini", streamed.PromptTokens, streamed.CompletionTokens},
		{"anthropic answer", "anthropic", string(msg.Model),
			msg.Usage.InputTokens + msg.Usage.CacheReadInputTokens + msg.Usage.CacheCreationInputTokens, msg.Usage.OutputTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.input <= 0 || tt.output <= 0 {
				t.Fatalf("the client saw no usage: input %d output %d", tt.input, tt.output)
			}
			in, ok := tokens(tt.upstream, tt.model, "input")
			if !ok || in != float64(tt.input) {
				t.Errorf("input tokens of %s/%s = %v (exists %v), want %d", tt.upstream, tt.model, in, ok, tt.input)
			}
			out, _ := tokens(tt.upstream, tt.model, "output")
			if out != float64(tt.output) {
				t.Errorf("output tokens of %s/%s = %v, want %d", tt.upstream, tt.model, out, tt.output)
			}
		})
	}
	for _, model := range []string{"other", ""} {
		if v, ok := tokens("openai", model, "input"); ok {
			t.Errorf("tokens counted under model %q (%v): the real name is known", model, v)
		}
	}
}

// tokenSum adds up every gateway_tokens_total series of kind in a's registry.
func tokenSum(t testing.TB, a *App, kind string) float64 {
	t.Helper()
	families, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != "gateway_tokens_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, []string{"kind", kind}) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestTokensCountedOnceInSplitMode checks that with ingress and worker in
// separate processes the tokens of an answer are counted once, by the
// worker that called the upstream.
func TestTokensCountedOnceInSplitMode(t *testing.T) {
	// A JetStream cluster needs a quorum of servers.
	nodes := startNATSCluster(t, 3)
	m := startMock(t, mock.DefaultConfig())
	env := map[string]string{
		"GATEWAY_BUS_MODE":     "external",
		"GATEWAY_BUS_URL":      clusterURL(nodes),
		"GATEWAY_BUS_REPLICAS": "1",
	}
	worker := startProc(t, ModeWorker, m.URL(), m.URL(), "", env)
	ingress := startProc(t, ModeIngress, m.URL(), m.URL(), "", env)

	oa := openai.NewClient(option.WithBaseURL(ingress.url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	chat, err := oa.Chat.Completions.New(context.Background(), chatParams("count me once"))
	if err != nil {
		t.Fatal(err)
	}
	if in := tokenSum(t, worker.app, "input"); in != float64(chat.Usage.PromptTokens) || in == 0 {
		t.Errorf("worker counted %v input tokens, the client saw %d", in, chat.Usage.PromptTokens)
	}
	if in := tokenSum(t, ingress.app, "input"); in != 0 {
		t.Errorf("the ingress counted %v input tokens too: one answer counted twice across processes", in)
	}
}
