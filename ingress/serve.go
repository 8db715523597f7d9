package ingress

import (
	"bytes"
	"errors"
	"net"
	"time"

	"github.com/nats-io/nuid"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/ingress/accesslog"
)

// Fixed path labels for requests that match no route.
const (
	pathHealth  = "/health"
	pathMetrics = "/metrics"
	pathAdmin   = "/admin"
	pathOther   = "other"
	pathRoot    = "/"
)

func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	defer s.recoverHandler(ctx)
	if s.shuttingDown.Load() {
		// Draining: tell keep-alive clients not to send another request
		// on this connection (see Shutdown).
		ctx.SetConnectionClose()
	}
	path := ctx.Path()
	t := s.table()
	if r, ok := t.routes[string(path)]; ok { // no allocation: the compiler special-cases map[string] lookups
		if !ctx.IsPost() {
			s.reject(ctx, r.Path, r.format, converter.Errorf(converter.KindMethodNotAllowed, "%s only accepts POST", r.Path), time.Now())
			ctx.Response.Header.Set("Allow", "POST")
			return
		}
		s.serveRoute(ctx, t, r)
		return
	}
	start := time.Now()
	switch p := string(path); p {
	case pathRoot:
		// Clients probe the base URL before their first call (Claude Code
		// sends HEAD /); a 404 there reads as a wrong address.
		if !ctx.IsGet() && !ctx.IsHead() {
			s.reject(ctx, pathOther, format.OpenAIChat, converter.Errorf(converter.KindMethodNotAllowed, "/ only accepts GET and HEAD"), start)
			return
		}
		s.requestID(ctx)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
		s.metrics.observe(string(ctx.Method()), pathRoot, fasthttp.StatusOK, time.Since(start).Seconds())
	case pathHealth, pathHealthLive, pathHealthReady:
		if !ctx.IsGet() && !ctx.IsHead() {
			s.reject(ctx, p, format.OpenAIChat, converter.Errorf(converter.KindMethodNotAllowed, "%s only accepts GET", p), start)
			return
		}
		s.serveHealth(ctx, p)
		s.metrics.observe("GET", p, ctx.Response.StatusCode(), time.Since(start).Seconds())
	case pathMetrics:
		if !ctx.IsGet() {
			s.reject(ctx, pathMetrics, format.OpenAIChat, converter.Errorf(converter.KindMethodNotAllowed, "/metrics only accepts GET"), start)
			return
		}
		s.promHandler(ctx)
		s.metrics.observe("GET", pathMetrics, ctx.Response.StatusCode(), time.Since(start).Seconds())
	default:
		if bytes.HasPrefix(path, []byte("/admin/")) {
			s.serveAdmin(ctx)
			s.metrics.observe(methodLabel(ctx.Method()), pathAdmin, ctx.Response.StatusCode(), time.Since(start).Seconds())
			return
		}
		if t.models.serve(ctx, path, start) {
			return
		}
		if s.serveStored(ctx, path, start) {
			return
		}
		s.notFound(ctx, path, start)
	}
}

// serveParseError answers requests fasthttp could not read, a body over the
// size limit above all, in the error shape of the route they were sent to.
//
// fasthttp's error text quotes the request it could not parse, headers and
// Authorization included, so it is never written anywhere: the client gets a
// fixed message for the class of error, and the logs and metrics the same.
func (s *Server) serveParseError(ctx *fasthttp.RequestCtx, err error) {
	start := time.Now()
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		// Only here were the headers read whole, so the route is known.
		path := ctx.Path()
		format, label := requestFormat(ctx), pathOther
		if r, ok := s.table().routes[string(path)]; ok {
			format, label = r.format, r.Path
		}
		// fasthttp closes the connection after this answer. A client still
		// sending its body would see the close as a reset and never read
		// the 413, so the rest of the body is read and dropped first.
		drainBody(ctx.Conn(), int64(ctx.Request.Header.ContentLength()))
		ctx.SetConnectionClose()
		s.reject(ctx, label, format, converter.Errorf(converter.KindRequestTooLarge,
			"request body is larger than the limit of %d bytes", s.cfg.Server.MaxBodyBytes), start)
		return
	}
	// Nothing of the request can be trusted, not even its method and path:
	// fasthttp resets the headers it failed to read. The connection is
	// closed since where the next request would start is unknown.
	ctx.SetConnectionClose()
	var e *converter.Error
	var small *fasthttp.ErrSmallBuffer
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(err, &small):
		e = converter.Errorf(converter.KindHeadersTooLarge,
			"request headers are larger than the limit of %d bytes", s.cfg.Server.MaxHeaderBytes)
	case errors.As(err, &timeout) && timeout.Timeout():
		e = converter.Errorf(converter.KindRequestTimeout,
			"the request was not received within %s", s.cfg.Server.ReadTimeout.Duration)
	default:
		e = converter.Errorf(converter.KindInvalidRequest, "malformed HTTP request")
	}
	s.rejectUnparsed(ctx, e, start)
}

