package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aigateway/gateway/cmd/gateway/internal/app"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress/accesslog"
)

// The process modes, by command name.
const (
	modeAll     = app.ModeAll
	modeIngress = app.ModeIngress
	modeWorker  = app.ModeWorker
)

// commandOf names the command that runs mode, for messages.
func commandOf(mode app.Mode) string {
	if mode == app.ModeAll {
		return "run"
	}
	return string(mode)
}

// loadConfig parses the --config flag of a command and loads the
// configuration as every command does.
func loadConfig(env *cmdEnv, name string, fs *flag.FlagSet, args []string) (config.Config, error) {
	cfg, _, err := loadConfigAgain(env, name, fs, args)
	return cfg, err
}

// loadConfigAgain is loadConfig that also returns a function reading the
// same configuration again, for a reload.
func loadConfigAgain(env *cmdEnv, name string, fs *flag.FlagSet, args []string) (config.Config, func() (config.Config, error), error) {
	configPath := fs.String("config", "", "configuration file (default: config/$GATEWAY_ENV.toml, else config/default.toml)")
	if err := parseFlags(env, name, fs, args); err != nil {
		return config.Config{}, nil, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "gateway %s: unexpected argument %q\n\n", name, fs.Arg(0))
		printCommandUsage(env.stderr, lookupCommand(name), fs)
		return config.Config{}, nil, errUsage
	}
	load := func() (config.Config, error) {
		return config.Load(config.LoadOptions{Path: *configPath, Env: env.lookupEnv})
	}
	cfg, err := load()
	return cfg, load, err
}

// runServe runs a gateway process in mode until SIGINT or SIGTERM, or until
// a part of it stops on its own (then it exits with that error).
func runServe(env *cmdEnv, mode app.Mode, args []string) error {
	name := commandOf(mode)
	cfg, loadFile, err := loadConfigAgain(env, name, flag.NewFlagSet(name, flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	load := func() (config.Config, error) {
		cfg, err := loadFile()
		if err == nil && mode != app.ModeAll && cfg.Bus.Mode == "embedded" {
			// Split processes always join an external server; with the
			// default configuration that is the one at bus.url on this host.
			cfg.Bus.Mode = "external"
		}
		return cfg, err
	}
	if mode != app.ModeAll && cfg.Bus.Mode == "embedded" {
		cfg.Bus.Mode = "external"
	}
	logger, err := newLogger(cfg.Logging, env.stderr)
	if err != nil {
		return err
	}
	var accessLog *accesslog.Logger
	if cfg.Server.AccessLog && mode != app.ModeWorker {
		if accessLog, err = newAccessLog(cfg.Logging, env.stderr); err != nil {
			return err
		}
		// Close writes the lines still batched; the ingress flushes it when
		// it shuts down, this covers the ways out that skip that.
		defer accessLog.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	build := currentBuild()
	// SIGHUP reloads the configuration, here and in every other gateway
	// process on the bus.
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)
	a, err := app.Start(ctx, cfg, app.Options{Mode: mode, Logger: logger, AccessLog: accessLog, Version: build.Version, Load: load})
	if err != nil {
		if ctx.Err() != nil {
			logger.Info("stopped before the start completed")
			return nil
		}
		return err
	}
	var failed error
wait:
	for {
		select {
		case <-ctx.Done():
			logger.Info("shutting down", "grace", cfg.Server.ShutdownGrace.Duration.String())
			break wait
		case failed = <-a.Done():
			logger.Error("shutting down: a part of the gateway stopped", "err", failed)
			break wait
		case <-hangup:
			logger.Info("SIGHUP: reloading the configuration")
			// Reload logs what it refused and why.
			_ = a.ReloadAll(ctx)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace.Duration)
	defer cancel()
	if err := a.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("shutdown", "err", err)
	}
	logger.Info("stopped")
	return failed
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
