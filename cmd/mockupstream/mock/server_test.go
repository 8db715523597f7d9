package mock

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/converter/jsonx"
)

const (
	oaPath = "/v1/chat/completions"
	anPath = "/v1/messages"

	oaSimple       = `{"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}]}`
	oaSimpleStream = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello there"}]}`
	anSimple       = `{"model":"claude","max_tokens":100,"messages":[{"role":"user","content":"hello there"}]}`
	anSimpleStream = `{"model":"claude","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`
)

// fixturesDir holds the recorded provider payloads shared by the project.
const fixturesDir = "../../../converter/testdata/fixtures"

func TestReplayFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixturesDir, err)
	}
	s := startServer(t, DefaultConfig())
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			path, wantType, status := oaPath, "application/json", 400
			if strings.HasPrefix(filepath.Base(file), "anthropic") {
				path = anPath
			}
			if strings.HasSuffix(file, ".sse") {
				wantType, status = "text/event-stream; charset=utf-8", 200
			}
			cfg := DefaultConfig()
			cfg.ReplayFile, cfg.ReplayStatus = file, status
			s.SetConfig(cfg)
			resp := post(t, s, path, `{"not":"validated"}`, nil)
			if resp.err != nil {
				t.Fatalf("read: %v", resp.err)
			}
			if resp.status != status || resp.header.Get("Content-Type") != wantType {
				t.Errorf("status %d, content type %q; want %d, %q", resp.status, resp.header.Get("Content-Type"), status, wantType)
			}
			if !bytes.Equal(resp.body, want) {
				t.Errorf("body differs from %s:\n got %q\nwant %q", file, resp.body, want)
			}
		})
	}
}

func TestReplayHeaderOverride(t *testing.T) {
	s := startServer(t, DefaultConfig())
	file := filepath.Join(fixturesDir, "anthropic_error_400.json")
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, s, anPath, anSimple, map[string]string{HeaderReplay: file, HeaderStatus: "400"})
	if resp.status != 400 || !bytes.Equal(resp.body, want) {
		t.Errorf("got %d %q, want 400 and the file", resp.status, resp.body)
	}
}

