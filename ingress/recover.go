package ingress

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/converter"
)

// panicked records a recovered panic: counted, and logged with the request
// id and the stack so that the bug can be found.
func (s *Server) panicked(v any, requestID string) {
	s.metrics.panics.Inc()
	s.logger.Error("panic while serving a request", "request_id", requestID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}

// internalError is what a client whose request hit a panic is told.
func internalError() *converter.Error {
	return converter.Errorf(converter.KindInternal, "the gateway failed while handling this request")
}

// recoverHandler ends a request whose handler panicked with a 500 in the
// dialect of its route, or the one the request looks like, so that one request's failure cannot take down the
// process and every other request with it. Requests on a route recover in
// the exchange, which also settles their bookkeeping.
func (s *Server) recoverHandler(ctx *fasthttp.RequestCtx) {
	v := recover()
	if v == nil {
		return
	}
	requestID := s.requestID(ctx)
	s.panicked(v, requestID)
	ctx.Response.Reset()
	ctx.Response.Header.Set("X-Request-Id", requestID)
	f := requestFormat(ctx)
	if t := s.table(); t != nil {
		if r, ok := t.routes[string(ctx.Path())]; ok {
			f = r.format
		}
	}
	writeError(ctx, f, internalError(), requestID)
}

// recoverExchange ends a routed request whose handling panicked before its
// answer started streaming: the client gets a 500 in its format, the reply
// subscription is cancelled and the request's metrics and log line are
// written.
func (x *exchange) recoverExchange(ctx *fasthttp.RequestCtx) {
	v := recover()
	if v == nil {
		return
	}
	x.s.panicked(v, x.requestID)
	if x.reply != nil {
		x.reply.Cancel()
	}
	// A body stream set just before the panic would never be read.
	ctx.Response.Reset()
	ctx.Response.Header.Set("X-Request-Id", x.requestID)
	x.refuse(ctx, internalError())
}

// recoverStream ends a stream whose relaying panicked with the dialect's
// error event; the connection's goroutine and every other stream carry on.
func (b *streamBody) recoverStream(w io.Writer, err *error) {
	v := recover()
	if v == nil {
		return
	}
	x := b.x
	x.s.panicked(v, x.requestID)
	b.done = true
	x.failure = "panic"
	if x.reply != nil {
		x.reply.Cancel()
	}
	// The event is written whole and the body ended normally, so that the
	// client reads the error rather than a cut connection.
	_, *err = w.Write(converter.AppendStreamError(nil, x.r.format, internalError()))
}
