package converter

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets of the Responses answer translators: whatever the upstream
// sends, no panic, output that is valid SSE or JSON, and for streams the
// grammar the client relies on.

func addFileSeeds(f *testing.F, patterns ...string) {
	f.Helper()
	for _, pattern := range patterns {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, false)
		}
	}
}

// fuzzTranslator runs in through tr and checks what holds for any input: a
// stream that produced anything has ended (its terminal event written), and
// nothing more is appended after that.
func fuzzTranslator(t *testing.T, tr eventTranslator, in []byte) []byte {
	out, _ := feedTranslator(tr, in)
	if !tr.done() {
		t.Fatalf("stream not done at EOF: %q", out)
	}
	if more := tr.fail(nil, Errorf(KindStreamInterrupted, "late")); len(more) != 0 {
		t.Fatalf("fail after the end appended %q", more)
	}
	return out
}

func FuzzResponsesStreamFromAnthropic(f *testing.F) {
	addFileSeeds(f, append(rsStreamInputs, filepath.Join("testdata", "responses", "stream", "anthropic_to_responses", "*.in.sse"))...)
	f.Fuzz(func(t *testing.T, in []byte, summary bool) {
		tr := newAnthropicToResponsesStream(StreamOptions{ReasoningSummary: summary, Tools: rsTestTools, Model: "m"})
		out := fuzzTranslator(t, tr, in)
		checkResponsesStream(t, out)
	})
}

func FuzzResponsesStreamToAnthropic(f *testing.F) {
	addFileSeeds(f,
		filepath.Join("testdata", "responses", "stream", "responses_to_anthropic", "*.in.sse"),
		filepath.Join("testdata", "responses", "stream", "anthropic_to_responses", "*.want.sse"))
	f.Fuzz(func(t *testing.T, in []byte, _ bool) {
		out := fuzzTranslator(t, newResponsesToAnthropicStream(StreamOptions{}), in)
		v := checkAnthropicStream(t, out, true)
		if !v.stopped {
			t.Fatalf("stream ends without message_stop or error: %s", out)
		}
	})
}

func FuzzResponsesStreamPass(f *testing.F) {
	addFileSeeds(f, filepath.Join("testdata", "responses", "stream", "responses_passthrough", "*.in.sse"))
	f.Fuzz(func(t *testing.T, in []byte, patch bool) {
		opts := StreamOptions{}
		if patch {
			opts.Model = "m"
		}
		tr := newResponsesPassStream(opts)
		out := fuzzTranslator(t, tr, in)
		if !tr.sawFinish() {
			// Without a finish the stream ends with an error: the
			// upstream's, or the gateway's after the bytes that passed.
			evs := parseEventsAtEOF(t, out)
			if n := len(evs); n == 0 || evs[n-1].Name != "error" && evs[n-1].Name != "response.failed" {
				t.Fatalf("unfinished stream does not end with an error event: %q", out)
			}
		}
	})
}

func FuzzResponsesResponse(f *testing.F) {
	for _, pattern := range []string{
		filepath.Join("testdata", "responses", "json", "*", "*.in.json"),
		filepath.Join("testdata", "responses", "json", "anthropic_to_responses", "*.want.json"),
		filepath.Join("testdata", "response", "anthropic_to_openai", "*.in.json"),
	} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		opts := ResponseOptions{ReasoningSummary: true, Tools: rsTestTools}
		if out, _, err := anthropicToResponsesResponse(body, opts); err == nil {
			if !json.Valid(out) {
				t.Fatalf("Anthropic → Responses output is not JSON: %s", out)
			}
			// What the gateway writes it can read back.
			if _, _, err := responsesToAnthropicResponse(out, ResponseOptions{}); err != nil {
				t.Fatalf("reading back %s: %v", out, err)
			}
		}
		if out, _, err := responsesToAnthropicResponse(body, opts); err == nil && !json.Valid(out) {
			t.Fatalf("Responses → Anthropic output is not JSON: %s", out)
		}
		if out, _, err := forwardResponsesResponse(body, ResponseOptions{}); err == nil && !bytes.Equal(out, body) {
			t.Fatal("forwarded body changed")
		}
		if out, _, err := forwardResponsesResponse(body, ResponseOptions{Model: "m"}); err == nil && !json.Valid(out) && json.Valid(body) {
			t.Fatalf("patched body is not JSON: %s", out)
		}
		if p, ok := parseResponsesError(body); ok && p.message == "" {
			t.Fatal("parsed an error without message")
		}
	})
}
