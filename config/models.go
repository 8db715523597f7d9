package config

import (
	"path"
	"slices"
	"time"
)

// Model routing: a [[models]] entry names a model clients ask for and the
// deployments (targets) that serve it. A route without an upstream serves
// every configured model; the request's model picks the entry, by exact
// name or alias first, then by the first pattern that matches.

// Selection policies of a model's targets.
const (
	// PolicyPriority tries targets in priority order (lowest first), the
	// next one only when the one before failed: a fallback chain. Targets
	// of equal priority are tried in weighted random order.
	PolicyPriority = "priority"
	// PolicyWeighted spreads requests over the targets at random in
	// proportion to their weight; a failed attempt goes to another target.
	PolicyWeighted = "weighted"
	// PolicyLeastBusy sends each request to the target whose upstream has
	// the most free worker slots, counting requests waiting in its queue.
	PolicyLeastBusy = "least-busy"
)

// Defaults of a [[models]] entry.
const (
	DefaultMaxAttempts  = 3
	DefaultRetryWindow  = 30 * time.Second
	DefaultMaxRetryWait = 2 * time.Second
)

// DefaultRetryOn lists the upstream HTTP statuses retried on another
// attempt when a model leaves retry_on out.
var DefaultRetryOn = []int{429, 500, 502, 503, 504, 529}

// neverRetried are the statuses of requests that would fail on any
// target: retrying them only costs time, so retry_on may not list them.
var neverRetried = []int{400, 401, 403, 404, 413, 422}

// Model is a model clients can ask for by name, and the targets serving it.
type Model struct {
	// Name is the model name clients send. Exactly one of Name and Pattern
	// is set.
	Name string `toml:"name"`
	// Aliases are further names clients may send for the same model.
	Aliases []string `toml:"aliases"`
	// Pattern is a glob (path.Match syntax: *, ?, [a-z]) that matches the
	// names clients send, such as "claude-*".
	Pattern string `toml:"pattern"`
	// Policy picks the target of each attempt: "priority" (the default),
	// "weighted" or "least-busy".
	Policy string `toml:"policy"`
	// MaxAttempts bounds the attempts of one request, the first included;
	// 0 means DefaultMaxAttempts. 1 turns retries and fallback off.
	MaxAttempts int `toml:"max_attempts"`
	// RetryOn lists the upstream HTTP statuses that are tried again on
	// another attempt; empty means DefaultRetryOn. Connection failures and
	// time-outs before the first byte are always tried again.
	RetryOn []int `toml:"retry_on"`
	// RetryWindow is how long after the request arrived a new attempt may
	// still start; 0 means DefaultRetryWindow.
	RetryWindow Duration `toml:"retry_window"`
	// MaxRetryWait is the longest Retry-After the gateway waits out before
	// trying the same target again; a longer one moves to the next target.
	// 0 means DefaultMaxRetryWait.
	MaxRetryWait Duration `toml:"max_retry_wait"`
	// Targets are the deployments serving the model.
	Targets []Target `toml:"targets"`
}

// Target is one deployment of a model: an upstream and the model name it
// knows the model by.
type Target struct {
	// Upstream names the [[upstreams]] entry; it may speak any format.
	Upstream string `toml:"upstream"`
	// Model is the name sent upstream; empty sends the name the client
	// asked for (useful with patterns).
	Model string `toml:"model"`
	// Weight is the target's share under the weighted policy, and the
	// tie-break among equals under the others; 0 means 1.
	Weight int `toml:"weight"`
	// Priority orders targets under the priority policy, lowest first.
	Priority int `toml:"priority"`
	// FirstTokenTimeout bounds the wait for the first event of a streamed
	// answer (the head of a whole one); past it the attempt is cancelled
	// and the next one starts. 0 leaves only the upstream's own time-outs.
	FirstTokenTimeout Duration `toml:"first_token_timeout"`
}

// Key returns the target's name in metrics, logs, the x-gateway-upstream
// header and circuit breaking: "<upstream>/<upstream model>".
func (t Target) Key(requested string) string {
	m := t.Model
	if m == "" {
		m = requested
	}
	return t.Upstream + "/" + m
}

// ModelRouted reports whether the route serves the configured models rather
// than being bound to one upstream.
func (r Route) ModelRouted() bool { return r.Upstream == "" }

// AllowsModel reports whether the route's models list lets a client use
// name, which resolved to the entry named entry ("" when none).
func (r Route) AllowsModel(name, entry string) bool {
	if len(r.Models) == 0 {
		return true
	}
	return slices.Contains(r.Models, name) || entry != "" && slices.Contains(r.Models, entry)
}

