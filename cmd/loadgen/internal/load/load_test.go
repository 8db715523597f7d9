package load

import (
	"context"
	"errors"
	"math"
	"net"
	"testing"
	"time"
)

// testConfig returns a short run against url.
func testConfig(url string, shape Shape, stream bool, kind ClientKind) Config {
	cfg := DefaultConfig()
	cfg.URL = url
	cfg.Shape = shape
	cfg.Stream = stream
	cfg.Client = kind
	cfg.Concurrency = 4
	cfg.Duration = 300 * time.Millisecond
	cfg.Warmup = 50 * time.Millisecond
	cfg.Timeout = 5 * time.Second
	return cfg
}

// runLoad runs cfg and fails the test on error.
func runLoad(t *testing.T, cfg Config) Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkInvariants(t, rep)
	return rep
}

// checkInvariants checks what must hold for every report.
func checkInvariants(t *testing.T, rep Report) {
	t.Helper()
	if got := rep.OK + rep.Incomplete + rep.Errors; got != rep.Requests {
		t.Errorf("ok %d + incomplete %d + errors %d = %d, want requests %d", rep.OK, rep.Incomplete, rep.Errors, got, rep.Requests)
	}
	var sum int64
	for _, n := range rep.ErrorsByStatus {
		sum += n
	}
	for _, n := range rep.ErrorsByKind {
		sum += n
	}
	if sum != rep.Errors {
		t.Errorf("errors by status and kind sum to %d, want %d", sum, rep.Errors)
	}
	if rep.DurationSec > 0 {
		if want := float64(rep.OK) / rep.DurationSec; math.Abs(rep.RPS-want) > 1e-9*want {
			t.Errorf("rps %v, want ok/duration %v", rep.RPS, want)
		}
	}
	if rep.Latency.Count != rep.OK {
		t.Errorf("latency count %d, want ok %d", rep.Latency.Count, rep.OK)
	}
	checkOrdered(t, "latency", rep.Latency)
	if rep.TTFB != nil {
		checkOrdered(t, "ttfb", *rep.TTFB)
	}
	if rep.Gap != nil {
		checkOrdered(t, "gap", *rep.Gap)
	}
}

func checkOrdered(t *testing.T, name string, d Durations) {
	t.Helper()
	if !(d.P50 <= d.P90 && d.P90 <= d.P99 && d.P99 <= d.P999 && d.P999 <= d.Max) {
		t.Errorf("%s percentiles out of order: %+v", name, d)
	}
	if d.Count > 0 && (d.Mean <= 0 && d.Max > 0 || d.Mean > d.Max) {
		t.Errorf("%s mean %v outside (0, max %v]", name, d.Mean, d.Max)
	}
}

func TestRunShapes(t *testing.T) {
	const events = 5
	tests := []struct {
		name   string
		shape  Shape
		stream bool
		// wantEvents is the events of one answer: content plus closing.
		wantEvents uint64
	}{
		{name: "openai json", shape: ShapeOpenAI},
		{name: "openai stream", shape: ShapeOpenAI, stream: true, wantEvents: events + 1},
		{name: "anthropic json", shape: ShapeAnthropic},
		{name: "anthropic stream", shape: ShapeAnthropic, stream: true, wantEvents: events + 1},
	}
	for _, kind := range []ClientKind{ClientFastHTTP, ClientNetHTTP} {
		for _, tt := range tests {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				up := &fakeUpstream{events: events, wantHeader: "X-Trace: abc"}
				cfg := testConfig(up.start(t), tt.shape, tt.stream, kind)
				cfg.Headers = []Header{{Key: "X-Trace", Value: "abc"}}
				rep := runLoad(t, cfg)

				if n := up.invalid.Load(); n > 0 {
					t.Fatalf("upstream rejected %d requests as malformed", n)
				}
				if rep.OK == 0 || rep.OK != rep.Requests {
					t.Fatalf("ok %d of %d requests, want all and more than 0 (report %+v)", rep.OK, rep.Requests, rep)
				}
				// Every request sent in the window finished in it, except at
				// most one per worker still in flight at the end.
				if rep.Sent == 0 || rep.Sent > rep.Requests+int64(cfg.Concurrency) {
					t.Errorf("sent %d, finished %d with %d workers", rep.Sent, rep.Requests, cfg.Concurrency)
				}
				if rep.BytesReceived < rep.OK*20 {
					t.Errorf("bytes received %d for %d answers: too few", rep.BytesReceived, rep.OK)
				}
				if rep.Mode != "concurrency" || rep.Dropped != 0 || rep.Late != 0 {
					t.Errorf("mode %q dropped %d late %d, want concurrency 0 0", rep.Mode, rep.Dropped, rep.Late)
				}
				if !tt.stream {
					if rep.TTFB != nil || rep.Gap != nil || rep.Events != nil {
						t.Errorf("stream figures in a JSON run: %+v %+v %+v", rep.TTFB, rep.Gap, rep.Events)
					}
					return
				}
				if rep.Events == nil || rep.TTFB == nil || rep.Gap == nil {
					t.Fatalf("stream figures missing")
				}
				if rep.Events.P50 != tt.wantEvents || rep.Events.Max != tt.wantEvents || rep.Events.Mean != float64(tt.wantEvents) {
					t.Errorf("events per response %+v, want all %d", *rep.Events, tt.wantEvents)
				}
				if rep.TTFB.Count == 0 || rep.Gap.Count == 0 {
					t.Errorf("ttfb count %d gap count %d, want both above 0", rep.TTFB.Count, rep.Gap.Count)
				}
				if rep.TTFB.P50 > rep.Latency.Max {
					t.Errorf("ttfb p50 %v above latency max %v", rep.TTFB.P50, rep.Latency.Max)
				}
			})
		}
	}
}

