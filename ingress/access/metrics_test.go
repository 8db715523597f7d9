package access

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/aigateway/gateway/converter/jsonx"
)

// testutilValue returns the value of the series of family name whose labels
// include want, or -1 when there is none.
func testutilValue(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	kc := keyConf("team-a")
	kc.RequestsPerMinute = 2
	kc.QuotaTokens = 1000
	kc.QuotaPeriod = "day"
	other := keyConf("team-b")
	other.QuotaRequests = 1
	other.QuotaPeriod = "day"
	f := &fixture{dir: t.TempDir(), clock: newClock(t0), reg: prometheus.NewRegistry()}
	f.srv = startServer(t, f.dir, 0)
	f.g = newGuard(t, accessConf("closed", kc, other), connect(t, f.srv), Options{
		Now: f.clock.Now, Registerer: f.reg, ModelLabels: []string{"gpt-4o"},
	})
	g := f.g
	a := auth(t, g, "team-a")
	b := auth(t, g, "team-b")
	if _, err := g.Authenticate(nil, []byte("nope")); err == nil {
		t.Fatal("a wrong key was accepted")
	}

	g.Settle(mustAdmit(t, g, a, 300), "gpt-4o", Usage{InputTokens: 150, OutputTokens: 50, CachedTokens: 100})
	g.Settle(mustAdmit(t, g, a, 100), "some-new-model", Usage{InputTokens: 10, OutputTokens: 90})
	mustDeny(t, g, a, 1, RateLimited)
	mustAdmit(t, g, b, 0)
	mustDeny(t, g, b, 0, QuotaExceeded)
	mustDeny(t, g, b, 0, QuotaExceeded)

	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"auth allowed", MetricAuthRequests, map[string]string{"result": "allowed"}, 2},
		{"auth denied", MetricAuthRequests, map[string]string{"result": "denied"}, 1},
		{"input tokens of an allowed model", MetricKeyTokens, map[string]string{"key_name": "team-a", "model": "gpt-4o", "kind": "input"}, 150},
		{"output tokens of an allowed model", MetricKeyTokens, map[string]string{"key_name": "team-a", "model": "gpt-4o", "kind": "output"}, 50},
		{"cached tokens", MetricKeyTokens, map[string]string{"key_name": "team-a", "model": "gpt-4o", "kind": "cached"}, 100},
		{"unlisted model is other", MetricKeyTokens, map[string]string{"key_name": "team-a", "model": "other", "kind": "output"}, 90},
		{"rate limited", MetricRateLimitExceeded, map[string]string{"key_name": "team-a"}, 1},
		{"not rate limited", MetricRateLimitExceeded, map[string]string{"key_name": "team-b"}, 0},
		{"quota exceeded", MetricQuotaExceeded, map[string]string{"key_name": "team-b"}, 2},
		{"token quota ratio", MetricQuotaRemaining, map[string]string{"key_name": "team-a"}, 0.7},
		{"request quota ratio", MetricQuotaRemaining, map[string]string{"key_name": "team-b"}, 0},
		{"no store errors", MetricStoreErrors, map[string]string{"policy": "closed"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testutilValue(t, f.reg, tt.metric, tt.labels); got != tt.want {
				t.Fatalf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
	if n := testutil.CollectAndCount(g.met.tokens); n != 2*2*3 {
		t.Errorf("%d token series, want 12 (2 keys x {gpt-4o, other} x 3 kinds, created up front)", n)
	}
	if n := testutil.CollectAndCount(g.met.quotaRatio); n != 2 {
		t.Errorf("%d quota gauges, want one per key with a quota", n)
	}
}

func TestOneGuardPerRegistry(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	reg := prometheus.NewRegistry()
	cfg := accessConf("closed", keyConf("k"))
	newGuard(t, cfg, connect(t, srv), Options{Registerer: reg})
	if g, err := New(cfg, connect(t, srv), Options{Registerer: reg}); err == nil {
		g.Close()
		t.Fatal("a second Guard registered the same metrics")
	}
}

// TestNoSecretsExposed runs a whole scenario with Debug logging and checks
// that neither a key nor its hash shows in the logs, the metrics or the
// reports.
func TestNoSecretsExposed(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	adminPlain := "gw-admin-plain-secret"
	kc := keyConf("team-a")
	kc.RequestsPerMinute = 2
	kc.QuotaTokens = 100
	kc.QuotaPeriod = "day"
	kcc := keyConf("team-c")
	kcc.QuotaRequests = 5
	cfg := accessConf("open", kc, keyConf("team-b"), kcc)
	cfg.AdminKeySHA256 = HashKey(adminPlain)
	secrets := []string{plainKey("team-a"), kc.KeySHA256, plainKey("team-b"), HashKey(plainKey("team-b")),
		plainKey("team-c"), kcc.KeySHA256,
		adminPlain, cfg.AdminKeySHA256, plainKey("mallory"), HashKey(plainKey("mallory"))}

	reg := prometheus.NewRegistry()
	srv := startServer(t, t.TempDir(), 0)
	g := newGuard(t, cfg, connect(t, srv), Options{Logger: logger, Registerer: reg, ModelLabels: []string{"m"}, StoreTimeout: downTimeout})
	ctx := context.Background()

	_, _ = g.Authenticate([]byte("Bearer "+plainKey("mallory")), nil)
	g.IsAdmin(nil, []byte(adminPlain))
	k := auth(t, g, "team-a")
	g.Settle(mustAdmit(t, g, k, 50), "m", Usage{InputTokens: 10, OutputTokens: 10})
	mustDeny(t, g, k, 90, QuotaExceeded)
	mustAdmit(t, g, k, 10)
	mustDeny(t, g, k, 10, RateLimited)
	reports, err := g.KeysReport(ctx)
	if err != nil {
		t.Fatalf("KeysReport: %v", err)
	}
	reportJSON, err := jsonx.Marshal(reports)
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	// The outage is logged (open policy: admitted on local counts), and so
	// is the failure to return leases on Close.
	mustAdmit(t, g, auth(t, g, "team-b"), 1)
	if _, err := g.Admit(ctx, auth(t, g, "team-c"), 1); err != nil {
		t.Fatalf("admit with the store down, open policy: %v", err)
	}
	if err := g.Close(); err == nil {
		t.Error("Close returned no error with the store down")
	}

	expo, err := testutil.GatherAndFormat(reg, expfmt.TypeTextPlain)
	if err != nil {
		t.Fatalf("format metrics: %v", err)
	}
	if !strings.Contains(logs.String(), `"key":"team-a"`) {
		t.Errorf("logs do not name the key: the scenario did not log what it should\n%s", logs.String())
	}
	for _, where := range []struct {
		name string
		text string
	}{{"logs", logs.String()}, {"metrics", string(expo)}, {"reports", string(reportJSON)}} {
		lower := strings.ToLower(where.text)
		for _, s := range secrets {
			if strings.Contains(lower, strings.ToLower(s)) {
				t.Errorf("%s contain a secret (%d characters)", where.name, len(s))
			}
		}
	}
}

func TestReports(t *testing.T) {
	kc := keyConf("team-a")
	kc.RequestsPerMinute = 10
	kc.TokensPerMinute = 1000
	kc.QuotaRequests = 100
	kc.QuotaTokens = 5000
	kc.QuotaPeriod = "week"
	kc.Models = []string{"gpt-4o"}
	f := newFixture(t, accessConf("closed", kc, keyConf("free")))
	k := auth(t, f.g, "team-a")
	f.g.Settle(mustAdmit(t, f.g, k, 200), "gpt-4o", Usage{InputTokens: 120, OutputTokens: 30})
	mustAdmit(t, f.g, k, 100) // still open: its estimate counts

	got, err := f.g.UsageReport(context.Background(), "team-a")
	if err != nil {
		t.Fatalf("UsageReport: %v", err)
	}
	ptr := func(v int64) *int64 { return &v }
	want := KeyReport{
		Name: "team-a",
		Limits: ReportLimits{RequestsPerMinute: 10, TokensPerMinute: 1000, QuotaRequests: 100,
			QuotaTokens: 5000, QuotaPeriod: "week", Models: []string{"gpt-4o"}},
		Minute: WindowUsage{Period: "minute", Start: "2026-03-11T12:00:00Z", Reset: "2026-03-11T12:01:00Z",
			Requests: 2, Tokens: 250, RequestsRemaining: ptr(8), TokensRemaining: ptr(750)},
		Period: &WindowUsage{Period: "week", Start: "2026-03-09T00:00:00Z", Reset: "2026-03-16T00:00:00Z",
			Requests: 2, Tokens: 250, RequestsRemaining: ptr(98), TokensRemaining: ptr(4750)},
	}
	gotJSON, _ := jsonx.Marshal(got)
	wantJSON, _ := jsonx.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("report\n got %s\nwant %s", gotJSON, wantJSON)
	}

	all, err := f.g.KeysReport(context.Background())
	if err != nil {
		t.Fatalf("KeysReport: %v", err)
	}
	if len(all) != 2 || all[0].Name != "team-a" || all[1].Name != "free" || all[1].Period != nil {
		t.Errorf("KeysReport: %+v", all)
	}
	if _, err := f.g.UsageReport(context.Background(), "nobody"); err != ErrUnknownKey {
		t.Errorf("unknown key: %v, want ErrUnknownKey", err)
	}

	// A second replica sees the same totals through the store once the
	// first has written them (its unused lease is not use).
	g2 := newGuard(t, accessConf("closed", kc), connect(t, f.srv), Options{Now: f.clock.Now})
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		got2, err := g2.UsageReport(context.Background(), "team-a")
		if err != nil {
			return fmt.Errorf("UsageReport on a second guard: %w", err)
		}
		if p := got2.Period; p.Requests != 2 || p.Tokens != 250 || *p.RequestsRemaining != 98 || *p.TokensRemaining != 4750 {
			return fmt.Errorf("second guard sees %d requests and %d tokens (remaining %d, %d), want 2 and 250",
				p.Requests, p.Tokens, *p.RequestsRemaining, *p.TokensRemaining)
		}
		return nil
	})
}
