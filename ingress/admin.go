package ingress

import (
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/converter"
)

// serveAdmin answers /admin/ requests. Access control provides their content.
func (s *Server) serveAdmin(ctx *fasthttp.RequestCtx) {
	writeError(ctx, converter.OpenAIChat, converter.Errorf(converter.KindNotFound, "access control is disabled"), s.requestID(ctx))
}
