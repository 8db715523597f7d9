package converter

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/converter/format"
)

// checkComplete reports every nil function, pointer or empty string of v, a
// struct, naming it by path.
func checkComplete(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f, name := v.Field(i), path+"."+v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.Func, reflect.Pointer:
			if f.IsNil() {
				t.Errorf("%s is not set", name)
			}
		case reflect.String:
			if f.String() == "" {
				t.Errorf("%s is empty", name)
			}
		case reflect.Struct:
			checkComplete(t, name, f)
		}
	}
}

// TestCodecsComplete is what makes a missing piece impossible to miss: every
// format has a codec with every piece, every direct translation has its
// request, response and stream parts, and every pair of formats has a way,
// direct or through the hub.
func TestCodecsComplete(t *testing.T) {
	for _, f := range format.All() {
		c := codecFor(f)
		if c == nil {
			t.Errorf("format %s has no codec", f)
			continue
		}
		checkComplete(t, string(f), reflect.ValueOf(*c))
		if f.Path() == "" || f.Family() == "" {
			t.Errorf("format %s has no chat path or family", f)
		}
	}
	if len(codecs) != len(format.All()) {
		t.Errorf("%d codecs for %d formats", len(codecs), len(format.All()))
	}
	for p, tr := range translators {
		checkComplete(t, string(p.from)+"→"+string(p.to), reflect.ValueOf(tr))
		if p.from == p.to || !p.from.Valid() || !p.to.Valid() {
			t.Errorf("translation %s → %s is not between two known formats", p.from, p.to)
		}
	}
	for _, from := range format.All() {
		for _, to := range format.All() {
			if _, _, hops := route(from, to); from != to && hops == 0 {
				t.Errorf("no translation from %s to %s", from, to)
			}
		}
	}
}

// TestUnknownPairRefused checks that a pair the converter cannot translate
// gets a clear internal error in the client's format, never a panic.
func TestUnknownPairRefused(t *testing.T) {
	const unknown = format.Format("unknown")
	for _, client := range format.All() {
		t.Run(string(client), func(t *testing.T) {
			_, err := TranslateRequest(client, unknown, []byte(`{"model":"m","messages":[]}`), RequestOptions{})
			var e *Error
			if !errorAs(err, &e) || e.Kind != KindInternal || e.Status(client) != http.StatusInternalServerError {
				t.Fatalf("TranslateRequest to an unknown format: %v", err)
			}
			if _, _, err := TranslateResponse(unknown, client, []byte(`{}`), ResponseOptions{}); !errorAs(err, &e) || e.Kind != KindInternal {
				t.Fatalf("TranslateResponse from an unknown format: %v", err)
			}
			s := NewStream(unknown, client, StreamOptions{})
			out, err := feedStream(s, []byte("data: {}\n\n"))
			if err != nil || !s.Done() || s.Usage() != (Usage{}) {
				t.Fatalf("stream from an unknown format: err %v, done %v", err, s.Done())
			}
			if want := AppendStreamError(nil, client, noTranslation(unknown, client)); !bytes.Equal(out, want) {
				t.Errorf("stream from an unknown format wrote %q, want %q", out, want)
			}
			if _, err := InspectRequest(unknown, []byte(`{}`)); !errorAs(err, &e) || e.Kind != KindInternal {
				t.Errorf("InspectRequest of an unknown format: %v", err)
			}
		})
	}
}

// TestChainedStreamIsSequential checks the composition of two stream
// translators through the hub against running them one after the other over
// whole streams: the chain must be exactly that, event by event.
func TestChainedStreamIsSequential(t *testing.T) {
	inputs := map[string][]byte{"fixture": readFixture(t, "openai_stream_parallel_tool_calls_usage.sse")}
	dir := filepath.Join("testdata", "stream", "openai_to_anthropic")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".in.sse"); ok {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			inputs[name] = b
		}
	}
	opts := StreamOptions{Model: "client-model", IncludeUsage: true, Created: 7}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			hubOut, _ := feedStream(&Stream{t: newO2AStream(opts), translating: true}, in)
			want, _ := feedStream(&Stream{t: newA2OStream(opts), translating: true}, hubOut)
			chained := &Stream{t: &chainStream{first: newO2AStream(opts), second: newA2OStream(opts)}, translating: true}
			got, _ := feedStream(chained, in)
			// A stream the upstream left incomplete ends, in the chain, with
			// the gateway's own error for the client, where the sequential
			// run has the second translator relay the first's error event.
			if e := chained.Failed(); e != nil {
				tail := AppendStreamError(nil, format.OpenAIChat, e)
				if !bytes.HasSuffix(got, tail) {
					t.Fatalf("chained stream that failed ends with %q, want %q", got, tail)
				}
				got = got[:len(got)-len(tail)]
				evs := parseEvents(t, want)
				if last := evs[len(evs)-1]; !bytes.Contains(last.Data, []byte(`"error"`)) {
					t.Fatalf("sequential run did not fail: %q", want)
				}
				want = want[:bytes.LastIndex(want, []byte("data: "))]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("chained stream differs from the sequential one:\ngot  %q\nwant %q", got, want)
			}
			if !chained.Done() {
				t.Error("chained stream not done after Finish")
			}
		})
	}
}

