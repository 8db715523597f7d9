package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Window is the number of reply bytes a worker may send ahead of what the
// ingress has written to the client. It bounds the memory a stream holds
// however slow its client reads.
const Window = 256 << 10

// Errors a Reply reports while frames are read.
var (
	// ErrSequenceGap means a frame was lost between the worker and the ingress.
	ErrSequenceGap = errors.New("bus: reply frame lost (sequence gap)")
	// ErrOverrun means the worker sent more than the ingress granted.
	ErrOverrun = errors.New("bus: worker exceeded its flow-control window")
)

// Control message kinds, sent by the ingress to a worker's control subject.
const (
	controlCredit byte = 'C'
	controlCancel byte = 'X'
	// controlAlive answers a worker's heartbeat: the ingress is alive, only
	// its client reads slowly, so a worker waiting for credit keeps waiting.
	controlAlive byte = 'K'
)

// Inbox receives the reply frames of every request one ingress process has
// in flight, on a few wildcard subscriptions that share the work (shards),
// and serves request bodies that are too large to travel inline.
type Inbox struct {
	nc      *nats.Conn
	shards  *shards
	bodyPfx string
	subs    []*nats.Subscription
	replies sync.Map // request id → *Reply
	// loop, when set, carries control messages to workers of this process.
	loop *Loopback
}

// NewInbox subscribes to the reply and body subjects of the ingress process id.
func NewInbox(nc *nats.Conn, id string) (*Inbox, error) {
	return newInbox(nc, id, dispatchShards())
}

func newInbox(nc *nats.Conn, id string, n int) (*Inbox, error) {
	in := &Inbox{nc: nc, shards: newShards(replyPrefix+id+".", n), bodyPfx: bodyPrefix + id + "."}
	// The client library's pending limits are lifted: a burst across
	// thousands of streams must not be mistaken for a slow consumer, which
	// would drop frames and so fail streams. The dispatchers never wait on
	// a client, only append to a request's buffer (bounded, see push), and
	// what workers may send is bounded by the credit each stream grants
	// (Window), so pending stays within open streams × Window.
	subs, err := in.shards.subscribe(nc, in.deliver)
	if err != nil {
		return nil, fmt.Errorf("subscribing to replies: %w", err)
	}
	bodySub, err := nc.Subscribe(in.bodyPfx+"*", in.serveBody)
	if err != nil {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		return nil, fmt.Errorf("subscribing to body requests: %w", err)
	}
	in.subs = append(subs, bodySub)
	return in, nil
}

// UseLoopback has the workers of this process that share l reply to this
// inbox, and receive its control messages, without NATS. It must be called
// before the first request.
func (in *Inbox) UseLoopback(l *Loopback) {
	in.loop = l
	l.inbox.Store(in)
}

// WakeAll signals every open reply's Ready, as though frames had come, so
// that requests waiting on them look at whatever else made them stop.
func (in *Inbox) WakeAll() {
	in.replies.Range(func(_, v any) bool {
		v.(*Reply).wake()
		return true
	})
}

// Close unsubscribes. Requests still open see no more frames.
func (in *Inbox) Close() error {
	var errs []error
	for _, s := range in.subs {
		errs = append(errs, s.Unsubscribe())
	}
	return errors.Join(errs...)
}

// Open registers a request and returns the Reply its frames arrive on, on
// the next shard's subscription.
func (in *Inbox) Open(id string) *Reply {
	r := &Reply{
		inbox:   in,
		id:      id,
		subject: in.shards.pick() + id,
		notify:  make(chan struct{}, 1),
		expect:  1,
		granted: Window,
	}
	in.replies.Store(id, r)
	return r
}