func TestRunCountsStatusErrors(t *testing.T) {
	for _, kind := range []ClientKind{ClientFastHTTP, ClientNetHTTP} {
		for _, stream := range []bool{false, true} {
			t.Run(string(kind)+map[bool]string{false: "/json", true: "/stream"}[stream], func(t *testing.T) {
				up := &fakeUpstream{events: 2, failEvery: 3}
				cfg := testConfig(up.start(t), ShapeOpenAI, stream, kind)
				// One worker and no warmup: the recorded requests are exactly
				// the first ones the upstream saw, so every third failed.
				cfg.Concurrency = 1
				cfg.Warmup = 0
				rep := runLoad(t, cfg)
				if rep.Requests < 3 {
					t.Fatalf("only %d requests", rep.Requests)
				}
				want := rep.Requests / 3
				if got := rep.ErrorsByStatus["500"]; got != want {
					t.Errorf("500s = %d, want %d of %d requests", got, want, rep.Requests)
				}
				if rep.OK != rep.Requests-want || len(rep.ErrorsByStatus) != 1 || len(rep.ErrorsByKind) != 0 {
					t.Errorf("ok %d, by status %v, by kind %v", rep.OK, rep.ErrorsByStatus, rep.ErrorsByKind)
				}
			})
		}
	}
}

func TestRunDetectsIncompleteAnswers(t *testing.T) {
	tests := []struct {
		name   string
		shape  Shape
		stream bool
	}{
		{"openai json cut", ShapeOpenAI, false},
		{"openai stream without done", ShapeOpenAI, true},
		{"anthropic json cut", ShapeAnthropic, false},
		{"anthropic stream without message_stop", ShapeAnthropic, true},
	}
	for _, kind := range []ClientKind{ClientFastHTTP, ClientNetHTTP} {
		for _, tt := range tests {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				up := &fakeUpstream{events: 3, truncate: true}
				cfg := testConfig(up.start(t), tt.shape, tt.stream, kind)
				// A cut answer ends with the connection; give a loaded
				// machine time to see a few of them inside the window.
				cfg.Duration = time.Second
				rep := runLoad(t, cfg)
				if rep.Requests == 0 || rep.Incomplete != rep.Requests || rep.OK != 0 {
					t.Errorf("incomplete %d ok %d of %d requests, want all incomplete", rep.Incomplete, rep.OK, rep.Requests)
				}
				if tt.stream && (rep.Events == nil || rep.Events.Max != 3) {
					t.Errorf("events %+v, want 3 per cut stream", rep.Events)
				}
			})
		}
	}
}

func TestRunCountsTransportErrors(t *testing.T) {
	// A port that was just free: connecting is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close()
	for _, kind := range []ClientKind{ClientFastHTTP, ClientNetHTTP} {
		t.Run(string(kind), func(t *testing.T) {
			cfg := testConfig(url, ShapeOpenAI, false, kind)
			cfg.Concurrency = 1
			cfg.Duration = 100 * time.Millisecond
			rep := runLoad(t, cfg)
			if rep.Requests == 0 || rep.ErrorsByKind[KindRefused] != rep.Requests {
				t.Errorf("by kind %v of %d requests, want all %q", rep.ErrorsByKind, rep.Requests, KindRefused)
			}
		})
	}
}

