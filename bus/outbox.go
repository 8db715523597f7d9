package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// HeartbeatInterval is how long a worker stays silent before it tells the
// ingress it is still alive.
const HeartbeatInterval = time.Second

// Errors a Sender reports.
var (
	// ErrCancelled means the ingress cancelled the request (its client left).
	ErrCancelled = errors.New("bus: request cancelled by the ingress")
	// ErrCreditStalled means the ingress stopped granting credit: it is gone.
	ErrCreditStalled = errors.New("bus: no flow-control credit from the ingress")
	// ErrSlowClient means the ingress is alive but its client has not read
	// enough to renew the window within the slow-client time-out.
	ErrSlowClient = errors.New("bus: the client stopped reading its answer")
)

// Outbox is a worker process's side of the reply protocol: it owns the
// control subscriptions (shards) on which ingresses grant credit and cancel
// requests, and the heartbeats of every request in flight.
type Outbox struct {
	nc         *nats.Conn
	ctlShards  *shards
	stall      time.Duration
	slowClient time.Duration
	subs       []*nats.Subscription
	senders    sync.Map // request id → *Sender
	mu         sync.Mutex
	earlyStops map[string]time.Time // cancelled before this worker registered them
	stop       chan struct{}
	done       chan struct{}
	// bufs holds senders' frame buffers (*[]byte) for reuse: a sender
	// holds one only while it has frames to send, not while its stream is
	// idle between events.
	bufs sync.Pool
	// loop, when set, carries replies to the ingress of this process.
	loop *Loopback
}

// maxPooledBuffer is the largest frame buffer kept for reuse; a stream's
// coalesced frames rarely exceed it, and bigger ones are left to the
// collector rather than held.
const maxPooledBuffer = 64 << 10

// NewOutbox subscribes to the control subjects of worker process id. stall is
// how long a sender waits for credit before it decides the ingress is gone;
// slowClient how long it waits for credit at most while the ingress says it
// is alive and only its client reads slowly (ErrSlowClient), so that a client
// that does not read cannot hold an upstream slot without bound.
func NewOutbox(nc *nats.Conn, id string, stall, slowClient time.Duration) (*Outbox, error) {
	return newOutbox(nc, id, stall, slowClient, dispatchShards())
}

func newOutbox(nc *nats.Conn, id string, stall, slowClient time.Duration, n int) (*Outbox, error) {
	o := &Outbox{
		nc:         nc,
		ctlShards:  newShards(controlPrefix+id+".", n),
		stall:      stall,
		slowClient: slowClient,
		earlyStops: make(map[string]time.Time),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	// Pending limits are lifted as for the ingress's replies: the
	// dispatchers only store a grant or signal a request without waiting,
	// and an ingress sends a request's worker a few small messages per
	// window it renews, so pending stays small; dropping a grant would
	// stall the stream.
	subs, err := o.ctlShards.subscribe(nc, o.control)
	if err != nil {
		return nil, fmt.Errorf("subscribing to control subjects: %w", err)
	}
	cancels, err := nc.Subscribe(cancelPrefix+"*", o.broadcastCancel)
	if err != nil {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		return nil, fmt.Errorf("subscribing to cancellations: %w", err)
	}
	o.subs = append(subs, cancels)
	go o.heartbeats()
	return o, nil
}

// UseLoopback has this outbox reply to the ingress of this process that
// shares l, and take its control messages, without NATS. It must be called
// before the first request.
func (o *Outbox) UseLoopback(l *Loopback) {
	o.loop = l
	l.outbox.Store(o)
}

// Close stops heartbeats and unsubscribes.
func (o *Outbox) Close() error {
	close(o.stop)
	<-o.done
	var errs []error
	for _, s := range o.subs {
		errs = append(errs, s.Unsubscribe())
	}
	return errors.Join(errs...)
}

func (o *Outbox) control(m *nats.Msg) {
	// The subject's last token is the request id, whatever the shard.
	v, ok := o.senders.Load(lastToken(m.Subject))
	if !ok || len(m.Data) == 0 {
		return
	}
	s := v.(*Sender)
	switch m.Data[0] {
	case controlCredit:
		granted, n := binary.Uvarint(m.Data[1:])
		if n <= 0 {
			return
		}
		for {
			cur := s.granted.Load()
			if int64(granted) <= cur || s.granted.CompareAndSwap(cur, int64(granted)) {
				break
			}
		}
		select {
		case s.credit <- struct{}{}:
		default:
		}
	case controlCancel:
		s.cancel()
	case controlAlive:
		select {
		case s.alive <- struct{}{}:
		default:
		}
	}
}

func (o *Outbox) broadcastCancel(m *nats.Msg) {
	id := lastToken(m.Subject)
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.senders.Load(id); ok {
		v.(*Sender).cancel()
		return
	}
	now := time.Now()
	if len(o.earlyStops) > 4096 {
		for k, t := range o.earlyStops {
			if now.Sub(t) > time.Minute {
				delete(o.earlyStops, k)
			}
		}
	}
	o.earlyStops[id] = now
}

func (o *Outbox) heartbeats() {
	defer close(o.done)
	ticker := time.NewTicker(HeartbeatInterval / 2)
	defer ticker.Stop()
	var buf []byte
	for {
		select {
		case <-o.stop:
			return
		case now := <-ticker.C:
			cutoff := now.Add(-HeartbeatInterval).UnixNano()
			o.senders.Range(func(_, v any) bool {
				s := v.(*Sender)
				if s.lastSend.Load() < cutoff {
					buf = AppendFrame(buf[:0], FrameHeartbeat, s.lastSeq.Load(), nil)
					_ = o.loop.publish(o.nc, s.subject, buf)
					s.lastSend.Store(now.UnixNano())
				}
				return true
			})
		}
	}
}

// Begin registers a request a worker has taken and sends the accept frame.
// It fails with ErrCancelled when the ingress already gave up on it. The
// sender's context derives from ctx and ends when the ingress cancels.
func (o *Outbox) Begin(ctx context.Context, req *Request, queueWait time.Duration) (*Sender, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &Sender{
		outbox:  o,
		id:      req.ID,
		subject: req.Reply,
		credit:  make(chan struct{}, 1),
		alive:   make(chan struct{}, 1),
		ctx:     ctx,
		stop:    cancel,
	}
	s.granted.Store(Window)
	s.lastSend.Store(time.Now().UnixNano())
	o.mu.Lock()
	_, early := o.earlyStops[req.ID]
	delete(o.earlyStops, req.ID)
	if !early {
		o.senders.Store(req.ID, s)
	}
	o.mu.Unlock()
	if early {
		cancel()
		return nil, ErrCancelled
	}
	// The accept frame waits for the answer's first frames, saving a bus
	// message on quick answers, but never longer than acceptDelay: the
	// ingress needs it to stop its queue timer and to reach this worker,
	// on the control subject it names (the request's shard's).
	var payload [binary.MaxVarintLen64 + 96]byte
	accept := binary.AppendUvarint(payload[:0], uint64(max(queueWait, 0)/time.Microsecond))
	accept = append(accept, o.ctlShards.pick()...)
	s.appendFrame(FrameAccept, append(accept, req.ID...))
	s.acceptLen = len(s.buf)
	s.acceptTimer = time.AfterFunc(acceptDelay, s.flushAccept)
	return s, nil
}

// acceptDelay bounds how long a worker holds back the accept frame.
const acceptDelay = 10 * time.Millisecond

func (s *Sender) flushAccept() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastSeq.Load() == 0 && len(s.buf) > 0 {
		_ = s.publish()
	}
}

