package ingress

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nuid"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/ingress/accesslog"
	"github.com/aigateway/gateway/ingress/internal/routing"
)

// MetricUpstreamAttempts is the name of the counter of attempts at
// upstreams, by upstream and outcome (part of the metrics contract).
const MetricUpstreamAttempts = "gateway_upstream_attempts_total"

// Outcomes of an attempt, the values of the outcome label.
const (
	outcomeOK           = "ok"
	outcomeStatus429    = "status_429"
	outcomeStatus5xx    = "status_5xx"
	outcomeStatus4xx    = "status_4xx"
	outcomeConnect      = "connect"
	outcomeTimeout      = "timeout"
	outcomeFirstToken   = "first_token_timeout"
	outcomeProtocol     = "protocol"
	outcomeQueueFull    = "queue_full"
	outcomeQueueTimeout = "queue_timeout"
	outcomeNoWorkers    = "no_workers"
	outcomeInterrupted  = "interrupted"
	outcomeCancelled    = "cancelled"
	outcomeError        = "error"
	// outcomeNotTaken ends the direct offer of an attempt, which goes on
	// through the queue; it is never an attempt's outcome.
	outcomeNotTaken = "not_taken"
)

// errNotTaken ends the direct phase of an attempt; no client sees it.
var errNotTaken = converter.Errorf(converter.KindUnavailable, "no worker took the request at once")

// plan is the order of a request's attempts and the budget they share.
//
// Retries and fallback happen only here, before the first byte of an answer
// reaches the client: an attempt whose answer has started is the answer.
type plan struct {
	// model is the [[models]] entry; nil for a path route, which makes one
	// attempt at its upstream as it always did.
	model *routing.Model
	order []*routing.Target
	// requested is the model name the client asked for (after the route's
	// default_model), reported back to it and used for target keys.
	requested string
	// pos is the index, modulo len(order), of the next target to try.
	pos         int
	maxAttempts int
	// window is when no new attempt may start any more.
	window  time.Time
	maxWait time.Duration
	// notBefore is, by target index in order, when the upstream asked to
	// be called again (Retry-After); zero when it did not.
	notBefore []time.Time
	// single holds a path route's one target, and singleOrder the plan
	// of it, so that a path route's plan costs no allocation.
	single      routing.Target
	singleOrder [1]*routing.Target
}

// route plans the request's attempts from the routing table, or refuses
// it: a model-routed request whose model matches no entry (or one the route
// does not allow) gets 404 in the client's format.
func (x *exchange) route(t *routing.Table, info converter.RequestInfo) *converter.Error {
	rt, ok := t.Route(x.r.parentPath())
	if !ok {
		return converter.Errorf(converter.KindNotFound, "%s is not served any more", x.r.Path)
	}
	requested := cmp.Or(info.Model, rt.DefaultModel)
	p := &x.plan
	if !rt.ModelRouted() {
		if !rt.AllowsModel(cmp.Or(requested, rt.Up.DefaultModel), "") {
			return modelNotFound(requested)
		}
		p.single = routing.Target{
			Target: config.Target{Upstream: rt.Up.Name, Model: rt.MapModel(rt.Up, info.Model)},
			Up:     rt.Up,
		}
		p.singleOrder[0] = &p.single
		p.order = p.singleOrder[:]
		p.requested, p.maxAttempts = info.Model, 1
		return nil
	}
	if requested == "" {
		e := converter.Errorf(converter.KindInvalidRequest, "model: a model is required on %s", x.r.Path)
		e.Param = "model"
		return e
	}
	m, ok := t.Resolve(requested)
	if !ok || !rt.AllowsModel(requested, m.Name) {
		return modelNotFound(requested)
	}
	x.model = requested
	p.model, p.requested = m, requested
	p.order = m.Plan(x.s)
	p.maxAttempts = m.MaxAttempts
	p.window = x.start.Add(m.RetryWindow)
	p.maxWait = m.MaxRetryWait
	return nil
}

// parentPath is the path of the configured route a request on r belongs to.
func (r *route) parentPath() string { return cmp.Or(r.parent, r.Path) }

