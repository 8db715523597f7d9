// Package app assembles the gateway's processes from its parts: the embedded
// or external NATS connection, the ingress, the worker pools, metrics and
// logging. cmd/gateway runs it; end-to-end tests start it in-process.
package app

import (
	"cmp"
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
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
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
	// Listener, when set, replaces the listener on server.host:port
	// (worker.port for a worker process). The App closes it.
	Listener net.Listener
	// Load reads the configuration again, as the process read it at start,
	// for Reload; nil means the process cannot reload.
	Load func() (config.Config, error)
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

	workers      *workers.Service
	workerCancel context.CancelFunc
	workerDone   chan error
	// failed carries the first part that stopped on its own.
	failed chan error

	stopping     atomic.Bool
	shutdownOnce sync.Once
	shutdownErr  error

	// id names the process in reload announcements (reload.go).
	id string
	// reloadMu makes reloads take turns; reloadSub hears other processes'.
	reloadMu  sync.Mutex
	reloadSub *nats.Subscription
}

// Start starts a gateway process and returns once it serves. When it fails,
// whatever it had started is stopped and closed again, opts.Listener
// included, before it returns the error.
func Start(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	a := &App{
		cfg: cfg, opts: opts, registry: prometheus.NewRegistry(),
		listener: opts.Listener, failed: make(chan error, 1), id: nuid.Next(),
	}
	// A fault repeats the same warning on every request: keep a burst of
	// each and count the rest, instead of writing thousands of lines a
	// second.
	a.logger = slog.New(logflood.New(opts.Logger.Handler(), logflood.Config{}, a.registry))
	if d := cfg.Server.StartTimeout.Duration; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := a.start(ctx); err != nil {
		if a.embedded == nil && len(a.conns) > 0 && !a.conns[0].IsConnected() {
			// Otherwise the message names only the JetStream call that timed out.
			err = fmt.Errorf("NATS at %s is not reachable (bus.url): %w", cfg.Redacted().Bus.URL, err)
		}
		a.abort()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (gave up after server.start_timeout, %s)", err, cfg.Server.StartTimeout.Duration)
		}
		return nil, err
	}
	return a, nil
}

// start brings the parts up in order: bus, workers, ingress or ops server.
// It leaves what it started in a for abort to undo.
func (a *App) start(ctx context.Context) error {
	cfg, opts := a.cfg, a.opts
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
	// The ingress and workers of one process hand each other replies
	// directly; other processes' still travel through NATS.
	var loop *bus.Loopback
	if opts.Mode == ModeAll {
		loop = bus.NewLoopback()
	}

	// Only the all-in-one process may run its own NATS server; with
	// bus.mode = "external" it joins the cluster like split processes do.
	if opts.Mode == ModeAll && cfg.Bus.Mode != "external" {
		var err error
		if a.embedded, err = bus.StartEmbedded(cfg.Bus, a.logger); err != nil {
			return fmt.Errorf("starting the embedded NATS server: %w", err)
		}
	}
	connect := func(role string) (*nats.Conn, error) {
		nc, err := bus.Connect(cfg.Bus, bus.ConnOptions{Role: role, Server: a.embedded, Metrics: connMetrics, Logger: a.logger})
		if err != nil {
			return nil, err
		}
		a.conns = append(a.conns, nc)
		return nc, nil
	}
	a.logStartup()

	if opts.Mode == ModeAll || opts.Mode == ModeWorker {
		nc, err := connect("worker")
		if err != nil {
			return err
		}
		if err := a.startWorkers(ctx, nc, queueMetrics, loop); err != nil {
			return err
		}
	}

	if a.listener == nil {
		port := cfg.Server.Port
		if opts.Mode == ModeWorker {
			port = cfg.Worker.Port
		}
		addr := net.JoinHostPort(cfg.Server.Host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			key := "server.port"
			if opts.Mode == ModeWorker {
				key = "worker.port"
			}
			return fmt.Errorf("listening on %s (%s): %w", addr, key, err)
		}
		a.listener = ln
	}

	if opts.Mode == ModeAll || opts.Mode == ModeIngress {
		nc, err := connect("ingress")
		if err != nil {
			return err
		}
		if cfg.Access.Enabled {
			if a.guard, err = newGuard(cfg, nc, a.registry, a.logger); err != nil {
				return err
			}
		}
		a.ingress, err = ingress.New(ctx, cfg, nc, ingress.Options{
			Logger: a.logger, Registerer: a.registry, Gatherer: a.registry,
			QueueMetrics: queueMetrics, Loopback: loop, Guard: a.guard, AccessLog: opts.AccessLog, Version: opts.Version,
			Checks: workerChecks(a.workers),
		})
		if err != nil {
			return fmt.Errorf("starting the ingress: %w", err)
		}
		// Workers answer the ingress's presence probe within a round trip;
		// waiting for them briefly keeps the first requests from meeting
		// "no workers". An upstream nobody serves only delays the start.
		if err := a.ingress.WaitForWorkers(ctx, 2*time.Second); err != nil {
			a.logger.Warn("workers not visible yet", "err", err)
		}
		go a.serve(func() error { return a.ingress.Serve(a.listener) })
	} else {
		a.ops = ingress.NewOpsServer(a.conns[0], a.registry, opts.Version, a.logger, workerChecks(a.workers))
		go a.serve(func() error { return a.ops.Serve(a.listener) })
	}
	if err := a.serveReloads(); err != nil {
		return err
	}
	a.logger.Info("gateway listening", "mode", string(opts.Mode), "addr", a.listener.Addr().String(), "config", cfg.Source)

	if cfg.Server.Pprof != "" {
		a.startPprof()
	}
	return nil
}

