package converter

import (
	"bytes"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/aigateway/gateway/converter/jsonx"
)

// The ingress admits a request on values it reads with the exact-key scanner
// (InspectRequest); the translators decode the same body into typed values
// with the JSON codec. The two readings must agree, or a client could be
// admitted on a small max_tokens while the provider receives a large one.
// JSON libraries do not agree on keys: goccy/go-json matches an escaped key
// that decodes to a prefix of a field name ("max_tok\u0065" fills
// max_tokens), and both goccy and encoding/json fold the case of keys
// ("MAX_TOKENS" fills max_tokens) where the providers match keys exactly.
// decodeRequest therefore removes escapes from keys before decoding, and
// pinAdmitted sets the admitted fields from the exact reading afterwards, so
// the result does not depend on how the codec matches keys.

// decodeRequest validates body as one JSON object and decodes it into v.
func decodeRequest(body []byte, v any) error {
	if _, err := walkTopObject(body, nil); err != nil {
		return asRequestError(err)
	}
	if err := jsonx.Unmarshal(unescapeKeys(body, reflect.TypeOf(v)), v); err != nil {
		return Errorf(KindInvalidRequest, "invalid request body: %v", err)
	}
	return nil
}

// unescapeKeys returns body with every object key that holds an escape
// sequence rewritten without escapes where JSON allows it (only '"', '\\'
// and control characters stay escaped, and no field name holds those), so
// that the codec matches it to a field as encoding/json does. Only keys that
// t, the type decoded into, reads are rewritten: a value decoded as
// jsonx.RawMessage passes through to the upstream byte for byte, escaped
// keys of a tool schema or a content block included. body must be valid
// JSON. It returns body itself when no key needed rewriting, which is the
// common case and costs one scan.
func unescapeKeys(body []byte, t reflect.Type) []byte {
	if bytes.IndexByte(body, '\\') < 0 {
		return body
	}
	var edits []splice
	visitTypedKeys(body, skipSpace(body, 0), 0, t, func(m member) {
		raw := body[m.keyStart+1 : m.keyEnd-1]
		if bytes.IndexByte(raw, '\\') < 0 {
			return
		}
		var k string
		if jsonx.Unmarshal(body[m.keyStart:m.keyEnd], &k) != nil {
			return
		}
		edits = append(edits, splice{m.keyStart, m.keyEnd, appendKey(nil, k)})
	})
	if len(edits) == 0 {
		return body
	}
	return applySplices(body, edits)
}

var (
	rawMessageType  = reflect.TypeFor[jsonx.RawMessage]()
	unmarshalerType = reflect.TypeFor[interface{ UnmarshalJSON([]byte) error }]()
)

// visitTypedKeys calls fn for every member of every object in the JSON value
// at b[i] that decoding it into t reads as a struct field or map key, depth
// first, and skips raw values. Types with an UnmarshalJSON method of their
// own, and interfaces, decode their keys themselves: every key in them is
// visited. Malformed input ends the walk silently.
func visitTypedKeys(b []byte, i, depth int, t reflect.Type, fn func(m member)) int {
	if i >= len(b) || depth >= maxJSONDepth {
		return len(b)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t == rawMessageType {
		return skipOrEnd(b, i, depth)
	}
	if t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) {
		return visitKeys(b, i, depth, fn)
	}
	switch {
	case b[i] == '{' && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map):
		end, err := walkObject(b, i, depth, func(m member) error {
			fn(m)
			var elem reflect.Type
			if t.Kind() == reflect.Map {
				elem = t.Elem()
			} else {
				var k string
				if jsonx.Unmarshal(b[m.keyStart:m.keyEnd], &k) == nil {
					elem = fieldType(t, k)
				}
			}
			visitTypedKeys(b, m.valStart, depth+1, elem, fn)
			return nil
		})
		if err != nil {
			return len(b)
		}
		return end
	case b[i] == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8:
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		for i < len(b) {
			i = skipSpace(b, visitTypedKeys(b, i, depth+1, t.Elem(), fn))
			if i >= len(b) || b[i] != ',' {
				break
			}
			i = skipSpace(b, i+1)
		}
		return i + 1
	}
	return skipOrEnd(b, i, depth)
}

func skipOrEnd(b []byte, i, depth int) int {
	end, err := skipValue(b, i, depth)
	if err != nil {
		return len(b)
	}
	return end
}

// fieldType is the type of the field of struct t that key k decodes into,
// matched as encoding/json does (the exact name first, then ignoring
// case), or nil for none.
func fieldType(t reflect.Type, k string) reflect.Type {
	var fold reflect.Type
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			if ft := fieldType(f.Type, k); ft != nil {
				return ft
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == k {
			return f.Type
		}
		if fold == nil && strings.EqualFold(name, k) {
			fold = f.Type
		}
	}
	return fold
}

// visitKeys calls fn for every member of every object in the JSON value at
// b[i], depth first. Malformed input ends the walk silently: callers have
// validated it already.
func visitKeys(b []byte, i, depth int, fn func(m member)) int {
	if i >= len(b) || depth >= maxJSONDepth {
		return len(b)
	}
	switch b[i] {
	case '{':
		end, err := walkObject(b, i, depth, func(m member) error {
			fn(m)
			visitKeys(b, m.valStart, depth+1, fn)
			return nil
		})
		if err != nil {
			return len(b)
		}
		return end
	case '[':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		for i < len(b) {
			i = skipSpace(b, visitKeys(b, i, depth+1, fn))
			if i >= len(b) || b[i] != ',' {
				break
			}
			i = skipSpace(b, i+1)
		}
		return i + 1
	}
	end, err := skipValue(b, i, depth)
	if err != nil {
		return len(b)
	}
	return end
}

// appendKey appends s as a JSON string escaping only what JSON requires.
func appendKey(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
			i++
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			dst = append(dst, s[i:i+size]...)
			i += size
		}
	}
	return append(dst, '"')
}

// admittedFields are the members InspectRequest reads, read the same way:
// exact keys, escapes decoded, the last occurrence winning.
type admittedFields struct {
	model                    string
	stream                   bool
	maxTokens, maxCompletion *int64
}

// readAdmitted reads the admitted fields of a validated request body. Values
// of the wrong type are left at their zero value: the typed decode refuses
// such a body anyway.
func readAdmitted(body []byte) admittedFields {
	var a admittedFields
	_, _ = walkTopObject(body, func(m member) error {
		switch {
		case keyIs(body, m, "model"):
			a.model, _ = valueString(body, m)
		case keyIs(body, m, "stream"):
			a.stream, _ = valueBool(body, m)
		case keyIs(body, m, "max_tokens"):
			a.maxTokens = valueIntPtr(body, m)
		case keyIs(body, m, "max_completion_tokens"):
			a.maxCompletion = valueIntPtr(body, m)
		}
		return nil
	})
	return a
}

func valueIntPtr(b []byte, m member) *int64 {
	if n, ok := valueInt(b, m); ok {
		return &n
	}
	return nil
}

// pin sets the admitted fields of an OpenAI request to the exact reading.
func (a admittedFields) pinOpenAI(req *oaRequest) {
	req.Model, req.Stream = a.model, a.stream
	req.MaxTokens, req.MaxCompletionTokens = a.maxTokens, a.maxCompletion
}

// pinAnthropic sets the admitted fields of an Anthropic request to the exact
// reading.
func (a admittedFields) pinAnthropic(req *anRequest) {
	req.Model, req.Stream = a.model, a.stream
	req.MaxTokens = 0
	if a.maxTokens != nil {
		req.MaxTokens = *a.maxTokens
	}
}