func errorAs(err error, target **Error) bool {
	e, ok := err.(*Error)
	*target = e
	return ok
}

// TestErrorDialects checks each format's error statuses, bodies and stream
// events: both OpenAI formats answer with OpenAI's shape and statuses.
func TestErrorDialects(t *testing.T) {
	e := InvalidParam("temperature", "too hot")
	for _, f := range format.All() {
		t.Run(string(f), func(t *testing.T) {
			var body map[string]any
			if err := json.Unmarshal(AppendErrorBody(nil, f, e, "req_1"), &body); err != nil {
				t.Fatalf("error body: %v", err)
			}
			ev := parseEvents(t, AppendStreamError(nil, f, e))
			if len(ev) != 1 {
				t.Fatalf("stream error: %d events", len(ev))
			}
			var data map[string]any
			if err := json.Unmarshal(ev[0].Data, &data); err != nil {
				t.Fatalf("stream error data: %v", err)
			}
			switch f.Family() {
			case format.FamilyAnthropic:
				if body["type"] != "error" || body["request_id"] != "req_1" || e.Status(f) != 400 || e.Type(f) != "invalid_request_error" {
					t.Errorf("Anthropic error body %v, status %d", body, e.Status(f))
				}
			default:
				obj, _ := body["error"].(map[string]any)
				if obj == nil || obj["param"] != "temperature" || obj["type"] != "invalid_request_error" || e.Status(f) != 400 {
					t.Errorf("OpenAI error body %v, status %d", body, e.Status(f))
				}
			}
		})
	}
	for kind := KindInternal; int(kind) < len(errorShapes); kind++ {
		e := &Error{Kind: kind}
		if e.Status(format.OpenAIResponses) != e.Status(format.OpenAIChat) || e.Type(format.OpenAIResponses) != e.Type(format.OpenAIChat) {
			t.Errorf("kind %d: Responses status/type %d %s, Chat %d %s", kind,
				e.Status(format.OpenAIResponses), e.Type(format.OpenAIResponses), e.Status(format.OpenAIChat), e.Type(format.OpenAIChat))
		}
	}
}

// TestTranslateErrorBodyDialects checks upstream errors crossing formats:
// within the OpenAI family the body passes, and an Anthropic error reaches a
// Responses client exactly as it reaches a Chat one.
func TestTranslateErrorBodyDialects(t *testing.T) {
	openAI := []byte(`{"error":{"message":"bad","type":"invalid_request_error","param":"x","code":"c"}}`)
	anthropic := []byte(`{"type":"error","error":{"type":"overloaded_error","message":"busy"},"request_id":"r"}`)
	if got := TranslateErrorBody(format.OpenAIChat, format.OpenAIResponses, 400, openAI, "id"); !bytes.Equal(got, openAI) {
		t.Errorf("Chat → Responses error = %s, want it unchanged", got)
	}
	if got := TranslateErrorBody(format.OpenAIResponses, format.OpenAIChat, 400, openAI, "id"); !bytes.Equal(got, openAI) {
		t.Errorf("Responses → Chat error = %s, want it unchanged", got)
	}
	toChat := TranslateErrorBody(format.Anthropic, format.OpenAIChat, 529, anthropic, "id")
	if got := TranslateErrorBody(format.Anthropic, format.OpenAIResponses, 529, anthropic, "id"); !bytes.Equal(got, toChat) {
		t.Errorf("Anthropic → Responses error = %s, want %s", got, toChat)
	}
	fromChat := TranslateErrorBody(format.OpenAIChat, format.Anthropic, 400, openAI, "id")
	if got := TranslateErrorBody(format.OpenAIResponses, format.Anthropic, 400, openAI, "id"); !bytes.Equal(got, fromChat) {
		t.Errorf("Responses → Anthropic error = %s, want %s", got, fromChat)
	}
}

