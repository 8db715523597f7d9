package mock

import (
	"fmt"
	"os"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// A script replaces the derived answer of chosen requests with a written
// one, so that an end-to-end test can make the "model" ask a real agent for
// exactly the tool calls it wants (a shell command and a file read, say)
// and check the agent's final answer. The file is JSON:
//
//	{"rules": [
//	  {"match": "run the tools", "tool_calls": [
//	    {"name": "Bash", "arguments": {"command": "echo hi"}},
//	    {"name": "Read", "arguments": {"file_path": "/tmp/x.txt"}}]},
//	  {"match": "say the word", "text": "the word"},
//	  {"match": "patch it", "tool_calls": [{"name": "apply_patch", "input": "*** Begin Patch"}]}
//	]}
//
// A rule applies to a request whose last message is the user's own text
// (not a turn of tool results) and whose last user text contains match.
// The first rule that applies wins. A rule with tool_calls applies only when
// the request declares every tool it names, as a real model can call only
// declared tools; the calls are made in parallel, in the order written. A
// turn of tool results is answered as usual ("Tool results: ..."), so the
// agent's final answer quotes what its tools returned. A call of a Responses
// custom tool takes its free-form input from "input" instead of arguments.

// scriptFile is the JSON form of a script.
type scriptFile struct {
	Rules []scriptRule `json:"rules"`
}

// scriptRule is one rule of a script.
type scriptRule struct {
	Match     string       `json:"match"`
	Text      string       `json:"text"`
	ToolCalls []scriptCall `json:"tool_calls"`
}

// scriptCall is one tool call a rule makes.
type scriptCall struct {
	Name      string           `json:"name"`
	Arguments jsonx.RawMessage `json:"arguments"`
	// Input is the free-form input of a call to a Responses custom tool.
	Input *string `json:"input"`
}

// loadScript reads and checks a script file.
func loadScript(path string) (*scriptFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mock: read script: %w", err)
	}
	return parseScript(data)
}

// parseScript decodes and checks a script.
func parseScript(data []byte) (*scriptFile, error) {
	s := new(scriptFile)
	if err := jsonx.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("mock: decode script: %w", err)
	}
	for i, r := range s.Rules {
		switch {
		case r.Match == "":
			return nil, fmt.Errorf("mock: script rule %d: match is empty", i)
		case r.Text == "" && len(r.ToolCalls) == 0:
			return nil, fmt.Errorf("mock: script rule %d: neither text nor tool_calls", i)
		case r.Text != "" && len(r.ToolCalls) > 0:
			return nil, fmt.Errorf("mock: script rule %d: both text and tool_calls", i)
		}
		for j, c := range r.ToolCalls {
			if c.Name == "" {
				return nil, fmt.Errorf("mock: script rule %d: call %d has no name", i, j)
			}
			var obj map[string]jsonx.RawMessage
			if len(c.Arguments) > 0 && jsonx.Unmarshal(c.Arguments, &obj) != nil {
				return nil, fmt.Errorf("mock: script rule %d: call %d: arguments are not a JSON object", i, j)
			}
		}
	}
	return s, nil
}

// match returns the first rule that applies to p, or nil.
func (s *scriptFile) match(p *prompt) *scriptRule {
	if s == nil || !p.lastIsUser {
		return nil
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		if !strings.Contains(p.userText, r.Match) {
			continue
		}
		if declaresAll(p.tools, r.ToolCalls) {
			return r
		}
	}
	return nil
}

// declaresAll reports whether every call names a declared tool.
func declaresAll(tools []toolDecl, calls []scriptCall) bool {
	for _, c := range calls {
		found := false
		for _, t := range tools {
			if t.name == c.Name {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// arguments returns the call's arguments as the JSON text of an object, or
// a custom tool call's input.
func (c *scriptCall) arguments() string {
	if c.Input != nil {
		return *c.Input
	}
	if len(c.Arguments) == 0 {
		return "{}"
	}
	return string(c.Arguments)
}
