package mock

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// eventWriter writes server-sent events and flushes each one at once: a
// streamed answer is only useful to the gateway, and only shows its timing
// in benchmarks, if every event leaves the process when it is produced
// rather than when net/http's buffer happens to fill.
type eventWriter struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	ctx      context.Context
	gap      time.Duration
	cutAfter int
	sent     int // content events written
	timer    *time.Timer
	buf      []byte // scratch for encoding one event
}

func newEventWriter(w http.ResponseWriter, ctx context.Context, gap time.Duration, cutAfter int) *eventWriter {
	return &eventWriter{
		w:        w,
		rc:       http.NewResponseController(w),
		ctx:      ctx,
		gap:      gap,
		cutAfter: cutAfter,
		buf:      make([]byte, 0, 512),
	}
}

// stop releases the gap timer.
func (ew *eventWriter) stop() {
	if ew.timer != nil {
		ew.timer.Stop()
	}
}

// flush sends what has been written so far.
func (ew *eventWriter) flush() error {
	if err := ew.rc.Flush(); err != nil {
		return fmt.Errorf("%w: flush: %v", errClientGone, err)
	}
	return nil
}

// event writes one structural event (no gap, not counted).
func (ew *eventWriter) event(b []byte) error {
	if ew.ctx.Err() != nil {
		return errClientGone
	}
	if _, err := ew.w.Write(b); err != nil {
		return fmt.Errorf("%w: write: %v", errClientGone, err)
	}
	return ew.flush()
}

// content writes one content event: it waits the chunk gap first (except
// before the first one), and reports errCut once DisconnectAfter content
// events have been sent.
func (ew *eventWriter) content(b []byte) error {
	if ew.sent > 0 && ew.gap > 0 {
		if err := ew.wait(); err != nil {
			return err
		}
	}
	if err := ew.event(b); err != nil {
		return err
	}
	ew.sent++
	if ew.cutAfter > 0 && ew.sent >= ew.cutAfter {
		return errCut
	}
	return nil
}

// wait sleeps for the chunk gap unless the client goes away first.
func (ew *eventWriter) wait() error {
	if ew.timer == nil {
		ew.timer = time.NewTimer(ew.gap)
	} else {
		ew.timer.Reset(ew.gap)
	}
	select {
	case <-ew.timer.C:
		return nil
	case <-ew.ctx.Done():
		return errClientGone
	}
}
