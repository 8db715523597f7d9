package converter

import (
	encjson "encoding/json"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
)

// Structural rules the upstream APIs enforce (docs/conversion.md, "OpenAI → Anthropic"), checked on
// every translated request the tests produce.

// checkAnthropicInvariants enforces: no empty text blocks or messages
// (pitfall 1); every tool_use answered by a tool_result in the very next
// user turn, with the results first (pitfall 2); tool ids matching
// ^[a-zA-Z0-9_-]+$ (pitfall 9); tool blocks only with tools declared
// (pitfall 10); no temperature with top_p (pitfall 7); thinking budget below
// max_tokens and not with a forced tool (pitfall 8).
func checkAnthropicInvariants(t *testing.T, body []byte) {
	t.Helper()
	var r anRequest
	if err := encjson.Unmarshal(body, &r); err != nil {
		t.Fatalf("not an Anthropic request: %v", err)
	}
	if r.Temperature != nil && r.TopP != nil {
		t.Error("temperature and top_p both set")
	}
	if r.Thinking != nil && r.Thinking.Type == "adaptive" {
		if r.Thinking.BudgetTokens != 0 {
			t.Errorf("adaptive thinking with a budget of %d", r.Thinking.BudgetTokens)
		}
	} else if r.Thinking != nil {
		if r.Thinking.BudgetTokens < 1024 || r.Thinking.BudgetTokens >= r.MaxTokens {
			t.Errorf("thinking budget %d with max_tokens %d", r.Thinking.BudgetTokens, r.MaxTokens)
		}
		if r.ToolChoice != nil && (r.ToolChoice.Type == "any" || r.ToolChoice.Type == "tool") {
			t.Error("thinking with a forced tool")
		}
	}
	var pending map[string]bool
	hasToolBlocks := false
	for i, m := range r.Messages {
		var blocks []anBlock
		if err := encjson.Unmarshal(m.Content, &blocks); err != nil {
			t.Fatalf("messages[%d].content is not a block array: %v", i, err)
		}
		if len(blocks) == 0 {
			t.Errorf("messages[%d] is empty", i)
		}
		if i > 0 && r.Messages[i-1].Role == m.Role {
			t.Errorf("messages[%d] repeats role %s", i, m.Role)
		}
		seenOther := false
		for j, b := range blocks {
			switch b.Type {
			case "text":
				if strings.TrimSpace(b.Text) == "" {
					t.Errorf("messages[%d].content[%d] is a blank text block", i, j)
				}
				seenOther = true
			case "tool_use":
				hasToolBlocks = true
				checkToolID(t, b.ID)
			case "tool_result":
				hasToolBlocks = true
				checkToolID(t, b.ToolUseID)
				if seenOther {
					t.Errorf("messages[%d]: tool_result after other content", i)
				}
				if pending != nil && !pending[b.ToolUseID] {
					t.Errorf("messages[%d]: tool_result %s answers no pending tool_use", i, b.ToolUseID)
				}
				delete(pending, b.ToolUseID)
			default:
				seenOther = true
			}
		}
		if m.Role == "user" && len(pending) > 0 {
			t.Errorf("messages[%d]: tool_use ids %v not answered in the next turn", i, pending)
		}
		pending = nil
		if m.Role == "assistant" {
			for _, b := range blocks {
				if b.Type == "tool_use" {
					if pending == nil {
						pending = map[string]bool{}
					}
					pending[b.ID] = true
				}
			}
		}
	}
	if hasToolBlocks && len(r.Tools) == 0 {
		t.Error("tool blocks without tools")
	}
}

func checkToolID(t *testing.T, id string) {
	t.Helper()
	if id == "" {
		t.Error("empty tool id")
	}
	for i := 0; i < len(id); i++ {
		if !isIDChar(id[i]) {
			t.Errorf("tool id %q has invalid byte %q", id, id[i])
			return
		}
	}
}

// checkOpenAIInvariants enforces: the tool messages answering an assistant's
// tool_calls follow it directly, one per call id, no duplicates (pitfall 6),
// and tool messages carry string content.
func checkOpenAIInvariants(t *testing.T, body []byte) {
	t.Helper()
	var r oaRequest
	if err := encjson.Unmarshal(body, &r); err != nil {
		t.Fatalf("not an OpenAI request: %v", err)
	}
	var pending map[string]bool
	for i, m := range r.Messages {
		if m.Role == "tool" {
			if !pending[m.ToolCallID] {
				t.Errorf("messages[%d]: tool message %q answers no pending call", i, m.ToolCallID)
			}
			delete(pending, m.ToolCallID)
			if len(m.Content) == 0 || m.Content[0] != '"' {
				t.Errorf("messages[%d]: tool content is not a string: %s", i, m.Content)
			}
			continue
		}
		if len(pending) > 0 {
			t.Errorf("messages[%d]: calls %v not answered before the next message", i, pending)
		}
		pending = nil
		for _, tc := range m.ToolCalls {
			if pending == nil {
				pending = map[string]bool{}
			}
			pending[tc.ID] = true
			if !encjson.Valid([]byte(tc.Function.Arguments)) {
				t.Errorf("messages[%d]: arguments %q are not JSON", i, tc.Function.Arguments)
			}
		}
	}
}

// TestGoldenOutputsKeepInvariants applies the checks to every successful
// golden translation.
func TestGoldenOutputsKeepInvariants(t *testing.T) {
	for _, d := range requestDirs[:2] {
		for _, name := range requestCases(t, d.dir) {
			t.Run(d.dir+"/"+name, func(t *testing.T) {
				in, opts := readCase(t, d.dir, name)
				if opts.Intermediate {
					return // a hub body for another OpenAI format, never sent to Anthropic
				}
				out, err := TranslateRequest(d.from, d.to, in, opts)
				if err != nil {
					return // error cases are covered by their .err.json
				}
				if d.to == format.Anthropic {
					checkAnthropicInvariants(t, out)
				} else {
					checkOpenAIInvariants(t, out)
				}
			})
		}
	}
}
