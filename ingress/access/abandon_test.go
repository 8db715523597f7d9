package access

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAbandonedLeaseIsNotCharged checks that a replica which cannot return
// its unused leases when it stops (NATS gone, or its connection cut as when
// the process is killed) leaves the key charged with what it used and no
// more: the lease it held is free again for the other replicas once its
// time-to-live has passed, and the quota still holds exactly.
func TestAbandonedLeaseIsNotCharged(t *testing.T) {
	tests := []struct {
		name string
		// stop makes the store unreachable for the replica about to stop;
		// restart brings it back for the others.
		stop func(t *testing.T, srv *server.Server, js jetstream.JetStream) (restart func() *server.Server)
	}{
		{
			name: "nats down",
			stop: func(t *testing.T, srv *server.Server, _ jetstream.JetStream) func() *server.Server {
				dir := srv.JetStreamConfig().StoreDir
				port := srv.Addr().(*net.TCPAddr).Port
				srv.Shutdown()
				srv.WaitForShutdown()
				return func() *server.Server { return startServer(t, dir, port) }
			},
		},
		{
			name: "process killed",
			stop: func(t *testing.T, srv *server.Server, js jetstream.JetStream) func() *server.Server {
				js.Conn().Close()
				return func() *server.Server { return srv }
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := keyConf("k")
			kc.QuotaRequests = 1000 // blocks of 5
			kc.QuotaTokens = 100000 // blocks of 500
			kc.QuotaPeriod = "day"
			cfg := accessConf("closed", kc)
			clk := newClock(t0)
			srv := startServer(t, t.TempDir(), 0)
			js := connect(t, srv)
			g, err := New(cfg, js, Options{Now: clk.Now, StoreTimeout: downTimeout, SyncInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			k := auth(t, g, "k")
			for range 3 {
				a := mustAdmit(t, g, k, 300)
				g.Settle(a, "m", Usage{InputTokens: 40, OutputTokens: 10})
			}

			// Another replica sees the use (not the lease) once it is
			// written, before the store goes away.
			reader := newGuard(t, cfg, connect(t, srv), Options{Now: clk.Now})
			checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				return wantUsage(reader, 3, 150)
			})

			restart := tt.stop(t, srv, js)
			if err := g.Close(); err == nil {
				t.Fatal("Close returned the leases with the store unreachable")
			}
			srv = restart()

			clk.Advance(2 * time.Minute) // past the lease's time-to-live, same day
			next := newGuard(t, cfg, connect(t, srv), Options{Now: clk.Now})
			if err := wantUsage(next, 3, 150); err != nil {
				t.Fatal(err)
			}
			// The whole rest of the quota, and not one token more.
			k = auth(t, next, "k")
			mustAdmit(t, next, k, 100000-150)
			mustDeny(t, next, k, 1, QuotaExceeded)
		})
	}
}

// wantUsage checks the quota period's usage of key "k" as g reports it.
func wantUsage(g *Guard, requests, tokens int64) error {
	r, err := g.UsageReport(context.Background(), "k")
	if err != nil {
		return fmt.Errorf("UsageReport: %w", err)
	}
	p := r.Period
	if p.Requests != requests || p.Tokens != tokens || *p.RequestsRemaining != 1000-requests || *p.TokensRemaining != 100000-tokens {
		return fmt.Errorf("period usage %d requests, %d tokens (remaining %d, %d); want %d, %d",
			p.Requests, p.Tokens, *p.RequestsRemaining, *p.TokensRemaining, requests, tokens)
	}
	return nil
}

// TestExpiredLeaseIsForfeit checks that the limit stays exact when a lease
// expires under a replica that is still running but could not renew it: the
// other replica takes the capacity, and the first no longer admits from it.
func TestExpiredLeaseIsForfeit(t *testing.T) {
	kc := keyConf("k")
	kc.QuotaRequests = 1000 // blocks of 5
	kc.QuotaPeriod = "day"
	cfg := accessConf("closed", kc)
	clk := newClock(t0)
	srv := startServer(t, t.TempDir(), 0)
	// No ticks: nothing renews a's lease.
	opts := Options{Now: clk.Now, SyncInterval: time.Hour, LeaseTTL: 4 * time.Hour}
	a := newGuard(t, cfg, connect(t, srv), opts)
	b := newGuard(t, cfg, connect(t, srv), opts)
	ka, kb := auth(t, a, "k"), auth(t, b, "k")

	mustAdmit(t, a, ka, 0) // leases a block of 5, uses 1
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		r, err := b.UsageReport(context.Background(), "k")
		if err != nil {
			return err
		}
		if r.Period.Requests != 1 {
			return fmt.Errorf("b sees %d requests, want a's 1 once written", r.Period.Requests)
		}
		return nil
	})
	admitAll := func() (n int) {
		for ; n < 1000; n++ {
			if _, err := b.Admit(context.Background(), kb, 0); err != nil {
				return n
			}
		}
		return n
	}
	if n := admitAll(); n != 995 {
		t.Fatalf("b got %d, want 995 while a holds 4", n)
	}

	clk.Advance(4*time.Hour + time.Second)
	if n := admitAll(); n != 4 {
		t.Fatalf("b got %d more after a's lease expired, want its 4", n)
	}
	mustDeny(t, a, ka, 0, QuotaExceeded)
	mustDeny(t, b, kb, 0, QuotaExceeded)

	reader := newGuard(t, cfg, connect(t, srv), Options{Now: clk.Now})
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		r, err := reader.UsageReport(context.Background(), "k")
		if err != nil {
			return err
		}
		if r.Period.Requests != 1000 || *r.Period.RequestsRemaining != 0 {
			return fmt.Errorf("%d requests used, %d remaining; want 1000 and 0", r.Period.Requests, *r.Period.RequestsRemaining)
		}
		return nil
	})
}