func TestStrictValidation(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		header  map[string]string
		wantMsg string
	}{
		{name: "anthropic missing version header", path: anPath, body: anSimple, header: map[string]string{"anthropic-version": ""}, wantMsg: "anthropic-version: header is required"},
		{name: "anthropic invalid json", path: anPath, body: `{"model":`, wantMsg: "error parsing the body"},
		{name: "anthropic missing max_tokens", path: anPath, body: `{"model":"c","messages":[{"role":"user","content":"hi"}]}`, wantMsg: "max_tokens: Field required"},
		{name: "anthropic missing model", path: anPath, body: `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "model: Field required"},
		{name: "anthropic empty messages", path: anPath, body: `{"model":"c","max_tokens":5,"messages":[]}`, wantMsg: "at least one message"},
		{name: "anthropic system role in messages", path: anPath, body: `{"model":"c","max_tokens":5,"messages":[{"role":"system","content":"x"},{"role":"user","content":"hi"}]}`, wantMsg: "messages.0.role"},
		{name: "anthropic empty text block", path: anPath, body: `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, wantMsg: "messages: text content blocks must be non-empty"},
		{name: "anthropic empty system block", path: anPath, body: `{"model":"c","max_tokens":5,"system":[{"type":"text","text":""}],"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "system: text content blocks must be non-empty"},
		{name: "anthropic whitespace text block", path: anPath, body: `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":" \n"}]}]}`, wantMsg: "non-whitespace"},
		{name: "anthropic empty message content", path: anPath, body: `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":""}]}`, wantMsg: "must have non-empty content"},
		{
			name:    "anthropic tool_use without tool_result",
			path:    anPath,
			body:    `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},{"role":"user","content":"well?"}]}`,
			wantMsg: "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
		},
		{
			name:    "anthropic tool_result after text",
			path:    anPath,
			body:    `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},{"role":"user","content":[{"type":"text","text":"here"},{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}]}`,
			wantMsg: "unexpected `tool_use_id`",
		},
		{
			name:    "anthropic unknown tool_use_id",
			path:    anPath,
			body:    `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_9","content":"ok"}]}]}`,
			wantMsg: "unexpected `tool_use_id` found in `tool_result` blocks: toolu_9",
		},
		{
			name:    "anthropic tool blocks without tools",
			path:    anPath,
			body:    `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}]}`,
			wantMsg: "must define tools",
		},
		{
			name:    "anthropic bad tool_use id",
			path:    anPath,
			body:    `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"functions.f:0","name":"f","input":{}}]}]}`,
			wantMsg: "tool_use.id: String should match pattern",
		},
		{name: "anthropic temperature above 1", path: anPath, body: `{"model":"c","max_tokens":5,"temperature":1.2,"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "temperature: Input should be less than or equal to 1"},
		{
			name:    "anthropic image media type",
			path:    anPath,
			body:    `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"Qk0="}}]}]}`,
			wantMsg: "media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
		},
		{name: "anthropic tool_choice type", path: anPath, body: `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"required"},"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "tool_choice: Input tag 'required'"},
		{name: "anthropic tool_choice unknown tool", path: anPath, body: `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"g"},"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "not found in tools"},
		{name: "anthropic tool_choice without tools", path: anPath, body: `{"model":"c","max_tokens":5,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "tool_choice may only be specified while providing tools"},
		{name: "anthropic thinking with forced tool", path: anPath, body: `{"model":"c","max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "Thinking may not be enabled when `tool_choice` forces tool use"},
		{name: "anthropic thinking budget above max_tokens", path: anPath, body: `{"model":"c","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "`max_tokens` must be greater than `thinking.budget_tokens`"},
		{name: "anthropic tool schema without type", path: anPath, body: `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{}}],"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "tools.0.custom.input_schema.type: Field required"},
		{name: "anthropic tool schema of type string", path: anPath, body: `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"string"}}],"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "input_schema.type: Input should be 'object'"},
		{name: "anthropic whitespace system block", path: anPath, body: `{"model":"c","max_tokens":5,"system":[{"type":"text","text":" "}],"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "system: text content blocks must contain non-whitespace text"},
		{name: "anthropic budget thinking on an adaptive-only model", path: anPath, body: `{"model":"claude-opus-4-7","max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "thinking.type.enabled is not supported for this model"},
		{name: "anthropic unknown effort", path: anPath, body: `{"model":"c","max_tokens":5,"output_config":{"effort":"extreme"},"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "output_config.effort"},
		{name: "anthropic prefill ending in white space", path: anPath, body: `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure: "}]}`, wantMsg: "final assistant content cannot end with trailing whitespace"},
		{name: "anthropic system turn without the beta", path: anPath, body: `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"system","content":"x"}]}`, wantMsg: "messages.1.role"},
		{name: "openai invalid json", path: oaPath, body: `{"model"`, wantMsg: "could not parse the JSON body"},
		{name: "openai tool parameters without type", path: oaPath, body: `{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{}}}}],"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"None\"'"},
		{name: "openai max_tokens zero", path: oaPath, body: `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "Invalid 'max_tokens': integer below minimum value"},
		{
			name:    "openai strict schema with an optional property",
			path:    oaPath,
			body:    `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"response","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a"],"additionalProperties":false}}},"messages":[{"role":"user","content":"hi"}]}`,
			wantMsg: "'required' is required to be supplied and to be an array including every key in properties. Missing 'b'",
		},
		{
			name:    "openai strict tool schema without additionalProperties",
			path:    oaPath,
			body:    `{"model":"m","tools":[{"type":"function","function":{"name":"f","strict":true,"parameters":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}}}],"messages":[{"role":"user","content":"hi"}]}`,
			wantMsg: "'additionalProperties' is required to be supplied and to be false",
		},
		{name: "openai missing model", path: oaPath, body: `{"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "you must provide a model parameter"},
		{name: "openai missing messages", path: oaPath, body: `{"model":"m"}`, wantMsg: "Missing required parameter: 'messages'"},
		{name: "openai empty messages", path: oaPath, body: `{"model":"m","messages":[]}`, wantMsg: "empty array"},
		{name: "openai invalid role", path: oaPath, body: `{"model":"m","messages":[{"role":"bot","content":"hi"}]}`, wantMsg: "Invalid value: 'bot'"},
		{name: "openai user without content", path: oaPath, body: `{"model":"m","messages":[{"role":"user"}]}`, wantMsg: "messages[0].content"},
		{name: "openai orphan tool message", path: oaPath, body: `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_1","content":"x"}]}`, wantMsg: "must be a response to a preceeding message with 'tool_calls'"},
		{
			name:    "openai tool call unanswered",
			path:    oaPath,
			body:    `{"model":"m","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"call_2","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"x"},{"role":"user","content":"and?"}]}`,
			wantMsg: "did not have response messages: call_2",
		},
		{name: "openai temperature above 2", path: oaPath, body: `{"model":"m","temperature":2.5,"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "Expected a value <= 2, but got 2.5"},
		{name: "openai tool_choice without tools", path: oaPath, body: `{"model":"m","tool_choice":"required","messages":[{"role":"user","content":"hi"}]}`, wantMsg: "only allowed when 'tools' are specified"},
		{name: "openai too many stops", path: oaPath, body: `{"model":"m","stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"hi"}]}`, wantMsg: "maximum length 4"},
	}
	s := startServer(t, DefaultConfig())
	lenient := startServer(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, s, tt.path, tt.body, tt.header)
			if resp.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", resp.status, resp.body)
			}
			msg := checkErrorShape(t, tt.path, resp.body, "invalid_request_error")
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMsg)
			}
			if strings.Contains(tt.name, "invalid json") {
				return
			}
			// Without Strict the same request is answered.
			if resp := post(t, lenient, tt.path, tt.body, tt.header); resp.status != http.StatusOK {
				t.Errorf("lenient server answered %d: %s", resp.status, resp.body)
			}
		})
	}
}

