package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/cmd/mockupstream/mock/respstream"
	"github.com/aigateway/gateway/converter/jsonx"
)

// The tests in this file drive the Responses API (POST /v1/responses) with
// the official Go SDK, client.Responses.New and NewStreaming, through the
// gateway to an upstream of each format: Chat Completions and Anthropic
// Messages (converted) and the Responses API itself (passed through). Every
// stream is checked against the Responses grammar (package respstream), and
// the request the upstream received is checked too, since the mock's answer
// is derived from it.

// responsesTOML adds an upstream that speaks the Responses API and one
// Responses route per upstream format.
const responsesTOML = `
[[upstreams]]
name = "responses"
url = %q
format = "openai-responses"
concurrency = 16
queue_size = 64
queue_timeout = "5s"
first_byte_timeout = "2s"
idle_timeout = "2s"

[[routes]]
path = "/rs-chat/v1/responses"
input_format = "openai-responses"
upstream = "openai"

[[routes]]
path = "/rs-anthropic/v1/responses"
input_format = "openai-responses"
upstream = "anthropic"

[[routes]]
path = "/rs-responses/v1/responses"
input_format = "openai-responses"
upstream = "responses"
`

// rsUpstream is one upstream format behind a Responses route.
type rsUpstream struct {
	name   string // the upstream's format
	prefix string // the route's base
	path   string // where the upstream is called
	model  string
}

var rsUpstreams = []rsUpstream{
	{name: "openai-chat", prefix: "/rs-chat", path: "/v1/chat/completions", model: "gpt-4o"},
	{name: "anthropic", prefix: "/rs-anthropic", path: "/v1/messages", model: "claude-sonnet-4-5"},
	{name: "openai-responses", prefix: "/rs-responses", path: "/v1/responses", model: "gpt-5"},
}

// startResponsesGateway starts a mock upstream with mockCfg and a gateway
// with the Responses routes in front of it.
func startResponsesGateway(t *testing.T, mockCfg mock.Config) *gateway {
	t.Helper()
	m := startMock(t, mockCfg)
	g := startGatewayAt(t, m.URL(), m.URL(), fmt.Sprintf(responsesTOML, m.URL()), nil)
	g.mock = m
	return g
}

// rsRun is one answer to a Responses request and the body the upstream
// got.
type rsRun struct {
	mode     string
	resp     responses.Response
	stream   *respstream.Result
	upstream mock.Recorded
	// seq is the mock's number for the upstream request, which its ids
	// and signatures carry.
	seq int
}

// responsesRuns sends params once plainly and once streamed; the stream is
// checked against the Responses grammar and its terminal response kept.
func responsesRuns(t *testing.T, g *gateway, u rsUpstream, params responses.ResponseNewParams) []rsRun {
	t.Helper()
	client := g.openAI(u.prefix)
	ctx := context.Background()
	params.Model = u.model
	resp, err := client.Responses.New(ctx, params)
	if err != nil {
		t.Fatalf("non-streaming: %v", err)
	}
	runs := []rsRun{{mode: "non-streaming", resp: *resp, upstream: lastUpstream(t, g, u), seq: len(g.mock.Requests())}}

	st := client.Responses.NewStreaming(ctx, params)
	var events []responses.ResponseStreamEventUnion
	for st.Next() {
		events = append(events, st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatalf("streaming: %v", err)
	}
	_ = st.Close()
	res, err := respstream.Check(events)
	if err != nil {
		t.Fatalf("streaming: the stream breaks the Responses grammar: %v\n%s", err, rawEvents(events))
	}
	return append(runs, rsRun{mode: "streaming", resp: res.Response, stream: &res, upstream: lastUpstream(t, g, u), seq: len(g.mock.Requests())})
}

func rawEvents(events []responses.ResponseStreamEventUnion) string {
	var b strings.Builder
	for _, ev := range events {
		b.WriteString(ev.RawJSON())
		b.WriteByte('\n')
	}
	return b.String()
}

// lastUpstream is the last request the mock got; it must have gone to the
// upstream format's own endpoint.
func lastUpstream(t *testing.T, g *gateway, u rsUpstream) mock.Recorded {
	t.Helper()
	reqs := g.mock.Requests()
	if len(reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	last := reqs[len(reqs)-1]
	if last.Path != u.path {
		t.Fatalf("the upstream was called at %s, want %s", last.Path, u.path)
	}
	return last
}

func rsInput(items ...responses.ResponseInputItemUnionParam) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfInputItemList: items}
}