// pick returns the target of the next attempt: the next one in the plan
// whose circuit is closed (or half open). When every circuit is open the
// next target is tried all the same: a request is never refused without an
// attempt, and that attempt probes whether the target has recovered.
func (p *plan) pick(health routing.TargetHealth) *routing.Target {
	n := len(p.order)
	if p.model == nil || health == nil || n == 1 {
		return p.order[p.pos%n]
	}
	for i := range n {
		t := p.order[(p.pos+i)%n]
		if health.Allow(t.Key(p.requested)) {
			p.pos += i
			return t
		}
	}
	return p.order[p.pos%n]
}

// result is how an attempt ended.
type result struct {
	// done: the answer, or a final error, has been given to the client.
	done      bool
	outcome   string
	retryable bool
	// status is the upstream's HTTP status of a failed attempt, 0 if none.
	status     int
	retryAfter time.Duration
	// failure or gerr is what to answer if the attempt is the last.
	failure *bus.Failure
	gerr    *converter.Error
}

// run makes the request's attempts until one gives the answer, or the plan,
// the retry budget or the time window is used up; then the last failure is
// the answer, in the client's format.
//
// A failed attempt moves on to the next target of the plan, cycling back
// to the first when all were tried. A target that answered with
// Retry-After is called again only after that wait: the wait is made when
// it ends within max_retry_wait and the retry window, and the target is
// passed over otherwise.
func (x *exchange) run(ctx *fasthttp.RequestCtx) {
	p := &x.plan
	health := x.s.opts.Targets
	for n := 1; ; n++ {
		t := p.pick(health)
		started := time.Now()
		res := x.try(ctx, t, n)
		x.recordAttempt(t, res, time.Since(started))
		if res.done {
			return
		}
		x.endAttempt()
		if res.retryAfter > 0 {
			p.holdOff(res.retryAfter)
		}
		if !res.retryable || n >= p.maxAttempts || x.gone || !time.Now().Before(p.window) {
			x.giveUp(ctx, res)
			return
		}
		wait, ok := p.advance()
		if !ok || wait > 0 && !x.pause(wait) {
			x.giveUp(ctx, res)
			return
		}
	}
}

// holdOff records the current target's Retry-After.
func (p *plan) holdOff(d time.Duration) {
	if p.notBefore == nil {
		p.notBefore = make([]time.Time, len(p.order))
	}
	p.notBefore[p.pos%len(p.order)] = time.Now().Add(d)
}

// advance moves to the next target that may be called: one with no
// Retry-After pending, or whose wait ends within max_retry_wait and the
// retry window; wait is how long to wait first. ok is false when no target
// qualifies.
func (p *plan) advance() (wait time.Duration, ok bool) {
	now := time.Now()
	for range len(p.order) {
		p.pos++
		if p.notBefore == nil {
			return 0, true
		}
		until := p.notBefore[p.pos%len(p.order)]
		if !until.After(now) {
			return 0, true
		}
		if d := until.Sub(now); d <= p.maxWait && until.Before(p.window) {
			return d, true
		}
	}
	return 0, false
}

// pause waits d, watching the client and the gateway's shutdown; false when
// either ended the request meanwhile.
func (x *exchange) pause(d time.Duration) bool {
	until := time.Now().Add(d)
	for {
		left := time.Until(until)
		if left <= 0 {
			return true
		}
		x.timer.Reset(min(left, probeInterval))
		x.timerArmed = true
		select {
		case <-x.timer.C:
			x.timerArmed = false
			if clientGone(x.conn) {
				x.clientLeft()
				return false
			}
		case <-x.s.closing:
			return false
		}
	}
}