// Sender publishes one request's reply frames. Frames are buffered and sent
// together on Flush, so a burst of events costs one bus message. Its methods
// must be called from one goroutine; mu only guards against the accept timer.
type Sender struct {
	mu          sync.Mutex
	acceptTimer *time.Timer
	acceptLen   int

	outbox  *Outbox
	id      string
	subject string
	credit  chan struct{}
	alive   chan struct{} // the ingress answered a heartbeat
	ctx     context.Context
	stop    context.CancelFunc

	granted   atomic.Int64
	cancelled atomic.Bool
	lastSeq   atomic.Uint64
	lastSend  atomic.Int64

	seq     uint64
	sent    int64
	pending int
	// buf holds the frames not yet published, in the pooled slice bufp;
	// both are nil when there are none.
	buf  []byte
	bufp *[]byte
}

// Context ends when the ingress cancels the request (its client left), when
// the parent context of Begin ends, or when the sender is closed.
func (s *Sender) Context() context.Context { return s.ctx }

func (s *Sender) cancel() {
	s.cancelled.Store(true)
	s.stop()
}

// Cancelled reports whether the ingress cancelled the request.
func (s *Sender) Cancelled() bool { return s.cancelled.Load() }

func (s *Sender) appendFrame(kind FrameKind, payload []byte) {
	if s.bufp == nil {
		s.takeBuf()
	}
	s.seq++
	s.buf = AppendFrame(s.buf, kind, s.seq, payload)
}

// takeBuf gives the sender a frame buffer from the pool; s.mu must be held.
func (s *Sender) takeBuf() {
	if p, ok := s.outbox.bufs.Get().(*[]byte); ok {
		s.bufp, s.buf = p, (*p)[:0]
		return
	}
	s.bufp, s.buf = new([]byte), nil
}

// dropBuf hands the frame buffer back once its frames are published; s.mu
// must be held. Buffers larger than maxPooledBuffer are left to the
// collector rather than kept.
func (s *Sender) dropBuf() {
	if s.bufp == nil {
		return
	}
	if cap(s.buf) <= maxPooledBuffer {
		*s.bufp = s.buf[:0]
		s.outbox.bufs.Put(s.bufp)
	}
	s.bufp, s.buf = nil, nil
}

// Head buffers the head frame.
func (s *Sender) Head(h Head) {
	var scratch [512]byte
	s.mu.Lock()
	s.appendFrame(FrameHead, AppendHead(scratch[:0], h))
	s.mu.Unlock()
}

// Data buffers bytes for the client.
func (s *Sender) Data(p []byte) {
	if len(p) == 0 {
		return
	}
	s.mu.Lock()
	s.appendFrame(FrameData, p)
	s.pending += len(p)
	s.mu.Unlock()
}

