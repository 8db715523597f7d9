package config

import (
	"slices"
	"testing"

	"github.com/aigateway/gateway/converter/format"
)

func TestEndpointPaths(t *testing.T) {
	tests := []struct {
		name        string
		route       Route
		base        string
		countTokens string
		embeddings  string
	}{
		{"openai", Route{Path: "/v1/chat/completions", InputFormat: format.OpenAIChat}, "/v1", "", "/v1/embeddings"},
		{"anthropic", Route{Path: "/v1/messages", InputFormat: format.Anthropic}, "/v1", "/v1/messages/count_tokens", ""},
		{"prefixed", Route{Path: "/openai/v1/messages", InputFormat: format.Anthropic}, "/openai/v1", "/openai/v1/messages/count_tokens", ""},
		{"other path", Route{Path: "/chat", InputFormat: format.OpenAIChat}, "", "", ""},
		{"wrong format suffix", Route{Path: "/v1/messages", InputFormat: format.OpenAIChat}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, _ := tt.route.APIBase()
			count, _ := tt.route.EndpointPath(EndpointCountTokens)
			embed, _ := tt.route.EndpointPath(EndpointEmbeddings)
			if base != tt.base || count != tt.countTokens || embed != tt.embeddings {
				t.Errorf("base %q, count_tokens %q, embeddings %q; want %q, %q, %q", base, count, embed, tt.base, tt.countTokens, tt.embeddings)
			}
		})
	}
}

func TestClientModels(t *testing.T) {
	r := Route{ModelMap: map[string]string{"fast": "x", "shared": "y"}, DefaultModel: "smart"}
	u := Upstream{ModelMap: map[string]string{"shared": "z", "big": "w"}, DefaultModel: "smart"}
	want := []string{"big", "fast", "shared", "smart"}
	if got := r.ClientModels(u); !slices.Equal(got, want) {
		t.Errorf("ClientModels = %v, want %v", got, want)
	}
	if got := (Route{}).ClientModels(Upstream{}); len(got) != 0 {
		t.Errorf("ClientModels of nothing = %v", got)
	}
}
