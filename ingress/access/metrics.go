package access

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names (part of the gateway's metrics contract).
const (
	MetricAuthRequests      = "auth_requests_total"
	MetricRateLimitExceeded = "rate_limit_exceeded_total"
	MetricQuotaExceeded     = "quota_exceeded_total"
	MetricKeyTokens         = "gateway_key_tokens_total"
	MetricQuotaRemaining    = "gateway_quota_remaining_ratio"
	MetricStoreErrors       = "gateway_access_store_errors_total"
)

// otherModel is the model label of models outside Options.ModelLabels, which
// keeps the label set bounded whatever clients send.
const otherModel = "other"

// metrics groups the access metrics. Label values come from the
// configuration only (key names, the model allow-list, the policy), and the
// children are created up front so the hot path does no label lookups.
type metrics struct {
	authAllowed, authDenied prometheus.Counter
	storeErrors             prometheus.Counter

	rateLimited   *prometheus.CounterVec
	quotaExceeded *prometheus.CounterVec
	tokens        *prometheus.CounterVec
	quotaRatio    *prometheus.GaugeVec
}

// keyMetrics are one key's metric children.
type keyMetrics struct {
	rateLimited   prometheus.Counter
	quotaExceeded prometheus.Counter
	quotaRatio    prometheus.Gauge
	models        map[string]*modelCounters
	other         *modelCounters
}

type modelCounters struct {
	input, output, cached prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, policy string) (*metrics, error) {
	auth := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricAuthRequests,
		Help: "API key checks by result (allowed, denied).",
	}, []string{"result"})
	store := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricStoreErrors,
		Help: "Requests decided without the shared counter store, by store_failure policy (closed: refused, open: admitted on local counts).",
	}, []string{"policy"})
	m := &metrics{
		authAllowed: auth.WithLabelValues("allowed"),
		authDenied:  auth.WithLabelValues("denied"),
		storeErrors: store.WithLabelValues(policy),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRateLimitExceeded,
			Help: "Requests refused by a per-minute request or token limit.",
		}, []string{"key_name"}),
		quotaExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricQuotaExceeded,
			Help: "Requests refused because the key's request or token quota is spent.",
		}, []string{"key_name"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricKeyTokens,
			Help: "Tokens charged to API keys, by key, model (allow-listed, else other) and kind (input, output, cached; input includes cached). gateway_tokens_total counts every answer's tokens, with or without access control.",
		}, []string{"key_name", "model", "kind"}),
		quotaRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricQuotaRemaining,
			Help: "Share of the key's quota left in the current period (token quota, else request quota), 0 to 1.",
		}, []string{"key_name"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{auth, store, m.rateLimited, m.quotaExceeded, m.tokens, m.quotaRatio} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("access: metrics already registered (one Guard per registry): %w", err)
			}
			return nil, fmt.Errorf("access: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) forKey(name string, models []string) *keyMetrics {
	km := &keyMetrics{
		rateLimited:   m.rateLimited.WithLabelValues(name),
		quotaExceeded: m.quotaExceeded.WithLabelValues(name),
		models:        make(map[string]*modelCounters, len(models)),
	}
	mk := func(model string) *modelCounters {
		return &modelCounters{
			input:  m.tokens.WithLabelValues(name, model, "input"),
			output: m.tokens.WithLabelValues(name, model, "output"),
			cached: m.tokens.WithLabelValues(name, model, "cached"),
		}
	}
	for _, model := range models {
		if model != otherModel {
			km.models[model] = mk(model)
		}
	}
	km.other = mk(otherModel)
	// Only keys with a quota get the gauge; the others would read a
	// meaningless 0.
	km.quotaRatio = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused"})
	return km
}

// withQuotaGauge attaches the key's quota gauge child.
func (km *keyMetrics) withQuotaGauge(m *metrics, name string) {
	km.quotaRatio = m.quotaRatio.WithLabelValues(name)
}

// model returns the counters for a model label.
func (km *keyMetrics) model(name string) *modelCounters {
	if mc, ok := km.models[name]; ok {
		return mc
	}
	return km.other
}
