package converter

import "github.com/aigateway/gateway/converter/jsonx"

// openAICompletion is a non-streamed Chat Completions answer.
type openAICompletion struct {
	ID      string                   `json:"id"`
	Created int64                    `json:"created"`
	Model   string                   `json:"model"`
	Choices []openAICompletionChoice `json:"choices"`
	Usage   *openAIResponseUsage     `json:"usage"`
}

// openAICompletionChoice is one choice of an answer; the gateway reads the
// first only (n>1 is refused on the request side).
type openAICompletionChoice struct {
	Index        int                     `json:"index"`
	Message      openAICompletionMessage `json:"message"`
	FinishReason string                  `json:"finish_reason"`
}

// openAICompletionMessage is the assistant message of an answer, with the
// de-facto reasoning extensions (reasoning_content or reasoning, and litellm's
// thinking_blocks that keep Anthropic signatures for round trips).
type openAICompletionMessage struct {
	// Content is a string, null, or (some compatible servers) text parts.
	Content          jsonx.RawMessage              `json:"content"`
	Refusal          string                        `json:"refusal"`
	ReasoningContent string                        `json:"reasoning_content"`
	Reasoning        string                        `json:"reasoning"`
	ThinkingBlocks   []openAIResponseThinkingBlock `json:"thinking_blocks"`
	ToolCalls        []openAIResponseToolCall      `json:"tool_calls"`
	FunctionCall     *openAIResponseFunction       `json:"function_call"`
}

// openAIResponseTextPart is a content part of a compatible server's answer.
type openAIResponseTextPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// openAIResponseThinkingBlock is an entry of the thinking_blocks extension:
// an Anthropic thinking or redacted_thinking block carried verbatim.
type openAIResponseThinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
	Data      string `json:"data"`
}

// openAIResponseToolCall is one tool call of an answer.
type openAIResponseToolCall struct {
	ID       string                 `json:"id"`
	Type     string                 `json:"type"`
	Function openAIResponseFunction `json:"function"`
}

// openAIResponseFunction is a function name with its JSON-string arguments.
type openAIResponseFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// openAIResponseUsage is the usage block of an answer or of the usage chunk.
// prompt_tokens includes the cached tokens. The two cache_*_input_tokens
// fields are litellm's extension, which the gateway also writes so that a
// round trip keeps the cache-write count.
type openAIResponseUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// gateway returns the usage in the gateway's terms.
func (u *openAIResponseUsage) gateway() Usage {
	if u == nil {
		return Usage{}
	}
	cached := u.CacheReadInputTokens
	if u.PromptTokensDetails != nil && u.PromptTokensDetails.CachedTokens > 0 {
		cached = u.PromptTokensDetails.CachedTokens
	}
	return Usage{
		InputTokens:      u.PromptTokens,
		OutputTokens:     u.CompletionTokens,
		CacheReadTokens:  cached,
		CacheWriteTokens: u.CacheCreationInputTokens,
	}
}

// openAIChunk is one streamed Chat Completions chunk, or an error payload
// (`data: {"error":…}`) sent after the status line.
type openAIChunk struct {
	ID      string               `json:"id"`
	Created int64                `json:"created"`
	Model   string               `json:"model"`
	Choices []openAIChunkChoice  `json:"choices"`
	Usage   *openAIResponseUsage `json:"usage"`
	Error   *openAIStreamError   `json:"error"`
}

// openAIChunkBody is a chunk as the OpenAI → Anthropic machine decodes it:
// only the first choice, into an array so that decoding allocates no slice.
type openAIChunkBody struct {
	Choices [1]openAIChunkChoice `json:"choices"`
	Usage   *openAIResponseUsage `json:"usage"`
	Error   *openAIStreamError   `json:"error"`
}

// openAIChunkHead is the first chunk, whose id and model start the message.
type openAIChunkHead struct {
	ID    string `json:"id"`
	Model string `json:"model"`
	openAIChunkBody
}

// openAIChunkChoice is one choice of a chunk.
type openAIChunkChoice struct {
	Index        int              `json:"index"`
	Delta        openAIChunkDelta `json:"delta"`
	FinishReason string           `json:"finish_reason"`
}

// openAIChunkDelta is a chunk's delta, reasoning extensions included.
type openAIChunkDelta struct {
	Content          string                        `json:"content"`
	Refusal          string                        `json:"refusal"`
	ReasoningContent string                        `json:"reasoning_content"`
	Reasoning        string                        `json:"reasoning"`
	ThinkingBlocks   []openAIResponseThinkingBlock `json:"thinking_blocks"`
	ToolCalls        []openAIChunkToolCall         `json:"tool_calls"`
}

// openAIChunkToolCall is a fragment of a streamed tool call, keyed by index.
type openAIChunkToolCall struct {
	Index    int                    `json:"index"`
	ID       string                 `json:"id"`
	Function openAIResponseFunction `json:"function"`
}

// openAIStreamError is the error object of an OpenAI error payload.
type openAIStreamError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
}
