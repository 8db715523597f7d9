// Package format names the wire APIs the gateway speaks. It is a leaf that
// every other package may import: config to validate a route or an
// upstream, the converter to pick a codec, the ingress and the workers to
// label what they carry.
//
// Beside the names it holds the few facts about a format that packages
// other than the converter need without converting anything: the path of
// its chat endpoint and the provider family it belongs to. Everything else
// format-specific (request inspection, errors, headers, translations) is
// the converter's codec registry (see docs/conversion.md, "Formats and the
// hub").
package format

// Format names a wire API spoken by a client or an upstream.
type Format string

// The wire formats the gateway speaks.
const (
	OpenAIChat      Format = "openai-chat"      // OpenAI Chat Completions
	OpenAIResponses Format = "openai-responses" // OpenAI Responses
	Anthropic       Format = "anthropic"        // Anthropic Messages
)

// Family is a provider's API family. The formats of one family share what
// the provider's HTTP API around them shares: authentication, request-id and
// rate-limit headers, the model list, the embeddings endpoint.
type Family string

// The provider families.
const (
	FamilyOpenAI    Family = "openai"
	FamilyAnthropic Family = "anthropic"
)

// spec is what every package may know of a format.
type spec struct {
	format Format
	// path is the chat endpoint under an API base such as /v1.
	path   string
	family Family
}

// specs lists every format, in a fixed order for messages and loops. A new
// format adds one row here and one codec in the converter.
var specs = [...]spec{
	{OpenAIChat, "/chat/completions", FamilyOpenAI},
	{OpenAIResponses, "/responses", FamilyOpenAI},
	{Anthropic, "/messages", FamilyAnthropic},
}

// All lists every format, in a fixed order for messages and loops.
func All() []Format {
	all := make([]Format, len(specs))
	for i, s := range specs {
		all[i] = s.format
	}
	return all
}

func (f Format) spec() (spec, bool) {
	for _, s := range specs {
		if s.format == f {
			return s, true
		}
	}
	return spec{}, false
}

// Valid reports whether f is a known format.
func (f Format) Valid() bool {
	_, ok := f.spec()
	return ok
}

// String returns the format's configuration name.
func (f Format) String() string { return string(f) }

// Path returns the format's chat endpoint below an API base:
// "/chat/completions", "/responses", "/messages"; "" for an unknown format.
// A route's API base is its path without this suffix, and an upstream of
// the format is called at <url>/v1<Path>.
func (f Format) Path() string {
	s, _ := f.spec()
	return s.path
}

// Family returns the provider family of the format, "" for an unknown one.
func (f Format) Family() Family {
	s, _ := f.spec()
	return s.family
}
