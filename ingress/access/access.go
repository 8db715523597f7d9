// Package access is the gateway's access control: API keys, per-key rate
// limits (requests and tokens per minute) and per-key quotas over a day, week
// or month, enforced across every ingress replica.
//
// The only shared state is a JetStream key-value bucket. Each limited counter
// of a key is one entry holding the start of its window and, per replica,
// the use it has written and the capacity it holds leased, until an expiry
// the replica renews. A replica does not write the bucket for every
// request: it leases capacity in small blocks with optimistic concurrency
// (compare-and-set on the entry's revision) and admits requests from its
// lease in memory, so the shared total never exceeds the limit while the
// common case costs no network round trip. See counter.go for the protocol.
//
// Windows:
//   - Per-minute limits use fixed windows aligned to the UTC minute: all the
//     capacity of a minute frees at once when the next minute starts, and
//     that instant is the reset time and the base of Retry-After.
//   - Quota periods start at 00:00 UTC: every day, every Monday (ISO week) or
//     the first day of every month.
//
// The package does not know about HTTP libraries: the ingress passes header
// values as byte slices and maps the errors to statuses (ErrMissingKey and
// ErrInvalidKey to 401, ErrRouteNotAllowed and ErrModelNotAllowed to 403, a
// *Denial to 429 or, for StoreUnavailable, 503).
package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/config"
)

// DefaultBucket is the JetStream key-value bucket holding the shared counters.
const DefaultBucket = "gateway_access"

// Store failure policies (config.Access.StoreFailure).
const (
	// PolicyClosed refuses requests that need the store while it is unreachable.
	PolicyClosed = "closed"
	// PolicyOpen admits them, counting in memory until the store is back.
	PolicyOpen = "open"
)

// Defaults applied by New to a zero Options.
const (
	// DefaultStoreTimeout bounds every key-value call.
	DefaultStoreTimeout = 250 * time.Millisecond
	// DefaultStoreBackoff is how long the store is considered down after a
	// failed call, so a dead store costs one time-out, not one per request.
	DefaultStoreBackoff = time.Second
	// DefaultSyncInterval is how often unsynced usage is pushed to the store
	// and idle leases are returned.
	DefaultSyncInterval = 5 * time.Second
	// DefaultIdleRelease returns a counter's unused lease after it has seen
	// no traffic for this long, so other replicas can use the capacity.
	DefaultIdleRelease = 10 * time.Second
	// DefaultLeaseTTL is how long capacity a replica leased stays set aside
	// for it after its last write. A replica that stops without returning
	// its lease (NATS unreachable, the process killed) holds it no longer:
	// after this the next replica to write the counter frees it.
	DefaultLeaseTTL = 30 * time.Second
)

// Sentinel errors returned by the Guard.
var (
	// ErrMissingKey means the request carried no API key (401).
	ErrMissingKey = errors.New("access: missing API key")
	// ErrInvalidKey means the API key matched no configured key (401).
	ErrInvalidKey = errors.New("access: invalid API key")
	// ErrRouteNotAllowed means the key may not use the route (403).
	ErrRouteNotAllowed = errors.New("access: route not allowed for this key")
	// ErrModelNotAllowed means the key may not use the model (403).
	ErrModelNotAllowed = errors.New("access: model not allowed for this key")
	// ErrUnknownKey means a report was asked for a key name that is not configured.
	ErrUnknownKey = errors.New("access: unknown key name")
	// ErrStoreUnavailable means the shared counter store could not be reached.
	ErrStoreUnavailable = errors.New("access: counter store unavailable")
	// ErrClosed means the Guard was closed.
	ErrClosed = errors.New("access: guard closed")
)

