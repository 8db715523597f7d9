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
	// Loopback, when set, is shared with the ingress of this process, to
	// which replies then go without NATS.
	Loopback *bus.Loopback
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
	// keyMetrics is gateway_upstream_keys, of every pool's keys.
	keyMetrics *keyMetrics
	// frameLimit bounds the bytes of one data frame, so that a message of
	// frames stays under the bus's max_payload with room for the head.
	frameLimit int
	outbox     *bus.Outbox
	// loop, when set, is shared with the ingress of this process.
	loop *bus.Loopback

	// mu guards pools and the run state a reconfiguration needs.
	mu    sync.Mutex
	pools []*pool
	// runCtx and work are Run's contexts, set while it serves.
	runCtx, work context.Context
	// retiring counts the pools a reconfiguration replaced that still
	// finish their calls.
	retiring sync.WaitGroup
	// keeper keeps the pools' queues on the bus.
	keeper *bus.Keeper
	// tokens estimates count_tokens for upstreams that cannot count.
	tokens *tokencount.Counter
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
	if opts.Loopback != nil {
		outbox.UseLoopback(opts.Loopback)
	}
	s := &Service{
		cfg:        cfg,
		nc:         nc,
		js:         js,
		id:         id,
		logger:     opts.Logger.With("component", "workers"),
		qm:         opts.QueueMetrics,
		m:          newMetrics(opts.Registerer),
		panics:     bus.PanicsCounter(opts.Registerer, "worker"),
		keyMetrics: newKeyMetrics(opts.Registerer),
		// A head frame is a few KiB at most. Half the credit window at
		// most, too: the ingress renews credit once half the window is
		// used, so a larger piece could wait for credit that never comes.
		frameLimit: min(max(int(nc.MaxPayload())-64<<10, 4<<10), bus.Window/2),
		outbox:     outbox,
		loop:       opts.Loopback,
		tokens:     tokencount.New(),
		ready:      make(chan struct{}),
	}
	for _, u := range cfg.Upstreams {
		p, err := newPool(s, u, cfg)
		if err != nil {
			return nil, errors.Join(err, s.release(s.pools))
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
	pools := s.currentPools()
	for _, p := range pools {
		if err := p.setup(); err != nil {
			s.closePullers(pools)
			return errors.Join(err, s.release(pools))
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
	for _, p := range pools {
		if err := p.serveModels(); err != nil {
			for _, p := range pools {
				p.stopModels()
			}
			s.closePullers(pools)
			return errors.Join(err, s.release(pools))
		}
	}
	announce, stopAnnouncing := context.WithCancel(context.Background())
	if err := bus.Announce(announce, s.nc, s.presence); err != nil {
		stopAnnouncing()
		for _, p := range pools {
			p.stopModels()
		}
		s.closePullers(pools)
		return errors.Join(err, s.release(pools))
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.keeper.Run(ctx) })
	s.mu.Lock()
	s.runCtx, s.work = ctx, work
	for _, p := range s.pools {
		p.startLoops(ctx, work)
	}
	s.mu.Unlock()
	s.logger.Info("workers started", "worker_id", s.id, "upstreams", len(pools))
	close(s.ready)
	<-ctx.Done()
	stopAnnouncing()
	s.mu.Lock()
	s.runCtx = nil // no more reconfiguration
	pools = s.pools
	s.mu.Unlock()
	for _, p := range pools {
		p.stopModels()
		p.loops.Wait() // no more fetching
	}
	wg.Wait()
	s.closePullers(pools)

	drained := make(chan struct{})
	go func() {
		for _, p := range pools {
			p.inflight.Wait()
		}
		// Pools a reconfiguration retired finish on their own.
		s.retiring.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(grace):
		s.logger.Warn("grace period over, cancelling requests in flight")
		cancelWork()
		<-drained
	}
	return s.release(pools)
}

// currentPools returns the pools serving now.
func (s *Service) currentPools() []*pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pools
}

// Ready is closed once Run has set up the queues and serves requests. A
// Run that fails before that returns its error instead.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// closePullers ends the pools' queue subscriptions: JetStream delivers
// nothing more to a pull nobody listens to.
func (s *Service) closePullers(pools []*pool) {
	for _, p := range pools {
		p.closePuller()
	}
}

// release frees what the pools and the outbox hold, once no request runs.
func (s *Service) release(pools []*pool) error {
	for _, p := range pools {
		p.release()
	}
	return s.outbox.Close()
}

func (s *Service) presence() bus.Presence {
	pools := s.currentPools()
	p := bus.Presence{Worker: s.id, Envelope: bus.EnvelopeVersion, Upstreams: make(map[string]bus.PoolState, len(pools))}
	for _, pl := range pools {
		p.Upstreams[pl.upstream.Name] = bus.PoolState{Capacity: pl.capacityNow(), Busy: pl.busyCount()}
	}
	return p
}

// isCancellation reports whether err only says that the work was called off.
func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, bus.ErrCancelled)
}
