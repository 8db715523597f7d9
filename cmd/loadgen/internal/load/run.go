package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Transport error kinds, the keys of Report.ErrorsByKind.
const (
	KindTimeout     = "timeout"
	KindRefused     = "refused"
	KindReset       = "reset"
	KindEOF         = "eof"
	KindNoFreeConns = "no_free_conns"
	KindOther       = "other"
)

// collector gathers the figures of one run. Counters are atomics and the
// histograms are shared, so workers never wait on each other to record.
type collector struct {
	latency histogram // whole request, in ns, successful requests only
	refused histogram // whole request, in ns, answers with an error status
	ttfb    histogram // first event of a stream, in ns
	gap     histogram // between consecutive events of a stream, in ns
	events  histogram // events per streamed response

	sent       atomic.Int64
	requests   atomic.Int64
	ok         atomic.Int64
	incomplete atomic.Int64
	bytes      atomic.Int64
	dropped    atomic.Int64
	late       atomic.Int64

	mu       sync.Mutex
	byStatus map[int]int64
	byKind   map[string]int64
}

func newCollector() *collector {
	return &collector{byStatus: make(map[int]int64), byKind: make(map[string]int64)}
}

func (c *collector) countStatus(status int) {
	c.mu.Lock()
	c.byStatus[status]++
	c.mu.Unlock()
}

func (c *collector) countKind(kind string) {
	c.mu.Lock()
	c.byKind[kind]++
	c.mu.Unlock()
}

// errorKind sorts a transport error into one of the Kind* names.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, fasthttp.ErrConnectionClosed):
		return KindEOF
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return KindNoFreeConns
	}
	return KindOther
}

// runner is one run against one target.
type runner struct {
	cfg    Config
	client client
	col    *collector
	marker string

	measureFrom time.Time // end of warmup
	stopAt      time.Time // end of the run

	// inFlight counts requests handed to the workers and not yet finished
	// (rate mode).
	inFlight atomic.Int64

	stopOnce sync.Once
	stopCh   chan struct{}
	stopped  atomic.Bool
	// endedAt is when the run stopped, in UnixNano; before stopAt when the
	// caller cancelled.
	endedAt atomic.Int64
}

func (r *runner) stop(now time.Time) {
	r.stopOnce.Do(func() {
		r.endedAt.Store(now.UnixNano())
		r.stopped.Store(true)
		close(r.stopCh)
	})
}

// measuring reports whether something that happened at t is inside the
// measured window.
func (r *runner) measuring(t time.Time) bool {
	return !t.Before(r.measureFrom) && t.Before(r.stopAt) && !r.stopped.Load()
}

// Run sends load to cfg.URL for cfg.Warmup+cfg.Duration and reports what it
// measured after the warmup. It always returns by itself shortly after
// that time; cancelling ctx ends it early with the figures gathered so far
// and ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	col, window, proc, err := runOnce(ctx, cfg, cfg.URL, cfg.RSSPid)
	rep := buildReport(cfg, cfg.URL, col.snapshot(), window)
	rep.RSS, rep.CPU = proc.rss, proc.cpu
	rep.spreadCPU()
	return rep, err
}

// processFigures is what a run measured of the process named by RSSPid.
type processFigures struct {
	rss *RSS
	cpu *CPU
}