// End buffers the final frame with the answer's usage and flushes.
func (s *Sender) End(ctx context.Context, u Usage) error {
	var scratch [40]byte
	s.mu.Lock()
	s.appendFrame(FrameEnd, AppendUsage(scratch[:0], u))
	s.mu.Unlock()
	return s.Flush(ctx)
}

// Abort reports the usage of a request that ends early, after the ingress
// cancelled it or stopped granting credit, so its client is charged for what
// was produced. It ignores flow control: the ingress is no longer writing,
// only waiting for this frame. Buffered frames are dropped, except an accept
// frame not yet sent.
func (s *Sender) Abort(u Usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastSeq.Load() == 0 {
		s.buf, s.seq = s.buf[:s.acceptLen], 1
	} else {
		s.buf, s.seq = s.buf[:0], s.lastSeq.Load()
	}
	s.pending = 0
	var scratch [40]byte
	s.appendFrame(FrameEnd, AppendUsage(scratch[:0], u))
	_ = s.publish()
}

// Cut ends a stream whose client stopped reading: it sends tail (the
// dialect's error event) and the end frame with the usage so far, ignoring
// flow control like Abort. The ingress still writes the frames it holds and
// then tail, so the client sees the stream end with an error, not complete;
// the few bytes beyond the window are within the ingress's tolerance.
func (s *Sender) Cut(tail []byte, u Usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf, s.seq = s.buf[:0], s.lastSeq.Load()
	s.pending = 0
	if len(tail) > 0 {
		s.appendFrame(FrameData, tail)
	}
	var scratch [40]byte
	s.appendFrame(FrameEnd, AppendUsage(scratch[:0], u))
	_ = s.publish()
}

// Error sends a final error frame (before any head frame) and flushes.
func (s *Sender) Error(ctx context.Context, status int, body []byte) error {
	s.mu.Lock()
	s.appendFrame(FrameError, AppendError(make([]byte, 0, len(body)+3), status, body))
	s.mu.Unlock()
	return s.Flush(ctx)
}

// Failure sends a final failure frame (before any head frame) and flushes.
// Only an ingress whose request had envelope version 2 or later reads it
// (Request.TypedFailures); older ones get Error.
func (s *Sender) Failure(ctx context.Context, f *Failure) error {
	s.mu.Lock()
	s.appendFrame(FrameFailure, AppendFailure(make([]byte, 0, len(f.Body)+64), f))
	s.mu.Unlock()
	return s.Flush(ctx)
}

// Flush publishes the buffered frames as one message once the ingress has
// granted enough credit. It gives up when ctx ends, when the request is
// cancelled, or when no credit arrives within the stall time-out.
func (s *Sender) Flush(ctx context.Context) error {
	if err := s.waitCredit(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) == 0 {
		return nil
	}
	return s.publish()
}

func (s *Sender) waitCredit(ctx context.Context) error {
	var timer, slow *time.Timer
	var slowC <-chan time.Time
	for {
		granted := s.granted.Load()
		s.mu.Lock()
		sent, pending := s.sent, s.pending
		s.mu.Unlock()
		if sent+int64(pending) <= granted || sent+Window <= granted {
			if timer != nil {
				timer.Stop()
			}
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(s.outbox.stall)
			defer timer.Stop()
			// The bound runs from the start of this wait: a grant means
			// the client took half a window, which is progress; "alive"
			// answers mean only that the ingress still waits on it.
			if s.outbox.slowClient > 0 {
				slow = time.NewTimer(s.outbox.slowClient)
				defer slow.Stop()
				slowC = slow.C
			}
		}
		// The sender's own context counts as well as the caller's: a flush
		// must end when the ingress cancels, whatever context it was given.
		select {
		case <-s.credit:
		case <-s.alive:
			// A slow client, not a dead ingress: keep waiting.
			timer.Reset(s.outbox.stall)
		case <-ctx.Done():
			if s.Cancelled() {
				return ErrCancelled
			}
			return ctx.Err()
		case <-s.ctx.Done():
			if s.Cancelled() {
				return ErrCancelled
			}
			return s.ctx.Err()
		case <-timer.C:
			return ErrCreditStalled
		case <-slowC:
			return ErrSlowClient
		}
	}
}

// publish sends the buffered frames; s.mu must be held.
func (s *Sender) publish() error {
	if err := s.outbox.loop.publish(s.outbox.nc, s.subject, s.buf); err != nil {
		return fmt.Errorf("publishing reply frames: %w", err)
	}
	s.lastSeq.Store(s.seq)
	s.lastSend.Store(time.Now().UnixNano())
	s.sent += int64(s.pending)
	s.pending = 0
	s.dropBuf()
	return nil
}

// Close unregisters the request and releases its context.
func (s *Sender) Close() {
	s.acceptTimer.Stop()
	s.outbox.senders.Delete(s.id)
	s.stop()
	// The accept timer may be running still; it finds no buffer.
	s.mu.Lock()
	s.dropBuf()
	s.mu.Unlock()
}
