package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// TestResponsesRoutes drives POST /v1/responses with the official OpenAI SDK
// through both ways a Responses client reaches an upstream of another
// format: /v1/responses, served beside /v1/chat/completions by the OpenAI
// Chat upstream (composed through the Anthropic hub), and
// /x-anthropic/v1/responses, beside a route of the Anthropic upstream (one
// direct translation). Each is asked plainly and streamed.
func TestResponsesRoutes(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	tests := []struct {
		name, base, upstreamPath string
	}{
		{"chat upstream through the hub", "/v1/", "/v1/chat/completions"},
		{"anthropic upstream", toAnthropicUpstream + "/v1/", "/v1/messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			client := openai.NewClient(option.WithBaseURL(g.url+tt.base), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
			params := responses.ResponseNewParams{
				Model:           "gpt-4o",
				Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello")},
				MaxOutputTokens: openai.Int(64),
				Store:           openai.Bool(false),
			}
			resp, err := client.Responses.New(ctx, params)
			if err != nil {
				t.Fatalf("non-streaming: %v", err)
			}
			up := g.mock.Requests()
			if last := up[len(up)-1]; last.Path != tt.upstreamPath {
				t.Errorf("upstream called at %s, want %s", last.Path, tt.upstreamPath)
			}
			if resp.Status != "completed" || strings.TrimSpace(resp.OutputText()) == "" || resp.Usage.InputTokens == 0 || resp.Usage.OutputTokens == 0 {
				t.Errorf("non-streaming answer: status %q, text %q, usage %+v", resp.Status, resp.OutputText(), resp.Usage)
			}

			stream := client.Responses.NewStreaming(ctx, params)
			var text strings.Builder
			var completed *responses.Response
			for stream.Next() {
				ev := stream.Current()
				switch ev.Type {
				case "response.output_text.delta":
					text.WriteString(ev.Delta)
				case "response.completed":
					r := ev.AsResponseCompleted().Response
					completed = &r
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("streaming: %v", err)
			}
			_ = stream.Close()
			if completed == nil {
				t.Fatal("the stream has no response.completed event")
			}
			if text.String() == "" || completed.OutputText() != text.String() || completed.Usage.OutputTokens == 0 {
				t.Errorf("streamed text %q, completed text %q, usage %+v", text.String(), completed.OutputText(), completed.Usage)
			}
		})
	}
}

// TestResponsesRouteErrors checks that a bad Responses request is refused at
// the edge in OpenAI's error shape, on a configured and a derived path.
func TestResponsesRouteErrors(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	for _, base := range []string{"/v1/", toAnthropicUpstream + "/v1/"} {
		client := openai.NewClient(option.WithBaseURL(g.url+base), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
		_, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
			Model: "gpt-4o",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
		}, option.WithJSONSet("stream", "yes"))
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != http.StatusBadRequest || oe.Type != "invalid_request_error" || oe.Param != "stream" {
			t.Errorf("%s: a non-boolean stream gave %v, want a 400 naming stream", base, err)
		}
	}
}