func rsUserItem(text string) responses.ResponseInputItemUnionParam {
	return responses.ResponseInputItemParamOfMessage(text, responses.EasyInputMessageRoleUser)
}

func rsFunctionOutput(callID, output string) responses.ResponseInputItemUnionParam {
	item := responses.ResponseInputItemParamOfFunctionCallOutput(output)
	item.OfFunctionCallOutput.CallID = openai.String(callID)
	return item
}

// rsCalls returns the function calls of an answer.
func rsCalls(r responses.Response) []responses.ResponseFunctionToolCall {
	var calls []responses.ResponseFunctionToolCall
	for _, item := range r.Output {
		if item.Type == "function_call" {
			calls = append(calls, item.AsFunctionCall())
		}
	}
	return calls
}

func TestResponsesClientPlainText(t *testing.T) {
	g := startResponsesGateway(t, mock.DefaultConfig())
	const question = "What is the weather in Paris?"
	for _, u := range rsUpstreams {
		t.Run(u.name, func(t *testing.T) {
			params := responses.ResponseNewParams{
				Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String(question)},
				Instructions: openai.String("Answer briefly."),
			}
			for _, run := range responsesRuns(t, g, u, params) {
				r := run.resp
				if got := r.OutputText(); got != "Hello! You said: "+question {
					t.Errorf("%s: output text %q", run.mode, got)
				}
				if run.stream != nil && run.stream.Text != r.OutputText() {
					t.Errorf("%s: the deltas say %q, the response %q", run.mode, run.stream.Text, r.OutputText())
				}
				if r.Status != "completed" || r.Object != "response" || !strings.HasPrefix(r.ID, "resp_") {
					t.Errorf("%s: status %q, object %q, id %q", run.mode, r.Status, r.Object, r.ID)
				}
				if r.Model != u.model {
					t.Errorf("%s: model %q, want %q", run.mode, r.Model, u.model)
				}
				if r.Usage.InputTokens <= 0 || r.Usage.OutputTokens <= 0 || r.Usage.TotalTokens != r.Usage.InputTokens+r.Usage.OutputTokens {
					t.Errorf("%s: usage %+v", run.mode, r.Usage)
				}
				body := string(run.upstream.Body)
				if !strings.Contains(body, "Answer briefly.") {
					t.Errorf("%s: the instructions did not reach the upstream: %s", run.mode, body)
				}
				if auth := run.upstream.Header.Get("Authorization") + run.upstream.Header.Get("X-Api-Key"); strings.Contains(auth, "client-key") {
					t.Errorf("%s: the client's key reached the upstream", run.mode)
				}
			}
		})
	}
}

var (
	rsWeather = responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object", "properties": map[string]any{
		"city": map[string]any{"type": "string"}, "n": map[string]any{"type": "integer"},
	}, "required": []string{"city"}}, false)
	rsTime = responses.ToolParamOfFunction("get_time", map[string]any{"type": "object", "properties": map[string]any{
		"tz": map[string]any{"type": "string"},
	}}, false)
)

