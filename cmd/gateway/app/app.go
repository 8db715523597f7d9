// Package app assembles the gateway's processes from its parts: the embedded
// or external NATS connection, the ingress, the worker pools, metrics and
// logging. cmd/gateway runs it; end-to-end tests start it in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/cmd/gateway/internal/logflood"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress"
	"github.com/aigateway/gateway/ingress/access"
	"github.com/aigateway/gateway/ingress/accesslog"
	"github.com/aigateway/gateway/workers"
)

// Mode selects what a process runs.
type Mode string

// The process modes of the one binary.
const (
	// ModeAll runs ingress and workers around an embedded NATS server.
	ModeAll Mode = "all"
	// ModeIngress runs the HTTP ingress against external NATS.
	ModeIngress Mode = "ingress"
	// ModeWorker runs worker pools against external NATS.
	ModeWorker Mode = "worker"
)

// Options are an App's dependencies.
type Options struct {
	Mode   Mode
	Logger *slog.Logger
	// AccessLog writes the ingress's per-request lines (server.access_log);
	// nil writes them through Logger. The caller closes it after Shutdown.
	AccessLog *accesslog.Logger
	Version   string
	// Listener, when set, replaces the listener on server.host:port.
	Listener net.Listener
}

// App is a running gateway process.
type App struct {
	cfg      config.Config
	opts     Options
	logger   *slog.Logger
	registry *prometheus.Registry

	embedded *server.Server
	conns    []*nats.Conn
	ingress  *ingress.Server
	ops      *ingress.OpsServer
	guard    *access.Guard
	listener net.Listener
	pprof    *http.Server

	workerCancel context.CancelFunc
	workerDone   chan error
	serveDone    chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start starts a gateway process and returns once it serves.
func Start(ctx context.Context, cfg config.Config, opts Options) (a *App, err error) {
	a = &App{cfg: cfg, opts: opts, registry: prometheus.NewRegistry()}
	// A fault repeats the same warning on every request: keep a burst of
	// each and count the rest, instead of writing thousands of lines a
	// second.
	a.logger = slog.New(logflood.New(opts.Logger.Handler(), logflood.Config{}, a.registry))
	// The error returns set a to nil: keep the half-started process to undo.
	started := a
	defer func() {
		if err != nil {
			if started.workerCancel != nil {
				started.workerCancel()
				<-started.workerDone
			}
			started.closeBus()
		}
	}()
	a.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_build_info",
		Help: "Always 1; labels give the gateway's version and Go version.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(opts.Version, runtime.Version()).Set(1)
	a.registry.MustRegister(buildInfo)
	connMetrics := bus.NewConnMetrics(a.registry)
	queueMetrics := bus.NewQueueMetrics(a.registry)

	if opts.Mode == ModeAll {
		if a.embedded, err = bus.StartEmbedded(cfg.Bus, a.logger); err != nil {
			return nil, err
		}
		a.logger.Info("embedded NATS started", "listen", bus.ListenURL(a.embedded), "monitor", cfg.Bus.Monitor, "store_dir", cfg.Bus.StoreDir)
	}
	connect := func(role string) (*nats.Conn, error) {
		nc, err := bus.Connect(cfg.Bus, bus.ConnOptions{Role: role, Server: a.embedded, Metrics: connMetrics, Logger: a.logger})
		if err != nil {
			return nil, err
		}
		a.conns = append(a.conns, nc)
		return nc, nil
	}

	var svc *workers.Service
	if opts.Mode == ModeAll || opts.Mode == ModeWorker {
		nc, err := connect("worker")
		if err != nil {
			return nil, err
		}
		svc, err = workers.New(cfg, nc, workers.Options{Logger: a.logger, Registerer: a.registry, QueueMetrics: queueMetrics})
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a.workerCancel, a.workerDone = cancel, make(chan error, 1)
		// Not a itself: a failed Start sets its result a to nil while this
		// goroutine still runs.
		logger, done := a.logger, a.workerDone
		go func() {
			err := svc.Run(wctx, cfg.Server.ShutdownGrace.Duration)
			if err != nil && wctx.Err() == nil {
				// Otherwise a worker that cannot set up its queues stops
				// without a word until the process is shut down.
				logger.Error("worker pools stopped", "err", err)
			}
			done <- err
		}()
	}

	ln := opts.Listener
	if ln == nil {
		addr := net.JoinHostPort(cfg.Server.Host, strconv.Itoa(cfg.Server.Port))
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("listening on %s: %w", addr, err)
		}
	}
	a.listener = ln
	a.serveDone = make(chan error, 1)

	if opts.Mode == ModeAll || opts.Mode == ModeIngress {
		nc, err := connect("ingress")
		if err != nil {
			return nil, err
		}
		if cfg.Access.Enabled {
			if a.guard, err = newGuard(cfg, nc, a.registry, a.logger); err != nil {
				return nil, err
			}
		}
		a.ingress, err = ingress.New(ctx, cfg, nc, ingress.Options{
			Logger: a.logger, Registerer: a.registry, Gatherer: a.registry,
			QueueMetrics: queueMetrics, Guard: a.guard, AccessLog: opts.AccessLog, Version: opts.Version,
			Checks: workerChecks(svc),
		})
		if err != nil {
			return nil, err
		}
		// Workers answer the ingress's presence probe within a round trip;
		// waiting for them briefly keeps the first requests from meeting
		// "no workers". An upstream nobody serves only delays the start.
		if err := a.ingress.WaitForWorkers(ctx, 2*time.Second); err != nil {
			a.logger.Warn("workers not visible yet", "err", err)
		}
		go func() { a.serveDone <- a.ingress.Serve(ln) }()
	} else {
		a.ops = ingress.NewOpsServer(a.conns[0], a.registry, opts.Version, a.logger, workerChecks(svc))
		go func() { a.serveDone <- a.ops.Serve(ln) }()
	}
	a.logger.Info("gateway listening", "mode", string(opts.Mode), "addr", ln.Addr().String(), "config", cfg.Source)

	if cfg.Server.Pprof != "" {
		a.startPprof()
	}
	return a, nil
}

