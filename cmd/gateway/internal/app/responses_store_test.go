package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// storedRoutes take Responses requests for an Anthropic upstream and for an
// OpenAI Chat one, under their own prefixes.
const storedRoutes = `
[[routes]]
path = "/stored/v1/responses"
input_format = "openai-responses"
upstream = "anthropic"

[[routes]]
path = "/stored-chat/v1/responses"
input_format = "openai-responses"
upstream = "openai"
`

// responsesUpstream is an upstream speaking the Responses API itself, with a
// route to it: the same format both sides, passed through.
const responsesUpstream = `
[[upstreams]]
name = "responses"
url = %q
format = "openai-responses"
first_byte_timeout = "2s"
idle_timeout = "2s"

[[routes]]
path = "/stored-same/v1/responses"
input_format = "openai-responses"
upstream = "responses"
`

// responsesClient is an openai-go client of the gateway's Responses routes
// under prefix, with key as its API key.
func (g *gateway) responsesClient(prefix, key string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(g.url+prefix+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	return &c
}

// upstreamBodyAt is the body of the last request the mock upstream got at
// path.
func upstreamBodyAt(t *testing.T, m *mock.Server, path string) string {
	t.Helper()
	reqs := m.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Path == path {
			return string(reqs[i].Body)
		}
	}
	t.Fatalf("the mock upstream got no request at %s", path)
	return ""
}

