package mock

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// pathResponses is the OpenAI Responses API endpoint.
const pathResponses = "/v1/responses"

// rsRequest is an OpenAI Responses API request, with the fields the mock
// answers from or validates. raw keeps every top-level member, so that
// validation can refuse parameters the API does not know.
type rsRequest struct {
	Model              *string          `json:"model"`
	Input              rsInput          `json:"input"`
	Instructions       jsonx.RawMessage `json:"instructions"`
	Stream             bool             `json:"stream"`
	StreamOptions      *rsStreamOptions `json:"stream_options"`
	Tools              []rsTool         `json:"tools"`
	ToolChoice         jsonx.RawMessage `json:"tool_choice"`
	ParallelToolCalls  *bool            `json:"parallel_tool_calls"`
	MaxOutputTokens    *int             `json:"max_output_tokens"`
	Temperature        *float64         `json:"temperature"`
	TopP               *float64         `json:"top_p"`
	Reasoning          *rsReasoning     `json:"reasoning"`
	Include            []string         `json:"include"`
	Text               *rsText          `json:"text"`
	Store              *bool            `json:"store"`
	PreviousResponseID *string          `json:"previous_response_id"`
	PromptCacheKey     *string          `json:"prompt_cache_key"`
	Metadata           jsonx.RawMessage `json:"metadata"`

	raw map[string]jsonx.RawMessage
}

type rsStreamOptions struct {
	IncludeObfuscation *bool `json:"include_obfuscation"`
}

type rsReasoning struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type rsText struct {
	Format *struct {
		Type   string           `json:"type"`
		Name   string           `json:"name"`
		Schema jsonx.RawMessage `json:"schema"`
		Strict *bool            `json:"strict"`
	} `json:"format"`
	Verbosity string `json:"verbosity"`
}

// rsTool is one entry of tools. Function and custom tools carry a name;
// namespace tools group function tools under a name.
type rsTool struct {
	Type       string           `json:"type"`
	Name       string           `json:"name"`
	Parameters jsonx.RawMessage `json:"parameters"`
	Strict     *bool            `json:"strict"`
	Tools      []rsTool         `json:"tools"`
}

// rsInput is the request's input: a string (one user message) or a list
// of items.
type rsInput struct {
	set      bool
	isString bool
	text     string
	items    []rsItem
}

// UnmarshalJSON accepts a string, an array or null.
func (in *rsInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*in = rsInput{}
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	in.set = true
	switch b[0] {
	case '"':
		in.isString = true
		return jsonx.Unmarshal(b, &in.text)
	case '[':
		return jsonx.Unmarshal(b, &in.items)
	}
	return fmt.Errorf("input must be a string or an array")
}

// rsItem is one input item. Which fields matter depends on its type.
type rsItem struct {
	Type             *string          `json:"type"`
	ID               *string          `json:"id"`
	Role             string           `json:"role"`
	Content          rsContent        `json:"content"`
	CallID           *string          `json:"call_id"`
	Name             *string          `json:"name"`
	Arguments        *string          `json:"arguments"`
	Input            *string          `json:"input"`
	Output           jsonx.RawMessage `json:"output"`
	Summary          jsonx.RawMessage `json:"summary"`
	EncryptedContent *string          `json:"encrypted_content"`
}

// kind is the item's type; a message and an item reference may leave it
// out.
func (it *rsItem) kind() string {
	if it.Type == nil {
		switch {
		case it.Role != "":
			return "message"
		case it.ID != nil:
			return "item_reference"
		}
		return ""
	}
	return *it.Type
}

// rsPart is one content part of a message or of a tool output.
type rsPart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	ImageURL *string `json:"image_url"`
	FileID   *string `json:"file_id"`
	Refusal  *string `json:"refusal"`
}

// rsContent is a message's content: a string or parts.
type rsContent struct{ content[rsPart] }

// joinedText returns the text parts joined with a space and the number of
// image parts.
func (c *rsContent) joinedText() (string, int) {
	if c.isString {
		return c.text, 0
	}
	var texts []string
	images := 0
	for _, p := range c.items {
		switch p.Type {
		case "input_text", "output_text":
			if p.Text != nil {
				texts = append(texts, *p.Text)
			}
		case "input_image":
			images++
		}
	}
	return strings.Join(texts, " "), images
}

