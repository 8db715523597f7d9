package converter

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/aigateway/gateway/converter/sse"
)

// TestStreamGolden walks testdata/stream: each <rule>.in.sse is an upstream
// stream fed event by event through sse.Parse, and <rule>.want.sse the exact
// bytes the client receives (Event for every event, then Finish).
func TestStreamGolden(t *testing.T) {
	cases := goldenCases(t, filepath.Join("testdata", "stream"), ".sse")
	if len(cases) < 15 {
		t.Fatalf("only %d stream golden cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewStream(c.from, c.to, StreamOptions{Model: c.opts.Model, IncludeUsage: c.opts.IncludeUsage, Created: c.opts.Created})
			got, _ := feedStream(s, c.in)
			if c.from == c.to {
				// A pass-through forwards the upstream's bytes, an
				// unterminated last event included.
				parseEventsAtEOF(t, got)
			} else {
				checkSSE(t, got)
			}
			if !s.Done() {
				t.Errorf("stream not done after Finish")
			}
			if again := s.Finish(nil); len(again) != 0 {
				t.Errorf("second Finish appended %q", again)
			}
			checkGolden(t, c.wantPath, got)
		})
	}
}

// checkSSE asserts that out parses back into SSE events whose data is valid
// JSON or [DONE], with no bytes left over.
func checkSSE(t testing.TB, out []byte) {
	t.Helper()
	for _, ev := range parseEvents(t, out) {
		if ev.IsComment() {
			continue
		}
		if string(ev.Data) != "[DONE]" && !json.Valid(ev.Data) {
			t.Fatalf("event data is not JSON: %q", ev.Data)
		}
	}
}

// sseEvent is a parsed event with copied bytes.
type sseEvent struct {
	Name string
	Data []byte
}

func (e sseEvent) IsComment() bool { return e.Name == "" && len(e.Data) == 0 }

// parseEvents splits out into events, failing on a trailing partial event.
func parseEvents(t testing.TB, out []byte) []sseEvent {
	t.Helper()
	return parseSSE(t, out, false)
}

// parseEventsAtEOF parses a stream whose last event may lack its blank line,
// as an upstream's may.
func parseEventsAtEOF(t testing.TB, out []byte) []sseEvent {
	t.Helper()
	return parseSSE(t, out, true)
}

func parseSSE(t testing.TB, out []byte, atEOF bool) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for len(out) > 0 {
		ev, n, ok, _ := sse.Parse(out, atEOF, nil)
		if !ok {
			t.Fatalf("output ends with a partial event: %q", out)
		}
		out = out[n:]
		evs = append(evs, sseEvent{Name: string(ev.Name), Data: bytes.Clone(ev.Data)})
	}
	return evs
}
