package main

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Build stamps, set with -ldflags "-X main.version=v1.2.3 -X main.commit=...
// -X main.date=..." (the Dockerfile does). Unset, they are read from the
// VCS data the Go toolchain records in the binary.
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildInfo is what the binary knows about its own build.
type buildInfo struct {
	Version  string
	Commit   string
	Date     string
	Modified bool // built from a work tree with uncommitted changes
	Go       string
}

// currentBuild combines the -ldflags stamps with debug.ReadBuildInfo: a
// stamp wins, the toolchain's VCS data fills the rest, and "dev" or
// "unknown" say that neither knew.
func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

// String is the one line "gateway version" prints.
func (b buildInfo) String() string {
	commit := b.Commit
	if b.Modified {
		commit += "-dirty"
	}
	return fmt.Sprintf("gateway %s (commit %s, built %s, %s)", b.Version, commit, b.Date, b.Go)
}

func runVersion(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(env, "version", fs, args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, currentBuild())
	return nil
}
