package accesslog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aigateway/gateway/converter/jsonx"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The reference lines below are built the way the ingress built them before
// this package existed: attributes handed to a slog JSON handler.

// slogRequestLine is the line slog's JSON handler writes for r at t, with
// the logger attributes attrs.
func slogRequestLine(t *testing.T, at time.Time, attrs []slog.Attr, r *Request) []byte {
	t.Helper()
	return slogLine(t, at, attrs, slogRequestAttrs(r))
}

// slogRejectedLine is the line slog's JSON handler writes for r at t.
func slogRejectedLine(t *testing.T, at time.Time, attrs []slog.Attr, r *Rejected) []byte {
	t.Helper()
	return slogLine(t, at, attrs, []slog.Attr{
		slog.String("request_id", r.RequestID),
		slog.String("method", r.Method),
		slog.String("path", r.Path),
		slog.Int("status", r.Status),
		slog.String("error", r.Error),
		slog.Float64("duration_ms", float64(r.Duration.Microseconds())/1000),
	})
}

func slogLine(t *testing.T, at time.Time, attrs, fields []slog.Attr) []byte {
	t.Helper()
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, nil).WithAttrs(attrs)
	rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	rec.AddAttrs(fields...)
	if err := h.Handle(context.Background(), rec); err != nil {
		t.Fatalf("slog: %v", err)
	}
	return buf.Bytes()
}

// fastLine is what a JSON Logger with attrs writes for one call of log.
func fastLine(t *testing.T, at time.Time, attrs []slog.Attr, log func(*Logger)) []byte {
	t.Helper()
	var buf bytes.Buffer
	l := New(&buf, Options{Now: func() time.Time { return at }}).With(attrs...)
	log(l)
	return buf.Bytes()
}

var component = []slog.Attr{slog.String("component", "ingress")}

func TestRequestLineMatchesSlog(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+1800)
	base := time.Date(2026, 11, 27, 9, 30, 15, 123456789, time.UTC)
	full := Request{
		RequestID: "req_2x7Qk", Route: "/v1/chat/completions", Upstream: "openai", Model: "gpt-4o",
		Status: 200, Stream: true, QueueWait: 1234 * time.Microsecond, TTFB: 56789 * time.Microsecond,
		Duration: 1500 * time.Millisecond, InputTokens: 300, OutputTokens: 150, CachedTokens: 100,
	}
	with := func(f func(*Request)) Request { r := full; f(&r); return r }
	tests := []struct {
		name  string
		at    time.Time
		attrs []slog.Attr
		r     Request
	}{
		{"typical", base, component, full},
		{"zero record", base, component, Request{}},
		{"no logger attributes", base, nil, full},
		{"many logger attributes", base, []slog.Attr{
			slog.String("component", "ingress"), slog.Int("replica", 3), slog.Bool("canary", false),
			slog.Float64("weight", 0.25), slog.Duration("grace", 5*time.Second),
			slog.Group("build", slog.String("version", "1.2.3"), slog.String("commit", "abc")),
			slog.Any("err", io.EOF), slog.Time("started", base),
		}, full},
		{"error message", base, component, with(func(r *Request) {
			r.Status, r.Error = 502, `upstream said "no": <bad gateway> & more`
		})},
		{"client gone", base, component, with(func(r *Request) { r.Status, r.Error = 499, "client closed the connection" })},
		{"escapes", base, component, with(func(r *Request) {
			r.RequestID = "tab\there\nnew\rret\\back\"quote"
			r.Model = "ctl\x00\x01\x1f\x7f"
			r.Route = "line\u2028para\u2029end"
			r.Error = "bad utf8 \xff\xfe and \xe2\x82 cut"
		})},
		{"non-ascii", base, component, with(func(r *Request) { r.Model = "模型-é-🚀"; r.Error = "ошибка" })},
		{"whole nanoseconds trimmed", time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC), component, full},
		{"no fraction of a second", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), component, full},
		{"fixed zone", base.In(kolkata), component, full},
		{"local zone", base.Local(), component, full},
		{"monotonic clock reading", time.Now(), component, full},
		{"sub-microsecond durations", base, component, with(func(r *Request) {
			r.QueueWait, r.TTFB, r.Duration = 999*time.Nanosecond, time.Microsecond, 1001*time.Nanosecond
		})},
		{"large durations", base, component, with(func(r *Request) {
			r.QueueWait, r.TTFB, r.Duration = 72*time.Hour, math.MaxInt64, 123456789*time.Millisecond
		})},
		{"negative values", base, component, with(func(r *Request) {
			r.Duration, r.Status, r.InputTokens = -3*time.Millisecond, -1, math.MinInt64
		})},
		{"attempts", base, component, with(func(r *Request) {
			r.Attempts = []Attempt{
				{Target: "openai/gpt-4o", Outcome: "status_5xx", Status: 503, Duration: 6675 * time.Microsecond},
				{Target: "anthropic/claude-sonnet-4-5", Outcome: "ok", Duration: 2 * time.Second},
			}
		})},
		{"one failed attempt", base, component, with(func(r *Request) {
			r.Attempts = []Attempt{{Target: "a/\"m\"", Outcome: "connect", Duration: time.Millisecond}}
		})},
		{"one successful attempt is not listed", base, component, with(func(r *Request) {
			r.Attempts = []Attempt{{Target: "openai/gpt-4o", Outcome: "ok"}}
		})},
		{"largest counts", base, component, with(func(r *Request) {
			r.InputTokens, r.OutputTokens, r.CachedTokens = math.MaxInt64, math.MaxInt32, 1<<40
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := slogRequestLine(t, tc.at, tc.attrs, &tc.r)
			got := fastLine(t, tc.at, tc.attrs, func(l *Logger) { l.LogRequest(&tc.r) })
			if !bytes.Equal(got, want) {
				t.Errorf("line differs from slog's\n got: %s\nwant: %s", got, want)
			}
			if !jsonx.Valid(bytes.TrimSuffix(got, []byte("\n"))) {
				t.Errorf("line is not valid JSON: %s", got)
			}
		})
	}
}

