// Package accesslog writes the ingress's access log: one line per request.
//
// The line is written on every request, so in the JSON format (the default
// and the production one) it is appended straight into a reused byte buffer
// and written with one Write call, instead of going through log/slog, whose
// attribute boxing and handler machinery cost several percent of the
// gateway's CPU at high request rates. The bytes are exactly those
// slog.NewJSONHandler would write for the same record (same key order, time,
// number and string formats), so log pipelines see no difference; the tests
// compare the two byte for byte.
//
// The text ("pretty") format is for terminals, not throughput: it goes
// through slog.NewTextHandler as before.
package accesslog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Format is the shape of the log lines.
type Format string

// The formats, named as in the logging.format setting.
const (
	// FormatJSON writes one JSON object per line, as slog.NewJSONHandler.
	FormatJSON Format = "json"
	// FormatPretty writes key=value lines through slog.NewTextHandler.
	FormatPretty Format = "pretty"
)

// Options configure a Logger made by New.
type Options struct {
	// Format is FormatJSON (also when empty) or FormatPretty.
	Format Format
	// Level is the lowest level written. Access lines are Info, so with a
	// level above Info nothing is written. Nil means Info.
	Level slog.Leveler
	// Now stamps each JSON line; nil means time.Now. Tests fix the clock.
	Now func() time.Time
	// FlushInterval, when above zero, batches JSON lines in memory and
	// writes them at least this often, whenever BatchBytes are pending, and
	// on Flush and Close, saving a write system call per line. Lines still
	// pending when the process dies without Close are lost, so keep it
	// short. Zero writes each line as it is logged.
	FlushInterval time.Duration
	// BatchBytes is how much a batch holds before it is written; zero means
	// DefaultBatchBytes. Unused without FlushInterval.
	BatchBytes int
}

// DefaultBatchBytes is the default Options.BatchBytes: below the 64 KiB a
// pipe takes in one write.
const DefaultBatchBytes = 32 << 10

// Request is the access-log record of a request that reached a route.
type Request struct {
	RequestID string
	Route     string
	Upstream  string
	Model     string
	Status    int
	Stream    bool
	// QueueWait, TTFB and Duration are logged in milliseconds with
	// microsecond precision.
	QueueWait    time.Duration
	TTFB         time.Duration
	Duration     time.Duration
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	// Error is the failure's message; when empty the key is left out.
	Error string
	// Attempts are the attempts at upstreams, in order; logged as a list
	// when there were several, or one that failed.
	Attempts []Attempt
}

// Attempt is one attempt at serving a request from an upstream.
type Attempt struct {
	// Target is "<upstream>/<upstream model>".
	Target string
	// Outcome is "ok" or why the attempt failed (gateway_upstream_attempts_total).
	Outcome string
	// Status is the upstream's HTTP status when it answered with an error.
	Status int
	// Duration is how long the attempt took to succeed or fail.
	Duration time.Duration
}

// worthLogging reports whether the attempts say more than the line's other
// keys: a single successful attempt does not.
func worthLogging(a []Attempt) bool {
	return len(a) > 1 || len(a) == 1 && a[0].Outcome != "ok"
}

// attemptList is the attempts as slog writes them.
func attemptList(attempts []Attempt) []any {
	list := make([]any, len(attempts))
	for i, a := range attempts {
		list[i] = map[string]any{"target": a.Target, "outcome": a.Outcome, "status": a.Status, "duration_ms": millis(a.Duration)}
	}
	return list
}

