// Command loadgen sends Chat Completions or Messages load to the gateway (or
// straight to an upstream) and reports throughput, latency percentiles,
// stream timings, errors and, optionally, the gateway's memory.
//
// Fixed concurrency, 50 workers back to back for 10 s:
//
//	loadgen -url http://127.0.0.1:8080 -c 50 -duration 10s
//
// Constant arrival rate of 2000 requests/s, at most 500 in flight, streamed,
// Anthropic shape:
//
//	loadgen -rate 2000 -c 500 -shape anthropic -stream
//
// Gateway against the mock upstream it fronts, alternating two rounds each,
// with the gateway's memory sampled and the figures written as JSON:
//
//	loadgen -url http://127.0.0.1:8080 -direct http://127.0.0.1:9090 -rounds 2 \
//	    -rss-pid $(pidof gateway) -json result.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/aigateway/gateway/cmd/loadgen/internal/load"
	"github.com/aigateway/gateway/converter/jsonx"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// headerFlags collects repeated -header K:V flags.
type headerFlags []load.Header

func (h *headerFlags) String() string {
	parts := make([]string, len(*h))
	for i, kv := range *h {
		parts[i] = kv.Key + ":" + kv.Value
	}
	return strings.Join(parts, ",")
}

func (h *headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("header %q: want Key:Value", v)
	}
	*h = append(*h, load.Header{Key: k, Value: strings.TrimSpace(val)})
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	cfg := load.DefaultConfig()
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		shape, client, bodyFile, jsonOut, cpuProfile string
		headers                                      headerFlags
	)
	fs.StringVar(&cfg.URL, "url", cfg.URL, "base URL of the target (the gateway)")
	fs.StringVar(&cfg.Direct, "direct", "", "base URL of the upstream to compare against; runs A/B rounds")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "A/B rounds with -direct: each runs the target then the direct side")
	fs.StringVar(&cfg.Path, "path", "", "request path (default: the shape's endpoint)")
	fs.StringVar(&cfg.DirectPath, "direct-path", "", "request path on the -direct side (default: -path)")
	fs.StringVar(&shape, "shape", string(cfg.Shape), "request shape: openai or anthropic")
	fs.BoolVar(&cfg.Stream, "stream", false, "request and expect a server-sent-events stream")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model in generated bodies")
	fs.StringVar(&cfg.Prompt, "prompt", cfg.Prompt, "user message in generated bodies")
	fs.IntVar(&cfg.MaxTokens, "max-tokens", cfg.MaxTokens, "max_tokens in generated bodies")
	fs.StringVar(&bodyFile, "body", "", "send this file as the request body instead of a generated one")
	fs.Var(&headers, "header", "extra request header Key:Value (repeatable)")
	fs.IntVar(&cfg.Concurrency, "c", cfg.Concurrency, "workers; with -rate, the cap on requests in flight")
	fs.Float64Var(&cfg.Rate, "rate", 0, "requests per second on a fixed schedule (open model); 0 = fixed concurrency")
	fs.DurationVar(&cfg.LateAfter, "late", cfg.LateAfter, "with -rate, a request sent this far behind schedule counts as late")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time (per round with -direct)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured time before each run")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "limit for one request, stream included")
	fs.StringVar(&client, "client", string(cfg.Client), "HTTP client: fasthttp or nethttp")
	fs.IntVar(&cfg.RSSPid, "rss-pid", 0, "sample VmRSS of this process before, during and after the run")
	fs.DurationVar(&cfg.RSSInterval, "rss-interval", cfg.RSSInterval, "sampling period of -rss-pid")
	fs.StringVar(&jsonOut, "json", "", "also write the figures as JSON to this file (- for stdout, replacing the table)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Shape, cfg.Client, cfg.Headers = load.Shape(shape), load.ClientKind(client), headers
	if bodyFile != "" {
		b, err := os.ReadFile(bodyFile)
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		cfg.Body = b
	}

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	// Ctrl-C ends the run early; the figures gathered so far are still shown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		result interface{ WriteTable(io.Writer) }
		runErr error
	)
	if cfg.Direct != "" {
		ab, err := load.RunAB(ctx, cfg)
		result, runErr = ab, err
	} else {
		rep, err := load.Run(ctx, cfg)
		result, runErr = rep, err
	}
	// An interrupted run still has figures worth showing; any other error
	// means there are none.
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	if jsonOut != "-" {
		result.WriteTable(stdout)
	}
	if jsonOut != "" {
		if err := writeJSON(jsonOut, result, stdout); err != nil {
			return err
		}
	}
	return runErr
}

func writeJSON(path string, v any, stdout io.Writer) error {
	b, err := jsonx.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
	} else {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
