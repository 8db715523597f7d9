package converter

import (
	"bytes"
	encjson "encoding/json"
	"testing"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/converter/sse"
)

func TestAppendErrorBody(t *testing.T) {
	tests := []struct {
		name string
		f    format.Format
		e    *Error
		want string
	}{
		{
			name: "openai with param",
			f:    format.OpenAIChat,
			e:    InvalidParam("temperature", "too hot"),
			want: `{"error":{"message":"too hot","type":"invalid_request_error","param":"temperature","code":null}}`,
		},
		{
			name: "openai code override",
			f:    format.OpenAIChat,
			e:    &Error{Kind: KindRateLimited, Message: "slow down", Code: "tokens_per_minute"},
			want: `{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"tokens_per_minute"}}`,
		},
		{
			name: "anthropic prefixes the param and adds request_id",
			f:    format.Anthropic,
			e:    InvalidParam("max_tokens", "must be positive"),
			want: `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: must be positive"},"request_id":"req_1"}`,
		},
		{
			name: "escaping",
			f:    format.Anthropic,
			e:    Errorf(KindInternal, "bad \"quote\"\n<tag>"),
			want: `{"type":"error","error":{"type":"api_error","message":"bad \"quote\"\n\u003ctag\u003e"},"request_id":"req_1"}`,
		},
		{
			name: "unknown kind falls back to internal",
			f:    format.OpenAIChat,
			e:    &Error{Kind: ErrorKind(200), Message: "x"},
			want: `{"error":{"message":"x","type":"server_error","param":null,"code":"internal_error"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendErrorBody([]byte("prefix"), tt.f, tt.e, "req_1")
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatal("dst was not appended to")
			}
			got = got[len("prefix"):]
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !encjson.Valid(got) || !jsonx.Valid(got) {
				t.Error("not valid JSON")
			}
		})
	}
}

func TestAppendStreamErrorParses(t *testing.T) {
	tests := []struct {
		name     string
		f        format.Format
		wantName string
	}{
		{"openai data-only event", format.OpenAIChat, ""},
		{"anthropic named error event", format.Anthropic, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := AppendStreamError(nil, tt.f, Errorf(KindStreamInterrupted, "upstream went away"))
			ev, n, ok, _ := sse.Parse(raw, false, nil)
			if !ok || n != len(raw) {
				t.Fatalf("not exactly one SSE event: ok=%v n=%d len=%d", ok, n, len(raw))
			}
			if string(ev.Name) != tt.wantName {
				t.Errorf("event name %q, want %q", ev.Name, tt.wantName)
			}
			var v struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := encjson.Unmarshal(ev.Data, &v); err != nil {
				t.Fatalf("data is not JSON: %v", err)
			}
			if v.Error.Message != "upstream went away" {
				t.Errorf("message %q", v.Error.Message)
			}
			if tt.f == format.Anthropic && (v.Type != "error" || v.Error.Type != "api_error") {
				t.Errorf("anthropic event type %q/%q", v.Type, v.Error.Type)
			}
		})
	}
}
