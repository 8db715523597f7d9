package converter

import (
	encjson "encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

// addGoldenSeeds seeds a fuzz corpus with every golden request input.
func addGoldenSeeds(f *testing.F, add func(body []byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "request", "*", "*.in.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// checkOutputJSON fails unless out is valid JSON for both codecs and err, if
// any, is an *Error.
func checkOutputJSON(t *testing.T, out []byte, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T is not *Error: %v", err, err)
		}
		return
	}
	if !jsonx.Valid(out) || !encjson.Valid(out) {
		t.Fatalf("output is not valid JSON: %q", out)
	}
}

func FuzzInspectRequest(f *testing.F) {
	addGoldenSeeds(f, func(b []byte) { f.Add(b, false); f.Add(b, true) })
	f.Add([]byte(`{"model":"m\u00e9","messages":[],"stream":true,"max_tokens":1e2}`), false)
	f.Fuzz(func(t *testing.T, body []byte, anthropic bool) {
		f := format.OpenAIChat
		if anthropic {
			f = format.Anthropic
		}
		_, err := InspectRequest(f, body)
		if err == nil && !encjson.Valid(body) {
			t.Fatalf("InspectRequest accepted invalid JSON %q", body)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidRequest {
				t.Fatalf("error is not an invalid-request *Error: %v", err)
			}
		}
	})
}

func FuzzTranslateRequestOpenAIToAnthropic(f *testing.F) {
	addGoldenSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := TranslateRequest(format.OpenAIChat, format.Anthropic, body, RequestOptions{})
		checkOutputJSON(t, out, err)
	})
}

func FuzzTranslateRequestAnthropicToOpenAI(f *testing.F) {
	addGoldenSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := TranslateRequest(format.Anthropic, format.OpenAIChat, body, RequestOptions{IncludeUsage: true})
		checkOutputJSON(t, out, err)
	})
}

// FuzzPatchRequest checks same-format patching: valid output, the model and
// include_usage set as asked, and every other top-level member unchanged.
func FuzzPatchRequest(f *testing.F) {
	addGoldenSeeds(f, func(b []byte) {
		f.Add(b, "", false, false)
		f.Add(b, "gpt-4.1", true, false)
		f.Add(b, "claude-opus-4-1", false, true)
	})
	f.Fuzz(func(t *testing.T, body []byte, model string, includeUsage, anthropic bool) {
		fm := format.OpenAIChat
		if anthropic {
			fm = format.Anthropic
		}
		out, err := TranslateRequest(fm, fm, body, RequestOptions{Model: model, IncludeUsage: includeUsage})
		checkOutputJSON(t, out, err)
		if err != nil {
			return
		}
		var before, after map[string]encjson.RawMessage
		if encjson.Unmarshal(body, &before) != nil {
			t.Fatalf("patch accepted a body encoding/json refuses: %q", body)
		}
		if err := encjson.Unmarshal(out, &after); err != nil {
			t.Fatalf("patched body does not decode: %v", err)
		}
		patched := map[string]bool{"model": model != "", "stream_options": includeUsage && !anthropic, "max_tokens": anthropic}
		for k, v := range before {
			if !patched[k] && string(after[k]) != string(v) {
				t.Fatalf("member %q changed from %s to %s", k, v, after[k])
			}
		}
		if model != "" {
			var got string
			if encjson.Unmarshal(after["model"], &got) != nil || (got != model && validUTF8(model)) {
				t.Fatalf("model is %s, want %q", after["model"], model)
			}
		}
	})
}

// validUTF8 reports whether s survives a JSON round trip unchanged (invalid
// UTF-8 is replaced by U+FFFD on decoding).
func validUTF8(s string) bool {
	b, _ := encjson.Marshal(s)
	var back string
	return encjson.Unmarshal(b, &back) == nil && back == s
}

// FuzzRequestTypesMatchEncodingJSON decodes the same bytes into the request
// types the way the translators do (decodeRequest, the project codec) and
// with encoding/json: both must agree.
func FuzzRequestTypesMatchEncodingJSON(f *testing.F) {
	addGoldenSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			// Refused before decoding (walkTopObject): the codecs differ
			// on invalid UTF-8, goccy keeping the bytes, encoding/json
			// substituting U+FFFD.
			if _, err := InspectRequest(format.OpenAIChat, body); err == nil {
				t.Fatal("InspectRequest accepted invalid UTF-8")
			}
			return
		}
		if !keysLowerCase(body) {
			// Every wire field is lower-case snake_case. encoding/json and
			// goccy/go-json fold the case of other keys differently (e.g.
			// "Audio"); the providers match keys exactly, so such keys
			// carry nothing either way.
			return
		}
		var a1, a2 oaRequest
		e1, e2 := decodeRequest(body, &a1), encjson.Unmarshal(body, &a2)
		if e1 == nil && e2 == nil && !reflect.DeepEqual(a1, a2) {
			t.Fatalf("OpenAI request decodes differently:\ngoccy: %+v\nencoding/json: %+v", a1, a2)
		}
		var b1, b2 anRequest
		e1, e2 = decodeRequest(body, &b1), encjson.Unmarshal(body, &b2)
		if e1 == nil && e2 == nil && !reflect.DeepEqual(b1, b2) {
			t.Fatalf("Anthropic request decodes differently:\ngoccy: %+v\nencoding/json: %+v", b1, b2)
		}
	})
}

// keysLowerCase reports whether every object key in the JSON document b is
// free of upper-case letters (false for malformed documents).
func keysLowerCase(b []byte) bool {
	i := skipSpace(b, 0)
	_, ok := lowerKeysAt(b, i)
	return ok
}

func lowerKeysAt(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '{':
		ok := true
		end, err := walkObject(b, i, 0, func(m member) error {
			var k string
			if jsonx.Unmarshal(b[m.keyStart:m.keyEnd], &k) != nil || strings.ToLower(k) != k {
				ok = false
			}
			if _, sub := lowerKeysAt(b, m.valStart); !sub {
				ok = false
			}
			return nil
		})
		return end, err == nil && ok
	case '[':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			end, ok := lowerKeysAt(b, i)
			if !ok {
				return end, false
			}
			i = skipSpace(b, end)
			if i >= len(b) {
				return i, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
	}
	end, err := skipValue(b, i, 0)
	return end, err == nil
}
