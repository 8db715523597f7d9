package access

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkHotPath measures what access control adds to one request:
// Authenticate, Admit and Settle for a key with every limit set, high enough
// that the leases are refilled from the store only now and then (which the
// figures include).
func BenchmarkHotPath(b *testing.B) {
	for _, keys := range []int{1, 16} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			cfgKeys := make([]string, keys)
			for i := range cfgKeys {
				cfgKeys[i] = fmt.Sprintf("key-%d", i)
			}
			kc := keyConf(cfgKeys[0])
			kc.RequestsPerMinute = 10_000_000
			kc.TokensPerMinute = 10_000_000_000
			kc.QuotaRequests = 1_000_000_000
			kc.QuotaTokens = 1_000_000_000_000
			kc.QuotaPeriod = "month"
			cfg := accessConf("closed", kc)
			for _, name := range cfgKeys[1:] {
				cfg.Keys = append(cfg.Keys, keyConf(name))
			}
			srv := startServer(b, b.TempDir(), 0)
			g := newGuard(b, cfg, connect(b, srv), Options{Registerer: prometheus.NewRegistry(), ModelLabels: []string{"gpt-4o"}})
			authz := []byte("Bearer " + plainKey(cfgKeys[0]))
			ctx := context.Background()
			usage := Usage{InputTokens: 300, OutputTokens: 150, CachedTokens: 100}

			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					k, err := g.Authenticate(authz, nil)
					if err != nil {
						b.Fatal(err)
					}
					a, err := g.Admit(ctx, k, 500)
					if err != nil {
						b.Fatal(err)
					}
					g.Settle(a, "gpt-4o", usage)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k, err := g.Authenticate(authz, nil)
						if err != nil {
							b.Error(err)
							return
						}
						a, err := g.Admit(ctx, k, 500)
						if err != nil {
							b.Error(err)
							return
						}
						g.Settle(a, "gpt-4o", usage)
					}
				})
			})
		})
	}
}

// BenchmarkAdmitWithClaims measures Admit when leases run out often: a
// requests-per-minute limit small enough that every request (block 1) or
// every fifth request (block 5) claims from the store, with the clock moving
// to the next minute whenever the limit is spent.
func BenchmarkAdmitWithClaims(b *testing.B) {
	for _, limit := range []int64{300, 1000} {
		b.Run(fmt.Sprintf("rpm=%d/block=%d", limit, max(1, limit/200)), func(b *testing.B) {
			kc := keyConf("k")
			kc.RequestsPerMinute = limit
			srv := startServer(b, b.TempDir(), 0)
			var calls atomic.Int64
			now := func() time.Time {
				return t0.Add(time.Duration(calls.Add(1)/limit) * time.Minute)
			}
			g := newGuard(b, accessConf("closed", kc), connect(b, srv), Options{Now: now})
			k := auth(b, g, "k")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				a, err := g.Admit(ctx, k, 0)
				if err != nil {
					b.Fatal(err)
				}
				g.Settle(a, "m", Usage{})
			}
		})
	}
}
