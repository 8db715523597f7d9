package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Direct dispatch.
//
// A request whose upstream has an idle worker need not pass through the
// JetStream queue, whose publish, stream, consumer and acknowledgement are
// most of the bus's added latency. The ingress first offers the request on
// the upstream's direct subject, where the upstream's workers listen as one
// queue group, so NATS hands each offer to exactly one of them. That worker
// either takes it, in a free slot it has not promised to a queue pull, and
// answers with the accept frame as for a queued request, or declines it with
// an empty message. When no worker listens, the server's "no responders"
// status is just as empty. An empty answer sends the ingress on to the
// queue with the same request; the queue keeps every guarantee it gives.
//
// An offer's envelope carries a deadline (Request.Deadline) DirectOfferTimeout
// ahead. A worker never takes an offer after its deadline, and the ingress
// waits for that deadline and the accept frame's transit before it decides
// that the worker given the offer died with it and queues the request under a
// new id. A request is therefore started at most once, and never lost.

// DirectOfferTimeout is how long an offered request may wait for its worker
// to take it. Taking an offer needs a free slot and no queue backlog, both
// known at once, so only a worker stalled or gone comes near it.
const DirectOfferTimeout = 250 * time.Millisecond

// directGroup is the queue group of an upstream's workers on its direct
// subject.
const directGroup = "workers"

// Offer publishes an encoded request envelope on the upstream's direct
// subject. The worker's frames, or an empty message when none took it,
// arrive on reply.
func (q *Queues) Offer(upstream, reply string, envelope []byte) error {
	if err := q.js.Conn().PublishRequest(DirectSubject(upstream), reply, envelope); err != nil {
		return fmt.Errorf("offering a request to workers of %q: %w", upstream, err)
	}
	return nil
}

// ListenDirect subscribes a worker pool to the requests offered directly for
// its upstream. handle runs on the subscription's goroutine and must take or
// decline each offer at once.
func ListenDirect(nc *nats.Conn, upstream string, handle func(*nats.Msg)) (*nats.Subscription, error) {
	sub, err := nc.QueueSubscribe(DirectSubject(upstream), directGroup, handle)
	if err != nil {
		return nil, fmt.Errorf("subscribing to direct requests of %q: %w", upstream, err)
	}
	return sub, nil
}

// Decline tells the ingress that offered m that this worker does not take
// it, so that the ingress queues it.
func Decline(nc *nats.Conn, m *nats.Msg) error {
	if err := nc.Publish(m.Reply, nil); err != nil {
		return fmt.Errorf("declining a direct request: %w", err)
	}
	return nil
}
