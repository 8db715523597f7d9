package bus

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Puller pulls requests from an upstream's queue for one worker pool.
//
// It speaks JetStream's pull protocol on a subscription of its own, whose
// messages the client library's reader puts straight into the channel the
// pool reads. The library's Fetch subscribes anew for every batch and passes
// each message through a goroutine of its own: one more hand-off on every
// request's way to its worker.
//
// Pull and Classify belong to the goroutine that reads Messages; Ack may be
// called from any.
type Puller struct {
	nc     *nats.Conn
	api    string // the consumer's next-message subject
	prefix string // a pull's messages arrive on prefix + its number
	sub    *nats.Subscription
	msgs   chan *nats.Msg
	pulls  uint64
	// current is the reply subject of the pull in progress.
	current string
}

// PullEvent is what a message on a puller's subscription means.
type PullEvent int

const (
	// PulledRequest is a request envelope.
	PulledRequest PullEvent = iota
	// PullEnded is JetStream saying that the pull in progress ended (it
	// expired, or the consumer changed) with fewer requests than asked.
	PullEnded
	// PullNoise is anything else: the end of an earlier pull, a heartbeat.
	PullNoise
	// PullNoConsumer is NATS saying that nobody answered the pull: the
	// queue's consumer is gone, after a NATS restart for instance. Pulling
	// again at once would spin; the queue has to be recreated first.
	PullNoConsumer
)

// NewPuller subscribes to the replies of the upstream's queue consumer.
// capacity bounds the requests a pool asks for at once.
func NewPuller(nc *nats.Conn, upstream string, capacity int) (*Puller, error) {
	p := &Puller{
		nc:     nc,
		api:    "$JS.API.CONSUMER.MSG.NEXT." + QueueStream(upstream) + "." + queueConsumer,
		prefix: nats.NewInbox() + ".",
		// Room for a whole batch, its end and stragglers: a full channel
		// would make the library drop messages.
		msgs: make(chan *nats.Msg, capacity+64),
	}
	sub, err := nc.ChanSubscribe(p.prefix+"*", p.msgs)
	if err != nil {
		return nil, fmt.Errorf("subscribing to pulled requests of %q: %w", upstream, err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	p.sub = sub
	return p, nil
}

// Pull asks for up to batch requests, for at most expires. They arrive on
// Messages; Classify tells them from the end of the pull.
func (p *Puller) Pull(batch int, expires time.Duration) error {
	return p.pull(batch, expires, false)
}

// PullWaiting asks for up to batch of the requests waiting in the queue now:
// the pull ends as soon as the queue has nothing more to give, so a pool can
// tell a queue with a backlog from one it has drained.
func (p *Puller) PullWaiting(batch int) error { return p.pull(batch, 0, true) }

func (p *Puller) pull(batch int, expires time.Duration, noWait bool) error {
	p.pulls++
	var req [64]byte
	body := append(req[:0], `{"batch":`...)
	body = strconv.AppendInt(body, int64(batch), 10)
	if noWait {
		body = append(body, `,"no_wait":true`...)
	} else {
		body = append(body, `,"expires":`...)
		body = strconv.AppendInt(body, expires.Nanoseconds(), 10)
	}
	body = append(body, '}')
	p.current = p.prefix + strconv.FormatUint(p.pulls, 10)
	if err := p.nc.PublishRequest(p.api, p.current, body); err != nil {
		return fmt.Errorf("pulling requests: %w", err)
	}
	return nil
}

// Messages delivers pulled requests and the statuses that end pulls.
func (p *Puller) Messages() <-chan *nats.Msg { return p.msgs }

// Classify tells what m means for the pull in progress. Requests carry
// their queue's subject, not the pull's, so a request of an earlier pull
// given up on counts against the current one; it is started all the same,
// in a slot taken for it.
func (p *Puller) Classify(m *nats.Msg) PullEvent {
	if len(m.Data) == 0 && m.Header != nil && m.Header.Get("Status") != "" {
		if m.Subject == p.current {
			switch m.Header.Get("Status") {
			case "100":
				return PullNoise
			case "503":
				return PullNoConsumer
			}
			return PullEnded
		}
		return PullNoise
	}
	return PulledRequest
}

// Ack acknowledges a pulled request: it has left the queue.
func (p *Puller) Ack(m *nats.Msg) error {
	if err := p.nc.Publish(m.Reply, ackPayload); err != nil {
		return fmt.Errorf("acknowledging a pulled request: %w", err)
	}
	return nil
}

var ackPayload = []byte("+ACK")

// Close unsubscribes.
func (p *Puller) Close() error { return p.sub.Unsubscribe() }