// TestResponsesClientToolRoundTrip runs a whole tool loop: the model calls
// two tools, the client sends the calls back with their outputs, and the
// final answer quotes the outputs.
func TestResponsesClientToolRoundTrip(t *testing.T) {
	g := startResponsesGateway(t, mock.DefaultConfig())
	for _, u := range rsUpstreams {
		t.Run(u.name, func(t *testing.T) {
			tools := []responses.ToolUnionParam{rsWeather, rsTime}
			first := responses.ResponseNewParams{Input: rsInput(rsUserItem("weather and time?")), Tools: tools}
			for _, run := range responsesRuns(t, g, u, first) {
				calls := rsCalls(run.resp)
				if len(calls) != 2 {
					t.Fatalf("%s: %d function calls, want 2: %s", run.mode, len(calls), run.resp.RawJSON())
				}
				if calls[0].Name != "get_weather" || calls[0].Arguments != `{"city":"value-city","n":1}` ||
					calls[1].Name != "get_time" || calls[1].Arguments != `{"tz":"value-tz"}` {
					t.Errorf("%s: calls %s(%s), %s(%s)", run.mode, calls[0].Name, calls[0].Arguments, calls[1].Name, calls[1].Arguments)
				}
				if calls[0].CallID == "" || calls[0].CallID == calls[1].CallID {
					t.Errorf("%s: call ids %q and %q", run.mode, calls[0].CallID, calls[1].CallID)
				}
				if run.resp.OutputText() != "" {
					t.Errorf("%s: text beside the calls: %q", run.mode, run.resp.OutputText())
				}

				// The second turn sends the calls back as the client got
				// them, with their outputs.
				items := []responses.ResponseInputItemUnionParam{rsUserItem("weather and time?")}
				for _, c := range calls {
					items = append(items, responses.ResponseInputItemParamOfFunctionCall(c.Arguments, c.CallID, c.Name))
				}
				items = append(items, rsFunctionOutput(calls[0].CallID, "sunny, 21C"), rsFunctionOutput(calls[1].CallID, "10:00"))
				second := responses.ResponseNewParams{Input: rsInput(items...), Tools: tools}
				for _, final := range responsesRuns(t, g, u, second) {
					if got := final.resp.OutputText(); got != "Tool results: sunny, 21C; 10:00" {
						t.Errorf("%s then %s: final answer %q", run.mode, final.mode, got)
					}
					if len(rsCalls(final.resp)) != 0 {
						t.Errorf("%s then %s: calls in the final answer", run.mode, final.mode)
					}
					for _, c := range calls {
						if !strings.Contains(string(final.upstream.Body), c.CallID) {
							t.Errorf("%s then %s: call id %q did not reach the upstream: %s", run.mode, final.mode, c.CallID, final.upstream.Body)
						}
					}
				}
			}
		})
	}
}

// anthropicThinkingTurn is the part of a converted Anthropic request the
// reasoning test looks at.
type anthropicThinkingTurn struct {
	Thinking *struct {
		Type string `json:"type"`
	} `json:"thinking"`
	Messages []struct {
		Role    string `json:"role"`
		Content []struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
			ID        string `json:"id"`
			ToolUseID string `json:"tool_use_id"`
		} `json:"content"`
	} `json:"messages"`
}

