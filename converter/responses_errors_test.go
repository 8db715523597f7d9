package converter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestAppendResponsesErrorBody(t *testing.T) {
	got := appendResponsesErrorBody(nil, InvalidParam("input", "input must be a string or an array"), "req_1")
	want := `{"error":{"message":"input must be a string or an array","type":"invalid_request_error","param":"input","code":null}}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestAppendResponsesStreamError(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"interrupted stream is a retryable server_error", Errorf(KindStreamInterrupted, "cut"),
			`{"type":"error","code":"server_error","message":"cut","param":null,"sequence_number":7}`},
		{"rate limit keeps Codex's code", Errorf(KindRateLimited, "slow down"),
			`{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null,"sequence_number":7}`},
		{"quota", Errorf(KindQuotaExceeded, "used up"),
			`{"type":"error","code":"insufficient_quota","message":"used up","param":null,"sequence_number":7}`},
		{"queue full is overloaded", Errorf(KindQueueFull, "busy"),
			`{"type":"error","code":"server_is_overloaded","message":"busy","param":null,"sequence_number":7}`},
		{"upstream code wins", &Error{Kind: KindInvalidRequest, Message: "too long", Code: "context_length_exceeded", Param: "input"},
			`{"type":"error","code":"context_length_exceeded","message":"too long","param":"input","sequence_number":7}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendResponsesStreamError(nil, tt.err, 7))
			if got != "event: error\ndata: "+tt.want+"\n\n" {
				t.Errorf("got %q\nwant data %s", got, tt.want)
			}
		})
	}
}

func TestParseResponsesError(t *testing.T) {
	tests := []struct {
		name, body string
		want       parsedError
		kind       ErrorKind
	}{
		{"HTTP body", `{"error":{"message":"Invalid model","type":"invalid_request_error","param":"model","code":"model_not_found"}}`,
			parsedError{message: "Invalid model", typ: "invalid_request_error", param: "model", code: "model_not_found"}, KindInvalidRequest},
		{"error event", `{"type":"error","code":"rate_limit_exceeded","message":"Try again in 2s","param":null,"sequence_number":3}`,
			parsedError{message: "Try again in 2s", code: "rate_limit_exceeded"}, KindRateLimited},
		{"error event with nested error", `{"type":"error","sequence_number":1,"error":{"type":"server_error","code":"server_is_overloaded","message":"Overloaded","param":null}}`,
			parsedError{message: "Overloaded", typ: "server_error", code: "server_is_overloaded"}, KindOverloaded},
		{"response.failed", `{"type":"response.failed","sequence_number":9,"response":{"id":"resp_1","status":"failed","error":{"code":"context_length_exceeded","message":"Your input exceeds the context window"}}}`,
			parsedError{message: "Your input exceeds the context window", code: "context_length_exceeded"}, KindInvalidRequest},
		{"string error", `{"error":"bad gateway"}`, parsedError{message: "bad gateway"}, KindUpstreamUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseResponsesError([]byte(tt.body))
			if !ok || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, ok, tt.want)
			}
			if k := responsesErrorKind(got); k != tt.kind {
				t.Errorf("kind %d, want %d", k, tt.kind)
			}
		})
	}
	for _, body := range []string{``, `{}`, `{"type":"error"}`, `[1]`, `{"response":{"error":null}}`} {
		if p, ok := parseResponsesError([]byte(body)); ok {
			t.Errorf("%s parsed as %+v", body, p)
		}
	}
}

