package converter

import (
	encjson "encoding/json"
	"testing"
)

// FuzzSurrogateJoin checks that holding a trailing high surrogate back and
// releasing it into the next event keep both events valid JSON.
func FuzzSurrogateJoin(f *testing.F) {
	f.Add([]byte(`{"text":"a \ud83d"}`), []byte(`{"text":"\ude00 b"}`))
	f.Add([]byte(`{"text":"a \\ud83d"}`), []byte(`{"text":"\\ude00"}`))
	f.Add([]byte(`{"a":"\uD83D","b":"\uD83D"}`), []byte(`["\uDE00","\uDC00"]`))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		if !encjson.Valid(first) || !encjson.Valid(second) {
			return
		}
		out, held := holdSurrogate(first)
		if !encjson.Valid(out) {
			t.Fatalf("holding %q left invalid JSON %q", first, out)
		}
		if held == nil {
			return
		}
		if joined := releaseSurrogate(second, held); !encjson.Valid(joined) {
			t.Fatalf("releasing %q into %q gave invalid JSON %q", held, second, joined)
		}
	})
}

// FuzzNormaliseToolSchema checks that a normalised schema is a JSON object
// of type "object" whenever normalisation succeeds.
func FuzzNormaliseToolSchema(f *testing.F) {
	for _, s := range []string{`{}`, `{"properties":{}}`, ` { "a" : 1 } `, `{"type":"object"}`, `{"type":"string"}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, schema []byte) {
		if !encjson.Valid(schema) {
			return
		}
		out, err := normaliseToolSchema(schema, "p")
		if err != nil {
			return
		}
		// Keys are matched exactly, as providers do (encoding/json would
		// also take "tYpe" for "type").
		var v map[string]any
		if encjson.Unmarshal(out, &v) != nil || v["type"] != "object" {
			t.Fatalf("%q normalised to %q", schema, out)
		}
	})
}
