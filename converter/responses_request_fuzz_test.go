package converter

import (
	encjson "encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/aigateway/gateway/converter/format"
)

// checkResponsesAdmittedCarried translates body both ways the Responses
// request translators go and checks that the upstream request carries the
// model, stream flag and output bound admission read from the client's:
// what admission reads is what is sent.
func checkResponsesAdmittedCarried(t *testing.T, body []byte) {
	t.Helper()
	if in, err := inspectResponsesRequest(body); err == nil {
		out, err := responsesToAnthropicRequest(body, RequestOptions{})
		if err == nil {
			up, err := InspectRequest(format.Anthropic, out)
			if err != nil {
				t.Fatalf("translated request is not admissible: %v\n%s", err, out)
			}
			want := admittedAs{in.Model, in.Stream, in.MaxTokens}
			if want.MaxTokens == 0 {
				want.MaxTokens = DefaultMaxTokens
			}
			var thinking struct {
				Thinking *struct {
					BudgetTokens int64 `json:"budget_tokens"`
				} `json:"thinking"`
			}
			if encjson.Unmarshal(out, &thinking) == nil && thinking.Thinking != nil && want.MaxTokens <= thinking.Thinking.BudgetTokens {
				want.MaxTokens += thinking.Thinking.BudgetTokens
			}
			if got := (admittedAs{up.Model, up.Stream, up.MaxTokens}); got != want {
				t.Fatalf("responses to anthropic: admitted on %+v, upstream gets %+v\nin:  %s\nout: %s", want, got, body, out)
			}
			checkAnthropicInvariants(t, out)
		}
	}
	if in, err := inspectResponsesRequest(body); err == nil {
		// Responses → hub → Chat: no default bound, no room for thinking.
		out, err := viaHub(responsesToAnthropicRequest, anthropicToOpenAIRequest)(body, RequestOptions{})
		if err == nil {
			up, err := InspectRequest(format.OpenAIChat, out)
			if err != nil {
				t.Fatalf("translated request is not admissible: %v\n%s", err, out)
			}
			want := admittedAs{in.Model, in.Stream, in.MaxTokens}
			if got := (admittedAs{up.Model, up.Stream, up.MaxTokens}); got != want {
				t.Fatalf("responses to chat: admitted on %+v, upstream gets %+v\nin:  %s\nout: %s", want, got, body, out)
			}
			checkOpenAIInvariants(t, out)
		}
	}
	if in, err := InspectRequest(format.OpenAIChat, body); err == nil {
		out, err := viaHub(openAIToAnthropicRequest, anthropicToResponsesRequest)(body, RequestOptions{})
		if err == nil {
			up, err := inspectResponsesRequest(out)
			if err != nil {
				t.Fatalf("translated request is not admissible: %v\n%s", err, out)
			}
			want := admittedAs{in.Model, in.Stream, in.MaxTokens}
			if want.MaxTokens > 0 && want.MaxTokens < minResponsesOutputTokens {
				want.MaxTokens = minResponsesOutputTokens
			}
			if got := (admittedAs{up.Model, up.Stream, up.MaxTokens}); got != want {
				t.Fatalf("chat to responses: admitted on %+v, upstream gets %+v\nin:  %s\nout: %s", want, got, body, out)
			}
			checkResponsesInvariants(t, out)
		}
	}
	if in, err := InspectRequest(format.Anthropic, body); err == nil {
		out, err := anthropicToResponsesRequest(body, RequestOptions{})
		if err == nil {
			up, err := inspectResponsesRequest(out)
			if err != nil {
				t.Fatalf("translated request is not admissible: %v\n%s", err, out)
			}
			want := admittedAs{in.Model, in.Stream, in.MaxTokens}
			if want.MaxTokens > 0 && want.MaxTokens < minResponsesOutputTokens {
				want.MaxTokens = minResponsesOutputTokens
			}
			if got := (admittedAs{up.Model, up.Stream, up.MaxTokens}); got != want {
				t.Fatalf("anthropic to responses: admitted on %+v, upstream gets %+v\nin:  %s\nout: %s", want, got, body, out)
			}
			checkResponsesInvariants(t, out)
		}
	}
}