// Labels of requests fasthttp could not parse.
const (
	methodUnparsed = "unparsed"
	pathUnparsed   = "unparsed"
)

// rejectUnparsed answers a request that could not be parsed, in the OpenAI
// shape (no path tells the dialect), and records it as unparsed.
func (s *Server) rejectUnparsed(ctx *fasthttp.RequestCtx, e *converter.Error, start time.Time) {
	requestID := s.requestID(ctx)
	writeError(ctx, format.OpenAIChat, e, requestID)
	s.metrics.observe(methodUnparsed, pathUnparsed, ctx.Response.StatusCode(), time.Since(start).Seconds())
	if s.access != nil {
		s.access.LogRejected(&accesslog.Rejected{
			RequestID: requestID, Method: methodUnparsed, Path: pathUnparsed,
			Status: ctx.Response.StatusCode(), Error: e.Message, Duration: time.Since(start),
		})
	}
}

// methodLabel bounds the method label of metrics and access lines: a client
// may send anything as a method, a misplaced key included.
func methodLabel(m []byte) string {
	switch string(m) {
	case fasthttp.MethodGet:
		return fasthttp.MethodGet
	case fasthttp.MethodHead:
		return fasthttp.MethodHead
	case fasthttp.MethodPost:
		return fasthttp.MethodPost
	case fasthttp.MethodPut:
		return fasthttp.MethodPut
	case fasthttp.MethodPatch:
		return fasthttp.MethodPatch
	case fasthttp.MethodDelete:
		return fasthttp.MethodDelete
	case fasthttp.MethodOptions:
		return fasthttp.MethodOptions
	}
	return "other"
}

// reject answers with a gateway error in the given format and records it.
func (s *Server) reject(ctx *fasthttp.RequestCtx, pathLabel string, f format.Format, e *converter.Error, start time.Time) {
	requestID := s.requestID(ctx)
	writeError(ctx, f, e, requestID)
	method := methodLabel(ctx.Method())
	s.metrics.observe(method, pathLabel, ctx.Response.StatusCode(), time.Since(start).Seconds())
	if s.access != nil {
		s.access.LogRejected(&accesslog.Rejected{
			RequestID: requestID, Method: method, Path: pathLabel,
			Status: ctx.Response.StatusCode(), Error: e.Message, Duration: time.Since(start),
		})
	}
}

func writeError(ctx *fasthttp.RequestCtx, f format.Format, e *converter.Error, requestID string) {
	status := e.Status(f)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	if e.Retryable() {
		if len(ctx.Response.Header.Peek("Retry-After")) == 0 {
			ctx.Response.Header.Set("Retry-After", "1")
		}
		ctx.Response.Header.Set("X-Should-Retry", "true")
	} else if status == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.Set("X-Should-Retry", "true")
	} else if status < 500 {
		ctx.Response.Header.Set("X-Should-Retry", "false")
	}
	ctx.SetBody(converter.AppendErrorBody(ctx.Response.Body()[:0], f, e, requestID))
}

// requestID returns the request's id: the client's x-request-id when it is
// reasonable, a fresh one otherwise. It is echoed in the response.
func (s *Server) requestID(ctx *fasthttp.RequestCtx) string {
	if v := ctx.Response.Header.Peek("X-Request-Id"); len(v) > 0 {
		return string(v)
	}
	id := ""
	if v := ctx.Request.Header.Peek("X-Request-Id"); len(v) > 0 && len(v) <= 128 && printable(v) {
		id = string(v)
	} else {
		id = "req_" + nuid.Next()
	}
	ctx.Response.Header.Set("X-Request-Id", id)
	return id
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// Bounds on draining an oversized body: never more than this many bytes,
// and stop once the client pauses this long (it has sent everything and waits
// for the answer).
const (
	drainLimit = 256 << 20
	drainPause = 100 * time.Millisecond
)

// drainBody reads and discards what remains of a request body the gateway
// refuses, up to size bytes (or drainLimit when unknown).
func drainBody(c net.Conn, size int64) {
	if c == nil {
		return
	}
	if size <= 0 || size > drainLimit {
		size = drainLimit
	}
	buf := make([]byte, 32<<10)
	for read := int64(0); read < size; {
		if err := c.SetReadDeadline(time.Now().Add(drainPause)); err != nil {
			return
		}
		n, err := c.Read(buf)
		read += int64(n)
		if err != nil {
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
}
