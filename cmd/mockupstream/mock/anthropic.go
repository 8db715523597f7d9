package mock

import (
	"strconv"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Anthropic's stop_reason for each way an answer ends.
var anthropicStop = [...]string{
	finishEnd:     "end_turn",
	finishStopSeq: "stop_sequence",
	finishLength:  "max_tokens",
	finishTools:   "tool_use",
}

// appendAnthropicJSON appends a message object for a.
func appendAnthropicJSON(b []byte, a *answer) []byte {
	b = append(b, `{"id":"msg_mock_`...)
	b = strconv.AppendUint(b, a.seq, 10)
	b = append(b, `","type":"message","role":"assistant","model":`...)
	b = jsonx.AppendString(b, a.model)
	b = append(b, `,"content":[`...)
	first := true
	sep := func(b []byte) []byte {
		if !first {
			b = append(b, ',')
		}
		first = false
		return b
	}
	if len(a.thinking) > 0 {
		b = sep(b)
		b = append(b, `{"type":"thinking","thinking":`...)
		b = jsonx.AppendString(b, a.fullThinking())
		b = append(b, `,"signature":`...)
		b = jsonx.AppendString(b, a.signature)
		b = append(b, '}')
	}
	if len(a.text) > 0 {
		b = sep(b)
		b = append(b, `{"type":"text","text":`...)
		b = jsonx.AppendString(b, a.fullText())
		b = append(b, '}')
	}
	for _, c := range a.calls {
		b = sep(b)
		b = append(b, `{"type":"tool_use","id":`...)
		b = jsonx.AppendString(b, c.id)
		b = append(b, `,"name":`...)
		b = jsonx.AppendString(b, c.name)
		b = append(b, `,"input":`...)
		b = append(b, c.args...)
		b = append(b, '}')
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, anthropicStop[a.finish]...)
	b = append(b, `","stop_sequence":`...)
	b = appendNullable(b, a.stopSeq)
	b = append(b, `,"usage":`...)
	b = appendAnthropicUsage(b, a, a.outputTokens)
	b = b[:len(b)-1] // reopen the usage object for the service tier
	return append(b, `,"service_tier":"standard"}}`...)
}

// appendAnthropicUsage appends a usage object with the given output count.
func appendAnthropicUsage(b []byte, a *answer, output int) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(a.inputTokens-a.cachedTokens), 10)
	b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, int64(a.cachedTokens), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(output), 10)
	return append(b, '}')
}

// anthropicEvent starts an event: the event line and the data prefix.
func anthropicEvent(b []byte, name string) []byte {
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	return b
}

// blockStart, blockDelta and blockStop are the fixed parts of the block
// events, up to the index.
const (
	blockStart = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"
	blockDelta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"
	blockStop  = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"
	pingEvent  = "event: ping\ndata: {\"type\": \"ping\"}\n\n"
)

// streamAnthropic writes a as Messages stream events.
func streamAnthropic(ew *eventWriter, a *answer) error {
	b := anthropicEvent(ew.buf[:0], "message_start")
	b = append(b, `{"type":"message_start","message":{"id":"msg_mock_`...)
	b = strconv.AppendUint(b, a.seq, 10)
	b = append(b, `","type":"message","role":"assistant","model":`...)
	b = jsonx.AppendString(b, a.model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	b = appendAnthropicUsage(b, a, 1)
	b = b[:len(b)-1]
	b = append(b, `,"service_tier":"standard"}}}`+"\n\n"...)
	if err := ew.event(b); err != nil {
		return err
	}

	index := 0
	pinged := false
	// start writes a content_block_start, followed by a ping after the
	// first one, as the real API does.
	start := func(block string) error {
		b = append(b[:0], blockStart...)
		b = strconv.AppendInt(b, int64(index), 10)
		b = append(b, `,"content_block":`...)
		b = append(b, block...)
		b = append(b, "}\n\n"...)
		if !pinged {
			b = append(b, pingEvent...)
			pinged = true
		}
		return ew.event(b)
	}
	delta := func(kind, field, value string) error {
		b = append(b[:0], blockDelta...)
		b = strconv.AppendInt(b, int64(index), 10)
		b = append(b, `,"delta":{"type":"`...)
		b = append(b, kind...)
		b = append(b, `","`...)
		b = append(b, field...)
		b = append(b, `":`...)
		b = jsonx.AppendString(b, value)
		b = append(b, "}}\n\n"...)
		if kind == "signature_delta" || value == "" {
			return ew.event(b)
		}
		return ew.content(b)
	}
	stop := func() error {
		b = append(b[:0], blockStop...)
		b = strconv.AppendInt(b, int64(index), 10)
		b = append(b, "}\n\n"...)
		index++
		return ew.event(b)
	}

	if len(a.thinking) > 0 {
		if err := start(`{"type":"thinking","thinking":"","signature":""}`); err != nil {
			return err
		}
		for _, piece := range a.thinking {
			if err := delta("thinking_delta", "thinking", piece); err != nil {
				return err
			}
		}
		if err := delta("signature_delta", "signature", a.signature); err != nil {
			return err
		}
		if err := stop(); err != nil {
			return err
		}
	}
	if len(a.text) > 0 {
		if err := start(`{"type":"text","text":""}`); err != nil {
			return err
		}
		for _, piece := range a.text {
			if err := delta("text_delta", "text", piece); err != nil {
				return err
			}
		}
		if err := stop(); err != nil {
			return err
		}
	}
	for _, c := range a.calls {
		block := make([]byte, 0, 96)
		block = append(block, `{"type":"tool_use","id":`...)
		block = jsonx.AppendString(block, c.id)
		block = append(block, `,"name":`...)
		block = jsonx.AppendString(block, c.name)
		block = append(block, `,"input":{}}`...)
		if err := start(string(block)); err != nil {
			return err
		}
		// The real API opens every tool block with an empty fragment.
		if err := delta("input_json_delta", "partial_json", ""); err != nil {
			return err
		}
		for _, frag := range c.frags {
			if err := delta("input_json_delta", "partial_json", frag); err != nil {
				return err
			}
		}
		if err := stop(); err != nil {
			return err
		}
	}
	if !pinged {
		b = append(b[:0], pingEvent...)
	} else {
		b = b[:0]
	}

	b = anthropicEvent(b, "message_delta")
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":"`...)
	b = append(b, anthropicStop[a.finish]...)
	b = append(b, `","stop_sequence":`...)
	b = appendNullable(b, a.stopSeq)
	b = append(b, `},"usage":`...)
	b = appendAnthropicUsage(b, a, a.outputTokens)
	b = append(b, "}\n\n"...)
	b = anthropicEvent(b, "message_stop")
	b = append(b, `{"type":"message_stop"}`+"\n\n"...)
	ew.buf = b
	return ew.event(b)
}
