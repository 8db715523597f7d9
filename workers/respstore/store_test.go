package respstore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startJetStream runs an embedded JetStream server on a random loopback
// port and returns a client connection's JetStream context.
func startJetStream(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// newStore returns a store with cfg's settings whose bucket exists.
func newStore(t *testing.T, js jetstream.JetStream, cfg config.Responses) *Store {
	t.Helper()
	s := New(js, cfg, Options{Timeout: 5 * time.Second})
	if err := s.create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkFor polls cond until it returns nil or total has passed.
func checkFor(t *testing.T, total time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", total, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var entry = Entry{
	Response: []byte(`{"id":"resp_1","object":"response","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hi"}]}]}`),
	Input:    []byte(`[{"type":"message","role":"user","content":"hello"}]`),
}

func TestStoreRoundTrip(t *testing.T) {
	_, js := startJetStream(t)
	s := newStore(t, js, config.DefaultResponses())
	ctx := context.Background()
	tests := []struct{ name, scope, id string }{
		{"shared scope", "", "resp_1"},
		{"a key's scope", "0123abcd", "resp_1"},
		{"an id with characters keys cannot hold", "0123abcd", "resp:1/ü.x"},
		{"an id that looks encoded", "", "=cmVzcF8x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Save(ctx, tt.scope, tt.id, entry); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(ctx, tt.scope, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Response) != string(entry.Response) || string(got.Input) != string(entry.Input) {
				t.Errorf("loaded %s / %s", got.Response, got.Input)
			}
			if err := s.Delete(ctx, tt.scope, tt.id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(ctx, tt.scope, tt.id); !errors.Is(err, ErrNotFound) {
				t.Errorf("load after delete: %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, tt.scope, tt.id); !errors.Is(err, ErrNotFound) {
				t.Errorf("second delete: %v, want ErrNotFound", err)
			}
		})
	}
	for _, id := range []string{"", strings.Repeat("x", maxIDBytes+1)} {
		if _, err := s.Load(ctx, "", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load(%.10q): %v, want ErrNotFound", id, err)
		}
		if err := s.Save(ctx, "", id, entry); err == nil {
			t.Errorf("Save(%.10q) succeeded", id)
		}
	}
}

// TestStoreScopes stores the same id under two keys' scopes and the shared
// one: each reads and deletes only its own.
func TestStoreScopes(t *testing.T) {
	_, js := startJetStream(t)
	s := newStore(t, js, config.DefaultResponses())
	ctx := context.Background()
	alice, bob := "aaaa", "bbbb"
	if err := s.Save(ctx, alice, "resp_1", entry); err != nil {
		t.Fatal(err)
	}
	for _, scope := range []string{bob, ""} {
		if _, err := s.Load(ctx, scope, "resp_1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("scope %q read another key's response: %v", scope, err)
		}
		if err := s.Delete(ctx, scope, "resp_1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("scope %q deleted another key's response: %v", scope, err)
		}
	}
	bobs := Entry{Response: []byte(`{"id":"resp_1","object":"response","output":[]}`), Input: []byte(`[]`)}
	if err := s.Save(ctx, bob, "resp_1", bobs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, alice, "resp_1")
	if err != nil || string(got.Response) != string(entry.Response) {
		t.Errorf("alice's entry after bob stored the same id: %s, %v", got.Response, err)
	}
}

func TestStoreExpires(t *testing.T) {
	_, js := startJetStream(t)
	cfg := config.DefaultResponses()
	cfg.StoreTTL = config.Duration{Duration: time.Second}
	s := newStore(t, js, cfg)
	ctx := context.Background()
	if err := s.Save(ctx, "", "resp_1", entry); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "", "resp_1"); err != nil {
		t.Fatalf("just stored: %v", err)
	}
	checkFor(t, 10*time.Second, func() error {
		if _, err := s.Load(ctx, "", "resp_1"); !errors.Is(err, ErrNotFound) {
			return errors.New("entry still there")
		}
		return nil
	})
}

func TestStoreRefusesLargeEntries(t *testing.T) {
	_, js := startJetStream(t)
	cfg := config.DefaultResponses()
	cfg.MaxItemBytes = 1024
	s := newStore(t, js, cfg)
	big := Entry{Response: entry.Response, Input: []byte(`[{"type":"message","role":"user","content":"` + strings.Repeat("x", 1024) + `"}]`)}
	if err := s.Save(context.Background(), "", "resp_1", big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Save: %v, want ErrTooLarge", err)
	}
	if _, err := s.Load(context.Background(), "", "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused entry was stored: %v", err)
	}
}

