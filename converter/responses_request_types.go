package converter

import "github.com/aigateway/gateway/converter/jsonx"

// OpenAI Responses API request types (POST /v1/responses). As for Chat
// Completions, polymorphic fields (a string or an item list, a string or an
// object) stay jsonx.RawMessage and are decoded where they are used. The
// same struct is written when a hub body is sent to a Responses upstream.
// docs/conversion.md ("Responses requests") says what happens to each field.

// rsReqRequest is a create-response request body.
type rsReqRequest struct {
	Model string `json:"model"`
	// Input is a string (one user message) or an array of rsInItem.
	Input jsonx.RawMessage `json:"input,omitempty"`
	// Instructions is a string: the system prompt.
	Instructions         jsonx.RawMessage `json:"instructions,omitempty"`
	MaxOutputTokens      *int64           `json:"max_output_tokens,omitempty"`
	Temperature          *float64         `json:"temperature,omitempty"`
	TopP                 *float64         `json:"top_p,omitempty"`
	Stream               bool             `json:"stream,omitempty"`
	Tools                []rsReqTool      `json:"tools,omitempty"`
	ToolChoice           jsonx.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls    *bool            `json:"parallel_tool_calls,omitempty"`
	Reasoning            *rsReqReasoning  `json:"reasoning,omitempty"`
	Text                 *rsReqText       `json:"text,omitempty"`
	Store                *bool            `json:"store,omitempty"`
	Include              []string         `json:"include,omitempty"`
	Metadata             jsonx.RawMessage `json:"metadata,omitempty"`
	User                 string           `json:"user,omitempty"`
	SafetyIdentifier     string           `json:"safety_identifier,omitempty"`
	PromptCacheKey       string           `json:"prompt_cache_key,omitempty"`
	PromptCacheRetention string           `json:"prompt_cache_retention,omitempty"`
	ServiceTier          string           `json:"service_tier,omitempty"`
	Truncation           string           `json:"truncation,omitempty"`
	TopLogprobs          *int64           `json:"top_logprobs,omitempty"`
	MaxToolCalls         *int64           `json:"max_tool_calls,omitempty"`
	// State kept by OpenAI, which no other provider can reach; the
	// gateway's stored responses resolve previous_response_id before
	// conversion.
	PreviousResponseID string           `json:"previous_response_id,omitempty"`
	Conversation       jsonx.RawMessage `json:"conversation,omitempty"`
	Prompt             jsonx.RawMessage `json:"prompt,omitempty"`
	Background         *bool            `json:"background,omitempty"`
}

// rsReqReasoning is the reasoning object.
type rsReqReasoning struct {
	Effort  string `json:"effort,omitempty"`
	Summary string `json:"summary,omitempty"`
	// GenerateSummary is the deprecated name of Summary.
	GenerateSummary string `json:"generate_summary,omitempty"`
}

// rsReqText is the text object: output format and verbosity.
type rsReqText struct {
	Format    *rsReqTextFormat `json:"format,omitempty"`
	Verbosity string           `json:"verbosity,omitempty"`
}

// rsReqTextFormat is text.format (text, json_object or json_schema; the
// schema members sit beside type, unlike Chat's response_format).
type rsReqTextFormat struct {
	Type        string           `json:"type"`
	Name        string           `json:"name,omitempty"`
	Description string           `json:"description,omitempty"`
	Schema      jsonx.RawMessage `json:"schema,omitempty"`
	Strict      *bool            `json:"strict,omitempty"`
}

