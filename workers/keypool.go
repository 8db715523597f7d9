package workers

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
)

// Key states, the values of gateway_upstream_keys's state label.
const (
	keyActive  = "active"
	keyRevoked = "revoked"
	keyMissing = "missing"
)

// errNoKeys is a call to an upstream whose configured keys are all unset
// or refused by the provider: nothing can be sent.
var errNoKeys = errors.New("no usable API key")

// keyMetrics is gateway_upstream_keys.
type keyMetrics struct {
	keys *prometheus.GaugeVec
}

func newKeyMetrics(reg prometheus.Registerer) *keyMetrics {
	m := &keyMetrics{keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_upstream_keys",
		Help: "Provider keys of an upstream's key pool in this worker process, by state: active, revoked (refused by the provider with 401 or 403), missing (variable not set).",
	}, []string{"upstream", "state"})}
	reg.MustRegister(m.keys)
	return m
}

// poolKey is one provider key. Only env may be logged or shown.
type poolKey struct {
	env   string
	value string
	// authName and authValue are the header that carries the key, and its
	// value with the key, in the upstream's dialect, built once.
	authName, authValue string

	// Guarded by keyPool.mu.
	revoked bool
	// seen is set once a call with the key reported its rate limits;
	// requests and tokens are what was left then (headroom policy).
	seen             bool
	requests, tokens int64
}

// keyPool holds an upstream's provider keys and picks one per call. An
// upstream with no key configured at all has an empty pool whose calls go
// without credentials, as to a local model server.
type keyPool struct {
	upstream string
	policy   string
	logger   *slog.Logger
	gauge    *prometheus.GaugeVec
	// configured is false for an upstream without any key.
	configured bool

	mu   sync.Mutex
	keys []*poolKey // the keys whose variable is set
	next int        // rotation position
}

func newKeyPool(u config.Upstream, m *keyMetrics, logger *slog.Logger) *keyPool {
	kp := &keyPool{upstream: u.Name, policy: u.KeyPolicy, logger: logger, gauge: m.keys, configured: len(u.Keys) > 0}
	missing := 0
	for _, k := range u.Keys {
		if k.Value == "" {
			missing++
			logger.Warn("provider key variable not set; the key pool goes without it", "env", k.Env)
			continue
		}
		name, value := converter.UpstreamAuth(u.Format, k.Value)
		kp.keys = append(kp.keys, &poolKey{env: k.Env, value: k.Value, authName: name, authValue: value})
	}
	if kp.configured && len(kp.keys) == 0 {
		logger.Error("no provider key of the upstream is set; its calls fail with 502 until one is", "envs", keyEnvs(u.Keys))
	}
	kp.gauge.WithLabelValues(u.Name, keyMissing).Set(float64(missing))
	kp.report()
	return kp
}

func keyEnvs(keys []config.UpstreamKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Env
	}
	return out
}

// report sets the gauge of active and revoked keys.
func (kp *keyPool) report() {
	active := 0
	for _, k := range kp.keys {
		if !k.revoked {
			active++
		}
	}
	kp.gauge.WithLabelValues(kp.upstream, keyActive).Set(float64(active))
	kp.gauge.WithLabelValues(kp.upstream, keyRevoked).Set(float64(len(kp.keys) - active))
}

// pick returns the key for the next call: nil with no error for an
// upstream without keys, errNoKeys when every key is gone.
func (kp *keyPool) pick() (*poolKey, error) {
	if !kp.configured {
		return nil, nil
	}
	kp.mu.Lock()
	defer kp.mu.Unlock()
	n := len(kp.keys)
	var best *poolKey
	for i := range n {
		k := kp.keys[(kp.next+i)%n]
		if k.revoked {
			continue
		}
		if kp.policy != config.KeyPolicyHeadroom {
			kp.next = (kp.next + i + 1) % n
			return k, nil
		}
		if best == nil || more(k, best) {
			best = k
		}
	}
	if best == nil {
		return nil, fmt.Errorf("upstream %s: %w: every configured key is unset or was refused by the provider", kp.upstream, errNoKeys)
	}
	// Start the next search after this key, so that keys with the same
	// headroom take turns, and count the call against it until its
	// answer reports the real figure.
	for i, k := range kp.keys {
		if k == best {
			kp.next = (i + 1) % n
		}
	}
	if best.seen && best.requests > 0 {
		best.requests--
	}
	return best, nil
}

// more reports whether key a has more headroom than b: a key not seen yet
// has the most, else more requests left, then more tokens left.
func more(a, b *poolKey) bool {
	switch {
	case a.seen != b.seen:
		return !a.seen
	case a.requests != b.requests:
		return a.requests > b.requests
	}
	return a.tokens > b.tokens
}

// revoke takes a key the provider refused out of the pool.
func (kp *keyPool) revoke(k *poolKey, status int) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if k.revoked {
		return
	}
	k.revoked = true
	kp.report()
	left := 0
	for _, other := range kp.keys {
		if !other.revoked {
			left++
		}
	}
	kp.logger.Warn("the provider refused a key; taking it out of the pool until the next reload",
		"env", k.env, "status", status, "keys_left", left)
	if left == 0 {
		kp.logger.Error("every provider key of the upstream was refused; its calls fail with 502 until the keys are replaced and the configuration reloaded")
	}
}

// Rate-limit headers that tell a key's headroom, by provider.
var headroomHeaders = [...]struct{ requests, tokens string }{
	{"x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"},
	{"anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-remaining"},
}

// observe records the headroom an answer reports for the key it was made
// with. Answers without the headers leave what was known.
func (kp *keyPool) observe(k *poolKey, get func(string) string) {
	if k == nil || kp.policy != config.KeyPolicyHeadroom {
		return
	}
	for _, h := range headroomHeaders {
		requests, rerr := strconv.ParseInt(get(h.requests), 10, 64)
		tokens, terr := strconv.ParseInt(get(h.tokens), 10, 64)
		if rerr != nil && terr != nil {
			continue
		}
		kp.mu.Lock()
		k.seen = true
		if rerr == nil {
			k.requests = requests
		}
		if terr == nil {
			k.tokens = tokens
		}
		kp.mu.Unlock()
		return
	}
}

// refusesKey reports an answer that says the key itself is not accepted.
func refusesKey(status int) bool { return status == 401 || status == 403 }

// withKey makes an upstream call with a key of the pool. A key the
// provider refuses (401, 403) is taken out of the pool and the call tried
// once more on another key; a second refusal, or no key left, is errNoKeys.
// send makes one attempt with the key it is given.
func (c *call) withKey(send func(key *poolKey) (*upstreamResponse, error)) (*upstreamResponse, error) {
	pool := c.p.keys
	for attempt := 0; ; attempt++ {
		key, err := pool.pick()
		if err != nil {
			return nil, err
		}
		resp, err := send(key)
		if err != nil {
			return nil, err
		}
		if key == nil || !refusesKey(resp.Status()) {
			pool.observe(key, resp.Get)
			return resp, nil
		}
		c.p.pm.request(resp.Status())
		pool.revoke(key, resp.Status())
		resp.Close()
		if attempt > 0 {
			return nil, fmt.Errorf("upstream %s: %w: the provider refused two keys in a row", c.p.upstream.Name, errNoKeys)
		}
	}
}
