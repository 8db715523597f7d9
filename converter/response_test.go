package converter

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aigateway/gateway/converter/format"
)

// goldenOptions is the optional <case>.opts.json beside a golden input.
type goldenOptions struct {
	Model        string `json:"model"`
	Created      int64  `json:"created"`
	IncludeUsage bool   `json:"include_usage"`
}

// directionFormats maps a testdata directory name to its formats.
var directionFormats = map[string][2]format.Format{
	"anthropic_to_openai":   {format.Anthropic, format.OpenAIChat},
	"openai_to_anthropic":   {format.OpenAIChat, format.Anthropic},
	"anthropic_passthrough": {format.Anthropic, format.Anthropic},
	"openai_passthrough":    {format.OpenAIChat, format.OpenAIChat},
}

// goldenCase is one input file of a golden directory with its options.
type goldenCase struct {
	name, dir string
	from, to  format.Format
	in        []byte
	opts      goldenOptions
	wantPath  string
}

// goldenCases lists the cases under root: root/<direction>/<rule>.in<ext>.
func goldenCases(t *testing.T, root, ext string) []goldenCase {
	t.Helper()
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, d := range dirs {
		formats, ok := directionFormats[d.Name()]
		if !ok {
			t.Fatalf("unknown direction directory %s", d.Name())
		}
		ins, err := filepath.Glob(filepath.Join(root, d.Name(), "*.in"+ext))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range ins {
			base := strings.TrimSuffix(in, ".in"+ext)
			c := goldenCase{
				name: d.Name() + "/" + filepath.Base(base), dir: d.Name(),
				from: formats[0], to: formats[1], wantPath: base + ".want" + ext,
			}
			if c.in, err = os.ReadFile(in); err != nil {
				t.Fatal(err)
			}
			if raw, err := os.ReadFile(base + ".opts.json"); err == nil {
				if err := json.Unmarshal(raw, &c.opts); err != nil {
					t.Fatalf("%s.opts.json: %v", base, err)
				}
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// TestResponseGolden walks testdata/response: each <rule>.in.json is an
// upstream answer and <rule>.want.json the client's body, or "error: …".
func TestResponseGolden(t *testing.T) {
	cases := goldenCases(t, filepath.Join("testdata", "response"), ".json")
	if len(cases) < 15 {
		t.Fatalf("only %d response golden cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := TranslateResponse(c.from, c.to, c.in, ResponseOptions{Model: c.opts.Model, Created: c.opts.Created})
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error is %T, want *Error", err)
				}
				got = []byte("error: " + e.Type(c.to) + ": " + e.Message + "\n")
			} else {
				if !json.Valid(got) {
					t.Fatalf("output is not valid JSON: %s", got)
				}
				if c.from == c.to && c.opts.Model == "" && !bytes.Equal(got, c.in) {
					t.Errorf("pass-through changed the body")
				}
			}
			checkGolden(t, c.wantPath, got)
		})
	}
}

func TestTranslateResponseUsage(t *testing.T) {
	tests := []struct {
		name     string
		from, to format.Format
		body     string
		want     Usage
	}{
		{
			name: "anthropic input excludes cache, gateway input includes it",
			from: format.Anthropic, to: format.OpenAIChat,
			body: `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":7}}`,
			want: Usage{InputTokens: 115, OutputTokens: 7, CacheReadTokens: 100, CacheWriteTokens: 5},
		},
		{
			name: "openai prompt tokens include cached tokens",
			from: format.OpenAIChat, to: format.Anthropic,
			body: `{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":3,"total_tokens":123,"prompt_tokens_details":{"cached_tokens":100}}}`,
			want: Usage{InputTokens: 120, OutputTokens: 3, CacheReadTokens: 100},
		},
		{
			name: "openai pass-through still extracts usage",
			from: format.OpenAIChat, to: format.OpenAIChat,
			body: `{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}`,
			want: Usage{InputTokens: 9, OutputTokens: 4},
		},
		{
			name: "anthropic pass-through still extracts usage",
			from: format.Anthropic, to: format.Anthropic,
			body: `{"id":"msg_1","content":[],"usage":{"input_tokens":3,"cache_read_input_tokens":2,"output_tokens":1}}`,
			want: Usage{InputTokens: 5, OutputTokens: 1, CacheReadTokens: 2},
		},
		{
			name: "missing usage is zero",
			from: format.OpenAIChat, to: format.Anthropic,
			body: `{"id":"chatcmpl-1","choices":[{"index":0,"message":{"content":"x"},"finish_reason":"stop"}]}`,
			want: Usage{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := TranslateResponse(tt.from, tt.to, []byte(tt.body), ResponseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("usage = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTranslateResponseErrors(t *testing.T) {
	tests := []struct {
		name     string
		from, to format.Format
		body     string
	}{
		{"truncated anthropic body", format.Anthropic, format.OpenAIChat, `{"id":"msg_1","content":[`},
		{"openai body is an array", format.OpenAIChat, format.Anthropic, `[1,2]`},
		{"pass-through of invalid JSON", format.OpenAIChat, format.OpenAIChat, `{"id":`},
		{"unknown format", format.Format("x"), format.OpenAIChat, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := TranslateResponse(tt.from, tt.to, []byte(tt.body), ResponseOptions{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
		})
	}
}

// TestResponseRoundTrip converts an Anthropic answer to OpenAI and back: the
// thinking signature, tool input and usage (cache writes included) survive.
func TestResponseRoundTrip(t *testing.T) {
	in := []byte(`{"id":"msg_01","type":"message","role":"assistant","model":"claude","content":[` +
		`{"type":"thinking","thinking":"Let me see.","signature":"sig=="},` +
		`{"type":"redacted_thinking","data":"opaque"},` +
		`{"type":"text","text":"Checking."},` +
		`{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],` +
		`"stop_reason":"tool_use","stop_sequence":null,` +
		`"usage":{"input_tokens":10,"cache_creation_input_tokens":4,"cache_read_input_tokens":20,"output_tokens":30}}`)
	mid, u1, err := TranslateResponse(format.Anthropic, format.OpenAIChat, in, ResponseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, u2, err := TranslateResponse(format.OpenAIChat, format.Anthropic, mid, ResponseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u1 != u2 {
		t.Errorf("usage changed over the round trip: %+v then %+v", u1, u2)
	}
	var a, b map[string]any
	if err := json.Unmarshal(in, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(back, &b); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "model", "content", "stop_reason", "usage"} {
		ja, _ := json.Marshal(a[k])
		jb, _ := json.Marshal(b[k])
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s changed over the round trip:\n was %s\n now %s", k, ja, jb)
		}
	}
}

// TestResponseTypesMatchEncodingJSON decodes seeds with the gateway's codec
// and with encoding/json: both must agree on the typed wire structs.
func TestResponseTypesMatchEncodingJSON(t *testing.T) {
	for _, c := range goldenCases(t, filepath.Join("testdata", "response"), ".json") {
		t.Run(c.name, func(t *testing.T) {
			checkSameDecoding(t, c.from, c.in)
		})
	}
}

// checkSameDecoding decodes body into the response type of format f with
// jsonx and with encoding/json and compares the results.
func checkSameDecoding(t *testing.T, f format.Format, body []byte) {
	t.Helper()
	var std, ours any
	if f == format.Anthropic {
		std, ours = new(anthropicResponse), new(anthropicResponse)
	} else {
		std, ours = new(openAICompletion), new(openAICompletion)
	}
	if !utf8.Valid(body) {
		// encoding/json replaces invalid UTF-8 in strings with U+FFFD while
		// goccy keeps the bytes; both are acceptable for forwarded text.
		return
	}
	errStd := json.Unmarshal(body, std)
	errOurs := decodeUpstream(body, ours)
	if (errStd == nil) != (errOurs == nil) {
		// goccy accepts a few malformed inputs encoding/json rejects; only
		// compare what both accept.
		if json.Valid(body) {
			t.Fatalf("decoders disagree on a valid document: encoding/json %v, jsonx %v", errStd, errOurs)
		}
		return
	}
	if errStd != nil {
		return
	}
	a, _ := json.Marshal(std)
	b, _ := json.Marshal(ours)
	if !bytes.Equal(a, b) {
		t.Errorf("decoders disagree:\nencoding/json %s\njsonx         %s", a, b)
	}
}
