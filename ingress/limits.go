package ingress

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/ingress/access"
)

// settleWait bounds how long an aborted request waits for its worker's final
// usage report before it is settled with what is known.
const settleWait = 2 * time.Second

// authenticate finds the request's API key. It runs before the body is
// looked at, so unknown clients cost as little as possible.
func (x *exchange) authenticate(ctx *fasthttp.RequestCtx) *converter.Error {
	key, err := x.s.opts.Guard.Authenticate(ctx.Request.Header.Peek("Authorization"), ctx.Request.Header.Peek("X-Api-Key"))
	if err != nil {
		msg := "invalid API key"
		if errors.Is(err, access.ErrMissingKey) {
			msg = "missing API key: send it as Authorization: Bearer <key> or x-api-key"
		}
		return converter.Errorf(converter.KindAuthentication, "%s", msg)
	}
	x.key = key
	return nil
}

// admit checks the key's allow-lists and limits and writes its rate-limit
// headers. It returns a gateway error when the request must not go ahead.
func (x *exchange) admit(ctx *fasthttp.RequestCtx, model string, bodyLen int, maxTokens int64) *converter.Error {
	g, key := x.s.opts.Guard, x.key
	if err := g.Authorize(key, x.r.allowPath(), model); err != nil {
		// The key is known: its limits go with every answer, refusals too.
		x.writeLimits(ctx, g.Limits(key))
		what := "route " + x.r.Path
		if errors.Is(err, access.ErrModelNotAllowed) {
			what = "model " + model
		}
		return converter.Errorf(converter.KindPermission, "this API key is not allowed to use %s", what)
	}
	// Count the request's size and output bound up front, so one huge
	// request cannot overshoot a token limit; Settle corrects it afterwards.
	return x.admitEstimate(ctx, int64(bodyLen)/4+maxTokens)
}

// admitEstimate checks the key's rate limits and quotas for a request
// counted as estimate tokens, and writes its rate-limit headers.
func (x *exchange) admitEstimate(ctx *fasthttp.RequestCtx, estimate int64) *converter.Error {
	g, key := x.s.opts.Guard, x.key
	adm, err := g.Admit(context.Background(), key, estimate)
	var denial *access.Denial
	if errors.As(err, &denial) {
		x.writeLimits(ctx, denial.Limits)
		retry := max(int64((denial.RetryAfter+time.Second-1)/time.Second), 1)
		ctx.Response.Header.Set("Retry-After", strconv.FormatInt(retry, 10))
		what := "request"
		if denial.Tokens {
			what = "token"
		}
		switch denial.Reason {
		case access.RateLimited:
			return converter.Errorf(converter.KindRateLimited, "%s rate limit reached for this API key; retry after %d s", what, retry)
		case access.QuotaExceeded:
			renew := time.Now().Add(denial.RetryAfter).UTC().Truncate(time.Second).Format(time.RFC3339)
			return converter.Errorf(converter.KindQuotaExceeded, "the %s quota of this API key for the current period is used up; it renews at %s", what, renew)
		default:
			return converter.Errorf(converter.KindUnavailable, "rate limits cannot be checked right now")
		}
	}
	if err != nil {
		return converter.Errorf(converter.KindUnavailable, "rate limits cannot be checked right now")
	}
	x.admission, x.admitted = adm, true
	x.writeLimits(ctx, adm.Limits)
	return nil
}

// writeLimits sets the key's rate-limit headers in the client's dialect.
// It runs on every answer, so values are formatted into a stack buffer
// rather than into strings (fasthttp copies them).
func (x *exchange) writeLimits(ctx *fasthttp.RequestCtx, l access.Limits) {
	h := &ctx.Response.Header
	var buf [64]byte
	names := converter.RateLimitHeadersOf(x.r.format)
	now := time.Now()
	if l.RequestsLimit > 0 {
		limit, remaining, reset := names.Requests()
		h.SetBytesV(limit, strconv.AppendInt(buf[:0], l.RequestsLimit, 10))
		h.SetBytesV(remaining, strconv.AppendInt(buf[:0], l.RequestsRemaining, 10))
		h.SetBytesV(reset, names.AppendReset(buf[:0], l.RequestsReset, now))
	}
	if l.TokensLimit > 0 {
		limit, remaining, reset := names.Tokens()
		h.SetBytesV(limit, strconv.AppendInt(buf[:0], l.TokensLimit, 10))
		h.SetBytesV(remaining, strconv.AppendInt(buf[:0], l.TokensRemaining, 10))
		h.SetBytesV(reset, names.AppendReset(buf[:0], l.TokensReset, now))
	}
}

// settle charges the key for what the request used, once. A request whose
// client left mid-answer is charged for what its worker reports it produced;
// the report follows the cancellation, so it is awaited briefly off the
// request's goroutine.
func (x *exchange) settle() {
	if !x.admitted {
		return
	}
	x.admitted = false
	g := x.s.opts.Guard
	if x.ended || x.reply == nil || !x.reply.Accepted() {
		g.Settle(x.admission, x.model, accessUsage(x.usage))
		return
	}
	// The waiter owns copies only: finish goes on reading the exchange
	// (x.usage for the access log) while it runs.
	reply, adm, model, usage := x.reply, x.admission, x.model, x.usage
	x.reply = nil // the waiter closes it
	go func() {
		defer reply.Close()
		timer := time.NewTimer(settleWait)
		defer timer.Stop()
		for {
			f, ok, _, err := reply.Next()
			if err != nil {
				break
			}
			if ok && f.Kind == bus.FrameEnd {
				if u, err := bus.DecodeUsage(f.Payload); err == nil {
					usage = u
				}
				break
			}
			if ok {
				continue
			}
			select {
			case <-reply.Ready():
				continue
			case <-timer.C:
			}
			break
		}
		g.Settle(adm, model, accessUsage(usage))
	}()
}

// accessUsage is the part of a reply's usage that quotas count.
func accessUsage(u bus.Usage) access.Usage {
	return access.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CachedTokens: u.CacheReadTokens}
}
