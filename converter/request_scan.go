package converter

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/aigateway/gateway/converter/jsonx"
)

// The scanner below validates and walks JSON without decoding it. The edge
// (InspectRequest) and same-format patching use it so that a body carrying
// megabytes of base64 is read once, without building a value for it.

// maxJSONDepth bounds nesting so that a hostile body cannot exhaust the stack.
const maxJSONDepth = 512

// syntaxError reports malformed JSON at a byte offset.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.offset, e.msg)
}

func errSyntax(msg string, off int) error { return &syntaxError{msg: msg, offset: off} }

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the offset just past the JSON value starting at b[i]
// (i points at its first byte, not at white space).
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, errSyntax("unexpected end of input", i)
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		return walkObject(b, i, depth, nil)
	case c == '[':
		return skipArray(b, i, depth)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	default:
		return i, errSyntax(fmt.Sprintf("unexpected character %q", c), i)
	}
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, errSyntax("invalid literal", i)
	}
	return i + len(lit), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, errSyntax("invalid number", start)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, errSyntax("invalid number", start)
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, errSyntax("invalid number", start)
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipString returns the offset just past the string starting at b[i]=='"'.
// The plain-byte loop is the hot path: base64 payloads are long runs of it.
func skipString(b []byte, i int) (int, error) {
	start := i
	i++
	for {
		for i < len(b) {
			c := b[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			i++
		}
		if i >= len(b) {
			return i, errSyntax("unterminated string", start)
		}
		switch c := b[i]; {
		case c >= utf8.RuneSelf:
			// JSON text must be UTF-8 (RFC 8259). Checking here rather
			// than in a separate pass keeps base64 payloads to one scan,
			// and it keeps the codecs in agreement: goccy/go-json keeps
			// invalid bytes where encoding/json substitutes U+FFFD.
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, errSyntax("invalid UTF-8 in string", i)
			}
			i += size
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return i, errSyntax("unterminated string", start)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, errSyntax("invalid unicode escape", i)
				}
				i += 6
			default:
				return i, errSyntax("invalid escape", i)
			}
		default:
			return i, errSyntax("control character in string", i)
		}
	}
}

func skipArray(b []byte, i, depth int) (int, error) {
	if depth >= maxJSONDepth {
		return i, errSyntax("nesting too deep", i)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(b, i, depth+1); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, errSyntax("unterminated array", i)
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, errSyntax("expected ',' or ']'", i)
		}
	}
}

// member locates one object member: the key's bytes (quotes included) and
// the value's bytes.
type member struct {
	keyStart, keyEnd, valStart, valEnd int
}

// walkObject validates the object starting at b[i]=='{' and calls fn, when
// not nil, for each member in order. It returns the offset past the object.
func walkObject(b []byte, i, depth int, fn func(m member) error) (int, error) {
	if depth >= maxJSONDepth {
		return i, errSyntax("nesting too deep", i)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, errSyntax("expected object key", i)
		}
		var m member
		var err error
		m.keyStart = i
		if i, err = skipString(b, i); err != nil {
			return i, err
		}
		m.keyEnd = i
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, errSyntax("expected ':'", i)
		}
		i = skipSpace(b, i+1)
		m.valStart = i
		if i, err = skipValue(b, i, depth+1); err != nil {
			return i, err
		}
		m.valEnd = i
		if fn != nil {
			if err := fn(m); err != nil {
				return i, err
			}
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, errSyntax("unterminated object", i)
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, errSyntax("expected ',' or '}'", i)
		}
	}
}

// walkTopObject walks a whole document that must be a single JSON object and
// returns the offset of its opening brace.
func walkTopObject(b []byte, fn func(m member) error) (int, error) {
	start := skipSpace(b, 0)
	if start >= len(b) || b[start] != '{' {
		return start, errNotObject
	}
	end, err := walkObject(b, start, 0, fn)
	if err != nil {
		return start, err
	}
	if end = skipSpace(b, end); end != len(b) {
		return start, errSyntax("unexpected data after the top-level value", end)
	}
	return start, nil
}

// validJSON reports whether b is exactly one JSON value, with optional white
// space around it. goccy/go-json's Valid accepts some malformed inputs (such
// as a value followed by a stray '}'), so output decisions use this scanner.
func validJSON(b []byte) bool {
	i := skipSpace(b, 0)
	end, err := skipValue(b, i, 0)
	return err == nil && skipSpace(b, end) == len(b)
}

var errNotObject = errors.New("the request body must be a JSON object")

// keyIs reports whether the member's key equals name, decoding escapes when
// the raw key has any (a key may legally be written "mod\u0065l").
func keyIs(b []byte, m member, name string) bool {
	raw := b[m.keyStart+1 : m.keyEnd-1]
	for _, c := range raw {
		if c == '\\' {
			var k string
			if jsonx.Unmarshal(b[m.keyStart:m.keyEnd], &k) != nil {
				return false
			}
			return k == name
		}
	}
	return string(raw) == name
}

// valueKind returns the first byte of a member's value, which tells its JSON
// type: '"', '{', '[', 't', 'f', 'n' or a number's first byte.
func valueKind(b []byte, m member) byte { return b[m.valStart] }

func isNull(b []byte, m member) bool { return valueKind(b, m) == 'n' }

// valueString decodes a string value.
func valueString(b []byte, m member) (string, bool) {
	if valueKind(b, m) != '"' {
		return "", false
	}
	raw := b[m.valStart+1 : m.valEnd-1]
	for _, c := range raw {
		if c == '\\' {
			var s string
			if jsonx.Unmarshal(b[m.valStart:m.valEnd], &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	return string(raw), true
}

// valueBool decodes a boolean value.
func valueBool(b []byte, m member) (v, ok bool) {
	switch valueKind(b, m) {
	case 't':
		return true, true
	case 'f':
		return false, true
	}
	return false, false
}

// valueInt decodes an integer value; integral floats such as 1024.0 or 1e3
// are accepted since JSON does not tell them apart.
func valueInt(b []byte, m member) (int64, bool) {
	raw := b[m.valStart:m.valEnd]
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, true
	}
	c := raw[0]
	if c != '-' && !isDigit(c) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}
