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
		responses   string
	}{
		{"openai", Route{Path: "/v1/chat/completions", InputFormat: format.OpenAIChat}, "/v1", "", "/v1/embeddings", "/v1/responses"},
		{"responses", Route{Path: "/v1/responses", InputFormat: format.OpenAIResponses}, "/v1", "", "", ""},
		{"prefixed responses", Route{Path: "/x/v1/responses", InputFormat: format.OpenAIResponses}, "/x/v1", "", "", ""},
		{"anthropic", Route{Path: "/v1/messages", InputFormat: format.Anthropic}, "/v1", "/v1/messages/count_tokens", "", ""},
		{"prefixed", Route{Path: "/openai/v1/messages", InputFormat: format.Anthropic}, "/openai/v1", "/openai/v1/messages/count_tokens", "", ""},
		{"other path", Route{Path: "/chat", InputFormat: format.OpenAIChat}, "", "", "", ""},
		{"wrong format suffix", Route{Path: "/v1/messages", InputFormat: format.OpenAIChat}, "", "", "", ""},
		{"responses path of a chat route", Route{Path: "/v1/responses", InputFormat: format.OpenAIChat}, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, _ := tt.route.APIBase()
			count, _ := tt.route.EndpointPath(EndpointCountTokens)
			embed, _ := tt.route.EndpointPath(EndpointEmbeddings)
			resp, _ := tt.route.EndpointPath(EndpointResponses)
			if base != tt.base || count != tt.countTokens || embed != tt.embeddings || resp != tt.responses {
				t.Errorf("base %q, count_tokens %q, embeddings %q, responses %q; want %q, %q, %q, %q",
					base, count, embed, resp, tt.base, tt.countTokens, tt.embeddings, tt.responses)
			}
			beside, ok := tt.route.Beside(EndpointResponses)
			if ok != (tt.responses != "") || ok && (beside.Path != tt.responses || beside.InputFormat != format.OpenAIResponses) {
				t.Errorf("Beside(responses) = %q %q, %v; want %q", beside.Path, beside.InputFormat, ok, tt.responses)
			}
			if _, ok := tt.route.Beside(EndpointEmbeddings); ok {
				t.Error("Beside(embeddings) reports a chat endpoint")
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
