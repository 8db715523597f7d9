package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The TOML library parses the text; this file maps the parsed tree onto the
// schema. Doing the mapping here rather than with toml.Decode into the
// structs gives every message the full key with array indices
// (upstreams[1].concurrency, which MetaData.Undecoded cannot express),
// matches keys case-sensitively, and reports every problem at once instead of
// stopping at the first.

var (
	durationType = reflect.TypeFor[Duration]()
	upstreamType = reflect.TypeFor[Upstream]()
	keyType      = reflect.TypeFor[Key]()
	accessType   = reflect.TypeFor[Access]()
)

// decoder carries what one file's messages need.
type decoder struct {
	file  string
	lines lineIndex
	errs  []error
}

func (d *decoder) fail(path string, sentinel error, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{
		File: d.file,
		Line: d.lines.lookup(path),
		Key:  path,
		Err:  fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...)),
	})
}

// parseTOML turns src into a Config laid over the defaults. Problems with
// single keys (unknown, wrong type) leave those keys at their defaults and
// come back with the Config, so the caller can report them together with
// what Validate finds; a syntax error returns no Config at all.
func parseTOML(file, src string) (Config, lineIndex, []error, error) {
	var tree map[string]any
	if _, err := toml.Decode(src, &tree); err != nil {
		return Config{}, nil, nil, syntaxError(file, src, err)
	}
	d := &decoder{file: file, lines: keyLines(src)}
	cfg := Default()
	d.decode("", tree, reflect.ValueOf(&cfg).Elem())
	return cfg, d.lines, d.errs, nil
}

// syntaxError turns a toml.ParseError into a FieldError with its position.
// The parser reports a line that ends too early (an unclosed "[bus") at the
// newline that ends it, which it counts as the next line, and names the last
// key it read even when the problem is elsewhere: the line is taken from
// the byte offset instead, and the key kept only when it is on that line.
func syntaxError(file, src string, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &FieldError{File: file, Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
	}
	line := pe.Position.Line
	if start := pe.Position.Start; start > 0 && start <= len(src) {
		// Counting the newlines before the offset puts a newline on the
		// line it ends.
		line = strings.Count(src[:start], "\n") + 1
	}
	key := pe.LastKey
	if key != "" {
		last := key
		if i := strings.LastIndexByte(key, '.'); i >= 0 {
			last = key[i+1:]
		}
		if !strings.Contains(lineText(src, line), last) {
			key = ""
		}
	}
	return &FieldError{
		File: file,
		Line: line,
		Key:  key,
		Err:  fmt.Errorf("%w: %s", ErrSyntax, pe.Message),
	}
}

// lineText returns the 1-based line n of src, or "".
func lineText(src string, n int) string {
	lines := strings.Split(src, "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return lines[n-1]
}

// decode stores raw (a parsed TOML value) into rv, a settable value.
func (d *decoder) decode(path string, raw any, rv reflect.Value) {
	t := rv.Type()
	if t == durationType {
		s, ok := raw.(string)
		if !ok {
			d.fail(path, ErrWrongType, `expected a duration string such as "30s", got %s`, d.describe(path, raw))
			return
		}
		if err := rv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(path, ErrWrongType, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.fail(path, ErrWrongType, "expected a string, got %s", d.describe(path, raw))
			return
		}
		rv.SetString(s)
	case reflect.Int, reflect.Int64:
		n, ok := raw.(int64)
		if !ok {
			d.fail(path, ErrWrongType, "expected an integer, got %s", d.describe(path, raw))
			return
		}
		if rv.OverflowInt(n) {
			d.fail(path, ErrWrongType, "%d is out of range", n)
			return
		}
		rv.SetInt(n)
	case reflect.Float64:
		switch n := raw.(type) {
		case float64:
			rv.SetFloat(n)
		case int64:
			rv.SetFloat(float64(n))
		default:
			d.fail(path, ErrWrongType, "expected a number, got %s", d.describe(path, raw))
		}
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			d.fail(path, ErrWrongType, "expected true or false, got %s", d.describe(path, raw))
			return
		}
		rv.SetBool(b)
	case reflect.Struct:
		table, ok := raw.(map[string]any)
		if !ok {
			d.fail(path, ErrWrongType, "expected a table, got %s", d.describe(path, raw))
			return
		}
		d.decodeStruct(path, table, rv)
	case reflect.Map:
		d.decodeMap(path, raw, rv)
	case reflect.Slice:
		d.decodeSlice(path, raw, rv)
	default:
		// Only reachable if the schema grows a field of a new kind.
		d.fail(path, ErrWrongType, "unsupported schema type %s", t)
	}
}

