package converter

import "github.com/aigateway/gateway/converter/jsonx"

// OpenAI Chat Completions request types (POST /v1/chat/completions). Fields
// that are polymorphic on the wire (string or array, string or object) stay
// jsonx.RawMessage and are decoded where they are used. Fields the gateway
// drops on the way to Anthropic are not declared at all, so they cost nothing
// to decode; docs/conversion.md lists them.

// oaRequest is a chat completion request body.
type oaRequest struct {
	Model               string            `json:"model"`
	Messages            []oaMessage       `json:"messages"`
	MaxTokens           *int64            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	N                   *int64            `json:"n,omitempty"`
	Stop                jsonx.RawMessage  `json:"stop,omitempty"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *oaStreamOptions  `json:"stream_options,omitempty"`
	Tools               []oaTool          `json:"tools,omitempty"`
	ToolChoice          jsonx.RawMessage  `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	User                string            `json:"user,omitempty"`
	ReasoningEffort     string            `json:"reasoning_effort,omitempty"`
	ResponseFormat      *oaResponseFormat `json:"response_format,omitempty"`
	Audio               jsonx.RawMessage  `json:"audio,omitempty"`
	Modalities          []string          `json:"modalities,omitempty"`
	Functions           jsonx.RawMessage  `json:"functions,omitempty"`
	FunctionCall        jsonx.RawMessage  `json:"function_call,omitempty"`
	WebSearchOptions    jsonx.RawMessage  `json:"web_search_options,omitempty"`
	// Fields Anthropic has no place for, carried in x_openai by an
	// intermediate translation and written back from it.
	Logprobs         *bool            `json:"logprobs,omitempty"`
	TopLogprobs      *int64           `json:"top_logprobs,omitempty"`
	ServiceTier      string           `json:"service_tier,omitempty"`
	Store            *bool            `json:"store,omitempty"`
	Metadata         jsonx.RawMessage `json:"metadata,omitempty"`
	PromptCacheKey   string           `json:"prompt_cache_key,omitempty"`
	SafetyIdentifier string           `json:"safety_identifier,omitempty"`
	Verbosity        string           `json:"verbosity,omitempty"`
}

// oaStreamOptions is the stream_options object.
type oaStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// oaMessage is one entry of messages, for every role.
type oaMessage struct {
	Role string `json:"role"`
	// Content is a string, an array of oaContentPart, or null.
	Content    jsonx.RawMessage `json:"content,omitempty"`
	Name       string           `json:"name,omitempty"`
	ToolCalls  []oaToolCall     `json:"tool_calls,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
	Refusal    *string          `json:"refusal,omitempty"`
	// ThinkingBlocks is the de-facto extension (LiteLLM and others) that lets
	// a client hand Anthropic thinking blocks back with their signature, which
	// Anthropic requires in a tool-use turn when thinking is on.
	ThinkingBlocks []anBlock `json:"thinking_blocks,omitempty"`
}

// oaContentPart is one part of a message's content array.
type oaContentPart struct {
	Type       string           `json:"type"`
	Text       *string          `json:"text,omitempty"`
	ImageURL   *oaImageURL      `json:"image_url,omitempty"`
	InputAudio jsonx.RawMessage `json:"input_audio,omitempty"`
	File       *oaFile          `json:"file,omitempty"`
	Refusal    *string          `json:"refusal,omitempty"`
	// CacheControl is an extension some clients send to reach Anthropic's
	// prompt caching through the OpenAI dialect; it is carried as is.
	CacheControl jsonx.RawMessage `json:"cache_control,omitempty"`
}

// oaImageURL is the image_url object of an image part.
type oaImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// oaFile is the file object of a file part.
type oaFile struct {
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// oaToolCall is one entry of an assistant message's tool_calls.
type oaToolCall struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Function oaFunctionCall `json:"function"`
}

// oaFunctionCall names the called function; Arguments is a JSON text.
type oaFunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// oaTool is one entry of tools.
type oaTool struct {
	Type     string      `json:"type"`
	Function *oaFunction `json:"function,omitempty"`
}

// oaFunction declares a callable function.
type oaFunction struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Parameters  jsonx.RawMessage `json:"parameters,omitempty"`
	Strict      *bool            `json:"strict,omitempty"`
}

// oaToolChoiceObject is the object form of tool_choice.
type oaToolChoiceObject struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// oaResponseFormat is response_format.
type oaResponseFormat struct {
	Type       string        `json:"type"`
	JSONSchema *oaJSONSchema `json:"json_schema,omitempty"`
}

// oaJSONSchema is response_format.json_schema.
type oaJSONSchema struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Schema      jsonx.RawMessage `json:"schema,omitempty"`
	Strict      *bool            `json:"strict,omitempty"`
}
