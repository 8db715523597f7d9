package ingress

import (
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/ingress/internal/breaker"
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

// circuitAllows asks the circuit breaker whether a path route's request
// may go to the route's one target, and otherwise answers it with 503 and
// Retry-After, naming the upstream: with nothing to fall back to, the
// client is told at once when to come back. A model-routed request is never
// refused so: routing's attempt loop passes over open circuits and, when
// every target's is open, tries the next one all the same (attempts.go).
// The attempt loop records the outcome of the attempt let through.
func (x *exchange) circuitAllows(ctx *fasthttp.RequestCtx, model string) bool {
	h := x.s.opts.Targets
	if h == nil {
		return true
	}
	u := x.r.upstream
	key := config.Target{Upstream: u.Name, Model: x.r.MapModel(u, model)}.Key(model)
	if h.Allow(key) {
		x.circuitHeld = key
		return true
	}
	retry := int64(1)
	if b, ok := x.s.opts.Targets.(interface{ RetryAfter(string) time.Duration }); ok {
		retry = max(int64((b.RetryAfter(key)+time.Second-1)/time.Second), 1)
	}
	ctx.Response.Header.Set("Retry-After", strconv.FormatInt(retry, 10))
	x.refuse(ctx, converter.Errorf(converter.KindUnavailable,
		"upstream %s is not taking requests for now: its circuit breaker opened after repeated failures; retry after %d s",
		u.Name, retry))
	return false
}

// abandon tells the target's circuit breaker that a request it let through
// says nothing of the target (the gateway's own refusal, a client that
// left), so that a half-open probe's slot is free again at once.
func (x *exchange) abandon(key string) {
	if b, ok := x.s.opts.Targets.(interface{ Abandon(string) }); ok {
		b.Abandon(key)
	}
}