func (d *decoder) decodeStruct(path string, table map[string]any, rv reflect.Value) {
	fields := tomlFields(rv.Type())
	for _, name := range d.sortedKeys(path, table) {
		key := joinKey(path, name)
		idx, ok := fields[name]
		if !ok {
			d.fail(key, ErrUnknownKey, "%s", unknownKeyHint(rv.Type(), name, table, fields))
			continue
		}
		d.decode(key, table[name], rv.Field(idx))
	}
}

func (d *decoder) decodeMap(path string, raw any, rv reflect.Value) {
	table, ok := raw.(map[string]any)
	if !ok {
		d.fail(path, ErrWrongType, "expected a table, got %s", d.describe(path, raw))
		return
	}
	if rv.IsNil() {
		rv.Set(reflect.MakeMapWithSize(rv.Type(), len(table)))
	}
	for _, name := range d.sortedKeys(path, table) {
		elem := reflect.New(rv.Type().Elem()).Elem()
		before := len(d.errs)
		d.decode(joinKey(path, name), table[name], elem)
		if len(d.errs) == before {
			rv.SetMapIndex(reflect.ValueOf(name), elem)
		}
	}
}

func (d *decoder) decodeSlice(path string, raw any, rv reflect.Value) {
	var items []any
	switch v := raw.(type) {
	case []any:
		items = v
	case []map[string]any:
		items = make([]any, len(v))
		for i := range v {
			items[i] = v[i]
		}
	default:
		d.fail(path, ErrWrongType, "expected an array, got %s", d.describe(path, raw))
		return
	}
	out := reflect.MakeSlice(rv.Type(), len(items), len(items))
	for i, item := range items {
		elem := out.Index(i)
		// Each [[upstreams]] entry starts from the per-upstream defaults, so
		// anything the entry leaves out gets its default value.
		if rv.Type().Elem() == upstreamType {
			elem.Set(reflect.ValueOf(DefaultUpstream()))
		}
		d.decode(indexKey(path, i), item, elem)
	}
	rv.Set(out)
}

// sortedKeys orders a table's keys as they appear in the file, so messages
// come out in reading order; keys without a known line sort by name.
func (d *decoder) sortedKeys(path string, table map[string]any) []string {
	names := make([]string, 0, len(table))
	for name := range table {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		li, lj := d.lines[joinKey(path, names[i])], d.lines[joinKey(path, names[j])]
		if li != lj {
			return li < lj
		}
		return names[i] < names[j]
	})
	return names
}

// unknownKeyHint explains an unknown key: secrets that must not be in a
// file say where they go instead, and likely typos get a suggestion.
func unknownKeyHint(t reflect.Type, name string, table map[string]any, fields map[string]int) string {
	switch {
	case t == upstreamType && name == "api_key":
		upstream, _ := table["name"].(string)
		return fmt.Sprintf("API keys are never read from a file; set %sAPI_KEY", Upstream{Name: upstream}.EnvPrefix())
	case t == keyType && name == "key":
		return "plain keys are never read from a file; write key_sha256 or key_env"
	case t == accessType && name == "admin_key":
		return fmt.Sprintf("plain keys are never read from a file; write admin_key_sha256 or set %s", EnvAdminKey)
	}
	msg := "not a setting here"
	if guess := closest(name, fields); guess != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", guess)
	}
	return msg
}

// tomlFields maps the toml tag of each settable field of t to its index.
func tomlFields(t reflect.Type) map[string]int {
	out := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if name := tagName(t.Field(i)); name != "" {
			out[name] = i
		}
	}
	return out
}

// tagName returns the TOML key of a field, or "" for fields that are never
// read from a file (toml:"-", untagged, unexported).
func tagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// describe names the TOML type of a value for a message about path, with
// the value itself unless the key holds a secret.
func (d *decoder) describe(path string, raw any) string {
	if strings.HasSuffix(path, ".password") || strings.HasSuffix(path, ".token") {
		return tomlKind(raw)
	}
	return tomlType(raw)
}

// tomlKind names the TOML type of a parsed value without showing it.
func tomlKind(v any) string {
	kind, _, _ := strings.Cut(tomlType(v), " ")
	return kind
}

// tomlType names the TOML type of a parsed value for messages.
func tomlType(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case time.Time:
		return "datetime"
	case map[string]any:
		return "table"
	case []any, []map[string]any:
		return "array"
	default:
		if _, ok := v.(encoding.TextMarshaler); ok {
			return "datetime"
		}
		return fmt.Sprintf("%T", v)
	}
}

// closest returns the field name nearest to name when it is plausibly a
// typo (edit distance at most 2), else "".
func closest(name string, fields map[string]int) string {
	best, bestDist := "", 3
	for f := range fields {
		if dist := editDistance(name, f); dist < bestDist || dist == bestDist && f < best {
			best, bestDist = f, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
