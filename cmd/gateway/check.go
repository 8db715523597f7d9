package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/BurntSushi/toml"

	"github.com/aigateway/gateway/config"
)

// runCheck validates a configuration the way the server loads it and prints
// the effective result with its secrets redacted, like nginx -t: a
// deployment can run it before it restarts anything.
func runCheck(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	quiet := fs.Bool("quiet", false, "print nothing but problems")
	cfg, err := loadConfig(env, "check", fs, args)
	if err != nil {
		return err
	}
	if !*quiet {
		text, err := effectiveTOML(cfg, env.lookupEnv)
		if err != nil {
			return err
		}
		fmt.Fprint(env.stdout, text)
	}
	fmt.Fprintf(env.stderr, "gateway check: the configuration %s is valid\n", cfg.Source)
	return nil
}

// effectiveTOML renders cfg, defaults and environment overrides included, as
// a TOML file that loads to the same settings. Secrets are redacted; which
// of the variables that carry them are set is said in comments, by name.
func effectiveTOML(cfg config.Config, lookup func(string) (string, bool)) (string, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Effective configuration from %s, defaults and GATEWAY_* variables applied.\n", cfg.Source)
	for _, u := range cfg.Upstreams {
		state := "not set: calls go without a key"
		if u.APIKey != "" {
			state = "set"
		}
		fmt.Fprintf(&buf, "# %sAPI_KEY: %s\n", u.EnvPrefix(), state)
		for _, k := range u.Keys {
			if k.Env == u.EnvPrefix()+"API_KEY" {
				continue // said above
			}
			state := "set"
			if k.Value == "" {
				state = "not set: the key pool goes without it"
			}
			fmt.Fprintf(&buf, "# %s (key pool of upstream %s): %s\n", k.Env, u.Name, state)
		}
	}
	if _, ok := lookup(config.EnvAdminKey); ok {
		fmt.Fprintf(&buf, "# %s: set (its SHA-256 is access.admin_key_sha256)\n", config.EnvAdminKey)
	}
	buf.WriteByte('\n')
	if err := toml.NewEncoder(&buf).Encode(cfg.Redacted()); err != nil {
		return "", fmt.Errorf("printing the configuration: %w", err)
	}
	return buf.String(), nil
}
