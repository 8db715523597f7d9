package workers

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
)

// directIntake takes the requests offered to a pool outside its queue (see
// bus/direct.go). An offer is taken only into a free slot, one the fetch
// loop has not promised to a pull, and only while the queue has no backlog:
// the pool's concurrency stays its bound, and a request offered now never
// overtakes one that waits in the queue.
type directIntake struct {
	p   *pool
	sub *nats.Subscription
	// local ends the intake of offers made in this process.
	local func()
	// work is the context requests run under, set when the pool starts.
	work context.Context

	// backlog is set while the queue may have requests waiting: the fetch
	// loop found some there, or the pool declined an offer, which its
	// ingress then queued. Offers are declined while it is set, so that the
	// next free slot goes to the queue.
	backlog atomic.Bool

	// mu orders taking an offer against closing: once close returns, no
	// offer is started, so the pool's in-flight count can be waited on.
	// It also orders declines against the fetch loop's view of the queue.
	mu   sync.Mutex
	open bool
	// declines counts declined offers, so that a pull that began before
	// one and found the queue empty does not clear the backlog it made.
	declines uint64

	taken, declined prometheus.Counter
}

func newDirectIntake(p *pool, qm *bus.QueueMetrics) *directIntake {
	return &directIntake{
		p:        p,
		taken:    qm.Offers.WithLabelValues(p.upstream.Name, bus.OfferTaken),
		declined: qm.Offers.WithLabelValues(p.upstream.Name, bus.OfferDeclined),
	}
}

// listen subscribes to the pool's offers; requests taken run under work.
func (d *directIntake) listen(work context.Context) error {
	d.mu.Lock()
	d.work, d.open = work, true
	d.mu.Unlock()
	sub, err := bus.ListenDirect(d.p.svc.nc, d.p.upstream.Name, d.offered)
	if err != nil {
		d.close()
		return err
	}
	d.sub = sub
	if loop := d.p.svc.loop; loop != nil {
		d.local = loop.TakeOffers(d.p.upstream.Name, d.offeredHere)
	}
	return nil
}

// offeredHere takes or declines an offer and reports which; an offer of
// this process's ingress needs no more, since that ingress queues what the
// pool declines.
func (d *directIntake) offeredHere(m *nats.Msg) bool {
	if d.take(m) {
		d.taken.Inc()
		return true
	}
	d.declined.Inc()
	d.markBacklog()
	return false
}

// offered takes the offer m or declines it. It runs on the subscription's
// goroutine and never waits.
func (d *directIntake) offered(m *nats.Msg) {
	if d.offeredHere(m) {
		return
	}
	if err := bus.Decline(d.p.svc.nc, m); err != nil {
		d.p.logger.Warn("declining a direct request failed", "err", err)
	}
}

// markBacklog records a declined offer: its ingress queues the request.
func (d *directIntake) markBacklog() {
	d.mu.Lock()
	d.declines++
	d.backlog.Store(true)
	d.mu.Unlock()
}

func (d *directIntake) take(m *nats.Msg) bool {
	if d.backlog.Load() {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.open || !d.p.ready.Load() {
		return false
	}
	select {
	case <-d.p.slots:
	default:
		return false
	}
	d.p.start(d.work, m, false)
	return true
}

// mark returns what settle needs to know of the declines before a pull.
func (d *directIntake) mark() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.declines
}

// settle records what a pull that began at mark found: a backlog, or a
// drained queue, unless offers were declined meanwhile.
func (d *directIntake) settle(backlog bool, mark uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if backlog || d.declines == mark {
		d.backlog.Store(backlog)
	}
}

// queued reports whether the queue may have requests waiting.
func (d *directIntake) queued() bool { return d.backlog.Load() }

// close stops taking offers, and unsubscribes: offers then find no
// responders, or another worker, and the ingress queues them.
func (d *directIntake) close() {
	d.mu.Lock()
	d.open = false
	d.mu.Unlock()
	if d.local != nil {
		d.local()
	}
	if d.sub != nil {
		if err := d.sub.Unsubscribe(); err != nil {
			d.p.logger.Warn("closing the direct request subscription", "err", err)
		}
	}
}
