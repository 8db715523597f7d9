package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cmdEnv is what a command reads and writes.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// lookupEnv reads the environment; nil means the process's.
	lookupEnv func(string) (string, bool)
}

// command is one subcommand of the gateway binary.
type command struct {
	name    string
	summary string // one line, for the list of commands
	usage   string // the synopsis after "gateway "
	detail  string // paragraphs shown by "gateway help NAME"
	run     func(env *cmdEnv, args []string) error
}

// commands lists the subcommands in the order help shows them. It is built
// by a function rather than held in a variable: the help command refers
// back to the list.
func commands() []*command {
	return []*command{
		{
			name: "run", summary: "run ingress and workers in one process (the default)",
			usage: "[run] [--config PATH]",
			detail: "Runs the HTTP ingress and the worker pools in one process. With bus.mode = \"embedded\"\n" +
				"(the default) it starts its own NATS server; with \"external\" it joins the NATS at bus.url.\n" +
				"HTTP (API, /health, /metrics) on server.host:server.port (default 8080).",
			run: func(env *cmdEnv, args []string) error { return runServe(env, modeAll, args) },
		},
		{
			name: "ingress", summary: "run the HTTP ingress only, on external NATS",
			usage: "ingress [--config PATH]",
			detail: "Runs the HTTP edge against the NATS at bus.url; worker processes answer its requests.\n" +
				"HTTP (API, /health, /metrics) on server.host:server.port (default 8080).",
			run: func(env *cmdEnv, args []string) error { return runServe(env, modeIngress, args) },
		},
		{
			name: "worker", summary: "run worker pools only, on external NATS",
			usage: "worker [--config PATH]",
			detail: "Runs the worker pools of every configured upstream against the NATS at bus.url.\n" +
				"It takes no client traffic: /health and /metrics on server.host:worker.port (default 8081),\n" +
				"so it can run beside an ingress on the same host.",
			run: func(env *cmdEnv, args []string) error { return runServe(env, modeWorker, args) },
		},
		{
			name: "check", summary: "validate a configuration and print the effective one, secrets redacted",
			usage: "check [--config PATH] [--quiet]",
			detail: "Loads the configuration exactly as the server would (file, defaults, GATEWAY_* variables),\n" +
				"reports every problem at once and exits 1, or prints the effective configuration with\n" +
				"secrets redacted and exits 0. Nothing is started.",
			run: runCheck,
		},
		{
			name: "reload", summary: "make the running gateway processes re-read their configuration",
			usage: "reload [--config PATH] [--pid PID] [--wait DURATION]",
			detail: "Asks every gateway process on the NATS of the configuration (bus.url, or bus.listen of an\n" +
				"all-in-one gateway) to re-read its own configuration file, and prints each one's answer;\n" +
				"exits 1 when one refused (it keeps the configuration it had) or none answered.\n" +
				"With --pid it sends SIGHUP to that process instead, which does the same for its bus.\n" +
				"Routes, upstreams, models, provider keys, API keys and their limits, and circuit breakers\n" +
				"change for new requests;\n" +
				"requests in flight finish on their old settings.",
			run: runReload,
		},
		{
			name: "keys", summary: "make and hash API keys (keys new NAME, keys hash)",
			usage:  "keys new NAME | keys hash",
			detail: "keys new NAME prints a new API key and the [[access.keys]] entry for it.\nkeys hash prints the SHA-256 of a key read from stdin.",
			run:    runKeys,
		},
		{
			name: "healthcheck", summary: "exit 0 when the local /health answers 200 (for containers)",
			usage: "healthcheck [--worker] [URL]",
			detail: "Requests http://127.0.0.1:$GATEWAY_SERVER_PORT/health (default port 8080), or with --worker\n" +
				"http://127.0.0.1:$GATEWAY_WORKER_PORT/health (default 8081), or URL.",
			run: runHealthcheck,
		},
		{
			name: "version", summary: "print the version, commit and build date",
			usage: "version",
			run:   runVersion,
		},
		{
			name: "help", summary: "describe the commands, or one command",
			usage: "help [COMMAND]",
			run:   runHelp,
		},
	}
}

func lookupCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "gateway: one endpoint in front of model providers, speaking the OpenAI Chat")
	fmt.Fprintln(w, "Completions and Anthropic Messages APIs.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: gateway [COMMAND] [FLAGS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags: --config PATH (run, ingress, worker, check), --help, --version.")
	fmt.Fprintln(w, "The configuration is --config PATH, else config/$GATEWAY_ENV.toml, else config/default.toml;")
	fmt.Fprintln(w, "GATEWAY_<SECTION>_<KEY> variables override its keys. config/example.toml documents them.")
	fmt.Fprintln(w, "Run \"gateway help COMMAND\" for more about a command.")
}

func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: gateway %s\n\n%s.\n", c.usage, upperFirst(c.summary))
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", c.detail)
	}
	if fs != nil && hasFlags(fs) {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parseFlags parses a command's flags. --help prints the command's usage on
// stdout and returns errHelp; a bad flag prints it on stderr and returns
// errUsage.
func parseFlags(env *cmdEnv, name string, fs *flag.FlagSet, args []string) error {
	c := lookupCommand(name)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(env.stdout, c, fs)
			return errHelp
		}
		fmt.Fprintf(env.stderr, "gateway %s: %v\n\n", name, err)
		printCommandUsage(env.stderr, c, fs)
		return errUsage
	}
	return nil
}

// errHelp ends a command whose help was asked for; it is not a failure.
var errHelp = errors.New("help shown")

func runHelp(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("help", flag.ContinueOnError)
	if err := parseFlags(env, "help", fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		printUsage(env.stdout)
		return nil
	}
	c := lookupCommand(fs.Arg(0))
	if c == nil {
		fmt.Fprintf(env.stderr, "gateway help: unknown command %q\n\n", fs.Arg(0))
		printUsage(env.stderr)
		return errUsage
	}
	// Every command answers --help with its usage and flags.
	return c.run(env, []string{"--help"})
}
