package access

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/config"
)

func TestRequestsPerMinuteExact(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
	}{
		{name: "small limit, one at a time", limit: 7},
		{name: "limit with blocks", limit: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := keyConf("k")
			kc.RequestsPerMinute = tt.limit
			f := newFixture(t, accessConf("closed", kc))
			k := auth(t, f.g, "k")
			for i := range tt.limit {
				a := mustAdmit(t, f.g, k, 0)
				if got, want := a.Limits.RequestsRemaining, tt.limit-i-1; got != want {
					t.Fatalf("request %d: remaining %d, want %d", i, got, want)
				}
				if a.Limits.RequestsLimit != tt.limit {
					t.Fatalf("request %d: limit %d, want %d", i, a.Limits.RequestsLimit, tt.limit)
				}
			}
			d := mustDeny(t, f.g, k, 0, RateLimited)
			if d.RetryAfter != 30*time.Second {
				t.Errorf("RetryAfter %v, want 30s (to the end of the minute)", d.RetryAfter)
			}
			if want := t0.Truncate(time.Minute).Add(time.Minute); !d.Limits.RequestsReset.Equal(want) {
				t.Errorf("reset %v, want %v", d.Limits.RequestsReset, want)
			}
			if d.Limits.RequestsRemaining != 0 {
				t.Errorf("remaining %d after the limit, want 0", d.Limits.RequestsRemaining)
			}

			// Still refused later in the same minute, admitted in the next.
			f.clock.Advance(29 * time.Second)
			mustDeny(t, f.g, k, 0, RateLimited)
			f.clock.Advance(time.Second)
			a := mustAdmit(t, f.g, k, 0)
			if a.Limits.RequestsRemaining != tt.limit-1 {
				t.Errorf("new window: remaining %d, want %d", a.Limits.RequestsRemaining, tt.limit-1)
			}
		})
	}
}

// TestTwoGuardsShareOneLimit runs two guards, each on its own NATS
// connection as two ingress processes would, against one limit.
func TestTwoGuardsShareOneLimit(t *testing.T) {
	tests := []struct {
		name       string
		limit      int64
		goroutines int
	}{
		{name: "300 per minute", limit: 300, goroutines: 8},
		{name: "6000 per minute", limit: 6000, goroutines: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := keyConf("shared")
			kc.RequestsPerMinute = tt.limit
			cfg := accessConf("closed", kc)
			srv := startServer(t, t.TempDir(), 0)
			clk := newClock(t0)
			js := connect(t, srv)
			guards := []*Guard{
				newGuard(t, cfg, js, Options{Now: clk.Now}),
				newGuard(t, cfg, connect(t, srv), Options{Now: clk.Now}),
			}
			// Each goroutine tries limit/goroutines times: twice the limit in all.
			attempts := tt.limit / int64(tt.goroutines)
			var admitted, refused atomic.Int64
			perGuard := make([]atomic.Int64, len(guards))
			var wg sync.WaitGroup
			for gi, g := range guards {
				k := auth(t, g, "shared")
				for range tt.goroutines {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range attempts {
							_, err := g.Admit(context.Background(), k, 0)
							var d *Denial
							switch {
							case err == nil:
								admitted.Add(1)
								perGuard[gi].Add(1)
							case errors.As(err, &d) && d.Reason == RateLimited:
								refused.Add(1)
							default:
								t.Errorf("admit: %v", err)
								return
							}
						}
					}()
				}
			}
			wg.Wait()
			got := admitted.Load()
			t.Logf("admitted %d (guard 1: %d, guard 2: %d), refused %d, limit %d",
				got, perGuard[0].Load(), perGuard[1].Load(), refused.Load(), tt.limit)
			if got > tt.limit {
				t.Fatalf("admitted %d, more than the limit %d", got, tt.limit)
			}
			if min := tt.limit * 98 / 100; got < min {
				t.Fatalf("admitted %d, want at least 98%% of %d (%d)", got, tt.limit, min)
			}
			// Both replicas return their unused leases on Close: the entry
			// then holds exactly what was admitted.
			for _, g := range guards {
				if err := g.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			if _, total := entryTotal(t, js, "rpm.shared"); total != got {
				t.Errorf("entry total %d after Close, want the %d admitted", total, got)
			}
		})
	}
}

