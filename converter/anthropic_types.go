package converter

import "github.com/aigateway/gateway/converter/jsonx"

// Anthropic Messages request types (POST /v1/messages). Polymorphic fields
// (string or blocks) stay jsonx.RawMessage; cache_control and tool schemas
// are carried as raw bytes.

// anRequest is a Messages request body.
type anRequest struct {
	Model string `json:"model"`
	// MaxTokens is required by Anthropic; only an intermediate hub body
	// (RequestOptions.Intermediate) leaves it out.
	MaxTokens     int64            `json:"max_tokens,omitempty"`
	System        jsonx.RawMessage `json:"system,omitempty"`
	Messages      []anMessage      `json:"messages"`
	Temperature   *float64         `json:"temperature,omitempty"`
	TopP          *float64         `json:"top_p,omitempty"`
	TopK          *int64           `json:"top_k,omitempty"`
	StopSequences []string         `json:"stop_sequences,omitempty"`
	Stream        bool             `json:"stream,omitempty"`
	Tools         []anTool         `json:"tools,omitempty"`
	ToolChoice    *anToolChoice    `json:"tool_choice,omitempty"`
	Metadata      *anMetadata      `json:"metadata,omitempty"`
	Thinking      *anThinking      `json:"thinking,omitempty"`
	OutputConfig  *anOutputConfig  `json:"output_config,omitempty"`
	// XOpenAI is the x_openai extension of intermediate hub bodies.
	XOpenAI *rsReqXOpenAI `json:"x_openai,omitempty"`
}

// anMessage is one conversation turn. Content is a string or an array of
// blocks on input; the converter always writes an array.
type anMessage struct {
	Role    string           `json:"role"`
	Content jsonx.RawMessage `json:"content"`
}

// anBlock is a content block of any type; only the fields of its type are set.
type anBlock struct {
	Type   string    `json:"type"`
	Text   string    `json:"text,omitempty"`
	Source *anSource `json:"source,omitempty"`
	// tool_use
	ID    string           `json:"id,omitempty"`
	Name  string           `json:"name,omitempty"`
	Input jsonx.RawMessage `json:"input,omitempty"`
	// tool_result: Content is a string or an array of blocks.
	ToolUseID string           `json:"tool_use_id,omitempty"`
	Content   jsonx.RawMessage `json:"content,omitempty"`
	IsError   bool             `json:"is_error,omitempty"`
	// thinking and redacted_thinking
	Thinking  *string `json:"thinking,omitempty"`
	Signature string  `json:"signature,omitempty"`
	Data      string  `json:"data,omitempty"`
	// document
	Title        string           `json:"title,omitempty"`
	CacheControl jsonx.RawMessage `json:"cache_control,omitempty"`
}

// anSource is the source of an image or document block.
type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// anTool is a tool definition: a client tool (Type "" or "custom") or a
// server tool whose Type names its version (web_search_20250305, …).
type anTool struct {
	Type         string           `json:"type,omitempty"`
	Name         string           `json:"name"`
	Description  string           `json:"description,omitempty"`
	InputSchema  jsonx.RawMessage `json:"input_schema,omitempty"`
	Strict       *bool            `json:"strict,omitempty"`
	CacheControl jsonx.RawMessage `json:"cache_control,omitempty"`
	// web_search server tool
	AllowedDomains []string           `json:"allowed_domains,omitempty"`
	UserLocation   *rsReqUserLocation `json:"user_location,omitempty"`
}

// anToolChoice is tool_choice.
type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// anMetadata is metadata.
type anMetadata struct {
	UserID string `json:"user_id,omitempty"`
}

// anThinking is the extended-thinking configuration.
type anThinking struct {
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens,omitempty"`
}

// anOutputConfig is output_config: effort and structured output format.
type anOutputConfig struct {
	Effort string          `json:"effort,omitempty"`
	Format *anOutputFormat `json:"format,omitempty"`
}

// anOutputFormat is output_config.format.
type anOutputFormat struct {
	Type   string           `json:"type"`
	Schema jsonx.RawMessage `json:"schema,omitempty"`
}
