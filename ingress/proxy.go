package ingress

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nuid"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/ingress/access"
	"github.com/aigateway/gateway/ingress/accesslog"
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

// exchange is one request's trip through the bus, from publish to the last
// frame.
type exchange struct {
	s         *Server
	r         *route
	reply     *bus.Reply
	conn      net.Conn
	requestID string
	method    string
	start     time.Time
	deadline  time.Time
	timer     *time.Timer

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
}

func (s *Server) serveRoute(ctx *fasthttp.RequestCtx, r *route) {
	x := &exchange{s: s, r: r, start: time.Now(), method: "POST", conn: ctx.Conn()}
	x.requestID = s.requestID(ctx)
	s.metrics.inFlight.WithLabelValues(x.method, r.Path).Inc()
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
	if s.registry.Workers(r.upstream.Name) == 0 {
		r.noWorkers.Inc()
		x.refuse(ctx, converter.Errorf(converter.KindNoWorkers, "no worker is serving upstream %s", r.upstream.Name))
		return
	}

	id := nuid.Next()
	x.reply = s.inbox.Open(id)
	x.deadline = x.start.Add(r.upstream.QueueTimeout.Duration)
	env := bus.Request{
		ID:              id,
		ClientRequestID: x.requestID,
		Reply:           x.reply.Subject(),
		Route:           r.Path,
		Upstream:        r.upstream.Name,
		Model:           info.Model,
		Stream:          info.Stream,
		IncludeUsage:    info.IncludeUsage,
		Deadline:        x.deadline.UnixNano(),
		Enqueued:        x.start.UnixNano(),
		BodySize:        len(body),
		Headers:         forwardedHeaders(ctx, r.format),
		Scope:           x.key.Scope(),
	}
	if len(body) > s.maxInline {
		// The body outlives the handler's buffers while workers fetch it.
		x.reply.ServeBody(append([]byte(nil), body...))
		env.BodySubject = x.reply.BodySubject()
	} else {
		env.Body = body
	}
	if err := s.queues.Enqueue(r.upstream.Name, x.reply.Subject(), bus.AppendRequest(make([]byte, 0, len(env.Body)+256), &env)); err != nil {
		s.logger.Error("publishing request failed", "request_id", x.requestID, "err", err)
		x.refuse(ctx, converter.Errorf(converter.KindUnavailable, "the request could not be queued"))
		return
	}
	x.timer = time.NewTimer(probeInterval)
	x.respond(ctx)
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

// respond reads frames until the answer's head: a streamed answer is then
// handed to fasthttp as a body stream, anything else is gathered and sent.
func (x *exchange) respond(ctx *fasthttp.RequestCtx) {
	var body []byte
	headSeen := false
	for {
		f, _, gerr := x.next(true)
		if gerr != nil {
			if headSeen {
				// Nothing was written yet: a clean error still fits.
				ctx.Response.Reset()
				ctx.Response.Header.Set("X-Request-Id", x.requestID)
			}
			x.refuse(ctx, gerr)
			return
		}
		switch f.Kind {
		case bus.FrameError:
			status, payload, err := bus.DecodeError(f.Payload)
			if err != nil {
				x.refuse(ctx, converter.Errorf(converter.KindInternal, "a worker sent a malformed error"))
				return
			}
			ctx.SetStatusCode(status)
			ctx.SetContentType("application/json")
			ctx.SetBody(payload)
			x.status = status
			x.failure = "worker error"
			// An error frame is final and nothing was produced: the key is
			// settled now, not after waiting for an end frame that never
			// comes.
			x.ended = true
			x.finish()
			return
		case bus.FrameHead:
			head, err := bus.DecodeHead(f.Payload)
			if err != nil {
				x.refuse(ctx, converter.Errorf(converter.KindInternal, "a worker sent a malformed head"))
				return
			}
			headSeen = true
			x.status = head.Status
			ctx.SetStatusCode(head.Status)
			streaming := false
			for _, h := range head.Headers {
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
			x.firstWrite = time.Since(x.start)
			if streaming {
				ctx.Response.Header.Set("Cache-Control", "no-cache")
				// Tell nginx-style proxies not to buffer: every event must
				// reach the client when it is written.
				ctx.Response.Header.Set("X-Accel-Buffering", "no")
				x.lastWrite = time.Now()
				ctx.Response.SetBodyStream(&streamBody{x: x}, -1)
				return
			}
		case bus.FrameData:
			body = append(body, f.Payload...)
			x.reply.Written(len(f.Payload))
		case bus.FrameEnd:
			x.usage, _ = bus.DecodeUsage(f.Payload)
			x.ended = true
			ctx.SetBody(body)
			x.finish()
			return
		}
	}
}

// next returns the next frame of the reply. It waits while checking, every
// probeInterval, the queue deadline, the stall time-out, the client's
// connection (when probe is set) and the gateway's shutdown. heartbeat
// reports a worker heartbeat with no frame. A non-nil error ends the request.
func (x *exchange) next(probe bool) (f bus.Frame, heartbeat bool, gerr *converter.Error) {
	for {
		f, ok, got, err := x.reply.Next()
		switch {
		case err == nil:
		case errors.Is(err, bus.ErrQueueFull):
			x.r.queueFull.Inc()
			return f, false, converter.Errorf(converter.KindQueueFull, "upstream %s has %d requests waiting; try again shortly", x.r.upstream.Name, x.r.upstream.QueueSize)
		case errors.Is(err, bus.ErrEnqueue):
			// The queue's stream may be gone with a NATS restart: have it
			// recreated now rather than at the next periodic check.
			x.s.keeper.Kick()
			x.s.logger.Error("queueing request failed", "request_id", x.requestID, "err", err)
			return f, false, converter.Errorf(converter.KindUnavailable, "the request could not be queued")
		default:
			x.s.logger.Warn("reply frames lost", "request_id", x.requestID, "err", err)
			x.reply.Cancel()
			return f, false, converter.Errorf(converter.KindStreamInterrupted, "the answer was interrupted: frames were lost between gateway processes")
		}
		if got {
			x.lastRx = time.Now()
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
		x.timer.Reset(probeInterval)
		select {
		case <-x.reply.Ready():
		case <-x.timer.C:
			now := time.Now()
			switch {
			case !x.reply.Accepted() && now.After(x.deadline.Add(acceptGrace)):
				x.r.queueTimeout.Inc()
				x.abandonQueued()
				return f, false, converter.Errorf(converter.KindQueueTimeout, "no worker for upstream %s started the request within %s", x.r.upstream.Name, x.r.upstream.QueueTimeout.Duration)
			case x.reply.Accepted() && now.Sub(x.lastRx) > x.s.cfg.Server.StallTimeout.Duration:
				x.reply.Cancel()
				return f, false, converter.Errorf(converter.KindStreamInterrupted, "the worker serving the request stopped responding")
			case probe && clientGone(x.conn):
				x.clientLeft()
				x.abandonQueued()
				x.reply.Cancel()
				return f, false, converter.Errorf(converter.KindInvalidRequest, "client disconnected")
			}
		case <-x.s.closing:
			x.abandonQueued()
			x.reply.Cancel()
			return f, false, converter.Errorf(converter.KindUnavailable, "the gateway is shutting down")
		}
	}
}

// clientLeft records that the client closed its connection before the
// answer ended, counting it once per request: as queued when no worker had
// started the request, else as answering (the upstream call is cut short).
func (x *exchange) clientLeft() {
	if x.gone {
		return
	}
	x.gone = true
	if x.reply != nil && x.reply.Accepted() {
		x.r.goneAnswering.Inc()
		return
	}
	x.r.goneQueued.Inc()
}

// abandonQueued removes the request from its queue if no worker took it yet,
// and tells any worker about to take it that it is cancelled.
func (x *exchange) abandonQueued() {
	if x.reply.Accepted() {
		return
	}
	if seq := x.reply.QueuedSeq(); seq != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		x.s.queues.Remove(ctx, x.r.upstream.Name, seq)
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
	if x.admitted {
		x.settle()
	}
	if x.reply != nil {
		x.reply.Close()
	}
	if x.timer != nil {
		x.timer.Stop()
	}
	s, r := x.s, x.r
	elapsed := time.Since(x.start)
	status := x.status
	if x.gone {
		status = 499 // the client closed the connection first
	}
	s.metrics.observe(x.method, r.Path, status, elapsed.Seconds())
	s.metrics.inFlight.WithLabelValues(x.method, r.Path).Dec()
	s.open.Add(-1)
	s.inFlight.Done()
	if s.access != nil {
		s.access.LogRequest(&accesslog.Request{
			RequestID:    x.requestID,
			Route:        r.Path,
			Upstream:     r.upstream.Name,
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
	x        *exchange
	scratch  []byte // gathers the frames of one write
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
// is io.EOF after the last chunk.
func (b *streamBody) nextChunk() ([]byte, error) {
	x := b.x
	out := b.scratch[:0]
	defer func() { b.scratch = out[:0] }()
	for {
		// Writes reveal a departed client here, so no probing is needed.
		f, heartbeat, gerr := x.next(false)
		if gerr != nil {
			b.done = true
			x.failure = gerr.Message
			if x.gone {
				return nil, io.EOF
			}
			return converter.AppendStreamError(out, x.r.format, gerr), io.EOF
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
				return append(out, ssePing...), nil
			}
			continue
		}
		switch f.Kind {
		case bus.FrameData:
			out = append(out, f.Payload...)
		case bus.FrameEnd:
			x.usage, _ = bus.DecodeUsage(f.Payload)
			x.ended = true
			b.done = true
			return out, io.EOF
		default:
			b.done = true
			x.failure = "unexpected frame in stream"
			return converter.AppendStreamError(out, x.r.format, converter.Errorf(converter.KindStreamInterrupted, "the answer was interrupted")), io.EOF
		}
		if !x.reply.Pending() {
			return out, nil
		}
	}
}
