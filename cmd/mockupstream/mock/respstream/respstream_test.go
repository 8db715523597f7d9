package respstream

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/responses"
)

// goldenEvents decodes the data lines of one of the mock's golden streams.
func goldenEvents(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range bytes.Split(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			out = append(out, string(rest))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no events", name)
	}
	return out
}

func decode(t *testing.T, raw []string) []responses.ResponseStreamEventUnion {
	t.Helper()
	events := make([]responses.ResponseStreamEventUnion, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &events[i]); err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, r)
		}
	}
	return events
}

// edit returns raw with event i changed by f (nil removes it).
func edit(raw []string, i int, f func(string) string) []string {
	out := append([]string(nil), raw[:i]...)
	if f != nil {
		out = append(out, f(raw[i]))
	}
	return append(out, raw[i+1:]...)
}

// renumber rewrites every sequence_number to the event's position, so that
// a test breaks exactly one other rule.
func renumber(raw []string) []string {
	out := make([]string, len(raw))
	for i, r := range raw {
		var m map[string]json.RawMessage
		_ = json.Unmarshal([]byte(r), &m)
		m["sequence_number"], _ = json.Marshal(i)
		b, _ := json.Marshal(m)
		out[i] = string(b)
	}
	return out
}

func indexOf(t *testing.T, raw []string, typ string) int {
	t.Helper()
	for i, r := range raw {
		if strings.Contains(r, `"type":"`+typ+`"`) {
			return i
		}
	}
	t.Fatalf("no %s event", typ)
	return -1
}

func TestCheckAcceptsTheMocksStreams(t *testing.T) {
	for _, name := range []string{"responses_text_stream.golden", "responses_tools_stream.golden", "responses_reasoning_stream.golden"} {
		res, err := Check(decode(t, goldenEvents(t, name)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if res.Terminal != "response.completed" || len(res.Items) == 0 {
			t.Errorf("%s: terminal %q, %d items", name, res.Terminal, len(res.Items))
		}
	}
}

func TestCheckRefusesBrokenStreams(t *testing.T) {
	text := goldenEvents(t, "responses_text_stream.golden")
	tools := goldenEvents(t, "responses_tools_stream.golden")
	tests := []struct {
		name string
		raw  []string
		want string
	}{
		{"sequence gap", edit(text, 3, nil), "sequence_number"},
		{"not opened by response.created", renumber(edit(text, 0, nil)), "response.created"},
		{"no terminal event", text[:len(text)-1], "without a terminal"},
		{"event after the terminal", renumber(append(append([]string(nil), text...), text[len(text)-2])), "after the terminal"},
		{"delta outside its item", renumber(edit(text, indexOf(t, text, "response.output_item.added"), nil)), "no output item is open"},
		{"done text differs from the deltas", edit(text, indexOf(t, text, "response.output_text.done"), func(s string) string {
			return strings.Replace(s, `"text":"Hello`, `"text":"Jello`, 1)
		}), "the deltas made"},
		{"arguments differ from the deltas", edit(tools, indexOf(t, tools, "response.function_call_arguments.done"), func(s string) string {
			return strings.Replace(s, `value-city`, `value-town`, 1)
		}), "the deltas made"},
		{"final output differs", edit(tools, len(tools)-1, func(s string) string {
			return strings.Replace(s, `"call_id":"call_mock_1_0"`, `"call_id":"call_other"`, 1)
		}), "differs from its output_item.done"},
		{"item never done", renumber(edit(text, len(text)-2, nil)), "still open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(decode(t, tt.raw))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}