// workerChecks are the health checks of the process's worker pools: their
// queues on the bus. svc may be nil.
func workerChecks(svc *workers.Service) ingress.CheckSource {
	if svc == nil {
		return nil
	}
	return func() []ingress.Check {
		checks := ingress.ResourceChecks(svc.Queues())
		for i := range checks {
			checks[i].Name = "worker " + checks[i].Name
		}
		return checks
	}
}

func newGuard(cfg config.Config, nc *nats.Conn, reg prometheus.Registerer, logger *slog.Logger) (*access.Guard, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening JetStream for access control: %w", err)
	}
	var models []string
	for _, k := range cfg.Access.Keys {
		models = append(models, k.Models...)
	}
	for _, r := range cfg.Routes {
		for m := range r.ModelMap {
			models = append(models, m)
		}
		if r.DefaultModel != "" {
			models = append(models, r.DefaultModel)
		}
	}
	for _, u := range cfg.Upstreams {
		for m := range u.ModelMap {
			models = append(models, m)
		}
	}
	// File storage keeps quota usage across restarts, under bus.store_dir in
	// embedded mode and on the cluster's JetStream otherwise.
	g, err := access.New(cfg.Access, js, access.Options{
		Logger: logger.With("component", "access"), Registerer: reg, Replicas: cfg.Bus.Replicas,
		Storage: jetstream.FileStorage, ModelLabels: models,
	})
	if err != nil {
		return nil, fmt.Errorf("starting access control: %w", err)
	}
	return g, nil
}

func (a *App) startPprof() {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.pprof = &http.Server{Addr: a.cfg.Server.Pprof, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := a.pprof.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Warn("pprof server stopped", "err", err)
		}
	}()
	a.logger.Info("pprof enabled", "addr", a.cfg.Server.Pprof)
}

// Addr is the address the HTTP server listens on.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Registry exposes the process's metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.registry }

// NATSURL is the embedded server's client URL when it listens on TCP.
func (a *App) NATSURL() string {
	if a.embedded == nil {
		return ""
	}
	return bus.ListenURL(a.embedded)
}

// Done reports the HTTP server's end.
func (a *App) Done() <-chan error { return a.serveDone }

// Shutdown stops taking requests, lets those in flight finish within the
// context's deadline, and stops every part in order: HTTP, workers, bus.
// Later calls return the first call's result.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *App) shutdown(ctx context.Context) error {
	var errs []error
	if a.ingress != nil {
		errs = append(errs, a.ingress.Shutdown(ctx))
	}
	if a.ops != nil {
		errs = append(errs, a.ops.Shutdown(ctx))
	}
	if a.workerCancel != nil {
		a.workerCancel()
		errs = append(errs, <-a.workerDone)
	}
	if a.guard != nil {
		errs = append(errs, a.guard.Close())
	}
	if a.pprof != nil {
		errs = append(errs, a.pprof.Close())
	}
	a.closeBus()
	return errors.Join(errs...)
}

func (a *App) closeBus() {
	for _, nc := range a.conns {
		_ = nc.Drain()
	}
	for _, nc := range a.conns {
		for i := 0; i < 100 && !nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		nc.Close()
	}
	if a.embedded != nil {
		a.embedded.Shutdown()
		a.embedded.WaitForShutdown()
	}
}
