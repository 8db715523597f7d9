package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// defaultTOML is config/default.toml built into the binary, so the gateway
// starts from any working directory even when no config file is at hand.
//
//go:embed default.toml
var defaultTOML string

// EmbeddedSource is Config.Source when the built-in default.toml was used.
const EmbeddedSource = "embedded:default.toml"

// DefaultDir is the directory searched for <env>.toml when neither
// LoadOptions.Dir nor GATEWAY_CONFIG_DIR says otherwise.
const DefaultDir = "config"

// LoadOptions says where Load finds the configuration.
type LoadOptions struct {
	// Path is an explicit file (the --config flag); it wins over everything.
	Path string
	// Env reads environment variables; nil means os.LookupEnv.
	Env LookupFunc
	// Dir holds default.toml and <GATEWAY_ENV>.toml; empty means "config".
	// GATEWAY_CONFIG_DIR, when set, replaces it.
	Dir string
	// Environ lists the environment as "NAME=value" lines, so that a
	// GATEWAY_* variable that sets nothing (a typo) is an error. Nil means
	// os.Environ() when Env is nil too, and no such check when Env is set.
	Environ []string
}

// Load finds, parses, overrides from the environment and validates the
// configuration.
//
// The file is, in order: opts.Path; <dir>/<GATEWAY_ENV>.toml when
// GATEWAY_ENV is set; <dir>/default.toml; and when that file does not exist,
// the copy of default.toml built into the binary. dir is GATEWAY_CONFIG_DIR,
// else opts.Dir, else "config". Config.Source records which one was used.
func Load(opts LoadOptions) (Config, error) {
	lookup, environ := opts.Env, opts.Environ
	if lookup == nil {
		lookup = os.LookupEnv
		if environ == nil {
			environ = os.Environ()
		}
	}
	path, err := resolvePath(opts, lookup)
	if err != nil {
		return Config{}, err
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parse(path, data, lookup, environ)
	case errors.Is(err, fs.ErrNotExist) && opts.Path == "" && envSet(lookup, EnvName) == "":
		return parse(EmbeddedSource, []byte(defaultTOML), lookup, environ)
	default:
		return Config{}, fmt.Errorf("config: read %s: %w", path, err)
	}
}

// resolvePath picks the file Load reads.
func resolvePath(opts LoadOptions, lookup LookupFunc) (string, error) {
	if opts.Path != "" {
		return opts.Path, nil
	}
	dir := opts.Dir
	if v := envSet(lookup, EnvConfigDir); v != "" {
		dir = v
	}
	if dir == "" {
		dir = DefaultDir
	}
	name := envSet(lookup, EnvName)
	if name == "" {
		return filepath.Join(dir, "default.toml"), nil
	}
	// The name becomes part of a path: keep it a plain file name.
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("config: %s=%q is not a plain environment name", EnvName, name)
	}
	return filepath.Join(dir, name+".toml"), nil
}

func envSet(lookup LookupFunc, name string) string {
	v, _ := lookup(name)
	return strings.TrimSpace(v)
}

// Parse builds a Config from TOML text: defaults for every absent key,
// GATEWAY_* overrides read through env (nil means no environment at all,
// which keeps tests hermetic), key_env resolution, then Validate. source
// names the text in messages and becomes Config.Source.
//
// Every problem is reported in one go: keys of the wrong type or unknown,
// bad environment values and what Validate finds, each once. Only a syntax
// error stops early, since the file then has no structure to check.
func Parse(source string, data []byte, env LookupFunc) (Config, error) {
	return parse(source, data, env, nil)
}

func parse(source string, data []byte, env LookupFunc, environ []string) (Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	cfg, lines, errs, err := parseTOML(source, string(data))
	if err != nil {
		return Config{}, err
	}
	meta := &sourceMeta{file: source, lines: lines, env: map[string]string{}, keyFromEnv: map[int]bool{}}
	cfg.Source = source
	cfg.meta = meta
	errs = append(errs, applyEnv(&cfg, env, meta)...)
	errs = append(errs, unknownEnv(&cfg, environ, meta)...)
	cfg.ApplyDefaults()
	resolvePaths(&cfg, meta)
	// Hashes are compared as text by the ingress: store one spelling.
	cfg.Access.AdminKeySHA256 = strings.ToLower(cfg.Access.AdminKeySHA256)
	for i := range cfg.Access.Keys {
		cfg.Access.Keys[i].KeySHA256 = strings.ToLower(cfg.Access.Keys[i].KeySHA256)
	}
	errs = append(errs, resolveKeyEnv(&cfg, env, meta)...)
	// A key that could not be read is at its default: what Validate says
	// about it would only repeat the first message.
	for _, p := range cfg.problems() {
		if !coveredBy(p, errs) {
			errs = append(errs, p)
		}
	}
	sortByLine(errs)
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// coveredBy reports whether err is about a key (or a key inside one) that
// one of earlier already has a problem with.
func coveredBy(err error, earlier []error) bool {
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key == "" {
		return false
	}
	for _, e := range earlier {
		var prev *FieldError
		if !errors.As(e, &prev) || prev.Key == "" {
			continue
		}
		if fe.Key == prev.Key || strings.HasPrefix(fe.Key, prev.Key+".") || strings.HasPrefix(fe.Key, prev.Key+"[") {
			return true
		}
	}
	return false
}

// pathKeys are the settings that name files or directories. A relative
// path written in a file is relative to that file, as in most servers'
// configurations, so a deployment does not depend on its working
// directory; a value from the environment or a default stays relative to
// the working directory, like a command-line argument.
var pathKeys = []struct {
	key   string
	field func(*Config) *string
}{
	{"bus.store_dir", func(c *Config) *string { return &c.Bus.StoreDir }},
	{"bus.credentials", func(c *Config) *string { return &c.Bus.Credentials }},
	{"bus.tls_ca", func(c *Config) *string { return &c.Bus.TLSCA }},
	{"bus.tls_cert", func(c *Config) *string { return &c.Bus.TLSCert }},
	{"bus.tls_key", func(c *Config) *string { return &c.Bus.TLSKey }},
}

func resolvePaths(c *Config, meta *sourceMeta) {
	if meta.file == EmbeddedSource {
		return
	}
	dir := filepath.Dir(meta.file)
	for _, pk := range pathKeys {
		p := pk.field(c)
		if _, fromEnv := meta.env[pk.key]; fromEnv || *p == "" || filepath.IsAbs(*p) {
			continue
		}
		if _, inFile := meta.lines[pk.key]; inFile {
			*p = filepath.Join(dir, *p)
		}
	}
}

// sourceMeta remembers where each value came from, for messages.
type sourceMeta struct {
	file       string
	lines      lineIndex
	env        map[string]string // key path → variable that set it
	keyFromEnv map[int]bool      // access.keys index → hash came from key_env
}

// fieldError builds a FieldError for key with its file, line and variable.
// It works on a nil receiver (a Config built in code rather than loaded).
func (m *sourceMeta) fieldError(key string, err error) *FieldError {
	if m == nil {
		return &FieldError{Key: key, Err: err}
	}
	fe := &FieldError{File: m.file, Key: key, Err: err}
	if env, ok := m.env[key]; ok {
		fe.Env = env
	} else {
		fe.Line = m.lines.lookup(key)
	}
	return fe
}