func TestTokensPerMinute(t *testing.T) {
	kc := keyConf("k")
	kc.TokensPerMinute = 1000
	f := newFixture(t, accessConf("closed", kc))
	k := auth(t, f.g, "k")

	// One request bigger than the whole budget is refused up front.
	d := mustDeny(t, f.g, k, 1500, RateLimited)
	if d.Limits.TokensLimit != 1000 || d.Limits.TokensRemaining != 1000 {
		t.Errorf("limits after refusing a huge request: %+v", d.Limits)
	}
	if !d.Tokens {
		t.Error("the denial does not say a token limit refused")
	}

	first := mustAdmit(t, f.g, k, 600)
	if first.Limits.TokensRemaining != 400 {
		t.Errorf("remaining after 600: %d, want 400", first.Limits.TokensRemaining)
	}
	mustDeny(t, f.g, k, 600, RateLimited)
	second := mustAdmit(t, f.g, k, 400)

	// The first request used far less than estimated: the rest comes back.
	f.g.Settle(first, "m", Usage{InputTokens: 80, OutputTokens: 20})
	a := mustAdmit(t, f.g, k, 500)
	if a.Limits.TokensRemaining != 0 {
		t.Errorf("remaining %d, want 0 (100 + 400 + 500 used)", a.Limits.TokensRemaining)
	}
	// Settling twice is harmless: nothing more comes back.
	f.g.Settle(first, "m", Usage{})
	mustDeny(t, f.g, k, 1, RateLimited)

	// Using more than estimated is charged too.
	f.g.Settle(second, "m", Usage{InputTokens: 500})
	if l := f.g.limits(k, f.clock.Now()); l.TokensRemaining != 0 {
		t.Errorf("remaining %d after an overrun, want 0", l.TokensRemaining)
	}
	f.clock.Advance(time.Minute)
	mustAdmit(t, f.g, k, 1000)
}

func TestSettleAcrossWindows(t *testing.T) {
	kc := keyConf("k")
	kc.TokensPerMinute = 1000
	f := newFixture(t, accessConf("closed", kc))
	k := auth(t, f.g, "k")

	// A refund for a minute that has passed is dropped.
	a := mustAdmit(t, f.g, k, 800)
	f.clock.Advance(time.Minute)
	f.g.Settle(a, "m", Usage{OutputTokens: 100})
	if l := f.g.limits(k, f.clock.Now()); l.TokensRemaining != 1000 {
		t.Fatalf("remaining %d in the new minute, want 1000", l.TokensRemaining)
	}

	// An overrun spent in a later minute is charged to that minute.
	b := mustAdmit(t, f.g, k, 100)
	f.clock.Advance(time.Minute)
	f.g.Settle(b, "m", Usage{OutputTokens: 400})
	if l := f.g.limits(k, f.clock.Now()); l.TokensRemaining != 700 {
		t.Fatalf("remaining %d, want 700 after a 300-token overrun", l.TokensRemaining)
	}
	mustDeny(t, f.g, k, 701, RateLimited)
	mustAdmit(t, f.g, k, 700)
}

