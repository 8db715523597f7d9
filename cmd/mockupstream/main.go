// Command mockupstream runs a fake OpenAI and Anthropic upstream on loopback
// for demos, load tests and manual testing of the gateway. See package mock
// for the answers it gives.
//
// Usage:
//
//	mockupstream -addr 127.0.0.1:9090 -chunks 22 -gap 20ms
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "mockupstream:", err)
		os.Exit(1)
	}
}

// parseFlags turns the command line into an address and a mock.Config.
func parseFlags(args []string) (string, mock.Config, error) {
	cfg := mock.DefaultConfig()
	fs := flag.NewFlagSet("mockupstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address (port 0 picks a free port)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "wait before the response headers")
	fs.IntVar(&cfg.Chunks, "chunks", cfg.Chunks, "content chunks in a streamed answer")
	fs.DurationVar(&cfg.ChunkGap, "gap", 0, "wait between streamed chunks")
	fs.IntVar(&cfg.ErrorStatus, "error-status", 0, "fail every request with this HTTP status")
	fs.IntVar(&cfg.DisconnectAfter, "disconnect-after", 0, "cut streamed answers after this many chunks")
	fs.BoolVar(&cfg.Hang, "hang", false, "never answer, wait for the client to go away")
	fs.DurationVar(&cfg.Stall, "stall", 0, "in a streamed answer, wait this long between the headers and the first event")
	fs.DurationVar(&cfg.RetryAfter, "retry-after", 0, "Retry-After of -error-status 429 or 529 (default 1s)")
	fs.StringVar(&cfg.ReplayFile, "replay", "", "answer every request with this file (.sse or .json)")
	fs.StringVar(&cfg.ScriptFile, "script", "", "answer matching requests from this JSON script of text and tool calls")
	fs.IntVar(&cfg.ReplayStatus, "replay-status", 0, "HTTP status for -replay (default 200)")
	fs.BoolVar(&cfg.Strict, "strict", cfg.Strict, "validate requests like the real providers")
	fs.StringVar(&cfg.APIKey, "api-key", "", "require this API key")
	if err := fs.Parse(args); err != nil {
		return "", cfg, err
	}
	if fs.NArg() > 0 {
		return "", cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		return "", cfg, err
	}
	return *addr, cfg, nil
}

func run(args []string) error {
	addr, cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := mock.New(cfg)
	if err := srv.Start(addr); err != nil {
		return err
	}
	log.Info("mock upstream listening", "url", srv.URL(),
		"openai_base_url", srv.URL()+"/v1", "anthropic_base_url", srv.URL(),
		"chunks", cfg.Chunks, "gap", cfg.ChunkGap, "strict", cfg.Strict)
	<-ctx.Done()
	log.Info("shutting down", "requests", srv.Stats().Requests)
	return srv.Close()
}
