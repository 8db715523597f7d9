package mock

import (
	"testing"

	"github.com/aigateway/gateway/converter/jsonx"
)

// The request parsers take untrusted bytes: whatever they accept must yield
// a well-formed answer, and they must never panic.

func FuzzOpenAIRequest(f *testing.F) {
	f.Add([]byte(oaSimple))
	f.Add([]byte(`{"model":"m","stop":"said","max_tokens":2,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}}]}]}`))
	f.Add([]byte(`{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"a":{"type":["null","integer"]}}}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"messages":[{"role":"user","content":"x"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}`))
	f.Add([]byte(`{"messages":null,"content":7}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeOpenAI(body)
		if err != nil {
			return
		}
		_ = validateOpenAI(req)
		p := openAIPrompt(req, body)
		a := buildAnswer(&p, 5, 1, "call_")
		out := appendOpenAIJSON(nil, &a, 0)
		var back struct {
			Choices []struct {
				Message struct {
					Content *string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := jsonx.Unmarshal(out, &back); err != nil {
			t.Fatalf("answer is not JSON: %v\n%s", err, out)
		}
		if len(a.calls) == 0 && (back.Choices[0].Message.Content == nil || *back.Choices[0].Message.Content != a.fullText()) {
			t.Fatalf("content does not round-trip: %s", out)
		}
	})
}

func FuzzAnthropicRequest(f *testing.F) {
	f.Add([]byte(anSimple))
	f.Add([]byte(`{"model":"c","max_tokens":5,"stop_sequences":["a"],"thinking":{"type":"adaptive"},"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"x"}},{"type":"text","text":"q"}]}]}`))
	f.Add([]byte(`{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"properties":{"b":{"type":"boolean"}}}}],"tool_choice":{"type":"tool","name":"f"},"messages":[{"role":"user","content":"x"}]}`))
	f.Add([]byte(`{"model":"c","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeAnthropic(body)
		if err != nil {
			return
		}
		_ = validateAnthropic(req)
		p := anthropicPrompt(req, body)
		a := buildAnswer(&p, 5, 1, "toolu_")
		out := appendAnthropicJSON(nil, &a)
		var back struct {
			Content []struct {
				Type  string           `json:"type"`
				Text  string           `json:"text"`
				Input jsonx.RawMessage `json:"input"`
			} `json:"content"`
		}
		if err := jsonx.Unmarshal(out, &back); err != nil {
			t.Fatalf("answer is not JSON: %v\n%s", err, out)
		}
		for _, b := range back.Content {
			if b.Type == "tool_use" && !jsonx.Valid(b.Input) {
				t.Fatalf("tool input is not JSON: %s", out)
			}
		}
	})
}
