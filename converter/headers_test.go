package converter

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aigateway/gateway/converter/format"
)

func TestTranslateResponseHeaders(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		from, to format.Format
		in       map[string]string
		want     []Header
	}{
		{
			name: "anthropic to openai",
			from: format.Anthropic, to: format.OpenAIChat,
			in: map[string]string{
				"request-id":                                  "req_011CAbc",
				"anthropic-ratelimit-requests-limit":          "4000",
				"anthropic-ratelimit-requests-remaining":      "3999",
				"anthropic-ratelimit-requests-reset":          "2026-01-02T03:04:06Z",
				"anthropic-ratelimit-tokens-limit":            "400000",
				"anthropic-ratelimit-tokens-remaining":        "399000",
				"anthropic-ratelimit-tokens-reset":            "2026-01-02T03:10:05.120Z",
				"anthropic-ratelimit-input-tokens-limit":      "200000",
				"anthropic-ratelimit-output-tokens-remaining": "80000",
				"retry-after":  "7",
				"content-type": "application/json",
			},
			want: []Header{
				{"x-request-id", "req_011CAbc"},
				{"x-ratelimit-limit-requests", "4000"},
				{"x-ratelimit-remaining-requests", "3999"},
				{"x-ratelimit-reset-requests", "1s"},
				{"x-ratelimit-limit-tokens", "400000"},
				{"x-ratelimit-remaining-tokens", "399000"},
				{"x-ratelimit-reset-tokens", "6m0.12s"},
				{"retry-after", "7"},
			},
		},
		{
			name: "anthropic reset in the past is 0s, bad reset dropped",
			from: format.Anthropic, to: format.OpenAIChat,
			in: map[string]string{
				"anthropic-ratelimit-requests-reset": "2025-12-31T00:00:00Z",
				"anthropic-ratelimit-tokens-reset":   "soon",
			},
			want: []Header{{"x-ratelimit-reset-requests", "0s"}},
		},
		{
			name: "openai to anthropic",
			from: format.OpenAIChat, to: format.Anthropic,
			in: map[string]string{
				"x-request-id":                   "req_abc123",
				"x-ratelimit-limit-requests":     "10000",
				"x-ratelimit-remaining-requests": "9999",
				"x-ratelimit-reset-requests":     "6ms",
				"x-ratelimit-limit-tokens":       "30000000",
				"x-ratelimit-remaining-tokens":   "29999990",
				"x-ratelimit-reset-tokens":       "6m0s",
				"retry-after-ms":                 "250",
				"x-should-retry":                 "false",
				"openai-processing-ms":           "321",
			},
			want: []Header{
				{"request-id", "req_abc123"},
				{"anthropic-ratelimit-requests-limit", "10000"},
				{"anthropic-ratelimit-requests-remaining", "9999"},
				{"anthropic-ratelimit-requests-reset", "2026-01-02T03:04:06Z"},
				{"anthropic-ratelimit-tokens-limit", "30000000"},
				{"anthropic-ratelimit-tokens-remaining", "29999990"},
				{"anthropic-ratelimit-tokens-reset", "2026-01-02T03:10:05Z"},
				{"retry-after-ms", "250"},
				{"x-should-retry", "false"},
			},
		},
		{
			name: "openai bare seconds and garbage reset",
			from: format.OpenAIChat, to: format.Anthropic,
			in: map[string]string{
				"x-ratelimit-reset-requests": "2.5",
				"x-ratelimit-reset-tokens":   "later",
			},
			want: []Header{{"anthropic-ratelimit-requests-reset", "2026-01-02T03:04:08Z"}},
		},
		{
			name: "openai to openai passes through",
			from: format.OpenAIChat, to: format.OpenAIChat,
			in: map[string]string{
				"x-request-id":             "req_1",
				"x-ratelimit-reset-tokens": "120ms",
				"retry-after":              "3",
				"request-id":               "ignored",
			},
			want: []Header{
				{"x-request-id", "req_1"},
				{"x-ratelimit-reset-tokens", "120ms"},
				{"retry-after", "3"},
			},
		},
		{
			name: "anthropic to anthropic passes through with input/output splits",
			from: format.Anthropic, to: format.Anthropic,
			in: map[string]string{
				"request-id":                              "req_2",
				"anthropic-ratelimit-tokens-reset":        "2026-01-02T03:05:00Z",
				"anthropic-ratelimit-input-tokens-limit":  "100",
				"anthropic-ratelimit-output-tokens-limit": "50",
				"x-should-retry":                          "true",
				"x-request-id":                            "ignored",
			},
			want: []Header{
				{"request-id", "req_2"},
				{"anthropic-ratelimit-tokens-reset", "2026-01-02T03:05:00Z"},
				{"anthropic-ratelimit-input-tokens-limit", "100"},
				{"anthropic-ratelimit-output-tokens-limit", "50"},
				{"x-should-retry", "true"},
			},
		},
		{
			name: "nothing to pass",
			from: format.OpenAIChat, to: format.Anthropic,
			in:   map[string]string{"content-type": "application/json"},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.in {
				h.Set(k, v)
			}
			got := TranslateResponseHeaders(tt.from, tt.to, httpHeader(h), now, nil)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestTranslateResponseHeadersAppends(t *testing.T) {
	h := http.Header{}
	h.Set("x-request-id", "r")
	dst := []Header{{"x-existing", "1"}}
	got := TranslateResponseHeaders(format.OpenAIChat, format.Anthropic, httpHeader(h), time.Now(), dst)
	want := []Header{{"x-existing", "1"}, {"request-id", "r"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// httpHeader looks headers up in an http.Header.
func httpHeader(h http.Header) HeaderLookup {
	return func(name string) string { return h.Get(name) }
}