// TestResponsesReasoningThroughAnthropic: a Responses client asking for
// reasoning from an Anthropic upstream that thinks gets a reasoning item
// whose encrypted_content, replayed in the next turn of a tool loop,
// reaches the upstream as the very thinking block (text and signature) the
// upstream gave, before the tool call it preceded.
func TestResponsesReasoningThroughAnthropic(t *testing.T) {
	g := startResponsesGateway(t, mock.DefaultConfig())
	u := rsUpstreams[1]
	tools := []responses.ToolUnionParam{rsWeather}
	first := responses.ResponseNewParams{
		Input:     rsInput(rsUserItem("weather?")),
		Tools:     tools,
		Reasoning: responses.ReasoningParam{Effort: responses.ReasoningEffortMedium, Summary: responses.ReasoningSummaryAuto},
		Include:   []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent},
		Store:     openai.Bool(false),
	}
	const thinking = "The user wants their message repeated back to them."
	for _, run := range responsesRuns(t, g, u, first) {
		var up anthropicThinkingTurn
		if err := jsonx.Unmarshal(run.upstream.Body, &up); err != nil {
			t.Fatal(err)
		}
		if up.Thinking == nil || up.Thinking.Type == "disabled" {
			t.Fatalf("%s: reasoning did not turn thinking on upstream: %s", run.mode, run.upstream.Body)
		}
		out := run.resp.Output
		if len(out) != 2 || out[0].Type != "reasoning" || out[1].Type != "function_call" {
			t.Fatalf("%s: output is not [reasoning, function_call]: %s", run.mode, run.resp.RawJSON())
		}
		rs := out[0].AsReasoning()
		if rs.EncryptedContent == "" {
			t.Fatalf("%s: no encrypted_content: %s", run.mode, out[0].RawJSON())
		}
		if len(rs.Summary) != 1 || rs.Summary[0].Text != thinking {
			t.Errorf("%s: summary %+v, want the thinking text", run.mode, rs.Summary)
		}
		// The signature the upstream gave with the thinking block.
		signature := fmt.Sprintf("EqMock%dsignature", run.seq)

		call := out[1].AsFunctionCall()
		summary := []responses.ResponseReasoningItemSummaryParam{}
		for _, s := range rs.Summary {
			summary = append(summary, responses.ResponseReasoningItemSummaryParam{Text: s.Text})
		}
		replay := responses.ResponseInputItemParamOfReasoning(rs.ID, summary)
		replay.OfReasoning.EncryptedContent = openai.String(rs.EncryptedContent)
		second := first
		second.Input = rsInput(rsUserItem("weather?"), replay,
			responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name),
			rsFunctionOutput(call.CallID, "sunny"))
		for _, final := range responsesRuns(t, g, u, second) {
			if got := final.resp.OutputText(); got != "Tool results: sunny" {
				t.Errorf("%s then %s: final answer %q", run.mode, final.mode, got)
			}
			var next anthropicThinkingTurn
			if err := jsonx.Unmarshal(final.upstream.Body, &next); err != nil {
				t.Fatal(err)
			}
			if len(next.Messages) != 3 || next.Messages[1].Role != "assistant" {
				t.Fatalf("%s then %s: upstream turns %s", run.mode, final.mode, final.upstream.Body)
			}
			blocks := next.Messages[1].Content
			if len(blocks) != 2 || blocks[0].Type != "thinking" || blocks[1].Type != "tool_use" {
				t.Fatalf("%s then %s: assistant turn is not [thinking, tool_use]: %s", run.mode, final.mode, final.upstream.Body)
			}
			if blocks[0].Thinking != thinking || blocks[0].Signature != signature {
				t.Errorf("%s then %s: thinking block %q signed %q, want %q signed %q", run.mode, final.mode, blocks[0].Thinking, blocks[0].Signature, thinking, signature)
			}
			if blocks[1].ID != call.CallID {
				t.Errorf("%s then %s: tool_use id %q, want the call id %q", run.mode, final.mode, blocks[1].ID, call.CallID)
			}
		}
	}
}

// TestResponsesUpstreamErrors: an upstream's refusal reaches a Responses
// client with its status in the OpenAI error shape, whichever format the
// upstream speaks, for plain and streamed requests alike.
func TestResponsesUpstreamErrors(t *testing.T) {
	for _, status := range []int{400, 429, 500} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			g := startResponsesGateway(t, mock.Config{ErrorStatus: status})
			for _, u := range rsUpstreams {
				client := g.openAI(u.prefix)
				params := responses.ResponseNewParams{Model: u.model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}
				_, err := client.Responses.New(context.Background(), params)
				checkResponsesError(t, u.name+" non-streaming", err, status)
				st := client.Responses.NewStreaming(context.Background(), params)
				for st.Next() {
					t.Errorf("%s streaming: an event before the error: %s", u.name, st.Current().RawJSON())
				}
				checkResponsesError(t, u.name+" streaming", st.Err(), status)
				_ = st.Close()
			}
		})
	}
}

// TestResponsesUpstreamRefusesRequest: a request the upstream itself
// refuses (a function call output without its call) comes back as the
// upstream's 400 in the Responses shape, and the gateway keeps serving.
func TestResponsesUpstreamRefusesRequest(t *testing.T) {
	g := startResponsesGateway(t, mock.DefaultConfig())
	u := rsUpstreams[2]
	client := g.openAI(u.prefix)
	params := responses.ResponseNewParams{Model: u.model, Input: rsInput(rsFunctionOutput("call_nowhere", "r"))}
	_, err := client.Responses.New(context.Background(), params)
	checkResponsesError(t, "orphan output", err, 400)
	var apiErr *openai.Error
	if errors.As(err, &apiErr) && !strings.Contains(apiErr.Message, "call_nowhere") {
		t.Errorf("the upstream's message was lost: %q", apiErr.Message)
	}
	if _, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: u.model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("still there?")},
	}); err != nil {
		t.Errorf("the next request failed: %v", err)
	}
}

