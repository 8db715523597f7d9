package app

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/converter/jsonx"
)

// claudeCodeBeta is the anthropic-beta header of a current Claude Code turn.
const claudeCodeBeta = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,mid-conversation-system-2026-04-07"

// TestClaudeCodeRequests sends what current Claude Code sends, on the path
// it uses (?beta=true) with its beta header, to both kinds of upstream: a
// system turn among the messages, adaptive thinking, effort,
// context_management, cache_control everywhere and a tool schema with
// $schema, propertyNames, anyOf/const and exclusiveMinimum. Every request
// is answered, and the mock upstream, which checks what the providers check,
// accepts what the gateway sends.
func TestClaudeCodeRequests(t *testing.T) {
	body, err := os.ReadFile(fixtureRequest("anthropic_to_openai", "claude_code_request_accepted"))
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, mock.DefaultConfig(), "", nil)

	t.Run("HEAD / answers 200", func(t *testing.T) {
		resp, err := http.Head(g.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("HEAD / = %d, want 200", resp.StatusCode)
		}
	})
	for _, prefix := range []string{toOpenAIUpstream, ""} {
		t.Run("upstream via "+cmpPrefix(prefix), func(t *testing.T) {
			resp, answer := g.post(prefix+"/v1/messages?beta=true", string(body),
				"anthropic-version", "2023-06-01", "anthropic-beta", claudeCodeBeta)
			text := string(answer)
			if resp.StatusCode != 200 || !strings.Contains(text, "event: message_stop") || strings.Contains(text, "event: error") {
				t.Fatalf("status %d, want a complete stream:\n%s", resp.StatusCode, text)
			}
			up := lastUpstreamBody(t, g)
			if prefix == "" {
				// Same format: the turn, and the header, pass through.
				if !strings.Contains(string(up), `"role": "system", "content": "Plan mode is off."`) &&
					!strings.Contains(string(up), `{"role": "system", "content": "Plan mode is off."}`) {
					t.Errorf("the system turn did not pass through:\n%s", up)
				}
				if h := g.mock.Requests()[len(g.mock.Requests())-1].Header.Get("anthropic-beta"); h != claudeCodeBeta {
					t.Errorf("anthropic-beta upstream = %q, want %q", h, claudeCodeBeta)
				}
				return
			}
			var req struct {
				Messages []struct {
					Role    string           `json:"role"`
					Content jsonx.RawMessage `json:"content"`
				} `json:"messages"`
			}
			if err := jsonx.Unmarshal(up, &req); err != nil {
				t.Fatal(err)
			}
			last := req.Messages[len(req.Messages)-1]
			if last.Role != "system" || string(last.Content) != `"Plan mode is off."` {
				t.Errorf("last upstream message %s %s, want the system turn in place", last.Role, last.Content)
			}
		})
	}
}

func cmpPrefix(p string) string {
	if p == "" {
		return "same format"
	}
	return p
}

// fixtureRequest is the path of a converter golden request case.
func fixtureRequest(dir, name string) string {
	return filepath.Join(filepath.Dir(fixture("")), "request", dir, name+".in.json")
}