// checkErrorShape checks body against the provider's error shape, with all
// its keys, and returns the message.
func checkErrorShape(t *testing.T, path string, body []byte, wantType string) string {
	t.Helper()
	var m map[string]any
	if err := jsonx.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	if path == anPath {
		e, _ := m["error"].(map[string]any)
		if m["type"] != "error" || e == nil || e["type"] != wantType || len(m) != 3 || len(e) != 2 {
			t.Errorf("not an Anthropic %s error: %s", wantType, body)
		}
		if id, _ := m["request_id"].(string); !strings.HasPrefix(id, "req_mock_") {
			t.Errorf("request_id = %v", m["request_id"])
		}
		msg, _ := e["message"].(string)
		return msg
	}
	e, _ := m["error"].(map[string]any)
	if e == nil || e["type"] != wantType || len(m) != 1 || len(e) != 4 {
		t.Errorf("not an OpenAI %s error: %s", wantType, body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Errorf("error lacks %q: %s", k, body)
		}
	}
	msg, _ := e["message"].(string)
	return msg
}

func TestStrictAcceptsValidConversations(t *testing.T) {
	tests := []struct {
		name, path, body, want string
		header                 map[string]string
	}{
		{
			name:   "anthropic system turn under its beta, adaptive thinking",
			path:   anPath,
			body:   `{"model":"claude-opus-4-7","max_tokens":50,"thinking":{"type":"adaptive"},"output_config":{"effort":"high"},"messages":[{"role":"user","content":"hi"},{"role":"system","content":"be brief"}]}`,
			header: map[string]string{"anthropic-beta": "claude-code-20250219," + midConversationSystemBeta},
			want:   `"stop_reason":"end_turn"`,
		},
		{
			name: "openai strict schema meeting the rules",
			path: oaPath,
			body: `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"response","strict":true,"schema":{"type":"object","properties":{"a":{"type":"array","items":{"type":"object","properties":{"b":{"type":"string"}},"required":["b"],"additionalProperties":false}}},"required":["a"],"additionalProperties":false}}},"messages":[{"role":"user","content":"hi"}]}`,
			want: `"finish_reason":"stop"`,
		},
		{
			name: "openai tool round trip",
			path: oaPath,
			body: `{"model":"m","temperature":2,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}],"tool_choice":"auto","messages":[{"role":"developer","content":"be nice"},{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":"","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"r1"}]},{"role":"assistant","content":"done"},{"role":"user","content":"thanks"}]}`,
			// Tools are declared and the last message is the user's, so
			// the answer calls them.
			want: `"finish_reason":"tool_calls"`,
		},
		{
			name: "anthropic tool round trip with prefill",
			path: anPath,
			body: `{"model":"c","max_tokens":50,"temperature":1,"system":"sys","tools":[{"name":"f","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"let me"},{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r1"}]},{"type":"text","text":"go on"}]},{"role":"assistant","content":""}]}`,
			want: "Tool results: r1",
		},
	}
	s := startServer(t, DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, s, tt.path, tt.body, tt.header)
			if resp.status != http.StatusOK {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			if !bytes.Contains(resp.body, []byte(tt.want)) {
				t.Errorf("answer lacks %q: %s", tt.want, resp.body)
			}
		})
	}
}

