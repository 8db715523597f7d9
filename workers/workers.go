// Package workers runs the pools of goroutines that take requests off the
// bus, convert them to their upstream's format, call the upstream and publish
// the answer back, chunk by chunk, as reply frames.
//
// Each upstream has its own pool with its own concurrency, so a slow provider
// never starves the others. A pool pulls from its upstream's queue only as
// many requests as it has free slots: work goes to whichever worker process
// has capacity, never to a busy one.
package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/tokencount"
	"github.com/aigateway/gateway/workers/respstore"
)

// Options are the dependencies of a Service.
type Options struct {
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	QueueMetrics *bus.QueueMetrics
}

// Service runs one pool per configured upstream in this process.
type Service struct {
	cfg    config.Config
	nc     *nats.Conn
	js     jetstream.JetStream
	id     string
	logger *slog.Logger
	qm     *bus.QueueMetrics
	m      *metrics
	panics prometheus.Counter
	// frameLimit bounds the bytes of one data frame, so that a message of
	// frames stays under the bus's max_payload with room for the head.
	frameLimit int
	outbox     *bus.Outbox
	pools      []*pool
	// keeper keeps the pools' queues on the bus.
	keeper *bus.Keeper
	// tokens estimates count_tokens for upstreams that cannot count.
	tokens *tokencount.Counter
	// listers answer model listings (models.go).
	listers []*modelLister
	// responses keeps stored Responses answers (responses.go); nil when
	// responses.store is off or no route takes Responses requests.
	responses *respstore.Store
	// ready is closed once Run has set up every queue and announced the
	// pools, so a process can tell a failed start from a running service.
	ready chan struct{}
}

// New prepares the worker pools. Nothing runs until Run.
func New(cfg config.Config, nc *nats.Conn, opts Options) (*Service, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening JetStream: %w", err)
	}
	id := nuid.Next()
	outbox, err := bus.NewOutbox(nc, id, cfg.Server.StallTimeout.Duration, cfg.Server.SlowClientTimeout.Duration)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:    cfg,
		nc:     nc,
		js:     js,
		id:     id,
		logger: opts.Logger.With("component", "workers"),
		qm:     opts.QueueMetrics,
		m:      newMetrics(opts.Registerer),
		panics: bus.PanicsCounter(opts.Registerer, "worker"),
		// A head frame is a few KiB at most. Half the credit window at
		// most, too: the ingress renews credit once half the window is
		// used, so a larger piece could wait for credit that never comes.
		frameLimit: min(max(int(nc.MaxPayload())-64<<10, 4<<10), bus.Window/2),
		outbox:     outbox,
		tokens:     tokencount.New(),
		ready:      make(chan struct{}),
	}
	for _, u := range cfg.Upstreams {
		p, err := newPool(s, u)
		if err != nil {
			return nil, errors.Join(err, s.release())
		}
		s.pools = append(s.pools, p)
	}
	queues := make([]bus.Resource, 0, len(s.pools))
	for _, p := range s.pools {
		queues = append(queues, p.queue())
	}
	if cfg.Responses.Store && servesResponses(cfg) {
		// File storage: stored responses outlive a NATS restart.
		s.responses = respstore.New(js, cfg.Responses, respstore.Options{
			Replicas: cfg.Bus.Replicas, Storage: jetstream.FileStorage, Registerer: opts.Registerer,
		})
		queues = append(queues, s.responses.Resource())
	}
	s.keeper = bus.NewKeeper(nc, s.logger, queues...)
	if s.responses != nil {
		s.responses.SetOnMissing(s.keeper.Kick)
	}
	return s, nil
}

// Queues reports the state of the pools' queues, for health checks.
func (s *Service) Queues() []bus.ResourceState { return s.keeper.States() }

// Run serves requests until ctx ends. Then it stops taking work, lets the
// requests in flight finish within grace, cancels what is left and returns.
func (s *Service) Run(ctx context.Context, grace time.Duration) error {
	for _, p := range s.pools {
		if err := p.setup(); err != nil {
			s.closePullers()
			return errors.Join(err, s.release())
		}
	}
	// A queue that cannot be created is logged and reported by the Keeper
	// at once; the pools keep running at zero capacity, and start serving
	// as soon as the bus lets the Keeper create it.
	s.keeper.Sync(ctx)
	// Requests run under their own context so that they outlive ctx by the
	// grace period.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	if err := s.serveModels(); err != nil {
		s.closePullers()
		return errors.Join(err, s.release())
	}
	defer s.stopModels()
	announce, stopAnnouncing := context.WithCancel(context.Background())
	if err := bus.Announce(announce, s.nc, s.presence); err != nil {
		stopAnnouncing()
		s.closePullers()
		return errors.Join(err, s.release())
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.keeper.Run(ctx) })
	for _, p := range s.pools {
		wg.Go(func() { p.fetchLoop(ctx, work) })
		wg.Go(func() { p.runner.sweepUntil(ctx) })
	}
	s.logger.Info("workers started", "worker_id", s.id, "upstreams", len(s.pools))
	close(s.ready)
	<-ctx.Done()
	stopAnnouncing()
	s.stopModels()
	wg.Wait() // no more fetching
	s.closePullers()

	drained := make(chan struct{})
	go func() {
		for _, p := range s.pools {
			p.inflight.Wait()
		}
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(grace):
		s.logger.Warn("grace period over, cancelling requests in flight")
		cancelWork()
		<-drained
	}
	return s.release()
}

// Ready is closed once Run has set up the queues and serves requests. A
// Run that fails before that returns its error instead.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// closePullers ends the pools' queue subscriptions: JetStream delivers
// nothing more to a pull nobody listens to.
func (s *Service) closePullers() {
	for _, p := range s.pools {
		if p.puller == nil {
			continue
		}
		if err := p.puller.Close(); err != nil {
			s.logger.Warn("closing a queue subscription", "upstream", p.upstream.Name, "err", err)
		}
	}
}

// release frees what the pools and the outbox hold, once no request runs.
func (s *Service) release() error {
	for _, p := range s.pools {
		p.runner.stop()
		p.client.close()
	}
	return s.outbox.Close()
}

func (s *Service) presence() bus.Presence {
	p := bus.Presence{Worker: s.id, Upstreams: make(map[string]bus.PoolState, len(s.pools))}
	for _, pl := range s.pools {
		p.Upstreams[pl.upstream.Name] = bus.PoolState{Capacity: pl.capacityNow(), Busy: pl.busyCount()}
	}
	return p
}

// isCancellation reports whether err only says that the work was called off.
func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, bus.ErrCancelled)
}
