package converter

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The grammar checker accepts what the Responses API streams (the
// OpenAI-shaped inputs of the golden cases that follow the grammar) and
// rejects each kind of violation, so that its passing on the translators'
// output means something.

func TestResponsesGrammarAcceptsAPIStreams(t *testing.T) {
	for _, name := range []string{
		"openai_reasoning_text_and_function_call",
		"custom_tool_call_input_streams_as_input_member",
		"incomplete_max_output_tokens_is_max_tokens",
		"response_failed_becomes_error_event",
		"error_event_becomes_error_event",
		"refusal_streams_as_text_with_stop_refusal",
	} {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "responses", "stream", "responses_to_anthropic", name+".in.sse"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := validateResponsesStream(parseEvents(t, in)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestResponsesGrammarRejectsViolations(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "responses", "stream", "anthropic_to_responses", "thinking_summary_streams_summary_events.want.sse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := validateResponsesStream(parseEvents(t, good)); err != nil {
		t.Fatalf("the reference stream is rejected: %v", err)
	}
	events := bytes.SplitAfter(good, []byte("\n\n"))
	events = events[:len(events)-1] // the empty tail
	join := func(evs [][]byte) []byte { return bytes.Join(evs, nil) }
	without := func(i int) []byte {
		evs := append([][]byte{}, events[:i]...)
		return join(append(evs, events[i+1:]...))
	}
	find := func(typ string) int {
		for i, ev := range events {
			if bytes.HasPrefix(ev, []byte("event: "+typ+"\n")) {
				return i
			}
		}
		t.Fatalf("no %s event", typ)
		return -1
	}
	renumber := func(b []byte) []byte {
		// Keep the sequence numbers contiguous, so that the violation under
		// test is the only one.
		var out [][]byte
		for i, ev := range bytes.SplitAfter(b, []byte("\n\n")) {
			if len(ev) == 0 {
				continue
			}
			j := bytes.Index(ev, []byte(`"sequence_number":`))
			k := j + len(`"sequence_number":`)
			e := k
			for e < len(ev) && ev[e] >= '0' && ev[e] <= '9' {
				e++
			}
			out = append(out, append(append(append([]byte{}, ev[:k]...), []byte(itoa(i))...), ev[e:]...))
		}
		return join(out)
	}
	replace := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	cases := map[string][]byte{
		"sequence gap":              without(find("response.in_progress") + 1),
		"no terminal event":         renumber(without(len(events) - 1)),
		"delta after its done":      renumber(join(append(append(append([][]byte{}, events[:find("response.output_text.done")+1]...), events[find("response.output_text.delta")]), events[find("response.output_text.done")+1:]...))),
		"item never done":           renumber(without(find("response.output_item.done"))),
		"part never added":          renumber(without(find("response.content_part.added"))),
		"arguments done missing":    renumber(without(find("response.function_call_arguments.done"))),
		"terminal output differs":   replace(`"output":[{"id":"rs_01Stream_0"`, `"output":[{"id":"rs_other"`),
		"event name differs":        replace("event: response.output_text.delta\n", "event: response.output_text.deltas\n"),
		"top-level error member":    replace(`"type":"response.in_progress","sequence_number":1,`, `"type":"response.in_progress","sequence_number":1,"error":null,`),
		"text done differs":         replace(`"text":"Checking now.","logprobs"`, `"text":"Checking","logprobs"`),
		"created not first":         renumber(join(append([][]byte{events[1], events[0]}, events[2:]...))),
		"completed with open items": renumber(join(append(append([][]byte{}, events[:find("response.output_item.added")+1]...), events[len(events)-1]))),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(in, good) {
				t.Fatal("the mutation changed nothing")
			}
			if _, err := validateResponsesStream(parseEvents(t, in)); err == nil {
				t.Fatalf("accepted:\n%s", in)
			} else if strings.Contains(err.Error(), "not JSON") {
				t.Fatalf("rejected for a broken mutation: %v", err)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
