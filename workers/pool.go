package workers

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/format"
)

// fetchWait bounds one pull request; the loop simply pulls again.
const fetchWait = 5 * time.Second

// pool serves one upstream.
type pool struct {
	svc      *Service
	upstream config.Upstream
	format   format.Format
	client   *upstreamClient
	keys     *keyPool
	routes   map[string]config.Route
	logger   *slog.Logger
	pm       *poolMetrics
	tokens   *tokenCounters
	puller   *bus.Puller

	// repull is signalled when the queue was recreated, or found again
	// after a reconnection: pulls waiting on the old consumer will never be
	// answered.
	repull chan struct{}
	// capacity is gateway_worker_capacity: the concurrency while the queue
	// is usable, 0 while the pool cannot serve.
	capacity prometheus.Gauge
	ready    atomic.Bool

	// endpoints are the paths served beside the routes' (endpoints.go).
	endpoints map[string]derivedRoute

	slots    chan struct{} // one token per free slot
	inflight sync.WaitGroup
	runner   runner
	// running counts the calls in progress, which hold slots; the other
	// slots are free or promised to the pull in progress.
	running atomic.Int64

	// direct takes requests offered to the pool outside the queue
	// (direct.go); nil when the pool takes none.
	direct *directIntake

	// lister answers model listings (models.go).
	lister *modelLister
	// spec is what the pool was built from (reload.go).
	spec poolSpec
	// stopLoops ends the fetch and sweep loops that loops counts.
	stopLoops context.CancelFunc
	loops     sync.WaitGroup
	// retired, once closed, makes the fetch loop end after the pull in
	// progress (whose requests it still starts: nothing pulled is lost);
	// fetching counts that loop.
	retired  chan struct{}
	fetching sync.WaitGroup

	busy          prometheus.Gauge
	wait          prometheus.Observer
	rejectTimeout prometheus.Counter
}

func newPool(s *Service, u config.Upstream, cfg config.Config) (*pool, error) {
	client, err := newUpstreamClient(u)
	if err != nil {
		return nil, err
	}
	p := &pool{
		svc:           s,
		upstream:      u,
		format:        u.Format,
		client:        client,
		routes:        make(map[string]config.Route),
		logger:        s.logger.With("upstream", u.Name),
		keys:          newKeyPool(u, s.keyMetrics, s.logger.With("upstream", u.Name)),
		pm:            s.m.forPool(u.Name, provider(u.Format)),
		slots:         make(chan struct{}, u.Concurrency),
		repull:        make(chan struct{}, 1),
		retired:       make(chan struct{}),
		spec:          specOf(u, cfg),
		capacity:      s.qm.Capacity.WithLabelValues(u.Name),
		busy:          s.qm.Busy.WithLabelValues(u.Name),
		wait:          s.qm.Wait.WithLabelValues(u.Name),
		rejectTimeout: s.qm.Rejected.WithLabelValues(u.Name, bus.RejectQueueTimeout),
	}
	for range u.Concurrency {
		p.slots <- struct{}{}
	}
	if !cfg.Bus.QueueOnly && u.Concurrency > 1 {
		// With one slot, the pull that watches the queue holds it all
		// the time, and every offer would be declined.
		p.direct = newDirectIntake(p, s.qm)
	}
	for _, r := range cfg.Routes {
		// A model-routed route may send any request to any upstream
		// that one of its models targets.
		if r.Upstream == u.Name || r.ModelRouted() {
			p.routes[r.Path] = r
		}
	}
	// Chat endpoints derived from routes (the Responses API beside Chat
	// Completions) are served like routes; as at the ingress, a configured
	// route with the same path, or one derived before, wins.
	for _, parent := range cfg.Routes {
		for _, e := range config.Endpoints() {
			r, ok := parent.Beside(e)
			if _, taken := p.routes[r.Path]; !ok || taken || parent.Upstream != u.Name || isConfigured(&cfg, r.Path) {
				continue
			}
			p.routes[r.Path] = r
		}
	}
	p.addEndpoints()
	p.tokens = newTokenCounters(s.m.tokens, u, cfg.Routes)
	// Nothing can be served until the queue is known to be usable.
	p.capacity.Set(0)
	return p, nil
}

// provider is the provider label of metrics for an upstream format.
func provider(f format.Format) string { return string(f.Family()) }

// queue is the pool's work queue as a resource the service's Keeper keeps
// on the bus.
func (p *pool) queue() bus.Resource {
	return bus.QueueResource(p.svc.js, p.queueConfig(), p.queueChanged)
}

func (p *pool) queueConfig() bus.QueueConfig {
	return bus.QueueConfig{
		Upstream: p.upstream.Name,
		Size:     p.upstream.QueueSize,
		Timeout:  p.upstream.QueueTimeout.Duration,
		Replicas: p.svc.cfg.Bus.Replicas,
	}
}

// queueChanged follows the queue's state: the pool's capacity is zero while
// the queue is unusable, and a renewed queue needs a new pull.
func (p *pool) queueChanged(ok, renewed bool) {
	p.ready.Store(ok)
	if ok {
		p.capacity.Set(float64(p.upstream.Concurrency))
	} else {
		p.capacity.Set(0)
	}
	if renewed {
		select {
		case p.repull <- struct{}{}:
		default:
		}
	}
}

// setup subscribes to the pool's pulled requests; the queue itself is the
// Keeper's.
func (p *pool) setup() error {
	puller, err := bus.NewPuller(p.svc.nc, p.upstream.Name, p.upstream.Concurrency)
	if err != nil {
		return err
	}
	p.puller = puller
	return nil
}

// capacityNow is the calls the pool may run at once: none while its queue
// is unusable.
func (p *pool) capacityNow() int {
	if p.ready.Load() {
		return p.upstream.Concurrency
	}
	return 0
}

