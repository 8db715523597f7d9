package load

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ). It is
// 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// CPU is the processor time a process spent during the measured window of a
// run (warm-up excluded), and what that comes to per answer and per event.
type CPU struct {
	PID int `json:"pid"`
	// Ms is user plus system time, in milliseconds, at a resolution of 10 ms.
	Ms float64 `json:"ms"`
	// PerRequestUs is Ms over the requests that finished in the window, in
	// microseconds.
	PerRequestUs float64 `json:"per_request_us"`
	// PerEventUs is Ms over the stream events received in the window, in
	// microseconds; 0 for JSON answers. Per-request work (routing, queueing,
	// the upstream call) is spread over the events of each stream.
	PerEventUs float64 `json:"per_event_us,omitempty"`
	// Error is set when the process could not be read.
	Error string `json:"error,omitempty"`
}

// parseCPUTime returns utime+stime of a /proc/PID/stat line. The command
// name, in parentheses, may itself hold spaces and parentheses, so fields
// are counted from the last ')'.
func parseCPUTime(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("load: malformed process stat %q", stat)
	}
	// After ") " come the fields from the 3rd (state) on; utime and stime
	// are the 14th and 15th.
	fields := bytes.Fields(stat[i+1:])
	const utime = 14 - 3
	if len(fields) <= utime+1 {
		return 0, fmt.Errorf("load: process stat has %d fields after the name", len(fields))
	}
	var ticks int64
	for _, f := range fields[utime : utime+2] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("load: malformed CPU time %q in process stat", f)
		}
		ticks += n
	}
	if ticks < 0 || ticks > math.MaxInt64/int64(clockTick) {
		return 0, fmt.Errorf("load: CPU time of %d ticks out of range", ticks)
	}
	return time.Duration(ticks) * clockTick, nil
}

// readCPUTime reads the CPU time pid has used so far.
func readCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("load: read CPU time of pid %d: %w", pid, err)
	}
	return parseCPUTime(b)
}

// merge adds the CPU time of a later run of the same process.
func (c *CPU) merge(o *CPU) *CPU {
	switch {
	case o == nil:
		return c
	case c == nil:
		m := *o
		return &m
	}
	m := *c
	m.Ms += o.Ms
	if m.Error == "" {
		m.Error = o.Error
	}
	return &m
}

// spread fills in the per-request and per-event figures of rep.CPU.
func (rep *Report) spreadCPU() {
	c := rep.CPU
	if c == nil {
		return
	}
	if rep.Requests > 0 {
		c.PerRequestUs = c.Ms * 1000 / float64(rep.Requests)
	}
	// Every event received in the window is timed once: the first of a
	// stream as its time to first event, the others as a gap. Counting
	// them, rather than the events of the answers that finished in the
	// window, keeps streams that straddle its edges from skewing the
	// figure when streams are long.
	if rep.TTFB != nil && rep.Gap != nil {
		if events := float64(rep.TTFB.Count + rep.Gap.Count); events > 0 {
			c.PerEventUs = c.Ms * 1000 / events
		}
	}
}

// windowCPU returns the CPU time pid used since the reading sent on start
// at the beginning of the measured window; a run that ended before the
// window opened has none.
func windowCPU(pid int, start <-chan time.Duration) *CPU {
	c := &CPU{PID: pid}
	var from time.Duration
	select {
	case from = <-start:
	default:
		c.Error = "the run ended before its measured window"
		return c
	}
	to, err := readCPUTime(pid)
	switch {
	case from < 0:
		c.Error = "the process could not be read when the window opened"
	case err != nil:
		c.Error = err.Error()
	default:
		c.Ms = float64(to-from) / float64(time.Millisecond)
	}
	return c
}
