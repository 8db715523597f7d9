package load

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/converter/jsonx"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestCompare(t *testing.T) {
	stream := func(p50, p99 float64) *Durations { return &Durations{P50: p50, P99: p99} }
	tests := []struct {
		name           string
		target, direct Report
		want           Comparison
	}{
		{
			name:   "gateway costs",
			target: Report{RPS: 800, Latency: Durations{P50: 3, P99: 9}},
			direct: Report{RPS: 1000, Latency: Durations{P50: 2, P99: 6}},
			want:   Comparison{RPSRatio: 0.8, LatencyP50Ratio: 1.5, LatencyP99Ratio: 1.5, AddedP50Ms: 1, AddedP99Ms: 3},
		},
		{
			name:   "streams add first event",
			target: Report{RPS: 50, Latency: Durations{P50: 110, P99: 130}, TTFB: stream(12, 20)},
			direct: Report{RPS: 50, Latency: Durations{P50: 100, P99: 120}, TTFB: stream(10, 15)},
			want: Comparison{RPSRatio: 1, LatencyP50Ratio: 1.1, LatencyP99Ratio: 130.0 / 120,
				AddedP50Ms: 10, AddedP99Ms: 10, AddedTTFBP50Ms: 2, AddedTTFBP99Ms: 5},
		},
		{
			name:   "empty direct side gives zero ratios",
			target: Report{RPS: 10, Latency: Durations{P50: 1, P99: 2}},
			direct: Report{},
			want:   Comparison{AddedP50Ms: 1, AddedP99Ms: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(tt.target, tt.direct)
			if !closeComparison(got, tt.want) {
				t.Errorf("Compare = %+v, want %+v", got, tt.want)
			}
			if _, err := jsonx.Marshal(got); err != nil {
				t.Errorf("comparison does not encode: %v", err)
			}
		})
	}
}

func closeComparison(a, b Comparison) bool {
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range av.NumField() {
		if d := av.Field(i).Float() - bv.Field(i).Float(); d > 1e-9 || d < -1e-9 {
			return false
		}
	}
	return true
}

func TestRunAB(t *testing.T) {
	const delay = 20 * time.Millisecond
	gateway := &fakeUpstream{events: 3, delay: delay}
	upstream := &fakeUpstream{events: 3}
	cfg := testConfig(gateway.start(t), ShapeAnthropic, true, ClientFastHTTP)
	cfg.Direct = upstream.start(t)
	cfg.Rounds = 2
	cfg.Duration = 200 * time.Millisecond
	cfg.RSSPid = os.Getpid()
	cfg.RSSInterval = 10 * time.Millisecond

	ab, err := RunAB(context.Background(), cfg)
	if err != nil {
		t.Fatalf("RunAB: %v", err)
	}
	var sides []string
	var targetOK, directOK int64
	for i, r := range ab.Rounds {
		sides = append(sides, r.Side)
		if r.Index != i/2+1 {
			t.Errorf("round %d has index %d", i, r.Index)
		}
		checkInvariants(t, r.Report)
		switch r.Side {
		case "target":
			targetOK += r.Report.OK
			if r.Report.Target != cfg.URL || r.Report.RSS == nil {
				t.Errorf("target round %d: target %q rss %v", r.Index, r.Report.Target, r.Report.RSS)
			}
		case "direct":
			directOK += r.Report.OK
			if r.Report.Target != cfg.Direct || r.Report.RSS != nil {
				t.Errorf("direct round %d: target %q rss %v", r.Index, r.Report.Target, r.Report.RSS)
			}
		}
	}
	if got := strings.Join(sides, ","); got != "target,direct,target,direct" {
		t.Errorf("rounds ran %s, want target,direct,target,direct", got)
	}
	checkInvariants(t, ab.Target)
	checkInvariants(t, ab.Direct)
	if ab.Target.OK != targetOK || ab.Direct.OK != directOK || targetOK == 0 || directOK == 0 {
		t.Errorf("merged ok %d/%d, rounds sum to %d/%d", ab.Target.OK, ab.Direct.OK, targetOK, directOK)
	}
	if ab.Target.Runs != 2 || ab.Direct.Runs != 2 {
		t.Errorf("runs %d/%d, want 2 each", ab.Target.Runs, ab.Direct.Runs)
	}
	if ab.Target.DurationSec < 2*cfg.Duration.Seconds()*0.9 {
		t.Errorf("target measured %vs over 2 rounds of %v", ab.Target.DurationSec, cfg.Duration)
	}
	// No request through the delayed side can be faster than its delay.
	if min := float64(delay) / 1e6; ab.Target.Latency.P50 < min || ab.Target.TTFB.P50 < min {
		t.Errorf("target p50 %v ttfb p50 %v below the %v delay", ab.Target.Latency.P50, ab.Target.TTFB.P50, delay)
	}
	if ab.Comparison != Compare(ab.Target, ab.Direct) {
		t.Errorf("comparison %+v is not Compare of the sides", ab.Comparison)
	}
	if ab.Target.RSS == nil || ab.Target.RSS.Samples < 2 || ab.Direct.RSS != nil {
		t.Errorf("rss target %+v direct %+v", ab.Target.RSS, ab.Direct.RSS)
	}
}

