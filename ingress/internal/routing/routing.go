// Package routing is the ingress's routing table: which deployments
// (targets) serve the model a request names, and in which order a request's
// attempts try them. It is built from a configuration by one constructor
// and never changed afterwards, so a reload swaps a whole table while the
// requests in flight keep the one they started with.
//
// The package does no I/O: what it needs to know of the running system
// (circuit breakers, the load of each upstream) it asks through the small
// interfaces TargetHealth and Load.
package routing

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"time"

	"github.com/aigateway/gateway/config"
)

// TargetHealth is a circuit breaker over targets, keyed "<upstream>/<upstream
// model>" (Target.Key). Allow is false while the target's circuit is open,
// true when closed or for a half-open probe; Record reports the outcome of
// each attempt made. A nil TargetHealth means no breaking.
type TargetHealth interface {
	Allow(target string) bool
	Record(target string, ok bool)
}

// Load reports how much room an upstream has: its free worker slots less
// the requests waiting in its queue (negative when work is queued).
type Load interface {
	Free(upstream string) int
}

// Target is one deployment of a model as the table resolved it.
type Target struct {
	config.Target
	// Up is the upstream's configuration.
	Up config.Upstream
}

// Key is the target's name for a request that asked for requested:
// "<upstream>/<upstream model>".
func (t *Target) Key(requested string) string { return t.Target.Key(requested) }

// UpstreamModel is the model name sent upstream for a request that asked
// for requested.
func (t *Target) UpstreamModel(requested string) string { return cmp.Or(t.Model, requested) }

// Model is a configured model and its targets.
type Model struct {
	config.Model
	Targets []*Target
	// MaxAttempts, RetryWindow and MaxRetryWait are the entry's settings
	// with defaults applied.
	MaxAttempts  int
	RetryWindow  time.Duration
	MaxRetryWait time.Duration
	retryOn      []int
}

// Label names the entry in logs: its name, else its pattern.
func (m *Model) Label() string { return cmp.Or(m.Name, m.Pattern) }

// RetryOn reports whether an upstream HTTP status is tried again.
func (m *Model) RetryOn(status int) bool { return slices.Contains(m.retryOn, status) }

// Route is a configured route as the table knows it.
type Route struct {
	config.Route
	// Up is the upstream of a path route; zero for a model-routed one.
	Up config.Upstream
}

// Table is an immutable routing table.
type Table struct {
	byName   map[string]*Model
	patterns []*Model
	models   []*Model
	routes   map[string]*Route
}

// ErrUnknownUpstream is returned by New for a target or route naming an
// upstream the configuration lacks (Validate reports it first).
var ErrUnknownUpstream = errors.New("routing: unknown upstream")

// New builds the table of cfg, which has been validated.
func New(cfg *config.Config) (*Table, error) {
	t := &Table{byName: make(map[string]*Model), routes: make(map[string]*Route, len(cfg.Routes))}
	for _, r := range cfg.Routes {
		rt := &Route{Route: r}
		if !r.ModelRouted() {
			u, ok := cfg.Upstream(r.Upstream)
			if !ok {
				return nil, fmt.Errorf("%w %q in route %s", ErrUnknownUpstream, r.Upstream, r.Path)
			}
			rt.Up = *u
		}
		t.routes[r.Path] = rt
	}
	for _, mc := range cfg.Models {
		m := &Model{
			Model:        mc,
			MaxAttempts:  mc.EffectiveMaxAttempts(),
			RetryWindow:  mc.EffectiveRetryWindow(),
			MaxRetryWait: mc.EffectiveMaxRetryWait(),
			retryOn:      mc.EffectiveRetryOn(),
		}
		for _, tc := range mc.Targets {
			u, ok := cfg.Upstream(tc.Upstream)
			if !ok {
				return nil, fmt.Errorf("%w %q in model %s", ErrUnknownUpstream, tc.Upstream, m.Label())
			}
			if tc.Weight <= 0 {
				tc.Weight = 1
			}
			m.Targets = append(m.Targets, &Target{Target: tc, Up: *u})
		}
		t.models = append(t.models, m)
		if mc.Pattern != "" {
			t.patterns = append(t.patterns, m)
			continue
		}
		for _, name := range append([]string{mc.Name}, mc.Aliases...) {
			t.byName[name] = m
		}
	}
	return t, nil
}

// Route returns the configured route at path.
func (t *Table) Route(path string) (*Route, bool) {
	r, ok := t.routes[path]
	return r, ok
}

// Resolve returns the entry serving the model name: an exact name or alias
// first, then the first pattern that matches, in configuration order.
func (t *Table) Resolve(name string) (*Model, bool) {
	if m, ok := t.byName[name]; ok {
		return m, true
	}
	for _, m := range t.patterns {
		if ok, _ := path.Match(m.Pattern, name); ok {
			return m, true
		}
	}
	return nil, false
}

// Names lists the model names clients can send by name (names and
// aliases, not patterns), in configuration order, with the entry each
// belongs to.
func (t *Table) Names() []NamedModel {
	var out []NamedModel
	for _, m := range t.models {
		if m.Pattern != "" {
			continue
		}
		for _, name := range append([]string{m.Name}, m.Aliases...) {
			out = append(out, NamedModel{Name: name, Model: m})
		}
	}
	return out
}

// NamedModel is a name clients may send and the entry it resolves to.
type NamedModel struct {
	Name  string
	Model *Model
}

// Plan returns the order in which a request's attempts try the model's
// targets, by its policy:
//
//   - priority: by priority, lowest first; equal priorities in weighted
//     random order, so that equals share the load;
//   - weighted: a weighted random order of all targets;
//   - least-busy: the target with the most free room first (load), equal
//     room in weighted random order.
//
// load may be nil (least-busy then behaves as weighted). Circuit breaking
// is not applied here: the attempt loop asks TargetHealth just before each
// attempt, so a half-open probe is taken only by an attempt that is made.
func (m *Model) Plan(load Load) []*Target {
	order := weightedOrder(m.Targets)
	switch m.EffectivePolicy() {
	case config.PolicyPriority:
		slices.SortStableFunc(order, func(a, b *Target) int { return cmp.Compare(a.Priority, b.Priority) })
	case config.PolicyLeastBusy:
		if load != nil {
			free := make(map[string]int, len(order))
			for _, t := range order {
				if _, ok := free[t.Upstream]; !ok {
					free[t.Upstream] = load.Free(t.Upstream)
				}
			}
			slices.SortStableFunc(order, func(a, b *Target) int { return cmp.Compare(free[b.Upstream], free[a.Upstream]) })
		}
	}
	return order
}

// weightedOrder returns the targets in a random order where each next one
// is drawn with probability proportional to its weight.
func weightedOrder(targets []*Target) []*Target {
	if len(targets) < 2 {
		// Nothing to order: the caller only reads the slice.
		return targets
	}
	order := slices.Clone(targets)
	total := 0
	for _, t := range order {
		total += t.Weight
	}
	for i := range order {
		pick := rand.IntN(total)
		for j := i; j < len(order); j++ {
			if pick < order[j].Weight {
				order[i], order[j] = order[j], order[i]
				break
			}
			pick -= order[j].Weight
		}
		total -= order[i].Weight
	}
	return order
}