// The usage each translator reports is what quotas and metrics count: every
// input token (cached ones included), output tokens, cache reads and writes.
func TestResponsesUsage(t *testing.T) {
	anthropicBody := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn","usage":{"input_tokens":20,"output_tokens":30,"cache_creation_input_tokens":1000,"cache_read_input_tokens":5000}}`)
	responsesBody := []byte(`{"id":"resp_1","object":"response","status":"completed","model":"m","output":[],"usage":{"input_tokens":6020,"input_tokens_details":{"cached_tokens":5000,"cache_write_tokens":1000},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":6050}}`)
	want := Usage{InputTokens: 6020, OutputTokens: 30, CacheReadTokens: 5000, CacheWriteTokens: 1000}
	for name, run := range map[string]func() (Usage, error){
		"anthropic to responses": func() (Usage, error) {
			_, u, err := anthropicToResponsesResponse(anthropicBody, ResponseOptions{})
			return u, err
		},
		"responses to anthropic": func() (Usage, error) {
			_, u, err := responsesToAnthropicResponse(responsesBody, ResponseOptions{})
			return u, err
		},
		"forwarded": func() (Usage, error) {
			_, u, err := forwardResponsesResponse(responsesBody, ResponseOptions{})
			return u, err
		},
	} {
		u, err := run()
		if err != nil || u != want {
			t.Errorf("%s: usage %+v, %v; want %+v", name, u, err, want)
		}
	}
	out, _, _ := anthropicToResponsesResponse(anthropicBody, ResponseOptions{})
	var r struct {
		Usage map[string]any `json:"usage"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Usage["input_tokens"] != 6020.0 || r.Usage["total_tokens"] != 6050.0 {
		t.Errorf("usage written as %v", r.Usage)
	}
	// A forwarded body without changes is the same slice.
	if got, _, _ := forwardResponsesResponse(responsesBody, ResponseOptions{}); &got[0] != &responsesBody[0] {
		t.Error("an unchanged forwarded body was copied")
	}
}

func TestResponsesStreamUsage(t *testing.T) {
	read := func(dir, name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata", "responses", "stream", dir, name+".in.sse"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		tr   eventTranslator
		in   []byte
		want Usage
	}{
		{"pass-through reads response.completed", newResponsesPassStream(StreamOptions{}),
			read("responses_passthrough", "forwarded_byte_for_byte"), Usage{InputTokens: 328, OutputTokens: 148, CacheReadTokens: 128}},
		{"pass-through reads response.incomplete", newResponsesPassStream(StreamOptions{Model: "x"}),
			read("responses_passthrough", "incomplete_usage_tracked"), Usage{InputTokens: 10, OutputTokens: 4}},
		{"Responses to Anthropic", newResponsesToAnthropicStream(StreamOptions{}),
			read("responses_to_anthropic", "openai_reasoning_text_and_function_call"), Usage{InputTokens: 328, OutputTokens: 148, CacheReadTokens: 128}},
		{"Anthropic to Responses counts the cache in the input", newAnthropicToResponsesStream(StreamOptions{}),
			read("anthropic_to_responses", "cache_usage_and_model_override"), Usage{InputTokens: 6020, OutputTokens: 30, CacheReadTokens: 5000, CacheWriteTokens: 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := feedTranslator(tt.tr, tt.in); err != nil {
				t.Fatal(err)
			}
			if !tt.tr.sawFinish() || !tt.tr.done() {
				t.Fatal("finish not seen")
			}
			if got := tt.tr.usage(); got != tt.want {
				t.Errorf("usage %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResponsesAnswerShape(t *testing.T) {
	body := []byte(`{"model":"gpt-5-codex","reasoning":{"effort":"high","summary":"auto"},"tools":[
		{"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}},
		{"type":"local_shell"},
		{"type":"function","name":"shell","parameters":{"type":"object"}},
		{"type":"namespace","name":"mcp__github__","tools":[{"type":"function","name":"issue","parameters":{"type":"object"}}]}],
		"input":"hi"}`)
	summary, tools := ResponsesAnswerShape(body)
	if !summary {
		t.Error("summary not seen")
	}
	want := map[string]ResponsesTool{
		"apply_patch":        {Kind: ResponsesToolCustom},
		"local_shell":        {Kind: ResponsesToolLocalShell},
		"mcp__github__issue": {Kind: ResponsesToolNamespaced, Namespace: "mcp__github__", Name: "issue"},
	}
	if len(tools) != len(want) {
		t.Fatalf("tools %+v, want %+v", tools, want)
	}
	for name, w := range want {
		if tools[name] != w {
			t.Errorf("%s: %+v, want %+v", name, tools[name], w)
		}
	}
	// The answer to a call of each gives it back as declared, and reading
	// that answer back names the tools as the request side did.
	msg := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[` +
		`{"type":"tool_use","id":"t1","name":"apply_patch","input":{"input":"*** Begin Patch"}},` +
		`{"type":"tool_use","id":"t2","name":"local_shell","input":{"type":"exec","command":["ls"]}},` +
		`{"type":"tool_use","id":"t3","name":"mcp__github__issue","input":{"n":1}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}`)
	out, _, err := anthropicToResponsesResponse(msg, ResponseOptions{Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	var r rsOutResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Output) != 3 || r.Output[0].Type != "custom_tool_call" || r.Output[1].Type != "local_shell_call" ||
		r.Output[2].Name != "issue" || r.Output[2].Namespace != "mcp__github__" {
		t.Fatalf("answer %s", out)
	}
	for i, name := range []string{"apply_patch", "local_shell", "mcp__github__issue"} {
		if got := hubToolName(&r.Output[i]); got != name {
			t.Errorf("item %d read back as %q, want %q", i, got, name)
		}
	}
	if s, tools := ResponsesAnswerShape([]byte(`{"model":"m","reasoning":{"summary":"none"}}`)); s || tools != nil {
		t.Errorf("summary none: %v %v", s, tools)
	}
	if s, _ := ResponsesAnswerShape([]byte(`{"model":"m","reasoning":{"generate_summary":"concise"}}`)); !s {
		t.Error("generate_summary not seen")
	}
}
