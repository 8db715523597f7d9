package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix is the prefix of every environment variable the gateway reads.
const EnvPrefix = "GATEWAY_"

// Environment variables that choose the configuration file rather than
// override a key.
const (
	// EnvConfigDir overrides the directory holding <env>.toml files.
	EnvConfigDir = "GATEWAY_CONFIG_DIR"
	// EnvName selects <dir>/<name>.toml, e.g. GATEWAY_ENV=production.
	EnvName = "GATEWAY_ENV"
	// EnvAdminKey holds the plain admin key; only its SHA-256 is kept.
	EnvAdminKey = "GATEWAY_ACCESS_ADMIN_KEY"
)

// envSections are the tables whose scalar keys GATEWAY_<SECTION>_<KEY>
// overrides.
var envSections = [...]string{"server", "worker", "logging", "bus", "access", "responses"}

// LookupFunc reads an environment variable; os.LookupEnv in production.
type LookupFunc func(name string) (string, bool)

// envToken turns a name into the upper-case, underscore-separated form used
// in variable names: "azure-east.2" → "AZURE_EAST_2".
func envToken(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// envTarget is one key that an environment variable overrides.
type envTarget struct {
	name  string        // the variable, e.g. GATEWAY_SERVER_PORT
	key   string        // the dotted key, e.g. server.port
	field reflect.Value // the field to set
}

// envTargets lists every scalar key of c that a GATEWAY_* variable
// overrides, derived from the toml tags so a new key is covered at once.
func envTargets(c *Config) []envTarget {
	var out []envTarget
	root := reflect.ValueOf(c).Elem()
	fields := tomlFields(root.Type())
	for _, section := range envSections {
		out = appendScalars(out, root.Field(fields[section]), section, EnvPrefix+envToken(section)+"_")
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		out = appendScalars(out, reflect.ValueOf(u).Elem(), indexKey("upstreams", i), u.EnvPrefix())
	}
	return out
}

// appendScalars adds a target for each scalar field of the struct v. The
// upstream name is skipped: it is what the variable names are made from.
func appendScalars(out []envTarget, v reflect.Value, path, prefix string) []envTarget {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := tagName(t.Field(i))
		if tag == "" || !isScalar(t.Field(i).Type) || t == upstreamType && tag == "name" {
			continue
		}
		out = append(out, envTarget{name: prefix + envToken(tag), key: joinKey(path, tag), field: v.Field(i)})
	}
	return out
}

// applyEnv applies GATEWAY_* overrides to c, recording in meta which keys
// came from the environment so later messages can name the variable.
func applyEnv(c *Config, lookup LookupFunc, meta *sourceMeta) []error {
	var errs []error
	for _, t := range envTargets(c) {
		raw, ok := lookup(t.name)
		if !ok {
			continue
		}
		if err := setScalar(t.field, raw); err != nil {
			errs = append(errs, &FieldError{File: meta.file, Key: t.key, Env: t.name, Err: fmt.Errorf("%w: %w", ErrBadEnv, err)})
			continue
		}
		meta.env[t.key] = t.name
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		// The API key has no TOML key at all: it is read only from here.
		if v, ok := lookup(u.EnvPrefix() + "API_KEY"); ok {
			u.APIKey = v
		}
	}
	if v, ok := lookup(EnvAdminKey); ok {
		if v == "" {
			errs = append(errs, &FieldError{File: meta.file, Key: "access.admin_key_sha256", Env: EnvAdminKey,
				Err: fmt.Errorf("%w: set but empty", ErrMissingEnv)})
		} else {
			c.Access.AdminKeySHA256 = HashKey(v)
			meta.env["access.admin_key_sha256"] = EnvAdminKey
		}
	}
	return errs
}

// unknownEnv reports each GATEWAY_* variable of environ ("NAME=value"
// lines) that Load does not read, with the nearest name it does read.
func unknownEnv(c *Config, environ []string, meta *sourceMeta) []error {
	var known []string
	var errs []error
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		if known == nil {
			known = c.EnvNames()
		}
		if _, ok := slices.BinarySearch(known, name); ok {
			continue
		}
		errs = append(errs, &FieldError{File: meta.file, Env: name,
			Err: fmt.Errorf("%w: %s", ErrUnknownEnv, unknownEnvHint(c, name, known))})
	}
	return errs
}

func unknownEnvHint(c *Config, name string, known []string) string {
	msg := "it sets no configuration key"
	best, bestDist := "", 4
	for _, k := range known {
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return msg + fmt.Sprintf(" (did you mean %s?)", best)
	}
	if strings.HasPrefix(name, EnvPrefix+"UPSTREAMS_") {
		var prefixes []string
		for _, u := range c.Upstreams {
			prefixes = append(prefixes, u.EnvPrefix()+"*")
		}
		if len(prefixes) == 0 {
			return msg + "; no upstream is configured"
		}
		return msg + "; no upstream has that name, the upstreams' variables are " + strings.Join(prefixes, ", ")
	}
	return msg + "; config/example.toml lists every key"
}

// EnvNames lists, sorted, every environment variable Load consults for a
// configuration shaped like c: the ones choosing the file, a
// GATEWAY_<SECTION>_<KEY> per scalar key, a GATEWAY_UPSTREAMS_<NAME>_<KEY>
// per upstream key plus its API_KEY, GATEWAY_ACCESS_ADMIN_KEY, and the
// key_env variables of the access keys.
func (c Config) EnvNames() []string {
	names := []string{EnvName, EnvConfigDir, EnvAdminKey}
	for _, t := range envTargets(&c) {
		names = append(names, t.name)
	}
	for _, u := range c.Upstreams {
		names = append(names, u.EnvPrefix()+"API_KEY")
	}
	for _, k := range c.Access.Keys {
		if k.KeyEnv != "" {
			names = append(names, k.KeyEnv)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func isScalar(t reflect.Type) bool {
	if t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Bool:
		return true
	}
	return false
}

// setScalar parses s into the scalar field v.
func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as \"30s\"", s)
		}
		v.Set(reflect.ValueOf(Duration{d}))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("cannot set a %s from the environment", v.Type())
	}
	return nil
}

// resolveKeyEnv fills each access key that names a key_env with the SHA-256
// of that variable's value, so the plain key is never stored. It runs only when
// access control is enabled: a disabled gateway needs no key material.
func resolveKeyEnv(c *Config, lookup LookupFunc, meta *sourceMeta) []error {
	if !c.Access.Enabled {
		return nil
	}
	var errs []error
	for i := range c.Access.Keys {
		k := &c.Access.Keys[i]
		if k.KeyEnv == "" {
			continue
		}
		path := indexKey("access.keys", i)
		if k.KeySHA256 != "" {
			continue // both set: Validate reports it
		}
		v, ok := lookup(k.KeyEnv)
		if !ok || v == "" {
			what := "is not set"
			if ok {
				what = "is empty"
			}
			errs = append(errs, meta.fieldError(joinKey(path, "key_env"),
				fmt.Errorf("%w: %s %s (key %q)", ErrMissingEnv, k.KeyEnv, what, k.Name)))
			continue
		}
		k.KeySHA256 = HashKey(v)
		meta.keyFromEnv[i] = true
	}
	return errs
}

// HashKey returns the lower-case hex SHA-256 of an API key: the value to
// write as key_sha256 or admin_key_sha256, and the form the ingress
// compares presented keys against.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
