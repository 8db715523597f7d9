package ingress

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/ingress/access"
	"github.com/aigateway/gateway/ingress/accesslog"
	"github.com/aigateway/gateway/ingress/internal/routing"
)

const (
	// probeInterval is how often a waiting request checks that its client
	// is still connected and that its deadlines hold.
	probeInterval = 250 * time.Millisecond
	// acceptGrace is how long past the queue deadline the ingress still waits
	// for a worker's accept frame that may already be on its way.
	acceptGrace = 250 * time.Millisecond
	// pingAfter is the silence after which a stream gets an SSE comment, so
	// that proxies keep it open and a departed client shows up as a failed
	// write.
	pingAfter = 10 * time.Second
	// maxWrite bounds one write of a stream to its client.
	maxWrite = 32 << 10
)

// ssePing is the comment written to a stream during long silences.
var ssePing = []byte(": ping\n\n")

// exchange is one request's trip through the bus, from the first publish to
// the last frame, over one or more attempts (attempts.go).
type exchange struct {
	s         *Server
	r         *route
	reply     *bus.Reply
	conn      net.Conn
	requestID string
	method    string
	start     time.Time
	// deadline is the current attempt's queue deadline, or, while offered
	// is set, the deadline of its direct offer (bus/direct.go).
	deadline time.Time
	offered  bool
	// offerLost is set when an offer went unanswered: the worker that got
	// it may be gone, and the request is queued under a new id.
	offerLost bool
	// firstToken, when set, is when the current attempt must have produced
	// its first event (its head, for a whole answer).
	firstToken time.Time
	timer      *time.Timer
	// timerArmed is set while timer runs and its firing is still to be
	// received (armTimer).
	timerArmed bool

	lastRx    time.Time
	queueWait time.Duration // as the worker that took the request measured it
	model     string
	stream    bool

	status     int
	usage      bus.Usage
	firstWrite time.Duration
	lastWrite  time.Time
	lastPing   time.Time
	failure    string
	gone       bool
	ended      bool // the end frame arrived
	finished   bool

	key       *access.Key
	admission access.Admission
	admitted  bool

	// plan orders the attempts; target and up are the current attempt's.
	plan   plan
	target *routing.Target
	up     *upstreamStats
	// active is set while the current attempt counts in up.active.
	active bool
	// outcome is why next last failed, for the attempts metric.
	outcome string
	// targetKey is the current target's "<upstream>/<upstream model>".
	targetKey string
	// circuitHeld is the target a path route's circuit breaker let the
	// request through to, until an attempt's outcome is recorded: a
	// request refused before any attempt gives the breaker's slot back.
	circuitHeld string
	// attempts are the request's attempts, for the access log; most
	// requests make one, which attemptsBuf holds without an allocation.
	attempts    []accesslog.Attempt
	attemptsBuf [1]accesslog.Attempt
	// body is the request body (the handler's buffer, valid while the
	// handler runs, which is until an attempt's answer starts); bodyCopy
	// is the copy served in chunks to workers, made once.
	body     []byte
	bodyCopy []byte
	info     converter.RequestInfo
	headers  []bus.Header
}

func (s *Server) serveRoute(ctx *fasthttp.RequestCtx, t *table, r *route) {
	x := &exchange{s: s, r: r, start: time.Now(), method: "POST", conn: ctx.Conn()}
	x.requestID = s.requestID(ctx)
	r.inFlight.Inc()
	s.inFlight.Add(1)
	s.open.Add(1)
	defer x.recoverExchange(ctx)

	guarded := s.opts.Guard != nil && s.opts.Guard.Enabled()
	if guarded {
		if gerr := x.authenticate(ctx); gerr != nil {
			x.refuse(ctx, gerr)
			return
		}
	}
	body := ctx.PostBody()
	info, err := r.inspect(body)
	if err != nil {
		x.refuse(ctx, asGatewayError(err))
		return
	}
	x.model, x.stream = info.Model, info.Stream
	// Before admission: a request refused here costs the key nothing.
	if !r.ModelRouted() && !x.circuitAllows(ctx, info.Model) {
		return
	}
	if guarded {
		if gerr := x.admit(ctx, info.Model, len(body), info.MaxTokens); gerr != nil {
			x.refuse(ctx, gerr)
			return
		}
	}
	if s.shuttingDown.Load() {
		ctx.SetConnectionClose()
		x.refuse(ctx, converter.Errorf(converter.KindUnavailable, "the gateway is shutting down"))
		return
	}
	if gerr := x.route(t.routing, info); gerr != nil {
		x.refuse(ctx, gerr)
		return
	}
	x.body, x.info, x.headers = body, info, forwardedHeaders(ctx, r.format)
	x.timer, x.timerArmed = time.NewTimer(probeInterval), true
	x.run(ctx)
}