// decodeResponses decodes a Responses API request body.
func decodeResponses(body []byte) (*rsRequest, error) {
	// The decoder lets some malformed objects through ({"a":{""}}), and
	// the answer echoes raw members of the request: only valid JSON may
	// get that far, as only valid JSON gets past the real API.
	if !jsonx.Valid(body) {
		return nil, fmt.Errorf("decode responses request: invalid JSON")
	}
	req := new(rsRequest)
	if err := jsonx.Unmarshal(body, req); err != nil {
		return nil, fmt.Errorf("decode responses request: %w", err)
	}
	if err := jsonx.Unmarshal(body, &req.raw); err != nil {
		return nil, fmt.Errorf("decode responses request: %w", err)
	}
	return req, nil
}

// wantsEncryptedReasoning reports whether the client asked for the
// reasoning state in the answer (include: ["reasoning.encrypted_content"]).
func (r *rsRequest) wantsEncryptedReasoning() bool {
	for _, v := range r.Include {
		if v == "reasoning.encrypted_content" {
			return true
		}
	}
	return false
}

// wantsSummary reports whether reasoning items carry a summary.
func (r *rsRequest) wantsSummary() bool {
	return r.Reasoning != nil && r.Reasoning.Summary != nil && *r.Reasoning.Summary != "" && *r.Reasoning.Summary != "none"
}

// obfuscate reports whether delta events carry the obfuscation padding,
// which the API adds unless stream_options.include_obfuscation is false.
func (r *rsRequest) obfuscate() bool {
	return r.StreamOptions == nil || r.StreamOptions.IncludeObfuscation == nil || *r.StreamOptions.IncludeObfuscation
}

// toolOutputText is the text of a function_call_output's output: a string,
// or the text parts of a list joined with a space.
func toolOutputText(raw jsonx.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = jsonx.Unmarshal(raw, &s)
		return s
	}
	var parts []rsPart
	_ = jsonx.Unmarshal(raw, &parts)
	var texts []string
	for _, p := range parts {
		if p.Type == "input_text" && p.Text != nil {
			texts = append(texts, *p.Text)
		}
	}
	return strings.Join(texts, " ")
}

// responsesPrompt extracts the prompt from a Responses API request.
func responsesPrompt(req *rsRequest, body []byte) prompt {
	p := prompt{
		stream:       req.Stream,
		includeUsage: true,
		cached:       bytes.Contains(body, []byte(`"cache_control"`)) || req.PromptCacheKey != nil,
		bodyLen:      len(body),
	}
	if req.Model != nil {
		p.model = *req.Model
	}
	if req.MaxOutputTokens != nil {
		p.maxTokens = *req.MaxOutputTokens
	}
	if r := req.Reasoning; r != nil {
		p.thinking = r.Effort == nil || *r.Effort != "none"
	}
	if req.Input.isString {
		p.userText, p.lastIsUser = req.Input.text, true
	}
	items := req.Input.items
	// Instructions after the last turn do not change whom the model answers.
	for len(items) > 0 && items[len(items)-1].kind() == "message" &&
		(items[len(items)-1].Role == "system" || items[len(items)-1].Role == "developer") {
		items = items[:len(items)-1]
	}
	if n := len(items); n > 0 {
		last := &items[n-1]
		switch last.kind() {
		case "message":
			p.lastIsUser = last.Role == "user"
		case "function_call_output", "custom_tool_call_output":
			// The trailing run of outputs answers the last calls.
			i := n
			for i > 0 && isToolOutput(items[i-1].kind()) {
				i--
			}
			for _, it := range items[i:] {
				p.toolResults = append(p.toolResults, toolOutputText(it.Output))
			}
		}
	}
	for i := len(items) - 1; i >= 0 && p.toolResults == nil; i-- {
		if items[i].kind() == "message" && items[i].Role == "user" {
			p.userText, p.images = items[i].Content.joinedText()
			break
		}
	}
	for _, t := range req.Tools {
		switch t.Type {
		case "function":
			p.tools = append(p.tools, toolDecl{name: t.Name, schema: t.Parameters})
		case "custom":
			p.tools = append(p.tools, toolDecl{name: t.Name, custom: true})
		}
	}
	if tc := bytes.TrimSpace(req.ToolChoice); len(tc) > 0 {
		if tc[0] == '"' {
			p.noTools = string(tc) == `"none"`
		} else {
			var named struct {
				Type string `json:"type"`
				Name string `json:"name"`
			}
			if jsonx.Unmarshal(tc, &named) == nil && (named.Type == "function" || named.Type == "custom") {
				p.forcedTool = named.Name
			}
		}
	}
	p.oneTool = req.ParallelToolCalls != nil && !*req.ParallelToolCalls
	return p
}

func isToolOutput(kind string) bool {
	return kind == "function_call_output" || kind == "custom_tool_call_output"
}
