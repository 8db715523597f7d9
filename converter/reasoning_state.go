package converter

import (
	"encoding/base64"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Anthropic's thinking blocks must be sent back exactly as they came, text
// and signature together, or the next turn of a tool loop is refused. The
// Responses API carries a model's private reasoning state in a reasoning
// item's encrypted_content, an opaque string its clients replay untouched
// (Codex asks for it with include: ["reasoning.encrypted_content"]). So a
// thinking or redacted_thinking block travels through a Responses client
// inside encrypted_content, wrapped as thinkingStatePrefix + base64url (no
// padding) of the block's JSON. The prefix tells these strings apart from
// encrypted content made by OpenAI, which is passed on only to OpenAI.
const thinkingStatePrefix = "gwth1_"

// thinkingState is one Anthropic thinking or redacted_thinking block.
type thinkingState struct {
	Type      string `json:"type"`                // "thinking" or "redacted_thinking"
	Thinking  string `json:"thinking,omitempty"`  // thinking text
	Signature string `json:"signature,omitempty"` // thinking signature
	Data      string `json:"data,omitempty"`      // redacted_thinking payload
}

// encodeThinkingState wraps a thinking block as encrypted_content.
func encodeThinkingState(st thinkingState) string {
	b, err := jsonx.Marshal(st)
	if err != nil {
		// A struct of strings always encodes.
		panic("converter: encoding thinking state: " + err.Error())
	}
	return thinkingStatePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeThinkingState unwraps encrypted_content made by
// encodeThinkingState. ok is false for any other string, encrypted content
// from OpenAI included, and for a wrapped value that is damaged.
func decodeThinkingState(s string) (st thinkingState, ok bool) {
	rest, found := strings.CutPrefix(s, thinkingStatePrefix)
	if !found {
		return thinkingState{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return thinkingState{}, false
	}
	if err := jsonx.Unmarshal(b, &st); err != nil {
		return thinkingState{}, false
	}
	switch st.Type {
	case "thinking", "redacted_thinking":
		return st, true
	}
	return thinkingState{}, false
}
