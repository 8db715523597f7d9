package config

import (
	"strings"
	"testing"
)

const modelsBase = `
[[upstreams]]
name = "openai"
url = "https://api.openai.com"
format = "openai-chat"

[[upstreams]]
name = "anthropic"
url = "https://api.anthropic.com"
format = "anthropic"

[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"
`

func TestModelsValidate(t *testing.T) {
	cases := []struct {
		name   string
		models string
		// want lists fragments of the error; none means valid.
		want []string
	}{
		{"valid", `
[[models]]
name = "claude-sonnet"
aliases = ["sonnet"]
policy = "least-busy"
retry_on = [429, 503]
[[models.targets]]
upstream = "anthropic"
model = "claude-sonnet-4-5"
first_token_timeout = "10s"
[[models]]
pattern = "gpt-*"
[[models.targets]]
upstream = "openai"
`, nil},
		{"no models for a model-routed route", ``, []string{"routes[0].upstream", "route by model"}},
		{"neither name nor pattern", `
[[models]]
[[models.targets]]
upstream = "openai"
`, []string{"models[0]", "a name or a pattern"}},
		{"name and pattern", `
[[models]]
name = "x"
pattern = "x*"
[[models.targets]]
upstream = "openai"
`, []string{"models[0].pattern", "not both"}},
		{"bad pattern", `
[[models]]
pattern = "[x"
[[models.targets]]
upstream = "openai"
`, []string{"models[0].pattern", "not a valid pattern"}},
		{"name used twice", `
[[models]]
name = "x"
[[models.targets]]
upstream = "openai"
[[models]]
name = "y"
aliases = ["x"]
[[models.targets]]
upstream = "openai"
`, []string{"models[1].aliases[0]", `"x" is already used by models[0].name`}},
		{"unknown policy", `
[[models]]
name = "x"
policy = "round-robin"
[[models.targets]]
upstream = "openai"
`, []string{"models[0].policy", "round-robin"}},
		{"a 4xx that fails anywhere cannot be retried", `
[[models]]
name = "x"
retry_on = [429, 400]
[[models.targets]]
upstream = "openai"
`, []string{"models[0].retry_on[1]", "never retried"}},
		{"not an error status", `
[[models]]
name = "x"
retry_on = [200]
[[models.targets]]
upstream = "openai"
`, []string{"models[0].retry_on[0]", "not an HTTP error status"}},
		{"no targets", `
[[models]]
name = "x"
`, []string{"models[0].targets", "at least one target"}},
		{"unknown upstream", `
[[models]]
name = "x"
[[models.targets]]
upstream = "azure"
`, []string{"models[0].targets[0].upstream", `no upstream is named "azure"`}},
		{"negative settings", `
[[models]]
name = "x"
max_attempts = -1
retry_window = "-1s"
[[models.targets]]
upstream = "openai"
weight = -2
first_token_timeout = "-1s"
`, []string{"models[0].max_attempts", "models[0].retry_window", "models[0].targets[0].weight", "models[0].targets[0].first_token_timeout"}},
		{"route restricted to an unknown model", `
[[routes]]
path = "/x/v1/chat/completions"
input_format = "openai-chat"
models = ["nope"]
[[models]]
name = "x"
[[models.targets]]
upstream = "openai"
`, []string{"routes[1].models[0]", `no [[models]] entry serves "nope"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("models.toml", []byte(modelsBase+tc.models), env(nil))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRouteAllowsModel(t *testing.T) {
	r := Route{Models: []string{"gpt-4o", "claude-sonnet"}}
	cases := []struct {
		name, entry string
		want        bool
	}{
		{"gpt-4o", "", true},
		{"sonnet", "claude-sonnet", true}, // an alias of an allowed entry
		{"o3", "", false},
		{"o3", "o3", false},
	}
	for _, tc := range cases {
		if got := r.AllowsModel(tc.name, tc.entry); got != tc.want {
			t.Errorf("AllowsModel(%q, %q) = %v", tc.name, tc.entry, got)
		}
	}
	if !(Route{}).AllowsModel("anything", "") {
		t.Error("a route without models refused a model")
	}
}

// TestModelRoutingExample loads the shipped model-routing example.
func TestModelRoutingExample(t *testing.T) {
	c := mustLoad(t, "examples/model-routing.toml", nil)
	if len(c.Models) != 2 || !c.Routes[0].ModelRouted() || !c.Routes[1].ModelRouted() {
		t.Fatalf("models %+v, routes %+v", c.Models, c.Routes)
	}
	sonnet, gpt := c.Models[0], c.Models[1]
	if sonnet.EffectivePolicy() != PolicyPriority || len(sonnet.Targets) != 2 || sonnet.Targets[1].Upstream != "openrouter" {
		t.Errorf("claude-sonnet: %+v", sonnet)
	}
	if gpt.EffectivePolicy() != PolicyLeastBusy || len(gpt.Targets) != 2 {
		t.Errorf("gpt-4o: %+v", gpt)
	}
}