func TestDisconnectAfter(t *testing.T) {
	tests := []struct {
		name, path, body string
		content          string // marks a content event
		closing          string // only in a complete answer
	}{
		{name: "openai", path: oaPath, body: oaSimpleStream, content: `"delta":{"content":`, closing: "[DONE]"},
		{name: "anthropic", path: anPath, body: anSimpleStream, content: `"text_delta"`, closing: "message_stop"},
		{name: "replayed", path: anPath, body: anSimpleStream, content: "event: ", closing: "message_stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DisconnectAfter = 3
			if tt.name == "replayed" {
				cfg.ReplayFile = filepath.Join(fixturesDir, "anthropic_stream_text_tool_use.sse")
			}
			s := startServer(t, cfg)
			resp := post(t, s, tt.path, tt.body, nil)
			if resp.err == nil {
				t.Fatalf("body read without error; want the connection cut: %s", resp.body)
			}
			if n := bytes.Count(resp.body, []byte(tt.content)); n != 3 {
				t.Errorf("got %d content events before the cut, want 3:\n%s", n, resp.body)
			}
			if bytes.Contains(resp.body, []byte(tt.closing)) {
				t.Errorf("cut stream holds %q", tt.closing)
			}
			if st := s.Stats(); st.ClientGone != 0 {
				t.Errorf("ClientGone = %d after a server-side cut", st.ClientGone)
			}
		})
	}
}

func TestDisconnectJSON(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DisconnectAfter = 1
	s := startServer(t, cfg)
	resp := post(t, s, oaPath, oaSimple, nil)
	if resp.err == nil {
		t.Fatalf("want a cut body, read %q", resp.body)
	}
	if len(resp.body) == 0 || jsonx.Valid(resp.body) {
		t.Errorf("want a partial JSON body, got %q", resp.body)
	}
}

func TestClientGone(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		body    string
		readOne bool // cancel after the first event instead of before the headers
	}{
		{name: "hang", cfg: Config{Hang: true}, body: oaSimple},
		{name: "latency", cfg: Config{Latency: time.Hour}, body: oaSimple},
		{name: "mid-stream", cfg: Config{ChunkGap: time.Hour}, body: oaSimpleStream, readOne: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+oaPath, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			client := newHTTPClient(t)
			go func() {
				resp, err := client.Do(req)
				if err == nil {
					if tt.readOne {
						buf := make([]byte, 1)
						_, _ = resp.Body.Read(buf)
						cancel()
					}
					_, err = bytes.NewBuffer(nil).ReadFrom(resp.Body)
					resp.Body.Close()
				}
				done <- err
			}()
			if !tt.readOne {
				waitFor(t, "the request to be in flight", func() (bool, string) {
					st := s.Stats()
					return st.Active == 1, strconv.FormatInt(st.Active, 10)
				})
				cancel()
			}
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("client error = %v, want context.Canceled", err)
			}
			waitFor(t, "ClientGone to count the request", func() (bool, string) {
				st := s.Stats()
				return st.ClientGone == 1 && st.Active == 0, strconv.FormatInt(st.ClientGone, 10)
			})
			if st := s.Stats(); st.Requests != 1 {
				t.Errorf("Requests = %d, want 1", st.Requests)
			}
		})
	}
}

func TestOverrideHeaders(t *testing.T) {
	tests := []struct {
		name       string
		header     map[string]string
		body       string
		wantStatus int
		wantEvents int // text deltas in a streamed answer; -1 to skip
	}{
		{name: "chunks", header: map[string]string{HeaderChunks: "3"}, body: oaSimpleStream, wantStatus: 200, wantEvents: 3},
		{name: "status", header: map[string]string{HeaderStatus: "503"}, body: oaSimple, wantStatus: 503, wantEvents: -1},
		{name: "gap and latency", header: map[string]string{HeaderGap: "1ms", HeaderLatency: "1ms"}, body: oaSimpleStream, wantStatus: 200, wantEvents: DefaultChunks},
		{name: "bad chunks", header: map[string]string{HeaderChunks: "lots"}, body: oaSimple, wantStatus: 400, wantEvents: -1},
		{name: "bad hang", header: map[string]string{HeaderHang: "maybe"}, body: oaSimple, wantStatus: 400, wantEvents: -1},
	}
	s := startServer(t, DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, s, oaPath, tt.body, tt.header)
			if resp.err != nil || resp.status != tt.wantStatus {
				t.Fatalf("status %d (%v), want %d: %s", resp.status, resp.err, tt.wantStatus, resp.body)
			}
			if tt.wantEvents >= 0 {
				if n := bytes.Count(resp.body, []byte(`"delta":{"content":`)); n != tt.wantEvents {
					t.Errorf("got %d text deltas, want %d", n, tt.wantEvents)
				}
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	s := startServer(t, DefaultConfig())
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantShape          string // path whose error shape applies, "" for none
	}{
		{name: "health", method: http.MethodGet, path: "/health", wantStatus: 200},
		{name: "unknown openai path", method: http.MethodPost, path: "/v1/completions", wantStatus: 404, wantShape: oaPath},
		{name: "unknown anthropic path", method: http.MethodPost, path: "/v1/messages/batches", wantStatus: 404, wantShape: anPath},
		{name: "get on chat", method: http.MethodGet, path: oaPath, wantStatus: 404, wantShape: oaPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.URL()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := newHTTPClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			wantType := "invalid_request_error"
			if tt.wantShape == anPath {
				wantType = "not_found_error"
			}
			if tt.wantShape != "" {
				checkErrorShape(t, tt.wantShape, body.Bytes(), wantType)
			}
		})
	}
}

