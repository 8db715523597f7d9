package access

import (
	"context"
	"errors"
	"reflect"

	"github.com/aigateway/gateway/config"
)

// ErrRestartNeeded is returned by Update for a change it cannot make to a
// running Guard: turning access control on or off, or changing
// store_failure.
var ErrRestartNeeded = errors.New("access: this change needs a restart")

// keySet is the keys a Guard knows and its admin key. It is never changed
// once published; Update publishes a new one.
type keySet struct {
	keys     []*Key
	byName   map[string]*Key
	admin    [32]byte
	hasAdmin bool
}

func (s *keySet) add(k *Key) {
	s.keys = append(s.keys, k)
	s.byName[k.name] = k
}

func (s *keySet) setAdmin(hash string) {
	if hash != "" {
		s.admin, _ = decodeHash(hash) // validated by Validate
		s.hasAdmin = true
	}
}

func (g *Guard) keySet() *keySet { return g.set.Load() }

// newKey builds the key of kc with its metrics.
func (g *Guard) newKey(kc config.Key) *Key {
	k := newKey(kc)
	k.km = g.met.forKey(kc.Name, g.models)
	if k.quotaGaugeCounter() != nil {
		k.km.withQuotaGauge(g.met, kc.Name)
	}
	return k
}

// Update applies a new [access] section, for a configuration reload: keys
// added, removed or changed (hash, allow-lists, limits, quota period) and
// the admin key take effect for the requests authenticated from now on. A
// key whose settings did not change keeps its counters and leases; a
// removed or changed one returns its leases to the store, and the shared
// totals of its window and period stay, so a changed limit applies to what
// was used already.
func (g *Guard) Update(ctx context.Context, cfg config.Access) error {
	if err := Validate(cfg); err != nil {
		return err
	}
	policy := cfg.StoreFailure
	if policy == "" {
		policy = PolicyClosed
	}
	if cfg.Enabled != g.enabled || policy != g.policy {
		return ErrRestartNeeded
	}
	old := g.keySet()
	next := &keySet{byName: make(map[string]*Key, len(cfg.Keys))}
	next.setAdmin(cfg.AdminKeySHA256)
	var dropped []*Key
	if g.enabled {
		for _, kc := range cfg.Keys {
			if k, ok := old.byName[kc.Name]; ok && reflect.DeepEqual(k.cfg, kc) {
				next.add(k)
				continue
			}
			next.add(g.newKey(kc))
		}
		for _, k := range old.keys {
			if next.byName[k.name] != k {
				dropped = append(dropped, k)
			}
		}
	}
	g.set.Store(next)
	now := g.now()
	for _, k := range dropped {
		for _, c := range k.counters() {
			if err := g.release(ctx, c, 0, now); err != nil {
				g.log.Warn("access: could not return the leases of a replaced key; they expire with their window", "key", k.name, "err", err)
				break
			}
		}
	}
	if g.enabled {
		g.loadQuotas(ctx)
	}
	return nil
}
