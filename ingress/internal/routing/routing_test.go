package routing

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aigateway/gateway/config"
)

func testConfig(t *testing.T, models string) *config.Config {
	t.Helper()
	src := `
[[upstreams]]
name = "a"
url = "http://127.0.0.1:1"
format = "openai-chat"

[[upstreams]]
name = "b"
url = "http://127.0.0.1:2"
format = "anthropic"

[[upstreams]]
name = "c"
url = "http://127.0.0.1:3"
format = "openai-chat"

[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"

[[routes]]
path = "/direct/v1/chat/completions"
input_format = "openai-chat"
upstream = "a"
` + models
	cfg, err := config.Parse("test.toml", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return &cfg
}

const models = `
[[models]]
name = "sonnet"
aliases = ["claude-sonnet"]

[[models.targets]]
upstream = "b"
model = "claude-sonnet-4-5"

[[models.targets]]
upstream = "a"
model = "anthropic/claude-sonnet"
priority = 1

[[models]]
pattern = "claude-*"

[[models.targets]]
upstream = "b"

[[models]]
pattern = "*"

[[models.targets]]
upstream = "c"
`

func TestResolve(t *testing.T) {
	table, err := New(testConfig(t, models))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, model string
		// want is the entry's label and the first target's key; "" for
		// no entry.
		want string
	}{
		{"exact name", "sonnet", "sonnet b/claude-sonnet-4-5"},
		{"alias", "claude-sonnet", "sonnet b/claude-sonnet-4-5"},
		{"alias wins over a pattern that matches it", "claude-sonnet", "sonnet b/claude-sonnet-4-5"},
		{"pattern passes the name on", "claude-haiku-4-5", "claude-* b/claude-haiku-4-5"},
		{"first matching pattern", "gpt-4o", "* c/gpt-4o"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := table.Resolve(tc.model)
			got := ""
			if ok {
				got = m.Label() + " " + m.Targets[0].Key(tc.model)
			}
			if got != tc.want {
				t.Errorf("Resolve(%q) = %q, want %q", tc.model, got, tc.want)
			}
		})
	}
	if _, ok := mustTable(t, "[[models]]\nname = \"x\"\n[[models.targets]]\nupstream = \"a\"\n").Resolve("anything"); ok {
		t.Error("a table without patterns resolved an unknown name")
	}
	var names []string
	for _, n := range table.Names() {
		names = append(names, n.Name)
	}
	if got := strings.Join(names, ","); got != "sonnet,claude-sonnet" {
		t.Errorf("Names = %s", got)
	}
	if r, ok := table.Route("/direct/v1/chat/completions"); !ok || r.ModelRouted() || r.Up.Name != "a" {
		t.Errorf("path route = %+v, %v", r, ok)
	}
	if r, ok := table.Route("/v1/chat/completions"); !ok || !r.ModelRouted() {
		t.Errorf("model route = %+v, %v", r, ok)
	}
}

func mustTable(t *testing.T, models string) *Table {
	t.Helper()
	table, err := New(testConfig(t, models))
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// fixedLoad reports a fixed free room per upstream.
type fixedLoad map[string]int

func (l fixedLoad) Free(upstream string) int { return l[upstream] }

func planKeys(m *Model, load Load) string {
	var keys []string
	for _, t := range m.Plan(load) {
		keys = append(keys, t.Upstream)
	}
	return strings.Join(keys, ",")
}

func TestPlan(t *testing.T) {
	three := func(policy string, weights [3]int, priorities [3]int) string {
		s := fmt.Sprintf("[[models]]\nname = \"m\"\npolicy = %q\n", policy)
		for i, u := range []string{"a", "b", "c"} {
			s += fmt.Sprintf("[[models.targets]]\nupstream = %q\nweight = %d\npriority = %d\n", u, weights[i], priorities[i])
		}
		return s
	}
	cases := []struct {
		name   string
		models string
		load   Load
		// want counts, over many plans, how often each order came first.
		want func(counts map[string]int, n int) error
	}{
		{"priority is a fixed chain", three("priority", [3]int{1, 1, 1}, [3]int{2, 0, 1}), nil, func(c map[string]int, n int) error {
			if c["b,c,a"] != n {
				return fmt.Errorf("orders %v", c)
			}
			return nil
		}},
		{"equal priorities share by weight", three("priority", [3]int{3, 1, 1}, [3]int{0, 0, 1}), nil, func(c map[string]int, n int) error {
			ab, ba := c["a,b,c"], c["b,a,c"]
			if ab+ba != n || ab < n/2 || ba == 0 {
				return fmt.Errorf("orders %v: want a first about 3 times in 4, c always last", c)
			}
			return nil
		}},
		{"weighted spreads by weight", three("weighted", [3]int{1, 0, 2}, [3]int{}), nil, func(c map[string]int, n int) error {
			first := map[string]int{}
			for order, k := range c {
				first[order[:1]] += k
			}
			// weight 0 means 1: shares 1:1:2.
			if first["c"] < n*4/10 || first["a"] < n/10 || first["b"] < n/10 {
				return fmt.Errorf("first targets %v", first)
			}
			return nil
		}},
		{"least-busy puts the most free room first", three("least-busy", [3]int{1, 1, 1}, [3]int{}), fixedLoad{"a": 2, "b": 10, "c": -3}, func(c map[string]int, n int) error {
			if c["b,a,c"] != n {
				return fmt.Errorf("orders %v", c)
			}
			return nil
		}},
		{"least-busy ties share", three("least-busy", [3]int{1, 1, 1}, [3]int{}), fixedLoad{"a": 4, "b": 4, "c": 0}, func(c map[string]int, n int) error {
			if c["a,b,c"]+c["b,a,c"] != n || c["a,b,c"] == 0 || c["b,a,c"] == 0 {
				return fmt.Errorf("orders %v", c)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := mustTable(t, tc.models).Resolve("m")
			if !ok {
				t.Fatal("no model m")
			}
			const n = 2000
			counts := map[string]int{}
			for range n {
				counts[planKeys(m, tc.load)]++
			}
			if err := tc.want(counts, n); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	m, _ := mustTable(t, "[[models]]\nname = \"m\"\n[[models.targets]]\nupstream = \"a\"\n").Resolve("m")
	if m.MaxAttempts != config.DefaultMaxAttempts || m.RetryWindow != config.DefaultRetryWindow ||
		m.MaxRetryWait != config.DefaultMaxRetryWait || m.Targets[0].Weight != 1 || m.EffectivePolicy() != config.PolicyPriority {
		t.Errorf("defaults not applied: %+v", m)
	}
	for _, status := range []int{429, 500, 502, 503, 504, 529} {
		if !m.RetryOn(status) {
			t.Errorf("%d is not retried by default", status)
		}
	}
	for _, status := range []int{400, 401, 403, 404, 413, 422} {
		if m.RetryOn(status) {
			t.Errorf("%d is retried", status)
		}
	}
	if got := m.Targets[0].UpstreamModel("asked"); got != "asked" {
		t.Errorf("a target without a model sends %q", got)
	}
}
