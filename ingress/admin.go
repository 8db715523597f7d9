package ingress

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/ingress/access"
)

// serveAdmin answers GET /admin/keys and GET /admin/keys/NAME/usage, for
// holders of the admin key only.
func (s *Server) serveAdmin(ctx *fasthttp.RequestCtx) {
	requestID := s.requestID(ctx)
	g := s.opts.Guard
	if g == nil || !g.Enabled() {
		writeError(ctx, format.OpenAIChat, converter.Errorf(converter.KindNotFound, "access control is disabled"), requestID)
		return
	}
	if !ctx.IsGet() {
		writeError(ctx, format.OpenAIChat, converter.Errorf(converter.KindMethodNotAllowed, "admin endpoints only accept GET"), requestID)
		return
	}
	if !g.IsAdmin(ctx.Request.Header.Peek("Authorization"), ctx.Request.Header.Peek("X-Api-Key")) {
		writeError(ctx, format.OpenAIChat, converter.Errorf(converter.KindAuthentication, "admin key required"), requestID)
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	path := string(ctx.Path())
	var (
		body any
		err  error
	)
	switch {
	case path == "/admin/keys":
		var keys []access.KeyReport
		keys, err = g.KeysReport(rctx)
		body = map[string]any{"keys": keys}
	case strings.HasPrefix(path, "/admin/keys/") && strings.HasSuffix(path, "/usage"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/admin/keys/"), "/usage")
		body, err = g.UsageReport(rctx, name)
	default:
		writeError(ctx, format.OpenAIChat, converter.Errorf(converter.KindNotFound, "no admin endpoint %s", path), requestID)
		return
	}
	switch {
	case errors.Is(err, access.ErrUnknownKey):
		writeError(ctx, format.OpenAIChat, converter.Errorf(converter.KindNotFound, "no such key"), requestID)
		return
	case err != nil:
		s.logger.Warn("admin report failed", "request_id", requestID, "err", err)
		writeError(ctx, format.OpenAIChat, converter.Errorf(converter.KindUnavailable, "usage cannot be read right now"), requestID)
		return
	}
	data, err := jsonx.Marshal(body)
	if err != nil {
		writeError(ctx, format.OpenAIChat, converter.Errorf(converter.KindInternal, "encoding the report failed"), requestID)
		return
	}
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(data)
}
