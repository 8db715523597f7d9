package converter

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestInspectResponsesState(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      ResponsesState
		wantParam string
	}{
		{name: "defaults", body: `{"model":"m","input":"hi"}`, want: ResponsesState{Store: true}},
		{name: "store false", body: `{"store":false}`, want: ResponsesState{Store: false}},
		{name: "store null is the default", body: `{"store":null}`, want: ResponsesState{Store: true}},
		{name: "previous", body: `{"previous_response_id":"resp_1","store":true}`, want: ResponsesState{PreviousResponseID: "resp_1", Store: true}},
		{name: "previous escaped", body: `{"previous_response_id":"resp\u005f1"}`, want: ResponsesState{PreviousResponseID: "resp_1", Store: true}},
		{name: "previous null", body: `{"previous_response_id":null}`, want: ResponsesState{Store: true}},
		{name: "escaped key", body: `{"st\u006fre":false}`, want: ResponsesState{Store: false}},
		{name: "nested keys are not the request's", body: `{"metadata":{"store":false,"previous_response_id":"x"}}`, want: ResponsesState{Store: true}},
		{name: "previous not a string", body: `{"previous_response_id":7}`, wantParam: "previous_response_id"},
		{name: "store not a boolean", body: `{"store":"no"}`, wantParam: "store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := InspectResponsesState([]byte(tt.body))
			if tt.wantParam != "" {
				var e *Error
				if !errors.As(err, &e) || e.Param != tt.wantParam || e.Kind != KindInvalidRequest {
					t.Fatalf("error %v, want a 400 naming %s", err, tt.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := InspectResponsesState([]byte(`[1]`)); err == nil {
		t.Error("an array body was accepted")
	}
}

func TestResponsesInputItems(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{name: "array kept as is", body: `{"input":[ {"role":"user","content":"a"} ]}`, want: `[ {"role":"user","content":"a"} ]`},
		{name: "string becomes a user message", body: `{"input":"hi \"there\""}`, want: `[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi \"there\""}]}]`},
		{name: "no input", body: `{"model":"m"}`, want: `[]`},
		{name: "null input", body: `{"input":null}`, want: `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResponsesInputItems([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	var e *Error
	if _, err := ResponsesInputItems([]byte(`{"input":42}`)); !errors.As(err, &e) || e.Param != "input" {
		t.Errorf("a number input: %v", err)
	}
}

func TestContinueResponses(t *testing.T) {
	history := `[{"type":"message","role":"user","content":"one"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"two"}]}]`
	tests := []struct {
		name, body, history, want string
	}{
		{
			name:    "array input, previous id in the middle",
			body:    `{"model":"m","previous_response_id":"resp_1","input":[{"role":"user","content":"three"}],"store":true}`,
			history: history,
			want:    `{"model":"m","input":[{"type":"message","role":"user","content":"one"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"two"}]},{"role":"user","content":"three"}],"store":true}`,
		},
		{
			name:    "string input, previous id last",
			body:    `{"input":"three", "instructions":"be brief", "previous_response_id":"resp_1"}`,
			history: `[{"a":1}]`,
			want:    `{"input":[{"a":1},{"type":"message","role":"user","content":[{"type":"input_text","text":"three"}]}], "instructions":"be brief"}`,
		},
		{
			name:    "previous id first",
			body:    `{ "previous_response_id" : "resp_1" , "input":[]}`,
			history: `[{"a":1}]`,
			want:    `{ "input":[{"a":1}]}`,
		},
		{
			name:    "previous id alone",
			body:    `{"previous_response_id":"resp_1"}`,
			history: `[{"a":1}]`,
			want:    `{"input":[{"a":1}]}`,
		},
		{
			name:    "no input member",
			body:    `{"model":"m","previous_response_id":"r"}`,
			history: `[{"a":1}]`,
			want:    `{"input":[{"a":1}],"model":"m"}`,
		},
		{
			name:    "duplicated previous ids at the end",
			body:    `{"input":[{"b":2}],"previous_response_id":"r","previous_response_id":"s"}`,
			history: `[{"a":1}]`,
			want:    `{"input":[{"a":1},{"b":2}]}`,
		},
		{
			name:    "empty history",
			body:    `{"input":[{"b":2}],"previous_response_id":"r"}`,
			history: ` [ ] `,
			want:    `{"input":[{"b":2}]}`,
		},
		{
			name:    "nested previous ids stay",
			body:    `{"metadata":{"previous_response_id":"x"},"previous_response_id":"r","input":null}`,
			history: `[{"a":1}]`,
			want:    `{"metadata":{"previous_response_id":"x"},"input":[{"a":1}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ContinueResponses([]byte(tt.body), []byte(tt.history))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
	for _, bad := range []struct{ body, history string }{
		{`{"input":1}`, `[]`},
		{`{"input":[]`, `[]`},
		{`{"input":[]}`, `{"a":1}`},
		{`{"input":[]}`, `[1`},
	} {
		if got, err := ContinueResponses([]byte(bad.body), []byte(bad.history)); err == nil {
			t.Errorf("ContinueResponses(%s, %s) = %s, want an error", bad.body, bad.history, got)
		}
	}
}

func TestResponsesConversation(t *testing.T) {
	resp := `{"id":"resp_1","object":"response","output":[{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"two"}]}],"usage":{"input_tokens":1}}`
	got, err := ResponsesConversation([]byte(`[{"role":"user","content":"one"}]`), []byte(resp))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"role":"user","content":"one"},{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"two"}]}]`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got, err = ResponsesConversation([]byte(`[{"a":1}]`), []byte(`{"id":"r","output":[]}`))
	if err != nil || string(got) != `[{"a":1}]` {
		t.Errorf("empty output: %s, %v", got, err)
	}
	if _, err := ResponsesConversation([]byte(`[]`), []byte(`{"output":{}}`)); err == nil {
		t.Error("an object output was accepted")
	}
}

func TestResponseID(t *testing.T) {
	tests := []struct {
		body   string
		want   string
		wantOK bool
	}{
		{`{"id":"resp_1","object":"response","output":[]}`, "resp_1", true},
		{`{"object":"response","id":"resp_2"}`, "resp_2", true},
		{`{"id":"chatcmpl-1","object":"chat.completion"}`, "", false},
		{`{"object":"response"}`, "", false},
		{`{"error":{"message":"x"}}`, "", false},
		{`not json`, "", false},
	}
	for _, tt := range tests {
		id, ok := ResponseID([]byte(tt.body))
		if id != tt.want || ok != tt.wantOK {
			t.Errorf("ResponseID(%s) = %q, %v; want %q, %v", tt.body, id, ok, tt.want, tt.wantOK)
		}
	}
}

func TestFinalResponse(t *testing.T) {
	completed := `{"id":"resp_9","object":"response","status":"completed","output":[]}`
	tests := []struct {
		name, stream, want, wantID string
	}{
		{
			name: "completed after deltas",
			stream: "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"response.completed\"}\n\n" +
				"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":" + completed + ",\"sequence_number\":9}\n\n",
			want: completed, wantID: "resp_9",
		},
		{
			name:   "incomplete, no event lines, CRLF",
			stream: "data: {\"type\":\"response.incomplete\",\"response\":{\"id\":\"resp_8\",\"status\":\"incomplete\"}}\r\n\r\n",
			want:   `{"id":"resp_8","status":"incomplete"}`, wantID: "resp_8",
		},
		{
			name:   "data split over lines",
			stream: "data: {\"type\":\"response.completed\",\ndata: \"response\":{\"id\":\"resp_7\"}}\n\n",
			want:   `{"id":"resp_7"}`, wantID: "resp_7",
		},
		{name: "failed", stream: "data: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_6\"}}\n\n"},
		{name: "error event", stream: "event: error\ndata: {\"type\":\"error\",\"message\":\"boom\"}\n\n"},
		{name: "not over", stream: "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_5\"}}\n\n"},
		{name: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, id, ok := FinalResponse([]byte(tt.stream))
			if ok != (tt.want != "") || string(got) != tt.want || id != tt.wantID {
				t.Errorf("got %s %q %v, want %s %q", got, id, ok, tt.want, tt.wantID)
			}
		})
	}
}

func TestAppendResponsesItemList(t *testing.T) {
	items := `[{"id":"a","n":1},{"id":"b","n":2},{"n":3},{"id":"d","n":4}]`
	tests := []struct {
		name string
		page ItemPage
		want string
	}{
		{name: "newest first by default", page: ItemPage{Limit: 20},
			want: `{"object":"list","data":[{"id":"d","n":4},{"n":3},{"id":"b","n":2},{"id":"a","n":1}],"first_id":"d","last_id":"a","has_more":false}`},
		{name: "ascending, limited", page: ItemPage{Limit: 2, Ascending: true},
			want: `{"object":"list","data":[{"id":"a","n":1},{"id":"b","n":2}],"first_id":"a","last_id":"b","has_more":true}`},
		{name: "after a cursor", page: ItemPage{Limit: 2, Ascending: true, After: "b"},
			want: `{"object":"list","data":[{"n":3},{"id":"d","n":4}],"first_id":null,"last_id":"d","has_more":false}`},
		{name: "unknown cursor", page: ItemPage{Limit: 2, After: "zz"},
			want: `{"object":"list","data":[],"first_id":null,"last_id":null,"has_more":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendResponsesItemList(nil, []byte(items), tt.page)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	got, err := AppendResponsesItemList(nil, []byte(" [ ] "), ItemPage{Limit: 20})
	if err != nil || string(got) != `{"object":"list","data":[],"first_id":null,"last_id":null,"has_more":false}` {
		t.Errorf("empty: %s %v", got, err)
	}
}