// Options carries the Guard's dependencies and tuning. The zero value works:
// a discarding logger, no metrics, one replica, file storage and the real clock.
type Options struct {
	// Logger receives store state changes and denials (Debug). Key names are
	// logged; keys and hashes never are.
	Logger *slog.Logger
	// Registerer receives the access metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Replicas of the key-value bucket (3 on a NATS cluster); 0 means 1.
	Replicas int
	// Storage of the key-value bucket: file storage (the zero value) keeps
	// quota usage across a NATS restart.
	Storage jetstream.StorageType
	// Now is the clock; nil means time.Now. Tests inject a fake one to roll
	// windows and periods over without sleeping.
	Now func() time.Time
	// ModelLabels is the allow-list of model names used as the model label of
	// gateway_key_tokens_total; any other model is counted as "other".
	ModelLabels []string

	// Bucket overrides DefaultBucket.
	Bucket string
	// StoreTimeout overrides DefaultStoreTimeout.
	StoreTimeout time.Duration
	// StoreBackoff overrides DefaultStoreBackoff.
	StoreBackoff time.Duration
	// SyncInterval overrides DefaultSyncInterval.
	SyncInterval time.Duration
	// IdleRelease overrides DefaultIdleRelease.
	IdleRelease time.Duration
	// LeaseTTL overrides DefaultLeaseTTL. It is raised to four sync
	// intervals, so that the background loop renews a lease in time.
	LeaseTTL time.Duration
}

// Guard authenticates API keys and enforces their limits. It is safe for
// concurrent use. Create it with New and release it with Close.
type Guard struct {
	enabled bool
	open    bool // store failure policy is "open"
	policy  string
	admin   [32]byte
	hasAdm  bool

	keys   []*Key
	byName map[string]*Key

	kv      jetstream.KeyValue
	js      jetstream.JetStream
	kvCfg   jetstream.KeyValueConfig
	conn    *nats.Conn
	log     *slog.Logger
	now     func() time.Time
	met     *metrics
	timeout time.Duration
	backoff time.Duration
	idle    time.Duration
	ttl     time.Duration
	// id names this Guard's records in the counter entries; random, so a
	// restarted process never takes over the records of the one before.
	id string
	// flush queues counters whose use the background loop should write.
	flush chan *counter

	// downUntil is the Unix nanosecond until which the store is treated as
	// unreachable; storeDown remembers the state to log transitions once.
	downUntil atomic.Int64
	storeDown atomic.Bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
}

// Key is an authenticated API key. It exposes only its name; the ingress
// passes it back to Authorize, Admit and Settle.
type Key struct {
	name   string
	hash   [32]byte
	routes map[string]struct{}
	models map[string]struct{}
	limits ReportLimits

	rpm  *counter // requests per minute
	tpm  *counter // tokens per minute
	qreq *counter // requests per quota period
	qtok *counter // tokens per quota period

	km *keyMetrics
}

// Name is the configured name of the key, safe to log and to use as a label.
func (k *Key) Name() string { return k.name }

