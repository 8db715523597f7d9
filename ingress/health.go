package ingress

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/ingress/internal/breaker"
)

// Health endpoints. Liveness never depends on NATS: a Kubernetes liveness
// probe that failed while NATS is away would restart every gateway pod and
// make the outage worse. Readiness and the report do.
const (
	pathHealthLive  = "/health/live"
	pathHealthReady = "/health/ready"
)

// Check is one line of the health report.
type Check struct {
	// Name says what was checked: "bus", "queue openai", "access store",
	// "workers openai".
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Error says why the check fails.
	Error string `json:"error,omitempty"`
}

// CheckSource lists checks of a part of the process, such as its worker
// pools' queues.
type CheckSource func() []Check

// ResourceChecks turns what a bus.Keeper knows into checks.
func ResourceChecks(states []bus.ResourceState) []Check {
	checks := make([]Check, 0, len(states))
	for _, st := range states {
		checks = append(checks, Check{Name: st.Name, OK: st.OK, Error: st.Error})
	}
	return checks
}

// health is the body of GET /health.
type health struct {
	Status        string         `json:"status"`
	Version       string         `json:"version"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	Bus           busHealth      `json:"bus"`
	Workers       map[string]int `json:"workers,omitempty"`
	Checks        []Check        `json:"checks"`
	// Circuits lists the upstream targets whose circuit breaker is not
	// closed. They do not make the process unready: the process itself
	// is fine, and routing may still reach other targets.
	Circuits []breaker.Report `json:"circuits,omitempty"`
}

type busHealth struct {
	Connected bool   `json:"connected"`
	Status    string `json:"status"`
}

// readiness is the body of GET /health/ready.
type readiness struct {
	Status  string   `json:"status"`
	Failing []string `json:"failing,omitempty"`
}

// busCheck is the connection's check.
func busCheck(nc *nats.Conn) Check {
	c := Check{Name: "bus", OK: nc.IsConnected()}
	if !c.OK {
		c.Error = "not connected to NATS: " + nc.Status().String()
	}
	return c
}

// writeHealth answers one of the health endpoints from the checks.
func writeHealth(ctx *fasthttp.RequestCtx, path string, h health, stopping bool) {
	var failing []string
	for _, c := range h.Checks {
		if !c.OK {
			failing = append(failing, c.Name)
		}
	}
	if stopping {
		h.Checks = append(h.Checks, Check{Name: "shutdown", OK: false, Error: "the process is shutting down"})
		failing = append(failing, "shutdown")
	}
	ready := len(failing) == 0
	status := fasthttp.StatusOK
	if !ready {
		status = fasthttp.StatusServiceUnavailable
	}
	var body []byte
	switch path {
	case pathHealthLive:
		status = fasthttp.StatusOK
		body = []byte(`{"status":"alive"}`)
	case pathHealthReady:
		r := readiness{Status: "ready", Failing: failing}
		if !ready {
			r.Status = "not ready"
		}
		body, _ = jsonx.Marshal(r)
	default:
		h.Status = "healthy"
		if !ready {
			h.Status = "unhealthy"
		}
		body, _ = jsonx.Marshal(h)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(body)
}

// isHealthPath reports whether path is one of the health endpoints.
func isHealthPath(path string) bool {
	return path == pathHealth || path == pathHealthLive || path == pathHealthReady
}

func (s *Server) serveHealth(ctx *fasthttp.RequestCtx, path string) {
	h := health{
		Version:       s.opts.Version,
		UptimeSeconds: int64(time.Since(s.started).Seconds()),
		Bus:           busHealth{Connected: s.nc.IsConnected(), Status: s.nc.Status().String()},
		Workers:       make(map[string]int),
	}
	h.Checks = append(h.Checks, busCheck(s.nc))
	h.Checks = append(h.Checks, ResourceChecks(s.keeper.States())...)
	now := time.Now()
	for _, name := range s.servedUpstreams() {
		n := s.registry.Workers(name)
		h.Workers[name] = n
		// Late announcements from a busy worker are no reason to be taken
		// out of service (served).
		c := Check{Name: "workers " + name, OK: s.served(s.upstream(name), now)}
		if !c.OK {
			c.Error = "no worker process has announced itself for this upstream"
		}
		h.Checks = append(h.Checks, c)
	}
	if s.opts.Checks != nil {
		h.Checks = append(h.Checks, s.opts.Checks()...)
	}
	h.Circuits = s.breakers.Reports()
	writeHealth(ctx, path, h, s.shuttingDown.Load())
}

// routesInOrder lists the routes in configuration order, so the report
// reads the same on every call.
func (s *Server) routesInOrder() []*route {
	t := s.table()
	out := make([]*route, 0, len(t.routes))
	for _, cr := range t.cfg.Routes {
		if r, ok := t.routes[cr.Path]; ok {
			out = append(out, r)
		}
	}
	return out
}