// apiStatus is the HTTP status of an openai-go error, or 0.
func apiStatus(err error) int {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// TestStoredResponsesChain runs a conversation of three turns through the
// gateway with the official SDK, each naming the previous response: the
// upstream is sent every earlier turn, input and output, and the latest
// instructions only. The second turn streams, so both ways of answering are
// stored.
func TestStoredResponsesChain(t *testing.T) {
	for _, tc := range []struct{ prefix, upstreamPath string }{
		{"/stored", "/v1/messages"},
		{"/stored-chat", "/v1/chat/completions"},
		{"/stored-same", "/v1/responses"},
		// /v1/responses served beside /v1/chat/completions.
		{"", "/v1/chat/completions"},
	} {
		t.Run(tc.prefix+"/v1/responses", func(t *testing.T) {
			m := startMock(t, mock.DefaultConfig())
			if tc.upstreamPath == "/v1/responses" {
			}
			g := startGatewayAt(t, m.URL(), m.URL(), storedRoutes+fmt.Sprintf(responsesUpstream, m.URL()), nil)
			g.mock = m
			c := g.responsesClient(tc.prefix, "client-key")
			ctx := context.Background()

			first, err := c.Responses.New(ctx, responses.ResponseNewParams{
				Model:        "claude-sonnet-4-5-20250929",
				Instructions: openai.String("answer like a pirate"),
				Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("first question about apples")},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(first.OutputText(), "apples") {
				t.Fatalf("first answer %q", first.OutputText())
			}

			stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{
				Model:              "claude-sonnet-4-5-20250929",
				Instructions:       openai.String("answer like a poet"),
				PreviousResponseID: openai.String(first.ID),
				Input:              responses.ResponseNewParamsInputUnion{OfString: openai.String("second question about pears")},
			})
			var secondID string
			for stream.Next() {
				if ev := stream.Current(); ev.Type == "response.completed" {
					secondID = ev.Response.ID
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if secondID == "" || secondID == first.ID {
				t.Fatalf("second response id %q (first %q)", secondID, first.ID)
			}
			sent := upstreamBodyAt(t, g.mock, tc.upstreamPath)
			for _, want := range []string{"first question about apples", first.OutputText(), "second question about pears", "answer like a poet"} {
				if !strings.Contains(sent, want) {
					t.Errorf("second turn's upstream request lacks %q:\n%s", want, sent)
				}
			}
			if strings.Contains(sent, "pirate") || strings.Contains(sent, "previous_response_id") {
				t.Errorf("second turn's upstream request carries the first turn's instructions or the id:\n%s", sent)
			}

			third, err := c.Responses.New(ctx, responses.ResponseNewParams{
				Model:              "claude-sonnet-4-5-20250929",
				PreviousResponseID: openai.String(secondID),
				Input:              responses.ResponseNewParamsInputUnion{OfString: openai.String("third question about plums")},
			})
			if err != nil {
				t.Fatal(err)
			}
			sent = upstreamBodyAt(t, g.mock, tc.upstreamPath)
			for _, want := range []string{"apples", "pears", "plums"} {
				if !strings.Contains(sent, want) {
					t.Errorf("third turn's upstream request lacks %q:\n%s", want, sent)
				}
			}

			got, err := c.Responses.Get(ctx, third.ID, responses.ResponseGetParams{})
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != third.ID || got.OutputText() != third.OutputText() {
				t.Errorf("GET returned %s %q, want %s %q", got.ID, got.OutputText(), third.ID, third.OutputText())
			}
			items, err := c.Responses.InputItems.List(ctx, third.ID, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
			if err != nil {
				t.Fatal(err)
			}
			// Three user messages and two answers.
			if len(items.Data) != 5 || items.HasMore {
				t.Fatalf("input items: %d (has_more %v), want 5", len(items.Data), items.HasMore)
			}
			if raw := items.Data[4].RawJSON(); !strings.Contains(raw, "third question about plums") || items.Data[4].Role != "user" {
				t.Errorf("last input item %s", raw)
			}
			page, err := c.Responses.InputItems.List(ctx, third.ID, responses.InputItemListParams{Limit: openai.Int(2)})
			if err != nil || len(page.Data) != 2 || !page.HasMore || !strings.Contains(page.Data[0].RawJSON(), "third question about plums") {
				t.Errorf("newest-first page of 2: %+v, %v", page, err)
			}

			if err := c.Responses.Delete(ctx, first.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Responses.Get(ctx, first.ID, responses.ResponseGetParams{}); apiStatus(err) != http.StatusNotFound {
				t.Errorf("GET after DELETE: %v, want 404", err)
			}
			if err := c.Responses.Delete(ctx, first.ID); apiStatus(err) != http.StatusNotFound {
				t.Errorf("second DELETE: %v, want 404", err)
			}
			// The later turns hold the whole conversation: deleting the first
			// breaks nothing after it.
			if _, err := c.Responses.New(ctx, responses.ResponseNewParams{
				Model:              "claude-sonnet-4-5-20250929",
				PreviousResponseID: openai.String(secondID),
				Input:              responses.ResponseNewParamsInputUnion{OfString: openai.String("again")},
			}); err != nil {
				t.Errorf("continuing the second turn after the first was deleted: %v", err)
			}
		})
	}
}

// TestStoreFalseKeepsNothing sends store:false, as Codex does: the answer is
// not kept, and neither GET nor a follow-up finds it.
func TestStoreFalseKeepsNothing(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), storedRoutes, nil)
	c := g.responsesClient("/stored", "client-key")
	ctx := context.Background()
	resp, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model: "claude-sonnet-4-5-20250929",
		Store: openai.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("keep nothing")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Responses.Get(ctx, resp.ID, responses.ResponseGetParams{}); apiStatus(err) != http.StatusNotFound {
		t.Errorf("GET of a store:false response: %v, want 404", err)
	}
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{
		Model:              "claude-sonnet-4-5-20250929",
		PreviousResponseID: openai.String(resp.ID),
		Input:              responses.ResponseNewParamsInputUnion{OfString: openai.String("next")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Param != "previous_response_id" ||
		apiErr.Type != "invalid_request_error" || apiErr.Code != "previous_response_not_found" {
		t.Fatalf("follow-up of a store:false response: %v, want 404 naming previous_response_id", err)
	}
}

// TestStoredResponsesAreScopedByKey stores a response with one key: another
// key can neither read, delete, list nor continue it, and its owner still
// can.
func TestStoredResponsesAreScopedByKey(t *testing.T) {
	keys := newTestKeys(t, "alice", "bob")
	g := startGateway(t, mock.DefaultConfig(), storedRoutes+accessTOML("closed", keyTOML("alice"), keyTOML("bob")), keys.env)
	alice := g.responsesClient("/stored", keys.plain["alice"])
	bob := g.responsesClient("/stored", keys.plain["bob"])
	ctx := context.Background()
	resp, err := alice.Responses.New(ctx, responses.ResponseNewParams{
		Model: "claude-sonnet-4-5-20250929",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("alice's secret")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Responses.Get(ctx, resp.ID, responses.ResponseGetParams{}); apiStatus(err) != http.StatusNotFound {
		t.Errorf("bob's GET: %v, want 404", err)
	}
	if _, err := bob.Responses.InputItems.List(ctx, resp.ID, responses.InputItemListParams{}); apiStatus(err) != http.StatusNotFound {
		t.Errorf("bob's input items: %v, want 404", err)
	}
	if err := bob.Responses.Delete(ctx, resp.ID); apiStatus(err) != http.StatusNotFound {
		t.Errorf("bob's DELETE: %v, want 404", err)
	}
	_, err = bob.Responses.New(ctx, responses.ResponseNewParams{
		Model:              "claude-sonnet-4-5-20250929",
		PreviousResponseID: openai.String(resp.ID),
		Input:              responses.ResponseNewParamsInputUnion{OfString: openai.String("what did she say?")},
	})
	if apiStatus(err) != http.StatusNotFound {
		t.Errorf("bob continuing alice's response: %v, want 404", err)
	}
	if strings.Contains(upstreamBodyAt(t, g.mock, "/v1/messages"), "what did she say") {
		t.Error("bob's follow-up reached the upstream")
	}
	if _, err := alice.Responses.Get(ctx, resp.ID, responses.ResponseGetParams{}); err != nil {
		t.Errorf("alice's GET: %v", err)
	}
	noKey := g.responsesClient("/stored", "")
	if _, err := noKey.Responses.Get(ctx, resp.ID, responses.ResponseGetParams{}); apiStatus(err) != http.StatusUnauthorized {
		t.Errorf("GET without a key: %v, want 401", err)
	}
}

// TestStoredResponseEndpointsRefuseOtherMethods checks the methods and the
// store switch of the stored-response endpoints.
func TestStoredResponseEndpointsRefuseOtherMethods(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), storedRoutes, nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/stored/v1/responses/resp_1", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/stored/v1/responses/resp_1/input_items", http.StatusMethodNotAllowed},
		{http.MethodGet, "/stored/v1/responses/resp_unknown", http.StatusNotFound},
		{http.MethodGet, "/stored/v1/responses/resp_unknown/input_items?limit=0", http.StatusBadRequest},
		{http.MethodGet, "/stored/v1/responses/resp_unknown/input_items?order=sideways", http.StatusBadRequest},
	} {
		req, err := http.NewRequest(tc.method, g.url+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}

	off := startGateway(t, mock.DefaultConfig(), storedRoutes+"\n[responses]\nstore = false\n", nil)
	c := off.responsesClient("/stored", "client-key")
	resp, err := c.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "claude-sonnet-4-5-20250929",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Responses.Get(context.Background(), resp.ID, responses.ResponseGetParams{}); apiStatus(err) != http.StatusNotFound {
		t.Errorf("GET with the store off: %v, want 404", err)
	}
}
