package app

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress/access"
)

// reloadTimeout bounds applying a new configuration: creating the queues of
// new upstreams on the bus above all.
const reloadTimeout = 30 * time.Second

// ErrAccessNeedsRestart says that access control was off at start: turning
// it on takes a restart.
var ErrAccessNeedsRestart = errors.New("access control was off at start")

// ErrNoConfigSource is returned by Reload when the App was started without
// Options.Load.
var ErrNoConfigSource = errors.New("the process has no configuration source to reload")

// Reload re-reads the configuration (Options.Load) and applies it: routes,
// upstreams, models, provider keys, limits of the upstreams and circuit
// breakers change for new requests, while requests in flight, streams
// included, finish on the settings they started with; so do the API keys
// and their limits of [access]. A configuration that does not load is
// refused, its problems logged with their file and line, and the running
// one stays. [server], [worker], [logging], [bus], and turning access
// control on or off, belong to the running process: changes to them are
// kept for the next start, and a warning says so.
func (a *App) Reload(ctx context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.opts.Load == nil {
		return ErrNoConfigSource
	}
	if a.stopping.Load() {
		return errors.New("the process is shutting down")
	}
	cfg, err := a.opts.Load()
	if err != nil {
		a.logger.Error("configuration reload refused; the running configuration stays",
			"config", a.cfg.Source, "problems", problemLines(err))
		return fmt.Errorf("reload refused: %w", err)
	}
	restart := keepProcessSettings(&cfg, a.cfg)
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	if !reflect.DeepEqual(cfg.Access, a.cfg.Access) && a.opts.Mode != ModeWorker {
		var err error
		switch {
		case a.guard != nil:
			err = a.guard.Update(ctx, cfg.Access)
		case cfg.Access.Enabled:
			err = ErrAccessNeedsRestart
		}
		switch {
		case errors.Is(err, access.ErrRestartNeeded), errors.Is(err, ErrAccessNeedsRestart):
			// Access control cannot be turned on or off, nor its store
			// policy changed, under running requests.
			cfg.Access = a.cfg.Access
			restart = append(restart, "access (enabled, store_failure)")
		case err != nil:
			a.logger.Error("configuration reload failed in access control; the running configuration stays", "err", err)
			return fmt.Errorf("updating access control: %w", err)
		}
	}
	// Workers first: a new upstream has its pool before the ingress routes
	// to it.
	if a.workers != nil {
		if err := a.workers.Reconfigure(ctx, cfg); err != nil {
			a.logger.Error("configuration reload failed in the worker pools; the running configuration stays", "err", err)
			return fmt.Errorf("reconfiguring the worker pools: %w", err)
		}
	}
	if a.ingress != nil {
		if err := a.ingress.Reconfigure(ctx, cfg); err != nil {
			a.logger.Error("configuration reload failed in the ingress; it keeps its routes", "err", err)
			return fmt.Errorf("reconfiguring the ingress: %w", err)
		}
		// As at start: a new upstream's first requests should not meet
		// "no workers" while its workers announce themselves.
		if err := a.ingress.WaitForWorkers(ctx, 2*time.Second); err != nil {
			a.logger.Warn("workers not visible yet", "err", err)
		}
	}
	a.cfg = cfg
	a.logger.Info("configuration reloaded", "config", cfg.Source, "routes", len(cfg.Routes), "upstreams", len(cfg.Upstreams))
	if len(restart) > 0 {
		a.logger.Warn("configuration changes that take effect at the next start only", "sections", restart)
	}
	return nil
}

// ReloadAll reloads this process and tells every other gateway process on
// the bus to reload too (each re-reads its own configuration): what SIGHUP
// does. The announcement goes out whether or not this process took its
// new configuration.
func (a *App) ReloadAll(ctx context.Context) error {
	err := a.Reload(ctx)
	if len(a.conns) > 0 {
		if aerr := bus.AnnounceReload(a.conns[0], a.id); aerr != nil {
			a.logger.Warn("the other gateway processes could not be told to reload", "err", aerr)
		}
	}
	return err
}

// serveReloads makes the process reload when another one, or the gateway
// reload command, asks over the bus.
func (a *App) serveReloads() error {
	sub, err := bus.ServeReloads(a.conns[0], a.id, func() bus.ReloadReply {
		reply := bus.ReloadReply{Process: a.id, Role: string(a.opts.Mode), OK: true}
		if err := a.Reload(context.Background()); err != nil {
			reply.OK, reply.Error = false, err.Error()
		}
		return reply
	})
	if err != nil {
		return err
	}
	a.reloadSub = sub
	return nil
}

// keepProcessSettings puts back into next the settings of running that a
// running process cannot change, and names the sections where they
// differed.
func keepProcessSettings(next *config.Config, running config.Config) []string {
	var changed []string
	if next.Server != running.Server {
		changed = append(changed, "server")
	}
	if next.Worker != running.Worker {
		changed = append(changed, "worker")
	}
	if next.Logging != running.Logging {
		changed = append(changed, "logging")
	}
	if next.Bus != running.Bus {
		changed = append(changed, "bus")
	}
	next.Server, next.Worker, next.Logging, next.Bus = running.Server, running.Worker, running.Logging, running.Bus
	return changed
}

// problemLines splits a joined configuration error into its problems, one
// "file:line: key: message" each.
func problemLines(err error) []string {
	return strings.Split(err.Error(), "\n")
}
