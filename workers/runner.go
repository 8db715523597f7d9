package workers

import (
	"context"
	"sync"
	"time"
)

// runnerIdle is how long a goroutine waits for another request before it
// ends.
const runnerIdle = 10 * time.Second

// runner runs each request on a goroutine left idle by an earlier request
// when there is one. Such a goroutine keeps the stack it grew, where a new
// goroutine per request grows and copies its stack afresh on every upstream
// call. Idle goroutines are reused most recent first, so that the few a
// steady load needs stay warm while the rest of a burst's goroutines age
// and end.
type runner struct {
	mu      sync.Mutex
	idle    []*runnerSlot // oldest first
	stopped bool
	running sync.WaitGroup
}

type runnerSlot struct {
	jobs     chan func() // holds at most the one job handed over
	lastUsed time.Time
}

// run starts job on an idle goroutine or a new one.
func (r *runner) run(job func()) {
	r.mu.Lock()
	if n := len(r.idle); n > 0 {
		s := r.idle[n-1]
		r.idle[n-1] = nil
		r.idle = r.idle[:n-1]
		r.mu.Unlock()
		s.jobs <- job
		return
	}
	r.mu.Unlock()
	s := &runnerSlot{jobs: make(chan func(), 1)}
	s.jobs <- job
	r.running.Add(1)
	go r.serve(s)
}

func (r *runner) serve(s *runnerSlot) {
	defer r.running.Done()
	for job := range s.jobs {
		job()
		r.mu.Lock()
		if r.stopped {
			r.mu.Unlock()
			return
		}
		s.lastUsed = time.Now()
		r.idle = append(r.idle, s)
		r.mu.Unlock()
	}
}

// sweep ends the goroutines idle since before cutoff.
func (r *runner) sweep(cutoff time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(r.idle) && r.idle[n].lastUsed.Before(cutoff) {
		close(r.idle[n].jobs)
		r.idle[n] = nil
		n++
	}
	r.idle = append(r.idle[:0], r.idle[n:]...)
}

// sweepUntil ends idle goroutines periodically until ctx ends.
func (r *runner) sweepUntil(ctx context.Context) {
	ticker := time.NewTicker(runnerIdle / 2)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			r.sweep(now.Add(-runnerIdle))
		}
	}
}

// stop ends the idle goroutines, and the busy ones once their job is done,
// and waits for them. No job may be started after stop.
func (r *runner) stop() {
	r.mu.Lock()
	r.stopped = true
	for _, s := range r.idle {
		close(s.jobs)
	}
	r.idle = nil
	r.mu.Unlock()
	r.running.Wait()
}
