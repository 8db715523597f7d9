package converter

import (
	"bytes"
	encjson "encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

// requestDirs maps each testdata/request sub-directory to its translation.
var requestDirs = []struct {
	dir      string
	from, to format.Format
}{
	{"openai_to_anthropic", format.OpenAIChat, format.Anthropic},
	{"anthropic_to_openai", format.Anthropic, format.OpenAIChat},
	{"openai_to_openai", format.OpenAIChat, format.OpenAIChat},
	{"anthropic_to_anthropic", format.Anthropic, format.Anthropic},
}

// caseOptions is the optional <case>.opts.json beside a request case.
type caseOptions struct {
	Model            string `json:"model"`
	DefaultMaxTokens int    `json:"default_max_tokens"`
	IncludeUsage     bool   `json:"include_usage"`
	Intermediate     bool   `json:"intermediate"`
}

// requestCases lists the case names (file names without .in.json) of dir.
func requestCases(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "request", dir, "*.in.json"))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".in.json"))
	}
	sort.Strings(names)
	return names
}

func readCase(t testing.TB, dir, name string) ([]byte, RequestOptions) {
	t.Helper()
	base := filepath.Join("testdata", "request", dir, name)
	in, err := os.ReadFile(base + ".in.json")
	if err != nil {
		t.Fatal(err)
	}
	var opts RequestOptions
	if raw, err := os.ReadFile(base + ".opts.json"); err == nil {
		var co caseOptions
		if err := jsonx.Unmarshal(raw, &co); err != nil {
			t.Fatalf("%s.opts.json: %v", base, err)
		}
		opts = RequestOptions(co)
	}
	return in, opts
}

// indentJSON pretty-prints translated requests so golden files are
// reviewable; same-format outputs are compared byte for byte instead.
func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := encjson.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestTranslateRequestGolden runs every case under testdata/request. A case
// that succeeds is compared with <case>.want.json; one that fails is
// compared, as the client's OpenAI-shaped error body, with <case>.err.json.
func TestTranslateRequestGolden(t *testing.T) {
	total := 0
	for _, d := range requestDirs {
		for _, name := range requestCases(t, d.dir) {
			total++
			t.Run(d.dir+"/"+name, func(t *testing.T) {
				in, opts := readCase(t, d.dir, name)
				base := filepath.Join("testdata", "request", d.dir, name)
				got, err := TranslateRequest(d.from, d.to, in, opts)
				if err != nil {
					var e *Error
					if !errors.As(err, &e) {
						t.Fatalf("error is %T, want *Error: %v", err, err)
					}
					if e.Kind != KindInvalidRequest {
						t.Errorf("kind = %d, want KindInvalidRequest", e.Kind)
					}
					if _, statErr := os.Stat(base + ".want.json"); statErr == nil && !*update {
						t.Fatalf("unexpected error %v (a .want.json exists)", err)
					}
					checkGolden(t, base+".err.json", indentJSON(t, AppendErrorBody(nil, format.OpenAIChat, e, "")))
					return
				}
				if _, statErr := os.Stat(base + ".err.json"); statErr == nil && !*update {
					t.Fatalf("translation succeeded, want the error in %s.err.json:\n%s", base, got)
				}
				if !jsonx.Valid(got) || !encjson.Valid(got) {
					t.Fatalf("output is not valid JSON:\n%s", got)
				}
				if d.from == d.to {
					checkGolden(t, base+".want.json", got)
					return
				}
				checkGolden(t, base+".want.json", indentJSON(t, got))
			})
		}
	}
	if total < 40 {
		t.Errorf("only %d request cases found", total)
	}
}

func TestTranslateRequestErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name     string
		from, to format.Format
		body     string
		param    string
	}{
		{"n", format.OpenAIChat, format.Anthropic, `{"model":"m","n":3,"messages":[{"role":"user","content":"x"}]}`, "n"},
		{"temperature", format.OpenAIChat, format.Anthropic, `{"model":"m","temperature":2,"messages":[{"role":"user","content":"x"}]}`, "temperature"},
		{"image media type", format.OpenAIChat, format.Anthropic, `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,AA=="}}]}]}`, "messages[0].content[0].image_url.url"},
		{"input audio", format.OpenAIChat, format.Anthropic, `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, "messages[0].content[0].input_audio"},
		{"stop sequences", format.Anthropic, format.OpenAIChat, `{"model":"m","max_tokens":1,"stop_sequences":["a","b","c","d","e"],"messages":[{"role":"user","content":"x"}]}`, "stop_sequences"},
		{"stream_options type", format.OpenAIChat, format.OpenAIChat, `{"model":"m","stream":true,"stream_options":3,"messages":[]}`, "stream_options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TranslateRequest(tt.from, tt.to, []byte(tt.body), RequestOptions{IncludeUsage: true})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Kind != KindInvalidRequest || e.Param != tt.param {
				t.Errorf("got kind %d param %q, want invalid request on %q", e.Kind, e.Param, tt.param)
			}
		})
	}
}

func TestInspectRequest(t *testing.T) {
	tests := []struct {
		name  string
		f     format.Format
		body  string
		want  RequestInfo
		param string // expected error param; "-" for an error without one
	}{
		{"openai minimal", format.OpenAIChat, `{"model":"gpt-4o","messages":[]}`, RequestInfo{Model: "gpt-4o"}, ""},
		{"openai stream with usage", format.OpenAIChat, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, RequestInfo{Model: "gpt-4o", Stream: true, IncludeUsage: true}, ""},
		{"openai max_completion_tokens wins", format.OpenAIChat, `{"max_tokens":10,"max_completion_tokens":20,"messages":[],"model":"m"}`, RequestInfo{Model: "m", MaxTokens: 20}, ""},
		{"openai max_tokens", format.OpenAIChat, `{"max_tokens":10,"messages":[],"model":"m"}`, RequestInfo{Model: "m", MaxTokens: 10}, ""},
		{"openai integral float", format.OpenAIChat, `{"max_tokens":1e3,"messages":[]}`, RequestInfo{MaxTokens: 1000}, ""},
		{"anthropic", format.Anthropic, ` {"model":"claude","max_tokens":512,"stream":true,"messages":[{"role":"user","content":"model"}]} `, RequestInfo{Model: "claude", Stream: true, MaxTokens: 512}, ""},
		{"anthropic ignores stream_options", format.Anthropic, `{"model":"c","stream_options":{"include_usage":true},"messages":[]}`, RequestInfo{Model: "c"}, ""},
		{"escaped key and value", format.OpenAIChat, `{"mod\u0065l":"gpt\u002d4o","messages":[]}`, RequestInfo{Model: "gpt-4o"}, ""},
		{"null fields", format.OpenAIChat, `{"model":null,"stream":null,"max_tokens":null,"stream_options":null,"messages":[]}`, RequestInfo{}, ""},
		{"nested model ignored", format.OpenAIChat, `{"metadata":{"model":"x"},"model":"y","messages":[]}`, RequestInfo{Model: "y"}, ""},
		{"model not a string", format.OpenAIChat, `{"model":3,"messages":[]}`, RequestInfo{}, "model"},
		{"stream not a bool", format.OpenAIChat, `{"stream":"yes","messages":[]}`, RequestInfo{}, "stream"},
		{"max_tokens fraction", format.Anthropic, `{"max_tokens":1.5,"messages":[]}`, RequestInfo{}, "max_tokens"},
		{"max_tokens zero", format.Anthropic, `{"max_tokens":0,"messages":[]}`, RequestInfo{}, "max_tokens"},
		{"include_usage not bool", format.OpenAIChat, `{"stream_options":{"include_usage":1},"messages":[]}`, RequestInfo{}, "stream_options.include_usage"},
		{"messages missing", format.OpenAIChat, `{"model":"m"}`, RequestInfo{}, "messages"},
		{"messages not array", format.OpenAIChat, `{"model":"m","messages":{}}`, RequestInfo{}, "messages"},
		{"array body", format.OpenAIChat, `[]`, RequestInfo{}, "-"},
		{"truncated", format.OpenAIChat, `{"model":"m","messages":[`, RequestInfo{}, "-"},
		{"trailing data", format.OpenAIChat, `{"messages":[]}{}`, RequestInfo{}, "-"},
		{"bad escape", format.OpenAIChat, `{"messages":[],"x":"\q"}`, RequestInfo{}, "-"},
		{"control char", format.OpenAIChat, "{\"messages\":[],\"x\":\"a\x01\"}", RequestInfo{}, "-"},
		{"bad number", format.OpenAIChat, `{"messages":[],"x":01}`, RequestInfo{}, "-"},
		{"empty", format.OpenAIChat, ``, RequestInfo{}, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := InspectRequest(tt.f, []byte(tt.body))
			if tt.param == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			wantParam := tt.param
			if wantParam == "-" {
				wantParam = ""
			}
			if e.Kind != KindInvalidRequest || e.Param != wantParam {
				t.Errorf("got kind %d param %q (%v), want invalid request on %q", e.Kind, e.Param, err, wantParam)
			}
		})
	}
}

// TestInspectRequestAgreesWithDecoder checks the scanner against the JSON
// decoder on every golden input.
func TestInspectRequestAgreesWithDecoder(t *testing.T) {
	for _, d := range requestDirs {
		for _, name := range requestCases(t, d.dir) {
			in, _ := readCase(t, d.dir, name)
			_, err := InspectRequest(d.from, in)
			var v map[string]encjson.RawMessage
			decErr := encjson.Unmarshal(in, &v)
			if decErr != nil && err == nil {
				t.Errorf("%s/%s: decoder refuses (%v) but InspectRequest accepts", d.dir, name, decErr)
			}
		}
	}
}

func TestPatchRequestKeepsBodyWhenNothingChanges(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","messages":[]}`)
	got, err := TranslateRequest(format.OpenAIChat, format.OpenAIChat, body, RequestOptions{IncludeUsage: true})
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &body[0] {
		t.Error("an unchanged body was copied")
	}
}

func TestAnthropicToolIDSanitising(t *testing.T) {
	tests := []struct {
		name, id string
	}{
		{"valid kept", "toolu_01A-b"},
		{"colon and dot", "functions.get_weather:0"},
		{"unicode", "call_é"},
		{"space", "call 1"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := anthropicToolID(tt.id)
			if got != anthropicToolID(tt.id) {
				t.Fatal("not deterministic")
			}
			for i := 0; i < len(got); i++ {
				if !isIDChar(got[i]) {
					t.Fatalf("%q has invalid byte %q", got, got[i])
				}
			}
			if tt.name == "valid kept" && got != tt.id {
				t.Errorf("valid id changed to %q", got)
			}
			if prev, ok := seen[got]; ok {
				t.Errorf("%q and %q collide on %q", prev, tt.id, got)
			}
			seen[got] = tt.id
		})
	}
	if anthropicToolID("a.b") == anthropicToolID("a:b") {
		t.Error("ids differing in punctuation collide")
	}
}
