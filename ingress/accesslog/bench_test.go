package accesslog

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"
)

// BenchmarkAccessLog compares one access-log line written the way the
// ingress used to (slog.Logger.LogAttrs on a JSON handler) with the Logger,
// both to io.Discard and to /dev/null (which adds the write system call a
// line costs on stderr), serially and from parallel goroutines.
func BenchmarkAccessLog(b *testing.B) {
	r := Request{
		RequestID: "req_2x7QkVb3nL0pZ9aYc4", Route: "/v1/chat/completions", Upstream: "openai", Model: "gpt-4o-mini",
		Status: 200, Stream: true, QueueWait: 312 * time.Microsecond, TTFB: 4217 * time.Microsecond,
		Duration: 18503 * time.Microsecond, InputTokens: 1289, OutputTokens: 311, CachedTokens: 1024,
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = devNull.Close() })
	writers := []struct {
		name string
		w    io.Writer
	}{{"discard", io.Discard}, {"devnull", devNull}}

	for _, w := range writers {
		slogLogger := slog.New(slog.NewJSONHandler(w.w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "ingress")
		fast := New(w.w, Options{}).With(slog.String("component", "ingress"))
		logSlog := func() {
			slogLogger.LogAttrs(context.Background(), slog.LevelInfo, "request", slogRequestAttrs(&r)...)
		}
		logFast := func() { fast.LogRequest(&r) }
		for _, c := range []struct {
			name string
			log  func()
		}{{"slog", logSlog}, {"accesslog", logFast}} {
			b.Run(w.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.log()
				}
			})
			b.Run(w.name+"/"+c.name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						c.log()
					}
				})
			})
		}
	}

	// Batching lines saves the write system call of each: the same Logger
	// writing a batch to /dev/null when it is full.
	b.Run("devnull/accesslog-batched", func(b *testing.B) {
		fast := New(devNull, Options{FlushInterval: 100 * time.Millisecond}).With(slog.String("component", "ingress"))
		b.Cleanup(func() { _ = fast.Close() })
		b.ReportAllocs()
		for b.Loop() {
			fast.LogRequest(&r)
		}
	})
}
