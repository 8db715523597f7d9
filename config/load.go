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
}

// Load finds, parses, overrides from the environment and validates the
// configuration.
//
// The file is, in order: opts.Path; <dir>/<GATEWAY_ENV>.toml when
// GATEWAY_ENV is set; <dir>/default.toml; and when that file does not exist,
// the copy of default.toml built into the binary. dir is GATEWAY_CONFIG_DIR,
// else opts.Dir, else "config". Config.Source records which one was used.
func Load(opts LoadOptions) (Config, error) {
	lookup := opts.Env
	if lookup == nil {
		lookup = os.LookupEnv
	}
	path, err := resolvePath(opts, lookup)
	if err != nil {
		return Config{}, err
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return Parse(path, data, lookup)
	case errors.Is(err, fs.ErrNotExist) && opts.Path == "" && envSet(lookup, EnvName) == "":
		return Parse(EmbeddedSource, []byte(defaultTOML), lookup)
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
func Parse(source string, data []byte, env LookupFunc) (Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	cfg, lines, err := parseTOML(source, string(data))
	if err != nil {
		return Config{}, err
	}
	meta := &sourceMeta{file: source, lines: lines, env: map[string]string{}, keyFromEnv: map[int]bool{}}
	cfg.Source = source
	cfg.meta = meta
	errs := applyEnv(&cfg, env, meta)
	cfg.ApplyDefaults()
	// Hashes are compared as text by the ingress: store one spelling.
	cfg.Access.AdminKeySHA256 = strings.ToLower(cfg.Access.AdminKeySHA256)
	for i := range cfg.Access.Keys {
		cfg.Access.Keys[i].KeySHA256 = strings.ToLower(cfg.Access.Keys[i].KeySHA256)
	}
	errs = append(errs, resolveKeyEnv(&cfg, env, meta)...)
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
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