func TestRejectedLineMatchesSlog(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 30, 15, 100, time.Local)
	tests := []struct {
		name string
		r    Rejected
	}{
		{"too large", Rejected{RequestID: "req_1", Method: "POST", Path: "/v1/messages", Status: 413,
			Error: "request body is larger than the limit of 10485760 bytes", Duration: 2*time.Millisecond + 7*time.Microsecond}},
		{"malformed", Rejected{RequestID: "req_2", Method: "GET\x00", Path: "other", Status: 400,
			Error: "malformed HTTP request: cannot find http request method \"\xff\""}},
		{"empty", Rejected{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := slogRejectedLine(t, at, component, &tc.r)
			got := fastLine(t, at, component, func(l *Logger) { l.LogRejected(&tc.r) })
			if !bytes.Equal(got, want) {
				t.Errorf("line differs from slog's\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// TestWithChains checks that attributes added in several With calls come
// out as slog writes them when added in one.
func TestWithChains(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 30, 15, 0, time.UTC)
	r := Request{RequestID: "req_1", Status: 200}
	var buf bytes.Buffer
	root := New(&buf, Options{Now: func() time.Time { return at }})
	a := root.With(slog.String("component", "ingress"))
	b := a.With(slog.Int("replica", 2), slog.Attr{}, slog.String("", "empty key"))
	b.LogRequest(&r)
	a.LogRequest(&r)
	want := slogRequestLine(t, at, []slog.Attr{slog.String("component", "ingress"), slog.Int("replica", 2),
		slog.Attr{}, slog.String("", "empty key")}, &r)
	want = append(want, slogRequestLine(t, at, component, &r)...)
	if got := buf.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("lines differ from slog's\n got: %s\nwant: %s", got, want)
	}
}

func TestLevels(t *testing.T) {
	r := Request{RequestID: "req_1"}
	tests := []struct {
		name   string
		format Format
		level  slog.Leveler
		want   bool
	}{
		{"json default level", FormatJSON, nil, true},
		{"json debug", FormatJSON, slog.LevelDebug, true},
		{"json info", "", slog.LevelInfo, true},
		{"json warn", FormatJSON, slog.LevelWarn, false},
		{"json error", FormatJSON, slog.LevelError, false},
		{"pretty info", FormatPretty, slog.LevelInfo, true},
		{"pretty warn", FormatPretty, slog.LevelWarn, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := New(&buf, Options{Format: tc.format, Level: tc.level}).With(component...)
			if l.Enabled() != tc.want {
				t.Errorf("Enabled() = %v, want %v", l.Enabled(), tc.want)
			}
			l.LogRequest(&r)
			l.LogRejected(&Rejected{RequestID: "req_2"})
			if got := strings.Count(buf.String(), "\n"); (got == 2) != tc.want || (got == 0) == tc.want {
				t.Errorf("wrote %d lines, want them written: %v\n%s", got, tc.want, buf.String())
			}
		})
	}
}

// stamp matches the time of a line, which slog takes from the clock.
var stamp = regexp.MustCompile(`"time":"[^"]*"|time=\S+`)

func TestPrettyMatchesSlogText(t *testing.T) {
	r := Request{RequestID: "req 1", Route: "/v1/messages", Model: "claude", Status: 200,
		Duration: 1500 * time.Microsecond, Error: "upstream \"said\" no"}
	var got, want bytes.Buffer
	New(&got, Options{Format: FormatPretty}).With(component...).LogRequest(&r)
	slog.New(slog.NewTextHandler(&want, nil)).With("component", "ingress").LogAttrs(context.Background(),
		slog.LevelInfo, "request", slogRequestAttrs(&r)...)
	g, w := stamp.ReplaceAllString(got.String(), "time=T"), stamp.ReplaceAllString(want.String(), "time=T")
	if g != w {
		t.Errorf("text line differs from slog's\n got: %s\nwant: %s", g, w)
	}
	if !strings.HasPrefix(g, "time=T level=INFO msg=request component=ingress request_id=\"req 1\"") {
		t.Errorf("text line %q", g)
	}
}

// TestFromSlog checks that a Logger over any slog.Logger writes the same
// record the fast path does.
func TestFromSlog(t *testing.T) {
	r := Request{RequestID: "req_1", Route: "/v1/chat/completions", Model: "m", Status: 429, Error: "slow down"}
	rej := Rejected{RequestID: "req_2", Method: "PUT", Path: "other", Status: 404, Error: "no route"}
	var viaSlog, fast bytes.Buffer
	l := FromSlog(slog.New(slog.NewJSONHandler(&viaSlog, nil))).With(component...)
	l.LogRequest(&r)
	l.LogRejected(&rej)
	f := New(&fast, Options{}).With(component...)
	f.LogRequest(&r)
	f.LogRejected(&rej)
	g, w := stamp.ReplaceAllString(viaSlog.String(), "T"), stamp.ReplaceAllString(fast.String(), "T")
	if g != w {
		t.Errorf("slog logger wrote\n%s\nthe fast path\n%s", g, w)
	}
	quiet := FromSlog(slog.New(slog.NewJSONHandler(&viaSlog, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if quiet.Enabled() {
		t.Error("a logger above Info reports Enabled")
	}
}

// slogRequestAttrs are the attributes the ingress gave slog for r.
func slogRequestAttrs(r *Request) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("request_id", r.RequestID), slog.String("route", r.Route),
		slog.String("upstream", r.Upstream), slog.String("model", r.Model),
		slog.Int("status", r.Status), slog.Bool("stream", r.Stream),
		slog.Float64("queue_wait_ms", float64(r.QueueWait.Microseconds())/1000),
		slog.Float64("ttfb_ms", float64(r.TTFB.Microseconds())/1000),
		slog.Float64("duration_ms", float64(r.Duration.Microseconds())/1000),
		slog.Int64("input_tokens", r.InputTokens), slog.Int64("output_tokens", r.OutputTokens),
		slog.Int64("cached_tokens", r.CachedTokens),
	}
	if r.Error != "" {
		attrs = append(attrs, slog.String("error", r.Error))
	}
	if worthLogging(r.Attempts) {
		attrs = append(attrs, slog.Any("attempts", attemptList(r.Attempts)))
	}
	return attrs
}

// lineWriter records each Write call.
type lineWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *lineWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

func (w *lineWriter) snapshot() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.writes...)
}

func (w *lineWriter) joined() string {
	return string(bytes.Join(w.snapshot(), nil))
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestConcurrentLinesStayWhole checks that each line is one Write and that
// lines written at once from many goroutines, some long enough to outgrow
// the pooled buffers, never mix.
func TestConcurrentLinesStayWhole(t *testing.T) {
	w := &lineWriter{}
	l := New(w, Options{}).With(component...)
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := Request{RequestID: strings.Repeat(string(rune('a'+g)), 1+i*(i%3)*50), Status: 200}
				l.LogRequest(&r)
			}
		}()
	}
	wg.Wait()
	if len(w.writes) != goroutines*each {
		t.Fatalf("%d writes, want %d", len(w.writes), goroutines*each)
	}
	for _, p := range w.writes {
		var line struct {
			RequestID string `json:"request_id"`
		}
		if bytes.Count(p, []byte("\n")) != 1 || jsonx.Unmarshal(p, &line) != nil {
			t.Fatalf("write is not one JSON line: %q", p)
		}
		if strings.Trim(line.RequestID, line.RequestID[:1]) != "" {
			t.Fatalf("request id mixes lines: %q", line.RequestID)
		}
	}
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	l := New(io.Discard, Options{}).With(component...)
	r := Request{RequestID: "req_2x7Qk", Route: "/v1/chat/completions", Upstream: "openai", Model: "gpt-4o",
		Status: 200, Duration: time.Second, Error: "boom"}
	rej := Rejected{RequestID: "req_1", Method: "POST", Path: "other", Status: 404, Error: "no route"}
	if n := testing.AllocsPerRun(100, func() { l.LogRequest(&r); l.LogRejected(&rej) }); n != 0 {
		t.Errorf("%v allocations per line pair, want 0", n)
	}
}