func TestAppendResponseDeleted(t *testing.T) {
	if got := string(AppendResponseDeleted(nil, `resp_"1`)); got != `{"id":"resp_\"1","object":"response","deleted":true}` {
		t.Errorf("got %s", got)
	}
}

// FuzzContinueResponses checks the rewrite against encoding/json: whatever
// body it accepts, the result is one JSON object whose input is the history
// followed by the body's own input items, without a top-level
// previous_response_id, and with every other member unchanged.
func FuzzContinueResponses(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","previous_response_id":"resp_1","input":[{"role":"user","content":"x"}]}`,
		`{"input":"hi","previous_response_id":"r"}`,
		`{"previous_response_id":"r"}`,
		`{}`,
		`{"a":1,"previous_response_id":null,"previous_response_id":"x"}`,
		`{"input":null,"metadata":{"previous_response_id":"x"}}`,
		` { "input" : [ ] , "b" : [1,2] } `,
	} {
		f.Add([]byte(seed), []byte(`[{"type":"message","role":"user","content":"h"}]`))
	}
	f.Add([]byte(`{"input":[1]}`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, body, history []byte) {
		out, err := ContinueResponses(body, history)
		if err != nil {
			return
		}
		var in, got map[string]json.RawMessage
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatalf("accepted a body encoding/json rejects: %v", err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("result is not a JSON object: %v\n%s", err, out)
		}
		if _, ok := got["previous_response_id"]; ok {
			t.Fatalf("previous_response_id left in %s", out)
		}
		var hist, own, joined []any
		if err := json.Unmarshal(history, &hist); err != nil {
			t.Fatalf("accepted a history encoding/json rejects: %v", err)
		}
		if raw, ok := in["input"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &own); err != nil {
				var s string
				if json.Unmarshal(raw, &s) != nil {
					t.Fatalf("accepted input %s", raw)
				}
				own = []any{map[string]any{"type": "message", "role": "user", "content": []any{map[string]any{"type": "input_text", "text": s}}}}
			}
		}
		if err := json.Unmarshal(got["input"], &joined); err != nil {
			t.Fatalf("input of the result: %v", err)
		}
		if want := append(append([]any{}, hist...), own...); len(want) != len(joined) || len(want) > 0 && !reflect.DeepEqual(want, joined) {
			t.Fatalf("input %s, want history then own input", got["input"])
		}
		for k, v := range in {
			if k == "input" || k == "previous_response_id" {
				continue
			}
			if strings.TrimSpace(string(got[k])) != strings.TrimSpace(string(v)) {
				t.Fatalf("member %q changed: %s → %s", k, v, got[k])
			}
		}
	})
}

// FuzzFinalResponse checks that any bytes are read without a panic and that
// what comes out is always a JSON object carrying the id returned.
func FuzzFinalResponse(f *testing.F) {
	f.Add([]byte("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"output\":[]}}\n\n"))
	f.Add([]byte("data: {\"type\":\"response.incomplete\",\"response\":{\"id\":\"r\"}}\r\n\r\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"type\":\"response.completed\",\ndata: \"response\":{\"id\":\"resp_7\"}}\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		resp, id, ok := FinalResponse(stream)
		if !ok {
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(resp, &obj); err != nil {
			t.Fatalf("response is not a JSON object: %v\n%s", err, resp)
		}
		if obj["id"] != id {
			t.Fatalf("id %q, object says %v", id, obj["id"])
		}
	})
}