func TestQuota(t *testing.T) {
	tests := []struct {
		name   string
		period string
		// reset is the end of the period holding t0 (Wednesday 2026-03-11).
		reset time.Time
	}{
		{name: "day", period: "day", reset: time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)},
		{name: "week", period: "week", reset: time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)},
		{name: "month", period: "month", reset: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := keyConf("k")
			kc.QuotaRequests = 5
			kc.QuotaTokens = 1000
			kc.QuotaPeriod = tt.period
			f := newFixture(t, accessConf("closed", kc))
			k := auth(t, f.g, "k")
			for range 4 {
				f.g.Settle(mustAdmit(t, f.g, k, 10), "m", Usage{InputTokens: 10})
			}
			// Tokens run out before requests: the estimate counts up front.
			d := mustDeny(t, f.g, k, 961, QuotaExceeded)
			if want := tt.reset.Sub(t0); d.RetryAfter != want {
				t.Errorf("RetryAfter %v, want %v (end of the %s)", d.RetryAfter, want, tt.period)
			}
			if !d.Limits.RequestsReset.Equal(tt.reset) || !d.Limits.TokensReset.Equal(tt.reset) {
				t.Errorf("resets %v / %v, want %v", d.Limits.RequestsReset, d.Limits.TokensReset, tt.reset)
			}
			f.g.Settle(mustAdmit(t, f.g, k, 10), "m", Usage{InputTokens: 10})
			d = mustDeny(t, f.g, k, 1, QuotaExceeded)
			if d.Limits.RequestsRemaining != 0 || d.Limits.TokensRemaining != 950 {
				t.Errorf("limits when the request quota is spent: %+v", d.Limits)
			}

			// Still spent a second before the period ends, fresh after.
			f.clock.Advance(tt.reset.Sub(t0) - time.Second)
			mustDeny(t, f.g, k, 1, QuotaExceeded)
			f.clock.Advance(time.Second)
			mustAdmit(t, f.g, k, 1000)
		})
	}
}

func TestQuotaSurvivesRestart(t *testing.T) {
	kc := keyConf("k")
	kc.QuotaRequests = 100
	kc.QuotaTokens = 10000
	kc.QuotaPeriod = "month"
	cfg := accessConf("closed", kc)
	dir := t.TempDir()
	clk := newClock(t0)

	srv := startServer(t, dir, 0)
	g := newGuard(t, cfg, connect(t, srv), Options{Now: clk.Now})
	k := auth(t, g, "k")
	for range 7 {
		g.Settle(mustAdmit(t, g, k, 500), "m", Usage{InputTokens: 200, OutputTokens: 100})
	}
	before, err := g.UsageReport(context.Background(), "k")
	if err != nil {
		t.Fatalf("UsageReport: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()

	srv = startServer(t, dir, 0)
	g = newGuard(t, cfg, connect(t, srv), Options{Now: clk.Now})
	after, err := g.UsageReport(context.Background(), "k")
	if err != nil {
		t.Fatalf("UsageReport after restart: %v", err)
	}
	if *after.Period.RequestsRemaining != 93 || *after.Period.TokensRemaining != 10000-7*300 {
		t.Errorf("after restart: %d requests and %d tokens remaining, want 93 and %d",
			*after.Period.RequestsRemaining, *after.Period.TokensRemaining, 10000-7*300)
	}
	b, a := before.Period, after.Period
	if b.Requests != a.Requests || b.Tokens != a.Tokens || *b.RequestsRemaining != *a.RequestsRemaining || *b.TokensRemaining != *a.TokensRemaining {
		t.Errorf("period usage changed across the restart: before %+v, after %+v", *b, *a)
	}
	// And the restored usage is enforced.
	k = auth(t, g, "k")
	mustDeny(t, g, k, 10000-7*300+1, QuotaExceeded)
	mustAdmit(t, g, k, 10000-7*300)
}

func TestStoreDown(t *testing.T) {
	tests := []struct {
		policy string
		want   Reason // "" means admitted
	}{
		{policy: "closed", want: StoreUnavailable},
		{policy: "open"},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			kc := keyConf("k")
			kc.RequestsPerMinute = 3
			f := newFixture(t, accessConf(tt.policy, kc), func(o *Options) { o.StoreTimeout = downTimeout })
			k := auth(t, f.g, "k")
			mustAdmit(t, f.g, k, 0)

			f.srv.Shutdown()
			f.srv.WaitForShutdown()
			for i := range 2 {
				_, err := f.g.Admit(context.Background(), k, 0)
				if tt.want == "" {
					if err != nil {
						t.Fatalf("request %d with the store down: %v", i, err)
					}
					continue
				}
				var d *Denial
				if !errors.As(err, &d) || d.Reason != tt.want {
					t.Fatalf("request %d with the store down: %v, want %s", i, err, tt.want)
				}
				if d.RetryAfter <= 0 {
					t.Errorf("RetryAfter %v, want > 0", d.RetryAfter)
				}
			}
			if tt.want == "" {
				// Open: still limited, by this replica's own count.
				mustDeny(t, f.g, k, 0, RateLimited)
			}
			if got := testutilValue(t, f.reg, MetricStoreErrors, map[string]string{"policy": tt.policy}); got < 2 {
				t.Errorf("%s{policy=%q} = %v, want at least 2", MetricStoreErrors, tt.policy, got)
			}
		})
	}
}

