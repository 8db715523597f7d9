package workers

import (
	"context"
	"sync"
	"sync/atomic"
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
//
// The most recently idled goroutine waits in hot, which is taken and
// filled without a lock: under a steady load a request's hand-over and its
// goroutine's return cost an atomic swap each. Only the goroutines behind it
// wait in idle, under mu.
//
// A slot is owned by whoever took it out of hot or idle, or by its own
// goroutine while it runs a job, so only its owner reads or writes it.
type runner struct {
	hot     atomic.Pointer[runnerSlot]
	stopped atomic.Bool // set under mu

	mu      sync.Mutex
	idle    []*runnerSlot // oldest first
	running sync.WaitGroup
}

type runnerSlot struct {
	jobs     chan func() // holds at most the one job handed over
	lastUsed time.Time
}

// run starts job on an idle goroutine or a new one.
func (r *runner) run(job func()) {
	if s := r.hot.Swap(nil); s != nil {
		s.jobs <- job
		return
	}
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
		if !r.park(s) {
			return
		}
	}
}

// park makes s, whose job is done, the most recently idled goroutine, and
// reports whether it is to wait for another job: false once the runner
// stopped. A goroutine that is parked after all ends when its channel is
// closed.
func (r *runner) park(s *runnerSlot) bool {
	if r.stopped.Load() {
		return false
	}
	s.lastUsed = time.Now()
	if older := r.hot.Swap(s); older != nil {
		r.mu.Lock()
		if r.stopped.Load() {
			close(older.jobs)
		} else {
			r.idle = append(r.idle, older)
		}
		r.mu.Unlock()
	}
	// stop may have emptied hot before s went in, and not seen it: s ends
	// on its own unless another goroutine took it out of hot meanwhile, who
	// then closes it (stop, or park with stopped set) or hands it a job.
	if r.stopped.Load() && r.hot.CompareAndSwap(s, nil) {
		return false
	}
	return true
}

// sweep ends the goroutines idle since before cutoff.
func (r *runner) sweep(cutoff time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The hot goroutine joins the others, in order of last use, so that one
	// idle long is swept like them; after stop, one parked late ends.
	if s := r.hot.Swap(nil); s != nil && r.stopped.Load() {
		close(s.jobs)
	} else if s != nil {
		i := len(r.idle)
		for i > 0 && r.idle[i-1].lastUsed.After(s.lastUsed) {
			i--
		}
		r.idle = append(r.idle, nil)
		copy(r.idle[i+1:], r.idle[i:])
		r.idle[i] = s
	}
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
	r.stopped.Store(true)
	if s := r.hot.Swap(nil); s != nil {
		close(s.jobs)
	}
	for _, s := range r.idle {
		close(s.jobs)
	}
	r.idle = nil
	r.mu.Unlock()
	r.running.Wait()
}