// forwardedHeaders are the client headers the upstream call needs.
func forwardedHeaders(ctx *fasthttp.RequestCtx, f format.Format) []bus.Header {
	var out []bus.Header
	for _, name := range converter.ClientHeaders(f) {
		if v := ctx.Request.Header.Peek(name); len(v) > 0 {
			out = append(out, bus.Header{Name: name, Value: string(v)})
		}
	}
	return out
}

// writeHead sets the client's status and headers from a worker's head
// frame, and reports whether the answer is an event stream.
func (x *exchange) writeHead(ctx *fasthttp.RequestCtx, status int, headers []bus.Header) (streaming bool) {
	x.status = status
	ctx.SetStatusCode(status)
	for _, h := range headers {
		switch {
		case h.Name == "Content-Type":
			ctx.SetContentType(h.Value)
			streaming = strings.HasPrefix(h.Value, "text/event-stream")
		case strings.EqualFold(h.Name, "X-Request-Id"):
			// x-request-id is the gateway's own id; the upstream's
			// keeps its value under another name.
			ctx.Response.Header.Set("X-Upstream-Request-Id", h.Value)
		case x.key != nil && isRateLimitHeader(h.Name):
			// With access control the client's limits are its key's,
			// already written; the provider account's stay private.
		default:
			ctx.Response.Header.Set(h.Name, h.Value)
		}
	}
	x.servedBy(ctx)
	return streaming
}