func (in *Inbox) deliver(m *nats.Msg) {
	// The subject's last token is the request id, whatever the shard.
	v, ok := in.replies.Load(lastToken(m.Subject))
	if !ok {
		return // the request already ended; late frames are dropped
	}
	r := v.(*Reply)
	if len(m.Data) > 0 && m.Data[0] == '{' {
		// JetStream's acknowledgement of the enqueued request. Only a
		// refusal concerns the request's goroutine: the sequence number of
		// a queued request is recorded here, without waking it.
		if seq, err := parsePubAck(m.Data); err == nil {
			r.queuedSeq.Store(seq)
			return
		}
	}
	if len(m.Data) > 0 && m.Data[0] == byte(FrameHeartbeat) {
		// Answered here rather than by the request's goroutine, which may
		// be blocked writing to a slow client.
		if ctl := r.ctl.Load(); ctl != nil {
			_ = in.loop.publish(in.nc, *ctl, []byte{controlAlive})
		}
	}
	// Frames are never empty: an empty message is the server's "no
	// responders" status for a publish no stream took.
	r.push(m.Data)
}

func (in *Inbox) serveBody(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	v, ok := in.replies.Load(lastToken(m.Subject))
	if !ok {
		// The request ended: say so at once rather than leave the worker
		// waiting for an answer until its context ends.
		_ = m.Respond(nil)
		return
	}
	r := v.(*Reply)
	body := r.body.Load()
	offset, n := binary.Uvarint(m.Data)
	if body == nil || n <= 0 || offset > uint64(len(*body)) {
		_ = m.Respond(nil)
		return
	}
	chunk := (*body)[offset:]
	if limit := int(in.nc.MaxPayload()) - 1024; len(chunk) > limit {
		chunk = chunk[:limit]
	}
	_ = m.Respond(chunk)
}

// Reply is the ingress's end of one request's reply. Frames are pushed by the
// dispatcher of its shard's subscription and read by the request's own
// goroutine.
type Reply struct {
	inbox   *Inbox
	id      string
	subject string
	notify  chan struct{}
	body    atomic.Pointer[[]byte]
	// ctl is the worker's control subject, for the dispatcher's answers to
	// heartbeats; control is the request goroutine's own copy.
	ctl atomic.Pointer[string]

	mu       sync.Mutex
	queued   [][]byte
	buffered int
	overrun  bool

	// Read side, owned by the request's goroutine.
	cur       []byte
	queuedSeq atomic.Uint64 // set by the dispatcher
	queueWait time.Duration
	expect    uint64
	control   string
	written   int64
	granted   int64
	finished  bool
}

// Subject is where the worker must publish this request's frames.
func (r *Reply) Subject() string { return r.subject }

// BodySubject is where a worker fetches the body in chunks; see ServeBody.
func (r *Reply) BodySubject() string { return r.inbox.bodyPfx + r.id }

// ServeBody keeps body available for chunked fetching until Close. The caller
// must not modify it afterwards.
func (r *Reply) ServeBody(body []byte) { r.body.Store(&body) }

func (r *Reply) push(data []byte) {
	r.mu.Lock()
	// A worker honouring the window never has much more than Window bytes
	// outstanding (one oversized event, frame headers); far more is a bug.
	if r.buffered > 4*Window {
		r.overrun = true
	} else {
		r.queued = append(r.queued, data)
		r.buffered += len(data)
	}
	r.mu.Unlock()
	r.wake()
}

// wake signals Ready without waiting.
func (r *Reply) wake() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Ready is signalled whenever new frames may be available.
func (r *Reply) Ready() <-chan struct{} { return r.notify }