func TestRunABNeedsDirect(t *testing.T) {
	if _, err := RunAB(context.Background(), DefaultConfig()); err == nil {
		t.Fatal("RunAB without a direct URL: no error")
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	up := &fakeUpstream{events: 4, failEvery: 5}
	cfg := testConfig(up.start(t), ShapeOpenAI, true, ClientNetHTTP)
	cfg.RSSPid = os.Getpid()
	rep := runLoad(t, cfg)
	if rep.ErrorsByStatus["500"] == 0 || rep.RSS == nil || rep.TTFB == nil {
		t.Fatalf("report lacks the parts to round-trip: %+v", rep)
	}
	ab := ABReport{Target: rep, Direct: rep, Comparison: Compare(rep, rep), Rounds: []Round{{Index: 1, Side: "target", Report: rep}}}
	for name, v := range map[string]any{"report": &rep, "ab": &ab} {
		t.Run(name, func(t *testing.T) {
			b, err := jsonx.Marshal(v)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			back := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := jsonx.Unmarshal(b, back); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(back, v) {
				t.Errorf("round trip changed the report:\n got %+v\nwant %+v", back, v)
			}
		})
	}
}

// sampleReport is a fixed report for the golden tables.
func sampleReport(target string, stream bool) Report {
	r := Report{
		Target: target, Shape: ShapeOpenAI, Stream: stream, Mode: "rate", Concurrency: 200, Rate: 2000,
		Client: ClientFastHTTP, Runs: 2, DurationSec: 20, Sent: 40000, Requests: 39990, OK: 39900, RPS: 1995,
		Incomplete: 10, Errors: 80, ErrorsByStatus: map[string]int64{"429": 60, "500": 5},
		ErrorsByKind: map[string]int64{KindTimeout: 15}, Dropped: 7, Late: 3, BytesReceived: 123456789,
		Latency: Durations{Count: 39900, Mean: 2.1, P50: 1.9, P90: 3.2, P99: 7.5, P999: 15.25, Max: 40.5},
		RSS:     &RSS{PID: 4242, BeforeKB: 30000, MaxKB: 61000, AfterKB: 42000, Samples: 200},
		CPU:     &CPU{PID: 4242, Ms: 6120, PerRequestUs: 153.4, PerEventUs: 13.95},
	}
	if stream {
		r.TTFB = &Durations{Count: 39900, Mean: 1.1, P50: 1, P90: 1.5, P99: 3, P999: 6, Max: 9}
		r.Gap = &Durations{Count: 399000, Mean: 0.2, P50: 0.1, P90: 0.3, P99: 1, P999: 2, Max: 5}
		r.Events = &Counts{Count: 39900, Mean: 11, P50: 11, P99: 11, Max: 12}
	}
	return r
}

func TestWriteTableGolden(t *testing.T) {
	target := sampleReport("http://127.0.0.1:8080", true)
	direct := sampleReport("http://127.0.0.1:9090", true)
	direct.RPS, direct.Latency.P50, direct.Latency.P99, direct.TTFB.P50, direct.RSS = 2000, 1.2, 5.5, 0.6, nil
	ab := ABReport{Target: target, Direct: direct, Comparison: Compare(target, direct),
		Rounds: []Round{{1, "target", target}, {1, "direct", direct}}}
	json := sampleReport("http://127.0.0.1:8080", false)
	json.Mode, json.Rate, json.Dropped, json.Late, json.RSS, json.ErrorsByKind = "concurrency", 0, 0, 0, nil, nil
	tests := []struct {
		name  string
		write func(*bytes.Buffer)
	}{
		{"report_stream", func(b *bytes.Buffer) { target.WriteTable(b) }},
		{"report_json", func(b *bytes.Buffer) { json.WriteTable(b) }},
		{"ab", func(b *bytes.Buffer) { ab.WriteTable(b) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.write(&b)
			checkGolden(t, filepath.Join("testdata", tt.name+".golden"), b.Bytes())
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"rate mode", func(c *Config) { c.Rate = 1000 }, true},
		{"custom body needs no model", func(c *Config) { c.Body, c.Model, c.MaxTokens = []byte(`{}`), "", 0 }, true},
		{"https", func(c *Config) { c.URL = "https://gw.local:8443/prefix" }, true},
		{"bad scheme", func(c *Config) { c.URL = "ftp://x" }, false},
		{"no host", func(c *Config) { c.URL = "http://" }, false},
		{"bad direct", func(c *Config) { c.Direct = "127.0.0.1:9090" }, false},
		{"bad shape", func(c *Config) { c.Shape = "gemini" }, false},
		{"bad client", func(c *Config) { c.Client = "curl" }, false},
		{"zero concurrency", func(c *Config) { c.Concurrency = 0 }, false},
		{"negative rate", func(c *Config) { c.Rate = -1 }, false},
		{"zero duration", func(c *Config) { c.Duration = 0 }, false},
		{"negative warmup", func(c *Config) { c.Warmup = -time.Second }, false},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, false},
		{"zero rounds", func(c *Config) { c.Rounds = 0 }, false},
		{"rss without interval", func(c *Config) { c.RSSPid, c.RSSInterval = 1, 0 }, false},
		{"no model", func(c *Config) { c.Model = "" }, false},
		{"header with colon in key", func(c *Config) { c.Headers = []Header{{Key: "A:B", Value: "c"}} }, false},
		{"header with newline", func(c *Config) { c.Headers = []Header{{Key: "A", Value: "b\r\nX: y"}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestRequestBody(t *testing.T) {
	tests := []struct {
		name   string
		shape  Shape
		stream bool
		want   string
	}{
		{"openai", ShapeOpenAI, false, `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`},
		{"openai stream", ShapeOpenAI, true, `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
		{"anthropic stream", ShapeAnthropic, true, `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"stream":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Shape, cfg.Stream, cfg.Model, cfg.MaxTokens, cfg.Prompt = tt.shape, tt.stream, "m", 8, "hi"
			got, err := cfg.requestBody()
			if err != nil || string(got) != tt.want {
				t.Errorf("body %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.Body = []byte(`{"custom":1}`)
	if got, _ := cfg.requestBody(); string(got) != `{"custom":1}` {
		t.Errorf("custom body replaced by %s", got)
	}
}
