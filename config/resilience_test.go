package config

import (
	"strings"
	"testing"
)

const resilienceBase = `
[[upstreams]]
name = "openai"
url = "https://api.openai.com"
format = "openai-chat"
`

func TestBreakerAndKeyPoolSettings(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		env   map[string]string
		check func(t *testing.T, c Config)
		// errs are the messages expected, in order; none means valid.
		errs []string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c Config) {
				if c.Breaker != DefaultBreaker() || c.Upstreams[0].KeyPolicy != KeyPolicyRotate {
					t.Errorf("breaker %+v, key policy %q", c.Breaker, c.Upstreams[0].KeyPolicy)
				}
			},
		},
		{
			name:  "override laid over [breaker]",
			extra: "[upstreams.breaker]\nconsecutive_failures = 2\n\n[breaker]\nenabled = true\nopen_for = \"10s\"\n",
			check: func(t *testing.T, c Config) {
				b := c.Breaker.For(c.Upstreams[0])
				if !b.Enabled || b.ConsecutiveFailures != 2 || b.OpenFor.Duration.String() != "10s" || b.ErrorRate != 0.5 {
					t.Errorf("effective breaker %+v", b)
				}
			},
		},
		{
			name: "error rate from the environment",
			env:  map[string]string{"GATEWAY_BREAKER_ERROR_RATE": "0.25"},
			check: func(t *testing.T, c Config) {
				if c.Breaker.ErrorRate != 0.25 {
					t.Errorf("error rate %v", c.Breaker.ErrorRate)
				}
			},
		},
		{
			name:  "bad breaker values",
			extra: "[breaker]\nerror_rate = 1.5\nconsecutive_failures = -1\nopen_for = \"-1s\"\n",
			errs: []string{
				"t.toml:7: breaker.error_rate: invalid value: 1.5 is outside 0-1",
				"t.toml:8: breaker.consecutive_failures: invalid value: must not be negative",
				"t.toml:9: breaker.open_for: invalid value: must be a positive duration",
			},
		},
		{
			name:  "key pool from the environment",
			extra: "api_key_envs = [\"KEY_A\", \"KEY_B\"]\nkey_policy = \"headroom\"\n",
			env:   map[string]string{"GATEWAY_UPSTREAMS_OPENAI_API_KEY": "sk-main", "KEY_A": "sk-a"},
			check: func(t *testing.T, c Config) {
				u := c.Upstreams[0]
				want := []UpstreamKey{{"GATEWAY_UPSTREAMS_OPENAI_API_KEY", "sk-main"}, {"KEY_A", "sk-a"}, {"KEY_B", ""}}
				if len(u.Keys) != 3 || u.Keys[0] != want[0] || u.Keys[1] != want[1] || u.Keys[2] != want[2] {
					t.Errorf("keys %+v", u.Keys)
				}
				for _, k := range c.Redacted().Upstreams[0].Keys {
					if strings.HasPrefix(k.Value, "sk-") {
						t.Errorf("Redacted shows a key of %s", k.Env)
					}
				}
				if c.Upstreams[0].Keys[1].Value != "sk-a" {
					t.Error("Redacted changed the original")
				}
			},
		},
		{
			name:  "bad key pool",
			extra: "api_key_envs = [\"KEY_A\", \"1BAD\", \"KEY_A\"]\nkey_policy = \"random\"\n",
			errs: []string{
				"t.toml:6: upstreams[0].api_key_envs[1]: invalid value: \"1BAD\" is not an environment variable name",
				"t.toml:6: upstreams[0].api_key_envs[2]: invalid value: KEY_A is already api_key_envs[0]",
				"t.toml:7: upstreams[0].key_policy: invalid value: \"random\" is not one of rotate, headroom",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.toml", []byte(resilienceBase+tc.extra), env(tc.env))
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, c)
				return
			}
			fes := fieldErrors(t, err)
			if len(fes) != len(tc.errs) {
				t.Fatalf("got %d problems, want %d: %v", len(fes), len(tc.errs), err)
			}
			for i, want := range tc.errs {
				if !strings.HasPrefix(fes[i].Error(), want) {
					t.Errorf("problem %d = %q, want it to start with %q", i, fes[i].Error(), want)
				}
			}
		})
	}
}
