package converter

import "github.com/aigateway/gateway/converter/jsonx"

// anthropicResponse is a non-streamed Messages API answer.
type anthropicResponse struct {
	ID           string                   `json:"id"`
	Type         string                   `json:"type"`
	Role         string                   `json:"role"`
	Model        string                   `json:"model"`
	Content      []anthropicResponseBlock `json:"content"`
	StopReason   string                   `json:"stop_reason"`
	StopSequence string                   `json:"stop_sequence"`
	Usage        anthropicResponseUsage   `json:"usage"`
}

// anthropicResponseBlock is one content block of an answer or of a
// content_block_start event. Only the fields of the known block types are
// kept; input stays raw so tool arguments are never re-encoded.
type anthropicResponseBlock struct {
	Type      string           `json:"type"`
	Text      string           `json:"text"`
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Input     jsonx.RawMessage `json:"input"`
	Thinking  string           `json:"thinking"`
	Signature string           `json:"signature"`
	Data      string           `json:"data"`
}

// anthropicResponseUsage is the usage block of an answer or of message_start.
// Anthropic's input_tokens excludes the cached tokens.
type anthropicResponseUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokensDetails      *struct {
		ThinkingTokens int64 `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

// gateway returns the usage in the gateway's terms.
func (u anthropicResponseUsage) gateway() Usage {
	return Usage{
		InputTokens:      u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:     u.OutputTokens,
		CacheReadTokens:  u.CacheReadInputTokens,
		CacheWriteTokens: u.CacheCreationInputTokens,
	}
}

// anthropicStreamEvent is the union of every streamed Messages event. One
// value is reused for a whole stream; reset clears it between events.
type anthropicStreamEvent struct {
	Type         string                  `json:"type"`
	Index        int                     `json:"index"`
	Message      *anthropicResponse      `json:"message"`
	ContentBlock *anthropicResponseBlock `json:"content_block"`
	Delta        anthropicStreamDelta    `json:"delta"`
	Usage        anthropicStreamUsage    `json:"usage"`
	Error        *anthropicStreamError   `json:"error"`
}

// reset prepares the event for decoding the next one. Usage counters start
// at -1 so that a count absent from message_delta can be told from a zero.
func (e *anthropicStreamEvent) reset() {
	*e = anthropicStreamEvent{Index: -1, Usage: anthropicStreamUsage{-1, -1, -1, -1}}
}

// anthropicStreamDelta is the delta of content_block_delta (text, tool
// arguments, thinking, signature) and of message_delta (stop reason).
type anthropicStreamDelta struct {
	Type         string `json:"type"`
	Text         string `json:"text"`
	PartialJSON  string `json:"partial_json"`
	Thinking     string `json:"thinking"`
	Signature    string `json:"signature"`
	StopReason   string `json:"stop_reason"`
	StopSequence string `json:"stop_sequence"`
}

// anthropicStreamUsage is message_delta's usage. Every count is cumulative
// and optional: -1 means absent (see reset).
type anthropicStreamUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// anthropicStreamError is the error object of an `error` event.
type anthropicStreamError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}
