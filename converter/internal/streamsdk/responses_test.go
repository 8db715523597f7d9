package streamsdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// The Responses answer translators' golden outputs are what a client of the
// gateway receives. These tests serve each of them over loopback HTTP to the
// official SDKs' clients, the way a user calls the API, and check that the
// SDKs accept them: every streamed event decodes, the openai-go
// accumulator reconstructs the final response from the events, and the
// result agrees with the terminal event. The converter's own golden test
// keeps the files equal to the translators' current output.

const responsesGolden = "../../testdata/responses"

// serve answers every request with body and the given content type.
func serve(t *testing.T, contentType string, body []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func goldenFiles(t *testing.T, pattern string, min int) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(responsesGolden, pattern))
	if err != nil {
		t.Fatal(err)
	}
	hub, _ := filepath.Glob(filepath.Join(responsesGolden, filepath.Dir(pattern), "hub", filepath.Base(pattern)))
	files = append(files, hub...)
	if len(files) < min {
		t.Fatalf("only %d files match %s", len(files), pattern)
	}
	return files
}

func openAIClient(url string) openai.Client {
	return openai.NewClient(option.WithBaseURL(url), option.WithAPIKey("test"), option.WithMaxRetries(0))
}

func TestResponsesStreamsAcceptedByOpenAISDK(t *testing.T) {
	files := append(goldenFiles(t, "stream/anthropic_to_responses/*.want.sse", 20),
		goldenFiles(t, "stream/responses_passthrough/*.want.sse", 3)...)
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, responsesGolden+"/stream/"), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			client := openAIClient(serve(t, "text/event-stream", body))
			stream := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "m"})
			var acc responses.ResponseAccumulator
			var terminal responses.ResponseStreamEventUnion
			var text strings.Builder
			n := 0
			for stream.Next() {
				ev := stream.Current()
				n++
				if ev.SequenceNumber != int64(n-1) && !strings.Contains(f, "passthrough") {
					t.Fatalf("event %d has sequence_number %d", n-1, ev.SequenceNumber)
				}
				var se responses.ResponsesServerEventUnion
				if err := json.Unmarshal([]byte(ev.RawJSON()), &se); err != nil {
					t.Fatalf("event %d as a server event: %v", n-1, err)
				}
				addErr := acc.AddEvent(se)
				if ev.Type == "error" {
					if addErr == nil {
						t.Fatal("the accumulator took an error event for data")
					}
					terminal = ev
					continue
				}
				if addErr != nil {
					t.Fatalf("accumulator refused event %d (%s): %v", n-1, ev.RawJSON(), addErr)
				}
				switch ev.Type {
				case "response.output_text.delta":
					text.WriteString(ev.Delta)
				case "response.completed", "response.incomplete", "response.failed":
					terminal = ev
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream error after %d events: %v", n, err)
			}
			switch terminal.Type {
			case "error":
				if terminal.Message == "" {
					t.Fatal("error event without message")
				}
				return
			case "response.failed":
				if terminal.Response.Error.Message == "" || terminal.Response.Status != responses.ResponseStatusFailed {
					t.Fatalf("response.failed without error: %s", terminal.RawJSON())
				}
			case "response.completed", "response.incomplete":
			default:
				t.Fatalf("no terminal event in %d events", n)
			}
			if acc.Snapshot().TerminalEvent != terminal.Type {
				t.Fatalf("accumulator ended at %q, stream at %q", acc.Snapshot().TerminalEvent, terminal.Type)
			}
			got, err := acc.ReconstructedResponse()
			if err != nil {
				t.Fatal(err)
			}
			final := terminal.Response
			if got.ID != final.ID || len(got.Output) != len(final.Output) || got.Status != final.Status {
				t.Fatalf("reconstructed %s, terminal %s", got.RawJSON(), final.RawJSON())
			}
			// A forwarded upstream may put its items only in the final
			// response; the gateway's own streams always send deltas.
			if terminal.Type != "response.failed" && (text.Len() > 0 || !strings.Contains(f, "passthrough")) {
				if final.OutputText() != text.String() || acc.Snapshot().OutputText() != text.String() {
					t.Errorf("output text %q, accumulated %q, deltas %q", final.OutputText(), acc.Snapshot().OutputText(), text.String())
				}
				if final.Usage.TotalTokens != final.Usage.InputTokens+final.Usage.OutputTokens {
					t.Errorf("usage %s", final.Usage.RawJSON())
				}
			}
			for i, item := range final.Output {
				switch item.Type {
				case "function_call":
					if item.CallID == "" || item.Name == "" || !strings.HasPrefix(item.ID, "fc_") && !strings.Contains(f, "passthrough") {
						t.Errorf("function_call %d: %s", i, item.RawJSON())
					}
				case "reasoning":
					if !item.JSON.EncryptedContent.Valid() {
						t.Errorf("reasoning %d without encrypted_content: %s", i, item.RawJSON())
					}
				}
			}
		})
	}
}