// try makes one attempt at target t: it queues the request on the
// target's upstream and reads frames until the answer is committed (the
// first event of a stream, the end of a whole answer) or the attempt fails.
func (x *exchange) try(ctx *fasthttp.RequestCtx, t *routing.Target, n int) result {
	s := x.s
	x.target, x.up = t, s.upstream(t.Up.Name)
	x.targetKey = t.Key(x.plan.requested)
	x.outcome, x.firstToken = "", time.Time{}
	if !s.served(x.up, time.Now()) {
		x.up.noWorkers.Inc()
		return result{outcome: outcomeNoWorkers, retryable: true,
			gerr: converter.Errorf(converter.KindNoWorkers, "no worker is serving upstream %s", t.Up.Name)}
	}
	id := nuid.Next()
	x.reply = s.inbox.Open(id)
	x.up.active.Add(1)
	x.active = true
	x.ended = false // an earlier attempt's final frame says nothing of this one
	now := time.Now()
	queueDeadline := now.Add(t.Up.QueueTimeout.Duration)
	x.deadline = queueDeadline
	x.offered, x.offerLost = !s.cfg.Bus.QueueOnly, false
	if x.offered {
		x.deadline = now.Add(bus.DirectOfferTimeout)
	}
	if d := t.FirstTokenTimeout.Duration; d > 0 {
		x.firstToken = now.Add(d)
	}
	env := bus.Request{
		Version:         s.registry.Envelope(t.Up.Name),
		ID:              id,
		ClientRequestID: x.requestID,
		Reply:           x.reply.Subject(),
		Route:           x.r.Path,
		Upstream:        t.Up.Name,
		Model:           x.info.Model,
		Stream:          x.info.Stream,
		IncludeUsage:    x.info.IncludeUsage,
		Deadline:        x.deadline.UnixNano(),
		Enqueued:        now.UnixNano(),
		BodySize:        len(x.body),
		Headers:         x.headers,
		Attempt:         n,
		Scope:           x.key.Scope(),
	}
	if x.plan.model != nil {
		env.Model = x.plan.requested
		env.UpstreamModel = t.UpstreamModel(x.plan.requested)
	}
	if len(x.body) > s.maxInline {
		// The body outlives the handler's buffers while workers fetch it.
		if x.bodyCopy == nil {
			x.bodyCopy = append([]byte(nil), x.body...)
		}
		x.reply.ServeBody(x.bodyCopy)
		env.BodySubject = x.reply.BodySubject()
	} else {
		env.Body = x.body
	}
	if x.offered {
		if res, answered := x.offer(ctx, t, &env); answered {
			return res
		}
		// No worker took the offer: the queue takes the request.
		x.offered, x.deadline = false, queueDeadline
		env.Deadline = queueDeadline.UnixNano()
		if x.offerLost {
			x.renewReply(&env)
		}
	}
	if err := s.queues.Enqueue(t.Up.Name, x.reply.Subject(), bus.AppendRequest(make([]byte, 0, len(env.Body)+256), &env)); err != nil {
		s.logger.Error("publishing request failed", "request_id", x.requestID, "err", err)
		return result{outcome: outcomeError, retryable: true,
			gerr: converter.Errorf(converter.KindUnavailable, "the request could not be queued")}
	}
	return x.await(ctx)
}

// offer offers the attempt's request to a worker with a free slot: this
// process's own, when it has workers for the upstream, or else one NATS
// picks among the upstream's. answered is false when none took it, and the
// request is to be queued.
func (x *exchange) offer(ctx *fasthttp.RequestCtx, t *routing.Target, env *bus.Request) (res result, answered bool) {
	s := x.s
	encoded := bus.AppendRequest(make([]byte, 0, len(env.Body)+256), env)
	if taken, tried := s.opts.Loopback.Offer(t.Up.Name, x.reply.Subject(), encoded); tried && !taken {
		return result{}, false
	} else if !tried {
		if err := s.queues.Offer(t.Up.Name, x.reply.Subject(), encoded); err != nil {
			s.logger.Error("publishing request failed", "request_id", x.requestID, "err", err)
			return result{outcome: outcomeError, retryable: true,
				gerr: converter.Errorf(converter.KindUnavailable, "the request could not be sent to a worker")}, true
		}
	}
	res = x.await(ctx)
	return res, x.outcome != outcomeNotTaken
}