// next returns the next frame of the reply. It waits while checking, every
// probeInterval, the queue deadline, the first-token deadline, the stall
// time-out, the client's connection (when probe is set) and the gateway's
// shutdown. heartbeat reports a worker heartbeat with no frame. A non-nil
// error ends the attempt, and x.outcome says why.
func (x *exchange) next(probe bool) (f bus.Frame, heartbeat bool, gerr *converter.Error) {
	var up config.Upstream
	if x.target != nil {
		up = x.target.Up
	}
	for {
		f, ok, got, err := x.reply.Next()
		switch {
		case err == nil:
		case errors.Is(err, bus.ErrQueueFull):
			if x.up != nil {
				x.up.queueFull.Inc()
			}
			x.outcome = outcomeQueueFull
			return f, false, converter.Errorf(converter.KindQueueFull, "upstream %s has %d requests waiting; try again shortly", up.Name, up.QueueSize)
		case errors.Is(err, bus.ErrEnqueue) && x.offered:
			// An empty answer to a direct offer: no worker took it.
			x.outcome = outcomeNotTaken
			return f, false, errNotTaken
		case errors.Is(err, bus.ErrEnqueue):
			// The queue's stream may be gone with a NATS restart: have it
			// recreated now rather than at the next periodic check.
			x.s.keeper.Kick()
			x.s.logger.Error("queueing request failed", "request_id", x.requestID, "err", err)
			x.outcome = outcomeError
			return f, false, converter.Errorf(converter.KindUnavailable, "the request could not be queued")
		default:
			x.s.logger.Warn("reply frames lost", "request_id", x.requestID, "err", err)
			x.reply.Cancel()
			x.outcome = outcomeInterrupted
			return f, false, converter.Errorf(converter.KindStreamInterrupted, "the answer was interrupted: frames were lost between gateway processes")
		}
		if got {
			x.lastRx = time.Now()
			if x.up != nil {
				x.up.heardAt(x.lastRx)
			}
		}
		if ok {
			if f.Kind == bus.FrameAccept {
				x.queueWait = x.reply.QueueWait()
				continue
			}
			return f, false, nil
		}
		if got {
			return f, true, nil
		}
		if x.s.closed.Load() {
			x.abandonQueued()
			x.reply.Cancel()
			x.outcome = outcomeCancelled
			return f, false, converter.Errorf(converter.KindUnavailable, "the gateway is shutting down")
		}
		x.armTimer()
		select {
		case <-x.reply.Ready():
		case <-x.timer.C:
			x.timerArmed = false
			now := time.Now()
			switch {
			case x.offered && !x.reply.Accepted() && !now.Before(x.deadline.Add(acceptGrace)):
				// The offer's worker neither took it nor declined it in
				// time; it will not take it any more.
				x.offerLost = true
				x.outcome = outcomeNotTaken
				return f, false, errNotTaken
			case !x.reply.Accepted() && now.After(x.deadline.Add(acceptGrace)):
				if x.up != nil {
					x.up.queueTimeout.Inc()
				}
				x.abandonQueued()
				x.outcome = outcomeQueueTimeout
				return f, false, converter.Errorf(converter.KindQueueTimeout, "no worker for upstream %s started the request within %s", up.Name, up.QueueTimeout.Duration)
			case !x.firstToken.IsZero() && !now.Before(x.firstToken):
				x.abandonQueued()
				x.reply.Cancel()
				x.outcome = outcomeFirstToken
				return f, false, converter.Errorf(converter.KindUpstreamTimeout, "upstream %s sent no first token within %s", up.Name, x.firstTokenTimeout())
			case x.reply.Accepted() && now.Sub(x.lastRx) > x.s.cfg.Server.StallTimeout.Duration:
				x.reply.Cancel()
				x.outcome = outcomeInterrupted
				return f, false, converter.Errorf(converter.KindStreamInterrupted, "the worker serving the request stopped responding")
			case probe && clientGone(x.conn):
				x.clientLeft()
				x.abandonQueued()
				x.reply.Cancel()
				x.outcome = outcomeCancelled
				return f, false, converter.Errorf(converter.KindInvalidRequest, "client disconnected")
			}
		}
	}
}

// armTimer sets the timer by which next looks at the attempt's deadlines,
// its worker's silence and its client: every probeInterval, or sooner when
// a first-token or offer deadline is nearer. Once a stream flows only the
// periodic look is needed, and a timer still armed for it is left alone
// rather than reset for every event.
func (x *exchange) armTimer() {
	if !x.firstToken.IsZero() || x.offered {
		wait := probeInterval
		if !x.firstToken.IsZero() {
			wait = max(min(wait, time.Until(x.firstToken)), time.Millisecond)
		}
		if x.offered {
			wait = max(min(wait, time.Until(x.deadline.Add(acceptGrace))), time.Millisecond)
		}
		x.timer.Reset(wait)
		x.timerArmed = true
		return
	}
	if !x.timerArmed {
		x.timer.Reset(probeInterval)
		x.timerArmed = true
	}
}

// firstTokenTimeout is the current target's first_token_timeout.
func (x *exchange) firstTokenTimeout() time.Duration {
	if x.target == nil {
		return 0
	}
	return x.target.FirstTokenTimeout.Duration
}

// clientLeft records that the client closed its connection before the
// answer ended, counting it once per request: as queued when no worker had
// started the request, else as answering (the upstream call is cut short).
func (x *exchange) clientLeft() {
	if x.gone {
		return
	}
	x.gone = true
	if x.up == nil {
		return
	}
	if x.reply != nil && x.reply.Accepted() {
		x.up.goneAnswering.Inc()
		return
	}
	x.up.goneQueued.Inc()
}

// abandonQueued removes the request from its queue if no worker took it yet,
// and tells any worker about to take it that it is cancelled.
func (x *exchange) abandonQueued() {
	if x.reply.Accepted() {
		return
	}
	if seq := x.reply.QueuedSeq(); seq != 0 && x.target != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		x.s.queues.Remove(ctx, x.target.Up.Name, seq)
		cancel()
	}
	x.reply.Cancel()
}

