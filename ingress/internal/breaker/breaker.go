// Package breaker keeps a circuit breaker per upstream target, so that the
// ingress stops sending requests to a target that keeps failing and answers
// at once instead, and lets a single probe find out when it is back.
//
// A target is an opaque string, "<upstream>/<upstream model>" by the
// ingress's convention; the part before the first "/" names the upstream
// whose breaker settings apply. Each circuit is closed (requests flow),
// open (requests are refused until the open interval is over) or half-open
// (one probe at a time goes through: success closes the circuit, failure
// opens it again).
//
// Replicas share transitions: a circuit that opens on one ingress opens on
// every ingress that hears of it (see Transition and Observe). The package
// does no I/O itself; the ingress carries transitions over NATS.
package breaker

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/config"
)

// State is a circuit's state; its value is the one gateway_circuit_state
// exports.
type State int

// The states of a circuit.
const (
	Closed   State = 0
	Open     State = 1
	HalfOpen State = 2
)

// String names the state as logs, metrics and /health do.
func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "closed"
}

// buckets is how many slices the error-rate window is kept in: the window
// slides by a tenth of its length.
const buckets = 10

// MaxTargets bounds the circuits a Breakers keeps, and so the series it
// exports. Beyond it, requests to new targets are allowed and not tracked:
// targets come from configuration, and only a client naming models the
// configuration does not map could make more of them.
const MaxTargets = 1024

// Transition is a circuit's change of state, as shared between replicas.
type Transition struct {
	Target string
	To     State
	// Until is when an open circuit lets a probe through.
	Until time.Time
}

// Options are a Breakers' dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// OnTransition is told of every change this replica makes (not of
	// those it Observes), to share it; nil shares nothing.
	OnTransition func(Transition)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Breakers holds the circuits of every target. It is safe for concurrent
// use; the zero value is not usable, build one with New.
type Breakers struct {
	logger       *slog.Logger
	onTransition func(Transition)
	now          func() time.Time
	state        *prometheus.GaugeVec
	transitions  *prometheus.CounterVec

	mu       sync.Mutex
	settings settings
	circuits map[string]*circuit
}

// settings are the breaker settings in force: [breaker] and the upstreams'
// overrides, resolved.
type settings struct {
	enabled    bool
	base       config.Breaker
	byUpstream map[string]config.Breaker
}

func newSettings(cfg *config.Config) settings {
	s := settings{enabled: cfg.Breaker.Enabled, base: cfg.Breaker, byUpstream: make(map[string]config.Breaker, len(cfg.Upstreams))}
	for _, u := range cfg.Upstreams {
		s.byUpstream[u.Name] = cfg.Breaker.For(u)
	}
	return s
}

func (s settings) of(target string) config.Breaker {
	upstream, _, _ := strings.Cut(target, "/")
	if b, ok := s.byUpstream[upstream]; ok {
		return b
	}
	return s.base
}

// circuit is one target's breaker.
type circuit struct {
	state State
	// failures counts failures in a row.
	failures int
	// window holds the outcomes of the last Window, by slice.
	window [buckets]bucket
	// until is when an open circuit lets a probe through.
	until time.Time
	// probing is set while a half-open probe is out; probeUntil frees the
	// slot when its outcome never comes (a client that left).
	probing    bool
	probeUntil time.Time
}

type bucket struct {
	start      time.Time
	total, bad int
}

// New returns the breakers for cfg's targets.
func New(cfg *config.Config, opts Options) *Breakers {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Breakers{
		logger:       opts.Logger,
		onTransition: opts.OnTransition,
		now:          opts.Now,
		settings:     newSettings(cfg),
		circuits:     make(map[string]*circuit),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_circuit_state",
			Help: "State of the circuit breaker of an upstream target: 0 closed, 1 open, 2 half-open.",
		}, []string{"target"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_circuit_transitions_total",
			Help: "Changes of state of upstream targets' circuit breakers, by the state entered.",
		}, []string{"target", "to"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(b.state, b.transitions)
	}
	return b
}

// Update applies new settings, for a configuration reload. Circuits keep
// their state; the new thresholds apply from their next outcome on.
func (b *Breakers) Update(cfg *config.Config) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settings = newSettings(cfg)
}

// Enabled reports whether circuit breaking is on.
func (b *Breakers) Enabled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.settings.enabled
}

// Track makes target's circuit known from the start, so that its state is
// exported at 0 before its first request.
func (b *Breakers) Track(target string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.circuit(target)
}

// circuit returns target's circuit, making it; nil when MaxTargets are
// tracked already. b.mu is held.
func (b *Breakers) circuit(target string) *circuit {
	c, ok := b.circuits[target]
	if ok || len(b.circuits) >= MaxTargets {
		return c
	}
	c = &circuit{}
	b.circuits[target] = c
	b.state.WithLabelValues(target).Set(float64(Closed))
	for _, to := range [...]State{Closed, Open, HalfOpen} {
		b.transitions.WithLabelValues(target, to.String())
	}
	return c
}

// Allow reports whether a request may go to target: always while its
// circuit is closed, never while it is open, and for one probe at a time
// once the open interval is over (half-open).
func (b *Breakers) Allow(target string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.settings.enabled {
		return true
	}
	c := b.circuit(target)
	if c == nil {
		return true
	}
	now := b.now()
	switch c.state {
	case Open:
		if now.Before(c.until) {
			return false
		}
		b.enter(target, c, HalfOpen, now, true)
		fallthrough
	case HalfOpen:
		if c.probing && now.Before(c.probeUntil) {
			return false
		}
		c.probing = true
		c.probeUntil = now.Add(b.settings.of(target).OpenFor.Duration)
		return true
	}
	return true
}

