package converter

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/aigateway/gateway/converter/format"
)

// Through the hub: a Chat upstream's stream reaches a Responses client as
// Chat → Anthropic → Responses, and a Responses upstream's reaches a Chat
// client as Responses → Anthropic → Chat. Each leg's output is the next
// one's input, and the client's end must keep its grammar.

func TestResponsesStreamFromChatThroughHub(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "stream", "openai_to_anthropic", "*.in.sse"))
	fixture, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "openai_stream_*.sse"))
	ins = append(ins, fixture...)
	if len(ins) < 5 {
		t.Fatalf("only %d inputs", len(ins))
	}
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			hub, _ := feedStream(NewStream(format.OpenAIChat, format.Anthropic, StreamOptions{}), src)
			out, err := feedTranslator(newAnthropicToResponsesStream(StreamOptions{}), hub)
			if err != nil {
				t.Fatalf("%v\n--- hub ---\n%s", err, hub)
			}
			checkResponsesStream(t, out)
		})
	}
}

func TestResponsesStreamToChatThroughHub(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "responses", "stream", "responses_to_anthropic", "*.in.sse"))
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			r2a := newResponsesToAnthropicStream(StreamOptions{})
			hub, _ := feedTranslator(r2a, src)
			s := NewStream(format.Anthropic, format.OpenAIChat, StreamOptions{IncludeUsage: true})
			out, err := feedStream(s, hub)
			if err != nil {
				t.Fatalf("%v\n--- hub ---\n%s", err, hub)
			}
			if hv := checkAnthropicStream(t, hub, true); hv.failed {
				evs := parseEvents(t, out)
				if last := evs[len(evs)-1].Data; !bytes.HasPrefix(last, []byte(`{"error":`)) {
					t.Fatalf("the hub's error event reached the client as %s", last)
				}
				return
			}
			if s.Failed() == nil {
				v := checkOpenAIStream(t, out)
				if !v.done || v.usage == nil {
					t.Fatalf("no [DONE] or usage:\n%s", out)
				}
				if u := v.usage.gateway(); u != r2a.usage() {
					t.Errorf("usage %+v at the client, %+v upstream", u, r2a.usage())
				}
			}
		})
	}
}
