package ingress

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/ingress/internal/routing"
)

// RouteTable is the routing table a Server serves: which targets serve
// each model, and the bindings of the configured routes. Build it with
// NewRouteTable; it is never modified afterwards.
type RouteTable = routing.Table

// NewRouteTable builds the routing table of a validated configuration.
var NewRouteTable = routing.New

// SetRoutes makes t the routing table of the requests that arrive from now
// on; requests in flight keep the table they started with. The set of
// paths served, and the metrics of each, stay those of the configuration
// last given to New or Reconfigure: a path that t adds is not served until
// then, and a path it removes answers with the model routing of t (404 for
// a path route that t lacks). Reconfigure builds and swaps in the routing
// table of its configuration itself.
func (s *Server) SetRoutes(t *RouteTable) {
	if t == nil {
		return
	}
	for {
		old := s.tbl.Load()
		next := *old
		next.routing = t
		if s.tbl.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Routes returns the routing table in use.
func (s *Server) Routes() *RouteTable { return s.table().routing }

// upstreamStats are one upstream's metrics and the load the ingress sees
// on it.
type upstreamStats struct {
	name          string
	queueFull     prometheus.Counter
	queueTimeout  prometheus.Counter
	noWorkers     prometheus.Counter
	goneQueued    prometheus.Counter
	goneAnswering prometheus.Counter
	depthGauge    prometheus.Gauge
	attemptsOK    prometheus.Counter
	// attemptsVec and attemptsBy are the attempt counters of the other
	// outcomes, by index in attemptOutcomes, each resolved on its first
	// use: a series appears once its outcome has happened, as it always did.
	attemptsVec *prometheus.CounterVec
	attemptsBy  [len(attemptOutcomes)]atomic.Pointer[prometheus.Counter]
	// depth is the last sampled queue depth (watchQueues).
	depth atomic.Int64
	// active counts this ingress's attempts on the upstream that have not
	// ended: fresher than the workers' announcements, which come once a
	// second.
	active atomic.Int64
	// heard is when an attempt on the upstream last received a frame
	// (unix nanoseconds): proof that a worker serves it, however late
	// its announcements are.
	heard atomic.Int64
}

// upstream returns the stats of the named upstream, made on first use (an
// upstream added by a reload has none until then).
func (s *Server) upstream(name string) *upstreamStats {
	if v, ok := s.upstreams.Load(name); ok {
		return v.(*upstreamStats)
	}
	qm := s.opts.QueueMetrics
	u := &upstreamStats{
		name:          name,
		queueFull:     qm.Rejected.WithLabelValues(name, bus.RejectQueueFull),
		queueTimeout:  qm.Rejected.WithLabelValues(name, bus.RejectQueueTimeout),
		noWorkers:     qm.Rejected.WithLabelValues(name, bus.RejectNoWorkers),
		goneQueued:    s.metrics.disconnects.WithLabelValues(name, disconnectQueued),
		goneAnswering: s.metrics.disconnects.WithLabelValues(name, disconnectAnswering),
		depthGauge:    qm.Depth.WithLabelValues(name),
		attemptsOK:    s.metrics.attempts.WithLabelValues(name, outcomeOK),
		attemptsVec:   s.metrics.attempts,
	}
	v, _ := s.upstreams.LoadOrStore(name, u)
	return v.(*upstreamStats)
}

// attemptOutcomes are the outcomes whose counters an upstream keeps at hand.
var attemptOutcomes = [...]string{
	outcomeOK, outcomeStatus429, outcomeStatus5xx, outcomeStatus4xx, outcomeConnect, outcomeTimeout,
	outcomeFirstToken, outcomeProtocol, outcomeQueueFull, outcomeQueueTimeout, outcomeNoWorkers,
	outcomeInterrupted, outcomeCancelled, outcomeError,
}

// attempts returns the upstream's counter of attempts with outcome.
func (u *upstreamStats) attempts(outcome string) prometheus.Counter {
	for i, o := range attemptOutcomes {
		if o != outcome {
			continue
		}
		if c := u.attemptsBy[i].Load(); c != nil {
			return *c
		}
		// Racing first uses resolve the same child.
		c := u.attemptsVec.WithLabelValues(u.name, outcome)
		u.attemptsBy[i].Store(&c)
		return c
	}
	return u.attemptsVec.WithLabelValues(u.name, outcome)
}

// heardAt records that an attempt on the upstream received a frame at now.
// Streams receive thousands of frames a second, so the shared time is
// written only once it is a little old.
func (u *upstreamStats) heardAt(now time.Time) {
	if t := now.UnixNano(); t-u.heard.Load() > int64(heardResolution) {
		u.heard.Store(t)
	}
}

// heardResolution is how stale heard may be before a frame renews it.
const heardResolution = 100 * time.Millisecond

// served reports whether the upstream has a worker: one announced recently,
// or one that was announced before and is only late, while frames of the
// upstream's requests still arrive. A worker that crashed sends neither;
// one that said it leaves is not waited for, even while it finishes its
// streams.
func (s *Server) served(u *upstreamStats, now time.Time) bool {
	if s.registry.Workers(u.name) > 0 {
		return true
	}
	return s.registry.Silent(u.name) > 0 && now.UnixNano()-u.heard.Load() < int64(3*bus.PresenceInterval)
}

// Free implements routing.Load: the upstream's free worker slots, as its
// workers announced them or as this ingress's own attempts show (whichever
// is busier), less the requests waiting in its queue.
func (s *Server) Free(upstream string) int {
	capacity, busy := s.registry.Load(upstream)
	u := s.upstream(upstream)
	return capacity - max(busy, int(u.active.Load())) - int(u.depth.Load())
}

var _ routing.Load = (*Server)(nil)

// servedUpstreams lists the upstreams the configuration's routes and models
// send requests to, each once, in configuration order.
func (s *Server) servedUpstreams() []string {
	seen := make(map[string]bool)
	var out []string
	add := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	cfg := &s.table().cfg
	for _, r := range cfg.Routes {
		add(r.Upstream)
	}
	for _, m := range cfg.Models {
		for _, t := range m.Targets {
			add(t.Upstream)
		}
	}
	return out
}
