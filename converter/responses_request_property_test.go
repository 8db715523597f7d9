package converter

import (
	encjson "encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

// The round-trip property for intermediate hub bodies: a Responses request
// translated to the hub with Intermediate set and back to a Responses
// request keeps everything the Responses API expresses and both
// translators carry (docs/conversion.md lists the exceptions, which the
// normalisation below applies). Requests come from fixed seeds, so a
// failure is reproducible from the seed in its name.

// rsNorm is the comparable form of a Responses request.
type rsNorm struct {
	Model, Instructions                   string
	Items                                 []string
	Tools                                 []string
	ToolChoice                            string
	Parallel                              *bool
	MaxOutput                             *int64
	Temp, TopP                            *float64
	Stream                                bool
	Effort, Summary                       string
	Store                                 bool
	Include                               []string
	ServiceTier, CacheKey, Truncation     string
	Verbosity, SafetyID, User, FormatJSON string
	Metadata                              string
	TopLogprobs                           *int64
}

func normResponses(t *testing.T, body []byte) rsNorm {
	t.Helper()
	var r rsReqRequest
	if err := encjson.Unmarshal(body, &r); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	n := rsNorm{Model: r.Model, MaxOutput: r.MaxOutputTokens, Temp: r.Temperature, TopP: r.TopP, Stream: r.Stream,
		ServiceTier: r.ServiceTier, CacheKey: r.PromptCacheKey, Truncation: r.Truncation, SafetyID: r.SafetyIdentifier,
		User: r.User, TopLogprobs: r.TopLogprobs, Parallel: r.ParallelToolCalls, Include: r.Include}
	if len(r.Metadata) > 0 {
		n.Metadata = canonicalJSON(t, string(r.Metadata))
	}
	if len(r.Instructions) > 0 {
		_ = encjson.Unmarshal(r.Instructions, &n.Instructions)
	}
	// Absent store is stored at OpenAI by default; the gateway keeps no
	// state there unless asked, so absent comes back as false.
	n.Store = r.Store != nil && *r.Store
	if r.Reasoning != nil {
		n.Effort, n.Summary = r.Reasoning.Effort, r.Reasoning.Summary
	}
	if r.Text != nil {
		n.Verbosity = r.Text.Verbosity
		if r.Text.Format != nil && r.Text.Format.Type == "json_schema" {
			n.FormatJSON = canonicalJSON(t, string(r.Text.Format.Schema))
		}
	}
	for _, tool := range r.Tools {
		// Responses function tools are strict unless they say otherwise.
		strict := tool.Strict == nil || *tool.Strict
		n.Tools = append(n.Tools, fmt.Sprintf("%s|%s|%s|%v", tool.Name, tool.Description, canonicalJSON(t, string(tool.Parameters)), strict))
	}
	if len(r.ToolChoice) > 0 {
		var s string
		if encjson.Unmarshal(r.ToolChoice, &s) != nil {
			var o rsReqToolChoiceObject
			_ = encjson.Unmarshal(r.ToolChoice, &o)
			s = o.Type + ":" + o.Name
		}
		n.ToolChoice = s
	}
	if n.ToolChoice == "" && len(r.Tools) > 0 {
		n.ToolChoice = "auto" // the API's default
	}
	var items []rsInItem
	if len(r.Input) > 0 && r.Input[0] == '[' {
		if err := encjson.Unmarshal(r.Input, &items); err != nil {
			t.Fatalf("decoding input: %v", err)
		}
	}
	for _, it := range items {
		switch it.Type {
		case "message", "":
			var s string
			if encjson.Unmarshal(it.Content, &s) == nil {
				n.Items = append(n.Items, it.Role+":"+s)
				continue
			}
			var parts []rsInPart
			_ = encjson.Unmarshal(it.Content, &parts)
			for _, p := range parts {
				if p.Text != nil {
					n.Items = append(n.Items, it.Role+":"+*p.Text)
				}
			}
		case "function_call":
			var args string
			_ = encjson.Unmarshal(it.Arguments, &args)
			n.Items = append(n.Items, "call:"+it.CallID+"|"+it.Name+"|"+canonicalJSON(t, args))
		case "function_call_output":
			var out string
			_ = encjson.Unmarshal(it.Output, &out)
			n.Items = append(n.Items, "output:"+it.CallID+"|"+out)
		case "reasoning":
			n.Items = append(n.Items, "reasoning:"+*it.EncryptedContent)
		}
	}
	return n
}

// genResponsesRequest builds a varied but valid Responses request whose
// tool calls are all answered.
func genResponsesRequest(rng *rand.Rand) map[string]any {
	pick := func(p float64) bool { return rng.Float64() < p }
	words := []string{"Paris", "weather", "naïve café", "emoji 🚀", `quote "x"`, "line\nbreak", "<tag> & more"}
	text := func() string { return words[rng.Intn(len(words))] + " " + words[rng.Intn(len(words))] }
	req := map[string]any{"model": "gpt-5-codex"}
	if pick(0.7) {
		req["instructions"] = text()
	}
	tools := []any{}
	if pick(0.7) {
		for i := 0; i < 1+rng.Intn(3); i++ {
			tool := map[string]any{"type": "function", "name": fmt.Sprintf("tool_%d", i), "description": text(),
				"parameters": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}, "required": []any{"q"}, "additionalProperties": false}}
			if pick(0.5) {
				tool["strict"] = pick(0.5)
			}
			tools = append(tools, tool)
		}
		req["tools"] = tools
		switch rng.Intn(4) {
		case 1:
			req["tool_choice"] = "auto"
		case 2:
			req["tool_choice"] = "none"
		case 3:
			req["tool_choice"] = map[string]any{"type": "function", "name": "tool_0"}
		}
		if pick(0.4) {
			req["parallel_tool_calls"] = pick(0.5)
		}
	}
	var input []any
	call := 0
	for turn := 0; turn < 1+rng.Intn(4); turn++ {
		input = append(input, map[string]any{"type": "message", "role": "user", "content": []any{map[string]any{"type": "input_text", "text": text()}}})
		if pick(0.5) {
			input = append(input, map[string]any{"type": "reasoning", "summary": []any{},
				"encrypted_content": encodeThinkingState(thinkingState{Type: "thinking", Thinking: text(), Signature: fmt.Sprintf("sig%d", turn)})})
		}
		if len(tools) > 0 && pick(0.6) {
			var outputs []any
			for k := 0; k < 1+rng.Intn(2); k++ {
				id := fmt.Sprintf("call_%d", call)
				call++
				input = append(input, map[string]any{"type": "function_call", "call_id": id, "name": "tool_0", "arguments": fmt.Sprintf(`{"q":%q}`, text())})
				outputs = append(outputs, map[string]any{"type": "function_call_output", "call_id": id, "output": text()})
			}
			input = append(input, outputs...)
		}
		if pick(0.6) {
			input = append(input, map[string]any{"type": "message", "role": "assistant", "content": []any{map[string]any{"type": "output_text", "text": text()}}})
		}
	}
	req["input"] = input
	if pick(0.5) {
		req["max_output_tokens"] = 16 + rng.Intn(5000)
	}
	if pick(0.4) {
		req["temperature"] = float64(rng.Intn(21)) / 10
	}
	if pick(0.3) {
		req["top_p"] = 0.9
	}
	if pick(0.5) {
		req["stream"] = true
	}
	if pick(0.6) {
		r := map[string]any{"effort": []string{"none", "minimal", "low", "medium", "high", "xhigh"}[rng.Intn(6)]}
		if pick(0.5) {
			r["summary"] = "auto"
		}
		req["reasoning"] = r
	}
	if pick(0.5) {
		req["store"] = pick(0.5)
	}
	if pick(0.4) {
		req["include"] = []any{"reasoning.encrypted_content"}
	}
	if pick(0.3) {
		req["service_tier"] = "flex"
	}
	if pick(0.3) {
		req["prompt_cache_key"] = "thread-1"
	}
	if pick(0.2) {
		req["truncation"] = "auto"
	}
	if pick(0.3) {
		req["metadata"] = map[string]any{"team": "core"}
	}
	if pick(0.3) {
		req["safety_identifier"] = "sid-1"
	}
	if pick(0.2) {
		req["top_logprobs"] = 2
	}
	text2 := map[string]any{}
	if pick(0.3) {
		text2["verbosity"] = "low"
	}
	if pick(0.2) {
		text2["format"] = map[string]any{"type": "json_schema", "name": "out", "schema": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}, "required": []any{"a"}, "additionalProperties": false}}
	}
	if len(text2) > 0 {
		req["text"] = text2
	}
	return req
}

