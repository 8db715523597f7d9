package workers

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
)

// ErrNotRunning is returned by Reconfigure before Run serves or after it
// stopped.
var ErrNotRunning = errors.New("workers: not running")

// poolSpec is what a pool is built from; a pool whose spec did not change
// is kept as it is by a reconfiguration.
type poolSpec struct {
	upstream config.Upstream
	routes   []config.Route
}

func specOf(u config.Upstream, cfg config.Config) poolSpec {
	s := poolSpec{upstream: u}
	for _, r := range cfg.Routes {
		if r.Upstream == u.Name {
			s.routes = append(s.routes, r)
		}
	}
	return s
}

// Reconfigure applies a new configuration's upstreams and routes: a new
// upstream gets a pool (and its queue), a removed one's pool stops, and a
// changed one (URL, keys, concurrency, timeouts, its routes) is replaced by a
// pool built from the new settings. Calls in flight finish on the pool that
// started them, with its settings; new requests go to the new pool. Settings
// of [server] and [bus] are the process's and stay as they were started.
func (s *Service) Reconfigure(ctx context.Context, cfg config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil || s.runCtx.Err() != nil {
		return ErrNotRunning
	}
	old := make(map[string]*pool, len(s.pools))
	for _, p := range s.pools {
		old[p.upstream.Name] = p
	}
	var next, started, retired []*pool
	for _, u := range cfg.Upstreams {
		spec := specOf(u, cfg)
		if p, ok := old[u.Name]; ok && reflect.DeepEqual(p.spec, spec) {
			next = append(next, p)
			delete(old, u.Name)
			continue
		}
		p, err := newPool(s, u, cfg)
		if err == nil {
			err = p.setup()
		}
		if err == nil {
			err = p.serveModels()
		}
		if err == nil {
			// A new queue must exist before the pool pulls from it, and an
			// old one's size or time-out may have changed.
			_, err = bus.EnsureQueue(ctx, s.js, p.queueConfig())
		}
		if err != nil {
			for _, p := range append(started, p) {
				p.stopModels()
				p.closePuller()
				p.release()
			}
			return fmt.Errorf("upstream %s: %w", u.Name, err)
		}
		started = append(started, p)
		next = append(next, p)
	}
	for _, p := range s.pools {
		if !contains(next, p) {
			retired = append(retired, p)
		}
	}
	queues := make([]bus.Resource, 0, len(next))
	for _, p := range next {
		queues = append(queues, p.queue())
	}
	if s.responses != nil {
		queues = append(queues, s.responses.Resource())
	}
	s.pools = next
	// The new pools serve once the Keeper has seen their queues.
	s.keeper.Replace(queues...)
	for _, p := range started {
		p.startLoops(s.runCtx, s.work)
	}
	for _, p := range retired {
		s.retire(p)
	}
	s.logger.Info("worker pools reconfigured", "upstreams", len(next), "started", len(started), "retired", len(retired))
	return nil
}

// retire stops a pool taking requests once its pull in progress is over,
// and frees it once its calls are done.
func (s *Service) retire(p *pool) {
	close(p.retired)
	s.retiring.Go(func() {
		p.stopModels()
		p.fetching.Wait()
		p.stopLoops()
		p.loops.Wait()
		p.closePuller()
		p.inflight.Wait()
		p.release()
		if _, still := s.pool(p.upstream.Name); !still {
			p.capacity.Set(0)
		}
	})
}

// pool returns the pool serving upstream now.
func (s *Service) pool(upstream string) (*pool, bool) {
	for _, p := range s.currentPools() {
		if p.upstream.Name == upstream {
			return p, true
		}
	}
	return nil, false
}

func contains(pools []*pool, p *pool) bool {
	for _, q := range pools {
		if q == p {
			return true
		}
	}
	return false
}
