package converter

import (
	encjson "encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
)

// The round-trip property: a request translated OpenAI → Anthropic → OpenAI
// keeps every field both formats support. Requests are generated from fixed
// seeds, so a failure is reproducible from the seed in its name.

// normRequest is the comparable form of an OpenAI request.
type normRequest struct {
	Model      string
	System     string
	Turns      []normTurn
	Tools      []string // name|description|canonical parameters
	ToolChoice string
	NoParallel bool
	Stop       []string
	Temp, TopP *float64
	MaxTokens  int64
	User       string
	Effort     string
	Stream     bool
}

type normTurn struct {
	Role       string
	Parts      []string // "text:…" or "image:<url>"
	ToolCalls  []string // id|name|canonical arguments
	ToolCallID string
}

func canonicalJSON(t *testing.T, s string) string {
	t.Helper()
	if s == "" {
		return "{}"
	}
	var v any
	if err := encjson.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	b, _ := encjson.Marshal(v)
	return string(b)
}

// normalise reduces an OpenAI request to what survives a round trip by
// definition: the gateway's documented rules applied once.
func normalise(t *testing.T, body []byte, applyRules bool) normRequest {
	t.Helper()
	var r oaRequest
	if err := encjson.Unmarshal(body, &r); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	n := normRequest{Model: r.Model, User: r.User, Stream: r.Stream, Temp: r.Temperature, TopP: r.TopP}
	var system []string
	for _, m := range r.Messages {
		switch m.Role {
		case "system", "developer":
			for _, p := range normParts(t, m.Content) {
				system = append(system, strings.TrimPrefix(p, "text:"))
			}
			continue
		}
		turn := normTurn{Role: m.Role, Parts: normParts(t, m.Content), ToolCallID: m.ToolCallID}
		if m.Role == "assistant" && len(turn.Parts) > 0 {
			// Assistant text is concatenated into one string.
			var sb strings.Builder
			for _, p := range turn.Parts {
				sb.WriteString(strings.TrimPrefix(p, "text:"))
			}
			turn.Parts = []string{"text:" + sb.String()}
		}
		if m.Role == "user" && len(turn.Parts) == 0 {
			continue
		}
		for _, tc := range m.ToolCalls {
			turn.ToolCalls = append(turn.ToolCalls, tc.ID+"|"+tc.Function.Name+"|"+canonicalJSON(t, tc.Function.Arguments))
		}
		if m.Role == "assistant" && len(turn.Parts) == 0 && len(turn.ToolCalls) == 0 {
			continue
		}
		n.Turns = append(n.Turns, turn)
	}
	n.System = strings.Join(system, "\n")
	for _, tool := range r.Tools {
		n.Tools = append(n.Tools, tool.Function.Name+"|"+tool.Function.Description+"|"+canonicalJSON(t, string(tool.Function.Parameters)))
	}
	if len(r.Tools) > 0 {
		n.ToolChoice = "auto"
		if len(r.ToolChoice) > 0 {
			var s string
			if encjson.Unmarshal(r.ToolChoice, &s) == nil {
				n.ToolChoice = s
			} else {
				var o oaToolChoiceObject
				_ = encjson.Unmarshal(r.ToolChoice, &o)
				n.ToolChoice = "function:" + o.Function.Name
			}
		}
		n.NoParallel = r.ParallelToolCalls != nil && !*r.ParallelToolCalls && n.ToolChoice != "none"
	}
	if len(r.Stop) > 0 {
		if r.Stop[0] == '"' {
			var s string
			_ = encjson.Unmarshal(r.Stop, &s)
			n.Stop = []string{s}
		} else {
			_ = encjson.Unmarshal(r.Stop, &n.Stop)
		}
	}
	switch {
	case r.MaxCompletionTokens != nil:
		n.MaxTokens = *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		n.MaxTokens = *r.MaxTokens
	}
	n.Effort = r.ReasoningEffort
	if !applyRules {
		return n
	}
	if n.MaxTokens == 0 {
		n.MaxTokens = DefaultMaxTokens
	}
	if n.Temp != nil {
		n.TopP = nil
	}
	forced := n.ToolChoice == "required" || strings.HasPrefix(n.ToolChoice, "function:")
	lastAssistantCalls := false
	for i := len(n.Turns) - 1; i >= 0; i-- {
		if n.Turns[i].Role == "assistant" {
			lastAssistantCalls = len(n.Turns[i].ToolCalls) > 0
			break
		}
	}
	if n.Effort == "none" || forced || lastAssistantCalls {
		n.Effort = ""
	}
	if n.Effort != "" {
		budget := reasoningBudgets[n.Effort]
		if n.MaxTokens <= budget {
			n.MaxTokens += budget
		}
		n.Temp, n.TopP = nil, nil
		// Budgets come back as buckets: 1024 is low, 4096 is high.
		switch n.Effort {
		case "minimal":
			n.Effort = "low"
		}
	}
	return n
}

func normParts(t *testing.T, raw []byte) []string {
	t.Helper()
	if isNullRaw(raw) {
		return nil
	}
	if raw[0] == '"' {
		var s string
		_ = encjson.Unmarshal(raw, &s)
		if s == "" {
			return nil
		}
		return []string{"text:" + s}
	}
	var parts []oaContentPart
	if err := encjson.Unmarshal(raw, &parts); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range parts {
		switch p.Type {
		case "text":
			if p.Text != nil && *p.Text != "" {
				out = append(out, "text:"+*p.Text)
			}
		case "image_url":
			out = append(out, "image:"+p.ImageURL.URL)
		}
	}
	return out
}

