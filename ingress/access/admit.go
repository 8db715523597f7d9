package access

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Reason says why a request was refused.
type Reason string

// Denial reasons.
const (
	// RateLimited: a requests- or tokens-per-minute limit is reached (429).
	RateLimited Reason = "rate_limited"
	// QuotaExceeded: the request or token quota of the period is spent (429).
	QuotaExceeded Reason = "quota_exceeded"
	// StoreUnavailable: the counter store is unreachable and the policy is
	// "closed" (503).
	StoreUnavailable Reason = "store_unavailable"
)

// Denial is the error Admit returns when a request must not go ahead. Use
// errors.As to get it.
type Denial struct {
	Reason Reason
	// RetryAfter is the time until capacity frees: the end of the minute
	// window for RateLimited, the end of the quota period for QuotaExceeded,
	// the store back-off for StoreUnavailable.
	RetryAfter time.Duration
	// Tokens reports that the refusing limit counts tokens rather than
	// requests, so the client can be told which one ran out.
	Tokens bool
	// Limits is the key's state, for the rate-limit response headers.
	Limits Limits
}

// Error describes the denial without naming the key.
func (d *Denial) Error() string {
	return fmt.Sprintf("access: %s, retry after %s", d.Reason, d.RetryAfter)
}

// Limits is a key's rate-limit state for the response headers
// (x-ratelimit-* and anthropic-ratelimit-*). The requests fields describe the
// requests-per-minute limit, or the request quota when the key has no
// per-minute limit; the tokens fields likewise. A zero limit means unlimited.
// Remaining counts are this replica's best estimate across all replicas.
type Limits struct {
	RequestsLimit, RequestsRemaining int64
	RequestsReset                    time.Time
	TokensLimit, TokensRemaining     int64
	TokensReset                      time.Time
}

// Usage is what a request actually consumed, from the final frame.
// InputTokens includes CachedTokens.
type Usage struct {
	InputTokens, OutputTokens, CachedTokens int64
}

// Admission is a granted request. Pass it to Settle exactly once when the
// request ends (further calls do nothing). The zero Admission, returned when
// access control is off, settles to nothing.
type Admission struct {
	// Limits is the key's state after admitting the request.
	Limits Limits
	res    *reservation
}

// reservation is what Admit counted, so Settle can correct it.
type reservation struct {
	key     *Key
	tokens  int64    // the estimate counted in tpm and qtok
	starts  [4]int64 // window of each counter (slot order); -1: nothing counted
	settled atomic.Bool
}

// Counter slots in the order Admit checks them.
const (
	slotRPM = iota
	slotTPM
	slotQReq
	slotQTok
)

// Admit checks and counts a request of the key: requests per minute, tokens
// per minute (with estimatedTokens counted up front, so one huge request
// cannot overshoot), then the request and token quotas of the period. On
// success one request and estimatedTokens are reserved until Settle. A
// refusal is a *Denial; a cancelled ctx returns its error, a closed Guard
// ErrClosed.
func (g *Guard) Admit(ctx context.Context, k *Key, estimatedTokens int64) (Admission, error) {
	if !g.enabled || k == nil {
		return Admission{}, nil
	}
	if g.closed.Load() {
		return Admission{}, ErrClosed
	}
	now := g.now()
	est := max(0, estimatedTokens)
	r := &reservation{key: k, tokens: est, starts: [4]int64{-1, -1, -1, -1}}
	steps := [4]struct {
		c *counter
		n int64
	}{{k.rpm, 1}, {k.tpm, est}, {k.qreq, 1}, {k.qtok, est}}
	for i, st := range steps {
		if st.c == nil || st.n == 0 {
			continue
		}
		start, out, err := g.take(ctx, st.c, st.n, now)
		if err == nil && out == admitted {
			r.starts[i] = start
			continue
		}
		for j := range i {
			if r.starts[j] >= 0 {
				steps[j].c.unadmit(r.starts[j], steps[j].n)
			}
		}
		if err != nil {
			return Admission{}, err
		}
		return Admission{}, g.deny(k, i, out, now)
	}
	if c := k.quotaGaugeCounter(); c != nil {
		k.km.quotaRatio.Set(c.remainingRatio())
	}
	// Written soon, so the request counts even if this replica dies before
	// it ends; Settle writes the correction.
	g.queueFlush(k.qreq)
	g.queueFlush(k.qtok)
	return Admission{Limits: g.limits(k, now), res: r}, nil
}

