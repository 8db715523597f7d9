package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/config"
)

const responsesBase = `
[[upstreams]]
name = "openai"
url = "https://api.openai.com"
format = "openai-chat"

[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"
upstream = "openai"
`

func TestResponsesSection(t *testing.T) {
	tests := []struct {
		name    string
		section string
		env     map[string]string
		want    config.Responses
		wantErr string
	}{
		{name: "defaults", want: config.DefaultResponses()},
		{
			name:    "off",
			section: "[responses]\nstore = false\n",
			want:    config.Responses{Store: false, StoreTTL: config.Duration{Duration: config.DefaultResponsesTTL}, MaxItemBytes: config.DefaultResponsesMaxItem},
		},
		{
			name:    "tuned",
			section: "[responses]\nstore_ttl = \"24h\"\nmax_item_bytes = 1048576\n",
			want:    config.Responses{Store: true, StoreTTL: config.Duration{Duration: 24 * time.Hour}, MaxItemBytes: 1 << 20},
		},
		{
			name: "from the environment",
			env:  map[string]string{"GATEWAY_RESPONSES_STORE": "false", "GATEWAY_RESPONSES_STORE_TTL": "1h"},
			want: config.Responses{Store: false, StoreTTL: config.Duration{Duration: time.Hour}, MaxItemBytes: config.DefaultResponsesMaxItem},
		},
		{name: "ttl under a second", section: "[responses]\nstore_ttl = \"10ms\"\n", wantErr: "responses.store_ttl: invalid value: 10ms is below 1s"},
		{name: "negative ttl", section: "[responses]\nstore_ttl = \"-1h\"\n", wantErr: "responses.store_ttl: invalid value: must be a positive duration"},
		{name: "negative size", section: "[responses]\nmax_item_bytes = -1\n", wantErr: "responses.max_item_bytes: invalid value: must not be negative"},
		{
			name:    "the default size follows a smaller bus message",
			section: "[bus]\nmax_payload = 1048576\n",
			want:    config.Responses{Store: true, StoreTTL: config.Duration{Duration: config.DefaultResponsesTTL}, MaxItemBytes: 1<<20 - 64<<10},
		},
		{
			name:    "item larger than a bus message",
			section: "[bus]\nmax_payload = 1048576\n[responses]\nmax_item_bytes = 1048576\n",
			wantErr: "responses.max_item_bytes: invalid value: 1048576 does not fit in a bus message",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(name string) (string, bool) { v, ok := tt.env[name]; return v, ok }
			cfg, err := config.Parse("gateway.toml", []byte(responsesBase+tt.section), lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Responses != tt.want {
				t.Errorf("responses %+v, want %+v", cfg.Responses, tt.want)
			}
		})
	}
}