func TestProviderHeaders(t *testing.T) {
	s := startServer(t, DefaultConfig())
	tests := []struct {
		name, path, body string
		want             map[string]string
	}{
		{
			name: "openai", path: oaPath, body: oaSimple,
			want: map[string]string{
				"x-request-id": "req_mock_1", "x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999",
				"x-ratelimit-limit-tokens": "2000000", "x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "1s",
			},
		},
		{
			name: "anthropic", path: anPath, body: anSimple,
			want: map[string]string{
				"request-id": "req_mock_2", "anthropic-ratelimit-requests-limit": "10000", "anthropic-ratelimit-requests-remaining": "9999",
				"anthropic-ratelimit-requests-reset": "2025-01-02T03:05:05Z", "anthropic-ratelimit-tokens-limit": "2000000",
				"anthropic-ratelimit-tokens-reset": "2025-01-02T03:05:05Z",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, s, tt.path, tt.body, nil)
			for k, v := range tt.want {
				if got := resp.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			remaining := resp.header.Get("x-ratelimit-remaining-tokens") + resp.header.Get("anthropic-ratelimit-tokens-remaining")
			if n, err := strconv.Atoi(remaining); err != nil || n >= rateTokensLimit || n <= 0 {
				t.Errorf("remaining tokens = %q, want below the limit", remaining)
			}
		})
	}
}

func TestRequestsAreRecordedAndBounded(t *testing.T) {
	s := New(DefaultConfig())
	h := s.Handler()
	const n = maxRecorded + 10
	for i := range n {
		body := `{"model":"m","messages":[{"role":"user","content":"` + strconv.Itoa(i) + `"}]}`
		req := httptest.NewRequest(http.MethodPost, oaPath, strings.NewReader(body))
		req.Header.Set("X-Test", strconv.Itoa(i))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i, rec.Code, rec.Body)
		}
	}
	got := s.Requests()
	if len(got) != maxRecorded {
		t.Fatalf("recorded %d requests, want %d", len(got), maxRecorded)
	}
	for i, r := range got {
		want := strconv.Itoa(n - maxRecorded + i)
		if r.Header.Get("X-Test") != want || !bytes.Contains(r.Body, []byte(`"content":"`+want+`"`)) || r.Path != oaPath || r.Method != http.MethodPost {
			t.Fatalf("record %d = %s %s %q %s, want request %s", i, r.Method, r.Path, r.Header.Get("X-Test"), r.Body, want)
		}
	}
	if st := s.Stats(); st.Requests != n || st.Active != 0 {
		t.Errorf("Stats = %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	s := New(Config{Hang: true})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL = %q", s.URL())
	}
	done := make(chan error, 1)
	client := newHTTPClient(t)
	go func() {
		resp, err := client.Post(s.URL()+oaPath, "application/json", strings.NewReader(oaSimple))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the hanging request", func() (bool, string) {
		return s.Stats().Active == 1, strconv.FormatInt(s.Stats().Active, 10)
	})
	// Close must release the hanging handler rather than wait for it.
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if st := s.Stats(); st.Active != 0 {
		t.Errorf("Active = %d after Close", st.Active)
	}
	if err := <-done; err == nil {
		t.Error("hanging request succeeded after Close")
	}
	if err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	if err := New(Config{Chunks: -1}).Start("127.0.0.1:0"); err == nil {
		t.Error("Start accepted an invalid config")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "default", cfg: DefaultConfig()},
		{name: "zero", cfg: Config{}},
		{name: "negative latency", cfg: Config{Latency: -1}, wantErr: true},
		{name: "negative gap", cfg: Config{ChunkGap: -1}, wantErr: true},
		{name: "negative chunks", cfg: Config{Chunks: -1}, wantErr: true},
		{name: "negative disconnect", cfg: Config{DisconnectAfter: -1}, wantErr: true},
		{name: "success error status", cfg: Config{ErrorStatus: 200}, wantErr: true},
		{name: "bad replay status", cfg: Config{ReplayStatus: 999}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}