// renewReply gives the attempt a new request id and reply after an offer
// that went unanswered. The worker that got the offer is stalled or gone;
// should it live, it cannot take the offer after its deadline, and is told
// to forget it, and frames it might still send for the old id are dropped.
func (x *exchange) renewReply(env *bus.Request) {
	x.reply.Cancel()
	x.reply.Close()
	id := nuid.Next()
	x.reply = x.s.inbox.Open(id)
	env.ID, env.Reply = id, x.reply.Subject()
	if env.BodySubject != "" {
		x.reply.ServeBody(x.bodyCopy)
		env.BodySubject = x.reply.BodySubject()
	}
}

// await reads the attempt's frames until its answer is committed or it
// fails. Nothing is written to the client before the commit, so a failure
// here leaves the way open for another attempt.
func (x *exchange) await(ctx *fasthttp.RequestCtx) result {
	var body []byte
	var head *bus.Head
	streaming := false
	for {
		f, heartbeat, gerr := x.next(true)
		if gerr != nil {
			retryable := x.outcome != outcomeCancelled
			return result{outcome: x.outcome, retryable: retryable, gerr: gerr}
		}
		if heartbeat {
			continue
		}
		switch f.Kind {
		case bus.FrameFailure:
			failure, err := bus.DecodeFailure(f.Payload)
			if err != nil {
				return result{outcome: outcomeError, gerr: converter.Errorf(converter.KindInternal, "a worker sent a malformed failure")}
			}
			return x.failed(&failure)
		case bus.FrameError:
			// A worker from before typed failures: its error, already in
			// the client's format, is final.
			status, payload, err := bus.DecodeError(f.Payload)
			if err != nil {
				return result{outcome: outcomeError, gerr: converter.Errorf(converter.KindInternal, "a worker sent a malformed error")}
			}
			ctx.SetStatusCode(status)
			ctx.SetContentType("application/json")
			ctx.SetBody(payload)
			x.servedBy(ctx)
			x.status = status
			x.failure = "worker error"
			// An error frame is final and nothing was produced: the key is
			// settled now, not after waiting for an end frame that never
			// comes.
			x.ended = true
			x.finish()
			return result{done: true, outcome: statusOutcome(status), status: status}
		case bus.FrameHead:
			h, err := bus.DecodeHead(f.Payload)
			if err != nil {
				return result{outcome: outcomeError, gerr: converter.Errorf(converter.KindInternal, "a worker sent a malformed head")}
			}
			head = &h
			for _, kv := range h.Headers {
				if kv.Name == "Content-Type" {
					streaming = strings.HasPrefix(kv.Value, "text/event-stream")
				}
			}
			if !streaming {
				// A whole answer's first token is its head.
				x.firstToken = time.Time{}
			}
		case bus.FrameData:
			if streaming && head != nil {
				// The first event: from here on this attempt is the answer.
				x.firstToken = time.Time{}
				x.writeHead(ctx, head.Status, head.Headers)
				ctx.Response.Header.Set("Cache-Control", "no-cache")
				// Tell nginx-style proxies not to buffer: every event must
				// reach the client when it is written.
				ctx.Response.Header.Set("X-Accel-Buffering", "no")
				x.firstWrite = time.Since(x.start)
				x.lastWrite = time.Now()
				ctx.Response.SetBodyStream(&streamBody{x: x, first: f.Payload}, -1)
				return result{done: true, outcome: outcomeOK}
			}
			body = append(body, f.Payload...)
			x.reply.Written(len(f.Payload))
		case bus.FrameEnd:
			x.usage, _ = bus.DecodeUsage(f.Payload)
			x.ended = true
			status := fasthttp.StatusOK
			if head != nil {
				status = x.head(ctx, head)
			}
			x.firstWrite = time.Since(x.start)
			ctx.SetBody(body)
			x.finish()
			outcome := outcomeOK
			if status >= 400 {
				// An upstream error relayed by a worker from before typed
				// failures: final, as it always was.
				outcome = statusOutcome(status)
			}
			return result{done: true, outcome: outcome, status: status}
		}
	}
}