// TestHeaderDialects checks headers across all three formats: the OpenAI
// formats share one dialect, and each format names its rate limits, its
// request id and its protocol headers.
func TestHeaderDialects(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	openAI := http.Header{"X-Request-Id": {"req_o"}, "X-Ratelimit-Reset-Requests": {"1s"}, "X-Ratelimit-Limit-Requests": {"10"}}
	pass := TranslateResponseHeaders(format.OpenAIChat, format.OpenAIChat, httpHeader(openAI), now, nil)
	if got := TranslateResponseHeaders(format.OpenAIChat, format.OpenAIResponses, httpHeader(openAI), now, nil); !reflect.DeepEqual(got, pass) {
		t.Errorf("Chat → Responses headers %v, want the pass-through %v", got, pass)
	}
	toAnthropic := TranslateResponseHeaders(format.OpenAIChat, format.Anthropic, httpHeader(openAI), now, nil)
	if got := TranslateResponseHeaders(format.OpenAIResponses, format.Anthropic, httpHeader(openAI), now, nil); !reflect.DeepEqual(got, toAnthropic) {
		t.Errorf("Responses → Anthropic headers %v, want %v", got, toAnthropic)
	}
	want := []Header{{"request-id", "req_o"}, {"anthropic-ratelimit-requests-limit", "10"}, {"anthropic-ratelimit-requests-reset", "2026-01-02T03:04:06Z"}}
	if !reflect.DeepEqual(toAnthropic, want) {
		t.Errorf("OpenAI → Anthropic headers %v, want %v", toAnthropic, want)
	}

	tests := []struct {
		f                  format.Format
		requestID, limit   string
		reset              string
		auth, authValue    string
		client             []string
		sniffed, defaulted string
	}{
		{format.OpenAIChat, "x-request-id", "x-ratelimit-limit-requests", "1.5s", "authorization", "Bearer k", []string{"openai-organization", "openai-project"}, "", ""},
		{format.OpenAIResponses, "x-request-id", "x-ratelimit-limit-requests", "1.5s", "authorization", "Bearer k", []string{"openai-organization", "openai-project"}, "", ""},
		{format.Anthropic, "request-id", "anthropic-ratelimit-requests-limit", "2026-01-02T03:04:07Z", "x-api-key", "k", []string{"anthropic-version", "anthropic-beta"}, "x-api-key", "anthropic-version"},
	}
	for _, tt := range tests {
		t.Run(string(tt.f), func(t *testing.T) {
			names := RateLimitHeadersOf(tt.f)
			limit, _, _ := names.Requests()
			reset := string(names.AppendReset(nil, now.Add(1500*time.Millisecond), now))
			if RequestIDHeader(tt.f) != tt.requestID || limit != tt.limit || reset != tt.reset {
				t.Errorf("request id %q, limit %q, reset %q; want %q, %q, %q", RequestIDHeader(tt.f), limit, reset, tt.requestID, tt.limit, tt.reset)
			}
			if name, value := UpstreamAuth(tt.f, "k"); name != tt.auth || value != tt.authValue {
				t.Errorf("auth %s: %s", name, value)
			}
			if got := ClientHeaders(tt.f); !reflect.DeepEqual(got, tt.client) {
				t.Errorf("client headers %v, want %v", got, tt.client)
			}
			if tt.sniffed != "" {
				if g := GuessFormat(func(n string) bool { return n == tt.sniffed }); g != tt.f {
					t.Errorf("GuessFormat with %s = %s", tt.sniffed, g)
				}
			}
			set := map[string]string{}
			UpstreamHeaders(tt.f, format.OpenAIChat, func(string) string { return "client" }, func(n, v string) { set[n] = v })
			for _, n := range tt.client {
				want := "client"
				if tt.f.Family() != format.FamilyOpenAI {
					want = ""
					if n == tt.defaulted {
						want = "2023-06-01"
					}
				}
				if set[n] != want {
					t.Errorf("upstream header %s = %q for a Chat client, want %q", n, set[n], want)
				}
			}
		})
	}
	if g := GuessFormat(func(string) bool { return false }); g != format.OpenAIChat {
		t.Errorf("GuessFormat without a hint = %s", g)
	}
}

func TestReadClientHints(t *testing.T) {
	tests := []struct {
		name string
		f    format.Format
		body string
		want ClientHints
	}{
		{"chat needs none", format.OpenAIChat, `{"reasoning_effort":"high","tools":[{"type":"function","function":{"name":"f"}}]}`, ClientHints{}},
		{"anthropic needs none", format.Anthropic, `{"thinking":{"type":"enabled","budget_tokens":1024}}`, ClientHints{}},
		{"responses without summary", format.OpenAIResponses, `{"reasoning":{"effort":"high"},"tools":[{"type":"function","name":"f"}]}`, ClientHints{}},
		{"responses summary none", format.OpenAIResponses, `{"reasoning":{"summary":"none"}}`, ClientHints{}},
		{"responses summary auto", format.OpenAIResponses, `{"reasoning":{"summary":"auto"}}`, ClientHints{ReasoningSummary: true}},
		{"responses deprecated generate_summary", format.OpenAIResponses, `{"reasoning":{"generate_summary":"concise"}}`, ClientHints{ReasoningSummary: true}},
		{"responses custom tool", format.OpenAIResponses, `{"tools":[{"type":"custom","name":"apply_patch"}]}`,
			ClientHints{Tools: map[string]ResponsesTool{"apply_patch": {Kind: ResponsesToolCustom}}}},
		{"unknown format", format.Format("x"), `{}`, ClientHints{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadClientHints(tt.f, []byte(tt.body)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadClientHints = %+v, want %+v", got, tt.want)
			}
		})
	}
}
