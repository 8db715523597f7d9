package converter

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestInspectEmbeddings(t *testing.T) {
	tests := []struct {
		name, body, model, param string
	}{
		{name: "string", body: `{"model":"e","input":"hi"}`, model: "e"},
		{name: "array", body: `{"input":["a","b"],"model":"e","dimensions":4}`, model: "e"},
		{name: "tokens", body: `{"model":"e","input":[1,2]}`, model: "e"},
		{name: "no model", body: `{"input":"hi"}`, param: "model"},
		{name: "model not a string", body: `{"model":1,"input":"hi"}`, param: "model"},
		{name: "no input", body: `{"model":"e"}`, param: "input"},
		{name: "empty input", body: `{"model":"e","input":[]}`, param: "input"},
		{name: "input an object", body: `{"model":"e","input":{}}`, param: "input"},
		{name: "not an object", body: `["x"]`, param: "-"},
		{name: "broken", body: `{"model":"e",`, param: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := InspectEmbeddings([]byte(tt.body))
			if tt.param == "" {
				if err != nil || info.Model != tt.model {
					t.Fatalf("InspectEmbeddings = %+v, %v; want model %q", info, err, tt.model)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidRequest {
				t.Fatalf("err = %v, want an invalid request error", err)
			}
			if tt.param != "-" && e.Param != tt.param {
				t.Errorf("param = %q, want %q", e.Param, tt.param)
			}
		})
	}
}

func TestSetModel(t *testing.T) {
	tests := []struct{ name, body, model, want string }{
		{"replace", `{"model":"a","input":"x"}`, "b", `{"model":"b","input":"x"}`},
		{"same", `{"model":"a"}`, "a", `{"model":"a"}`},
		{"insert", `{"input":"x"}`, "b", `{"model":"b","input":"x"}`},
		{"insert into empty", `{}`, "b", `{"model":"b"}`},
		{"nested untouched", `{"metadata":{"model":"x"},"model":"a"}`, "b", `{"metadata":{"model":"x"},"model":"b"}`},
		{"escaped", `{"model":"a"}`, `q"uote`, `{"model":"q\"uote"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetModel([]byte(tt.body), tt.model)
			if err != nil || string(got) != tt.want {
				t.Errorf("SetModel = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := SetModel([]byte(`[1]`), "m"); err == nil {
		t.Error("SetModel accepted an array")
	}
}

func FuzzInspectEmbeddings(f *testing.F) {
	f.Add([]byte(`{"model":"e","input":["a"]}`))
	f.Add([]byte(`{"model":"e","input":"x","model":"f"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := InspectEmbeddings(body)
		if err == nil && !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		out, err := SetModel(body, "m")
		if err == nil && !json.Valid(out) {
			t.Fatalf("SetModel made invalid JSON %q from %q", out, body)
		}
	})
}
