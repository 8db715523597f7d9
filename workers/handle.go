package workers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/sse"
)

const (
	// maxResponseBytes bounds a non-streamed upstream answer held in memory.
	maxResponseBytes = 64 << 20
	// maxErrorBytes bounds an upstream error body.
	maxErrorBytes = 1 << 20
	// maxEventBytes bounds one server-sent event.
	maxEventBytes = 16 << 20
	// coalesceBytes is how much converted output is gathered from events
	// already received before it is sent on as one frame.
	coalesceBytes = 32 << 10
)

// call is one request being served.
type call struct {
	p      *pool
	req    *bus.Request
	route  config.Route
	client format.Format
	sender *bus.Sender
	logger *slog.Logger // see log
	start  time.Time
	out    []byte
	// upstreamModel is the model name sent upstream, after mapping.
	upstreamModel string
	// counted is set once the answer's tokens are in gateway_tokens_total.
	counted bool
	// headSent and streaming tell how a failure must end the answer: a
	// head frame is out, of an event stream.
	headSent, streaming bool
	// endpoint is set for a request to an endpoint beside chat.
	endpoint config.Endpoint
	// stored is set for a Responses request whose answer is to be stored
	// (responses.go).
	stored *storedCall
	// hints is what the answer needs from the client's request.
	hints converter.ClientHints
}

// handle serves a request pulled from the queue, or, when queued is false,
// one its worker took from a direct offer.
func (p *pool) handle(work context.Context, msg *nats.Msg, queued bool) {
	if queued {
		// Acknowledge first: a request handed to a worker with a free slot
		// has left the queue, and until the acknowledgement reaches the
		// stream it still counts against queue_size, so a burst would be
		// refused while slots sit idle. Nothing is lost by it: half an
		// answer cannot be replayed, so a request is never redelivered
		// anyway (MaxDeliver 1).
		_ = p.puller.Ack(msg)
	}
	req, err := bus.DecodeRequest(msg.Data)
	if err != nil {
		p.logger.Error("dropping malformed request envelope", "err", err)
		if !queued {
			_ = bus.Decline(p.svc.nc, msg)
		}
		return
	}
	now := time.Now()
	queueWait := time.Duration(now.UnixNano() - req.Enqueued)
	if req.Deadline != 0 && now.UnixNano() > req.Deadline {
		if !queued {
			// Too late to take the offer: the ingress may already be
			// queueing the request under another id. Declining tells it
			// at once, if it is still waiting.
			_ = bus.Decline(p.svc.nc, msg)
			return
		}
		// The ingress has already answered this client with a time-out.
		p.wait.Observe(queueWait.Seconds())
		p.rejectTimeout.Inc()
		return
	}
	p.wait.Observe(queueWait.Seconds())
	route, ok := p.routes[req.Route]
	derived, isEndpoint := p.endpoints[req.Route]
	if isEndpoint {
		route, ok = derived.route, true
	}
	if !ok {
		p.logger.Error("request for a route this worker does not know; are ingress and worker configs the same?", "route", req.Route)
		return
	}
	sender, err := p.svc.outbox.Begin(work, req, queueWait)
	if err != nil {
		if errors.Is(err, bus.ErrCancelled) {
			// The client left while the request was queued. The ingress,
			// which saw it leave, counts that; counting here too would
			// count one departure twice.
			return
		}
		p.logger.Warn("accepting request failed", "request_id", req.ClientRequestID, "err", err)
		return
	}
	defer sender.Close()
	c := &call{
		p:      p,
		req:    req,
		route:  route,
		client: route.InputFormat,
		sender: sender,
		start:  now,
	}
	defer c.recoverPanic()
	if isEndpoint {
		c.endpoint = derived.endpoint
		c.serveEndpoint()
		return
	}
	c.serve()
}