func TestResponsesJSONAcceptedByOpenAISDK(t *testing.T) {
	files := append(goldenFiles(t, "json/anthropic_to_responses/*.want.json", 20),
		goldenFiles(t, "json/responses_passthrough/*.want.json", 2)...)
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(body, []byte("error: ")) || !bytes.Contains(body, []byte(`"output"`)) {
			continue
		}
		t.Run(strings.TrimPrefix(f, responsesGolden+"/json/"), func(t *testing.T) {
			client := openAIClient(serve(t, "application/json", body))
			r, err := client.Responses.New(context.Background(), responses.ResponseNewParams{Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			if r.ID == "" || r.Object != "response" || !r.JSON.Usage.Valid() && !strings.Contains(f, "no_usage") {
				t.Fatalf("response %s", body)
			}
			if r.Status == responses.ResponseStatusIncomplete && r.IncompleteDetails.Reason == "" {
				t.Error("incomplete without a reason")
			}
			for i, item := range r.Output {
				if item.ID == "" {
					t.Errorf("item %d without id", i)
				}
				if item.Type == "message" {
					for _, c := range item.Content {
						if c.Type == "output_text" && !c.JSON.Annotations.Valid() {
							t.Errorf("output_text without annotations in item %d", i)
						}
					}
				}
			}
		})
	}
}

func TestResponsesToAnthropicAcceptedByAnthropicSDK(t *testing.T) {
	for _, f := range goldenFiles(t, "stream/responses_to_anthropic/*.want.sse", 8) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			client := anthropic.NewClient(aoption.WithBaseURL(serve(t, "text/event-stream", body)), aoption.WithAPIKey("test"), aoption.WithMaxRetries(0))
			stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{Model: "m", MaxTokens: 1})
			var msg anthropic.Message
			for stream.Next() {
				if err := msg.Accumulate(stream.Current()); err != nil {
					t.Fatalf("Accumulate: %v", err)
				}
			}
			failed := bytes.Contains(body, []byte("event: error\n"))
			if err := stream.Err(); (err != nil) != failed {
				t.Fatalf("stream error %v, error event in the stream: %v", err, failed)
			}
			if failed {
				return
			}
			if msg.StopReason == "" || msg.ID == "" {
				t.Fatalf("accumulated %s", msg.RawJSON())
			}
			for i, b := range msg.Content {
				if b.Type == "tool_use" && !json.Valid(b.Input) {
					t.Errorf("block %d input %s", i, b.Input)
				}
			}
		})
	}
	for _, f := range goldenFiles(t, "json/responses_to_anthropic/*.want.json", 8) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(body, []byte("error: ")) {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			client := anthropic.NewClient(aoption.WithBaseURL(serve(t, "application/json", body)), aoption.WithAPIKey("test"), aoption.WithMaxRetries(0))
			msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "m", MaxTokens: 1})
			if err != nil {
				t.Fatal(err)
			}
			if msg.StopReason == "" || !strings.HasPrefix(msg.ID, "msg_") {
				t.Fatalf("message %s", body)
			}
		})
	}
}
