package workers

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Upstream error types, the values of upstream_errors_total's error_type label.
const (
	errConnect     = "connect"
	errTimeout     = "timeout"
	errIdleTimeout = "idle_timeout"
	errStatus      = "status"
	errInterrupted = "stream_interrupted"
	errProtocol    = "protocol"
	errConversion  = "conversion"
	errNotStream   = "not_a_stream"
	errKeys        = "no_usable_key"
)

// metrics are the upstream-facing metrics of the worker pools.
type metrics struct {
	firstByte      *prometheus.HistogramVec
	requests       *prometheus.CounterVec
	errors         *prometheus.CounterVec
	streamEvents   *prometheus.CounterVec
	streamBytes    *prometheus.CounterVec
	streamDuration *prometheus.HistogramVec
	tokens         *prometheus.CounterVec
	slowCuts       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		firstByte: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "upstream_request_duration_seconds",
			Help:    "Time from sending a request upstream to its response headers (time to first byte).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"upstream", "provider"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_requests_total",
			Help: "Upstream calls by HTTP status (0 when no response arrived).",
		}, []string{"upstream", "provider", "status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_errors_total",
			Help: "Upstream calls that failed, by kind of failure.",
		}, []string{"upstream", "error_type"}),
		streamEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streaming_events_total",
			Help: "Server-sent events received from upstreams.",
		}, []string{"provider"}),
		streamBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streaming_bytes_total",
			Help: "Bytes of server-sent events received from upstreams.",
		}, []string{"provider"}),
		streamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streaming_duration_seconds",
			Help:    "Duration of streamed upstream answers, from request to last event.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"provider"}),
		tokens: newTokensVec(),
		slowCuts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_slow_client_cuts_total",
			Help: "Streams cut because their client stopped reading for server.slow_client_timeout, freeing the upstream slot.",
		}, []string{"upstream"}),
	}
	reg.MustRegister(m.firstByte, m.requests, m.errors, m.streamEvents, m.streamBytes, m.streamDuration, m.tokens, m.slowCuts)
	return m
}

// poolMetrics caches one pool's metric children so the hot path does no
// label lookups.
type poolMetrics struct {
	m              *metrics
	upstream       string
	provider       string
	firstByte      prometheus.Observer
	streamEvents   prometheus.Counter
	streamBytes    prometheus.Counter
	streamDuration prometheus.Observer
	slowCuts       prometheus.Counter
	// errors holds the children of every error kind, made with the pool
	// and never changed.
	errors map[string]prometheus.Counter

	// byStatus holds upstream_requests_total's children by status (0 and
	// the HTTP statuses), each made on its first use so that a status's
	// series appears once it has been seen. Statuses beyond are looked up
	// each time.
	byStatus [maxCachedStatus + 1]atomic.Pointer[prometheus.Counter]
}

// maxCachedStatus is the highest status whose counter a pool keeps at hand.
const maxCachedStatus = 599

func (m *metrics) forPool(upstream, provider string) *poolMetrics {
	// Export every error series at zero so alerts on rates work from the
	// first failure on.
	kinds := [...]string{errConnect, errTimeout, errIdleTimeout, errStatus, errInterrupted, errProtocol, errConversion, errNotStream, errKeys}
	byKind := make(map[string]prometheus.Counter, len(kinds))
	for _, kind := range kinds {
		byKind[kind] = m.errors.WithLabelValues(upstream, kind)
	}
	return &poolMetrics{
		m:              m,
		upstream:       upstream,
		provider:       provider,
		firstByte:      m.firstByte.WithLabelValues(upstream, provider),
		streamEvents:   m.streamEvents.WithLabelValues(provider),
		streamBytes:    m.streamBytes.WithLabelValues(provider),
		streamDuration: m.streamDuration.WithLabelValues(provider),
		slowCuts:       m.slowCuts.WithLabelValues(upstream),
		errors:         byKind,
	}
}

// request counts an upstream call that ended with status, 0 when no
// response arrived.
func (p *poolMetrics) request(status int) {
	if status < 0 || status > maxCachedStatus {
		p.m.requests.WithLabelValues(p.upstream, p.provider, strconv.Itoa(status)).Inc()
		return
	}
	slot := &p.byStatus[status]
	c := slot.Load()
	if c == nil {
		// Racing first uses resolve the same child.
		child := p.m.requests.WithLabelValues(p.upstream, p.provider, strconv.Itoa(status))
		c = &child
		slot.Store(c)
	}
	(*c).Inc()
}

func (p *poolMetrics) failure(kind string) {
	if c, ok := p.errors[kind]; ok {
		c.Inc()
		return
	}
	p.m.errors.WithLabelValues(p.upstream, kind).Inc()
}
