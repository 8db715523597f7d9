package ingress

import (
	"context"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress/internal/routing"
)

// table is what the ingress serves, built from one configuration: the
// routes, the endpoints derived from them and the model catalog. It is
// never changed once built; a reload builds a new one and swaps it in, so
// a request keeps the route it was matched to, with its settings, to its
// end.
type table struct {
	cfg    config.Config
	routes map[string]*route
	// unsupported maps the paths of endpoints a route's upstream lacks to
	// the reason, for their 404.
	unsupported map[string]string
	// models lists the models a client can use (models.go).
	models *modelCatalog
	// stored maps "<path>/" of each Responses route to it, for the
	// stored-response endpoints (responses.go).
	stored map[string]*route
	// routing is the routing table: which targets serve each model, and
	// the bindings of the routes (attempts.go). SetRoutes may swap it alone.
	routing *routing.Table
}

// table returns the table in force.
func (s *Server) table() *table { return s.tbl.Load() }

// newTable builds the table of cfg.
func (s *Server) newTable(cfg config.Config) (*table, error) {
	rt, err := routing.New(&cfg)
	if err != nil {
		return nil, fmt.Errorf("routing table: %w", err)
	}
	t := &table{cfg: cfg, routes: make(map[string]*route, len(cfg.Routes)), routing: rt}
	for _, r := range cfg.Routes {
		rr := &route{
			Route:      r,
			format:     r.InputFormat,
			firstToken: s.metrics.firstToken.WithLabelValues(r.Path),
			interChunk: s.metrics.interChunk.WithLabelValues(r.Path),
			inFlight:   s.metrics.inFlight.WithLabelValues(fasthttp.MethodPost, r.Path),
		}
		// A model-routed route has no upstream of its own.
		if u, ok := cfg.Upstream(r.Upstream); ok {
			rr.upstream = *u
		}
		t.routes[r.Path] = rr
	}
	s.addEndpointRoutes(t)
	t.models = newModelCatalog(s, t)
	t.stored = storedRoutes(t)
	return t, nil
}

// ensureQueues makes sure the queue of every upstream of cfg exists with
// cfg's size and time-out, and returns what the Keeper must keep: the
// queues and the access store.
func (s *Server) ensureQueues(ctx context.Context, cfg config.Config) ([]bus.Resource, error) {
	var kept []bus.Resource
	for _, u := range cfg.Upstreams {
		q := bus.QueueConfig{Upstream: u.Name, Size: u.QueueSize, Timeout: u.QueueTimeout.Duration, Replicas: s.cfg.Bus.Replicas}
		if _, err := bus.EnsureQueue(ctx, s.js, q); err != nil {
			return nil, fmt.Errorf("queue of upstream %s: %w", u.Name, err)
		}
		kept = append(kept, bus.QueueResource(s.js, q, nil))
	}
	if g := s.opts.Guard; g != nil && g.Enabled() {
		kept = append(kept, g.StoreResource())
	}
	if s.responses != nil {
		kept = append(kept, s.responses.Resource())
	}
	return kept, nil
}

// Reconfigure serves cfg's routes and upstreams from now on: new requests
// are matched against them, while requests in flight, streams included,
// finish on the settings they started with. The queues of new upstreams
// are created first, so a new route works as soon as this returns.
// Settings of [server] and [bus] are the process's and stay as started.
// cfg must have passed config.Validate.
func (s *Server) Reconfigure(ctx context.Context, cfg config.Config) error {
	t, err := s.newTable(cfg)
	if err != nil {
		return err
	}
	kept, err := s.ensureQueues(ctx, cfg)
	if err != nil {
		return err
	}
	s.keeper.Replace(kept...)
	s.breakers.Update(&cfg)
	for _, u := range cfg.Upstreams {
		s.upstream(u.Name)
	}
	s.tbl.Store(t)
	if err := bus.ProbePresence(s.nc); err != nil {
		s.logger.Warn("asking the workers to announce themselves failed", "err", err)
	}
	return nil
}
