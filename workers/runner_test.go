package workers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// idleCount is the number of goroutines waiting for a job.
func (r *runner) idleCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.idle)
	if r.hot.Load() != nil {
		n++
	}
	return n
}

func waitIdle(t *testing.T, r *runner, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.idleCount() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle goroutines, want %d", r.idleCount(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunnerReusesIdleGoroutines(t *testing.T) {
	var r runner
	defer r.stop()

	// Three jobs at once need three goroutines.
	release := make(chan struct{})
	var started sync.WaitGroup
	for range 3 {
		started.Add(1)
		r.run(func() {
			started.Done()
			<-release
		})
	}
	started.Wait()
	close(release)
	waitIdle(t, &r, 3)

	// One job at a time afterwards runs on the most recently idle one and
	// leaves the other two idle: no new goroutine is started.
	for range 5 {
		done := make(chan struct{})
		r.run(func() { close(done) })
		<-done
		waitIdle(t, &r, 3)
	}
}

func TestRunnerSweepEndsLongIdleGoroutines(t *testing.T) {
	var r runner
	defer r.stop()
	done := make(chan struct{})
	r.run(func() { close(done) })
	<-done
	waitIdle(t, &r, 1)

	r.sweep(time.Now().Add(-time.Hour))
	if n := r.idleCount(); n != 1 {
		t.Fatalf("a recent goroutine was swept: %d idle", n)
	}
	r.sweep(time.Now().Add(time.Second))
	if n := r.idleCount(); n != 0 {
		t.Fatalf("%d idle after the sweep, want 0", n)
	}
	// A new job still runs, on a new goroutine.
	again := make(chan struct{})
	r.run(func() { close(again) })
	<-again
}

func TestRunnerStopWaitsForBusyGoroutines(t *testing.T) {
	var r runner
	release := make(chan struct{})
	finished := make(chan struct{})
	r.run(func() {
		<-release
		close(finished)
	})
	stopped := make(chan struct{})
	go func() {
		r.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("stop returned while a job was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-stopped
	select {
	case <-finished:
	default:
		t.Fatal("the job did not finish")
	}
}

// TestRunnerUnderConcurrentLoad hands jobs over from several goroutines at
// once while idle goroutines are swept, then stops: every job runs once,
// and stop returns with no goroutine left behind (run it with -race).
func TestRunnerUnderConcurrentLoad(t *testing.T) {
	var r runner
	var ran atomic.Int64
	var submitters sync.WaitGroup
	const senders, jobs = 8, 500
	sweeping := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-sweeping:
				return
			default:
				// A cutoff in the future ends every idle goroutine.
				r.sweep(time.Now().Add(time.Hour))
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	for range senders {
		submitters.Go(func() {
			for range jobs {
				done := make(chan struct{})
				r.run(func() {
					ran.Add(1)
					close(done)
				})
				<-done
			}
		})
	}
	submitters.Wait()
	close(sweeping)
	<-swept
	r.stop()
	if n := ran.Load(); n != senders*jobs {
		t.Fatalf("%d jobs ran, want %d", n, senders*jobs)
	}
	if n := r.idleCount(); n != 0 {
		t.Fatalf("%d goroutines idle after stop", n)
	}
}

// TestRunnerStopRacingReturns stops the runner while goroutines are
// returning from their jobs: stop waits for all of them, whichever way
// each goes idle, and returns.
func TestRunnerStopRacingReturns(t *testing.T) {
	for range 200 {
		var r runner
		release := make(chan struct{})
		var started sync.WaitGroup
		for range 4 {
			started.Add(1)
			r.run(func() {
				started.Done()
				<-release
			})
		}
		started.Wait()
		stopped := make(chan struct{})
		go func() {
			r.stop()
			close(stopped)
		}()
		close(release)
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("stop did not return")
		}
	}
}
