// Package ingress is the gateway's HTTP edge. It matches routes, checks API
// keys and limits, publishes each request onto the bus, then holds the
// client's connection and writes the reply frames to it as they arrive, as
// JSON or as server-sent events. It converts nothing and calls no upstream.
package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/ingress/access"
	"github.com/aigateway/gateway/ingress/accesslog"
	"github.com/aigateway/gateway/ingress/internal/breaker"
	"github.com/aigateway/gateway/ingress/internal/routing"
	"github.com/aigateway/gateway/workers/respstore"
)

// Options are the dependencies of a Server.
type Options struct {
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	Gatherer     prometheus.Gatherer
	QueueMetrics *bus.QueueMetrics
	// Loopback, when set, is shared with the workers of this process,
	// whose replies then come without NATS.
	Loopback *bus.Loopback
	// Guard enforces API keys and limits; nil disables access control.
	Guard *access.Guard
	// AccessLog writes the per-request lines when server.access_log is on;
	// nil writes them through Logger. The Server flushes it in Shutdown;
	// closing it is up to its owner.
	AccessLog *accesslog.Logger
	Version   string
	// Checks adds the health checks of the process's other parts, its
	// worker pools in single-process mode; nil adds none.
	Checks CheckSource
	// Targets is consulted before each attempt at a model's target and
	// told each attempt's outcome (circuit breaking); nil breaks nothing.
	Targets routing.TargetHealth
}

// route is a configured route with what the hot path needs precomputed.
type route struct {
	config.Route
	format format.Format
	// upstream is the upstream of a path route; zero for a model-routed
	// one, whose requests pick theirs by model (attempts.go).
	upstream config.Upstream

	firstToken prometheus.Observer
	interChunk prometheus.Observer
	// inFlight is the route's http_requests_in_flight child (its requests
	// are POSTs), resolved once rather than on every request.
	inFlight prometheus.Gauge

	// parent is the path of the route an endpoint beside it belongs to
	// (endpoints.go); empty for a configured route.
	parent   string
	endpoint config.Endpoint
}

// Server is the HTTP ingress.
type Server struct {
	cfg      config.Config
	nc       *nats.Conn
	js       jetstream.JetStream
	logger   *slog.Logger
	opts     Options
	metrics  *metrics
	inbox    *bus.Inbox
	queues   *bus.Queues
	registry *bus.Registry
	// keeper recreates the queues and the access store when NATS lost them.
	keeper     *bus.Keeper
	stopKeeper context.CancelFunc
	keeperDone chan struct{}
	// tbl holds the routes and what is derived from them, the routing
	// table included (reload.go); a reload swaps it whole, and a request
	// keeps the one it started with.
	tbl atomic.Pointer[table]
	// upstreams holds an *upstreamStats by upstream name.
	upstreams   sync.Map
	http        *fasthttp.Server
	promHandler fasthttp.RequestHandler
	started     time.Time

	// closing ends the streams still open when the shutdown grace is over.
	closing   chan struct{}
	closeOnce sync.Once
	// closed is set when closing is closed. A stream waiting for its next
	// frame reads it when woken rather than selecting on closing: a
	// channel every stream selects on is a lock all of them take for every
	// event.
	closed   atomic.Bool
	inFlight sync.WaitGroup
	// open counts the requests in flight, for the drain to poll (a
	// WaitGroup cannot be waited on while requests still arrive).
	open      atomic.Int64
	maxInline int
	// chunkBufs holds the buffers (*[]byte) in which streams gather the
	// frames of one write (streamBody), so that an idle stream holds none.
	chunkBufs sync.Pool
	// responses is the store of stored-response endpoints (responses.go),
	// nil when responses.store is off or no route took Responses requests
	// at start.
	responses *respstore.Store
	// access writes the access log; nil when it is off.
	access       *accesslog.Logger
	shuttingDown atomic.Bool

	// breakers are the upstream targets' circuit breakers (circuit.go);
	// circuitSub hears the other replicas' transitions.
	breakers   *breaker.Breakers
	circuitSub *nats.Subscription
}

