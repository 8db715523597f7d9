package mock

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/jsonx"
)

const testScript = `{"rules": [
  {"match": "run both tools", "tool_calls": [
    {"name": "Bash", "arguments": {"command": "echo hi"}},
    {"name": "Read", "arguments": {"file_path": "/tmp/x.txt"}}]},
  {"match": "say the word", "text": "the word"}
]}`

// writeScript writes a script file for one test and returns its path.
func writeScript(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScriptedAnswers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScriptFile = writeScript(t, testScript)
	s := startServer(t, cfg)

	const (
		anTools = `"tools":[{"name":"Bash","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}},` +
			`{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}]`
		oaTools = `"tools":[{"type":"function","function":{"name":"Bash","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}},` +
			`{"type":"function","function":{"name":"Read","parameters":{"type":"object","properties":{"file_path":{"type":"string"}}}}}]`
	)
	tests := []struct {
		name string
		path string
		body string
		// want lists the answer's text, or its calls as name+arguments.
		want []string
	}{
		{
			name: "anthropic scripted calls",
			path: "/v1/messages",
			body: `{"model":"m","max_tokens":100,` + anTools + `,"messages":[{"role":"user","content":[{"type":"text","text":"<reminder>"},{"type":"text","text":"please run both tools"}]}]}`,
			want: []string{`Bash{"command": "echo hi"}`, `Read{"file_path": "/tmp/x.txt"}`},
		},
		{
			name: "anthropic tools not declared: derived answer",
			path: "/v1/messages",
			body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"please run both tools"}]}`,
			want: []string{"Hello! You said: please run both tools"},
		},
		{
			name: "anthropic tool results answered as usual",
			path: "/v1/messages",
			body: `{"model":"m","max_tokens":100,` + anTools + `,"messages":[{"role":"user","content":"please run both tools"},` +
				`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"echo hi"}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"hi"}]}]}`,
			want: []string{"Tool results: hi"},
		},
		{
			name: "anthropic scripted text",
			path: "/v1/messages",
			body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"now say the word"}]}`,
			want: []string{"the word"},
		},
		{
			name: "anthropic scripted text with tools declared",
			path: "/v1/messages",
			body: `{"model":"m","max_tokens":100,` + anTools + `,"messages":[{"role":"user","content":"now say the word"}]}`,
			want: []string{"the word"},
		},
		{
			name: "openai trailing system message",
			path: "/v1/chat/completions",
			body: `{"model":"m",` + oaTools + `,"messages":[{"role":"user","content":"run both tools"},{"role":"system","content":"be brief"}]}`,
			want: []string{`Bash{"command": "echo hi"}`, `Read{"file_path": "/tmp/x.txt"}`},
		},
		{
			name: "openai scripted calls",
			path: "/v1/chat/completions",
			body: `{"model":"m",` + oaTools + `,"messages":[{"role":"user","content":"run both tools"}]}`,
			want: []string{`Bash{"command": "echo hi"}`, `Read{"file_path": "/tmp/x.txt"}`},
		},
		{
			name: "openai no match: derived calls",
			path: "/v1/chat/completions",
			body: `{"model":"m",` + oaTools + `,"messages":[{"role":"user","content":"something else"}]}`,
			want: []string{`Bash{"command":"value-command"}`, `Read{"file_path":"value-file_path"}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, s, tc.path, tc.body, nil)
			if resp.err != nil || resp.status != 200 {
				t.Fatalf("status %d, err %v: %s", resp.status, resp.err, resp.body)
			}
			got := answerParts(t, tc.path, resp.body)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// answerParts reads an answer's text, or its tool calls as name+arguments.
func answerParts(t *testing.T, path string, body []byte) []string {
	t.Helper()
	var parts []string
	if path == "/v1/messages" {
		var m struct {
			Content []struct {
				Type  string           `json:"type"`
				Text  string           `json:"text"`
				Name  string           `json:"name"`
				Input jsonx.RawMessage `json:"input"`
			} `json:"content"`
		}
		if err := jsonx.Unmarshal(body, &m); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		for _, b := range m.Content {
			if b.Type == "tool_use" {
				parts = append(parts, b.Name+string(b.Input))
			} else {
				parts = append(parts, b.Text)
			}
		}
		return parts
	}
	var c struct {
		Choices []struct {
			Message struct {
				Content   *string `json:"content"`
				ToolCalls []struct {
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := jsonx.Unmarshal(body, &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("decode %s: %v", body, err)
	}
	msg := c.Choices[0].Message
	if msg.Content != nil {
		parts = append(parts, *msg.Content)
	}
	for _, tc := range msg.ToolCalls {
		parts = append(parts, tc.Function.Name+tc.Function.Arguments)
	}
	return parts
}

func TestScriptErrors(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   string
	}{
		{name: "not JSON", script: `{"rules": [`, want: "decode script"},
		{name: "empty match", script: `{"rules":[{"text":"x"}]}`, want: "match is empty"},
		{name: "no answer", script: `{"rules":[{"match":"x"}]}`, want: "neither text nor tool_calls"},
		{name: "both answers", script: `{"rules":[{"match":"x","text":"y","tool_calls":[{"name":"f"}]}]}`, want: "both text and tool_calls"},
		{name: "call without name", script: `{"rules":[{"match":"x","tool_calls":[{}]}]}`, want: "has no name"},
		{name: "arguments not an object", script: `{"rules":[{"match":"x","tool_calls":[{"name":"f","arguments":[1]}]}]}`, want: "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseScript([]byte(tc.script))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestScriptFileMissing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScriptFile = filepath.Join(t.TempDir(), "missing.json")
	s := startServer(t, cfg)
	resp := post(t, s, "/v1/messages", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.status != 500 || !strings.Contains(string(resp.body), "read script") {
		t.Fatalf("status %d: %s; want 500 saying the script could not be read", resp.status, resp.body)
	}
}

// FuzzScript checks that any script the parser accepts yields well-formed
// answers.
func FuzzScript(f *testing.F) {
	f.Add([]byte(testScript))
	f.Add([]byte(`{"rules":[{"match":"a","tool_calls":[{"name":"f","arguments":{"x":"\u00e9"}}]}]}`))
	f.Add([]byte(`{"rules":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseScript(data)
		if err != nil {
			return
		}
		p := prompt{lastIsUser: true, userText: "a run both tools say the word"}
		for _, r := range s.Rules {
			for _, c := range r.ToolCalls {
				p.tools = append(p.tools, toolDecl{name: c.Name})
			}
		}
		p.script = s.match(&p)
		a := buildAnswer(&p, 3, 1, "toolu_")
		out := appendAnthropicJSON(nil, &a)
		var back map[string]jsonx.RawMessage
		if err := jsonx.Unmarshal(out, &back); err != nil {
			t.Fatalf("answer is not JSON: %v\n%s", err, out)
		}
	})
}

// Claude Code may end a request with a system turn (a mid-conversation
// system message); the model still answers the user's last turn.
func TestScriptAnthropicTrailingSystemTurn(t *testing.T) {
	cfg := Config{ScriptFile: writeScript(t, testScript)} // not strict: the system role is beta
	s := startServer(t, cfg)
	body := `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"now say the word"},` +
		`{"role":"system","content":[{"type":"text","text":"be brief"}]}]}`
	resp := post(t, s, "/v1/messages", body, nil)
	if resp.err != nil || resp.status != 200 {
		t.Fatalf("status %d, err %v: %s", resp.status, resp.err, resp.body)
	}
	if got := answerParts(t, "/v1/messages", resp.body); strings.Join(got, "\n") != "the word" {
		t.Fatalf("answer %q, want the scripted text", got)
	}
}
