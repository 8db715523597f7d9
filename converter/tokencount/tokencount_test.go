package tokencount

import (
	"strings"
	"testing"
)

func TestEncodingFor(t *testing.T) {
	tests := []struct{ model, want string }{
		{"gpt-4o", "o200k_base"},
		{"gpt-4o-mini-2024-07-18", "o200k_base"},
		{"gpt-4-0613", "cl100k_base"},
		{"gpt-3.5-turbo", "cl100k_base"},
		{"claude-sonnet-4-5", DefaultEncoding},
		{"", DefaultEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			if got := EncodingFor(tt.model); got != tt.want {
				t.Errorf("EncodingFor(%q) = %q, want %q", tt.model, got, tt.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	c := New()
	tests := []struct {
		model, text string
		want        int
	}{
		// Reference counts from OpenAI's tokenizer.
		{"gpt-4o", "hello world", 2},
		{"gpt-4", "hello world", 2},
		{"gpt-4", "tiktoken is great!", 6},
		{"gpt-4o", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.text, func(t *testing.T) {
			got, err := c.Text(tt.model, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Text(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
			}
		})
	}
}

func TestAnthropicRequest(t *testing.T) {
	c := New()
	words := func(s string) int {
		n, err := c.Text("gpt-4o", s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	tests := []struct {
		name string
		body string
		want int
	}{
		{
			name: "one string message",
			body: `{"model":"m","messages":[{"role":"user","content":"hello world"}]}`,
			want: perMessage + words("user") + words("hello world") + replyPriming,
		},
		{
			name: "system blocks, tool use and result",
			body: `{"model":"m","system":[{"type":"text","text":"be brief"}],"messages":[
				{"role":"user","content":[{"type":"text","text":"weather?"}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"}]}]}`,
			want: perMessage + words("be brief") +
				3*perMessage + words("user") + words("weather?") +
				words("assistant") + words("get_weather") + words(`{"city":"Paris"}`) +
				words("user") + words("sunny") + replyPriming,
		},
		{
			name: "tools and an image",
			body: `{"model":"m","tools":[{"name":"f","description":"does f","input_schema":{"type":"object"}}],
				"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}`,
			want: perTool + words("f") + words("does f") + words(`{"type":"object"}`) +
				perMessage + words("user") + perImage + replyPriming,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.AnthropicRequest([]byte(tt.body), "claude-sonnet-4-5")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("AnthropicRequest = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAnthropicRequestInvalid(t *testing.T) {
	c := New()
	for _, body := range []string{``, `[]`, `{"messages":"x"}`, `{"model":"m"}`, `{"messages":[{"role":"user","content":7}]}`} {
		if n, err := c.AnthropicRequest([]byte(body), "m"); err == nil {
			t.Errorf("AnthropicRequest(%q) = %d, want an error", body, n)
		}
	}
}

func FuzzAnthropicRequest(f *testing.F) {
	f.Add(`{"messages":[{"role":"user","content":"hi"}]}`)
	f.Add(`{"system":"s","messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"text","text":"x"}]}]}],"tools":[{"name":"a","input_schema":{}}]}`)
	c := New()
	f.Fuzz(func(t *testing.T, body string) {
		n, err := c.AnthropicRequest([]byte(body), "claude")
		if err == nil && n < replyPriming+perMessage {
			t.Fatalf("count %d below the fixed minimum for %q", n, body)
		}
		if err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Fatal("empty error message")
		}
	})
}