// New prepares the ingress: it subscribes to replies and worker presence and
// makes sure the upstream queues exist.
func New(ctx context.Context, cfg config.Config, nc *nats.Conn, opts Options) (*Server, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening JetStream: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		nc:      nc,
		logger:  opts.Logger.With("component", "ingress"),
		opts:    opts,
		metrics: newMetrics(opts.Registerer),
		queues:  bus.NewQueues(js),
		started: time.Now(),
		closing: make(chan struct{}),
	}
	if cfg.Server.AccessLog {
		s.access = accesslog.FromSlog(s.logger)
		if opts.AccessLog != nil {
			s.access = opts.AccessLog.With(slog.String("component", "ingress"))
		}
	}
	s.js = js
	kept, err := s.ensureQueues(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t, err := s.newTable(cfg)
	if err != nil {
		return nil, err
	}
	s.tbl.Store(t)
	for _, u := range cfg.Upstreams {
		s.upstream(u.Name)
	}
	if cfg.Responses.Store && len(t.stored) > 0 {
		s.responses = respstore.New(js, cfg.Responses, respstore.Options{
			Replicas: cfg.Bus.Replicas, Storage: jetstream.FileStorage, Registerer: opts.Registerer,
		})
		if err := s.responses.Ensure(ctx); err != nil {
			return nil, err
		}
		kept = append(kept, s.responses.Resource())
	}
	s.keeper = bus.NewKeeper(nc, s.logger, kept...)
	if s.responses != nil {
		s.responses.SetOnMissing(s.keeper.Kick)
	}
	id := nuid.Next()
	if err := s.startBreakers(id); err != nil {
		return nil, err
	}
	// Routing's attempt loop asks the breakers before each attempt and
	// tells them each attempt's outcome.
	if s.opts.Targets == nil {
		s.opts.Targets = s.breakers
	}
	if s.inbox, err = bus.NewInbox(nc, id); err != nil {
		_ = s.circuitSub.Unsubscribe()
		return nil, err
	}
	if opts.Loopback != nil {
		s.inbox.UseLoopback(opts.Loopback)
	}
	if s.registry, err = bus.WatchPresence(nc); err != nil {
		_ = s.inbox.Close()
		_ = s.circuitSub.Unsubscribe()
		return nil, err
	}
	// Leave room in a bus message for the envelope's header fields.
	s.maxInline = int(nc.MaxPayload()) - 16<<10
	s.http = &fasthttp.Server{
		Handler:            s.serve,
		ErrorHandler:       s.serveParseError,
		Name:               "gateway",
		MaxRequestBodySize: cfg.Server.MaxBodyBytes,
		// The read buffer holds the request line and headers whole: its
		// size is the header limit, and larger headers get 431.
		ReadBufferSize: cfg.Server.MaxHeaderBytes,
		// Hand that buffer back once the request is read, instead of
		// keeping it for the connection's life: a held stream then pins no
		// read buffer while its answer streams (16 KiB each by default;
		// 1,000 held streams went from 114 to 96 KiB of RSS each).
		ReduceMemoryUsage: true,
		// Keep request bytes out of fasthttp's error texts; serveParseError
		// does not show those either, but fasthttp logs some of its own.
		SecureErrorLogMessage: true,
		ReadTimeout:           cfg.Server.ReadTimeout.Duration,
		IdleTimeout:           cfg.Server.IdleTimeout.Duration,
		// WriteTimeout would bound a whole stream, not each write: keep it
		// off and bound waiting with the stall time-out instead.
		WriteTimeout:                  0,
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 false,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{s.logger},
	}
	s.promHandler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	go s.watchQueues()
	// One check now, so that the first health check reports what the bus
	// holds rather than "not checked yet"; the resources were just made.
	s.keeper.Sync(ctx)
	keeperCtx, stopKeeper := context.WithCancel(context.Background())
	s.stopKeeper, s.keeperDone = stopKeeper, make(chan struct{})
	go func() {
		defer close(s.keeperDone)
		s.keeper.Run(keeperCtx)
	}()
	return s, nil
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.http.Serve(ln)
}

// Shutdown stops accepting requests, lets those in flight finish within the
// context's deadline, then ends the streams still open with an error event.
//
// Connections stay open while requests are in flight, and every answer
// meanwhile carries Connection: close (new requests get a retryable 503).
// Closing them at once would close keep-alive connections under clients
// that are just sending their next request on them, idle ones or ones whose
// stream has just ended, and those clients would see a bare EOF.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shuttingDown.Store(true)
	s.awaitRequests(ctx)
	done := make(chan error, 1)
	go func() { done <- s.http.ShutdownWithContext(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.closing)
		s.inbox.WakeAll()
	})
	waited := make(chan struct{})
	go func() { s.inFlight.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		s.logger.Warn("requests still open after shutdown")
	}
	s.stopKeeper()
	<-s.keeperDone
	if s.access != nil {
		// A batching access log would otherwise hold the last lines until
		// its owner closes it.
		s.access.Flush()
	}
	return errors.Join(err, s.registry.Close(), s.inbox.Close(), s.stopBreakers())
}

// drainPoll is how often the drain checks whether requests are still open.
const drainPoll = 20 * time.Millisecond

// drainQuiet is how long the drain waits with no request open before it
// closes the connections. A client whose answer went out before the drain
// began (a stream's head, say) was never told Connection: close, and may
// send its next request on that connection the moment the answer ends:
// that request still gets an answer, with Connection: close, instead of a
// socket closed under it.
const drainQuiet = 250 * time.Millisecond

// awaitRequests returns once no request has been in flight for drainQuiet,
// or ctx ends.
func (s *Server) awaitRequests(ctx context.Context) {
	ticker := time.NewTicker(drainPoll)
	defer ticker.Stop()
	quietSince := time.Now()
	for {
		now := time.Now()
		if s.open.Load() > 0 {
			quietSince = now
		} else if now.Sub(quietSince) >= drainQuiet {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// watchQueues samples queue depths for the gateway_queue_depth gauge.
func (s *Server) watchQueues() {
	ticker := time.NewTicker(2 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-ticker.C:
			for _, name := range s.servedUpstreams() {
				u := s.upstream(name)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				if depth, err := s.queues.Depth(ctx, name); err == nil {
					u.depthGauge.Set(float64(depth))
					u.depth.Store(int64(depth))
				}
				cancel()
			}
		}
	}
}

type fasthttpLogger struct{ logger *slog.Logger }

// Printf logs fasthttp's message without its arguments: they can quote the
// bytes of a request it failed to parse, an Authorization header included.
func (l fasthttpLogger) Printf(format string, _ ...any) {
	l.logger.Debug("fasthttp", "message", format)
}

// WaitForWorkers waits until every routed upstream has a worker, or timeout.
func (s *Server) WaitForWorkers(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, name := range s.servedUpstreams() {
		if err := s.registry.WaitForWorkers(ctx, name); err != nil {
			return fmt.Errorf("no worker for upstream %s: %w", name, err)
		}
	}
	return nil
}
