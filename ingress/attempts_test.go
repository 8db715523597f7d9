package ingress

import (
	"testing"
	"time"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress/internal/routing"
)

// fakeHealth is a circuit breaker with fixed open circuits that records
// what it was asked.
type fakeHealth struct {
	open  map[string]bool
	asked []string
}

func (h *fakeHealth) Allow(target string) bool {
	h.asked = append(h.asked, target)
	return !h.open[target]
}

func (h *fakeHealth) Record(string, bool) {}

func targets(names ...string) []*routing.Target {
	out := make([]*routing.Target, len(names))
	for i, n := range names {
		out[i] = &routing.Target{Target: config.Target{Upstream: n, Model: "m"}}
	}
	return out
}

func TestPlanPick(t *testing.T) {
	cases := []struct {
		name  string
		open  []string
		pos   int
		want  string
		asked int
	}{
		{"first closed circuit", nil, 0, "a", 1},
		{"open circuits are passed over", []string{"a/m", "b/m"}, 0, "c", 3},
		{"from the current position, wrapping", []string{"c/m"}, 2, "a", 2},
		{"every circuit open: the next target all the same", []string{"a/m", "b/m", "c/m"}, 1, "b", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHealth{open: map[string]bool{}}
			for _, o := range tc.open {
				h.open[o] = true
			}
			p := plan{model: &routing.Model{}, order: targets("a", "b", "c"), pos: tc.pos, requested: "x"}
			if got := p.pick(h).Upstream; got != tc.want {
				t.Errorf("pick = %s, want %s", got, tc.want)
			}
			if len(h.asked) != tc.asked {
				t.Errorf("asked %v, want %d questions", h.asked, tc.asked)
			}
		})
	}
	t.Run("path routes ask no breaker", func(t *testing.T) {
		h := &fakeHealth{}
		p := plan{order: targets("a")}
		if p.pick(h).Upstream != "a" || len(h.asked) != 0 {
			t.Errorf("asked %v", h.asked)
		}
	})
}

func TestPlanAdvance(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name string
		// holds are Retry-After waits by target index, 0 for none.
		holds  []time.Duration
		pos    int
		window time.Duration
		// wantPos is the index (mod 3) advanced to; -1 for none.
		wantPos  int
		wantWait bool
	}{
		{"next target", []time.Duration{time.Second, 0, 0}, 0, time.Minute, 1, false},
		{"back to a target whose short wait is waited out", []time.Duration{300 * time.Millisecond, 0, 0}, 2, time.Minute, 0, true},
		{"a wait over max_retry_wait passes the target over", []time.Duration{0, 10 * time.Second, 0}, 0, time.Minute, 2, false},
		{"a wait past the window passes the target over", []time.Duration{0, time.Second, 0}, 0, 500 * time.Millisecond, 2, false},
		{"nothing left", []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second}, 0, time.Minute, -1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := plan{order: targets("a", "b", "c"), pos: tc.pos, maxWait: 2 * time.Second, window: now.Add(tc.window)}
			for i, d := range tc.holds {
				if d > 0 {
					p.pos = i
					p.holdOff(d)
				}
			}
			p.pos = tc.pos
			wait, ok := p.advance()
			if tc.wantPos < 0 {
				if ok {
					t.Errorf("advanced to %d", p.pos%3)
				}
				return
			}
			if !ok || p.pos%3 != tc.wantPos || (wait > 0) != tc.wantWait {
				t.Errorf("advance = pos %d, wait %v, ok %v; want pos %d, wait %v", p.pos%3, wait, ok, tc.wantPos, tc.wantWait)
			}
		})
	}
}

func TestStatusOutcome(t *testing.T) {
	for status, want := range map[int]string{429: outcomeStatus429, 500: outcomeStatus5xx, 529: outcomeStatus5xx, 400: outcomeStatus4xx, 200: outcomeOK} {
		if got := statusOutcome(status); got != want {
			t.Errorf("statusOutcome(%d) = %s, want %s", status, got, want)
		}
	}
}