// New validates cfg and builds a Guard. When cfg.Enabled is false the Guard
// admits everything and js may be nil. Otherwise New creates (or updates) the
// counter bucket, reads the persisted quota usage and starts the background
// loop that Close stops.
func New(cfg config.Access, js jetstream.JetStream, opts Options) (*Guard, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	g := &Guard{
		enabled: cfg.Enabled,
		policy:  cfg.StoreFailure,
		log:     opts.Logger,
		now:     opts.Now,
		timeout: opts.StoreTimeout,
		backoff: opts.StoreBackoff,
		idle:    opts.IdleRelease,
		ttl:     opts.LeaseTTL,
		byName:  make(map[string]*Key, len(cfg.Keys)),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if g.policy == "" {
		g.policy = PolicyClosed
	}
	g.open = g.policy == PolicyOpen
	if cfg.AdminKeySHA256 != "" {
		g.admin, _ = decodeHash(cfg.AdminKeySHA256) // validated above
		g.hasAdm = true
	}
	if !cfg.Enabled {
		close(g.done)
		return g, nil
	}
	if js == nil {
		return nil, errors.New("access: enabled but no JetStream context given")
	}
	met, err := newMetrics(opts.Registerer, g.policy)
	if err != nil {
		return nil, err
	}
	g.met = met
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("access: replica id: %w", err)
	}
	g.id = hex.EncodeToString(id[:])
	for _, kc := range cfg.Keys {
		k := newKey(kc)
		k.km = met.forKey(kc.Name, opts.ModelLabels)
		if k.quotaGaugeCounter() != nil {
			k.km.withQuotaGauge(met, kc.Name)
		}
		g.keys = append(g.keys, k)
		g.byName[k.name] = k
	}
	g.flush = make(chan *counter, 2*len(g.keys))

	ctx, cancel := context.WithTimeout(context.Background(), 5*opts.StoreTimeout+5*time.Second)
	defer cancel()
	g.js = js
	g.kvCfg = jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "gateway access counters: rate-limit windows and quota periods",
		History:     1,
		Storage:     opts.Storage,
		Replicas:    opts.Replicas,
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, g.kvCfg)
	if err != nil {
		return nil, fmt.Errorf("access: create key-value bucket %q: %w", opts.Bucket, err)
	}
	g.kv = kv
	g.conn = js.Conn()
	g.loadQuotas(ctx)

	go g.run(opts.SyncInterval)
	return g, nil
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.StoreBackoff <= 0 {
		o.StoreBackoff = DefaultStoreBackoff
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.IdleRelease <= 0 {
		o.IdleRelease = DefaultIdleRelease
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	o.LeaseTTL = max(o.LeaseTTL, 4*o.SyncInterval)
	return o
}

func newKey(kc config.Key) *Key {
	k := &Key{name: kc.Name}
	k.hash, _ = decodeHash(kc.KeySHA256) // validated by Validate
	k.routes = set(kc.Routes)
	k.models = set(kc.Models)
	k.limits = ReportLimits{
		RequestsPerMinute: kc.RequestsPerMinute,
		TokensPerMinute:   kc.TokensPerMinute,
		QuotaRequests:     kc.QuotaRequests,
		QuotaTokens:       kc.QuotaTokens,
		Routes:            kc.Routes,
		Models:            kc.Models,
	}
	id := storeName(kc.Name)
	if kc.RequestsPerMinute > 0 {
		k.rpm = newCounter("rpm."+id, kc.RequestsPerMinute, periodMinute)
	}
	if kc.TokensPerMinute > 0 {
		k.tpm = newCounter("tpm."+id, kc.TokensPerMinute, periodMinute)
	}
	p, _ := parsePeriod(kc.QuotaPeriod)
	if kc.QuotaRequests > 0 || kc.QuotaTokens > 0 {
		k.limits.QuotaPeriod = p.String()
	}
	if kc.QuotaRequests > 0 {
		k.qreq = newCounter("qreq."+id, kc.QuotaRequests, p)
	}
	if kc.QuotaTokens > 0 {
		k.qtok = newCounter("qtok."+id, kc.QuotaTokens, p)
	}
	return k
}

func set(list []string) map[string]struct{} {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(list))
	for _, s := range list {
		m[s] = struct{}{}
	}
	return m
}

// Validate checks an access configuration: unique non-empty key names,
// well-formed distinct SHA-256 hashes, non-negative limits, a known quota
// period (empty means month) and a known store failure policy. The config
// loader checks the same; New checks again because it is also used without
// the loader.
func Validate(cfg config.Access) error {
	switch cfg.StoreFailure {
	case "", PolicyClosed, PolicyOpen:
	default:
		return fmt.Errorf("access: store_failure %q: want %q or %q", cfg.StoreFailure, PolicyClosed, PolicyOpen)
	}
	if cfg.AdminKeySHA256 != "" {
		if _, err := decodeHash(cfg.AdminKeySHA256); err != nil {
			return fmt.Errorf("access: admin_key_sha256: %w", err)
		}
	}
	names := make(map[string]bool, len(cfg.Keys))
	hashes := make(map[[32]byte]string, len(cfg.Keys))
	for i, k := range cfg.Keys {
		if k.Name == "" {
			return fmt.Errorf("access: keys[%d]: empty name", i)
		}
		if names[k.Name] {
			return fmt.Errorf("access: keys[%d]: duplicate name %q", i, k.Name)
		}
		names[k.Name] = true
		h, err := decodeHash(k.KeySHA256)
		if err != nil {
			return fmt.Errorf("access: key %q: key_sha256: %w", k.Name, err)
		}
		if other, dup := hashes[h]; dup {
			return fmt.Errorf("access: keys %q and %q have the same key", other, k.Name)
		}
		hashes[h] = k.Name
		if k.RequestsPerMinute < 0 || k.TokensPerMinute < 0 || k.QuotaRequests < 0 || k.QuotaTokens < 0 {
			return fmt.Errorf("access: key %q: limits must not be negative", k.Name)
		}
		if _, err := parsePeriod(k.QuotaPeriod); err != nil {
			return fmt.Errorf("access: key %q: %w", k.Name, err)
		}
	}
	return nil
}

