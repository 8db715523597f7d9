package access

import (
	"context"
	"fmt"
	"time"
)

// KeyReport is one key's limits and usage, as served by the admin API. It
// names the key but never contains the key or its hash.
type KeyReport struct {
	Name   string       `json:"name"`
	Limits ReportLimits `json:"limits"`
	// Minute is the current per-minute window.
	Minute WindowUsage `json:"minute"`
	// Period is the current quota period; absent when the key has no quota.
	Period *WindowUsage `json:"period,omitempty"`
}

// ReportLimits are a key's configured limits; zero means unlimited and empty
// allow-lists allow everything.
type ReportLimits struct {
	RequestsPerMinute int64    `json:"requests_per_minute"`
	TokensPerMinute   int64    `json:"tokens_per_minute"`
	QuotaRequests     int64    `json:"quota_requests"`
	QuotaTokens       int64    `json:"quota_tokens"`
	QuotaPeriod       string   `json:"quota_period,omitempty"`
	Routes            []string `json:"routes,omitempty"`
	Models            []string `json:"models,omitempty"`
}

// WindowUsage is the use of one window across all replicas. Only limited
// counters are tracked: a dimension without a limit reads 0 and has no
// remaining field. Other replicas' use counts as far as they have written it
// (an admission or a settled request is written within a round trip or so);
// capacity they leased and have not used is not use, and counts as
// remaining.
type WindowUsage struct {
	Period            string `json:"period"` // minute, day, week or month
	Start             string `json:"start"`  // RFC 3339
	Reset             string `json:"reset"`  // RFC 3339: when the window ends
	Requests          int64  `json:"requests"`
	Tokens            int64  `json:"tokens"`
	RequestsRemaining *int64 `json:"requests_remaining,omitempty"`
	TokensRemaining   *int64 `json:"tokens_remaining,omitempty"`
}

// KeysReport reports every configured key, in configuration order, reading
// the current totals from the store.
func (g *Guard) KeysReport(ctx context.Context) ([]KeyReport, error) {
	out := make([]KeyReport, 0, len(g.keys))
	for _, k := range g.keys {
		r, err := g.report(ctx, k)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// UsageReport reports one key by name; an unknown name returns ErrUnknownKey.
func (g *Guard) UsageReport(ctx context.Context, name string) (KeyReport, error) {
	k, ok := g.byName[name]
	if !ok {
		return KeyReport{}, ErrUnknownKey
	}
	return g.report(ctx, k)
}

func (g *Guard) report(ctx context.Context, k *Key) (KeyReport, error) {
	now := g.now()
	for _, c := range k.counters() {
		if err := g.refresh(ctx, c, now); err != nil {
			return KeyReport{}, fmt.Errorf("access: report for key %q: %w", k.name, err)
		}
	}
	r := KeyReport{Name: k.name, Limits: k.limits}
	r.Minute = window(periodMinute, now, k.rpm, k.tpm)
	if k.qreq != nil || k.qtok != nil {
		p, _ := parsePeriod(k.limits.QuotaPeriod)
		w := window(p, now, k.qreq, k.qtok)
		r.Period = &w
	}
	return r, nil
}

func window(p period, now time.Time, req, tok *counter) WindowUsage {
	start, end := p.bounds(now)
	w := WindowUsage{
		Period: p.String(),
		Start:  start.Format(time.RFC3339),
		Reset:  end.Format(time.RFC3339),
	}
	if req != nil {
		used, left := req.usage(now)
		w.Requests, w.RequestsRemaining = used, &left
	}
	if tok != nil {
		used, left := tok.usage(now)
		w.Tokens, w.TokensRemaining = used, &left
	}
	return w
}

// usage returns the estimated total use and remaining capacity of the
// window holding now.
func (c *counter) usage(now time.Time) (used, remaining int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	return c.usedLocked(), c.remainingLocked()
}
