package ingress

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
)

// derivedEndpoints are the endpoints the gateway serves beside each route's
// chat endpoint; they travel the bus and the upstream's queue like chat.
var derivedEndpoints = [...]config.Endpoint{config.EndpointCountTokens, config.EndpointEmbeddings}

// addEndpointRoutes registers, for each route, the endpoints served beside
// it: /v1/messages/count_tokens beside /v1/messages, /v1/embeddings beside
// /v1/chat/completions when the upstream speaks OpenAI's API. A configured
// route with the same path wins.
func (s *Server) addEndpointRoutes() {
	s.unsupported = make(map[string]string)
	for _, parent := range s.cfg.Routes {
		base := s.routes[parent.Path]
		for _, e := range derivedEndpoints {
			path, ok := parent.EndpointPath(e)
			if !ok {
				continue
			}
			if _, taken := s.routes[path]; taken {
				continue
			}
			if e == config.EndpointEmbeddings && !parent.ModelRouted() && base.upstream.Format != config.FormatOpenAIChat {
				s.unsupported[path] = "upstream " + base.upstream.Name + " speaks the Anthropic API, which has no embeddings endpoint"
				continue
			}
			r := *base
			r.Path = path
			r.parent = parent.Path
			r.endpoint = e
			r.firstToken = s.metrics.firstToken.WithLabelValues(path)
			r.interChunk = s.metrics.interChunk.WithLabelValues(path)
			s.routes[path] = &r
		}
	}
}

// allowPath is the route path a key's route allow-list is checked against:
// an endpoint beside a route is allowed with its route.
func (r *route) allowPath() string {
	if r.parent != "" {
		return r.parent
	}
	return r.Path
}

// inspect validates a request body for the route and reads what admission
// and the bus envelope need.
func (r *route) inspect(body []byte) (converter.RequestInfo, error) {
	switch r.endpoint {
	case config.EndpointEmbeddings:
		return converter.InspectEmbeddings(body)
	case config.EndpointCountTokens:
		info, err := converter.InspectRequest(r.format, body)
		// Counting answers with one small JSON object, never a stream,
		// and generates nothing.
		info.Stream, info.IncludeUsage, info.MaxTokens = false, false, 0
		return info, err
	}
	return converter.InspectRequest(r.format, body)
}

// requestFormat guesses the API a request to a path the gateway does not
// serve speaks, for the shape of its error: Anthropic's SDKs send
// anthropic-version and usually x-api-key, OpenAI's neither.
func requestFormat(ctx *fasthttp.RequestCtx) converter.Format {
	h := &ctx.Request.Header
	if len(h.Peek("anthropic-version")) > 0 || len(h.Peek("x-api-key")) > 0 {
		return converter.Anthropic
	}
	return converter.OpenAIChat
}

// notFound answers a path the gateway does not serve with a 404 in the
// dialect the request looks like.
func (s *Server) notFound(ctx *fasthttp.RequestCtx, path []byte, start time.Time) {
	method := methodLabel(ctx.Method()) // a client may send anything as a method
	e := converter.Errorf(converter.KindNotFound, "no route for %s %s", method, path)
	if reason, ok := s.unsupported[string(path)]; ok {
		e = converter.Errorf(converter.KindNotFound, "%s %s: %s", method, path, reason)
	}
	s.reject(ctx, pathOther, requestFormat(ctx), e, start)
}
