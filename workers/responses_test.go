package workers

import (
	"testing"

	"github.com/aigateway/gateway/config"
)

func TestServesResponses(t *testing.T) {
	tests := []struct {
		name   string
		routes []config.Route
		want   bool
	}{
		{"a Responses route", []config.Route{{Path: "/r", InputFormat: "openai-responses"}}, true},
		{"a Chat route, beside which /responses is served", []config.Route{{Path: "/v1/chat/completions", InputFormat: "openai-chat"}}, true},
		{"a Chat route at another path", []config.Route{{Path: "/chat", InputFormat: "openai-chat"}}, false},
		{"Anthropic routes only", []config.Route{{Path: "/v1/messages", InputFormat: "anthropic"}}, false},
		{"no routes", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := servesResponses(config.Config{Routes: tt.routes}); got != tt.want {
				t.Errorf("servesResponses = %v, want %v", got, tt.want)
			}
		})
	}
}
