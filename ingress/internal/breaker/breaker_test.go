package breaker

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aigateway/gateway/config"
)

// clock is a manual clock for the breakers.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func testConfig(mutate func(*config.Config)) *config.Config {
	cfg := config.Config{
		Breaker: config.Breaker{
			Enabled: true, ConsecutiveFailures: 3, ErrorRate: 0.5, MinRequests: 10,
			Window: config.Duration{Duration: 10 * time.Second}, OpenFor: config.Duration{Duration: 5 * time.Second},
		},
		Upstreams: []config.Upstream{{Name: "openai"}, {Name: "slow", Breaker: config.BreakerOverride{ConsecutiveFailures: 1}}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return &cfg
}

type step struct {
	// Each step advances the clock, records an outcome, then checks
	// Allow and the exported state, each when set.
	record  string // "ok", "fail" or nothing
	abandon bool
	advance time.Duration
	allow   *bool
	state   *State
}

func allow(v bool) *bool { return &v }

var (
	closed   = ptr(Closed)
	open     = ptr(Open)
	halfOpen = ptr(HalfOpen)
)

func ptr(s State) *State { return &s }

func TestBreakerTransitions(t *testing.T) {
	const target = "openai/gpt-4o"
	tests := []struct {
		name   string
		target string
		mutate func(*config.Config)
		steps  []step
	}{
		{
			name: "consecutive failures open, success in between resets",
			steps: []step{
				{record: "fail"}, {record: "fail"}, {record: "ok"}, {record: "fail"}, {record: "fail"},
				{allow: allow(true), state: closed},
				{record: "fail", state: open},
				{allow: allow(false)},
			},
		},
		{
			name: "half-open lets one probe through; success closes",
			steps: []step{
				{record: "fail"}, {record: "fail"}, {record: "fail", state: open},
				{advance: 4 * time.Second, allow: allow(false)},
				{advance: time.Second, allow: allow(true), state: halfOpen},
				{allow: allow(false)}, // the probe is out
				{record: "ok", state: closed},
				{allow: allow(true)},
				{allow: allow(true)},
			},
		},
		{
			name: "failed probe opens again",
			steps: []step{
				{record: "fail"}, {record: "fail"}, {record: "fail", state: open},
				{advance: 5 * time.Second, allow: allow(true), state: halfOpen},
				{record: "fail", state: open},
				{allow: allow(false)},
				{advance: 5 * time.Second, allow: allow(true), state: halfOpen},
			},
		},
		{
			name: "a probe whose outcome never comes frees its slot after open_for",
			steps: []step{
				{record: "fail"}, {record: "fail"}, {record: "fail", state: open},
				{advance: 5 * time.Second, allow: allow(true), state: halfOpen},
				{advance: 4 * time.Second, allow: allow(false)},
				{advance: time.Second, allow: allow(true)},
			},
		},
		{
			name: "an abandoned probe frees its slot at once",
			steps: []step{
				{record: "fail"}, {record: "fail"}, {record: "fail", state: open},
				{advance: 5 * time.Second, allow: allow(true), state: halfOpen},
				{allow: allow(false)},
				{abandon: true, allow: allow(true), state: halfOpen},
			},
		},
		{
			name:   "error rate over the window opens once min_requests were made",
			mutate: func(c *config.Config) { c.Breaker.ConsecutiveFailures = 0 },
			steps: []step{
				{record: "fail"}, {record: "ok"}, {record: "fail"}, {record: "ok"}, {record: "fail"},
				{record: "ok"}, {record: "fail"}, {record: "ok"}, {record: "fail", state: closed}, // 9 calls
				{record: "ok", state: closed}, // 10 calls, 5 failed: but the last was a success
				{record: "fail", state: open}, // 11 calls, 6 failed
			},
		},
		{
			name:   "failures older than the window do not count",
			mutate: func(c *config.Config) { c.Breaker.ConsecutiveFailures = 0; c.Breaker.MinRequests = 4 },
			steps: []step{
				{record: "fail"}, {record: "fail"}, {record: "fail"},
				{advance: 11 * time.Second},
				{record: "ok"}, {record: "ok"}, {record: "ok"}, {record: "fail", state: closed},
			},
		},
		{
			name:   "per-upstream override",
			target: "slow/model",
			steps:  []step{{record: "fail", state: open}, {allow: allow(false)}},
		},
		{
			name:   "disabled never refuses",
			mutate: func(c *config.Config) { c.Breaker.Enabled = false },
			steps:  []step{{record: "fail"}, {record: "fail"}, {record: "fail"}, {record: "fail"}, {allow: allow(true), state: closed}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tgt := tc.target
			if tgt == "" {
				tgt = target
			}
			clk := &clock{now: time.Unix(1_700_000_000, 0)}
			reg := prometheus.NewRegistry()
			b := New(testConfig(tc.mutate), Options{Registerer: reg, Now: clk.Now})
			for i, s := range tc.steps {
				clk.advance(s.advance)
				switch s.record {
				case "ok":
					b.Record(tgt, true)
				case "fail":
					b.Record(tgt, false)
				}
				if s.abandon {
					b.Abandon(tgt)
				}
				if s.allow != nil {
					if got := b.Allow(tgt); got != *s.allow {
						t.Fatalf("step %d: Allow = %v, want %v", i, got, *s.allow)
					}
				}
				if s.state == nil {
					continue
				}
				if got := State(testutil.ToFloat64(b.state.WithLabelValues(tgt))); got != *s.state {
					t.Fatalf("step %d: state = %s, want %s", i, got, *s.state)
				}
			}
		})
	}
}

func TestTransitionsAreSharedAndObserved(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	var shared []Transition
	a := New(testConfig(nil), Options{Now: clk.Now, OnTransition: func(tr Transition) { shared = append(shared, tr) }})
	peer := New(testConfig(nil), Options{Now: clk.Now, Registerer: prometheus.NewRegistry(),
		OnTransition: func(Transition) { t.Error("an observed transition was shared again") }})
	for range 3 {
		a.Record("openai/m", false)
	}
	if len(shared) != 1 || shared[0].To != Open || !shared[0].Until.Equal(clk.Now().Add(5*time.Second)) {
		t.Fatalf("shared %+v", shared)
	}
	peer.Observe(shared[0])
	if peer.Allow("openai/m") {
		t.Fatal("peer lets requests through a circuit another replica opened")
	}
	if d := peer.RetryAfter("openai/m"); d != 5*time.Second {
		t.Errorf("RetryAfter = %v", d)
	}
	clk.advance(5 * time.Second)
	if !a.Allow("openai/m") {
		t.Fatal("no probe after open_for")
	}
	a.Record("openai/m", true)
	if len(shared) != 2 || shared[1].To != Closed {
		t.Fatalf("shared %+v", shared)
	}
	peer.Observe(shared[1])
	if !peer.Allow("openai/m") || !peer.Allow("openai/m") {
		t.Fatal("peer still refuses after the circuit closed")
	}
	if rs := peer.Reports(); len(rs) != 0 {
		t.Errorf("reports of a closed circuit: %+v", rs)
	}
}

func TestMetricsAndReports(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	reg := prometheus.NewRegistry()
	b := New(testConfig(nil), Options{Registerer: reg, Now: clk.Now})
	b.Track("openai/a")
	for range 3 {
		b.Record("openai/b", false)
	}
	want := `
# HELP gateway_circuit_state State of the circuit breaker of an upstream target: 0 closed, 1 open, 2 half-open.
# TYPE gateway_circuit_state gauge
gateway_circuit_state{target="openai/a"} 0
gateway_circuit_state{target="openai/b"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gateway_circuit_state"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(b.transitions.WithLabelValues("openai/b", "open")); got != 1 {
		t.Errorf("transitions to open = %v", got)
	}
	rs := b.Reports()
	if len(rs) != 1 || rs[0].Target != "openai/b" || rs[0].State != "open" || rs[0].Until == nil {
		t.Errorf("reports %+v", rs)
	}
}

func TestConcurrentUse(t *testing.T) {
	b := New(testConfig(nil), Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if b.Allow("openai/m") {
					b.Record("openai/m", (i+j)%3 != 0)
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkAllowRecord is the cost the breaker adds to a request: one
// Allow and one Record on a closed circuit, from parallel goroutines.
func BenchmarkAllowRecord(b *testing.B) {
	br := New(testConfig(nil), Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if br.Allow("openai/gpt-4o") {
				br.Record("openai/gpt-4o", true)
			}
		}
	})
}