// expectedRoundTrip applies the documented rules to a request's
// normalised form.
func expectedRoundTrip(n rsNorm) rsNorm {
	// Tools the request cannot call are not sent (Anthropic's placeholder
	// is not a client tool), and the tool choice travels with the tools.
	if len(n.Tools) == 0 {
		n.ToolChoice, n.Parallel = "", nil
	}
	if n.Effort == "" {
		n.Summary = ""
	}
	if n.Effort != "" && n.Effort != "none" && !n.Store && !contains(n.Include, includeEncryptedReasoning) {
		n.Include = append(n.Include, includeEncryptedReasoning)
	}
	return n
}

func TestResponsesIntermediateRoundTrip(t *testing.T) {
	for seed := int64(0); seed < 300; seed++ {
		t.Run(fmt.Sprintf("seed_%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			gen := genResponsesRequest(rng)
			body, err := encjson.Marshal(gen)
			if err != nil {
				t.Fatal(err)
			}
			hub, err := responsesToAnthropicRequest(body, RequestOptions{Intermediate: true})
			if err != nil {
				t.Fatalf("to hub: %v\n%s", err, body)
			}
			back, err := anthropicToResponsesRequest(hub, RequestOptions{})
			if err != nil {
				t.Fatalf("from hub: %v\n%s", err, hub)
			}
			checkResponsesInvariants(t, back)
			want := expectedRoundTrip(normResponses(t, body))
			got := normResponses(t, back)
			if !reflect.DeepEqual(got, want) {
				for i := 0; i < reflect.TypeOf(got).NumField(); i++ {
					if g, w := reflect.ValueOf(got).Field(i), reflect.ValueOf(want).Field(i); !reflect.DeepEqual(g.Interface(), w.Interface()) {
						t.Errorf("%s: got %v, want %v", reflect.TypeOf(got).Field(i).Name, reflect.Indirect(g), reflect.Indirect(w))
					}
				}
				t.Fatalf("round trip changed the request\nin:   %s\nhub:  %s\nback: %s\nwant %+v\ngot  %+v", body, hub, back, want, got)
			}
		})
	}
}
