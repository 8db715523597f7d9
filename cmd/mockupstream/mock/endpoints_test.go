package mock

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
)

func TestModelsWithSDKs(t *testing.T) {
	s := startServer(t, DefaultConfig())
	ctx := context.Background()

	oc := openAIClient(t, s)
	page, err := oc.Models.List(ctx)
	if err != nil {
		t.Fatalf("openai Models.List: %v", err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.Created == 0 || m.OwnedBy == "" {
			t.Errorf("openai model %+v lacks fields", m)
		}
	}
	if !slices.Equal(ids, []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}) {
		t.Errorf("openai models = %v", ids)
	}
	if m, err := oc.Models.Get(ctx, "gpt-4o"); err != nil || m.ID != "gpt-4o" {
		t.Errorf("openai Models.Get = %+v, %v", m, err)
	}
	if _, err := oc.Models.Get(ctx, "nope"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("openai Models.Get(nope) err = %v, want 404", err)
	}

	ac := anthropicClient(t, s)
	first, err := ac.Models.List(ctx, anthropic.ModelListParams{Limit: anthropic.Int(2)})
	if err != nil {
		t.Fatalf("anthropic Models.List: %v", err)
	}
	if len(first.Data) != 2 || !first.HasMore || first.FirstID != anthropicModels[0].id || first.LastID != anthropicModels[1].id {
		t.Errorf("anthropic first page = %+v", first)
	}
	var all []string
	iter := ac.Models.ListAutoPaging(ctx, anthropic.ModelListParams{Limit: anthropic.Int(2)})
	for iter.Next() {
		m := iter.Current()
		all = append(all, m.ID)
		if m.DisplayName == "" || m.CreatedAt.IsZero() {
			t.Errorf("anthropic model %+v lacks fields", m)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("anthropic auto-paging: %v", err)
	}
	if len(all) != len(anthropicModels) {
		t.Errorf("anthropic models over all pages = %v", all)
	}
	if m, err := ac.Models.Get(ctx, anthropicModels[1].id, anthropic.ModelGetParams{}); err != nil || m.DisplayName != anthropicModels[1].displayName {
		t.Errorf("anthropic Models.Get = %+v, %v", m, err)
	}
}

func TestCountTokensWithSDK(t *testing.T) {
	s := startServer(t, DefaultConfig())
	ac := anthropicClient(t, s)
	n, err := ac.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    anthropic.ModelClaudeSonnet4_5,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("How many tokens is this?"))},
	})
	if err != nil {
		t.Fatalf("CountTokens: %v", err)
	}
	if n.InputTokens < 1 {
		t.Errorf("input_tokens = %d", n.InputTokens)
	}
}

func TestEmbeddingsWithSDK(t *testing.T) {
	s := startServer(t, DefaultConfig())
	oc := openAIClient(t, s)
	ctx := context.Background()
	tests := []struct {
		name   string
		params openai.EmbeddingNewParams
		count  int
		dims   int
	}{
		{"one string", openai.EmbeddingNewParams{Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}}, 1, DefaultEmbeddingDimensions},
		{"strings with dimensions", openai.EmbeddingNewParams{Model: "text-embedding-3-small", Dimensions: openai.Int(4),
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b", "a"}}}, 3, 4},
		{"tokens", openai.EmbeddingNewParams{Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2, 3}}}, 1, DefaultEmbeddingDimensions},
		{"base64", openai.EmbeddingNewParams{Model: "text-embedding-3-small", EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}}, 1, DefaultEmbeddingDimensions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := oc.Embeddings.New(ctx, tt.params)
			if err != nil {
				t.Fatalf("Embeddings.New: %v", err)
			}
			if len(res.Data) != tt.count {
				t.Fatalf("got %d embeddings, want %d", len(res.Data), tt.count)
			}
			for i, d := range res.Data {
				if int(d.Index) != i || (tt.params.EncodingFormat == "" && len(d.Embedding) != tt.dims) {
					t.Errorf("embedding %d: index %d, %d dimensions", i, d.Index, len(d.Embedding))
				}
			}
			if res.Usage.PromptTokens < 1 {
				t.Errorf("usage = %+v", res.Usage)
			}
		})
	}
	if res, err := oc.Embeddings.New(ctx, tests[1].params); err == nil && !slices.Equal(res.Data[0].Embedding, res.Data[2].Embedding) {
		t.Error("equal inputs got different vectors")
	}
}

func TestEndpointErrors(t *testing.T) {
	s := startServer(t, DefaultConfig())
	tests := []struct {
		name, path, body string
		header           map[string]string
		status           int
		want             string
	}{
		{"embeddings without input", "/v1/embeddings", `{"model":"m"}`, nil, 400, `"param":"input"`},
		{"count tokens without model", "/v1/messages/count_tokens", `{"messages":[{"role":"user","content":"x"}]}`, map[string]string{"anthropic-version": "2023-06-01"}, 400, "model: Field required"},
		{"embeddings on anthropic", "/v1/embeddings", `{}`, map[string]string{"x-api-key": "k"}, 404, "not_found_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, s, tt.path, tt.body, tt.header)
			if r.status != tt.status || !strings.Contains(string(r.body), tt.want) {
				t.Errorf("status %d body %s, want %d with %q", r.status, r.body, tt.status, tt.want)
			}
		})
	}
}

// isStatus reports whether err is an SDK error with the given HTTP status.
func isStatus(err error, status int) bool {
	var oe *openai.Error
	if errors.As(err, &oe) {
		return oe.StatusCode == status
	}
	var ae *anthropic.Error
	return errors.As(err, &ae) && ae.StatusCode == status
}
