package converter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
)

// An Anthropic answer sent to a Responses client and read back by the
// Responses → Anthropic translators must come back with the same content:
// texts, tool calls, thinking blocks with their signatures (through
// encrypted_content), redacted thinking, the stop reason and the usage. This
// is what a hub route chained through a Responses leg relies on.

// roundTripStop is the stop_reason an Anthropic stop_reason comes back as:
// the Responses API has no stop sequence or pause, both of which read as
// a completed response.
func roundTripStop(stop string) string {
	switch stop {
	case "stop_sequence", "pause_turn":
		return "end_turn"
	case "model_context_window_exceeded":
		return "max_tokens"
	}
	return stop
}

func TestResponsesStreamRoundTrip(t *testing.T) {
	var inputs []string
	for _, pattern := range append(rsStreamInputs, filepath.Join("testdata", "responses", "stream", "anthropic_to_responses", "*.in.sse")) {
		m, _ := filepath.Glob(pattern)
		inputs = append(inputs, m...)
	}
	if len(inputs) < 20 {
		t.Fatalf("only %d inputs", len(inputs))
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			opts := StreamOptions{ReasoningSummary: strings.Contains(in, "summary"), Tools: rsTestTools}
			if strings.Contains(in, "malformed") || strings.Contains(in, "missing_message_start") {
				return // no direct view to compare with
			}
			// What an Anthropic client would see of the upstream directly.
			direct := checkAnthropicStream(t, runStream(t, format.Anthropic, format.Anthropic, StreamOptions{}, src), false)
			for i, text := range startTexts(t, src) {
				if i < len(direct.blocks) {
					direct.blocks[i].text = text + direct.blocks[i].text
				}
			}
			a2r := newAnthropicToResponsesStream(opts)
			mid, _ := feedTranslator(a2r, src)
			rv := checkResponsesStream(t, mid)
			r2a := newResponsesToAnthropicStream(StreamOptions{})
			back, _ := feedTranslator(r2a, mid)
			got := checkAnthropicStream(t, back, true)
			if got.failed {
				if rv.terminal != "response.failed" {
					t.Fatalf("round trip failed, the Responses stream ended with %s", rv.terminal)
				}
				return
			}
			if direct.failed || !direct.stopped && direct.stopReason == "" {
				t.Fatalf("round trip completed a stream that failed directly")
			}
			if a2r.usage() != r2a.usage() {
				t.Errorf("usage %+v came back as %+v", a2r.usage(), r2a.usage())
			}
			if got.stopReason != roundTripStop(direct.stopReason) {
				t.Errorf("stop_reason %q came back as %q", direct.stopReason, got.stopReason)
			}
			var want []anthropicBlockView
			for _, b := range direct.blocks {
				switch b.typ {
				case "text":
					if b.text == "" {
						continue
					}
				case "thinking", "redacted_thinking", "tool_use":
				default:
					continue // server tools stay on Anthropic's side
				}
				want = append(want, b)
			}
			if len(got.blocks) != len(want) {
				t.Fatalf("%d blocks came back, want %d:\n%+v\n%+v", len(got.blocks), len(want), got.blocks, want)
			}
			for i, w := range want {
				g := got.blocks[i]
				if g.typ != w.typ || g.text != w.text || g.signature != w.signature || g.id != w.id || g.name != w.name {
					t.Errorf("block %d came back as %+v, want %+v", i, g, w)
				}
				if w.typ == "tool_use" && json.Valid([]byte(w.json)) {
					wj := w.json
					if wj == "" {
						wj = "{}"
					}
					sameJSON(t, g.json, wj)
				}
			}
		})
	}
}

func TestResponsesJSONRoundTrip(t *testing.T) {
	var inputs []string
	for _, pattern := range []string{
		filepath.Join("testdata", "response", "anthropic_to_openai", "*.in.json"),
		filepath.Join("testdata", "responses", "json", "anthropic_to_responses", "*.in.json"),
	} {
		m, _ := filepath.Glob(pattern)
		inputs = append(inputs, m...)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			opts := ResponseOptions{ReasoningSummary: true, Tools: rsTestTools}
			mid, u1, err := anthropicToResponsesResponse(src, opts)
			if err != nil {
				return // malformed inputs have their golden case
			}
			back, u2, err := responsesToAnthropicResponse(mid, ResponseOptions{})
			if err != nil {
				t.Fatalf("reading back %s: %v", mid, err)
			}
			if u1 != u2 {
				t.Errorf("usage %+v came back as %+v", u1, u2)
			}
			var a, b anthropicResponse
			if err := json.Unmarshal(src, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(back, &b); err != nil {
				t.Fatal(err)
			}
			if b.StopReason != roundTripStop(a.StopReason) {
				t.Errorf("stop_reason %q came back as %q", a.StopReason, b.StopReason)
			}
			var want []anthropicResponseBlock
			for _, blk := range a.Content {
				switch blk.Type {
				case "text":
					if blk.Text == "" {
						continue
					}
				case "thinking", "redacted_thinking", "tool_use":
				default:
					continue
				}
				want = append(want, blk)
			}
			if len(b.Content) != len(want) {
				t.Fatalf("%d blocks came back, want %d: %s", len(b.Content), len(want), back)
			}
			for i, w := range want {
				g := b.Content[i]
				if g.Type != w.Type || g.Text != w.Text || g.Thinking != w.Thinking || g.Signature != w.Signature || g.Data != w.Data || g.ID != w.ID || g.Name != w.Name {
					t.Errorf("block %d came back as %+v, want %+v", i, g, w)
				}
				if w.Type == "tool_use" {
					wj := string(w.Input)
					if !isJSONObject(w.Input) {
						wj = "{}"
					}
					sameJSON(t, string(g.Input), wj)
				}
			}
		})
	}
}

// startTexts returns the text that content_block_start events carry, by
// block index (checkAnthropicStream reads the deltas only).
func startTexts(t *testing.T, src []byte) map[int]string {
	t.Helper()
	texts := map[int]string{}
	for _, ev := range parseEventsAtEOF(t, src) {
		var e struct {
			Type         string `json:"type"`
			Index        int    `json:"index"`
			ContentBlock struct {
				Text     string `json:"text"`
				Thinking string `json:"thinking"`
			} `json:"content_block"`
		}
		if json.Unmarshal(ev.Data, &e) == nil && e.Type == "content_block_start" {
			texts[e.Index] = e.ContentBlock.Text + e.ContentBlock.Thinking
		}
	}
	return texts
}
