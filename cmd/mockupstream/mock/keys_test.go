package mock

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
)

// TestKeysSeenRevokedAndLimited checks the per-key behaviour gateway tests
// script: which key each request carried, a revoked key's 401, and a key's
// own request limit in the remaining-requests header.
func TestKeysSeenRevokedAndLimited(t *testing.T) {
	s := startServer(t, Config{
		Chunks:           2,
		RevokedKeys:      []string{"sk-revoked"},
		KeyRequestLimits: map[string]int{"sk-limited": 10, "sk-ant-limited": 5},
	})
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}

	var resp *http.Response
	for range 3 {
		c := openAIClient(t, s, ooption.WithAPIKey("sk-limited"))
		if _, err := c.Chat.Completions.New(ctx, params, ooption.WithResponseInto(&resp)); err != nil {
			t.Fatal(err)
		}
	}
	if got := resp.Header.Get("X-Ratelimit-Remaining-Requests"); got != "7" {
		t.Errorf("remaining requests after 3 of 10 = %q, want 7", got)
	}
	ac := anthropicClient(t, s, aoption.WithAPIKey("sk-ant-limited"))
	if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}},
		aoption.WithResponseInto(&resp)); err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Anthropic-Ratelimit-Requests-Remaining"); got != "4" {
		t.Errorf("anthropic remaining requests after 1 of 5 = %q, want 4", got)
	}

	c := openAIClient(t, s, ooption.WithAPIKey("sk-revoked"))
	_, err := c.Chat.Completions.New(ctx, params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked key: %v, want a 401", err)
	}

	use := s.KeyUse()
	if use["sk-limited"] != 3 || use["sk-ant-limited"] != 1 || use["sk-revoked"] != 1 {
		t.Errorf("KeyUse = %v", use)
	}
}