func FuzzAccessLogMatchesSlog(f *testing.F) {
	f.Add("req_2x7Qk", "gpt-4o", "", "/v1/chat/completions", 200, int64(1500000))
	f.Add("tab\there", "模型", "upstream \"said\" <no> & \u2028", "/v1/messages", 502, int64(-1))
	f.Add("\xff\xfe", "\x00\x1f\x7f", "bad \xe2\x82", "", 0, int64(math.MaxInt64))
	at := time.Date(2026, 11, 27, 9, 30, 15, 123456000, time.FixedZone("", -7*3600))
	f.Fuzz(func(t *testing.T, requestID, model, errMsg, route string, status int, d int64) {
		r := Request{RequestID: requestID, Route: route, Upstream: route + model, Model: model, Status: status,
			Stream: status%2 == 0, QueueWait: time.Duration(d), TTFB: time.Duration(d / 3), Duration: time.Duration(-d),
			InputTokens: d, OutputTokens: int64(status), Error: errMsg}
		rej := Rejected{RequestID: requestID, Method: model, Path: route, Status: status, Error: errMsg, Duration: time.Duration(d)}
		attrs := []slog.Attr{slog.String("component", model)}
		want := append(slogRequestLine(t, at, attrs, &r), slogRejectedLine(t, at, attrs, &rej)...)
		got := fastLine(t, at, attrs, func(l *Logger) { l.LogRequest(&r); l.LogRejected(&rej) })
		if !bytes.Equal(got, want) {
			t.Fatalf("lines differ from slog's\n got: %s\nwant: %s", got, want)
		}
		for _, line := range bytes.SplitAfter(got, []byte("\n")) {
			if len(line) > 0 && !jsonx.Valid(line) {
				t.Fatalf("line is not valid JSON: %q", line)
			}
		}
	})
}