// runOnce runs against target and returns the raw figures and the length of
// the measured window, and, when pid is above zero, that process's memory
// and the CPU time it used in the window.
func runOnce(ctx context.Context, cfg Config, target string, pid int) (*collector, time.Duration, processFigures, error) {
	var proc processFigures
	col := newCollector()
	body, err := cfg.requestBody()
	if err != nil {
		return col, 0, proc, err
	}
	cl, err := newClient(cfg, target, body)
	if err != nil {
		return col, 0, proc, err
	}
	defer cl.close()

	var (
		sampler  *rssSampler
		cpuStart = make(chan time.Duration, 1)
	)
	if pid > 0 {
		sampler, err = startRSSSampler(pid, cfg.RSSInterval)
		if err != nil {
			return col, 0, proc, err
		}
	}

	start := time.Now()
	r := &runner{
		cfg:         cfg,
		client:      cl,
		col:         col,
		marker:      cfg.streamMarker(),
		measureFrom: start.Add(cfg.Warmup),
		stopAt:      start.Add(cfg.Warmup + cfg.Duration),
		stopCh:      make(chan struct{}),
	}
	timer := time.AfterFunc(time.Until(r.stopAt), func() { r.stop(r.stopAt) })
	defer timer.Stop()
	if pid > 0 {
		// The CPU count starts with the measured window, so that warm-up
		// (connections, caches, goroutine stacks) is left out.
		cpuTimer := time.AfterFunc(time.Until(r.measureFrom), func() {
			d, err := readCPUTime(pid)
			if err != nil {
				d = -1
			}
			cpuStart <- d
		})
		defer cpuTimer.Stop()
	}

	var wg sync.WaitGroup
	if cfg.Rate > 0 {
		// Buffered to the cap: the scheduler hands over only while fewer
		// than Concurrency requests are queued or running, so a send never
		// blocks, and a worker briefly between two requests does not make
		// a request look dropped.
		jobs := make(chan time.Time, cfg.Concurrency)
		for range cfg.Concurrency {
			wg.Go(func() { r.newWorker().serve(ctx, jobs) })
		}
		wg.Go(func() { r.schedule(ctx, jobs, start) })
	} else {
		for range cfg.Concurrency {
			wg.Go(func() { r.newWorker().loop(ctx) })
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.stop(time.Now())
		// fasthttp cannot cancel a request: cut its connections instead.
		cl.abort()
		<-done
	}
	r.stop(time.Now())

	ended := time.Unix(0, r.endedAt.Load())
	window := max(ended.Sub(r.measureFrom), 0)
	if sampler != nil {
		proc.cpu = windowCPU(pid, cpuStart)
		proc.rss = sampler.stop()
	}
	if err := ctx.Err(); err != nil {
		return col, window, proc, fmt.Errorf("load: run interrupted: %w", err)
	}
	return col, window, proc, nil
}

// schedule issues requests at the configured rate until the run stops. A
// request is handed to the workers or, when Concurrency requests are already
// in flight, counted as dropped: the schedule never waits for the server,
// which is what makes the model open.
func (r *runner) schedule(ctx context.Context, jobs chan<- time.Time, start time.Time) {
	defer close(jobs)
	perRequest := float64(time.Second) / r.cfg.Rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		// Each time is computed from the start, not from the previous one, so
		// rounding never accumulates into drift.
		due := start.Add(time.Duration(float64(i) * perRequest))
		if !due.Before(r.stopAt) {
			return
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-r.stopCh:
				return
			case <-ctx.Done():
				return
			}
		}
		// Only this goroutine adds to inFlight, so checking then adding is
		// not a race; workers only take away.
		if r.inFlight.Load() >= int64(r.cfg.Concurrency) {
			if !due.Before(r.measureFrom) {
				r.col.dropped.Add(1)
			}
			continue
		}
		r.inFlight.Add(1)
		jobs <- due
	}
}

// worker sends one request at a time, reusing its session and buffer.
type worker struct {
	r    *runner
	sess session
	buf  []byte
	scan eventScanner
}

func (r *runner) newWorker() *worker {
	return &worker{r: r, sess: r.client.newSession(), buf: make([]byte, 16<<10)}
}

// loop sends back to back until the run stops (fixed concurrency).
func (w *worker) loop(ctx context.Context) {
	for {
		select {
		case <-w.r.stopCh:
			return
		default:
		}
		if !w.once(ctx, time.Time{}) {
			return
		}
	}
}

// serve sends one request per scheduled job (constant rate).
func (w *worker) serve(ctx context.Context, jobs <-chan time.Time) {
	for due := range jobs {
		w.once(ctx, due)
		w.r.inFlight.Add(-1)
	}
}

// outcome is how one request ended.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeStatus
	outcomeIncomplete
	outcomeTransport
)