func (p *pool) busyCount() int { return int(p.running.Load()) }

// fetchLoop pulls as many requests as there are free slots, and starts each
// one as it arrives. It never holds a request it cannot start at once, so an
// idle worker elsewhere gets it instead.
//
// A pool that takes direct offers pulls for one slot only while its queue
// is empty, and leaves the other free slots to offers: that pull catches
// what the pool's offers were declined for. Once it brings a request, or
// the pool declines an offer (which its ingress then queues), the queue has
// a backlog: the pool takes no offers, so that queued requests are not
// overtaken, and pulls for all its free slots the requests waiting, until
// a pull finds fewer than it asked for.
func (p *pool) fetchLoop(ctx, work context.Context) {
	if p.direct != nil {
		defer p.direct.close()
	}
	for {
		// Wait for one free slot, then count the others.
		select {
		case <-ctx.Done():
			return
		case <-p.retired:
			return
		case <-p.slots:
		}
		backlog, mark := false, uint64(0)
		if p.direct != nil {
			mark = p.direct.mark()
			backlog = p.direct.queued()
		}
		free := 1
		if backlog || p.direct == nil {
			free += p.takeFreeSlots()
		}
		var err error
		if backlog {
			err = p.puller.PullWaiting(free)
		} else {
			err = p.puller.Pull(free, fetchWait)
		}
		if err != nil {
			p.returnSlots(free)
			p.logger.Warn("pulling from queue failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		unused, status := p.receive(ctx, work, free)
		p.returnSlots(unused)
		if p.direct != nil {
			p.direct.settle(status == pullDone && unused == 0, mark)
		}
		switch status {
		case pullStopped:
			return
		case pullNoConsumer:
			// The queue is gone: have it recreated, and pull again once it
			// is, or after a pause.
			p.svc.keeper.Kick()
			select {
			case <-ctx.Done():
				return
			case <-p.repull:
			case <-time.After(time.Second):
			}
		}
	}
}

// takeFreeSlots takes every free slot there is without waiting, and returns
// how many it took.
func (p *pool) takeFreeSlots() int {
	n := 0
	for {
		select {
		case <-p.slots:
			n++
		default:
			return n
		}
	}
}

// pullStatus is how a pull ended.
type pullStatus int

const (
	pullDone pullStatus = iota
	pullStopped
	pullNoConsumer
)

// receive starts the requests of the pull in progress as they arrive, until
// it brought batch of them or ended. It returns the number of slots left
// unused, and how the pull ended.
func (p *pool) receive(ctx, work context.Context, batch int) (unused int, status pullStatus) {
	// JetStream ends a pull that expires with a status message; should that
	// be lost, the pull is given up on a little later.
	giveUp := time.NewTimer(fetchWait + time.Second)
	defer giveUp.Stop()
	for batch > 0 {
		select {
		case <-ctx.Done():
			return batch, pullStopped
		case <-giveUp.C:
			return batch, pullDone
		case <-p.repull:
			return batch, pullDone
		case m := <-p.puller.Messages():
			switch p.puller.Classify(m) {
			case bus.PulledRequest:
				batch--
				p.start(work, m, true)
			case bus.PullEnded:
				return batch, pullDone
			case bus.PullNoConsumer:
				return batch, pullNoConsumer
			}
		}
	}
	return 0, pullDone
}

// start runs a request in a slot already taken for it: one pulled from the
// queue, or one offered directly when queued is false.
func (p *pool) start(work context.Context, m *nats.Msg, queued bool) {
	p.inflight.Add(1)
	p.busy.Inc()
	p.running.Add(1)
	p.runner.run(func() {
		defer func() {
			p.running.Add(-1)
			p.busy.Dec()
			p.slots <- struct{}{}
			p.inflight.Done()
		}()
		// A request's own call recovers and answers its client; this
		// catches a panic before the call exists, so that the slot comes
		// back and the process lives.
		defer func() {
			if v := recover(); v != nil {
				p.svc.panics.Inc()
				p.logger.Error("panic while taking a request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}()
		p.current().handle(work, m, queued)
	})
}

// current is the pool that serves the pool's upstream now: the pool itself,
// or, once a reconfiguration retired it, its replacement, which serves with
// the new settings what the retired pool's last pull still brings in.
func (p *pool) current() *pool {
	select {
	case <-p.retired:
	default:
		return p
	}
	if cur, ok := p.svc.pool(p.upstream.Name); ok {
		return cur
	}
	return p
}

// startLoops starts fetching requests, which run under work, until ctx
// ends or the pool is retired.
func (p *pool) startLoops(ctx, work context.Context) {
	ctx, p.stopLoops = context.WithCancel(ctx)
	if p.direct != nil {
		if err := p.direct.listen(work); err != nil {
			// The queue serves everything meanwhile.
			p.logger.Warn("taking no direct requests", "err", err)
			p.direct = nil
		}
	}
	p.fetching.Add(1)
	p.loops.Go(func() {
		defer p.fetching.Done()
		p.fetchLoop(ctx, work)
	})
	p.loops.Go(func() { p.runner.sweepUntil(ctx) })
}

func (p *pool) closePuller() {
	if p.puller == nil {
		return
	}
	if err := p.puller.Close(); err != nil {
		p.logger.Warn("closing a queue subscription", "err", err)
	}
	p.puller = nil
}

// release frees the pool's goroutines and connections once no call runs.
func (p *pool) release() {
	p.runner.stop()
	p.client.close()
}

func (p *pool) returnSlots(n int) {
	for range n {
		p.slots <- struct{}{}
	}
}

// isConfigured reports whether cfg has a route at path.
func isConfigured(cfg *config.Config, path string) bool {
	_, ok := cfg.Route(path)
	return ok
}
