package bus

import (
	"bytes"
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
type Loopback struct {
	inbox  atomic.Pointer[Inbox]
	outbox atomic.Pointer[Outbox]
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