// rsReqTool is one entry of tools, for every tool type; only the members of
// its type are set.
type rsReqTool struct {
	Type        string `json:"type"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// function
	Parameters   jsonx.RawMessage `json:"parameters,omitempty"`
	Strict       *bool            `json:"strict,omitempty"`
	DeferLoading *bool            `json:"defer_loading,omitempty"`
	// custom: {type: text} or {type: grammar, syntax, definition}
	Format *rsReqCustomFormat `json:"format,omitempty"`
	// namespace: the function tools it groups
	Tools []rsReqTool `json:"tools,omitempty"`
	// web_search
	ExternalWebAccess *bool              `json:"external_web_access,omitempty"`
	Filters           *rsReqWebFilters   `json:"filters,omitempty"`
	UserLocation      *rsReqUserLocation `json:"user_location,omitempty"`
	SearchContextSize string             `json:"search_context_size,omitempty"`
}

// rsReqCustomFormat is the input format of a custom (freeform) tool.
type rsReqCustomFormat struct {
	Type       string `json:"type"`
	Syntax     string `json:"syntax,omitempty"`
	Definition string `json:"definition,omitempty"`
}

// rsReqWebFilters is a web_search tool's filters.
type rsReqWebFilters struct {
	AllowedDomains []string `json:"allowed_domains,omitempty"`
}

// rsReqUserLocation is the approximate location of a web search's user, the
// same shape on OpenAI and Anthropic.
type rsReqUserLocation struct {
	Type     string `json:"type,omitempty"`
	City     string `json:"city,omitempty"`
	Country  string `json:"country,omitempty"`
	Region   string `json:"region,omitempty"`
	Timezone string `json:"timezone,omitempty"`
}

// rsReqToolChoiceObject is the object form of tool_choice.
type rsReqToolChoiceObject struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	// allowed_tools
	Mode  string                  `json:"mode,omitempty"`
	Tools []rsReqToolChoiceObject `json:"tools,omitempty"`
}

// rsInItem is one entry of input, for every item type; only the members of
// its type are set.
type rsInItem struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	// message: Content is a string or an array of rsInPart. reasoning:
	// Content is its reasoning_text parts.
	Role    string           `json:"role,omitempty"`
	Content jsonx.RawMessage `json:"content,omitempty"`
	// function_call, custom_tool_call, local_shell_call and their outputs
	CallID    string           `json:"call_id,omitempty"`
	Name      string           `json:"name,omitempty"`
	Namespace string           `json:"namespace,omitempty"`
	Arguments jsonx.RawMessage `json:"arguments,omitempty"`
	Input     jsonx.RawMessage `json:"input,omitempty"`
	Output    jsonx.RawMessage `json:"output,omitempty"`
	Action    jsonx.RawMessage `json:"action,omitempty"`
	// reasoning
	Summary          []rsInSummary `json:"summary,omitempty"`
	EncryptedContent *string       `json:"encrypted_content,omitempty"`
	// additional_tools
	Tools []rsReqTool `json:"tools,omitempty"`
}

// rsInSummary is one summary part of a reasoning item.
type rsInSummary struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// rsInPart is one content part of a message or of a tool call's output.
type rsInPart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text,omitempty"`
	Refusal  *string `json:"refusal,omitempty"`
	ImageURL string  `json:"image_url,omitempty"`
	FileID   string  `json:"file_id,omitempty"`
	FileData string  `json:"file_data,omitempty"`
	FileURL  string  `json:"file_url,omitempty"`
	Filename string  `json:"filename,omitempty"`
	Detail   string  `json:"detail,omitempty"`
}

// Input items written for a Responses upstream, one type per item so that
// required members are always present.

// rsInMessageOut is a message item.
type rsInMessageOut struct {
	Type    string           `json:"type"`
	Role    string           `json:"role"`
	Content jsonx.RawMessage `json:"content"`
}

// rsInFunctionCallOut is a function_call item.
type rsInFunctionCallOut struct {
	Type      string `json:"type"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// rsInFunctionCallOutputOut is a function_call_output item; Output is a
// string or an array of input parts.
type rsInFunctionCallOutputOut struct {
	Type   string           `json:"type"`
	CallID string           `json:"call_id"`
	Output jsonx.RawMessage `json:"output"`
}

// rsInReasoningOut is a reasoning item; summary is required, even empty.
type rsInReasoningOut struct {
	Type             string        `json:"type"`
	Summary          []rsInSummary `json:"summary"`
	EncryptedContent string        `json:"encrypted_content,omitempty"`
}

// rsReqXOpenAI is the x_openai extension object of an intermediate hub
// body (RequestOptions.Intermediate): what an OpenAI client asked for that
// Anthropic Messages has no place for, kept for the OpenAI format the body
// is translated to next. It never reaches an Anthropic upstream.
type rsReqXOpenAI struct {
	ServiceTier          string           `json:"service_tier,omitempty"`
	PromptCacheKey       string           `json:"prompt_cache_key,omitempty"`
	PromptCacheRetention string           `json:"prompt_cache_retention,omitempty"`
	Store                *bool            `json:"store,omitempty"`
	Metadata             jsonx.RawMessage `json:"metadata,omitempty"`
	Verbosity            string           `json:"verbosity,omitempty"`
	ParallelToolCalls    *bool            `json:"parallel_tool_calls,omitempty"`
	User                 string           `json:"user,omitempty"`
	SafetyIdentifier     string           `json:"safety_identifier,omitempty"`
	// ReasoningEffort is the client's own effort: the hub's thinking budget
	// buckets several efforts together, and may be switched off by
	// Anthropic's thinking rules.
	ReasoningEffort  string   `json:"reasoning_effort,omitempty"`
	ReasoningSummary string   `json:"reasoning_summary,omitempty"`
	Include          []string `json:"include,omitempty"`
	Truncation       string   `json:"truncation,omitempty"`
	MaxToolCalls     *int64   `json:"max_tool_calls,omitempty"`
	Logprobs         *bool    `json:"logprobs,omitempty"`
	TopLogprobs      *int64   `json:"top_logprobs,omitempty"`
	// Temperature and TopP are set when the hub body cannot carry the
	// client's: out of Anthropic's range, or dropped by Anthropic's rules
	// (thinking, temperature with top_p).
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	// ResponseFormat is "json_object" when the client asked for it.
	ResponseFormat string `json:"response_format,omitempty"`
	// Chat Completions only.
	N                *int64           `json:"n,omitempty"`
	Audio            jsonx.RawMessage `json:"audio,omitempty"`
	Modalities       []string         `json:"modalities,omitempty"`
	WebSearchOptions jsonx.RawMessage `json:"web_search_options,omitempty"`
}
