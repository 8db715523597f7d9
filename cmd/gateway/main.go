// Command gateway is the AI gateway: one endpoint in front of model
// providers, speaking the OpenAI Chat Completions and Anthropic Messages APIs.
//
// Usage:
//
//	gateway [run] [--config PATH]      ingress and workers in one process
//	gateway ingress [--config PATH]    the HTTP ingress only, on external NATS
//	gateway worker [--config PATH]     worker pools only, on external NATS
//	gateway check [--config PATH]      validate a configuration and print it
//	gateway reload [--config PATH]     make the running processes re-read their configuration
//	gateway keys new NAME              print a new API key and its config line
//	gateway keys hash                  print the SHA-256 of a key read from stdin
//	gateway healthcheck [--worker]     exit 0 when the local /health answers 200
//	gateway version                    print the version, commit and build date
//	gateway help [COMMAND]             describe the commands
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes of the gateway command.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed: bad configuration, start-up failure
	exitUsage = 2 // the command line itself is wrong
)

// errUsage marks an error in the command line; its message has been printed
// with the usage already.
var errUsage = errors.New("usage error")

// run executes one command line and returns the process's exit status. It
// is main without the process: tests call it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(args, stdin, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	default:
		printError(stderr, err)
		if hint := hintFor(err); hint != "" {
			fmt.Fprintln(stderr, "gateway: hint:", hint)
		}
		return exitError
	}
}

func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	name := "run"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			printUsage(stdout)
			return nil
		case "-version", "--version":
			return runVersion(env, args[1:])
		}
		if c := lookupCommand(args[0]); c != nil {
			name, args = c.name, args[1:]
		} else if args[0] == "" || args[0][0] != '-' {
			fmt.Fprintf(stderr, "gateway: unknown command %q\n\n", args[0])
			printUsage(stderr)
			return errUsage
		}
	}
	return lookupCommand(name).run(env, args)
}