// refuse answers with a gateway error before anything was written.
func (x *exchange) refuse(ctx *fasthttp.RequestCtx, e *converter.Error) {
	writeError(ctx, x.r.format, e, x.requestID)
	x.status = e.Status(x.r.format)
	x.failure = e.Message
	x.finish()
}

// finish records the request's metrics and access-log line, once.
func (x *exchange) finish() {
	if x.finished {
		return
	}
	x.finished = true
	if x.circuitHeld != "" {
		x.abandon(x.circuitHeld)
		x.circuitHeld = ""
	}
	if x.admitted {
		x.settle()
	}
	x.endAttempt()
	if x.timer != nil {
		x.timer.Stop()
		x.timerArmed = false
	}
	s, r := x.s, x.r
	elapsed := time.Since(x.start)
	status := x.status
	if x.gone {
		status = 499 // the client closed the connection first
	}
	s.metrics.observe(x.method, r.Path, status, elapsed.Seconds())
	r.inFlight.Dec()
	s.open.Add(-1)
	s.inFlight.Done()
	if s.access != nil {
		upstream := r.upstream.Name
		if x.target != nil {
			upstream = x.target.Up.Name
		}
		s.access.LogRequest(&accesslog.Request{
			RequestID:    x.requestID,
			Route:        r.Path,
			Upstream:     upstream,
			Model:        x.model,
			Status:       status,
			Stream:       x.stream,
			QueueWait:    x.queueWait,
			TTFB:         x.firstWrite,
			Duration:     elapsed,
			InputTokens:  x.usage.InputTokens,
			OutputTokens: x.usage.OutputTokens,
			CachedTokens: x.usage.CacheReadTokens,
			Error:        x.failure,
			Attempts:     x.attempts,
		})
	}
}

// isRateLimitHeader reports whether name is a provider rate-limit header.
func isRateLimitHeader(name string) bool {
	return len(name) > 12 && (strings.EqualFold(name[:12], "x-ratelimit-") ||
		len(name) > 20 && strings.EqualFold(name[:20], "anthropic-ratelimit-"))
}

func asGatewayError(err error) *converter.Error {
	var e *converter.Error
	if errors.As(err, &e) {
		return e
	}
	return converter.Errorf(converter.KindInvalidRequest, "%v", err)
}

// streamBody writes a streamed answer's frames to the client as they arrive.
// fasthttp calls WriteTo from the connection's goroutine after the handler
// returned, flushing every write: each write reaches the client at once.
type streamBody struct {
	x *exchange
	// first is the stream's first data, read before the answer was
	// committed to this attempt (attempts.go).
	first []byte
	// gathered holds the frames of the write being made when there are
	// several, in a buffer of Server.chunkBufs; nil otherwise, and while
	// the stream waits for its next frames.
	gathered *[]byte
	pending  []byte // what Read has not returned yet
	done     bool
	wroteAny bool
}

var _ fasthttp.BodyWriterTo = (*streamBody)(nil)

// SupportsBodyWriteTo tells fasthttp to call WriteTo rather than Read.
func (b *streamBody) SupportsBodyWriteTo() bool { return true }

// WriteTo relays frames until the end of the answer or a failed write.
func (b *streamBody) WriteTo(w io.Writer) (total int64, err error) {
	defer b.recoverStream(w, &err)
	for !b.done {
		chunk, err := b.nextChunk()
		for len(chunk) > 0 {
			// Slices keep credit flowing back to the worker while a slow
			// client drains a large burst.
			piece := chunk[:min(len(chunk), maxWrite)]
			n, werr := w.Write(piece)
			total += int64(n)
			if werr != nil {
				b.clientLeft()
				return total, werr
			}
			b.wrote(n)
			chunk = chunk[n:]
		}
		if err != nil {
			return total, nil
		}
	}
	return total, nil
}