// Enabled reports whether access control is on. When it is off the ingress
// skips authentication and limits altogether.
func (g *Guard) Enabled() bool { return g.enabled }

// Close stops the background loop and returns this replica's unused leases
// and unsynced usage to the store (best effort, bounded by the store
// time-out), so the capacity is not lost to the other replicas and quota
// usage is exact after a restart. It is safe to call more than once.
func (g *Guard) Close() error {
	if !g.enabled {
		return nil
	}
	var err error
	g.closeOnce.Do(func() {
		g.closed.Store(true)
		close(g.stop)
		<-g.done
		now := g.now()
		for _, k := range g.keys {
			for _, c := range k.counters() {
				if e := g.release(context.Background(), c, 0, now); e != nil && err == nil {
					err = fmt.Errorf("access: return leases of key %q: %w", k.name, e)
				}
			}
		}
	})
	return err
}

// counters lists the key's limited counters.
func (k *Key) counters() []*counter {
	cs := make([]*counter, 0, 4)
	for _, c := range [...]*counter{k.rpm, k.tpm, k.qreq, k.qtok} {
		if c != nil {
			cs = append(cs, c)
		}
	}
	return cs
}

// run writes use to the store as it is queued and on every tick, renews
// the leases still held and returns idle ones, until Close.
func (g *Guard) run(interval time.Duration) {
	defer close(g.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case c := <-g.flush:
			c.queued.Store(false)
			now := g.now()
			if !g.isDown(now) && c.needsSync(noReturn, g.ttl, now) {
				// An error marks the store down; the next tick retries.
				_ = g.release(context.Background(), c, noReturn, now)
			}
		case <-t.C:
			g.syncAll()
		}
	}
}

// queueFlush asks the background loop to write c's use soon. It never
// waits: a counter already queued is written with all its use then.
func (g *Guard) queueFlush(c *counter) {
	if c == nil || !c.queued.CompareAndSwap(false, true) {
		return
	}
	select {
	case g.flush <- c:
	default:
		// Cannot happen (one slot per quota counter); the tick writes it.
		c.queued.Store(false)
	}
}

func (g *Guard) syncAll() {
	now := g.now()
	if g.isDown(now) {
		return
	}
	for _, k := range g.keys {
		for _, c := range k.counters() {
			keep := int64(noReturn)
			if c.idleSince(now) >= g.idle {
				keep = 0
			}
			if !c.needsSync(keep, g.ttl, now) {
				continue
			}
			if err := g.release(context.Background(), c, keep, now); err != nil {
				return // the store is down; try again on the next tick
			}
			if c == k.quotaGaugeCounter() {
				k.km.quotaRatio.Set(c.remainingRatio())
			}
		}
	}
}

// loadQuotas reads the persisted period usage so reports and the quota
// gauge are right from the start. Failures are logged: the counters are read
// again on the first claim anyway.
func (g *Guard) loadQuotas(ctx context.Context) {
	now := g.now()
	for _, k := range g.keys {
		for _, c := range [...]*counter{k.qreq, k.qtok} {
			if c == nil {
				continue
			}
			if err := g.refresh(ctx, c, now); err != nil {
				g.log.Warn("access: could not read persisted quota usage", "key", k.name, "err", err)
			}
		}
		if c := k.quotaGaugeCounter(); c != nil {
			k.km.quotaRatio.Set(c.remainingRatio())
		}
	}
}

// quotaGaugeCounter is the counter behind gateway_quota_remaining_ratio: the
// token quota, or the request quota when there is no token quota.
func (k *Key) quotaGaugeCounter() *counter {
	if k.qtok != nil {
		return k.qtok
	}
	return k.qreq
}

// isDown reports whether the store failed recently.
func (g *Guard) isDown(now time.Time) bool {
	return now.UnixNano() < g.downUntil.Load()
}

// markDown records a store failure; the first failure after a healthy
// period is logged.
func (g *Guard) markDown(now time.Time, err error) {
	g.downUntil.Store(now.Add(g.backoff).UnixNano())
	if !g.storeDown.Swap(true) {
		g.log.Warn("access: counter store unreachable", "policy", g.policy, "err", err)
	}
}

// markUp records a successful store call.
func (g *Guard) markUp() {
	if g.storeDown.Load() && g.storeDown.Swap(false) {
		g.downUntil.Store(0)
		g.log.Info("access: counter store reachable again")
	}
}
