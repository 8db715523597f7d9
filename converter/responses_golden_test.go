package converter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/sse"
)

// The Responses answer translators have golden cases of their own under
// testdata/responses/{json,stream}/<direction>/<rule>.in.<ext>, with the
// output in <rule>.want.<ext> and options in <rule>.opts.json. The Anthropic
// inputs of the Chat directions (testdata/response/anthropic_to_openai,
// testdata/stream/anthropic_to_openai and the recorded fixtures) are run
// through the Anthropic → Responses translators too; their outputs live
// under anthropic_to_responses/hub/.

// rsGoldenOptions is the optional <case>.opts.json of a Responses case.
type rsGoldenOptions struct {
	Model            string                   `json:"model"`
	Created          int64                    `json:"created"`
	ReasoningSummary bool                     `json:"reasoning_summary"`
	Tools            map[string]ResponsesTool `json:"tools"`
	FallbackID       string                   `json:"fallback_id"`
}

func (o rsGoldenOptions) response() ResponseOptions {
	return ResponseOptions{Model: o.Model, Created: o.Created, ReasoningSummary: o.ReasoningSummary, Tools: o.Tools, FallbackID: o.FallbackID}
}

func (o rsGoldenOptions) stream() StreamOptions {
	return StreamOptions{Model: o.Model, Created: o.Created, ReasoningSummary: o.ReasoningSummary, Tools: o.Tools, FallbackID: o.FallbackID}
}

// rsGoldenCase is one input with its golden output path.
type rsGoldenCase struct {
	name, dir string
	in        []byte
	opts      rsGoldenOptions
	wantPath  string
}

// rsGoldenCases lists root/<dir>/*.in<ext> and, for anthropic_to_responses,
// the shared Anthropic inputs in extra.
func rsGoldenCases(t *testing.T, kind, ext string, extra ...string) []rsGoldenCase {
	t.Helper()
	var cases []rsGoldenCase
	add := func(dir, in, want string) {
		base := strings.TrimSuffix(in, ".in"+ext)
		c := rsGoldenCase{name: dir + "/" + filepath.Base(want), dir: dir, wantPath: want}
		var err error
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
	root := filepath.Join("testdata", "responses", kind)
	for _, dir := range []string{"anthropic_to_responses", "responses_to_anthropic", "responses_passthrough"} {
		ins, _ := filepath.Glob(filepath.Join(root, dir, "*.in"+ext))
		for _, in := range ins {
			add(dir, in, strings.TrimSuffix(in, ".in"+ext)+".want"+ext)
		}
	}
	for _, pattern := range extra {
		ins, _ := filepath.Glob(pattern)
		for _, in := range ins {
			name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(in), ext), ".in")
			add("anthropic_to_responses", in, filepath.Join(root, "anthropic_to_responses", "hub", name+".want"+ext))
		}
	}
	return cases
}

// rsTestTools declares the tools of the Codex-like cases: apply_patch as a
// custom tool, local_shell, and a namespaced MCP function.
var rsTestTools = map[string]ResponsesTool{
	"apply_patch":        {Kind: ResponsesToolCustom},
	"local_shell":        {Kind: ResponsesToolLocalShell},
	"mcp__github__issue": {Kind: ResponsesToolNamespaced, Namespace: "mcp__github", Name: "issue"},
}

func TestResponsesJSONGolden(t *testing.T) {
	cases := rsGoldenCases(t, "json", ".json", filepath.Join("testdata", "response", "anthropic_to_openai", "*.in.json"))
	if len(cases) < 30 {
		t.Fatalf("only %d Responses JSON golden cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []byte
			var err error
			switch c.dir {
			case "anthropic_to_responses":
				got, _, err = anthropicToResponsesResponse(c.in, c.opts.response())
			case "responses_to_anthropic":
				got, _, err = responsesToAnthropicResponse(c.in, c.opts.response())
			default:
				got, _, err = forwardResponsesResponse(c.in, c.opts.response())
			}
			if err != nil {
				got = []byte("error: " + err.Error() + "\n")
			} else if !json.Valid(got) {
				t.Fatalf("output is not JSON: %s", got)
			}
			checkGolden(t, c.wantPath, got)
		})
	}
}

// rsStreamInputs are the shared Anthropic stream inputs.
var rsStreamInputs = []string{
	filepath.Join("testdata", "stream", "anthropic_to_openai", "*.in.sse"),
	filepath.Join("testdata", "fixtures", "anthropic_stream_*.sse"),
}

func TestResponsesStreamGolden(t *testing.T) {
	cases := rsGoldenCases(t, "stream", ".sse", rsStreamInputs...)
	if len(cases) < 30 {
		t.Fatalf("only %d Responses stream golden cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTranslator(c.dir, c.opts.stream())
			got, _ := feedTranslator(tr, c.in)
			checkGolden(t, c.wantPath, got)
			switch c.dir {
			case "anthropic_to_responses":
				checkResponsesStream(t, got)
			case "responses_to_anthropic":
				checkAnthropicStream(t, got, true)
			default:
				checkSSE(t, got)
			}
		})
	}
}

func newTranslator(dir string, opts StreamOptions) eventTranslator {
	switch dir {
	case "anthropic_to_responses":
		return newAnthropicToResponsesStream(opts)
	case "responses_to_anthropic":
		return newResponsesToAnthropicStream(opts)
	}
	return newResponsesPassStream(opts)
}

// feedTranslator runs input through tr event by event and applies the
// end-of-stream rules converter.Stream applies around a translator: an
// event error ends the stream with fail; at EOF a stream that produced
// nothing, or whose finish never came, ends with fail, and a finished one
// with close.
func feedTranslator(tr eventTranslator, input []byte) ([]byte, error) {
	var out, scratch []byte
	for len(input) > 0 && !tr.done() {
		ev, n, ok, sc := sse.Parse(input, true, scratch)
		scratch = sc
		if !ok || n == 0 {
			break
		}
		input = input[n:]
		var err error
		out, err = tr.event(out, ev)
		if err != nil {
			e, _ := err.(*Error)
			if e == nil {
				e = Errorf(KindStreamInterrupted, "%v", err)
			}
			return tr.fail(out, e), err
		}
	}
	switch {
	case tr.done():
	case len(out) == 0:
		out = tr.fail(out, Errorf(KindStreamInterrupted, "the upstream ended the stream without an answer"))
	case !tr.sawFinish():
		out = tr.fail(out, Errorf(KindStreamInterrupted, "the upstream stream ended before the answer was complete"))
	default:
		out = tr.close(out)
	}
	return out, nil
}
