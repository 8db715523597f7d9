package load

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what one run (or the merged rounds of one side of RunAB)
// measured. Times are in milliseconds. Only requests that finished inside
// the measured window count.
type Report struct {
	// Target is the base URL the load went to.
	Target string `json:"target"`
	// Shape and Stream describe the requests sent.
	Shape  Shape `json:"shape"`
	Stream bool  `json:"stream"`
	// Mode is "concurrency" (closed model) or "rate" (open model).
	Mode string `json:"mode"`
	// Concurrency is the number of workers, or the in-flight cap in rate mode.
	Concurrency int `json:"concurrency"`
	// Rate is the scheduled requests per second in rate mode.
	Rate float64 `json:"rate,omitempty"`
	// Client is the HTTP client used.
	Client ClientKind `json:"client"`
	// Runs is the number of runs merged into this report.
	Runs int `json:"runs"`
	// DurationSec is the measured time, warmups excluded.
	DurationSec float64 `json:"duration_s"`

	// Sent is the requests sent during the window (in rate mode, those
	// scheduled in it); some may still be in flight when it closes.
	Sent int64 `json:"sent"`
	// Requests is every request that finished in the window, whatever its
	// outcome.
	Requests int64 `json:"requests"`
	// OK is the successful, complete answers.
	OK int64 `json:"ok"`
	// RPS is OK per second.
	RPS float64 `json:"rps"`
	// Incomplete is the 2xx answers that were cut short: a JSON body that is
	// empty or does not end with '}', a stream without its closing event.
	Incomplete int64 `json:"incomplete"`
	// Errors is the requests answered with a non-2xx status or failed in
	// transport.
	Errors int64 `json:"errors"`
	// ErrorsByStatus counts non-2xx answers by status code.
	ErrorsByStatus map[string]int64 `json:"errors_by_status,omitempty"`
	// ErrorsByKind counts transport failures by kind (Kind* constants).
	ErrorsByKind map[string]int64 `json:"errors_by_kind,omitempty"`
	// Dropped is the scheduled requests not sent because every in-flight
	// slot was busy (rate mode).
	Dropped int64 `json:"dropped"`
	// Late is the requests sent more than LateAfter behind their schedule
	// (rate mode).
	Late int64 `json:"late"`
	// BytesReceived is the response body bytes read.
	BytesReceived int64 `json:"bytes_received"`

	// Latency is the time from sending to the end of the answer, for OK
	// requests.
	Latency Durations `json:"latency_ms"`
	// ErrorLatency is the latency of answers with an error status, such as
	// the gateway's immediate refusals under overload.
	ErrorLatency *Durations `json:"error_latency_ms,omitempty"`
	// TTFB is the time to the first event of a stream.
	TTFB *Durations `json:"ttfb_ms,omitempty"`
	// Gap is the time between consecutive events of a stream; events that
	// arrive in one read count as gaps of zero.
	Gap *Durations `json:"gap_ms,omitempty"`
	// Events is the number of events per streamed 2xx answer.
	Events *Counts `json:"events_per_response,omitempty"`
	// RSS is the memory of the process named by Config.RSSPid.
	RSS *RSS `json:"rss,omitempty"`
	// CPU is the processor time of the process named by Config.RSSPid
	// during the measured window.
	CPU *CPU `json:"cpu,omitempty"`
}

// Durations summarises a distribution of times, in milliseconds.
type Durations struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

// Counts summarises a distribution of counts.
type Counts struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   uint64  `json:"p50"`
	P99   uint64  `json:"p99"`
	Max   uint64  `json:"max"`
}

// results is a point-in-time copy of a collector, mergeable across rounds.
type results struct {
	latency, refused, ttfb, gap, events *histSnapshot

	sent, requests, ok, incomplete, bytes, dropped, late int64

	byStatus map[int]int64
	byKind   map[string]int64
	runs     int
}

func (c *collector) snapshot() *results {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &results{
		latency:    c.latency.snapshot(),
		refused:    c.refused.snapshot(),
		ttfb:       c.ttfb.snapshot(),
		gap:        c.gap.snapshot(),
		events:     c.events.snapshot(),
		sent:       c.sent.Load(),
		requests:   c.requests.Load(),
		ok:         c.ok.Load(),
		incomplete: c.incomplete.Load(),
		bytes:      c.bytes.Load(),
		dropped:    c.dropped.Load(),
		late:       c.late.Load(),
		byStatus:   maps.Clone(c.byStatus),
		byKind:     maps.Clone(c.byKind),
		runs:       1,
	}
}

