package mock

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// The request types hold only the fields the mock looks at. Everything else
// in a request is ignored, as a provider ignores what it does not know about
// for the purpose of producing an answer.

// oaRequest is an OpenAI Chat Completions request.
type oaRequest struct {
	Model               *string           `json:"model"`
	Messages            []oaMessage       `json:"messages"`
	Stream              bool              `json:"stream"`
	StreamOptions       *oaStreamOptions  `json:"stream_options"`
	Tools               []oaTool          `json:"tools"`
	ToolChoice          jsonx.RawMessage  `json:"tool_choice"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls"`
	Stop                jsonx.RawMessage  `json:"stop"`
	MaxTokens           *int              `json:"max_tokens"`
	MaxCompletionTokens *int              `json:"max_completion_tokens"`
	Temperature         *float64          `json:"temperature"`
	ResponseFormat      *oaResponseFormat `json:"response_format"`
}

type oaResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string           `json:"name"`
		Schema jsonx.RawMessage `json:"schema"`
		Strict *bool            `json:"strict"`
	} `json:"json_schema"`
}

type oaStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaMessage struct {
	Role       string       `json:"role"`
	Content    oaContent    `json:"content"`
	ToolCalls  []oaToolCall `json:"tool_calls"`
	ToolCallID string       `json:"tool_call_id"`
}

type oaToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name       string           `json:"name"`
		Parameters jsonx.RawMessage `json:"parameters"`
		Strict     *bool            `json:"strict"`
	} `json:"function"`
}

type oaPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

// content is message content as both provider APIs write it: a string, an
// array of parts or blocks, or null.
type content[T any] struct {
	set      bool
	isString bool
	text     string
	items    []T
}

// UnmarshalJSON accepts a string, an array or null.
func (c *content[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*c = content[T]{}
		return nil
	}
	c.set = true
	switch b[0] {
	case '"':
		c.isString = true
		return jsonx.Unmarshal(b, &c.text)
	case '[':
		return jsonx.Unmarshal(b, &c.items)
	}
	return fmt.Errorf("content must be a string or an array")
}

// oaContent is an OpenAI message's content: a string, parts, or null.
type oaContent struct{ content[oaPart] }

// joinedText returns the content's text, text parts joined with a space,
// and how many image parts it holds.
func (c *oaContent) joinedText() (string, int) {
	if c.isString {
		return c.text, 0
	}
	var texts []string
	images := 0
	for _, p := range c.items {
		switch p.Type {
		case "text":
			texts = append(texts, p.Text)
		case "image_url":
			images++
		}
	}
	return strings.Join(texts, " "), images
}

// anRequest is an Anthropic Messages request.
type anRequest struct {
	Model         *string          `json:"model"`
	MaxTokens     *int             `json:"max_tokens"`
	Messages      []anMessage      `json:"messages"`
	System        anContent        `json:"system"`
	Stream        bool             `json:"stream"`
	Tools         []anTool         `json:"tools"`
	ToolChoice    *anToolChoice    `json:"tool_choice"`
	StopSequences []string         `json:"stop_sequences"`
	Temperature   *float64         `json:"temperature"`
	Thinking      *anThinking      `json:"thinking"`
	Metadata      jsonx.RawMessage `json:"metadata"`
	OutputConfig  *struct {
		Effort string `json:"effort"`
	} `json:"output_config"`
	// midConversationSystem is set when the request names the beta that
	// allows system turns among the messages (anthropic-beta header).
	midConversationSystem bool
}

type anMessage struct {
	Role    string    `json:"role"`
	Content anContent `json:"content"`
}