func appendAttempts(b []byte, attempts []Attempt) []byte {
	// Keys in the order slog writes a map, so both writers agree.
	b = append(b, `,"attempts":[`...)
	for i, a := range attempts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"duration_ms":`...)
		b = appendJSONFloat(b, millis(a.Duration))
		b = appendKeyString(b, `,"outcome":`, a.Outcome)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(a.Status), 10)
		b = appendKeyString(b, `,"target":`, a.Target)
		b = append(b, '}')
	}
	return append(b, ']')
}

// Rejected is the access-log record of a request refused before it reached
// a route: unreadable, too large, or sent to no route.
type Rejected struct {
	RequestID string
	Method    string
	Path      string
	Status    int
	Error     string
	Duration  time.Duration
}

// Logger writes access-log lines. It is safe for concurrent use; loggers
// derived with With share their writer and its lock.
type Logger struct {
	// slog is set when lines go through a slog handler (the text format,
	// or a logger given to FromSlog); the fields below are then unused.
	slog *slog.Logger

	out   *output
	level slog.Leveler
	now   func() time.Time
	// attrs are the logger's attributes, already rendered as the JSON
	// handler renders them: `,"component":"ingress"`.
	attrs []byte
}

// output is the writer shared by a Logger and those derived from it.
type output struct {
	mu sync.Mutex
	w  io.Writer
	// buf holds the line being formatted, after the lines of the batch
	// still pending when batching. It is reused under mu: lines are short
	// and a Write takes far longer than formatting, so holding the lock
	// for both costs little and needs no pool. It also keeps the lines in
	// the order of their time stamps.
	buf []byte
	// batch is the size at which buf is written; 0 writes every line.
	batch int

	// stop and stopped end the goroutine that flushes a batch on a timer.
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

// New returns a Logger writing to w. Lines are written whole, one or (when
// batching) several per Write call, under a lock held by the Logger; a
// writer shared with other loggers must itself keep concurrent Writes apart
// (an *os.File does). A Logger that batches runs a goroutine until Close.
func New(w io.Writer, opts Options) *Logger {
	level := opts.Level
	if level == nil {
		level = slog.LevelInfo
	}
	if opts.Format == FormatPretty {
		return FromSlog(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	out := &output{w: w}
	if opts.FlushInterval > 0 {
		out.batch = opts.BatchBytes
		if out.batch <= 0 {
			out.batch = DefaultBatchBytes
		}
		out.buf = make([]byte, 0, out.batch+1024)
		out.stop, out.stopped = make(chan struct{}), make(chan struct{})
		go out.flushEvery(opts.FlushInterval)
	}
	return &Logger{out: out, level: level, now: now}
}

// flushEvery writes the pending batch every interval until Close.
func (o *output) flushEvery(interval time.Duration) {
	defer close(o.stopped)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-ticker.C:
			o.flush()
		}
	}
}

// flush writes the pending lines.
func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writeLocked()
}

// writeLocked writes buf and empties it; mu is held.
func (o *output) writeLocked() {
	if len(o.buf) > 0 {
		// A failed write has nowhere to be reported (slog drops it as well).
		_, _ = o.w.Write(o.buf)
	}
	if cap(o.buf) > o.batch+maxKept {
		o.buf = nil
	} else {
		o.buf = o.buf[:0]
	}
}

// Flush writes the lines a batching Logger holds. The ingress calls it when
// it shuts down, after the last request; other Loggers have nothing to do.
func (l *Logger) Flush() {
	if l.out != nil {
		l.out.flush()
	}
}

// Close stops the flush timer of a batching Logger and writes what it
// holds. Lines logged afterwards are written at once. Call it once the
// Logger is no longer used, from its owner; later calls do nothing.
func (l *Logger) Close() error {
	if l.out == nil {
		return nil
	}
	l.out.closeOnce.Do(func() {
		if l.out.stop != nil {
			close(l.out.stop)
			<-l.out.stopped
		}
		l.out.mu.Lock()
		l.out.writeLocked()
		l.out.batch = 0
		l.out.mu.Unlock()
	})
	return nil
}

// FromSlog returns a Logger that writes every line through l, whatever its
// handler. It is the slow path, for callers that were given only a
// *slog.Logger.
func FromSlog(l *slog.Logger) *Logger {
	return &Logger{slog: l}
}

// With returns a Logger that adds attrs to every line, after "msg" and
// before the record's fields, as slog.Logger.With does.
func (l *Logger) With(attrs ...slog.Attr) *Logger {
	if len(attrs) == 0 {
		return l
	}
	if l.slog != nil {
		args := make([]any, len(attrs))
		for i, a := range attrs {
			args[i] = a
		}
		return &Logger{slog: l.slog.With(args...)}
	}
	c := *l
	c.attrs = append(append([]byte(nil), l.attrs...), renderAttrs(attrs)...)
	return &c
}

// renderAttrs renders attrs with slog's own JSON handler, so that values of
// any kind come out exactly as slog writes them. It runs once per With, not
// per line.
func renderAttrs(attrs []slog.Attr) []byte {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, nil).WithAttrs(attrs)
	// A zero time leaves the time out, so the line starts with level and msg.
	_ = h.Handle(context.Background(), slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0))
	line := bytes.TrimSuffix(buf.Bytes(), []byte("}\n"))
	return bytes.TrimPrefix(line, []byte(`{"level":"INFO","msg":""`))
}

// Enabled reports whether the Logger writes Info lines.
func (l *Logger) Enabled() bool {
	if l.slog != nil {
		return l.slog.Enabled(context.Background(), slog.LevelInfo)
	}
	return l.level.Level() <= slog.LevelInfo
}

// LogRequest writes r's line.
func (l *Logger) LogRequest(r *Request) {
	if l.slog != nil {
		l.slogRequest(r)
		return
	}
	if !l.Enabled() {
		return
	}
	b := l.begin()
	b = appendKeyString(b, `,"request_id":`, r.RequestID)
	b = appendKeyString(b, `,"route":`, r.Route)
	b = appendKeyString(b, `,"upstream":`, r.Upstream)
	b = appendKeyString(b, `,"model":`, r.Model)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, r.Stream)
	b = append(b, `,"queue_wait_ms":`...)
	b = appendJSONFloat(b, millis(r.QueueWait))
	b = append(b, `,"ttfb_ms":`...)
	b = appendJSONFloat(b, millis(r.TTFB))
	b = append(b, `,"duration_ms":`...)
	b = appendJSONFloat(b, millis(r.Duration))
	b = append(b, `,"input_tokens":`...)
	b = strconv.AppendInt(b, r.InputTokens, 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, r.OutputTokens, 10)
	b = append(b, `,"cached_tokens":`...)
	b = strconv.AppendInt(b, r.CachedTokens, 10)
	if r.Error != "" {
		b = appendKeyString(b, `,"error":`, r.Error)
	}
	if worthLogging(r.Attempts) {
		b = appendAttempts(b, r.Attempts)
	}
	l.end(b)
}

func (l *Logger) slogRequest(r *Request) {
	attrs := []slog.Attr{
		slog.String("request_id", r.RequestID),
		slog.String("route", r.Route),
		slog.String("upstream", r.Upstream),
		slog.String("model", r.Model),
		slog.Int("status", r.Status),
		slog.Bool("stream", r.Stream),
		slog.Float64("queue_wait_ms", millis(r.QueueWait)),
		slog.Float64("ttfb_ms", millis(r.TTFB)),
		slog.Float64("duration_ms", millis(r.Duration)),
		slog.Int64("input_tokens", r.InputTokens),
		slog.Int64("output_tokens", r.OutputTokens),
		slog.Int64("cached_tokens", r.CachedTokens),
	}
	if r.Error != "" {
		attrs = append(attrs, slog.String("error", r.Error))
	}
	if worthLogging(r.Attempts) {
		attrs = append(attrs, slog.Any("attempts", attemptList(r.Attempts)))
	}
	l.slog.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

// LogRejected writes r's line.
func (l *Logger) LogRejected(r *Rejected) {
	if l.slog != nil {
		l.slog.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("request_id", r.RequestID),
			slog.String("method", r.Method),
			slog.String("path", r.Path),
			slog.Int("status", r.Status),
			slog.String("error", r.Error),
			slog.Float64("duration_ms", millis(r.Duration)))
		return
	}
	if !l.Enabled() {
		return
	}
	b := l.begin()
	b = appendKeyString(b, `,"request_id":`, r.RequestID)
	b = appendKeyString(b, `,"method":`, r.Method)
	b = appendKeyString(b, `,"path":`, r.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = appendKeyString(b, `,"error":`, r.Error)
	b = append(b, `,"duration_ms":`...)
	b = appendJSONFloat(b, millis(r.Duration))
	l.end(b)
}

// millis is a duration in milliseconds, to the microsecond.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// maxKept keeps a rare huge line (a long error message) from pinning its
// buffer.
const maxKept = 16 << 10

// begin locks the output and writes the line's head into its buffer, after
// any pending lines: time, level, msg and the logger's attributes, in the
// JSON handler's order.
func (l *Logger) begin() []byte {
	l.out.mu.Lock()
	b := append(l.out.buf, `{"time":"`...)
	// slog strips the monotonic reading (Round(0)), which does not show in
	// the format anyway, and writes RFC 3339 with nanoseconds, trailing
	// zeros trimmed, in the time's own zone.
	b = l.now().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request"`...)
	return append(b, l.attrs...)
}

// end closes the line, writes it (or leaves it for the batch) and unlocks
// the output.
func (l *Logger) end(b []byte) {
	o := l.out
	// Deferred so that a panicking writer does not leave the lock held.
	defer o.mu.Unlock()
	o.buf = append(b, '}', '\n')
	if len(o.buf) >= o.batch {
		o.writeLocked()
	}
}

// appendKeyString appends key (already quoted, with its comma and colon) and
// s as a JSON string.
func appendKeyString(b []byte, key, s string) []byte {
	b = append(b, key...)
	b = append(b, '"')
	b = appendEscapedJSONString(b, s)
	return append(b, '"')
}

// appendJSONFloat formats f as encoding/json does, which is what slog's JSON
// handler calls for floats: like strconv 'f' in the ES6 range, 'e' outside
// it with a one-digit negative exponent unpadded. Durations never make NaN
// or infinities, which json rejects.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendEscapedJSONString appends s escaped for a JSON string, without the
// quotes, as log/slog does: like encoding/json without HTML escaping, so
// <, > and & stay as they are, while control characters, invalid UTF-8
// (as \ufffd) and U+2028/U+2029 are escaped.
func appendEscapedJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}