func (s *results) merge(o *results) {
	s.latency.merge(o.latency)
	s.refused.merge(o.refused)
	s.ttfb.merge(o.ttfb)
	s.gap.merge(o.gap)
	s.events.merge(o.events)
	s.sent += o.sent
	s.requests += o.requests
	s.ok += o.ok
	s.incomplete += o.incomplete
	s.bytes += o.bytes
	s.dropped += o.dropped
	s.late += o.late
	for k, v := range o.byStatus {
		s.byStatus[k] += v
	}
	for k, v := range o.byKind {
		s.byKind[k] += v
	}
	s.runs += o.runs
}

func durations(h *histSnapshot) Durations {
	ms := func(ns uint64) float64 { return float64(ns) / 1e6 }
	return Durations{
		Count: int64(h.total),
		Mean:  h.mean() / 1e6,
		P50:   ms(h.quantile(0.50)),
		P90:   ms(h.quantile(0.90)),
		P99:   ms(h.quantile(0.99)),
		P999:  ms(h.quantile(0.999)),
		Max:   ms(h.max),
	}
}

func buildReport(cfg Config, target string, res *results, window time.Duration) Report {
	rep := Report{
		Target:        target,
		Shape:         cfg.Shape,
		Stream:        cfg.Stream,
		Mode:          "concurrency",
		Concurrency:   cfg.Concurrency,
		Client:        cfg.Client,
		Runs:          res.runs,
		DurationSec:   window.Seconds(),
		Sent:          res.sent,
		Requests:      res.requests,
		OK:            res.ok,
		Incomplete:    res.incomplete,
		Dropped:       res.dropped,
		Late:          res.late,
		BytesReceived: res.bytes,
		Latency:       durations(res.latency),
	}
	if res.refused != nil && res.refused.total > 0 {
		d := durations(res.refused)
		rep.ErrorLatency = &d
	}
	if cfg.Rate > 0 {
		rep.Mode, rep.Rate = "rate", cfg.Rate
	}
	if window > 0 {
		rep.RPS = float64(res.ok) / window.Seconds()
	}
	for status, n := range res.byStatus {
		if rep.ErrorsByStatus == nil {
			rep.ErrorsByStatus = make(map[string]int64)
		}
		rep.ErrorsByStatus[statusKey(status)] = n
		rep.Errors += n
	}
	for kind, n := range res.byKind {
		if rep.ErrorsByKind == nil {
			rep.ErrorsByKind = make(map[string]int64)
		}
		rep.ErrorsByKind[kind] = n
		rep.Errors += n
	}
	if cfg.Stream {
		ttfb, gap := durations(res.ttfb), durations(res.gap)
		rep.TTFB, rep.Gap = &ttfb, &gap
		rep.Events = &Counts{
			Count: int64(res.events.total),
			Mean:  res.events.mean(),
			P50:   res.events.quantile(0.50),
			P99:   res.events.quantile(0.99),
			Max:   res.events.max,
		}
	}
	return rep
}

