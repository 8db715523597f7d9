// Package tokencount estimates how many input tokens an Anthropic Messages
// request amounts to, for upstreams that have no token-counting endpoint of
// their own. It tokenizes the request's text with a real BPE tokenizer
// (tiktoken's encodings, embedded in the binary so that nothing is fetched
// at run time) and adds the fixed overheads the providers document for
// message framing, tools and images.
//
// The result is an estimate: it is exact for OpenAI models' text, and
// within a few percent of what Claude models count for typical prompts.
package tokencount

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/jsonx"
)

// Fixed costs, from OpenAI's published way of counting chat tokens and
// Anthropic's image sizing rule.
const (
	// perMessage frames each message (role and separators).
	perMessage = 3
	// replyPriming is added once for the assistant turn the model starts.
	replyPriming = 3
	// perTool frames each tool definition.
	perTool = 8
	// perImage is what an image costs when its size is not known:
	// Anthropic counts width*height/750 tokens and scales images down to
	// about 1.15 megapixels, so about 1600 tokens at most.
	perImage = 1600
	// perDocument is the estimate for a PDF document, whose pages are not
	// looked at: about one page of text and one page image.
	perDocument = 2500
)

// DefaultEncoding is used for models tiktoken does not know, Claude models
// among them: o200k_base is the newest general-purpose encoding.
const DefaultEncoding = tiktoken.MODEL_O200K_BASE

// setLoader points tiktoken at the encodings embedded in the binary. The
// library keeps its loader in a package variable, so it is set once.
var setLoader sync.Once

// Counter counts tokens. Encodings are loaded on first use (a few hundred
// milliseconds each) and kept. It is safe for concurrent use.
type Counter struct {
	mu   sync.Mutex
	encs map[string]*tiktoken.Tiktoken
}

// New returns a Counter.
func New() *Counter {
	setLoader.Do(func() { tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader()) })
	return &Counter{encs: make(map[string]*tiktoken.Tiktoken)}
}

// EncodingFor names the encoding used for model: tiktoken's own choice for
// OpenAI models, DefaultEncoding for the others.
func EncodingFor(model string) string {
	if name, ok := tiktoken.MODEL_TO_ENCODING[model]; ok {
		return name
	}
	// The longest matching prefix wins, so the choice does not depend on
	// map order.
	best, name := 0, DefaultEncoding
	for prefix, enc := range tiktoken.MODEL_PREFIX_TO_ENCODING {
		if len(prefix) > best && strings.HasPrefix(model, prefix) {
			best, name = len(prefix), enc
		}
	}
	return name
}

func (c *Counter) encoding(name string) (*tiktoken.Tiktoken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if enc, ok := c.encs[name]; ok {
		return enc, nil
	}
	enc, err := tiktoken.GetEncoding(name)
	if err != nil {
		return nil, fmt.Errorf("loading token encoding %s: %w", name, err)
	}
	c.encs[name] = enc
	return enc, nil
}

// Text counts the tokens of s in the encoding used for model.
func (c *Counter) Text(model, s string) (int, error) {
	enc, err := c.encoding(EncodingFor(model))
	if err != nil {
		return 0, err
	}
	return len(enc.EncodeOrdinary(s)), nil
}

// countRequest is the part of a Messages (or count_tokens) request that
// costs input tokens.
type countRequest struct {
	Model    string         `json:"model"`
	System   content        `json:"system"`
	Messages []countMessage `json:"messages"`
	Tools    []countTool    `json:"tools"`
}

type countMessage struct {
	Role    string  `json:"role"`
	Content content `json:"content"`
}

type countTool struct {
	Type        string           `json:"type"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	InputSchema jsonx.RawMessage `json:"input_schema"`
}

// content is a string or an array of content blocks.
type content struct {
	text   string
	blocks []block
}

func (c *content) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return jsonx.Unmarshal(b, &c.text)
	}
	if string(b) == "null" {
		return nil
	}
	return jsonx.Unmarshal(b, &c.blocks)
}

// block is one content block; only the fields that carry tokens are read.
type block struct {
	Type     string           `json:"type"`
	Text     string           `json:"text"`
	Thinking string           `json:"thinking"`
	Name     string           `json:"name"`
	Input    jsonx.RawMessage `json:"input"`
	Content  content          `json:"content"`
	Source   struct {
		Type string `json:"type"`
		Data string `json:"data"`
	} `json:"source"`
}

// AnthropicRequest estimates the input tokens of an Anthropic Messages or
// count_tokens request body, tokenized as model's text (pass the model the
// upstream runs). A body that is not such a request is an *converter.Error
// of kind KindInvalidRequest.
func (c *Counter) AnthropicRequest(body []byte, model string) (int, error) {
	var req countRequest
	if err := jsonx.Unmarshal(body, &req); err != nil {
		return 0, converter.Errorf(converter.KindInvalidRequest, "the request body is not a valid Messages request: %v", err)
	}
	if len(req.Messages) == 0 {
		return 0, converter.InvalidParam("messages", "messages: at least one message is required")
	}
	enc, err := c.encoding(EncodingFor(model))
	if err != nil {
		return 0, err
	}
	t := tally{enc: enc}
	if req.System.text != "" || len(req.System.blocks) > 0 {
		t.n += perMessage
		t.content(&req.System)
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		t.n += perMessage
		t.text(m.Role)
		t.content(&m.Content)
	}
	for _, tool := range req.Tools {
		t.n += perTool
		t.text(tool.Name)
		t.text(tool.Description)
		t.text(string(tool.InputSchema))
		if tool.Type != "" && tool.Type != "custom" {
			t.text(tool.Type)
		}
	}
	t.n += replyPriming
	return t.n, nil
}

// tally adds up tokens.
type tally struct {
	enc *tiktoken.Tiktoken
	n   int
}

func (t *tally) text(s string) {
	if s != "" {
		t.n += len(t.enc.EncodeOrdinary(s))
	}
}

func (t *tally) content(c *content) {
	t.text(c.text)
	for i := range c.blocks {
		b := &c.blocks[i]
		switch b.Type {
		case "text":
			t.text(b.Text)
		case "thinking":
			t.text(b.Thinking)
		case "image":
			t.n += perImage
		case "document":
			if b.Source.Type == "text" {
				t.text(b.Source.Data)
			} else {
				t.n += perDocument
			}
		case "tool_use", "server_tool_use":
			t.text(b.Name)
			t.text(string(b.Input))
		case "tool_result":
			t.content(&b.Content)
		default:
			// redacted_thinking and newer block types: their text, if any.
			t.text(b.Text)
		}
	}
}
