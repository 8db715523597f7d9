package config

import (
	"slices"
	"strings"

	"github.com/aigateway/gateway/converter/format"
)

// Endpoint names an API endpoint that the gateway serves beside each route's
// chat endpoint, at a path derived from the route's (see Route.APIBase).
type Endpoint string

// The endpoints derived from routes.
const (
	// EndpointCountTokens is POST <base>/messages/count_tokens, beside an
	// Anthropic-format route.
	EndpointCountTokens Endpoint = "count_tokens"
	// EndpointEmbeddings is POST <base>/embeddings, beside an OpenAI-format
	// route.
	EndpointEmbeddings Endpoint = "embeddings"
)

// Path suffixes of the chat endpoints, whose removal gives a route's API base.
const (
	openAIChatSuffix = "/chat/completions"
	anthropicSuffix  = "/messages"
)

// APIBase returns the part of the route's path that the provider's other
// endpoints hang off: "/v1" for /v1/chat/completions or /v1/messages,
// "/openai/v1" for /openai/v1/messages. ok is false when the path does not
// end in its format's chat endpoint, and the route then has no derived
// endpoints.
func (r Route) APIBase() (base string, ok bool) {
	suffix := openAIChatSuffix
	if r.InputFormat == format.Anthropic {
		suffix = anthropicSuffix
	}
	base, ok = strings.CutSuffix(r.Path, suffix)
	if !ok {
		return "", false
	}
	return base, true
}

// EndpointPath returns the path at which the route serves endpoint e, and
// false when it serves none: count_tokens belongs to Anthropic-format routes
// and embeddings to OpenAI-format ones.
func (r Route) EndpointPath(e Endpoint) (string, bool) {
	base, ok := r.APIBase()
	if !ok {
		return "", false
	}
	switch {
	case e == EndpointCountTokens && r.InputFormat == format.Anthropic:
		return r.Path + "/count_tokens", true
	case e == EndpointEmbeddings && r.InputFormat == format.OpenAIChat:
		return base + "/embeddings", true
	}
	return "", false
}

// ClientModels returns the model names the route's configuration lets a
// client use by name: the keys of the route's and the upstream's model_map
// and their default_model, sorted, without duplicates. Names the upstream
// itself reports come on top of these.
func (r Route) ClientModels(u Upstream) []string {
	var names []string
	for name := range r.ModelMap {
		names = append(names, name)
	}
	for name := range u.ModelMap {
		names = append(names, name)
	}
	for _, name := range [...]string{r.DefaultModel, u.DefaultModel} {
		if name != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