// Next returns the next frame if one has arrived. Heartbeats are consumed
// here: they only prove the worker is alive, and one that announces a
// sequence number never received reveals a lost frame. ok is false when no
// frame is ready; got reports whether anything (a heartbeat included) arrived.
func (r *Reply) Next() (f Frame, ok bool, got bool, err error) {
	for {
		if len(r.cur) == 0 {
			r.mu.Lock()
			if r.overrun {
				r.mu.Unlock()
				return Frame{}, false, got, ErrOverrun
			}
			if len(r.queued) == 0 {
				r.mu.Unlock()
				return Frame{}, false, got, nil
			}
			r.cur = r.queued[0]
			r.queued[0] = nil
			r.queued = r.queued[1:]
			r.buffered -= len(r.cur)
			r.mu.Unlock()
			if len(r.cur) == 0 {
				return Frame{}, false, true, fmt.Errorf("%w: no stream serves the queue", ErrEnqueue)
			}
		}
		got = true
		if r.cur[0] == '{' {
			// JetStream's acknowledgement of the enqueued request.
			seq, err := parsePubAck(r.cur)
			r.cur = nil
			if err != nil {
				if r.control != "" && !errors.Is(err, ErrQueueFull) {
					continue // a worker took it all the same
				}
				return Frame{}, false, got, err
			}
			r.queuedSeq.Store(seq)
			continue
		}
		f, rest, err := NextFrame(r.cur)
		if err != nil {
			r.cur = nil
			return Frame{}, false, got, err
		}
		r.cur = rest
		if len(rest) == 0 {
			// An empty rest still pins the message it was cut from: a held
			// stream would keep its last message until the next one.
			r.cur = nil
		}
		if f.Kind == FrameHeartbeat {
			if f.Seq >= r.expect {
				return Frame{}, false, got, ErrSequenceGap
			}
			continue
		}
		if f.Seq != r.expect {
			return Frame{}, false, got, fmt.Errorf("%w: got %d, want %d", ErrSequenceGap, f.Seq, r.expect)
		}
		r.expect++
		switch f.Kind {
		case FrameAccept:
			wait, n := binary.Uvarint(f.Payload)
			if n <= 0 {
				return Frame{}, false, got, fmt.Errorf("%w: bad accept frame", ErrMalformedFrame)
			}
			r.queueWait = time.Duration(wait) * time.Microsecond
			r.control = string(f.Payload[n:])
			r.ctl.Store(&r.control)
		case FrameEnd, FrameError, FrameFailure:
			r.finished = true
		}
		return f, true, got, nil
	}
}

// Pending reports whether more frames have arrived and can be read at once.
func (r *Reply) Pending() bool {
	if len(r.cur) > 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queued) > 0
}

// QueuedSeq is the stream sequence of the request while it waits in the
// queue, once JetStream has acknowledged it; 0 before.
func (r *Reply) QueuedSeq() uint64 { return r.queuedSeq.Load() }

// QueueWait is how long the request waited before a worker took it, as the
// worker measured it; 0 until accepted.
func (r *Reply) QueueWait() time.Duration { return r.queueWait }

// Accepted reports whether a worker has taken the request.
func (r *Reply) Accepted() bool { return r.control != "" }

// Written records that n more bytes reached the client and renews the
// worker's credit once half the window has been used.
func (r *Reply) Written(n int) {
	r.written += int64(n)
	if r.control == "" || r.finished {
		return
	}
	if r.written+Window-r.granted >= Window/2 {
		r.granted = r.written + Window
		msg := make([]byte, 1, 11)
		msg[0] = controlCredit
		msg = binary.AppendUvarint(msg, uint64(r.granted))
		_ = r.inbox.loop.publish(r.inbox.nc, r.control, msg)
	}
}

// Cancel tells the worker to abort the request. Before a worker has accepted
// it, the cancellation is broadcast, since any worker may be about to.
func (r *Reply) Cancel() {
	if r.finished {
		return
	}
	r.finished = true
	if r.control != "" {
		_ = r.inbox.loop.publish(r.inbox.nc, r.control, []byte{controlCancel})
		return
	}
	_ = r.inbox.nc.Publish(cancelPrefix+r.id, nil)
}

// Close unregisters the request; later frames are dropped.
func (r *Reply) Close() {
	r.inbox.replies.Delete(r.id)
	r.body.Store(nil)
}
