// Package logflood keeps a burst of identical log lines from flooding the
// log. During a NATS fail-over every refused request used to log the same
// error line: tens of thousands of lines a second that bury everything else
// and cost more than the requests. A Handler wraps another slog.Handler and
// lets through a few lines of each kind per interval; the rest are counted,
// on a metric and on the next line of that kind that gets through.
package logflood

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by New to a zero Config.
const (
	// DefaultBurst is how many lines of one kind pass per interval.
	DefaultBurst = 5
	// DefaultInterval is the window the burst is counted over.
	DefaultInterval = 10 * time.Second
	// DefaultMinLevel is the lowest level limited: Info and Debug lines are
	// left alone, because access logs and debugging need every one.
	DefaultMinLevel = slog.LevelWarn
	// maxKinds bounds the kinds remembered, so that messages built from
	// varying text cannot grow the table without end.
	maxKinds = 4096
)

// SuppressedKey is the attribute that says how many lines of the same kind
// were dropped before this one.
const SuppressedKey = "suppressed"

// Config tunes a Handler.
type Config struct {
	// Burst is how many lines of one kind pass per Interval.
	Burst int
	// Interval is the window over which Burst is counted.
	Interval time.Duration
	// MinLevel is the lowest level that is limited; nil means
	// DefaultMinLevel.
	MinLevel slog.Leveler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler is a slog.Handler that limits repeated lines. Lines are of the
// same kind when they have the same level and message, whatever their
// attributes: a request id differs on every line of a flood.
type Handler struct {
	next  slog.Handler
	state *state
}

// state is shared by a Handler and every handler derived from it with
// WithAttrs or WithGroup, so a flood is counted once however it is logged.
type state struct {
	cfg        Config
	suppressed *prometheus.CounterVec

	mu    sync.Mutex
	kinds map[kind]*window
}

type kind struct {
	level slog.Level
	msg   string
}

type window struct {
	start   time.Time
	passed  int
	dropped int // dropped since the last line that passed
}

var _ slog.Handler = (*Handler)(nil)

// New wraps next. Suppressed lines are counted on
// gateway_log_lines_suppressed_total{level} in reg; reg may be nil.
func New(next slog.Handler, cfg Config, reg prometheus.Registerer) *Handler {
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MinLevel == nil {
		cfg.MinLevel = DefaultMinLevel
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st := &state{
		cfg: cfg,
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_log_lines_suppressed_total",
			Help: "Log lines dropped because many lines of the same level and message came in a short time.",
		}, []string{"level"}),
		kinds: make(map[kind]*window),
	}
	if reg != nil {
		reg.MustRegister(st.suppressed)
	}
	for _, l := range []slog.Level{slog.LevelWarn, slog.LevelError} {
		if l >= cfg.MinLevel.Level() {
			st.suppressed.WithLabelValues(l.String())
		}
	}
	return &Handler{next: next, state: st}
}

// Enabled reports whether the wrapped handler handles the level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle passes the record on unless too many of its kind came recently.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.state.cfg.MinLevel.Level() {
		return h.next.Handle(ctx, r)
	}
	pass, dropped := h.state.admit(kind{r.Level, r.Message})
	if !pass {
		h.state.suppressed.WithLabelValues(r.Level.String()).Inc()
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int(SuppressedKey, dropped))
	}
	return h.next.Handle(ctx, r)
}

// admit decides about one line of kind k, and returns how many lines of
// that kind were dropped since the last one that passed.
func (s *state) admit(k kind) (pass bool, dropped int) {
	at := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.kinds[k]
	if w == nil {
		if len(s.kinds) >= maxKinds {
			s.forgetOld(at)
		}
		w = &window{start: at}
		s.kinds[k] = w
	}
	if at.Sub(w.start) >= s.cfg.Interval {
		w.start, w.passed = at, 0
	}
	if w.passed >= s.cfg.Burst {
		w.dropped++
		return false, 0
	}
	w.passed++
	dropped, w.dropped = w.dropped, 0
	return true, dropped
}

// forgetOld drops the kinds whose window is over; if none is, it drops them
// all. Forgetting a kind only lets its next line through early.
func (s *state) forgetOld(now time.Time) {
	for k, w := range s.kinds {
		if now.Sub(w.start) >= s.cfg.Interval {
			delete(s.kinds, k)
		}
	}
	if len(s.kinds) >= maxKinds {
		clear(s.kinds)
	}
}

// WithAttrs returns a handler that shares this one's limits.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), state: h.state}
}

// WithGroup returns a handler that shares this one's limits.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), state: h.state}
}
