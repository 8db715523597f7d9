package converter

import (
	encjson "encoding/json"
	"testing"

	"github.com/aigateway/gateway/converter/format"
)

// admittedAs is what the ingress admits a request on, in a comparable form.
type admittedAs struct {
	Model     string
	Stream    bool
	MaxTokens int64
}

// checkAdmittedValuesCarried translates body from one format to the other and
// checks that the upstream request carries the model, stream flag and output
// bound the ingress read from the client's request: a request admitted on a
// small max_tokens must not reach the provider with a larger one.
func checkAdmittedValuesCarried(t *testing.T, from format.Format, body []byte) {
	t.Helper()
	to := format.Anthropic
	if from == format.Anthropic {
		to = format.OpenAIChat
	}
	in, err := InspectRequest(from, body)
	if err != nil {
		return
	}
	out, err := TranslateRequest(from, to, body, RequestOptions{})
	if err != nil {
		return
	}
	up, err := InspectRequest(to, out)
	if err != nil {
		t.Fatalf("translated request is not admissible: %v\n%s", err, out)
	}
	want := admittedAs{in.Model, in.Stream, in.MaxTokens}
	if want.MaxTokens == 0 && to == format.Anthropic {
		want.MaxTokens = DefaultMaxTokens
	}
	// With reasoning_effort the Anthropic request gets room for thinking on
	// top of the bound the client asked for (docs/conversion.md, "OpenAI → Anthropic").
	var thinking struct {
		Thinking *struct {
			BudgetTokens int64 `json:"budget_tokens"`
		} `json:"thinking"`
	}
	if to == format.Anthropic && encjson.Unmarshal(out, &thinking) == nil && thinking.Thinking != nil && want.MaxTokens <= thinking.Thinking.BudgetTokens {
		want.MaxTokens += thinking.Thinking.BudgetTokens
	}
	if got := (admittedAs{up.Model, up.Stream, up.MaxTokens}); got != want {
		t.Fatalf("%s to %s: admitted on %+v, upstream gets %+v\nin:  %s\nout: %s", from, to, want, got, body, out)
	}
}

func TestTranslateCarriesAdmittedValues(t *testing.T) {
	tests := []struct {
		name string
		from format.Format
		body string
	}{
		{"openai escaped key naming a prefix", format.OpenAIChat, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"max_tok\u0065":100000}`},
		{"openai escaped prefix alone", format.OpenAIChat, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tok\u0065n":100000}`},
		{"openai escaped prefix of max_completion_tokens", format.OpenAIChat, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"max_completion_t\u006f":100000}`},
		{"openai escaped full key", format.OpenAIChat, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_t\u006fkens":7}`},
		{"openai key in another case", format.OpenAIChat, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"MAX_TOKENS":100000}`},
		{"openai stream in another case", format.OpenAIChat, `{"model":"m","messages":[{"role":"user","content":"hi"}],"Stream":true}`},
		{"anthropic escaped key naming a prefix", format.Anthropic, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"max_tok\u0065":100000}`},
		{"anthropic escaped model prefix", format.Anthropic, `{"model":"m","mod\u0065":"other","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`},
		{"anthropic key in another case", format.Anthropic, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"Max_Tokens":100000}`},
		{"anthropic model in another case", format.Anthropic, `{"model":"m","Model":"other","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAdmittedValuesCarried(t, tt.from, []byte(tt.body))
		})
	}
}

// FuzzTranslateCarriesAdmittedValues: whatever the bytes, a translated
// request carries the values the ingress admitted it on.
func FuzzTranslateCarriesAdmittedValues(f *testing.F) {
	addGoldenSeeds(f, func(b []byte) { f.Add(b, false); f.Add(b, true) })
	f.Add([]byte(`{"model":"m","messages":[],"max_tokens":5,"max_tok\u0065":100000}`), false)
	f.Add([]byte(`{"model":"m","messages":[],"max_tokens":5,"MAX_TOKENS":100000}`), true)
	f.Fuzz(func(t *testing.T, body []byte, anthropic bool) {
		from := format.OpenAIChat
		if anthropic {
			from = format.Anthropic
		}
		checkAdmittedValuesCarried(t, from, body)
	})
}
