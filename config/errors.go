package config

import (
	"errors"
	"strconv"
	"strings"
)

// ErrSyntax reports text that is not valid TOML.
var ErrSyntax = errors.New("TOML syntax error")

// ErrUnknownKey reports a key in a configuration file that the schema does
// not have, usually a typo. Unknown keys are errors rather than warnings so a
// misspelt limit can never be silently ignored.
var ErrUnknownKey = errors.New("unknown key")

// ErrWrongType reports a value whose TOML type does not match the schema,
// such as a string where a number belongs.
var ErrWrongType = errors.New("wrong type")

// ErrBadEnv reports a GATEWAY_* environment variable whose value cannot be
// converted to the type of the key it overrides.
var ErrBadEnv = errors.New("bad environment value")

// ErrUnknownEnv reports a GATEWAY_* environment variable that overrides no
// key, usually a misspelt name: like an unknown key in a file, it is an
// error so that a setting never silently fails to apply.
var ErrUnknownEnv = errors.New("unknown environment variable")

// ErrMissingEnv reports an environment variable that the configuration
// names (key_env) but that is not set or is empty.
var ErrMissingEnv = errors.New("environment variable not set")

// ErrInvalid reports a value that has the right type but breaks a rule
// checked by Validate (a range, a reference, a format).
var ErrInvalid = errors.New("invalid value")

// FieldError is one problem with one configuration key. Load and Validate
// return several of them joined with errors.Join.
type FieldError struct {
	// File is the configuration source (a path or "embedded:default.toml").
	File string
	// Line is the line of File that sets Key, or 0 when unknown or when the
	// value came from the environment.
	Line int
	// Key is the dotted key with array indices, e.g. upstreams[1].concurrency.
	Key string
	// Env names the environment variable the value came from, if any.
	Env string
	// Err says what is wrong; it wraps one of the sentinel errors above.
	Err error
}

// Error formats the problem as "file:line: key (from ENV): message".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 && e.Env == "" {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		if e.Env != "" {
			b.WriteString(" (from ")
			b.WriteString(e.Env)
			b.WriteByte(')')
		}
		b.WriteString(": ")
	} else if e.Env != "" {
		b.WriteString(e.Env)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying problem so errors.Is finds the sentinels.
func (e *FieldError) Unwrap() error { return e.Err }