// recoverPanic ends a request whose handling panicked with an error in the
// client's format, so that one bad answer or one bug costs that request and
// not the process with every other request in it.
func (c *call) recoverPanic() {
	v := recover()
	if v == nil {
		return
	}
	c.p.svc.panics.Inc()
	c.log().Error("panic while serving a request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	e := converter.Errorf(converter.KindInternal, "the gateway failed while handling this request")
	switch {
	case c.sender.Cancelled():
		c.sender.Abort(bus.Usage{})
	case !c.headSent:
		c.fail(e, nil)
	case c.streaming:
		// The client reads a stream: end it with the dialect's error event.
		c.sender.Data(converter.AppendStreamError(nil, c.client, e))
		c.end(c.sender.Context(), converter.Usage{})
	default:
		// A whole answer whose head is out cannot change its status.
		c.sender.Abort(bus.Usage{})
	}
}

func (c *call) serve() {
	ctx := c.sender.Context()
	body, err := bus.Body(ctx, c.p.svc.nc, c.req)
	if err != nil {
		c.fail(converter.Errorf(converter.KindInternal, "the request body could not be read from the bus"), err)
		return
	}
	body, cerr := c.continueStored(ctx, body)
	if cerr != nil {
		c.fail(cerr, nil)
		return
	}
	c.upstreamModel = c.mapModel()
	c.hints = converter.ReadClientHints(c.client, body)
	upstreamBody, err := converter.TranslateRequest(c.client, c.p.format, body, converter.RequestOptions{
		Model:            c.upstreamModel,
		DefaultMaxTokens: c.route.MaxTokensDefault(c.p.upstream),
		// Honoured by the translations to an OpenAI Chat upstream, which
		// reports a stream's usage only when asked.
		IncludeUsage: c.req.Stream,
	})
	if err != nil {
		var cerr *converter.Error
		if !errors.As(err, &cerr) {
			cerr = converter.Errorf(converter.KindInvalidRequest, "the request cannot be converted: %v", err)
		}
		c.p.pm.failure(errConversion)
		c.fail(cerr, nil)
		return
	}
	// A streamed call ends when its upstream goes silent (the idle timer
	// cancels it); a whole answer must come by the call's deadline.
	var deadline time.Time
	cancelCall := func(error) {}
	if c.req.Stream {
		ctx, cancelCall = context.WithCancelCause(ctx)
		defer cancelCall(nil)
	} else {
		deadline = time.Now().Add(c.p.upstream.Timeout.Duration)
	}

	sent := time.Now()
	resp, err := c.withKey(func(key *poolKey) (*upstreamResponse, error) {
		return c.p.client.do(ctx, deadline, c.req, c.client, upstreamBody, key)
	})
	if err != nil {
		c.p.pm.request(0)
		c.upstreamFailed(err, context.Cause(ctx))
		return
	}
	defer resp.Close()
	c.p.pm.firstByte.Observe(time.Since(sent).Seconds())
	c.p.pm.request(resp.Status())

	if resp.Status() >= 300 {
		c.forwardError(ctx, resp)
		return
	}
	if c.req.Stream {
		if !resp.IsEventStream() {
			c.notAStream(resp)
			return
		}
		c.stream(ctx, cancelCall, resp)
		return
	}
	c.respond(ctx, resp)
}

// mapModel is the model name sent upstream: the one the ingress's routing
// chose, else the route's model map applied to the client's.
func (c *call) mapModel() string {
	if c.req.UpstreamModel != "" {
		return c.req.UpstreamModel
	}
	return c.route.MapModel(c.p.upstream, c.req.Model)
}

// fail answers with a gateway error before anything else was sent. cause is
// logged when the failure was not the client's doing.
func (c *call) fail(e *converter.Error, cause error) {
	c.failAs(bus.FailGateway, e, cause)
}

// failAs is fail for a failure of the given kind: an ingress that reads
// typed failures gets one, and builds the client's error body itself if it
// gives up; an older one gets the body in the client's format.
func (c *call) failAs(kind bus.FailureKind, e *converter.Error, cause error) {
	if cause != nil {
		c.log().Warn("request failed", "err", cause, "status", e.Status(c.client), "attempt", c.req.Attempt)
	}
	ctx := c.sender.Context()
	var err error
	if c.req.TypedFailures() {
		err = c.sender.Failure(ctx, &bus.Failure{
			Kind:      kind,
			Retryable: e.Retryable(),
			Code:      uint8(e.Kind),
			Message:   e.Message,
			Param:     e.Param,
			ErrorCode: e.Code,
		})
	} else {
		c.out = converter.AppendErrorBody(c.out[:0], c.client, e, c.req.ClientRequestID)
		err = c.sender.Error(ctx, e.Status(c.client), c.out)
	}
	if err != nil && !isCancellation(err) {
		c.log().Warn("sending error reply failed", "err", err)
	}
}

// upstreamFailed reports a call that got no response.
func (c *call) upstreamFailed(err, cause error) {
	switch {
	case c.sender.Cancelled():
		c.abandon(bus.ErrCancelled, converter.Usage{})
	case errors.Is(err, errNoKeys):
		c.p.pm.failure(errKeys)
		c.fail(converter.Errorf(converter.KindUpstreamUnavailable, "upstream %s has no usable API key: the gateway's keys for it are unset or were refused", c.p.upstream.Name), err)
	case errors.Is(err, errBrokenBody):
		kind := converter.KindUpstreamUnavailable
		if isTimeout(err) {
			kind = converter.KindUpstreamTimeout
		}
		c.p.pm.failure(errInterrupted)
		c.failAs(bus.FailProtocol, converter.Errorf(kind, "upstream %s broke off its answer", c.p.upstream.Name), err)
	case isTimeout(err):
		c.p.pm.failure(errTimeout)
		c.failAs(bus.FailTimeout, converter.Errorf(converter.KindUpstreamTimeout, "upstream %s did not answer in time", c.p.upstream.Name), err)
	case isCancellation(err) || isCancellation(cause):
		// Shutdown cancelled the call; the ingress reports what it has.
		c.fail(converter.Errorf(converter.KindUnavailable, "the gateway is shutting down"), nil)
	default:
		c.p.pm.failure(errConnect)
		c.failAs(bus.FailConnect, converter.Errorf(converter.KindUpstreamUnavailable, "upstream %s could not be reached", c.p.upstream.Name), err)
	}
}

// forwardError passes an upstream HTTP error on with its status, in the
// client's error format.
func (c *call) forwardError(ctx context.Context, resp *upstreamResponse) {
	c.p.pm.failure(errStatus)
	body := resp.Body()
	if len(body) > maxErrorBytes {
		body = body[:maxErrorBytes]
	}
	// A client that reads the request id from a header and the body alike
	// (Anthropic's) finds the upstream's id in the head: the body names the
	// same one.
	requestID := cmp.Or(resp.Get(converter.RequestIDHeader(c.p.format)), c.req.ClientRequestID)
	if c.req.TypedFailures() {
		// The ingress decides whether another attempt follows, and
		// translates the body only if this is the answer.
		f := &bus.Failure{
			Kind:              bus.FailUpstreamStatus,
			Retryable:         retryableStatus(resp.Status()),
			Status:            resp.Status(),
			RetryAfter:        retryAfter(resp.Get, time.Now()),
			UpstreamFormat:    string(c.p.format),
			UpstreamRequestID: requestID,
			Headers:           c.head(resp, "application/json").Headers,
			Body:              body,
		}
		if err := c.sender.Failure(ctx, f); err != nil && !isCancellation(err) {
			c.log().Warn("sending error reply failed", "err", err)
		}
		return
	}
	out := converter.TranslateErrorBody(c.p.format, c.client, resp.Status(), body, requestID)
	c.sendHead(c.head(resp, "application/json"))
	c.sender.Data(out)
	c.end(ctx, converter.Usage{})
}

// notAStream answers a streamed request whose upstream sent a successful
// answer that is not an event stream (servers that ignore "stream": true
// send a whole JSON body, proxies an HTML or text page) with a 502: a client
// that asked for a stream is only sure to read one, and relaying a body the
// gateway cannot check as a stream would make a bad answer look complete.
// The body is left unread; the connection is closed with it.
func (c *call) notAStream(resp *upstreamResponse) {
	c.p.pm.failure(errNotStream)
	contentType := string(resp.Header.ContentType())
	if contentType == "" {
		contentType = "no content type"
	}
	c.log().Warn("upstream answered a streamed request without an event stream", "content_type", contentType, "status", resp.Status())
	resp.reusable = false
	c.failAs(bus.FailProtocol, converter.Errorf(converter.KindUpstreamUnavailable,
		"upstream %s answered a streamed request with %s instead of an event stream", c.p.upstream.Name, contentType), nil)
}

// respond converts and sends a whole answer.
func (c *call) respond(ctx context.Context, resp *upstreamResponse) {
	body := resp.Body()
	out, usage, err := converter.TranslateResponse(c.p.format, c.client, body, converter.ResponseOptions{
		Model:            c.reportedModel(),
		Created:          c.start.Unix(),
		ReasoningSummary: c.hints.ReasoningSummary,
		Tools:            c.hints.Tools,
		FallbackID:       c.req.ClientRequestID,
	})
	if err != nil {
		c.p.pm.failure(errProtocol)
		c.failAs(bus.FailProtocol, converter.Errorf(converter.KindUpstreamUnavailable, "upstream %s sent an answer the gateway cannot read", c.p.upstream.Name), err)
		return
	}
	c.storeAnswer(ctx, out, false)
	c.sendHead(c.head(resp, "application/json"))
	if err := c.sendData(ctx, out); err != nil {
		c.abandon(err, usage)
		return
	}
	c.end(ctx, usage)
}

// stream converts and relays a streamed answer event by event, gathering
// events that arrived together into one frame.
func (c *call) stream(ctx context.Context, cancelCall context.CancelCauseFunc, resp *upstreamResponse) {
	pm := c.p.pm
	idle := c.p.upstream.IdleTimeout.Duration
	idleTimer := time.AfterFunc(idle, func() { cancelCall(errIdle) })
	defer idleTimer.Stop()

	st := converter.NewStream(c.p.format, c.client, converter.StreamOptions{
		Model:            c.reportedModel(),
		IncludeUsage:     c.req.IncludeUsage,
		Created:          c.start.Unix(),
		ReasoningSummary: c.hints.ReasoningSummary,
		Tools:            c.hints.Tools,
		FallbackID:       c.req.ClientRequestID,
	})
	c.streaming = true
	c.sendHead(c.head(resp, "text/event-stream; charset=utf-8"))
	resp.ReleaseHead()
	if err := c.sender.Flush(ctx); err != nil {
		c.abandon(err, st.Usage())
		return
	}
	reader := sse.NewReader(resp.Stream, maxEventBytes)
	out := c.out[:0]
	for !st.Done() {
		ev, err := reader.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				out = st.Finish(out)
				if e := st.Failed(); e != nil {
					pm.failure(errInterrupted)
					c.log().Warn("upstream stream ended without a complete answer", "err", e.Message)
				}
				break
			}
			if c.sender.Cancelled() {
				c.abandon(bus.ErrCancelled, st.Usage())
				return
			}
			kind, errType := converter.KindStreamInterrupted, errInterrupted
			if errors.Is(context.Cause(ctx), errIdle) {
				kind, errType = converter.KindUpstreamTimeout, errIdleTimeout
			}
			pm.failure(errType)
			c.log().Warn("upstream stream broke off", "err", err)
			out = st.Fail(out, converter.Errorf(kind, "the upstream stream broke off: %s", describe(err, ctx)))
			break
		}
		idleTimer.Reset(idle)
		pm.streamEvents.Inc()
		pm.streamBytes.Add(float64(len(ev.Raw)))
		out, err = st.Event(out, ev)
		if err != nil {
			pm.failure(errProtocol)
			c.log().Warn("upstream sent an unreadable event", "err", err)
			var cerr *converter.Error
			if !errors.As(err, &cerr) {
				cerr = converter.Errorf(converter.KindStreamInterrupted, "the upstream sent an unreadable event")
			}
			out = st.Fail(out, cerr)
			break
		}
		if len(out) >= coalesceBytes || !reader.Buffered() {
			// The idle time-out is about a silent upstream; while the
			// worker waits for credit, the upstream waits for us, and a
			// slow client must not count against it.
			idleTimer.Stop()
			if st.Done() {
				c.storeAnswer(ctx, out, true)
			}
			err := c.sendData(ctx, out)
			out = out[:0]
			if err == nil {
				err = c.sender.Flush(ctx)
			}
			if errors.Is(err, bus.ErrSlowClient) {
				c.cutSlowClient(st)
				return
			}
			if err != nil {
				c.abandon(err, st.Usage())
				return
			}
			idleTimer.Reset(idle)
		}
	}
	c.storeAnswer(ctx, out, true)
	if err := c.sendData(ctx, out); err != nil {
		c.abandon(err, st.Usage())
		return
	}
	c.out = out[:0]
	pm.streamDuration.Observe(time.Since(c.start).Seconds())
	c.end(ctx, st.Usage())
}