// TestStoreRecreatedByKeeper deletes the bucket under a Keeper: a save
// finds it gone and kicks the Keeper, which creates it again, and saving
// works once more.
func TestStoreRecreatedByKeeper(t *testing.T) {
	nc, js := startJetStream(t)
	s := New(js, config.DefaultResponses(), Options{Timeout: 5 * time.Second})
	k := bus.NewKeeper(nc, slog.New(slog.DiscardHandler), s.Resource())
	s.SetOnMissing(k.Kick)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	checkFor(t, 10*time.Second, func() error {
		if st := k.States()[0]; !st.OK || st.Recreated != 1 {
			return errors.New("bucket not created yet")
		}
		return nil
	})
	if err := s.Save(ctx, "", "resp_1", entry); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, DefaultBucket); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "", "resp_2", entry); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("save into a deleted bucket: %v, want ErrUnavailable", err)
	}
	checkFor(t, 10*time.Second, func() error {
		if st := k.States()[0]; !st.OK || st.Recreated != 2 {
			return errors.New("bucket not recreated yet")
		}
		return s.Save(ctx, "", "resp_2", entry)
	})
	if _, err := s.Load(ctx, "", "resp_2"); err != nil {
		t.Errorf("load after recreation: %v", err)
	}
	if _, err := s.Load(ctx, "", "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an entry of the deleted bucket: %v, want ErrNotFound", err)
	}
}

// TestStoreAppliesItsSettings finds a bucket made with another TTL and size
// limit, as after a configuration change: the first check brings it to the
// store's settings.
func TestStoreAppliesItsSettings(t *testing.T) {
	_, js := startJetStream(t)
	old := config.DefaultResponses()
	old.StoreTTL = config.Duration{Duration: time.Hour}
	newStore(t, js, old)
	s := New(js, config.DefaultResponses(), Options{Timeout: 5 * time.Second})
	if err := s.check(context.Background()); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != config.DefaultResponsesTTL {
		t.Errorf("bucket TTL %s, want %s", st.TTL(), config.DefaultResponsesTTL)
	}
}

func TestStoreCountsOperations(t *testing.T) {
	_, js := startJetStream(t)
	reg := prometheus.NewRegistry()
	cfg := config.DefaultResponses()
	cfg.MaxItemBytes = 4096
	s := New(js, cfg, Options{Timeout: 5 * time.Second, Registerer: reg})
	// A second store of the same process shares the counters.
	other := New(js, cfg, Options{Timeout: 5 * time.Second, Registerer: reg})
	ctx := context.Background()
	if err := s.create(ctx); err != nil {
		t.Fatal(err)
	}
	_ = s.Save(ctx, "", "resp_1", entry)
	_ = s.Save(ctx, "", "resp_2", Entry{Response: entry.Response, Input: []byte(`["` + strings.Repeat("x", 4096) + `"]`)})
	_, _ = other.Load(ctx, "", "resp_1")
	_, _ = s.Load(ctx, "", "resp_9")
	_ = other.Delete(ctx, "", "resp_1")
	want := map[[2]string]float64{
		{opSave, resultOK}: 1, {opSave, resultTooLarge}: 1,
		{opLoad, resultOK}: 1, {opLoad, resultNotFound}: 1,
		{opDelete, resultOK}: 1, {opDelete, resultNotFound}: 0,
	}
	for labels, n := range want {
		if got := testutil.ToFloat64(s.ops.WithLabelValues(labels[0], labels[1])); got != n {
			t.Errorf("gateway_stored_responses_total%v = %v, want %v", labels, got, n)
		}
	}
}
