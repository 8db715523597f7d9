// Package jsonx is the gateway's single JSON codec. Every package encodes and
// decodes JSON through it so the implementation (goccy/go-json today) can be
// swapped or pinned in one place.
package jsonx

import (
	"encoding/json"
	"fmt"

	gojson "github.com/goccy/go-json"
)

// RawMessage is a raw encoded JSON value, passed through without re-encoding.
type RawMessage = gojson.RawMessage

// Marshal returns the JSON encoding of v.
func Marshal(v any) ([]byte, error) { return gojson.Marshal(v) }

// Unmarshal parses the JSON-encoded data and stores the result in v. goccy
// has panicked on some malformed documents; since data often comes from
// clients, such a panic is turned into an error here.
func Unmarshal(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("jsonx: malformed JSON: %v", r)
		}
	}()
	return gojson.Unmarshal(data, v)
}

// Valid reports whether data is a valid JSON encoding. It uses the standard
// library's validator: goccy's accepts trailing bytes after a value.
func Valid(data []byte) bool { return json.Valid(data) }

// AppendString appends s to dst as a quoted, escaped JSON string.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
