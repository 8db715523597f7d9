package mock

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aigateway/gateway/converter/jsonx"
)

// FuzzResponsesRequest feeds untrusted bytes to the Responses request
// parser: whatever it accepts must give a well-formed answer, as JSON and
// as a stream of JSON events, and nothing may panic.
func FuzzResponsesRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","input":"hi"}`))
	f.Add([]byte(`{"model":"m","stream":true,"reasoning":{"summary":"auto"},"include":["reasoning.encrypted_content"],"input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"x"}]}]}`))
	f.Add([]byte(`{"model":"m","tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"a":{"type":["null","integer"]}}}}],"tool_choice":{"type":"function","name":"f"},"input":"x"}`))
	f.Add([]byte(`{"model":"m","input":[{"role":"user","content":"q"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"r"}]}]}`))
	f.Add([]byte(`{"model":"m","max_output_tokens":16,"input":[{"type":"reasoning","id":"rs","summary":[],"encrypted_content":"mockrs1_eA"},{"id":"ref"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeResponses(body)
		if err != nil {
			return
		}
		_ = validateResponses(req)
		p := responsesPrompt(req, body)
		a := buildAnswer(&p, 5, 1, "call_")
		r := &rsAnswer{answer: &a, req: req, created: 1}
		if out := appendResponsesJSON(nil, r); !jsonx.Valid(out) {
			t.Fatalf("answer is not JSON:\n%s", out)
		}
		rec := httptest.NewRecorder()
		ew := newEventWriter(rec, context.Background(), 0, 0)
		if err := streamResponses(ew, r, ""); err != nil {
			t.Fatalf("stream: %v", err)
		}
		for _, ev := range bytes.Split(bytes.TrimSpace(rec.Body.Bytes()), []byte("\n\n")) {
			_, data, ok := bytes.Cut(ev, []byte("\ndata: "))
			if !ok || !jsonx.Valid(data) {
				t.Fatalf("event is not an event with JSON data:\n%s", ev)
			}
		}
	})
}
