package converter

import (
	"bytes"
	encjson "encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

// Upstream error bodies as the providers send them (the Anthropic 400 is the
// recorded fixture).
var anthropicErrorBodies = map[int]string{
	401: `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CAuth"}`,
	403: `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."},"request_id":"req_011CPerm"}`,
	404: `{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"},"request_id":"req_011CNF"}`,
	413: `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`,
	429: `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_011CRL"}`,
	500: `{"type":"error","error":{"type":"api_error","message":"Internal server error"},"request_id":"req_011CInt"}`,
	503: `{"type":"error","error":{"type":"api_error","message":"Service unavailable"}}`,
	529: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011COver"}`,
}

var openAIErrorBodies = map[int]string{
	400: `{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}`,
	401: `{"error":{"message":"Incorrect API key provided: sk-abc.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
	403: `{"error":{"message":"Project does not have access to model gpt-5","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
	404: `{"error":{"message":"The model 'gpt-nope' does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
	413: `{"error":{"message":"Request too large","type":"invalid_request_error","param":null,"code":null}}`,
	429: `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
	500: `{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`,
	503: `{"error":{"message":"The engine is currently overloaded.","type":"server_error","param":null,"code":null}}`,
	529: `{"error":{"message":"Overloaded","type":"server_error","param":null,"code":null}}`,
}

// Bodies that are not a known error shape: a proxy's HTML page, nothing,
// and the looser shapes of OpenAI-compatible servers.
var oddErrorBodies = []struct {
	name   string
	status int
	body   string
}{
	{"html_502", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>"},
	{"empty_504", 504, ""},
	{"truncated_json_500", 500, `{"error":{"message":"bo`},
	{"string_error_400", 400, `{"error":"model is required"}`},
	{"fastapi_detail_422", 422, `{"detail":"Field required: messages"}`},
	{"message_only_404", 404, `{"message":"no such model","code":404}`},
	{"unknown_json_500", 500, `{"status":"bad"}`},
	{"unknown_status_599", 599, "oops"},
}

func TestTranslateErrorBodyGolden(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "fixtures", "anthropic_error_400.json"))
	if err != nil {
		t.Fatal(err)
	}
	type tcase struct {
		name     string
		from, to format.Format
		status   int
		body     []byte
	}
	var cases []tcase
	cases = append(cases, tcase{"anthropic_to_openai/400_fixture", format.Anthropic, format.OpenAIChat, 400, fixture})
	for status, body := range anthropicErrorBodies {
		cases = append(cases, tcase{"anthropic_to_openai/" + strconv.Itoa(status), format.Anthropic, format.OpenAIChat, status, []byte(body)})
	}
	for status, body := range openAIErrorBodies {
		cases = append(cases, tcase{"openai_to_anthropic/" + strconv.Itoa(status), format.OpenAIChat, format.Anthropic, status, []byte(body)})
	}
	for _, o := range oddErrorBodies {
		cases = append(cases,
			tcase{"anthropic_to_openai/" + o.name, format.Anthropic, format.OpenAIChat, o.status, []byte(o.body)},
			tcase{"openai_to_anthropic/" + o.name, format.OpenAIChat, format.Anthropic, o.status, []byte(o.body)},
			tcase{"openai_to_openai/" + o.name, format.OpenAIChat, format.OpenAIChat, o.status, []byte(o.body)},
			tcase{"anthropic_to_anthropic/" + o.name, format.Anthropic, format.Anthropic, o.status, []byte(o.body)},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := TranslateErrorBody(tc.from, tc.to, tc.status, tc.body, "req_gateway_1")
			if !encjson.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
			assertErrorShape(t, tc.to, got)
			checkGolden(t, filepath.Join("testdata", "errors", tc.name+".json"), indentJSON(t, got))
		})
	}
}

// assertErrorShape checks the keys each SDK relies on.
func assertErrorShape(t *testing.T, f format.Format, body []byte) {
	t.Helper()
	var v map[string]encjson.RawMessage
	if err := encjson.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var inner map[string]encjson.RawMessage
	if err := encjson.Unmarshal(v["error"], &inner); err != nil {
		// Same-format bodies pass through as the upstream wrote them.
		return
	}
	want := []string{"message", "type", "param", "code"}
	if f == format.Anthropic {
		want = []string{"type", "message"}
		if _, ok := v["request_id"]; !ok && string(v["type"]) == `"error"` {
			t.Errorf("Anthropic error without request_id: %s", body)
		}
	}
	for _, k := range want {
		if _, ok := inner[k]; !ok {
			t.Errorf("error object lacks %q: %s", k, body)
		}
	}
}

func TestTranslateErrorBodySameFormatUnchanged(t *testing.T) {
	tests := []struct {
		name string
		f    format.Format
		body string
	}{
		{"openai", format.OpenAIChat, openAIErrorBodies[400]},
		{"anthropic", format.Anthropic, anthropicErrorBodies[529]},
		{"unknown json", format.OpenAIChat, `{"detail":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TranslateErrorBody(tt.f, tt.f, 400, []byte(tt.body), "req_x")
			if !bytes.Equal(got, []byte(tt.body)) {
				t.Errorf("body changed:\n%s", got)
			}
		})
	}
}

// kindNames names every ErrorKind for the gateway error golden files.
var kindNames = []struct {
	kind ErrorKind
	name string
}{
	{KindInternal, "internal"},
	{KindInvalidRequest, "invalid_request"},
	{KindAuthentication, "authentication"},
	{KindPermission, "permission"},
	{KindNotFound, "not_found"},
	{KindMethodNotAllowed, "method_not_allowed"},
	{KindRequestTooLarge, "request_too_large"},
	{KindRateLimited, "rate_limited"},
	{KindQuotaExceeded, "quota_exceeded"},
	{KindQueueFull, "queue_full"},
	{KindQueueTimeout, "queue_timeout"},
	{KindNoWorkers, "no_workers"},
	{KindOverloaded, "overloaded"},
	{KindUnavailable, "unavailable"},
	{KindUpstreamUnavailable, "upstream_unavailable"},
	{KindUpstreamTimeout, "upstream_timeout"},
	{KindStreamInterrupted, "stream_interrupted"},
	{KindHeadersTooLarge, "headers_too_large"},
	{KindRequestTimeout, "request_timeout"},
}

// TestGatewayErrorsGolden records, for every kind the gateway raises, the
// status and body a client gets in each format, and the stream error events.
func TestGatewayErrorsGolden(t *testing.T) {
	if len(kindNames) != len(errorShapes) {
		t.Fatalf("kindNames covers %d kinds, errors.go defines %d", len(kindNames), len(errorShapes))
	}
	for _, k := range kindNames {
		t.Run(k.name, func(t *testing.T) {
			e := &Error{Kind: k.kind, Message: "something about " + k.name}
			if k.kind == KindInvalidRequest {
				e.Param = "messages"
			}
			var doc bytes.Buffer
			for _, f := range []format.Format{format.OpenAIChat, format.Anthropic} {
				body := AppendErrorBody(nil, f, e, "req_gw_123")
				if !encjson.Valid(body) {
					t.Fatalf("%s body is not valid JSON: %s", f, body)
				}
				assertErrorShape(t, f, body)
				stream := AppendStreamError(nil, f, e)
				if !bytes.HasSuffix(stream, []byte("\n\n")) {
					t.Errorf("%s stream event does not end with a blank line: %q", f, stream)
				}
				doc.WriteString("## " + string(f) + "\nstatus: " + strconv.Itoa(e.Status(f)) + "\ntype: " + e.Type(f) + "\nbody: ")
				doc.Write(body)
				doc.WriteString("\nstream:\n")
				doc.Write(stream)
			}
			checkGolden(t, filepath.Join("testdata", "errors", "gateway", k.name+".txt"), doc.Bytes())
		})
	}
}

func FuzzTranslateErrorBody(f *testing.F) {
	for _, b := range anthropicErrorBodies {
		f.Add(429, []byte(b), true, false)
	}
	for _, b := range openAIErrorBodies {
		f.Add(400, []byte(b), false, true)
	}
	for _, o := range oddErrorBodies {
		f.Add(o.status, []byte(o.body), false, false)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, fromAnthropic, toAnthropic bool) {
		from, to := format.OpenAIChat, format.OpenAIChat
		if fromAnthropic {
			from = format.Anthropic
		}
		if toAnthropic {
			to = format.Anthropic
		}
		out := TranslateErrorBody(from, to, status, body, "req_1")
		if !jsonx.Valid(out) || !encjson.Valid(out) {
			t.Fatalf("output is not valid JSON: %q", out)
		}
	})
}