// TestStoreDownOpenReconciles checks that usage counted in memory while the
// store was down reaches the store once it is back.
func TestStoreDownOpenReconciles(t *testing.T) {
	kc := keyConf("k")
	kc.QuotaRequests = 50
	kc.QuotaPeriod = "day"
	cfg := accessConf("open", kc)
	dir := t.TempDir()
	clk := newClock(t0)
	srv := startServer(t, dir, 0)
	js := connect(t, srv)
	g := newGuard(t, cfg, js, Options{Now: clk.Now, StoreTimeout: downTimeout})
	k := auth(t, g, "k")
	mustAdmit(t, g, k, 0)
	_, leased := entryTotal(t, js, "qreq.k")

	port := srv.Addr().(*net.TCPAddr).Port
	srv.Shutdown()
	srv.WaitForShutdown()
	for range 4 {
		mustAdmit(t, g, k, 0)
	}

	startServer(t, dir, port)
	waitConnected(t, js)
	clk.Advance(2 * DefaultStoreBackoff)
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, total := entryTotal(t, js, "qreq.k"); total != 5 {
		t.Fatalf("entry total %d after reconnecting (leased %d before the outage), want the 5 admitted", total, leased)
	}
}

func TestDisabled(t *testing.T) {
	g, err := New(config.Access{Enabled: false, Keys: []config.Key{keyConf("k")}}, nil, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer g.Close()
	if g.Enabled() {
		t.Fatal("Enabled() = true for a disabled config")
	}
	a, err := g.Admit(context.Background(), nil, 100)
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	g.Settle(a, "m", Usage{InputTokens: 1})
	g.Settle(Admission{}, "m", Usage{})
}

func TestLimitsWithoutCounting(t *testing.T) {
	kc := keyConf("k")
	kc.RequestsPerMinute = 2
	kc.QuotaTokens = 100
	f := newFixture(t, accessConf("closed", kc))
	k := auth(t, f.g, "k")

	for range 3 {
		l := f.g.Limits(k)
		if l.RequestsLimit != 2 || l.RequestsRemaining != 2 || l.TokensLimit != 100 || l.TokensRemaining != 100 {
			t.Fatalf("Limits = %+v, want the untouched limits", l)
		}
	}
	mustAdmit(t, f.g, k, 10)
	if l := f.g.Limits(k); l.RequestsRemaining != 1 || l.TokensRemaining != 90 {
		t.Errorf("Limits after one admission = %+v", l)
	}
	mustAdmit(t, f.g, k, 10)
	if d := mustDeny(t, f.g, k, 10, RateLimited); d.Tokens {
		t.Error("a request limit refusal says tokens")
	}
	if l := (&Guard{}).Limits(k); l != (Limits{}) {
		t.Errorf("Limits of a disabled guard = %+v", l)
	}
}