func TestBatching(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 30, 15, 0, time.UTC)
	now := func() time.Time { return at }
	lines := func(n int) []Request {
		rs := make([]Request, n)
		for i := range rs {
			rs[i] = Request{RequestID: fmt.Sprintf("req_%d", i), Status: 200}
		}
		return rs
	}
	// want is what an unbatched Logger writes for rs.
	want := func(rs []Request) string {
		var buf bytes.Buffer
		l := New(&buf, Options{Now: now}).With(component...)
		for i := range rs {
			l.LogRequest(&rs[i])
		}
		return buf.String()
	}

	t.Run("held until Flush", func(t *testing.T) {
		w := &lineWriter{}
		l := New(w, Options{Now: now, FlushInterval: time.Hour}).With(component...)
		defer l.Close()
		rs := lines(3)
		for i := range rs {
			l.LogRequest(&rs[i])
		}
		if n := w.count(); n != 0 {
			t.Fatalf("%d writes before Flush, want 0", n)
		}
		l.Flush()
		if got := w.joined(); got != want(rs) || w.count() != 1 {
			t.Errorf("after Flush, %d writes of\n%s\nwant one of\n%s", w.count(), got, want(rs))
		}
		l.Flush()
		if n := w.count(); n != 1 {
			t.Errorf("an empty Flush wrote: %d writes", n)
		}
	})

	t.Run("written when the batch is full", func(t *testing.T) {
		w := &lineWriter{}
		l := New(w, Options{Now: now, FlushInterval: time.Hour, BatchBytes: 1000}).With(component...)
		rs := lines(41)
		for i := range rs {
			l.LogRequest(&rs[i])
		}
		full := w.count()
		if full == 0 {
			t.Fatal("no write although the lines exceed the batch size")
		}
		for _, p := range w.snapshot() {
			if len(p) < 1000 || p[len(p)-1] != '\n' {
				t.Errorf("batch of %d bytes, not a full batch of whole lines", len(p))
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if got := w.joined(); got != want(rs) {
			t.Errorf("after Close got\n%s\nwant\n%s", got, want(rs))
		}
		closed := w.count()
		l.LogRequest(&rs[0])
		if n := w.count(); n != closed+1 {
			t.Errorf("%d writes after a line logged past Close, want %d", n, closed+1)
		}
	})

	t.Run("flushed on the timer", func(t *testing.T) {
		w := &lineWriter{}
		l := New(w, Options{Now: now, FlushInterval: time.Millisecond}).With(component...)
		defer l.Close()
		rs := lines(2)
		for i := range rs {
			l.LogRequest(&rs[i])
		}
		deadline := time.Now().Add(10 * time.Second)
		for w.joined() != want(rs) {
			if time.Now().After(deadline) {
				t.Fatalf("lines not flushed by the timer: %q", w.joined())
			}
			time.Sleep(time.Millisecond)
		}
	})

	t.Run("concurrent lines and flushes", func(t *testing.T) {
		w := &lineWriter{}
		l := New(w, Options{Now: now, FlushInterval: time.Millisecond, BatchBytes: 4096}).With(component...)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 300 {
					l.LogRequest(&Request{RequestID: fmt.Sprintf("req_%d_%d", g, i)})
					if i%50 == 0 {
						l.Flush()
					}
				}
			}()
		}
		wg.Wait()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, line := range strings.SplitAfter(w.joined(), "\n") {
			if line == "" {
				continue
			}
			var rec struct {
				RequestID string `json:"request_id"`
			}
			if err := jsonx.Unmarshal([]byte(line), &rec); err != nil || seen[rec.RequestID] {
				t.Fatalf("bad or repeated line %q: %v", line, err)
			}
			seen[rec.RequestID] = true
		}
		if len(seen) != 4*300 {
			t.Errorf("%d lines written, want %d", len(seen), 4*300)
		}
	})

	t.Run("closing twice and loggers without a batch", func(t *testing.T) {
		l := New(io.Discard, Options{FlushInterval: time.Hour})
		if l.Close() != nil || l.Close() != nil {
			t.Error("Close failed")
		}
		for _, l := range []*Logger{New(io.Discard, Options{}), FromSlog(slog.New(slog.DiscardHandler))} {
			l.Flush()
			if err := l.Close(); err != nil {
				t.Error(err)
			}
		}
	})
}
