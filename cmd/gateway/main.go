// Command gateway is the AI gateway: one endpoint in front of model
// providers, speaking the OpenAI Chat Completions and Anthropic Messages APIs.
//
// Usage:
//
//	gateway [--config PATH]            ingress, workers and embedded NATS in one process
//	gateway ingress [--config PATH]    the HTTP ingress, on external NATS
//	gateway worker [--config PATH]     worker pools, on external NATS
//	gateway keys new NAME              print a new API key and its config line
//	gateway keys hash                  print the SHA-256 of a key read from stdin
//	gateway healthcheck                exit 0 when the local /health answers 200
//	gateway version                    print the version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aigateway/gateway/cmd/gateway/app"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress/access"
	"github.com/aigateway/gateway/ingress/accesslog"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	mode := app.ModeAll
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "ingress":
			mode = app.ModeIngress
		case "worker":
			mode = app.ModeWorker
		case "keys":
			return runKeys(args[1:], stdin, stdout)
		case "healthcheck":
			return healthcheck(args[1:])
		case "version":
			fmt.Fprintln(stdout, version)
			return nil
		default:
			return fmt.Errorf("unknown command %q (want ingress, worker, keys, healthcheck or version)", args[0])
		}
		args = args[1:]
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default: config/default.toml, or config/$GATEWAY_ENV.toml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(config.LoadOptions{Path: *configPath})
	if err != nil {
		return err
	}
	if mode != app.ModeAll && cfg.Bus.Mode == "embedded" {
		// Split processes always join an external server.
		cfg.Bus.Mode = "external"
	}
	logger, err := newLogger(cfg.Logging, stderr)
	if err != nil {
		return err
	}
	var accessLog *accesslog.Logger
	if cfg.Server.AccessLog && mode != app.ModeWorker {
		if accessLog, err = newAccessLog(cfg.Logging, stderr); err != nil {
			return err
		}
		// Close writes the lines still batched; the ingress flushes it when
		// it shuts down, this covers the ways out that skip that.
		defer accessLog.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := app.Start(ctx, cfg, app.Options{Mode: mode, Logger: logger, AccessLog: accessLog, Version: version})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "grace", cfg.Server.ShutdownGrace.Duration.String())
	case err := <-a.Done():
		logger.Error("HTTP server stopped", "err", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace.Duration)
	defer cancel()
	if err := a.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("shutdown", "err", err)
	}
	logger.Info("stopped")
	return nil
}

func newLogger(cfg config.Logging, w io.Writer) (*slog.Logger, error) {
	level, err := logLevel(cfg)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "pretty" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// accessLogFlush is how long access-log lines may wait in memory to be
// written together: one write system call for many lines instead of one per
// line, at the price of the last lines if the process dies without shutting
// down.
const accessLogFlush = 100 * time.Millisecond

// newAccessLog returns the access log, written to w beside the other logs,
// in the same format and at the same level.
func newAccessLog(cfg config.Logging, w io.Writer) (*accesslog.Logger, error) {
	level, err := logLevel(cfg)
	if err != nil {
		return nil, err
	}
	return accesslog.New(w, accesslog.Options{
		Format: accesslog.Format(cfg.Format), Level: level, FlushInterval: accessLogFlush,
	}), nil
}

func logLevel(cfg config.Logging) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return 0, fmt.Errorf("logging.level: %w", err)
	}
	return level, nil
}

func runKeys(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: gateway keys new NAME | gateway keys hash")
	}
	switch args[0] {
	case "new":
		if len(args) != 2 || args[1] == "" {
			return errors.New("usage: gateway keys new NAME")
		}
		plain, hash, err := access.NewKey()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key:  %s\n\nGive the key to its user; it is not stored anywhere. Paste this into the config:\n\n", plain)
		fmt.Fprintf(stdout, "[[access.keys]]\nname = %q\nkey_sha256 = %q\n", args[1], hash)
		return nil
	case "hash":
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading key from stdin: %w", err)
		}
		key := strings.TrimSpace(line)
		if key == "" {
			return errors.New("no key on stdin")
		}
		fmt.Fprintln(stdout, access.HashKey(key))
		return nil
	}
	return fmt.Errorf("unknown keys command %q (want new or hash)", args[0])
}

// healthcheck probes the local /health, for container HEALTHCHECKs where no
// curl is available.
func healthcheck(args []string) error {
	port := os.Getenv("GATEWAY_SERVER_PORT")
	if port == "" {
		port = "8080"
	}
	url := "http://127.0.0.1:" + port + "/health"
	if len(args) > 0 {
		url = args[0]
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: status %d", resp.StatusCode)
	}
	return nil
}
