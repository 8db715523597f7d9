package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
)

// errReloadRefused ends a reload that some process refused or nobody
// answered; what happened has been printed.
var errReloadRefused = errors.New("the reload did not take everywhere")

// runReload asks the running gateway processes to re-read their
// configuration files. With --pid it sends SIGHUP to that process, which
// reloads and tells the others on its bus; otherwise it asks over the NATS
// of the configuration itself, and prints every process's answer.
func runReload(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	pid := fs.Int("pid", 0, "send SIGHUP to this gateway process instead of asking over NATS")
	wait := fs.Duration("wait", 3*time.Second, "how long to gather the processes' answers")
	cfg, err := loadConfig(env, "reload", fs, args)
	if *pid != 0 {
		// The process reads its own file: this one need not load.
		if err := syscall.Kill(*pid, syscall.SIGHUP); err != nil {
			return fmt.Errorf("sending SIGHUP to process %d: %w", *pid, err)
		}
		fmt.Fprintf(env.stdout, "sent SIGHUP to process %d; it reloads and tells the gateway processes on its bus (see its log)\n", *pid)
		return nil
	}
	if err != nil {
		return err
	}
	url, err := reloadURL(cfg.Bus)
	if err != nil {
		return err
	}
	nc, err := bus.ConnectOnce(cfg.Bus, url, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	replies, err := bus.RequestReload(context.Background(), nc, *wait)
	if err != nil {
		return err
	}
	failed := len(replies) == 0
	if failed {
		fmt.Fprintf(env.stderr, "gateway reload: no gateway process on %s answered within %s\n", url, *wait)
	}
	for _, r := range replies {
		if r.OK {
			fmt.Fprintf(env.stdout, "%s process %s: reloaded\n", r.Role, r.Process)
			continue
		}
		failed = true
		fmt.Fprintf(env.stdout, "%s process %s: refused, it keeps its configuration: %s\n", r.Role, r.Process, r.Error)
	}
	if failed {
		return errReloadRefused
	}
	return nil
}

// reloadURL is the NATS the gateway processes of cfg share: bus.url for
// external NATS, the embedded server's TCP listener otherwise.
func reloadURL(b config.Bus) (string, error) {
	if b.Mode == "external" {
		return b.URL, nil
	}
	if b.Listen == "" {
		return "", errors.New("the embedded NATS server has no TCP listener (bus.listen is empty): " +
			"run gateway reload --pid PID, or kill -HUP PID, with the gateway's process id")
	}
	host, port, err := net.SplitHostPort(b.Listen)
	if err != nil {
		return "", fmt.Errorf("bus.listen %q: %w", b.Listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("bus.listen %q: bad port", b.Listen)
	}
	return "nats://" + net.JoinHostPort(host, port), nil
}