func (c *call) end(ctx context.Context, u converter.Usage) {
	c.p.tokens.add(c.upstreamModel, u)
	c.counted = true
	if err := c.sender.End(ctx, busUsage(u)); err != nil {
		c.abandon(err, u)
	}
}

// cutSlowClient ends a stream whose client stopped reading: returning frees
// the upstream slot (the call's context ends), and the client gets the
// dialect's error event after what it was sent, so the stream does not look
// complete. It is charged for what was produced.
func (c *call) cutSlowClient(st *converter.Stream) {
	c.p.pm.slowCuts.Inc()
	c.log().Warn("client stopped reading its stream; cutting it to free the upstream slot",
		"slow_client_timeout", c.p.svc.cfg.Server.SlowClientTimeout.Duration.String())
	tail := st.Fail(nil, converter.Errorf(converter.KindStreamInterrupted,
		"the stream was cut because the client did not read it for %s", c.p.svc.cfg.Server.SlowClientTimeout.Duration))
	c.sender.Cut(tail, busUsage(st.Usage()))
}

// abandon gives up on a request whose ingress no longer takes its frames,
// reporting what was produced so far so the client's key is charged for it.
func (c *call) abandon(err error, u converter.Usage) {
	// The upstream produced these tokens whether or not anyone reads them.
	// end has counted them already when it is the caller.
	if !c.counted {
		c.p.tokens.add(c.upstreamModel, u)
	}
	switch {
	case errors.Is(err, bus.ErrCancelled):
		// The ingress cancelled: its client left or it gave up on the
		// stream. It counts client departures itself.
	case errors.Is(err, bus.ErrSlowClient):
		c.p.pm.slowCuts.Inc()
		c.log().Warn("client stopped reading its answer; aborting the upstream call")
	case errors.Is(err, bus.ErrCreditStalled):
		c.log().Warn("ingress stopped taking frames; aborting the upstream call")
	default:
		c.log().Warn("sending reply frames failed; aborting the upstream call", "err", err)
	}
	c.sender.Abort(busUsage(u))
}