// checkResponsesError checks an SDK error for the status and the OpenAI
// error shape.
func checkResponsesError(t *testing.T, what string, err error, status int) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Errorf("%s: err = %v, want an API error with status %d", what, err, status)
		return
	}
	if apiErr.StatusCode != status || apiErr.Message == "" || apiErr.Type == "" {
		t.Errorf("%s: status %d, type %q, message %q, want status %d with a type and a message: %s",
			what, apiErr.StatusCode, apiErr.Type, apiErr.Message, status, apiErr.RawJSON())
	}
}

// TestResponsesReasoningPassThrough: to an upstream that speaks the
// Responses API the reasoning item travels untouched both ways, so the
// upstream accepts its own encrypted_content back (the mock refuses any it
// did not make).
func TestResponsesReasoningPassThrough(t *testing.T) {
	g := startResponsesGateway(t, mock.DefaultConfig())
	u := rsUpstreams[2]
	first := responses.ResponseNewParams{
		Input:     rsInput(rsUserItem("think")),
		Reasoning: responses.ReasoningParam{Effort: responses.ReasoningEffortLow, Summary: responses.ReasoningSummaryAuto},
		Include:   []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent},
		Store:     openai.Bool(false),
	}
	for _, run := range responsesRuns(t, g, u, first) {
		out := run.resp.Output
		if len(out) != 2 || out[0].Type != "reasoning" {
			t.Fatalf("%s: output %s", run.mode, run.resp.RawJSON())
		}
		rs := out[0].AsReasoning()
		if !strings.HasPrefix(rs.EncryptedContent, "mockrs1_") || len(rs.Summary) != 1 {
			t.Fatalf("%s: reasoning item changed on the way: %s", run.mode, out[0].RawJSON())
		}
		replay := responses.ResponseInputItemParamOfReasoning(rs.ID, []responses.ResponseReasoningItemSummaryParam{{Text: rs.Summary[0].Text}})
		replay.OfReasoning.EncryptedContent = openai.String(rs.EncryptedContent)
		second := first
		second.Input = rsInput(rsUserItem("think"), replay, rsUserItem("again"))
		for _, next := range responsesRuns(t, g, u, second) {
			if got := next.resp.OutputText(); got != "Hello! You said: again" {
				t.Errorf("%s then %s: answer %q", run.mode, next.mode, got)
			}
			if !strings.Contains(string(next.upstream.Body), rs.EncryptedContent) {
				t.Errorf("%s then %s: the encrypted content did not reach the upstream", run.mode, next.mode)
			}
		}
	}
}

// TestResponsesUpstreamStreamFailure: a Responses upstream whose stream
// fails after it started (response.failed, or an error event) gives the
// client a stream that still follows the grammar and ends in a failure it
// can read, never a completed answer.
func TestResponsesUpstreamStreamFailure(t *testing.T) {
	for _, mode := range []string{"failed", "error"} {
		t.Run(mode, func(t *testing.T) {
			cfg := mock.DefaultConfig()
			cfg.StreamError = mode
			g := startResponsesGateway(t, cfg)
			u := rsUpstreams[2]
			st := g.openAI(u.prefix).Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
				Model: u.model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
			})
			var events []responses.ResponseStreamEventUnion
			for st.Next() {
				events = append(events, st.Current())
			}
			if err := st.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			_ = st.Close()
			res, err := respstream.Check(events)
			if err != nil {
				t.Fatalf("the stream breaks the Responses grammar: %v\n%s", err, rawEvents(events))
			}
			switch res.Terminal {
			case "response.failed":
				if res.Response.Error.Message == "" {
					t.Errorf("response.failed without an error message: %s", res.Response.RawJSON())
				}
			case "error":
				if res.Error.Message == "" {
					t.Errorf("error event without a message")
				}
			default:
				t.Errorf("terminal event %q, want response.failed or error", res.Terminal)
			}
		})
	}
}

