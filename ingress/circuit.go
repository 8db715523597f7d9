package ingress

import (
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/ingress/breaker"
)

// Outcomes of a request for its target's circuit breaker.
const (
	outcomeUnknown int8 = iota // nothing the upstream did decided it
	outcomeOK
	outcomeFailed
)

// startBreakers builds the circuit breakers and joins the other replicas'
// transitions; origin names this replica in them.
func (s *Server) startBreakers(origin string) error {
	s.breakers = breaker.New(&s.cfg, breaker.Options{
		Logger:     s.logger,
		Registerer: s.opts.Registerer,
		OnTransition: func(t breaker.Transition) {
			ev := bus.CircuitEvent{Origin: origin, Target: t.Target, State: t.To.String()}
			if t.To == breaker.Open {
				ev.Until = t.Until.UnixNano()
			}
			// A replica that cannot reach NATS keeps its own view.
			if err := bus.PublishCircuit(s.nc, ev); err != nil {
				s.logger.Debug("circuit transition not shared", "target", t.Target, "err", err)
			}
		},
	})
	sub, err := bus.WatchCircuits(s.nc, origin, func(ev bus.CircuitEvent) {
		t := breaker.Transition{Target: ev.Target, To: breaker.Closed}
		switch ev.State {
		case breaker.Open.String():
			t.To, t.Until = breaker.Open, time.Unix(0, ev.Until)
		case breaker.Closed.String():
		default:
			return
		}
		s.breakers.Observe(t)
	})
	if err != nil {
		return err
	}
	s.circuitSub = sub
	return nil
}

func (s *Server) stopBreakers() error {
	if err := s.circuitSub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return err
	}
	return nil
}

// target is the circuit-breaker key of a request to route r for the
// client's model: "<upstream>/<upstream model>".
func (r *route) target(model string) string {
	return r.upstream.Name + "/" + r.MapModel(r.upstream, model)
}

// checkCircuit refuses, with 503 and Retry-After, a request whose target's
// circuit is open, and otherwise remembers the target so that the answer's
// outcome is recorded. It reports whether the request may go on.
func (x *exchange) checkCircuit(ctx *fasthttp.RequestCtx, model string) bool {
	b := x.s.breakers
	if !b.Enabled() {
		return true
	}
	target := x.r.target(model)
	if b.Allow(target) {
		x.target = target
		return true
	}
	retry := max(int64((b.RetryAfter(target)+time.Second-1)/time.Second), 1)
	ctx.Response.Header.Set("Retry-After", strconv.FormatInt(retry, 10))
	x.refuse(ctx, converter.Errorf(converter.KindUnavailable,
		"upstream %s is not taking requests for now: its circuit breaker opened after repeated failures; retry after %d s",
		x.r.upstream.Name, retry))
	return false
}

// answered records the status of the upstream's answer as the request's
// outcome: a server error is a failure of the target, anything else but a
// rate limit shows it working.
func (x *exchange) answered(status int) {
	switch {
	case status >= 500 && status != fasthttp.StatusNotImplemented:
		x.outcome = outcomeFailed
	case status == fasthttp.StatusTooManyRequests:
		x.outcome = outcomeUnknown
	default:
		x.outcome = outcomeOK
	}
}

// recordOutcome tells the target's circuit breaker how the request went,
// when the upstream decided it.
func (x *exchange) recordOutcome() {
	switch {
	case x.target == "":
	case x.outcome == outcomeUnknown:
		x.s.breakers.Abandon(x.target)
	default:
		x.s.breakers.Record(x.target, x.outcome == outcomeOK)
	}
}