// log is the request's logger. It is built on first use: most requests
// log nothing here, and building it costs allocations.
func (c *call) log() *slog.Logger {
	if c.logger == nil {
		c.logger = c.p.logger.With("request_id", c.req.ClientRequestID, "route", c.req.Route)
	}
	return c.logger
}

func busUsage(u converter.Usage) bus.Usage {
	return bus.Usage{
		InputTokens:      u.InputTokens,
		OutputTokens:     u.OutputTokens,
		CacheReadTokens:  u.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens,
	}
}

// sendData buffers p for the client in frames no larger than the bus
// carries, flushing between them: one event or answer may be larger than
// bus.max_payload (an image, a long tool argument), and a message over the
// limit would be refused by the bus and end the answer. The last frame
// stays buffered.
func (c *call) sendData(ctx context.Context, p []byte) error {
	limit := c.p.svc.frameLimit
	for limit > 0 && len(p) > limit {
		c.sender.Data(p[:limit])
		if err := c.sender.Flush(ctx); err != nil {
			return err
		}
		p = p[limit:]
	}
	c.sender.Data(p)
	return nil
}

// sendHead buffers the head frame and records that it went out.
func (c *call) sendHead(h bus.Head) {
	c.sender.Head(h)
	c.headSent = true
}

// head builds the head frame: the status, the content type and the upstream
// headers worth passing on, in the client's dialect.
func (c *call) head(resp *upstreamResponse, contentType string) bus.Head {
	var buf [12]converter.Header
	headers := converter.TranslateResponseHeaders(c.p.format, c.client, resp.Get, time.Now(), buf[:0])
	out := bus.Head{Status: resp.Status(), Headers: make([]bus.Header, 0, len(headers)+1)}
	out.Headers = append(out.Headers, bus.Header{Name: "Content-Type", Value: contentType})
	for _, kv := range headers {
		out.Headers = append(out.Headers, bus.Header{Name: kv.Name, Value: kv.Value})
	}
	return out
}

// reportedModel is the model name to report to the client, or "" to pass
// the upstream's on. A request whose model was mapped to another name hears
// back the name it asked for, unless the route reports the upstream's.
func (c *call) reportedModel() string {
	if c.route.ReportUpstreamModel || c.req.Model == "" || c.upstreamModel == c.req.Model {
		return ""
	}
	return c.req.Model
}

var errIdle = errors.New("upstream idle time-out")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, fasthttp.ErrTimeout) ||
		(errors.As(err, &ne) && ne.Timeout())
}

func describe(err error, ctx context.Context) string {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause.Error()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed mid-event"
	}
	return fmt.Sprintf("%v", err)
}
