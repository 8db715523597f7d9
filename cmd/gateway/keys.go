package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress/access"
)

func runKeys(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	if err := parseFlags(env, "keys", fs, args); err != nil {
		return err
	}
	args = fs.Args()
	usage := func(msg string) error {
		fmt.Fprintf(env.stderr, "gateway keys: %s\n\n", msg)
		printCommandUsage(env.stderr, lookupCommand("keys"), nil)
		return errUsage
	}
	if len(args) == 0 {
		return usage("missing new or hash")
	}
	switch args[0] {
	case "new":
		if len(args) != 2 || args[1] == "" {
			return usage("keys new takes one NAME")
		}
		// The name goes into the configuration: refuse one it would reject.
		if err := config.CheckKeyName(args[1]); err != nil {
			return fmt.Errorf("key name: %w", err)
		}
		plain, hash, err := access.NewKey()
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "key:  %s\n\nGive the key to its user; it is not stored anywhere. Paste this into the config:\n\n", plain)
		fmt.Fprintf(env.stdout, "[[access.keys]]\nname = %q\nkey_sha256 = %q\n", args[1], hash)
		return nil
	case "hash":
		if len(args) != 1 {
			return usage("keys hash reads the key from stdin and takes no argument")
		}
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading key from stdin: %w", err)
		}
		key := strings.TrimSpace(line)
		if key == "" {
			return errors.New("no key on stdin")
		}
		fmt.Fprintln(env.stdout, access.HashKey(key))
		return nil
	}
	return usage(fmt.Sprintf("unknown keys command %q (want new or hash)", args[0]))
}

// runHealthcheck probes the local /health, for container HEALTHCHECKs where
// no curl is available.
func runHealthcheck(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	worker := fs.Bool("worker", false, "probe a worker process's port (worker.port, GATEWAY_WORKER_PORT, default 8081)")
	if err := parseFlags(env, "healthcheck", fs, args); err != nil {
		return err
	}
	lookup := env.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	variable, port := "GATEWAY_SERVER_PORT", "8080"
	if *worker {
		variable, port = "GATEWAY_WORKER_PORT", "8081"
	}
	if v, ok := lookup(variable); ok && v != "" {
		port = v
	}
	url := "http://127.0.0.1:" + port + "/health"
	if fs.NArg() > 0 {
		url = fs.Arg(0)
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %s answered status %d", url, resp.StatusCode)
	}
	return nil
}