// RetryAfter is how long target's circuit still refuses requests: until the
// open interval ends, or, while a half-open probe is out, a second.
func (b *Breakers) RetryAfter(target string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.circuits[target]
	if c == nil {
		return 0
	}
	if d := c.until.Sub(b.now()); c.state == Open && d > 0 {
		return d
	}
	return time.Second
}

// Record reports the outcome of a request that Allow let through.
func (b *Breakers) Record(target string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.settings.enabled {
		return
	}
	c := b.circuit(target)
	if c == nil {
		return
	}
	now := b.now()
	set := b.settings.of(target)
	switch c.state {
	case HalfOpen:
		c.probing = false
		if ok {
			b.enter(target, c, Closed, now, true)
		} else {
			b.open(target, c, set, now)
		}
		return
	case Open:
		// An answer to a request let through before the circuit opened
		// (here or on another replica) changes nothing.
		return
	}
	bk := c.slot(now, set.Window.Duration)
	bk.total++
	if ok {
		c.failures = 0
		return
	}
	bk.bad++
	c.failures++
	if set.ConsecutiveFailures > 0 && c.failures >= set.ConsecutiveFailures {
		b.open(target, c, set, now)
		return
	}
	if set.ErrorRate > 0 {
		total, bad := c.counts(now, set.Window.Duration)
		if total >= max(set.MinRequests, 1) && float64(bad) >= set.ErrorRate*float64(total) {
			b.open(target, c, set, now)
		}
	}
}

// Abandon reports that a request Allow let through ended without telling
// anything of the target (its client left, or the gateway refused it
// before it was sent): a half-open probe's slot is free at once for the
// next request.
func (b *Breakers) Abandon(target string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.circuits[target]; c != nil && c.state == HalfOpen {
		c.probing = false
	}
}

// Observe applies a transition another replica made: an open circuit opens
// here too, until the same time, and a closed one closes. Half-open is each
// replica's own business (a probe per replica at most).
func (b *Breakers) Observe(t Transition) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.settings.enabled {
		return
	}
	c := b.circuit(t.Target)
	if c == nil {
		return
	}
	switch t.To {
	case Open:
		if c.state == Open && !t.Until.After(c.until) {
			return
		}
		c.until = t.Until
		b.enter(t.Target, c, Open, b.now(), false)
	case Closed:
		if c.state != Closed {
			b.enter(t.Target, c, Closed, b.now(), false)
		}
	}
}

func (b *Breakers) open(target string, c *circuit, set config.Breaker, now time.Time) {
	c.until = now.Add(set.OpenFor.Duration)
	b.enter(target, c, Open, now, true)
}

// enter moves c to state to; share says the change is this replica's own.
func (b *Breakers) enter(target string, c *circuit, to State, now time.Time, share bool) {
	from := c.state
	c.state = to
	c.probing = false
	if to == Closed {
		c.failures = 0
		c.window = [buckets]bucket{}
	}
	b.state.WithLabelValues(target).Set(float64(to))
	b.transitions.WithLabelValues(target, to.String()).Inc()
	attrs := []any{"target", target, "from", from.String(), "to", to.String()}
	if to == Open {
		attrs = append(attrs, "until", c.until.UTC().Format(time.RFC3339))
	}
	if !share {
		attrs = append(attrs, "from_replica", true)
	}
	if to == Open {
		b.logger.Warn("circuit opened", attrs...)
	} else {
		b.logger.Info("circuit changed state", attrs...)
	}
	if share && b.onTransition != nil && to != HalfOpen {
		b.onTransition(Transition{Target: target, To: to, Until: c.until})
	}
}

// slot returns the window slice now falls in, starting a new one when the
// current slice is over.
func (c *circuit) slot(now time.Time, window time.Duration) *bucket {
	width := max(window/buckets, time.Millisecond)
	start := now.Truncate(width)
	i := int(start.UnixNano()/int64(width)) % buckets
	if i < 0 {
		i += buckets
	}
	bk := &c.window[i]
	if !bk.start.Equal(start) {
		*bk = bucket{start: start}
	}
	return bk
}

// counts sums the outcomes of the slices still inside the window.
func (c *circuit) counts(now time.Time, window time.Duration) (total, bad int) {
	for _, bk := range c.window {
		if !bk.start.IsZero() && now.Sub(bk.start) < window {
			total += bk.total
			bad += bk.bad
		}
	}
	return total, bad
}

// Report is one circuit's line in /health.
type Report struct {
	Target string `json:"target"`
	State  string `json:"state"`
	// Until is when an open circuit lets a probe through.
	Until *time.Time `json:"until,omitempty"`
}

// Reports lists the circuits that are not closed, for /health.
func (b *Breakers) Reports() []Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Report
	for target, c := range b.circuits {
		if c.state == Closed {
			continue
		}
		r := Report{Target: target, State: c.state.String()}
		if c.state == Open {
			until := c.until.UTC()
			r.Until = &until
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Report) int { return strings.Compare(a.Target, b.Target) })
	return out
}