// once sends one request, reads the whole answer and records it when it
// finished inside the measured window. due is the scheduled time in rate
// mode, zero otherwise. It returns false, without sending, once the run is
// over.
func (w *worker) once(ctx context.Context, due time.Time) bool {
	r := w.r
	begin := time.Now()
	if r.stopped.Load() || !begin.Before(r.stopAt) {
		return false
	}
	if due.IsZero() {
		due = begin
	}
	if !due.Before(r.measureFrom) {
		r.col.sent.Add(1)
		if begin.Sub(due) > r.cfg.LateAfter && r.cfg.Rate > 0 {
			r.col.late.Add(1)
		}
	}
	deadline := begin.Add(r.cfg.Timeout)
	if deadline.After(r.stopAt) {
		deadline = r.stopAt
	}
	resp, err := w.sess.do(ctx, deadline)
	var (
		out    outcome
		kind   string
		nbytes int64
		events int
	)
	switch {
	case err != nil:
		out, kind = outcomeTransport, errorKind(err)
	case resp.status < 200 || resp.status > 299:
		out = outcomeStatus
		nbytes, _, _ = w.drain(resp)
	case r.cfg.Stream:
		var done bool
		nbytes, events, done, err = w.readStream(resp, begin)
		switch {
		case done && resp.eventStream:
			out = outcomeOK
		case err != nil:
			out, kind = outcomeTransport, errorKind(err)
		default:
			out = outcomeIncomplete
		}
	default:
		var last byte
		nbytes, last, err = w.drain(resp)
		switch {
		case err != nil:
			out, kind = outcomeTransport, errorKind(err)
		case nbytes == 0 || last != '}':
			out = outcomeIncomplete
		}
	}
	w.sess.release()
	end := time.Now()
	if !r.measuring(end) {
		return true
	}
	c := r.col
	c.requests.Add(1)
	c.bytes.Add(nbytes)
	if r.cfg.Stream && err == nil && resp.status >= 200 && resp.status <= 299 {
		c.events.record(uint64(events))
	}
	switch out {
	case outcomeOK:
		c.ok.Add(1)
		c.latency.record(uint64(end.Sub(begin)))
	case outcomeStatus:
		c.countStatus(resp.status)
		c.refused.record(uint64(end.Sub(begin)))
	case outcomeIncomplete:
		c.incomplete.Add(1)
	case outcomeTransport:
		c.countKind(kind)
	}
	return true
}

// drain reads a body to its end and returns its length and last byte that
// is not white space, which is enough to tell a whole JSON object from a
// cut one without parsing it.
func (w *worker) drain(resp response) (n int64, last byte, err error) {
	if resp.stream == nil {
		return int64(len(resp.body)), lastNonSpace(resp.body, 0), nil
	}
	for {
		k, rerr := resp.stream.Read(w.buf)
		n += int64(k)
		last = lastNonSpace(w.buf[:k], last)
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return n, last, nil
			}
			return n, last, rerr
		}
	}
}

func lastNonSpace(b []byte, prev byte) byte {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return b[i]
		}
	}
	return prev
}

// readStream reads a server-sent-events body as it arrives, timing the
// first event and the gaps between events. It reports whether the closing
// event was seen.
func (w *worker) readStream(resp response, begin time.Time) (n int64, events int, done bool, err error) {
	r := w.r
	w.scan.reset(r.marker)
	var last time.Time
	seen := func(k int) {
		if k == 0 {
			return
		}
		now := time.Now()
		if !r.measuring(now) {
			last = now
			return
		}
		if last.IsZero() {
			r.col.ttfb.record(uint64(now.Sub(begin)))
		} else {
			r.col.gap.record(uint64(now.Sub(last)))
		}
		// Events that arrived in the same read arrived together.
		for range k - 1 {
			r.col.gap.record(0)
		}
		last = now
	}
	if resp.stream == nil {
		seen(w.scan.feed(resp.body))
		seen(w.scan.finish())
		return int64(len(resp.body)), w.scan.events, w.scan.done, nil
	}
	for {
		k, rerr := resp.stream.Read(w.buf)
		n += int64(k)
		seen(w.scan.feed(w.buf[:k]))
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				seen(w.scan.finish())
				return n, w.scan.events, w.scan.done, nil
			}
			return n, w.scan.events, w.scan.done, rerr
		}
	}
}

// statusKey is the JSON key of a status code.
func statusKey(status int) string { return strconv.Itoa(status) }
