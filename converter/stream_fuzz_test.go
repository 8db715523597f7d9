package converter

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/sse"
)

// addStreamSeeds adds the golden stream inputs of the given directories and
// the recorded fixtures as seeds.
func addStreamSeeds(f *testing.F, dirs ...string) {
	f.Helper()
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join("testdata", "stream", d, "*.in.sse"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, true)
		}
	}
}

// fuzzStream runs an arbitrary event sequence through a Stream and checks
// what must hold for any input: no panic, valid SSE whose data is JSON or
// [DONE], a closed stream after Finish or Fail, and a second Finish that
// appends nothing.
func fuzzStream(t *testing.T, from, to format.Format, in []byte, includeUsage bool) []byte {
	s := NewStream(from, to, StreamOptions{IncludeUsage: includeUsage, Model: "m"})
	out, _ := feedStream(s, in)
	checkSSE(t, out)
	if s.started != (len(out) > 0) {
		t.Fatalf("Started() = %v with %d bytes out", s.started, len(out))
	}
	if s.started && !s.Done() {
		t.Fatal("stream not done after Finish")
	}
	if again := s.Finish(nil); len(again) != 0 {
		t.Fatalf("second Finish appended %q", again)
	}
	return out
}

func FuzzStreamAnthropicToOpenAI(f *testing.F) {
	addStreamSeeds(f, "anthropic_to_openai", "anthropic_passthrough")
	f.Fuzz(func(t *testing.T, in []byte, includeUsage bool) {
		out := fuzzStream(t, format.Anthropic, format.OpenAIChat, in, includeUsage)
		// The client's stream ends with [DONE] or an error payload.
		evs := parseEvents(t, out)
		if n := len(evs); n > 0 {
			last := evs[n-1].Data
			if string(last) != "[DONE]" && !bytes.HasPrefix(last, []byte(`{"error":`)) {
				t.Fatalf("stream ends with %s", last)
			}
		}
	})
}

func FuzzStreamOpenAIToAnthropic(f *testing.F) {
	addStreamSeeds(f, "openai_to_anthropic", "openai_passthrough")
	f.Fuzz(func(t *testing.T, in []byte, includeUsage bool) {
		out := fuzzStream(t, format.OpenAIChat, format.Anthropic, in, includeUsage)
		// Whatever the upstream sends, content blocks stay strictly
		// sequential, indexed from 0, each started before its deltas and
		// stopped once, and the stream ends with message_stop or an error.
		v := checkAnthropicStream(t, out, true)
		if len(out) > 0 && !v.stopped {
			t.Fatal("stream ends without message_stop or error")
		}
	})
}

// addResponseSeeds adds the golden response inputs of a directory.
func addResponseSeeds(f *testing.F, dirs ...string) {
	f.Helper()
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join("testdata", "response", d, "*.in.json"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// fuzzResponse checks what must hold for any upstream body: no panic, an
// *Error or valid JSON, and the same typed decoding as encoding/json.
func fuzzResponse(t *testing.T, from, to format.Format, body []byte) {
	out, _, err := TranslateResponse(from, to, body, ResponseOptions{})
	if err != nil {
		if _, ok := err.(*Error); !ok {
			t.Fatalf("error %T is not *Error", err)
		}
	} else if !json.Valid(out) {
		t.Fatalf("output is not JSON: %s", out)
	}
	checkSameDecoding(t, from, body)
}

func FuzzTranslateResponseAnthropicToOpenAI(f *testing.F) {
	addResponseSeeds(f, "anthropic_to_openai", "anthropic_passthrough")
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzResponse(t, format.Anthropic, format.OpenAIChat, body)
	})
}

func FuzzTranslateResponseOpenAIToAnthropic(f *testing.F) {
	addResponseSeeds(f, "openai_to_anthropic", "openai_passthrough")
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzResponse(t, format.OpenAIChat, format.Anthropic, body)
	})
}

// FuzzStreamEventSequence builds streams from a small vocabulary of valid
// events chosen by the fuzzer, which reaches deeper states than mutating
// bytes: parallel and interleaved tool calls, thinking, errors, cut-offs.
func FuzzStreamEventSequence(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8}, true)
	f.Add([]byte{0, 3, 9, 4, 10, 5, 11, 7}, false)
	f.Fuzz(func(t *testing.T, program []byte, includeUsage bool) {
		var oa, an bytes.Buffer
		for _, op := range program {
			oa.WriteString(openAIVocabulary[int(op)%len(openAIVocabulary)])
			an.WriteString(anthropicVocabulary[int(op)%len(anthropicVocabulary)])
		}
		checkAnthropicStream(t, fuzzStream(t, format.OpenAIChat, format.Anthropic, oa.Bytes(), includeUsage), true)
		fuzzStream(t, format.Anthropic, format.OpenAIChat, an.Bytes(), includeUsage)
		// Pass-through forwards complete events byte for byte.
		for _, c := range []struct {
			f  format.Format
			in []byte
		}{{format.OpenAIChat, oa.Bytes()}, {format.Anthropic, an.Bytes()}} {
			s := NewStream(c.f, c.f, StreamOptions{IncludeUsage: true})
			var out []byte
			in := c.in
			for len(in) > 0 {
				ev, n, _, _ := sse.Parse(in, true, nil)
				in = in[n:]
				var err error
				if out, err = s.Event(out, ev); err != nil {
					t.Fatal(err)
				}
			}
			if !s.Done() && !bytes.Equal(out, c.in) {
				t.Fatalf("pass-through changed the stream:\n%s\nwas\n%s", out, c.in)
			}
		}
	})
}

var openAIVocabulary = []string{
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi \"}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"b\\\"\"}}]}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n",
	"data: [DONE]\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\":2}\"}}]}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_c\",\"type\":\"function\",\"function\":{\"name\":\"h\",\"arguments\":\"{}\"}}]}}]}\n\n",
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"s\"},{\"type\":\"redacted_thinking\",\"data\":\"r\"}]}}]}\n\n",
	"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
	": ping\n\n",
}

var anthropicVocabulary = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}\n\n",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"s\"}}\n\n",
	"event: ping\ndata: {\"type\": \"ping\"}\n\n",
	"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
}
