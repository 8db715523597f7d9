package logflood

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestHandlerLimitsRepeatedLines(t *testing.T) {
	cases := []struct {
		name string
		// lines is logged in order; a line "+Ns" moves the clock instead.
		lines []string
		// want is the messages that reach the log, with the suppressed
		// count when there is one.
		want []string
		// suppressed is the counter's value for ERROR.
		suppressed float64
	}{
		{
			name:  "a flood keeps its burst",
			lines: []string{"E boom", "E boom", "E boom", "E boom", "E boom"},
			want:  []string{"boom", "boom"},
			// 3 of 5 dropped
			suppressed: 3,
		},
		{
			name:       "the next window reports what was dropped",
			lines:      []string{"E boom", "E boom", "E boom", "E boom", "+11s", "E boom"},
			want:       []string{"boom", "boom", "boom suppressed=2"},
			suppressed: 2,
		},
		{
			name:  "kinds are counted apart",
			lines: []string{"E a", "E a", "E a", "E b", "W a", "W a", "W a"},
			want:  []string{"a", "a", "b", "a", "a"},
			// one ERROR a dropped; the WARN one is another label
			suppressed: 1,
		},
		{
			name:  "info lines are never limited",
			lines: []string{"I req", "I req", "I req", "I req"},
			want:  []string{"req", "req", "req", "req"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			clock := &fakeClock{now: time.Unix(1000, 0)}
			reg := prometheus.NewRegistry()
			h := New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
						return slog.Attr{}
					}
					return a
				}}), Config{Burst: 2, Interval: 10 * time.Second, Now: clock.Now}, reg)
			// Derived loggers share the limits.
			logger := slog.New(h).With("component", "x")
			for i, line := range tc.lines {
				if d, ok := strings.CutPrefix(line, "+"); ok {
					step, err := time.ParseDuration(d)
					if err != nil {
						t.Fatal(err)
					}
					clock.now = clock.now.Add(step)
					continue
				}
				level, msg, _ := strings.Cut(line, " ")
				l := map[string]slog.Level{"E": slog.LevelError, "W": slog.LevelWarn, "I": slog.LevelInfo}[level]
				logger.With("request_id", i).Log(t.Context(), l, msg)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				msg := strings.TrimPrefix(strings.Fields(l)[0], "msg=")
				if i := strings.Index(l, SuppressedKey+"="); i >= 0 {
					msg += " " + l[i:]
				}
				got = append(got, msg)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("logged %q, want %q\n%s", got, tc.want, out.String())
			}
			if n := testutil.ToFloat64(h.state.suppressed.WithLabelValues("ERROR")); n != tc.suppressed {
				t.Errorf("suppressed ERROR lines = %v, want %v", n, tc.suppressed)
			}
		})
	}
}

func TestHandlerForgetsKindsBeyondItsBound(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	h := New(slog.DiscardHandler, Config{Burst: 1, Now: clock.Now}, nil)
	logger := slog.New(h)
	for i := range maxKinds * 2 {
		logger.Error("varying " + string(rune('a'+i%26)) + strings.Repeat("x", i%100) + string(rune(i)))
	}
	h.state.mu.Lock()
	n := len(h.state.kinds)
	h.state.mu.Unlock()
	if n > maxKinds {
		t.Errorf("%d kinds remembered, bound %d", n, maxKinds)
	}
}

func BenchmarkHandlerFlood(b *testing.B) {
	logger := slog.New(New(slog.DiscardHandler, Config{}, nil))
	b.ReportAllocs()
	for b.Loop() {
		logger.Error("publishing request failed", "request_id", "req_1")
	}
}
