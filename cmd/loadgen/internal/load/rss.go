package load

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// ErrNoVmRSS is returned when a /proc status file has no usable VmRSS line,
// as for a kernel thread or a zombie.
var ErrNoVmRSS = errors.New("load: no VmRSS in process status")

// RSS is the resident memory of a process around a run, in KiB.
type RSS struct {
	PID      int   `json:"pid"`
	BeforeKB int64 `json:"before_kb"`
	MaxKB    int64 `json:"max_kb"`
	AfterKB  int64 `json:"after_kb"`
	// Samples is the number of readings taken, the first and last included.
	Samples int `json:"samples"`
	// Error is set when the process could not be read any more, e.g.
	// because it exited during the run.
	Error string `json:"error,omitempty"`
}

// merge combines readings of consecutive runs: the first run's "before",
// the highest peak, the last run's "after". Either side may be nil.
func (r *RSS) merge(o *RSS) *RSS {
	switch {
	case o == nil:
		return r
	case r == nil:
		c := *o
		return &c
	}
	m := *r
	m.MaxKB = max(m.MaxKB, o.MaxKB)
	m.AfterKB = o.AfterKB
	m.Samples += o.Samples
	if m.Error == "" {
		m.Error = o.Error
	}
	return &m
}

// parseVmRSS returns the VmRSS value, in KiB, of a /proc/PID/status file.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("%w: malformed line %q", ErrNoVmRSS, bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("%w: malformed value %q", ErrNoVmRSS, fields[0])
		}
		return kb, nil
	}
	return 0, ErrNoVmRSS
}

// readVmRSS reads the resident memory of pid, in KiB.
func readVmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("load: read memory of pid %d: %w", pid, err)
	}
	kb, err := parseVmRSS(b)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return kb, nil
}

// rssSampler reads a process's memory periodically in its own goroutine,
// owned by the run that started it and ended by stop.
type rssSampler struct {
	pid  int
	quit chan struct{}
	wg   sync.WaitGroup

	mu  sync.Mutex
	rss RSS
}

// startRSSSampler takes the "before" reading, failing if the process cannot
// be read, and keeps sampling the peak every interval.
func startRSSSampler(pid int, interval time.Duration) (*rssSampler, error) {
	kb, err := readVmRSS(pid)
	if err != nil {
		return nil, err
	}
	s := &rssSampler{
		pid:  pid,
		quit: make(chan struct{}),
		rss:  RSS{PID: pid, BeforeKB: kb, MaxKB: kb, Samples: 1},
	}
	s.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				s.sample()
			}
		}
	})
	return s, nil
}

// sample takes one reading and returns it, or -1 when it failed.
func (s *rssSampler) sample() int64 {
	kb, err := readVmRSS(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.rss.Error == "" {
			s.rss.Error = err.Error()
		}
		return -1
	}
	s.rss.Samples++
	s.rss.MaxKB = max(s.rss.MaxKB, kb)
	return kb
}

// stop ends sampling, takes the "after" reading and returns the figures.
func (s *rssSampler) stop() *RSS {
	close(s.quit)
	s.wg.Wait()
	after := s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rss
	r.AfterKB = max(after, 0)
	return &r
}
