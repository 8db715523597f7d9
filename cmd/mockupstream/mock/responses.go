package mock

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// The Responses API answer. An answer's output items come in this order: a
// reasoning item when the request asked for reasoning, then either one
// assistant message holding the text or the function calls. Ids are derived
// from the request's sequence number: resp_mock_N, rs_mock_N, msg_mock_N,
// fc_mock_N_I with call_id call_mock_N_I.

// reasoningStatePrefix starts the mock's encrypted_content. The real API's
// is opaque too; the mock's carries the reasoning text so that it can check
// that what a client replays is what it sent.
const reasoningStatePrefix = "mockrs1_"

// HeaderStreamError makes a streamed Responses answer fail after its first
// content delta: "failed" ends it with response.failed, "error" with an
// error event. A request that is not streamed gets a 500 instead.
// Config.StreamError does the same for every request.
const HeaderStreamError = "X-Mock-Stream-Error"

// encodeReasoningState is the encrypted_content of a reasoning item.
func encodeReasoningState(text string) string {
	return reasoningStatePrefix + base64.RawURLEncoding.EncodeToString([]byte(text))
}

// decodeReasoningState returns the reasoning text of encrypted_content made
// by encodeReasoningState; ok is false for any other string.
func decodeReasoningState(s string) (string, bool) {
	rest, found := strings.CutPrefix(s, reasoningStatePrefix)
	if !found {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// rsAnswer is an answer with what the Responses encoding needs from the
// request.
type rsAnswer struct {
	*answer
	req     *rsRequest
	created int64
}

func (r *rsAnswer) respID() string { return "resp_mock_" + strconv.FormatUint(r.seq, 10) }
func (r *rsAnswer) rsID() string   { return "rs_mock_" + strconv.FormatUint(r.seq, 10) }
func (r *rsAnswer) msgID() string  { return "msg_mock_" + strconv.FormatUint(r.seq, 10) }
func (r *rsAnswer) fcID(i int) string {
	prefix := "fc_mock_"
	if r.calls[i].custom {
		prefix = "ctc_mock_"
	}
	return prefix + strconv.FormatUint(r.seq, 10) + "_" + strconv.Itoa(i)
}

// incomplete reports an answer cut by max_output_tokens.
func (r *rsAnswer) incomplete() bool { return r.finish == finishLength }

// status is the answer's final status.
func (r *rsAnswer) status() string {
	if r.incomplete() {
		return "incomplete"
	}
	return "completed"
}

// rawOr appends raw, or def when raw is absent.
func rawOr(b []byte, raw jsonx.RawMessage, def string) []byte {
	if raw = bytes.TrimSpace(raw); len(raw) == 0 {
		return append(b, def...)
	}
	return append(b, raw...)
}

// rsResponse selects what appendResponse writes.
type rsResponse struct {
	status string
	output bool // the output items and usage; false while in progress
	failed bool
}

// appendResponse appends the response object.
func appendResponse(b []byte, r *rsAnswer, o rsResponse) []byte {
	req := r.req
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, r.respID())
	b = append(b, `,"object":"response","created_at":`...)
	b = strconv.AppendInt(b, r.created, 10)
	b = append(b, `,"status":`...)
	b = jsonx.AppendString(b, o.status)
	b = append(b, `,"background":false,"completed_at":`...)
	if o.output && !o.failed {
		b = strconv.AppendInt(b, r.created, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"error":`...)
	if o.failed {
		b = append(b, `{"code":"server_error","message":"The server had an error while processing your request. Sorry about that!"}`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if o.output && r.incomplete() {
		b = append(b, `{"reason":"max_output_tokens"}`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"instructions":`...)
	b = rawOr(b, req.Instructions, "null")
	b = append(b, `,"max_output_tokens":`...)
	if req.MaxOutputTokens != nil {
		b = strconv.AppendInt(b, int64(*req.MaxOutputTokens), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"max_tool_calls":null,"model":`...)
	b = jsonx.AppendString(b, r.model)
	b = append(b, `,"output":[`...)
	if o.output {
		b = appendOutputItems(b, r)
	}
	b = append(b, `],"parallel_tool_calls":`...)
	b = strconv.AppendBool(b, req.ParallelToolCalls == nil || *req.ParallelToolCalls)
	b = append(b, `,"previous_response_id":null,"prompt_cache_key":`...)
	if req.PromptCacheKey != nil {
		b = jsonx.AppendString(b, *req.PromptCacheKey)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"reasoning":{"effort":`...)
	if req.Reasoning != nil && req.Reasoning.Effort != nil {
		b = jsonx.AppendString(b, *req.Reasoning.Effort)
	} else if req.Reasoning != nil {
		b = append(b, `"medium"`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"summary":`...)
	if req.Reasoning != nil && req.Reasoning.Summary != nil {
		b = jsonx.AppendString(b, *req.Reasoning.Summary)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `},"safety_identifier":null,"service_tier":"default","store":`...)
	b = strconv.AppendBool(b, req.Store == nil || *req.Store)
	b = append(b, `,"temperature":`...)
	if req.Temperature != nil {
		b = strconv.AppendFloat(b, *req.Temperature, 'g', -1, 64)
	} else {
		b = append(b, "1.0"...)
	}
	b = append(b, `,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":`...)
	b = rawOr(b, req.ToolChoice, `"auto"`)
	b = append(b, `,"tools":`...)
	b = rawOr(b, req.raw["tools"], "[]")
	b = append(b, `,"top_logprobs":0,"top_p":`...)
	if req.TopP != nil {
		b = strconv.AppendFloat(b, *req.TopP, 'g', -1, 64)
	} else {
		b = append(b, "1.0"...)
	}
	b = append(b, `,"truncation":"disabled","usage":`...)
	if o.output {
		b = appendResponsesUsage(b, r)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"user":null,"metadata":`...)
	b = rawOr(b, req.Metadata, "{}")
	return append(b, '}')
}

// appendResponsesUsage appends the usage object.
func appendResponsesUsage(b []byte, r *rsAnswer) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(r.inputTokens), 10)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(r.cachedTokens), 10)
	b = append(b, `},"output_tokens":`...)
	b = strconv.AppendInt(b, int64(r.outputTokens), 10)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(len(r.thinking)), 10)
	b = append(b, `},"total_tokens":`...)
	b = strconv.AppendInt(b, int64(r.inputTokens+r.outputTokens), 10)
	return append(b, '}')
}

// appendOutputItems appends the finished output items, comma-separated.
func appendOutputItems(b []byte, r *rsAnswer) []byte {
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if len(r.thinking) > 0 {
		sep()
		b = appendReasoningItem(b, r, true)
	}
	if len(r.calls) == 0 {
		sep()
		b = appendMessageItem(b, r, true)
	}
	for i := range r.calls {
		sep()
		b = appendCallItem(b, r, i, true)
	}
	return b
}

// appendReasoningItem appends the reasoning item, finished or as it starts.
func appendReasoningItem(b []byte, r *rsAnswer, done bool) []byte {
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, r.rsID())
	b = append(b, `,"type":"reasoning"`...)
	if done && r.req.wantsEncryptedReasoning() {
		b = append(b, `,"encrypted_content":`...)
		b = jsonx.AppendString(b, encodeReasoningState(r.fullThinking()))
	}
	b = append(b, `,"summary":[`...)
	if done && r.req.wantsSummary() {
		b = appendSummaryPart(b, r.fullThinking())
	}
	return append(b, "]}"...)
}

func appendSummaryPart(b []byte, text string) []byte {
	b = append(b, `{"type":"summary_text","text":`...)
	b = jsonx.AppendString(b, text)
	return append(b, '}')
}

// appendMessageItem appends the assistant message, finished or as it
// starts.
func appendMessageItem(b []byte, r *rsAnswer, done bool) []byte {
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, r.msgID())
	b = append(b, `,"type":"message","status":`...)
	switch {
	case !done:
		b = append(b, `"in_progress","content":[`...)
	case r.incomplete():
		b = append(b, `"incomplete","content":[`...)
		b = appendTextPart(b, r.fullText())
	default:
		b = append(b, `"completed","content":[`...)
		b = appendTextPart(b, r.fullText())
	}
	return append(b, `],"role":"assistant"}`...)
}

func appendTextPart(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	b = jsonx.AppendString(b, text)
	return append(b, '}')
}

// appendCallItem appends function call i, finished or as it starts.
func appendCallItem(b []byte, r *rsAnswer, i int, done bool) []byte {
	c := &r.calls[i]
	if c.custom {
		return appendCustomCallItem(b, r, i, done)
	}
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, r.fcID(i))
	b = append(b, `,"type":"function_call","status":`...)
	if done {
		b = append(b, `"completed","arguments":`...)
		b = jsonx.AppendString(b, c.args)
	} else {
		b = append(b, `"in_progress","arguments":""`...)
	}
	b = append(b, `,"call_id":`...)
	b = jsonx.AppendString(b, c.id)
	b = append(b, `,"name":`...)
	b = jsonx.AppendString(b, c.name)
	return append(b, '}')
}

// appendCustomCallItem appends custom tool call i, finished or as it
// starts.
func appendCustomCallItem(b []byte, r *rsAnswer, i int, done bool) []byte {
	c := &r.calls[i]
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, r.fcID(i))
	b = append(b, `,"type":"custom_tool_call","status":`...)
	if done {
		b = append(b, `"completed","input":`...)
		b = jsonx.AppendString(b, c.args)
	} else {
		b = append(b, `"in_progress","input":""`...)
	}
	b = append(b, `,"call_id":`...)
	b = jsonx.AppendString(b, c.id)
	b = append(b, `,"name":`...)
	b = jsonx.AppendString(b, c.name)
	return append(b, '}')
}

// appendResponsesJSON appends the response object of a non-streamed answer.
func appendResponsesJSON(b []byte, r *rsAnswer) []byte {
	return appendResponse(b, r, rsResponse{status: r.status(), output: true})
}

// rsStream writes one streamed answer's events, numbering them.
type rsStream struct {
	ew        *eventWriter
	r         *rsAnswer
	seq       int64
	obfuscate bool
	// failWith is HeaderStreamError's value: "failed", "error" or "".
	failWith string
	deltas   int // content deltas written
}

// streamFailed stops the stream once the injected failure is written.
type streamFailed struct{}

func (streamFailed) Error() string { return "stream failure injected" }

// start begins an event: the event line and the common members.
func (s *rsStream) start(name string) []byte {
	b := append(s.ew.buf[:0], "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, name...)
	b = append(b, `","sequence_number":`...)
	b = strconv.AppendInt(b, s.seq, 10)
	s.seq++
	return b
}

// end closes an event and writes it: content deltas count towards
// DisconnectAfter and the injected failure, the rest are structural.
func (s *rsStream) end(b []byte, content bool) error {
	b = append(b, "}\n\n"...)
	s.ew.buf = b
	if !content {
		return s.ew.event(b)
	}
	if err := s.ew.content(b); err != nil {
		return err
	}
	s.deltas++
	if s.failWith != "" && s.deltas == 1 {
		return s.fail()
	}
	return nil
}

// fail writes the injected failure and reports that the stream is over.
func (s *rsStream) fail() error {
	var b []byte
	if s.failWith == "error" {
		b = s.start("error")
		b = append(b, `,"code":"server_error","message":"The server had an error while processing your request. Sorry about that!","param":null`...)
	} else {
		b = s.start("response.failed")
		b = append(b, `,"response":`...)
		b = appendResponse(b, s.r, rsResponse{status: "failed", failed: true})
	}
	if err := s.end(b, false); err != nil {
		return err
	}
	return streamFailed{}
}

// item appends the members that place an event in the output.
func item(b []byte, id string, index int) []byte {
	b = append(b, `,"item_id":`...)
	b = jsonx.AppendString(b, id)
	b = append(b, `,"output_index":`...)
	return strconv.AppendInt(b, int64(index), 10)
}

// obfuscation pads a delta event the way the API does unless asked not to:
// random characters that make the events' sizes say nothing about the
// deltas. The mock's padding is deterministic.
func (s *rsStream) obfuscation(b []byte, delta string) []byte {
	if !s.obfuscate {
		return b
	}
	n := 4 + (len(delta)*7+int(s.seq))%12
	b = append(b, `,"obfuscation":"`...)
	b = append(b, "q9XbLm2VtRzK4wHpYs8dNf"[:n]...)
	return append(b, '"')
}

func (s *rsStream) itemAdded(index int, appendItem func([]byte) []byte, name string) error {
	b := s.start(name)
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"item":`...)
	b = appendItem(b)
	return s.end(b, false)
}

// streamResponses writes a as Responses stream events.
func streamResponses(ew *eventWriter, r *rsAnswer, failWith string) error {
	s := &rsStream{ew: ew, r: r, obfuscate: r.req.obfuscate(), failWith: failWith}
	err := s.write()
	if _, ok := err.(streamFailed); ok {
		return nil
	}
	return err
}

func (s *rsStream) write() error {
	r := s.r
	for _, name := range []string{"response.created", "response.in_progress"} {
		b := s.start(name)
		b = append(b, `,"response":`...)
		b = appendResponse(b, r, rsResponse{status: "in_progress"})
		if err := s.end(b, false); err != nil {
			return err
		}
	}
	index := 0
	if len(r.thinking) > 0 {
		if err := s.writeReasoning(index); err != nil {
			return err
		}
		index++
	}
	if len(r.calls) == 0 {
		if err := s.writeMessage(index); err != nil {
			return err
		}
		index++
	}
	for i := range r.calls {
		if err := s.writeCall(index, i); err != nil {
			return err
		}
		index++
	}
	if s.failWith != "" && s.deltas == 0 {
		return s.fail()
	}
	name := "response.completed"
	if r.incomplete() {
		name = "response.incomplete"
	}
	b := s.start(name)
	b = append(b, `,"response":`...)
	b = appendResponse(b, r, rsResponse{status: r.status(), output: true})
	return s.end(b, false)
}

func (s *rsStream) writeReasoning(index int) error {
	r := s.r
	id := r.rsID()
	if err := s.itemAdded(index, func(b []byte) []byte { return appendReasoningItem(b, r, false) }, "response.output_item.added"); err != nil {
		return err
	}
	if r.req.wantsSummary() {
		b := s.start("response.reasoning_summary_part.added")
		b = item(b, id, index)
		b = append(b, `,"summary_index":0,"part":{"type":"summary_text","text":""}`...)
		if err := s.end(b, false); err != nil {
			return err
		}
		for _, piece := range r.thinking {
			b = s.start("response.reasoning_summary_text.delta")
			b = item(b, id, index)
			b = append(b, `,"summary_index":0,"delta":`...)
			b = jsonx.AppendString(b, piece)
			b = s.obfuscation(b, piece)
			if err := s.end(b, true); err != nil {
				return err
			}
		}
		b = s.start("response.reasoning_summary_text.done")
		b = item(b, id, index)
		b = append(b, `,"summary_index":0,"text":`...)
		b = jsonx.AppendString(b, r.fullThinking())
		if err := s.end(b, false); err != nil {
			return err
		}
		b = s.start("response.reasoning_summary_part.done")
		b = item(b, id, index)
		b = append(b, `,"summary_index":0,"part":`...)
		b = appendSummaryPart(b, r.fullThinking())
		if err := s.end(b, false); err != nil {
			return err
		}
	}
	return s.itemAdded(index, func(b []byte) []byte { return appendReasoningItem(b, r, true) }, "response.output_item.done")
}

func (s *rsStream) writeMessage(index int) error {
	r := s.r
	id := r.msgID()
	if err := s.itemAdded(index, func(b []byte) []byte { return appendMessageItem(b, r, false) }, "response.output_item.added"); err != nil {
		return err
	}
	b := s.start("response.content_part.added")
	b = item(b, id, index)
	b = append(b, `,"content_index":0,"part":`...)
	b = appendTextPart(b, "")
	if err := s.end(b, false); err != nil {
		return err
	}
	for _, piece := range r.text {
		b = s.start("response.output_text.delta")
		b = item(b, id, index)
		b = append(b, `,"content_index":0,"delta":`...)
		b = jsonx.AppendString(b, piece)
		b = append(b, `,"logprobs":[]`...)
		b = s.obfuscation(b, piece)
		if err := s.end(b, true); err != nil {
			return err
		}
	}
	b = s.start("response.output_text.done")
	b = item(b, id, index)
	b = append(b, `,"content_index":0,"text":`...)
	b = jsonx.AppendString(b, r.fullText())
	b = append(b, `,"logprobs":[]`...)
	if err := s.end(b, false); err != nil {
		return err
	}
	b = s.start("response.content_part.done")
	b = item(b, id, index)
	b = append(b, `,"content_index":0,"part":`...)
	b = appendTextPart(b, r.fullText())
	if err := s.end(b, false); err != nil {
		return err
	}
	return s.itemAdded(index, func(b []byte) []byte { return appendMessageItem(b, r, true) }, "response.output_item.done")
}

func (s *rsStream) writeCall(index, i int) error {
	r := s.r
	id := r.fcID(i)
	if err := s.itemAdded(index, func(b []byte) []byte { return appendCallItem(b, r, i, false) }, "response.output_item.added"); err != nil {
		return err
	}
	deltaEvent, doneEvent, doneField := "response.function_call_arguments.delta", "response.function_call_arguments.done", `,"arguments":`
	if r.calls[i].custom {
		deltaEvent, doneEvent, doneField = "response.custom_tool_call_input.delta", "response.custom_tool_call_input.done", `,"input":`
	}
	for _, frag := range r.calls[i].frags {
		b := s.start(deltaEvent)
		b = item(b, id, index)
		b = append(b, `,"delta":`...)
		b = jsonx.AppendString(b, frag)
		b = s.obfuscation(b, frag)
		if err := s.end(b, true); err != nil {
			return err
		}
	}
	b := s.start(doneEvent)
	b = item(b, id, index)
	b = append(b, doneField...)
	b = jsonx.AppendString(b, r.calls[i].args)
	if err := s.end(b, false); err != nil {
		return err
	}
	return s.itemAdded(index, func(b []byte) []byte { return appendCallItem(b, r, i, true) }, "response.output_item.done")
}