// WriteTable writes the report as tables for people: a summary, then the
// distributions.
func (r Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := fmt.Sprintf("concurrency %d", r.Concurrency)
	if r.Mode == "rate" {
		mode = fmt.Sprintf("rate %g/s, max in flight %d", r.Rate, r.Concurrency)
	}
	body := "json"
	if r.Stream {
		body = "stream"
	}
	fmt.Fprintf(tw, "target\t%s (%s %s, %s, %s client)\n", r.Target, r.Shape, body, mode, r.Client)
	fmt.Fprintf(tw, "measured\t%.2f s over %d run(s)\n", r.DurationSec, r.Runs)
	fmt.Fprintf(tw, "requests\t%d sent, %d finished: ok %d, incomplete %d, errors %d\n", r.Sent, r.Requests, r.OK, r.Incomplete, r.Errors)
	fmt.Fprintf(tw, "throughput\t%.1f ok/s, %s received\n", r.RPS, formatBytes(r.BytesReceived))
	if r.Mode == "rate" {
		fmt.Fprintf(tw, "schedule\tdropped %d, late %d\n", r.Dropped, r.Late)
	}
	if len(r.ErrorsByStatus) > 0 {
		fmt.Fprintf(tw, "errors by status\t%s\n", formatCounts(r.ErrorsByStatus))
	}
	if len(r.ErrorsByKind) > 0 {
		fmt.Fprintf(tw, "errors by kind\t%s\n", formatCounts(r.ErrorsByKind))
	}
	if r.RSS != nil {
		fmt.Fprintf(tw, "rss of pid %d\tbefore %s, max %s, after %s\n", r.RSS.PID,
			formatBytes(r.RSS.BeforeKB<<10), formatBytes(r.RSS.MaxKB<<10), formatBytes(r.RSS.AfterKB<<10))
		if r.RSS.Error != "" {
			fmt.Fprintf(tw, "rss error\t%s\n", r.RSS.Error)
		}
	}
	if r.CPU != nil {
		fmt.Fprintf(tw, "cpu of pid %d\t%.0f ms, %.1f µs per request", r.CPU.PID, r.CPU.Ms, r.CPU.PerRequestUs)
		if r.CPU.PerEventUs > 0 {
			fmt.Fprintf(tw, ", %.2f µs per event", r.CPU.PerEventUs)
		}
		fmt.Fprintln(tw)
		if r.CPU.Error != "" {
			fmt.Fprintf(tw, "cpu error\t%s\n", r.CPU.Error)
		}
	}
	_ = tw.Flush()

	// Right-aligned numbers, in a table of their own so that the summary's
	// long values do not widen its columns.
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tp50\tp90\tp99\tp99.9\tmax\tmean\t\n")
	writeDurations(tw, "latency ms", r.Latency)
	if r.ErrorLatency != nil {
		writeDurations(tw, "error latency ms", *r.ErrorLatency)
	}
	if r.TTFB != nil {
		writeDurations(tw, "first event ms", *r.TTFB)
	}
	if r.Gap != nil {
		writeDurations(tw, "event gap ms", *r.Gap)
	}
	if r.Events != nil {
		fmt.Fprintf(tw, "events/response\t%d\t-\t%d\t-\t%d\t%.1f\t\n", r.Events.P50, r.Events.P99, r.Events.Max, r.Events.Mean)
	}
	_ = tw.Flush()
}