func TestRunTimeoutIsBounded(t *testing.T) {
	// Answers take longer than the whole run: none finishes, and the run
	// still ends by itself.
	up := &fakeUpstream{delay: 2 * time.Second}
	for _, kind := range []ClientKind{ClientFastHTTP, ClientNetHTTP} {
		t.Run(string(kind), func(t *testing.T) {
			cfg := testConfig(up.start(t), ShapeOpenAI, false, kind)
			cfg.Duration = 200 * time.Millisecond
			rep := runLoad(t, cfg)
			if rep.Requests != 0 {
				t.Errorf("requests %d, want 0: none can finish in the window", rep.Requests)
			}
		})
	}
}

func TestRunConstantRate(t *testing.T) {
	for _, kind := range []ClientKind{ClientFastHTTP, ClientNetHTTP} {
		t.Run(string(kind), func(t *testing.T) {
			up := &fakeUpstream{events: 2}
			cfg := testConfig(up.start(t), ShapeOpenAI, true, kind)
			cfg.Rate = 400
			cfg.Concurrency = 50
			cfg.Duration = time.Second
			cfg.Warmup = 100 * time.Millisecond
			rep := runLoad(t, cfg)
			scheduled := cfg.Rate * cfg.Duration.Seconds()
			issued := float64(rep.Sent + rep.Dropped)
			// Never more than the schedule holds. Fewer only when the
			// scheduler was starved of CPU near the end and the run stopped
			// before it caught up, which a loaded machine can cause: the
			// margin allows for a quarter of a second of that.
			if issued > scheduled || issued < 0.75*scheduled {
				t.Errorf("sent %d + dropped %d = %v, want about %v (late %d)", rep.Sent, rep.Dropped, issued, scheduled, rep.Late)
			}
			// Requests of the warmup still in flight when the window opens
			// finish in it: at most the cap of them.
			if rep.Requests > rep.Sent+int64(cfg.Concurrency) || float64(rep.Requests) < 0.5*scheduled {
				t.Errorf("finished %d of %d sent", rep.Requests, rep.Sent)
			}
			// The upstream saw the warmup's requests too.
			if seen := up.seen.Load(); seen < rep.Requests {
				t.Errorf("upstream saw %d requests, fewer than the %d finished", seen, rep.Requests)
			}
			if rep.Mode != "rate" || rep.Rate != cfg.Rate {
				t.Errorf("mode %q rate %v", rep.Mode, rep.Rate)
			}
		})
	}
}

func TestRunConstantRateDropsWhenSlotsAreBusy(t *testing.T) {
	up := &fakeUpstream{delay: 100 * time.Millisecond}
	cfg := testConfig(up.start(t), ShapeAnthropic, false, ClientFastHTTP)
	cfg.Rate = 200
	cfg.Concurrency = 2
	cfg.Duration = 500 * time.Millisecond
	cfg.Warmup = 0
	rep := runLoad(t, cfg)
	// Two slots of 100 ms serve at most about 20 requests/s of the 200
	// scheduled: the rest must be dropped, not queued.
	scheduled := int64(cfg.Rate * cfg.Duration.Seconds())
	if rep.Dropped < scheduled/2 {
		t.Errorf("dropped %d of %d scheduled, want most of them", rep.Dropped, scheduled)
	}
	// No answer comes before the delay, so two slots send at most two
	// requests per delay.
	if limit := int64(2 * (cfg.Duration/up.delay + 1)); rep.Sent > limit {
		t.Errorf("sent %d with 2 slots of %v over %v, want at most %d", rep.Sent, up.delay, cfg.Duration, limit)
	}
	if n := up.maxActive.Load(); n > int64(cfg.Concurrency) {
		t.Errorf("upstream saw %d requests at once, above the cap of %d", n, cfg.Concurrency)
	}
	if rep.Sent+rep.Dropped > scheduled || rep.Requests > rep.Sent {
		t.Errorf("sent %d + dropped %d, finished %d: more than the %d scheduled", rep.Sent, rep.Dropped, rep.Requests, scheduled)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	up := &fakeUpstream{delay: time.Second}
	for _, kind := range []ClientKind{ClientFastHTTP, ClientNetHTTP} {
		t.Run(string(kind), func(t *testing.T) {
			cfg := testConfig(up.start(t), ShapeOpenAI, true, kind)
			cfg.Duration = time.Minute
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			rep, err := Run(ctx, cfg)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run error %v, want context.Canceled", err)
			}
			if rep.DurationSec >= cfg.Duration.Seconds() {
				t.Errorf("measured %vs, want the time until cancel", rep.DurationSec)
			}
		})
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Concurrency = 0
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Run error %v, want ErrInvalidConfig", err)
	}
}
