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
	// EndpointEmbeddings is POST <base>/embeddings, beside an OpenAI
	// Chat-format route.
	EndpointEmbeddings Endpoint = "embeddings"
	// EndpointResponses is POST <base>/responses, beside an OpenAI
	// Chat-format route: the Responses API of the same provider base, a
	// chat endpoint of its own format served by the route's upstream.
	EndpointResponses Endpoint = "responses"
)

// Endpoints lists the endpoints derived from routes.
func Endpoints() []Endpoint {
	return []Endpoint{EndpointCountTokens, EndpointEmbeddings, EndpointResponses}
}

// endpointSpec says where an endpoint is derived.
type endpointSpec struct {
	// beside is the input format of the routes the endpoint is derived from.
	beside format.Format
	// path is the endpoint's path below the route's API base; "" for one
	// below the route's own path (count_tokens).
	path string
	// chat is the input format of a derived chat endpoint, served like a
	// route of that format; "" for the others.
	chat format.Format
}

var endpointSpecs = map[Endpoint]endpointSpec{
	EndpointCountTokens: {beside: format.Anthropic},
	EndpointEmbeddings:  {beside: format.OpenAIChat, path: "/embeddings"},
	EndpointResponses:   {beside: format.OpenAIChat, path: format.OpenAIResponses.Path(), chat: format.OpenAIResponses},
}

// ChatFormat returns the input format of a derived chat endpoint (the
// Responses API beside Chat Completions), which is served exactly like a
// route of that format, and "" for an endpoint that is not a chat endpoint.
func (e Endpoint) ChatFormat() format.Format { return endpointSpecs[e].chat }

// APIBase returns the part of the route's path that the provider's other
// endpoints hang off: "/v1" for /v1/chat/completions, /v1/responses or
// /v1/messages, "/openai/v1" for /openai/v1/messages. ok is false when the
// path does not end in its format's chat endpoint, and the route then has
// no derived endpoints.
func (r Route) APIBase() (base string, ok bool) {
	suffix := r.InputFormat.Path()
	if suffix == "" {
		return "", false
	}
	base, ok = strings.CutSuffix(r.Path, suffix)
	if !ok {
		return "", false
	}
	return base, true
}

// EndpointPath returns the path at which the route serves endpoint e, and
// false when it serves none: count_tokens belongs to Anthropic-format
// routes, embeddings and responses to OpenAI Chat-format ones.
func (r Route) EndpointPath(e Endpoint) (string, bool) {
	spec, known := endpointSpecs[e]
	base, ok := r.APIBase()
	if !known || !ok || r.InputFormat != spec.beside {
		return "", false
	}
	if spec.path == "" {
		return r.Path + "/" + string(e), true
	}
	return base + spec.path, true
}

// Beside returns the route that serves the derived chat endpoint e beside
// r: r with the endpoint's path and input format. ok is false when e is not
// a chat endpoint or r serves none.
func (r Route) Beside(e Endpoint) (Route, bool) {
	path, ok := r.EndpointPath(e)
	if !ok || e.ChatFormat() == "" {
		return Route{}, false
	}
	r.Path, r.InputFormat = path, e.ChatFormat()
	return r, true
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