// head writes a whole answer's head and returns its status.
func (x *exchange) head(ctx *fasthttp.RequestCtx, h *bus.Head) int {
	x.writeHead(ctx, h.Status, h.Headers)
	return h.Status
}

// failed turns a worker's typed failure into the attempt's result.
func (x *exchange) failed(f *bus.Failure) result {
	// A failure frame is final and nothing was produced: the key is settled
	// at once, not after waiting for an end frame that never comes.
	x.ended = true
	res := result{retryable: f.Retryable, failure: f, retryAfter: f.RetryAfter}
	switch f.Kind {
	case bus.FailUpstreamStatus:
		res.status = f.Status
		res.outcome = statusOutcome(f.Status)
		if m := x.plan.model; m != nil && !m.RetryOn(f.Status) {
			res.retryable = false
		}
	case bus.FailConnect:
		res.outcome = outcomeConnect
	case bus.FailTimeout:
		res.outcome = outcomeTimeout
	case bus.FailProtocol:
		res.outcome = outcomeProtocol
	default:
		res.outcome = outcomeError
	}
	return res
}

func statusOutcome(status int) string {
	switch {
	case status == fasthttp.StatusTooManyRequests:
		return outcomeStatus429
	case status >= 500:
		return outcomeStatus5xx
	case status >= 400:
		return outcomeStatus4xx
	}
	return outcomeOK
}

// giveUp answers with the last attempt's failure.
func (x *exchange) giveUp(ctx *fasthttp.RequestCtx, res result) {
	f := res.failure
	if f == nil {
		x.refuse(ctx, res.gerr)
		return
	}
	if f.Kind != bus.FailUpstreamStatus {
		x.servedBy(ctx)
		x.refuse(ctx, &converter.Error{Kind: converter.ErrorKind(f.Code), Message: f.Message, Param: f.Param, Code: f.ErrorCode})
		return
	}
	// The upstream's own error, in the client's format: the body is
	// translated here, once it is known to be the answer.
	x.writeHead(ctx, f.Status, f.Headers)
	ctx.SetContentType("application/json")
	ctx.SetBody(converter.TranslateErrorBody(format.Format(f.UpstreamFormat), x.r.format, f.Status, f.Body, cmp.Or(f.UpstreamRequestID, x.requestID)))
	x.failure = "upstream answered " + strconv.Itoa(f.Status)
	x.finish()
}

// servedBy names the target of the current attempt in x-gateway-upstream.
func (x *exchange) servedBy(ctx *fasthttp.RequestCtx) {
	if x.target != nil {
		ctx.Response.Header.Set("X-Gateway-Upstream", x.targetKey)
	}
}

// endAttempt releases the current attempt's reply and load count.
func (x *exchange) endAttempt() {
	if x.reply != nil {
		x.reply.Cancel()
		x.reply.Close()
	}
	if x.active {
		x.active = false
		x.up.active.Add(-1)
	}
}

// recordAttempt counts an attempt's outcome, tells the circuit breaker and
// adds it to the access log's list.
func (x *exchange) recordAttempt(t *routing.Target, res result, took time.Duration) {
	if res.outcome == outcomeOK {
		x.up.attemptsOK.Inc()
	} else {
		x.up.attempts(res.outcome).Inc()
	}
	key := x.targetKey
	x.circuitHeld = ""
	if h := x.s.opts.Targets; h != nil {
		switch res.outcome {
		case outcomeCancelled, outcomeQueueFull, outcomeQueueTimeout, outcomeNoWorkers:
			// The client left, or the gateway itself refused: nothing
			// the target did.
			x.abandon(key)
		default:
			// A request the upstream refused for its own content (a 400)
			// says nothing against the target.
			h.Record(key, res.outcome == outcomeOK || res.outcome == outcomeStatus4xx)
		}
	}
	if x.attempts == nil {
		x.attempts = x.attemptsBuf[:0]
	}
	x.attempts = append(x.attempts, accesslog.Attempt{Target: key, Outcome: res.outcome, Status: res.status, Duration: took})
}
