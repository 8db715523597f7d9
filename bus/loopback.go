package bus

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Loopback carries the reply frames and control messages of requests whose
// ingress and worker share a process straight from one to the other.
//
// Through NATS, every streamed event wakes the sending client's flusher, the
// server's reader for that connection, the receiving client's reader and the
// subscription's dispatcher before it reaches the request's goroutine: four
// hand-offs between goroutines, each a wake-up of a sleeping core when
// events are tens of milliseconds apart, for a message that never leaves the
// process. Through a Loopback, the worker's goroutine puts the frames into
// the request's reply itself.
//
// Messages the loopback does not own (another process's replies, broadcast
// cancellations, offers and queued requests) go through NATS as always. A
// nil *Loopback sends everything through NATS.
//
// Offers, too, go first to the process's own pool of the upstream, which
// takes or declines them at once; an offer it declines is queued, as one
// the pools of other processes decline would be.
type Loopback struct {
	inbox  atomic.Pointer[Inbox]
	outbox atomic.Pointer[Outbox]
	takers sync.Map // upstream → *offerTaker
}

// offerTaker is a pool's intake of offers, by pointer so that a pool that
// stops removes its own intake and not its replacement's.
type offerTaker struct{ take func(*nats.Msg) bool }

// TakeOffers has take receive the offers for upstream made in this process,
// until the returned stop is called. take must not wait; it reports whether
// it took the offer.
func (l *Loopback) TakeOffers(upstream string, take func(*nats.Msg) bool) (stop func()) {
	t := &offerTaker{take: take}
	l.takers.Store(upstream, t)
	return func() { l.takers.CompareAndDelete(upstream, t) }
}

// Offer hands an offer to the process's own pool of the upstream. tried is
// false when the process has none (or l is nil), and the offer must go
// through NATS; otherwise taken says whether the pool took it, and a
// request it did not take belongs in the queue. The envelope must not be
// reused: a pool that takes it keeps it.
func (l *Loopback) Offer(upstream, reply string, envelope []byte) (taken, tried bool) {
	if l == nil {
		return false, false
	}
	v, ok := l.takers.Load(upstream)
	if !ok {
		return false, false
	}
	return v.(*offerTaker).take(&nats.Msg{Subject: DirectSubject(upstream), Reply: reply, Data: envelope}), true
}

// NewLoopback returns a Loopback with no ends attached; the process's Inbox
// and Outbox attach themselves when given it.
func NewLoopback() *Loopback { return &Loopback{} }

// publish delivers data on subject in the process when one of its ends owns
// the subject, and through nc otherwise. data is copied: callers reuse their
// buffers, as they may with nats.Conn.Publish.
func (l *Loopback) publish(nc *nats.Conn, subject string, data []byte) error {
	if l != nil {
		if in := l.inbox.Load(); in != nil && in.shards.owns(subject) {
			in.deliver(&nats.Msg{Subject: subject, Data: bytes.Clone(data)})
			return nil
		}
		if o := l.outbox.Load(); o != nil && o.ctlShards.owns(subject) {
			o.control(&nats.Msg{Subject: subject, Data: bytes.Clone(data)})
			return nil
		}
	}
	return nc.Publish(subject, data)
}