type anTool struct {
	Type        string           `json:"type"`
	Name        string           `json:"name"`
	InputSchema jsonx.RawMessage `json:"input_schema"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

type anThinking struct {
	Type         string `json:"type"`
	BudgetTokens *int   `json:"budget_tokens"`
}

type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type anBlock struct {
	Type      string           `json:"type"`
	Text      string           `json:"text"`
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Input     jsonx.RawMessage `json:"input"`
	ToolUseID string           `json:"tool_use_id"`
	Content   anContent        `json:"content"`
	Source    *anSource        `json:"source"`
}

// anContent is an Anthropic message's content: a string or blocks.
type anContent struct{ content[anBlock] }

// joinedText returns the text blocks joined with sep and the number of
// image blocks.
func (c *anContent) joinedText(sep string) (string, int) {
	if c.isString {
		return c.text, 0
	}
	var texts []string
	images := 0
	for _, b := range c.items {
		switch b.Type {
		case "text":
			texts = append(texts, b.Text)
		case "image":
			images++
		}
	}
	return strings.Join(texts, sep), images
}

// hasToolResults reports whether the content holds a tool_result block.
func (c *anContent) hasToolResults() bool {
	for _, b := range c.items {
		if b.Type == "tool_result" {
			return true
		}
	}
	return false
}

// prompt is what the answer is derived from, extracted from either API.
type prompt struct {
	model        string
	userText     string
	images       int
	toolResults  []string
	lastIsUser   bool // the last message is a user message without tool results
	tools        []toolDecl
	forcedTool   string
	noTools      bool // tool_choice "none"
	oneTool      bool // parallel tool calls disabled
	stops        []string
	maxTokens    int // 0: no limit
	thinking     bool
	stream       bool
	includeUsage bool
	cached       bool
	bodyLen      int
	script       *scriptRule // the script's rule for this request, if any
}

type toolDecl struct {
	name   string
	schema jsonx.RawMessage
	// custom marks a Responses custom tool, whose calls carry free-form
	// input instead of JSON arguments.
	custom bool
}

// decodeOpenAI decodes an OpenAI request body.
func decodeOpenAI(body []byte) (*oaRequest, error) {
	req := new(oaRequest)
	if err := jsonx.Unmarshal(body, req); err != nil {
		return nil, fmt.Errorf("decode chat completions request: %w", err)
	}
	return req, nil
}

// decodeAnthropic decodes an Anthropic request body.
func decodeAnthropic(body []byte) (*anRequest, error) {
	req := new(anRequest)
	if err := jsonx.Unmarshal(body, req); err != nil {
		return nil, fmt.Errorf("decode messages request: %w", err)
	}
	return req, nil
}

// openAIPrompt extracts the prompt from an OpenAI request.
func openAIPrompt(req *oaRequest, body []byte) prompt {
	p := prompt{
		stream:  req.Stream,
		cached:  bytes.Contains(body, []byte(`"cache_control"`)),
		bodyLen: len(body),
	}
	if req.Model != nil {
		p.model = *req.Model
	}
	if req.StreamOptions != nil {
		p.includeUsage = req.StreamOptions.IncludeUsage
	}
	msgs := req.Messages
	// Instructions after the last turn (Claude Code's mid-conversation
	// system messages, converted in place) do not change whom the model
	// answers.
	for len(msgs) > 0 && (msgs[len(msgs)-1].Role == "system" || msgs[len(msgs)-1].Role == "developer") {
		msgs = msgs[:len(msgs)-1]
	}
	if n := len(msgs); n > 0 {
		switch msgs[n-1].Role {
		case "user":
			p.lastIsUser = true
		case "tool":
			// The trailing run of tool messages answers the last tool calls.
			i := n
			for i > 0 && msgs[i-1].Role == "tool" {
				i--
			}
			for _, m := range msgs[i:] {
				t, _ := m.Content.joinedText()
				p.toolResults = append(p.toolResults, t)
			}
		}
	}
	for i := len(msgs) - 1; i >= 0 && p.toolResults == nil; i-- {
		if msgs[i].Role == "user" {
			p.userText, p.images = msgs[i].Content.joinedText()
			break
		}
	}
	for _, t := range req.Tools {
		if t.Type == "function" || t.Type == "" {
			p.tools = append(p.tools, toolDecl{name: t.Function.Name, schema: t.Function.Parameters})
		}
	}
	if tc := bytes.TrimSpace(req.ToolChoice); len(tc) > 0 {
		if tc[0] == '"' {
			p.noTools = string(tc) == `"none"`
		} else {
			var named struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if jsonx.Unmarshal(tc, &named) == nil {
				p.forcedTool = named.Function.Name
			}
		}
	}
	p.oneTool = req.ParallelToolCalls != nil && !*req.ParallelToolCalls
	p.stops = openAIStops(req.Stop)
	switch {
	case req.MaxCompletionTokens != nil:
		p.maxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		p.maxTokens = *req.MaxTokens
	}
	return p
}

// openAIStops reads "stop", a string or an array of strings.
func openAIStops(raw jsonx.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if jsonx.Unmarshal(raw, &s) == nil && s != "" {
			return []string{s}
		}
		return nil
	}
	var list []string
	_ = jsonx.Unmarshal(raw, &list) // strict mode reports a malformed stop
	return list
}

// anthropicPrompt extracts the prompt from an Anthropic request.
func anthropicPrompt(req *anRequest, body []byte) prompt {
	p := prompt{
		stream:       req.Stream,
		includeUsage: true,
		cached:       bytes.Contains(body, []byte(`"cache_control"`)),
		bodyLen:      len(body),
		stops:        req.StopSequences,
	}
	if req.Model != nil {
		p.model = *req.Model
	}
	if req.MaxTokens != nil {
		p.maxTokens = *req.MaxTokens
	}
	// The answer follows the last user turn, even when an assistant
	// prefill comes after it.
	msgs := req.Messages
	// Mid-conversation system messages after the last turn do not change
	// whom the model answers.
	for len(msgs) > 0 && msgs[len(msgs)-1].Role == "system" {
		msgs = msgs[:len(msgs)-1]
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != "user" {
			continue
		}
		c := &msgs[i].Content
		if c.hasToolResults() {
			for _, b := range c.items {
				if b.Type == "tool_result" {
					t, _ := b.Content.joinedText("")
					p.toolResults = append(p.toolResults, t)
				}
			}
		} else {
			p.userText, p.images = c.joinedText(" ")
			p.lastIsUser = i == len(msgs)-1
		}
		break
	}
	for _, t := range req.Tools {
		if t.Type == "" || t.Type == "custom" {
			p.tools = append(p.tools, toolDecl{name: t.Name, schema: t.InputSchema})
		}
	}
	if tc := req.ToolChoice; tc != nil {
		p.noTools = tc.Type == "none"
		if tc.Type == "tool" {
			p.forcedTool = tc.Name
		}
		p.oneTool = tc.DisableParallelToolUse
	}
	if th := req.Thinking; th != nil {
		p.thinking = th.Type == "enabled" || th.Type == "adaptive"
	}
	return p
}