// genRequest builds a varied but valid OpenAI request.
func genRequest(rng *rand.Rand) map[string]any {
	pick := func(p float64) bool { return rng.Float64() < p }
	words := []string{"Paris", "weather", "hello", "naïve café", "emoji 🚀", `quote "x"`, "line\nbreak", "<tag> & more"}
	text := func() string { return words[rng.Intn(len(words))] + " " + words[rng.Intn(len(words))] }
	req := map[string]any{"model": "gpt-4o"}
	var msgs []any
	if pick(0.6) {
		msgs = append(msgs, map[string]any{"role": "system", "content": text()})
	}
	if pick(0.2) {
		msgs = append(msgs, map[string]any{"role": "developer", "content": text()})
	}
	toolNames := []string{"get_weather", "get_stock_price", "search-docs"}
	withTools := pick(0.6)
	if withTools {
		var tools []any
		for _, name := range toolNames[:1+rng.Intn(len(toolNames))] {
			fn := map[string]any{"name": name, "parameters": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}}
			if pick(0.5) {
				fn["description"] = text()
			}
			tools = append(tools, map[string]any{"type": "function", "function": fn})
		}
		req["tools"] = tools
		switch rng.Intn(5) {
		case 1:
			req["tool_choice"] = "auto"
		case 2:
			req["tool_choice"] = "none"
		case 3:
			req["tool_choice"] = "required"
		case 4:
			req["tool_choice"] = map[string]any{"type": "function", "function": map[string]any{"name": toolNames[0]}}
		}
		if pick(0.5) {
			req["parallel_tool_calls"] = pick(0.5)
		}
	}
	turns := 1 + rng.Intn(4)
	callID := 0
	for i := 0; i < turns; i++ {
		// User turn: a string, or parts with images.
		if pick(0.5) {
			msgs = append(msgs, map[string]any{"role": "user", "content": text()})
		} else {
			parts := []any{map[string]any{"type": "text", "text": text()}}
			if pick(0.5) {
				parts = append(parts, map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw0KGgo="}})
			}
			if pick(0.3) {
				parts = append(parts, map[string]any{"type": "image_url", "image_url": map[string]any{"url": "https://example.com/a.jpg"}})
			}
			msgs = append(msgs, map[string]any{"role": "user", "content": parts})
		}
		last := i == turns-1
		if last && pick(0.5) {
			break
		}
		if withTools && pick(0.6) {
			var calls []any
			var results []any
			for k := 0; k < 1+rng.Intn(3); k++ {
				callID++
				id := fmt.Sprintf("call_%d_%d", rng.Intn(1000), callID)
				args := fmt.Sprintf(`{"q":%q}`, text())
				if pick(0.1) {
					args = ""
				}
				calls = append(calls, map[string]any{"id": id, "type": "function", "function": map[string]any{"name": toolNames[rng.Intn(len(toolNames))], "arguments": args}})
				results = append(results, map[string]any{"role": "tool", "tool_call_id": id, "content": text()})
			}
			asst := map[string]any{"role": "assistant", "tool_calls": calls}
			switch rng.Intn(3) {
			case 0:
				asst["content"] = ""
			case 1:
				asst["content"] = text()
			}
			msgs = append(msgs, asst)
			msgs = append(msgs, results...)
			if !last || pick(0.5) {
				// The model's answer after the tool round.
				msgs = append(msgs, map[string]any{"role": "assistant", "content": text()})
			}
			continue
		}
		if !last || pick(0.5) {
			msgs = append(msgs, map[string]any{"role": "assistant", "content": text()})
		}
	}
	req["messages"] = msgs
	if pick(0.3) {
		req["stop"] = []string{"END", "###", "STOP"}[:1+rng.Intn(3)]
	} else if pick(0.2) {
		req["stop"] = "END"
	}
	if pick(0.5) {
		req["temperature"] = float64(rng.Intn(11)) / 10
	}
	if pick(0.3) {
		req["top_p"] = 0.5 + float64(rng.Intn(5))/10
	}
	switch rng.Intn(3) {
	case 1:
		req["max_tokens"] = 100 + rng.Intn(5000)
	case 2:
		req["max_completion_tokens"] = 100 + rng.Intn(5000)
	}
	if pick(0.3) {
		req["user"] = fmt.Sprintf("user-%d", rng.Intn(100))
	}
	if pick(0.4) {
		req["reasoning_effort"] = []string{"none", "minimal", "low", "medium", "high"}[rng.Intn(5)]
	}
	if pick(0.5) {
		req["stream"] = true
	}
	return req
}

func TestRequestRoundTripKeepsSupportedFields(t *testing.T) {
	for seed := int64(1); seed <= 400; seed++ {
		t.Run(fmt.Sprintf("seed_%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			in, err := encjson.Marshal(genRequest(rng))
			if err != nil {
				t.Fatal(err)
			}
			mid, err := TranslateRequest(format.OpenAIChat, format.Anthropic, in, RequestOptions{})
			if err != nil {
				t.Fatalf("to Anthropic: %v\n%s", err, in)
			}
			checkAnthropicInvariants(t, mid)
			out, err := TranslateRequest(format.Anthropic, format.OpenAIChat, mid, RequestOptions{IncludeUsage: true})
			if err != nil {
				t.Fatalf("back to OpenAI: %v\n%s", err, mid)
			}
			checkOpenAIInvariants(t, out)
			want := normalise(t, in, true)
			got := normalise(t, out, false)
			if !reflect.DeepEqual(got, want) {
				gj, _ := encjson.MarshalIndent(got, "", " ")
				wj, _ := encjson.MarshalIndent(want, "", " ")
				t.Errorf("round trip changed the request\ninput: %s\nanthropic: %s\ngot:  %s\nwant: %s", in, mid, gj, wj)
			}
		})
	}
}
