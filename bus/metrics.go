package bus

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Rejection reasons, the values of gateway_rejected_total's reason label.
const (
	RejectQueueFull    = "queue_full"
	RejectQueueTimeout = "queue_timeout"
	RejectNoWorkers    = "no_workers"
)

// Outcomes of a direct offer at a worker, the values of
// gateway_direct_offers_total's outcome label.
const (
	OfferTaken    = "taken"
	OfferDeclined = "declined"
)

// QueueMetrics are the queueing metrics both halves of the gateway update.
// A process creates them once, whatever roles it runs.
type QueueMetrics struct {
	Depth    *prometheus.GaugeVec
	Wait     *prometheus.HistogramVec
	Busy     *prometheus.GaugeVec
	Capacity *prometheus.GaugeVec
	Rejected *prometheus.CounterVec
	Offers   *prometheus.CounterVec
}

// NewQueueMetrics registers the queueing metrics on reg.
func NewQueueMetrics(reg prometheus.Registerer) *QueueMetrics {
	m := &QueueMetrics{
		Depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_queue_depth",
			Help: "Requests waiting in the upstream's queue for a worker.",
		}, []string{"upstream"}),
		Wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_queue_wait_seconds",
			Help:    "Time requests waited in the queue before a worker started them.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"upstream"}),
		Busy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_worker_busy",
			Help: "Upstream calls this process's workers are running.",
		}, []string{"upstream"}),
		Capacity: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_worker_capacity",
			Help: "Upstream calls this process's workers may run at once.",
		}, []string{"upstream"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_rejected_total",
			Help: "Requests refused before a worker started them, by reason (queue_full, queue_timeout, no_workers).",
		}, []string{"upstream", "reason"}),
		Offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_direct_offers_total",
			Help: "Requests offered to this process's workers outside the queue, by outcome (taken, or declined for want of a free slot or because requests wait in the queue).",
		}, []string{"upstream", "outcome"}),
	}
	reg.MustRegister(m.Depth, m.Wait, m.Busy, m.Capacity, m.Rejected, m.Offers)
	return m
}

// PanicsCounter returns gateway_panics_total's child for component
// ("ingress" or "worker"), registering the family on reg unless the other
// half of a single-process gateway already did.
func PanicsCounter(reg prometheus.Registerer, component string) prometheus.Counter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_panics_total",
		Help: "Panics recovered while handling one request, which ended that request with an error.",
	}, []string{"component"})
	if err := reg.Register(vec); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			panic(err)
		}
		vec = already.ExistingCollector.(*prometheus.CounterVec)
	}
	return vec.WithLabelValues(component)
}