func (g *Guard) deny(k *Key, slot int, out outcome, now time.Time) *Denial {
	c := [4]*counter{k.rpm, k.tpm, k.qreq, k.qtok}[slot]
	d := &Denial{Limits: g.limits(k, now), Tokens: slot == slotTPM || slot == slotQTok}
	switch {
	case out == unavailable:
		d.Reason, d.RetryAfter = StoreUnavailable, g.backoff
	case slot == slotRPM || slot == slotTPM:
		d.Reason = RateLimited
		_, _, reset := c.snapshot(now)
		d.RetryAfter = reset.Sub(now)
		k.km.rateLimited.Inc()
	default:
		d.Reason = QuotaExceeded
		_, _, reset := c.snapshot(now)
		d.RetryAfter = reset.Sub(now)
		k.km.quotaExceeded.Inc()
	}
	g.log.Debug("access: request refused", "key", k.name, "reason", string(d.Reason), "retry_after", d.RetryAfter)
	return d
}

// Limits returns the key's rate-limit state without counting anything, for
// the headers of an answer refused before Admit (a route or model the key may
// not use). The zero Limits when access control is off.
func (g *Guard) Limits(k *Key) Limits {
	if !g.enabled || k == nil {
		return Limits{}
	}
	return g.limits(k, g.now())
}

// limits reads the key's header state.
func (g *Guard) limits(k *Key, now time.Time) Limits {
	var l Limits
	if c := first(k.rpm, k.qreq); c != nil {
		l.RequestsLimit, l.RequestsRemaining, l.RequestsReset = c.snapshot(now)
	}
	if c := first(k.tpm, k.qtok); c != nil {
		l.TokensLimit, l.TokensRemaining, l.TokensReset = c.snapshot(now)
	}
	return l
}

func first(a, b *counter) *counter {
	if a != nil {
		return a
	}
	return b
}

// Settle replaces the admission's token estimate by the tokens actually used
// (input, which includes cached, plus output) in the per-minute counter and
// the quota, and counts gateway_key_tokens_total. An aborted stream passes what
// the upstream reported or produced so far, possibly zero output. Only the
// first call for an Admission counts.
func (g *Guard) Settle(a Admission, model string, u Usage) {
	r := a.res
	if r == nil || !r.settled.CompareAndSwap(false, true) {
		return
	}
	k := r.key
	in, out, cached := max(0, u.InputTokens), max(0, u.OutputTokens), max(0, u.CachedTokens)
	if diff := in + out - r.tokens; diff != 0 {
		now := g.now()
		for _, s := range [...]struct {
			c    *counter
			slot int
		}{{k.tpm, slotTPM}, {k.qtok, slotQTok}} {
			if s.c == nil {
				continue
			}
			// A refund stays in the local lease for the next requests, as
			// estimates usually exceed use; only a surplus beyond what
			// the next two requests of this size need goes back at once.
			free := s.c.adjust(r.starts[s.slot], diff, now)
			if keep := max(4*s.c.block(s.c.limit), 2*r.tokens); diff < 0 && free > keep {
				g.returnSurplus(s.c, keep, now)
			}
		}
		if c := k.quotaGaugeCounter(); c != nil {
			k.km.quotaRatio.Set(c.remainingRatio())
		}
	}
	// Quota use is final only once written; write it now rather than at
	// the next tick, so a replica that dies soon after loses none of it.
	g.queueFlush(k.qtok)
	mc := k.km.model(model)
	mc.input.Add(float64(in))
	mc.output.Add(float64(out))
	mc.cached.Add(float64(cached))
}

// returnSurplus gives the lease beyond keep back to the other replicas. It
// never waits: when another round trip of this counter is under way, the
// surplus stays until the counter idles.
func (g *Guard) returnSurplus(c *counter, keep int64, now time.Time) {
	if g.isDown(now) {
		return
	}
	select {
	case c.sem <- struct{}{}:
	default:
		return
	}
	defer func() { <-c.sem }()
	// An error marks the store down; the deficit or surplus stays local
	// until the background loop succeeds.
	_, _, _ = g.sync(context.Background(), c, 0, keep, now)
}