// EffectiveMaxAttempts returns MaxAttempts with its default applied.
func (m Model) EffectiveMaxAttempts() int {
	if m.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return m.MaxAttempts
}

// EffectiveRetryOn returns RetryOn with its default applied.
func (m Model) EffectiveRetryOn() []int {
	if len(m.RetryOn) == 0 {
		return DefaultRetryOn
	}
	return m.RetryOn
}

// EffectivePolicy returns Policy with its default applied.
func (m Model) EffectivePolicy() string {
	if m.Policy == "" {
		return PolicyPriority
	}
	return m.Policy
}

// EffectiveRetryWindow returns RetryWindow with its default applied.
func (m Model) EffectiveRetryWindow() time.Duration {
	if m.RetryWindow.Duration <= 0 {
		return DefaultRetryWindow
	}
	return m.RetryWindow.Duration
}

// EffectiveMaxRetryWait returns MaxRetryWait with its default applied.
func (m Model) EffectiveMaxRetryWait() time.Duration {
	if m.MaxRetryWait.Duration <= 0 {
		return DefaultMaxRetryWait
	}
	return m.MaxRetryWait.Duration
}

// models checks the [[models]] entries and the routes' model settings.
func (v *validator) models() {
	names := map[string]string{}
	claim := func(key, name string) {
		if prev, dup := names[name]; dup {
			v.fail(key, "model name %q is already used by %s", name, prev)
			return
		}
		names[name] = key
	}
	for i, m := range v.c.Models {
		p := indexKey("models", i)
		switch {
		case m.Name == "" && m.Pattern == "":
			v.fail(p, "a model needs a name or a pattern")
		case m.Name != "" && m.Pattern != "":
			v.fail(p+".pattern", "a model has a name or a pattern, not both")
		case m.Name != "":
			claim(p+".name", m.Name)
		default:
			if _, err := path.Match(m.Pattern, ""); err != nil {
				v.fail(p+".pattern", "%q is not a valid pattern: %v", m.Pattern, err)
			}
		}
		for j, a := range m.Aliases {
			if a == "" {
				v.fail(indexKey(p+".aliases", j), "an alias must not be empty")
				continue
			}
			claim(indexKey(p+".aliases", j), a)
		}
		v.oneOf(p+".policy", m.EffectivePolicy(), PolicyPriority, PolicyWeighted, PolicyLeastBusy)
		v.nonNegative(p+".max_attempts", int64(m.MaxAttempts))
		for j, status := range m.RetryOn {
			key := indexKey(p+".retry_on", j)
			switch {
			case status < 400 || status > 599:
				v.fail(key, "%d is not an HTTP error status", status)
			case slices.Contains(neverRetried, status):
				v.fail(key, "%d fails on every target alike and is never retried", status)
			}
		}
		if m.RetryWindow.Duration < 0 {
			v.fail(p+".retry_window", "must not be negative")
		}
		if m.MaxRetryWait.Duration < 0 {
			v.fail(p+".max_retry_wait", "must not be negative")
		}
		if len(m.Targets) == 0 {
			v.fail(p+".targets", "a model needs at least one target")
		}
		for j, t := range m.Targets {
			tp := indexKey(p+".targets", j)
			if t.Upstream == "" {
				v.fail(tp+".upstream", "a target needs an upstream")
			} else if _, ok := v.c.Upstream(t.Upstream); !ok {
				v.fail(tp+".upstream", "no upstream is named %q", t.Upstream)
			}
			v.nonNegative(tp+".weight", int64(t.Weight))
			if t.FirstTokenTimeout.Duration < 0 {
				v.fail(tp+".first_token_timeout", "must not be negative")
			}
		}
	}
	for i, r := range v.c.Routes {
		p := indexKey("routes", i)
		if !r.ModelRouted() {
			continue
		}
		if len(v.c.Models) == 0 {
			v.fail(p+".upstream", "a route needs an upstream, or [[models]] to route by model")
		}
		for j, name := range r.Models {
			if !v.c.modelKnown(name) {
				v.fail(indexKey(p+".models", j), "no [[models]] entry serves %q", name)
			}
		}
	}
}

// modelKnown reports whether a [[models]] entry serves name.
func (c *Config) modelKnown(name string) bool {
	for _, m := range c.Models {
		if m.Name == name || slices.Contains(m.Aliases, name) {
			return true
		}
		if m.Pattern != "" {
			if ok, _ := path.Match(m.Pattern, name); ok {
				return true
			}
		}
	}
	return false
}
