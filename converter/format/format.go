// Package format names the wire APIs the gateway speaks. It is a leaf that
// every other package may import: config to validate a route or an
// upstream, the converter to pick a codec, the ingress and the workers to
// label what they carry.
package format

// Format names a wire API spoken by a client or an upstream.
type Format string

// The wire formats the gateway speaks.
const (
	OpenAIChat      Format = "openai-chat"      // OpenAI Chat Completions
	OpenAIResponses Format = "openai-responses" // OpenAI Responses
	Anthropic       Format = "anthropic"        // Anthropic Messages
)

// All lists every format, in a fixed order for messages and loops.
func All() []Format { return []Format{OpenAIChat, OpenAIResponses, Anthropic} }

// Valid reports whether f is a known format.
func (f Format) Valid() bool {
	for _, k := range All() {
		if f == k {
			return true
		}
	}
	return false
}

// String returns the format's configuration name.
func (f Format) String() string { return string(f) }
