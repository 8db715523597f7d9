package mock

import (
	"strconv"

	"github.com/aigateway/gateway/converter/jsonx"
)

// OpenAI's finish_reason for each way an answer ends.
var openAIFinish = [...]string{
	finishEnd:     "stop",
	finishStopSeq: "stop",
	finishLength:  "length",
	finishTools:   "tool_calls",
}

// appendOpenAIJSON appends a chat.completion object for a.
func appendOpenAIJSON(b []byte, a *answer, created int64) []byte {
	b = append(b, `{"id":"chatcmpl-mock-`...)
	b = strconv.AppendUint(b, a.seq, 10)
	b = append(b, `","object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = jsonx.AppendString(b, a.model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if len(a.calls) > 0 {
		b = append(b, `null`...)
	} else {
		b = jsonx.AppendString(b, a.fullText())
	}
	b = append(b, `,"refusal":null,"annotations":[]`...)
	if len(a.calls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, c := range a.calls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = jsonx.AppendString(b, c.id)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = jsonx.AppendString(b, c.name)
			b = append(b, `,"arguments":`...)
			b = jsonx.AppendString(b, c.args)
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	b = append(b, `},"logprobs":null,"finish_reason":"`...)
	b = append(b, openAIFinish[a.finish]...)
	b = append(b, `"}],"usage":`...)
	b = appendOpenAIUsage(b, a)
	return append(b, `,"service_tier":"default","system_fingerprint":"fp_mock"}`...)
}

// appendOpenAIUsage appends the usage object.
func appendOpenAIUsage(b []byte, a *answer) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(a.inputTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(a.outputTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(a.inputTokens+a.outputTokens), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(a.cachedTokens), 10)
	b = append(b, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
	return b
}

// streamOpenAI writes a as chat.completion.chunk events: a role chunk, the
// content or tool-call deltas, a chunk with the finish reason, the usage
// chunk when asked for, and [DONE].
func streamOpenAI(ew *eventWriter, a *answer, created int64, includeUsage bool) error {
	// Every chunk starts with the same bytes; encode them once.
	head := make([]byte, 0, 192)
	head = append(head, `data: {"id":"chatcmpl-mock-`...)
	head = strconv.AppendUint(head, a.seq, 10)
	head = append(head, `","object":"chat.completion.chunk","created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = jsonx.AppendString(head, a.model)
	head = append(head, `,"service_tier":"default","system_fingerprint":"fp_mock","choices":`...)
	choiceHead := len(head)
	head = append(head, `[{"index":0,"delta":`...)
	tail := `,"logprobs":null,"finish_reason":null}]}` + "\n\n"
	if includeUsage {
		tail = `,"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	}

	b := append(ew.buf[:0], head...)
	b = append(b, `{"role":"assistant","content":"","refusal":null}`...)
	b = append(b, tail...)
	if err := ew.event(b); err != nil {
		return err
	}
	for _, piece := range a.text {
		b = append(b[:0], head...)
		b = append(b, `{"content":`...)
		b = jsonx.AppendString(b, piece)
		b = append(b, '}')
		b = append(b, tail...)
		if err := ew.content(b); err != nil {
			return err
		}
	}
	for i, c := range a.calls {
		b = append(b[:0], head...)
		b = append(b, `{"tool_calls":[{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"id":`...)
		b = jsonx.AppendString(b, c.id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = jsonx.AppendString(b, c.name)
		b = append(b, `,"arguments":""}}]}`...)
		b = append(b, tail...)
		if err := ew.event(b); err != nil {
			return err
		}
		for _, frag := range c.frags {
			b = append(b[:0], head...)
			b = append(b, `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"function":{"arguments":`...)
			b = jsonx.AppendString(b, frag)
			b = append(b, `}}]}`...)
			b = append(b, tail...)
			if err := ew.content(b); err != nil {
				return err
			}
		}
	}

	b = append(b[:0], head...)
	b = append(b, `{},"logprobs":null,"finish_reason":"`...)
	b = append(b, openAIFinish[a.finish]...)
	if includeUsage {
		b = append(b, `"}],"usage":null}`+"\n\n"...)
	} else {
		b = append(b, `"}]}`+"\n\n"...)
	}
	if includeUsage {
		b = append(b, head[:choiceHead]...)
		b = append(b, `[],"usage":`...)
		b = appendOpenAIUsage(b, a)
		b = append(b, "}\n\n"...)
	}
	// The closing events go out in one write: a provider sends them back
	// to back, and a client must cope with them arriving together.
	b = append(b, "data: [DONE]\n\n"...)
	ew.buf = b
	return ew.event(b)
}
