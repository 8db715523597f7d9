package access

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/aigateway/gateway/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is 30 s into a minute on a Wednesday, so minute, day, week and month
// boundaries are all ahead of it.
var t0 = time.Date(2026, time.March, 11, 12, 0, 30, 0, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startServer runs an embedded JetStream server on a random loopback port
// (or port, when not zero) storing in dir.
func startServer(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatalf("new nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// connect opens a client connection of its own, as a separate ingress
// process would.
func connect(t testing.TB, s *server.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(),
		nats.ReconnectWait(20*time.Millisecond),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// newGuard builds a Guard that is closed when the test ends.
// Store calls get a generous time-out (the tests share a loaded machine)
// unless the test sets one.
func newGuard(t testing.TB, cfg config.Access, js jetstream.JetStream, opts Options) *Guard {
	t.Helper()
	if opts.StoreTimeout == 0 {
		opts.StoreTimeout = 5 * time.Second
	}
	g, err := New(cfg, js, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// keyConf is a key named name whose plain key is "plain-"+name.
func keyConf(name string) config.Key {
	return config.Key{Name: name, KeySHA256: HashKey(plainKey(name))}
}

func plainKey(name string) string { return "plain-" + name + "-0123456789abcdef" }

func accessConf(policy string, keys ...config.Key) config.Access {
	return config.Access{Enabled: true, StoreFailure: policy, Keys: keys}
}

// fixture is a server, a clock and a guard on them.
type fixture struct {
	srv   *server.Server
	dir   string
	clock *clock
	reg   *prometheus.Registry
	g     *Guard
}

// downTimeout is the store time-out of tests that take the store down, so
// each detection of the outage is quick.
const downTimeout = 2 * time.Second

func newFixture(t *testing.T, cfg config.Access, edit ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), clock: newClock(t0), reg: prometheus.NewRegistry()}
	f.srv = startServer(t, f.dir, 0)
	opts := Options{Now: f.clock.Now, Registerer: f.reg}
	for _, e := range edit {
		e(&opts)
	}
	f.g = newGuard(t, cfg, connect(t, f.srv), opts)
	return f
}

// auth authenticates the key named name and fails the test otherwise.
func auth(t testing.TB, g *Guard, name string) *Key {
	t.Helper()
	k, err := g.Authenticate([]byte("Bearer "+plainKey(name)), nil)
	if err != nil {
		t.Fatalf("authenticate %s: %v", name, err)
	}
	return k
}

// mustAdmit admits a request and fails the test on any error.
func mustAdmit(t testing.TB, g *Guard, k *Key, tokens int64) Admission {
	t.Helper()
	a, err := g.Admit(context.Background(), k, tokens)
	if err != nil {
		t.Fatalf("admit %d tokens: %v", tokens, err)
	}
	return a
}

// mustDeny admits a request, expects a Denial with reason and returns it.
func mustDeny(t testing.TB, g *Guard, k *Key, tokens int64, reason Reason) *Denial {
	t.Helper()
	_, err := g.Admit(context.Background(), k, tokens)
	var d *Denial
	if !errors.As(err, &d) {
		t.Fatalf("admit %d tokens: got %v, want a %s denial", tokens, err, reason)
	}
	if d.Reason != reason {
		t.Fatalf("admit %d tokens: denial reason %s, want %s", tokens, d.Reason, reason)
	}
	return d
}

// entryTotal reads a counter's entry directly from the bucket: its window
// and everything it charges, use and leases of every replica.
func entryTotal(t testing.TB, js jetstream.JetStream, key string) (start, total int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatalf("bucket: %v", err)
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0
	}
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	v, err := parseCounterValue(e.Value())
	if err != nil {
		t.Fatalf("entry %s: %v", key, err)
	}
	return v.start, v.total()
}

// waitConnected polls until the client has reconnected.
func waitConnected(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !js.Conn().IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("client did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