func TestResponsesTranslateCarriesAdmittedValues(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"escaped key naming a prefix", `{"model":"m","input":"hi","max_output_tokens":20,"max_output_tok\u0065":100000}`},
		{"escaped full key", `{"model":"m","input":"hi","max_output_t\u006fkens":70}`},
		{"key in another case", `{"model":"m","input":"hi","max_output_tokens":20,"MAX_OUTPUT_TOKENS":100000}`},
		{"model in another case", `{"model":"m","Model":"other","input":"hi"}`},
		{"stream in another case", `{"model":"m","input":"hi","Stream":true}`},
		{"escaped model prefix", `{"model":"m","mod\u0065":"other","input":"hi"}`},
		{"duplicate max_output_tokens, last wins", `{"model":"m","input":"hi","max_output_tokens":100000,"max_output_tokens":20}`},
		{"anthropic escaped key naming a prefix", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":50,"max_tok\u0065":100000}`},
		{"anthropic small max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3}`},
		{"anthropic key in another case", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":50,"Max_Tokens":100000}`},
		{"chat escaped key naming a prefix", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":50,"max_tok\u0065":100000}`},
		{"chat max_completion_tokens wins", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":50,"max_completion_tokens":70,"reasoning_effort":"low"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkResponsesAdmittedCarried(t, []byte(tt.body))
		})
	}
}

func TestInspectResponsesRequest(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		want  RequestInfo
		param string // expected error param; "-" for an error without one
	}{
		{"minimal", `{"model":"gpt-5","input":"hi"}`, RequestInfo{Model: "gpt-5"}, ""},
		{"codex shape", `{"model":"gpt-5-codex","instructions":"x","input":[],"tools":[],"tool_choice":"auto","parallel_tool_calls":false,"store":false,"stream":true,"include":["reasoning.encrypted_content"]}`, RequestInfo{Model: "gpt-5-codex", Stream: true}, ""},
		{"max_output_tokens", `{"model":"m","input":"hi","max_output_tokens":300}`, RequestInfo{Model: "m", MaxTokens: 300}, ""},
		{"max_tokens is not the Responses field", `{"model":"m","input":"hi","max_tokens":300}`, RequestInfo{Model: "m"}, ""},
		{"integral float", `{"max_output_tokens":1e3}`, RequestInfo{MaxTokens: 1000}, ""},
		{"no input", `{"model":"m","previous_response_id":"resp_1"}`, RequestInfo{Model: "m"}, ""},
		{"escaped key and value", `{"mod\u0065l":"gpt\u002d5","input":"x"}`, RequestInfo{Model: "gpt-5"}, ""},
		{"null fields", `{"model":null,"stream":null,"max_output_tokens":null,"input":null}`, RequestInfo{}, ""},
		{"nested model ignored", `{"metadata":{"model":"x"},"model":"y","input":"x"}`, RequestInfo{Model: "y"}, ""},
		{"last duplicate wins", `{"model":"a","model":"b","max_output_tokens":9,"max_output_tokens":30}`, RequestInfo{Model: "b", MaxTokens: 30}, ""},
		{"model not a string", `{"model":3,"input":"x"}`, RequestInfo{}, "model"},
		{"stream not a bool", `{"stream":"yes"}`, RequestInfo{}, "stream"},
		{"max_output_tokens zero", `{"max_output_tokens":0}`, RequestInfo{}, "max_output_tokens"},
		{"max_output_tokens fraction", `{"max_output_tokens":2.5}`, RequestInfo{}, "max_output_tokens"},
		{"input an object", `{"input":{"role":"user"}}`, RequestInfo{}, "input"},
		{"input a number", `{"input":3}`, RequestInfo{}, "input"},
		{"array body", `[]`, RequestInfo{}, "-"},
		{"truncated", `{"model":"m","input":[`, RequestInfo{}, "-"},
		{"trailing data", `{"input":"x"}{}`, RequestInfo{}, "-"},
		{"invalid UTF-8", "{\"input\":\"\xff\"}", RequestInfo{}, "-"},
		{"empty", ``, RequestInfo{}, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inspectResponsesRequest([]byte(tt.body))
			if tt.param == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			wantParam := tt.param
			if wantParam == "-" {
				wantParam = ""
			}
			if e.Kind != KindInvalidRequest || e.Param != wantParam {
				t.Errorf("got kind %d param %q (%v), want invalid request on %q", e.Kind, e.Param, err, wantParam)
			}
		})
	}
}

func addResponsesSeeds(f *testing.F) {
	f.Helper()
	addGoldenSeeds(f, func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"model":"m","input":"hi","max_output_tokens":20,"MAX_OUTPUT_TOKENS":100000}`))
	f.Add([]byte(`{"model":"m","input":[{"type":"reasoning","summary":[],"encrypted_content":"gwth1_e30"}]}`))
}

// FuzzResponsesRequestToAnthropic: whatever the bytes, no panic, an
// *Error or valid JSON, and the upstream request carries what admission
// read (checkResponsesAdmittedCarried), in both directions.
func FuzzResponsesRequestToAnthropic(f *testing.F) {
	addResponsesSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, opts := range []RequestOptions{{}, {Intermediate: true}, {Model: "claude-opus-4-7", DefaultMaxTokens: 100}} {
			out, err := responsesToAnthropicRequest(body, opts)
			checkOutputJSON(t, out, err)
		}
		checkResponsesAdmittedCarried(t, body)
	})
}

// FuzzResponsesRequestFromAnthropic: as above, for hub bodies (x_openai
// included) going to a Responses upstream.
func FuzzResponsesRequestFromAnthropic(f *testing.F) {
	addResponsesSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := anthropicToResponsesRequest(body, RequestOptions{Model: "gpt-5"})
		checkOutputJSON(t, out, err)
		checkResponsesAdmittedCarried(t, body)
	})
}

// FuzzResponsesRequestTypesMatchEncodingJSON decodes the same bytes into the
// Responses request and item types the way the translators do and with
// encoding/json: both must agree.
func FuzzResponsesRequestTypesMatchEncodingJSON(f *testing.F) {
	addResponsesSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) || !keysLowerCase(body) {
			// As in FuzzRequestTypesMatchEncodingJSON: refused before
			// decoding, or keys no provider matches.
			return
		}
		var a1, a2 rsReqRequest
		e1, e2 := decodeRequest(body, &a1), encjson.Unmarshal(body, &a2)
		if e1 == nil && e2 == nil && !reflect.DeepEqual(a1, a2) {
			t.Fatalf("Responses request decodes differently:\ngoccy: %+v\nencoding/json: %+v", a1, a2)
		}
		if e1 != nil || e2 != nil || len(a1.Input) == 0 || a1.Input[0] != '[' {
			return
		}
		var i1, i2 []rsInItem
		e1, e2 = decodeRequest([]byte(`{"input":`+string(a1.Input)+`}`), &struct {
			Input *[]rsInItem `json:"input"`
		}{&i1}), encjson.Unmarshal(a1.Input, &i2)
		if e1 == nil && e2 == nil && !reflect.DeepEqual(i1, i2) {
			t.Fatalf("input items decode differently:\ngoccy: %+v\nencoding/json: %+v", i1, i2)
		}
	})
}
