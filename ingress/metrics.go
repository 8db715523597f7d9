package ingress

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
)

// MetricClientDisconnects is the name of the counter of clients that left
// before their answer ended (part of the gateway's metrics contract).
const MetricClientDisconnects = "gateway_client_disconnects_total"

// Stages of gateway_client_disconnects_total.
const (
	// disconnectQueued: no worker had started the request.
	disconnectQueued = "queued"
	// disconnectAnswering: a worker was calling the upstream or streaming.
	disconnectAnswering = "answering"
)

// metrics are the HTTP-facing metrics of the ingress. Label values are
// bounded: paths are configured routes or a few fixed names, never raw client
// paths.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   *prometheus.GaugeVec
	firstToken *prometheus.HistogramVec
	interChunk *prometheus.HistogramVec
	// disconnects counts clients that closed their connection before their
	// answer ended, by upstream and stage (disconnectQueued,
	// disconnectAnswering). Only the ingress sees a client leave, so it
	// alone counts it.
	disconnects *prometheus.CounterVec
	// attempts counts the attempts at upstreams, by outcome (attempts.go).
	attempts *prometheus.CounterVec
	panics   prometheus.Counter
	children sync.Map // pathStatus → *statusChildren
}

type pathStatus struct {
	method string
	path   string
	status int
}

type statusChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by route path and status.",
		}, []string{"method", "path", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its answer (the whole stream for streamed answers).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"method", "path", "status"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "Requests being served, streams included.",
		}, []string{"method", "path"}),
		firstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streaming_time_to_first_token_seconds",
			Help:    "Time from receiving a streamed request to writing its first event to the client.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		interChunk: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streaming_inter_chunk_seconds",
			Help:    "Time between two writes of a streamed answer to the client.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricClientDisconnects,
			Help: "Clients that closed the connection before their answer ended, by stage: queued (no upstream call was made) or answering (the upstream call was cut short).",
		}, []string{"upstream", "stage"}),
	}
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricUpstreamAttempts,
		Help: "Attempts at serving a request from an upstream, by outcome: ok, or why the attempt failed (status_429, status_5xx, status_4xx, connect, timeout, first_token_timeout, protocol, queue_full, queue_timeout, no_workers, interrupted, cancelled, error).",
	}, []string{"upstream", "outcome"})
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.firstToken, m.interChunk, m.disconnects, m.attempts)
	m.panics = bus.PanicsCounter(reg, "ingress")
	return m
}

func (m *metrics) observe(method, path string, status int, seconds float64) {
	key := pathStatus{method: method, path: path, status: status}
	v, ok := m.children.Load(key)
	if !ok {
		code := strconv.Itoa(status)
		v, _ = m.children.LoadOrStore(key, &statusChildren{
			requests: m.requests.WithLabelValues(method, path, code),
			duration: m.duration.WithLabelValues(method, path, code),
		})
	}
	c := v.(*statusChildren)
	c.requests.Inc()
	c.duration.Observe(seconds)
}