// startWorkers runs the worker pools and waits until they have set up their
// queues: a pool that cannot (too many replicas for the cluster, no
// JetStream) fails the start instead of leaving a process that listens but
// never answers.
func (a *App) startWorkers(ctx context.Context, nc *nats.Conn, qm *bus.QueueMetrics, loop *bus.Loopback) error {
	svc, err := workers.New(a.cfg, nc, workers.Options{Logger: a.logger, Registerer: a.registry, QueueMetrics: qm, Loopback: loop})
	if err != nil {
		return fmt.Errorf("preparing the worker pools: %w", err)
	}
	a.workers = svc
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.workerCancel, a.workerDone = cancel, make(chan error, 1)
	go func() {
		err := svc.Run(wctx, a.cfg.Server.ShutdownGrace.Duration)
		if wctx.Err() == nil {
			// Stopped on its own: the process cannot serve without them.
			a.fail(fmt.Errorf("worker pools stopped: %w", err))
		}
		a.workerDone <- err
	}()
	select {
	case <-svc.Ready():
		return nil
	case <-a.failed:
		// Run returned before it was ready; its error is on workerDone.
		err := <-a.workerDone
		a.workerCancel, a.workerDone = nil, nil
		cancel()
		return fmt.Errorf("starting the worker pools: %w", err)
	case <-ctx.Done():
		// Run is still retrying: stop it, and report what kept failing.
		cancel()
		err := <-a.workerDone
		a.workerCancel, a.workerDone = nil, nil
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("starting the worker pools: %w", err)
	}
}

// serve runs an HTTP server and reports its end.
func (a *App) serve(run func() error) {
	err := run()
	if err == nil {
		err = errors.New("the HTTP server stopped")
	}
	a.fail(fmt.Errorf("serving HTTP: %w", err))
}

// fail reports the first part that stopped on its own through Done. Parts
// stopping because Shutdown stops them are not failures.
func (a *App) fail(err error) {
	if a.stopping.Load() {
		return
	}
	select {
	case a.failed <- err:
	default:
	}
}

// abort undoes a start that failed half-way, in the reverse order.
func (a *App) abort() {
	a.stopReloads()
	if a.ingress != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = a.ingress.Shutdown(ctx)
		cancel()
	}
	if a.listener != nil {
		_ = a.listener.Close()
	}
	if a.workerCancel != nil {
		a.workerCancel()
		<-a.workerDone
	}
	if a.guard != nil {
		_ = a.guard.Close()
	}
	a.closeBus()
}

// logStartup says what the process runs: its version, the NATS it uses, the
// routes and upstreams, access control, and which provider keys are missing
// (by variable name; never a value).
func (a *App) logStartup() {
	cfg, mode := a.cfg, a.opts.Mode
	natsAttrs := []any{"version", a.opts.Version, "mode", string(mode), "config", cfg.Source}
	if a.embedded != nil {
		natsAttrs = append(natsAttrs, "nats", "embedded", "nats_listen", bus.ListenURL(a.embedded),
			"nats_monitor", cfg.Bus.Monitor, "store_dir", cfg.Bus.StoreDir)
	} else {
		natsAttrs = append(natsAttrs, "nats", "external", "nats_url", cfg.Redacted().Bus.URL)
	}
	natsAttrs = append(natsAttrs, "replicas", cfg.Bus.Replicas)
	if mode != ModeWorker {
		natsAttrs = append(natsAttrs, "access", cfg.Access.Enabled)
	}
	a.logger.Info("gateway starting", natsAttrs...)
	if mode != ModeWorker {
		for _, r := range cfg.Routes {
			u, ok := a.cfg.Upstream(r.Upstream)
			if !ok {
				a.logger.Info("route", "path", r.Path, "input_format", string(r.InputFormat), "routing", "by model")
				continue
			}
			a.logger.Info("route", "path", r.Path, "input_format", string(r.InputFormat),
				"upstream", r.Upstream, "upstream_format", string(u.Format))
		}
		for _, m := range cfg.Models {
			a.logger.Info("model", "model", cmp.Or(m.Name, m.Pattern), "policy", m.EffectivePolicy(), "targets", len(m.Targets))
		}
	}
	if mode != ModeIngress {
		for _, u := range cfg.Upstreams {
			a.logger.Info("upstream", "upstream", u.Name, "url", u.URL, "format", string(u.Format), "concurrency", u.Concurrency)
			if len(u.Keys) == 0 {
				a.logger.Warn("upstream API key not set; calls go without one", "upstream", u.Name, "env", u.EnvPrefix()+"API_KEY")
			}
		}
	}
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

// Done reports the first part that stopped on its own, the HTTP server or
// the worker pools, while the process was meant to run: the process should
// then shut down and exit with that error.
func (a *App) Done() <-chan error { return a.failed }

// Shutdown stops taking requests, lets those in flight finish within the
// context's deadline, and stops every part in order: HTTP, workers, bus.
// Later calls return the first call's result.
func (a *App) Shutdown(ctx context.Context) error {
	a.stopping.Store(true)
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *App) shutdown(ctx context.Context) error {
	var errs []error
	a.stopReloads()
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

// stopReloads stops hearing reloads and waits for one in progress.
func (a *App) stopReloads() {
	if a.reloadSub != nil {
		_ = a.reloadSub.Unsubscribe()
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
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