// TestResponsesConversationShapes sends the shapes of input a real
// conversation has (developer instructions, earlier assistant turns, an
// image) and the usual options, and checks the answer and what each
// upstream got: the options in its own dialect, and nothing of the
// gateway's own (x_openai) on the wire.
func TestResponsesConversationShapes(t *testing.T) {
	g := startResponsesGateway(t, mock.DefaultConfig())
	for _, u := range rsUpstreams {
		t.Run(u.name, func(t *testing.T) {
			params := responses.ResponseNewParams{
				Input: rsInput(
					responses.ResponseInputItemParamOfMessage("Be brief.", responses.EasyInputMessageRoleDeveloper),
					rsUserItem("first question"),
					responses.ResponseInputItemParamOfOutputMessage([]responses.ResponseOutputMessageContentUnionParam{
						{OfOutputText: &responses.ResponseOutputTextParam{Text: "first answer"}},
					}, "msg_earlier", responses.ResponseOutputMessageStatusCompleted),
					responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
						responses.ResponseInputContentParamOfInputText("Describe"),
						{OfInputImage: &responses.ResponseInputImageParam{Detail: "auto", ImageURL: openai.String("data:image/png;base64," + pngBase64)}},
					}, responses.EasyInputMessageRoleUser),
				),
				MaxOutputTokens: openai.Int(500),
				Temperature:     openai.Float(0.5),
			}
			for _, run := range responsesRuns(t, g, u, params) {
				if got := run.resp.OutputText(); got != "Hello! You said: Describe [1 image(s)]" {
					t.Errorf("%s: answer %q", run.mode, got)
				}
				body := string(run.upstream.Body)
				if strings.Contains(body, "x_openai") {
					t.Errorf("%s: the gateway's extension object reached the upstream: %s", run.mode, body)
				}
				for _, want := range []string{"Be brief.", "first question", "first answer", `"temperature":0.5`, "500"} {
					if !strings.Contains(body, want) {
						t.Errorf("%s: %q did not reach the upstream: %s", run.mode, want, body)
					}
				}
			}
		})
	}
}

// TestResponsesCustomTool: a custom (free-form) tool, the kind Codex
// declares apply_patch as, goes to Anthropic as a tool of its own and to a
// Responses upstream as it is; when the model calls it, the client must get
// a custom_tool_call with free-form input, the way it declared the tool,
// and its custom_tool_call_output must reach the model in the next turn.
func TestResponsesCustomTool(t *testing.T) {
	g := startResponsesGateway(t, mock.DefaultConfig())
	tools := []responses.ToolUnionParam{{OfCustom: &responses.CustomToolParam{Name: "apply_patch", Description: openai.String("Apply a patch")}}}
	for _, u := range rsUpstreams[1:] {
		t.Run(u.name, func(t *testing.T) {
			params := responses.ResponseNewParams{Input: rsInput(rsUserItem("patch it")), Tools: tools}
			for _, run := range responsesRuns(t, g, u, params) {
				out := run.resp.Output
				if len(out) != 1 || out[0].Type != "custom_tool_call" {
					t.Errorf("%s: output is not one custom_tool_call: %s", run.mode, run.resp.RawJSON())
					continue
				}
				call := out[0].AsCustomToolCall()
				if call.Name != "apply_patch" || call.CallID == "" || call.Input == "" {
					t.Errorf("%s: custom tool call %+v", run.mode, call)
				}
				second := responses.ResponseNewParams{Tools: tools, Input: rsInput(rsUserItem("patch it"),
					responses.ResponseInputItemParamOfCustomToolCall(call.CallID, call.Input, call.Name),
					responses.ResponseInputItemParamOfCustomToolCallOutput(call.CallID, "patched"))}
				for _, final := range responsesRuns(t, g, u, second) {
					if got := final.resp.OutputText(); got != "Tool results: patched" {
						t.Errorf("%s then %s: final answer %q", run.mode, final.mode, got)
					}
				}
			}
		})
	}
}
