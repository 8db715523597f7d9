package ingress

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
)

// addEndpointRoutes registers, for each route, the endpoints served beside
// it (they travel the bus and the upstream's queue like chat):
// /v1/messages/count_tokens beside /v1/messages; /v1/embeddings beside
// /v1/chat/completions when the upstream speaks an OpenAI API; and
// /v1/responses beside /v1/chat/completions, a chat endpoint of the
// Responses format served like a route of its own. A configured route with
// the same path wins.
func (s *Server) addEndpointRoutes(t *table) {
	t.unsupported = make(map[string]string)
	for _, parent := range t.cfg.Routes {
		base := t.routes[parent.Path]
		for _, e := range config.Endpoints() {
			path, ok := parent.EndpointPath(e)
			if !ok {
				continue
			}
			if _, taken := t.routes[path]; taken {
				continue
			}
			if e == config.EndpointEmbeddings && !parent.ModelRouted() && base.upstream.Format.Family() != format.FamilyOpenAI {
				t.unsupported[path] = "upstream " + base.upstream.Name + " speaks the " + string(base.upstream.Format) + " API, which has no embeddings endpoint"
				continue
			}
			r := *base
			r.Path = path
			r.parent = parent.Path
			r.endpoint = e
			if f := e.ChatFormat(); f != "" {
				// A chat endpoint: its own format, and nothing else to
				// tell it from a configured route.
				r.Route.Path, r.Route.InputFormat = path, f
				r.format, r.endpoint = f, ""
			}
			r.firstToken = s.metrics.firstToken.WithLabelValues(path)
			r.interChunk = s.metrics.interChunk.WithLabelValues(path)
			r.inFlight = s.metrics.inFlight.WithLabelValues(fasthttp.MethodPost, path)
			t.routes[path] = &r
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
// serve speaks, for the shape of its error, from the headers only one
// format's clients send (converter.GuessFormat).
func requestFormat(ctx *fasthttp.RequestCtx) format.Format {
	h := &ctx.Request.Header
	return converter.GuessFormat(func(name string) bool { return len(h.Peek(name)) > 0 })
}

// notFound answers a path the gateway does not serve with a 404 in the
// dialect the request looks like.
func (s *Server) notFound(ctx *fasthttp.RequestCtx, path []byte, start time.Time) {
	method := methodLabel(ctx.Method()) // a client may send anything as a method
	e := converter.Errorf(converter.KindNotFound, "no route for %s %s", method, path)
	if reason, ok := s.table().unsupported[string(path)]; ok {
		e = converter.Errorf(converter.KindNotFound, "%s %s: %s", method, path, reason)
	}
	s.reject(ctx, pathOther, requestFormat(ctx), e, start)
}