func writeDurations(w io.Writer, name string, d Durations) {
	fmt.Fprintf(w, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", name, d.P50, d.P90, d.P99, d.P999, d.Max, d.Mean)
}

func formatCounts(m map[string]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Comparison is the cost of the gateway: the target side against the
// direct side of an A/B run. A ratio whose denominator is zero is 0.
type Comparison struct {
	// RPSRatio is target RPS / direct RPS.
	RPSRatio float64 `json:"rps_ratio"`
	// LatencyP50Ratio and LatencyP99Ratio are target / direct latency.
	LatencyP50Ratio float64 `json:"latency_p50_ratio"`
	LatencyP99Ratio float64 `json:"latency_p99_ratio"`
	// AddedP50Ms and AddedP99Ms are target − direct latency.
	AddedP50Ms float64 `json:"added_p50_ms"`
	AddedP99Ms float64 `json:"added_p99_ms"`
	// AddedTTFBP50Ms and AddedTTFBP99Ms are target − direct time to first
	// event, for streams.
	AddedTTFBP50Ms float64 `json:"added_ttfb_p50_ms,omitempty"`
	AddedTTFBP99Ms float64 `json:"added_ttfb_p99_ms,omitempty"`
	// AddedGapP50Ms and AddedGapP99Ms are target − direct time between
	// consecutive events of a stream: the delay the gateway adds to each
	// event of a stream whose upstream paces its events.
	AddedGapP50Ms float64 `json:"added_gap_p50_ms,omitempty"`
	AddedGapP99Ms float64 `json:"added_gap_p99_ms,omitempty"`
}

// Compare computes the gateway's overhead from a target and a direct report.
func Compare(target, direct Report) Comparison {
	c := Comparison{
		RPSRatio:        ratio(target.RPS, direct.RPS),
		LatencyP50Ratio: ratio(target.Latency.P50, direct.Latency.P50),
		LatencyP99Ratio: ratio(target.Latency.P99, direct.Latency.P99),
		AddedP50Ms:      target.Latency.P50 - direct.Latency.P50,
		AddedP99Ms:      target.Latency.P99 - direct.Latency.P99,
	}
	if target.TTFB != nil && direct.TTFB != nil {
		c.AddedTTFBP50Ms = target.TTFB.P50 - direct.TTFB.P50
		c.AddedTTFBP99Ms = target.TTFB.P99 - direct.TTFB.P99
	}
	if target.Gap != nil && direct.Gap != nil {
		c.AddedGapP50Ms = target.Gap.P50 - direct.Gap.P50
		c.AddedGapP99Ms = target.Gap.P99 - direct.Gap.P99
	}
	return c
}

// ratio returns a/b, or 0 when b is 0 so that the result stays valid JSON.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Round is one run of an A/B comparison.
type Round struct {
	// Index counts rounds from 1; each round has one run per side.
	Index int `json:"index"`
	// Side is "target" or "direct".
	Side   string `json:"side"`
	Report Report `json:"report"`
}

// ABReport is the result of RunAB.
type ABReport struct {
	// Target and Direct merge every round of their side.
	Target     Report     `json:"target"`
	Direct     Report     `json:"direct"`
	Comparison Comparison `json:"comparison"`
	Rounds     []Round    `json:"rounds"`
}

// RunAB runs cfg.Rounds pairs of runs, cfg.URL then cfg.Direct, each with
// its own warmup and duration, and merges each side's rounds. Alternating
// short runs cancels slow drift of the machine that one long run per side
// would attribute to whichever side ran second. RSS sampling, when set,
// covers the target's runs only.
func RunAB(ctx context.Context, cfg Config) (ABReport, error) {
	if err := cfg.Validate(); err != nil {
		return ABReport{}, err
	}
	if cfg.Direct == "" {
		return ABReport{}, fmt.Errorf("%w: RunAB needs a direct URL", ErrInvalidConfig)
	}
	type side struct {
		name, url string
		rssPid    int
		res       *results
		window    time.Duration
		rss       *RSS
		cpu       *CPU
	}
	sides := [2]*side{{name: "target", url: cfg.URL, rssPid: cfg.RSSPid}, {name: "direct", url: cfg.Direct}}
	var (
		ab  ABReport
		err error
	)
rounds:
	for round := 1; round <= cfg.Rounds; round++ {
		for _, s := range sides {
			sideCfg := cfg
			if s.name == "direct" && cfg.DirectPath != "" {
				sideCfg.Path = cfg.DirectPath
			}
			col, window, proc, runErr := runOnce(ctx, sideCfg, s.url, s.rssPid)
			res := col.snapshot()
			rep := buildReport(sideCfg, s.url, res, window)
			rep.RSS, rep.CPU = proc.rss, proc.cpu
			rep.spreadCPU()
			ab.Rounds = append(ab.Rounds, Round{Index: round, Side: s.name, Report: rep})
			if s.res == nil {
				s.res = res
			} else {
				s.res.merge(res)
			}
			s.window += window
			s.rss = s.rss.merge(proc.rss)
			s.cpu = s.cpu.merge(proc.cpu)
			if runErr != nil {
				err = runErr
				break rounds
			}
		}
	}
	reports := [2]Report{}
	for i, s := range sides {
		if s.res == nil {
			// Interrupted before this side ran.
			s.res = newCollector().snapshot()
			s.res.runs = 0
		}
		reports[i] = buildReport(cfg, s.url, s.res, s.window)
		reports[i].RSS, reports[i].CPU = s.rss, s.cpu
		reports[i].spreadCPU()
	}
	ab.Target, ab.Direct = reports[0], reports[1]
	ab.Comparison = Compare(ab.Target, ab.Direct)
	return ab, err
}

// WriteTable writes both sides, their ratio and the rounds as tables.
func (ab ABReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "== target, all rounds\n")
	ab.Target.WriteTable(w)
	fmt.Fprintf(w, "\n== direct, all rounds\n")
	ab.Direct.WriteTable(w)

	c := ab.Comparison
	fmt.Fprintf(w, "\n== target vs direct\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tp50\tp99\t\n")
	fmt.Fprintf(tw, "latency ratio\t%.3f\t%.3f\t\n", c.LatencyP50Ratio, c.LatencyP99Ratio)
	fmt.Fprintf(tw, "added latency ms\t%+.3f\t%+.3f\t\n", c.AddedP50Ms, c.AddedP99Ms)
	if ab.Target.TTFB != nil {
		fmt.Fprintf(tw, "added first event ms\t%+.3f\t%+.3f\t\n", c.AddedTTFBP50Ms, c.AddedTTFBP99Ms)
		fmt.Fprintf(tw, "added event gap ms\t%+.3f\t%+.3f\t\n", c.AddedGapP50Ms, c.AddedGapP99Ms)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "rps ratio %.3f\n", c.RPSRatio)

	fmt.Fprintf(w, "\n== rounds\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\tside\tok/s\tp50 ms\tp99 ms\terrors\tincomplete\t\n")
	for _, r := range ab.Rounds {
		fmt.Fprintf(tw, "%d\t%s\t%.1f\t%.3f\t%.3f\t%d\t%d\t\n", r.Index, r.Side, r.Report.RPS,
			r.Report.Latency.P50, r.Report.Latency.P99, r.Report.Errors, r.Report.Incomplete)
	}
	_ = tw.Flush()
}
