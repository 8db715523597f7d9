package config

import "time"

// Breaker configures circuit breaking: the ingress stops sending requests to
// an upstream target (an upstream and the model it is asked for) that keeps
// failing, answers 503 at once while the circuit is open, and lets one probe
// through after open_for to find out whether the target is back.
type Breaker struct {
	// Enabled turns circuit breaking on.
	Enabled bool `toml:"enabled"`
	// ConsecutiveFailures opens the circuit after this many failures in a
	// row; 0 leaves it to the error rate.
	ConsecutiveFailures int `toml:"consecutive_failures"`
	// ErrorRate opens the circuit when at least this share (0 to 1) of the
	// calls in the last Window failed, once MinRequests were made; 0 leaves
	// it to the consecutive failures.
	ErrorRate float64 `toml:"error_rate"`
	// Window is the span the error rate is measured over.
	Window Duration `toml:"window"`
	// MinRequests is how many calls the window must hold before the error
	// rate counts, so that two failures out of three do not open a circuit.
	MinRequests int `toml:"min_requests"`
	// OpenFor is how long a circuit stays open before a probe may go.
	OpenFor Duration `toml:"open_for"`
}

// BreakerOverride changes the [breaker] settings for one upstream's targets.
// A key left out (zero) keeps the [breaker] value.
type BreakerOverride struct {
	ConsecutiveFailures int      `toml:"consecutive_failures"`
	ErrorRate           float64  `toml:"error_rate"`
	Window              Duration `toml:"window"`
	MinRequests         int      `toml:"min_requests"`
	OpenFor             Duration `toml:"open_for"`
}

// DefaultBreaker holds the [breaker] defaults. Circuit breaking is off
// unless enabled: it changes what clients see during an upstream outage
// (an immediate 503 instead of the upstream's own error).
func DefaultBreaker() Breaker {
	return Breaker{
		ConsecutiveFailures: 5,
		ErrorRate:           0.5,
		Window:              Duration{60 * time.Second},
		MinRequests:         20,
		OpenFor:             Duration{30 * time.Second},
	}
}

// For returns the breaker settings of upstream u: [breaker] with u's
// override laid over it.
func (b Breaker) For(u Upstream) Breaker {
	o := u.Breaker
	if o.ConsecutiveFailures != 0 {
		b.ConsecutiveFailures = o.ConsecutiveFailures
	}
	if o.ErrorRate != 0 {
		b.ErrorRate = o.ErrorRate
	}
	if o.Window.Duration != 0 {
		b.Window = o.Window
	}
	if o.MinRequests != 0 {
		b.MinRequests = o.MinRequests
	}
	if o.OpenFor.Duration != 0 {
		b.OpenFor = o.OpenFor
	}
	return b
}

// applyDefaults fills the [breaker] settings left at zero. A zero
// consecutive_failures or error_rate is meaningful (that trigger is off)
// only when the other one is set: both at zero take their defaults.
func (b *Breaker) applyDefaults() {
	d := DefaultBreaker()
	if b.ConsecutiveFailures == 0 && b.ErrorRate == 0 {
		b.ConsecutiveFailures, b.ErrorRate = d.ConsecutiveFailures, d.ErrorRate
	}
	fill(&b.Window, d.Window)
	fill(&b.MinRequests, d.MinRequests)
	fill(&b.OpenFor, d.OpenFor)
}

func (v *validator) breaker() {
	b := v.c.Breaker
	v.breakerSettings("breaker", b.ConsecutiveFailures, b.ErrorRate, b.Window, b.MinRequests, b.OpenFor, true)
	for i, u := range v.c.Upstreams {
		o := u.Breaker
		v.breakerSettings(indexKey("upstreams", i)+".breaker", o.ConsecutiveFailures, o.ErrorRate, o.Window, o.MinRequests, o.OpenFor, false)
	}
}

// breakerSettings checks one set of breaker settings; in an override
// (whole false) zero means "inherit" and passes.
func (v *validator) breakerSettings(key string, failures int, rate float64, window Duration, minRequests int, openFor Duration, whole bool) {
	v.nonNegative(key+".consecutive_failures", int64(failures))
	if rate < 0 || rate > 1 {
		v.fail(key+".error_rate", "%v is outside 0-1 (a share of the calls)", rate)
	}
	v.nonNegative(key+".min_requests", int64(minRequests))
	if window.Duration < 0 || whole && window.Duration == 0 {
		v.fail(key+".window", "must be a positive duration, got %s", window.Duration)
	}
	if openFor.Duration < 0 || whole && openFor.Duration == 0 {
		v.fail(key+".open_for", "must be a positive duration, got %s", openFor.Duration)
	}
	if whole && failures == 0 && rate == 0 {
		v.fail(key, "set consecutive_failures or error_rate: with both at 0 no circuit ever opens")
	}
}