// Read serves the same bytes for writers that do not use WriteTo.
func (b *streamBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		if b.done {
			return 0, io.EOF
		}
		chunk, err := b.nextChunk()
		b.pending = chunk
		if err != nil && len(chunk) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	b.wrote(n)
	return n, nil
}

// CloseWithError is called by fasthttp once the body is written or the
// write failed.
func (b *streamBody) CloseWithError(err error) error {
	if err != nil {
		b.clientLeft()
	}
	b.x.finish()
	return nil
}

func (b *streamBody) clientLeft() {
	x := b.x
	if !b.done {
		x.clientLeft()
		x.reply.Cancel()
	}
	b.done = true
}

func (b *streamBody) wrote(n int) {
	x := b.x
	now := time.Now()
	if !b.wroteAny {
		b.wroteAny = true
		x.firstWrite = now.Sub(x.start)
		x.r.firstToken.Observe(x.firstWrite.Seconds())
	} else {
		x.r.interChunk.Observe(now.Sub(x.lastWrite).Seconds())
	}
	x.lastWrite = now
	x.reply.Written(n)
}

// nextChunk gathers every data frame already received into one write. err
// is io.EOF after the last chunk. The chunk is valid until the next call:
// a single frame is returned as it arrived, without a copy.
func (b *streamBody) nextChunk() ([]byte, error) {
	x := b.x
	b.releaseGathered() // the previous chunk has been written
	var out []byte
	if len(b.first) > 0 {
		out, b.first = b.first, nil
		if !x.reply.Pending() {
			return out, nil
		}
	}
	for {
		// Writes reveal a departed client here, so no probing is needed.
		f, heartbeat, gerr := x.next(false)
		if gerr != nil {
			b.done = true
			x.failure = gerr.Message
			if x.gone {
				return nil, io.EOF
			}
			return b.gather(out, converter.AppendStreamError(nil, x.r.format, gerr)), io.EOF
		}
		if heartbeat {
			if len(out) > 0 && !x.reply.Pending() {
				// Never wait for frames holding gathered ones: the worker
				// may be waiting for the credit that writing them grants
				// (its heartbeat says it has been silent for a while).
				return out, nil
			}
			if len(out) == 0 && time.Since(x.lastWrite) > pingAfter && time.Since(x.lastPing) > pingAfter {
				x.lastPing = time.Now()
				return ssePing, nil
			}
			continue
		}
		switch f.Kind {
		case bus.FrameData:
			out = b.gather(out, f.Payload)
		case bus.FrameEnd:
			x.usage, _ = bus.DecodeUsage(f.Payload)
			x.ended = true
			b.done = true
			return out, io.EOF
		default:
			b.done = true
			x.failure = "unexpected frame in stream"
			return b.gather(out, converter.AppendStreamError(nil, x.r.format, converter.Errorf(converter.KindStreamInterrupted, "the answer was interrupted"))), io.EOF
		}
		if !x.reply.Pending() {
			return out, nil
		}
	}
}

// gather adds p to the chunk out. The first piece is kept as it is; it
// aliases a bus message, which must not be written to, so a second one
// moves both into a pooled buffer.
func (b *streamBody) gather(out, p []byte) []byte {
	switch {
	case len(p) == 0:
		return out
	case len(out) == 0:
		return p
	case b.gathered == nil:
		if v, ok := b.x.s.chunkBufs.Get().(*[]byte); ok {
			b.gathered = v
		} else {
			b.gathered = new([]byte)
		}
		out = append((*b.gathered)[:0], out...)
	}
	out = append(out, p...)
	*b.gathered = out
	return out
}

// maxPooledChunk is the largest gathering buffer kept for reuse.
const maxPooledChunk = 64 << 10

// releaseGathered hands the gathering buffer back once its chunk has been
// written (or read whole, by Read), before the stream waits again.
func (b *streamBody) releaseGathered() {
	if b.gathered == nil {
		return
	}
	if cap(*b.gathered) <= maxPooledChunk {
		*b.gathered = (*b.gathered)[:0]
		b.x.s.chunkBufs.Put(b.gathered)
	}
	b.gathered = nil
}
