package ingress

import (
	"bytes"
	"errors"
	"net"
	"time"

	"github.com/nats-io/nuid"
	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/converter"
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
	path := ctx.Path()
	if r, ok := s.routes[string(path)]; ok { // no allocation: the compiler special-cases map[string] lookups
		if !ctx.IsPost() {
			s.reject(ctx, r.Path, r.format, converter.Errorf(converter.KindMethodNotAllowed, "%s only accepts POST", r.Path), time.Now())
			ctx.Response.Header.Set("Allow", "POST")
			return
		}
		s.serveRoute(ctx, r)
		return
	}
	start := time.Now()
	switch p := string(path); p {
	case pathRoot:
		// Clients probe the base URL before their first call (Claude Code
		// sends HEAD /); a 404 there reads as a wrong address.
		if !ctx.IsGet() && !ctx.IsHead() {
			s.reject(ctx, pathOther, converter.OpenAIChat, converter.Errorf(converter.KindMethodNotAllowed, "/ only accepts GET and HEAD"), start)
			return
		}
		s.requestID(ctx)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
		s.metrics.observe(string(ctx.Method()), pathRoot, fasthttp.StatusOK, time.Since(start).Seconds())
	case pathHealth, pathHealthLive, pathHealthReady:
		if !ctx.IsGet() && !ctx.IsHead() {
			s.reject(ctx, p, converter.OpenAIChat, converter.Errorf(converter.KindMethodNotAllowed, "%s only accepts GET", p), start)
			return
		}
		s.serveHealth(ctx, p)
		s.metrics.observe("GET", p, ctx.Response.StatusCode(), time.Since(start).Seconds())
	case pathMetrics:
		if !ctx.IsGet() {
			s.reject(ctx, pathMetrics, converter.OpenAIChat, converter.Errorf(converter.KindMethodNotAllowed, "/metrics only accepts GET"), start)
			return
		}
		s.promHandler(ctx)
		s.metrics.observe("GET", pathMetrics, ctx.Response.StatusCode(), time.Since(start).Seconds())
	default:
		if bytes.HasPrefix(path, []byte("/admin/")) {
			s.serveAdmin(ctx)
			s.metrics.observe(string(ctx.Method()), pathAdmin, ctx.Response.StatusCode(), time.Since(start).Seconds())
			return
		}
		if s.models.serve(ctx, path, start) {
			return
		}
		s.notFound(ctx, path, start)
	}
}

// serveParseError answers requests fasthttp could not read, a body over the
// size limit above all, in the error shape of the route they were sent to.
func (s *Server) serveParseError(ctx *fasthttp.RequestCtx, err error) {
	start := time.Now()
	path := ctx.Path()
	format := requestFormat(ctx)
	label := pathOther
	if r, ok := s.routes[string(path)]; ok {
		format, label = r.format, r.Path
	}
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		// fasthttp closes the connection after this answer. A client still
		// sending its body would see the close as a reset and never read
		// the 413, so the rest of the body is read and dropped first.
		drainBody(ctx.Conn(), int64(ctx.Request.Header.ContentLength()))
		ctx.SetConnectionClose()
		s.reject(ctx, label, format, converter.Errorf(converter.KindRequestTooLarge,
			"request body is larger than the limit of %d bytes", s.cfg.Server.MaxBodyBytes), start)
		return
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		ctx.SetConnectionClose()
	}
	s.reject(ctx, label, format, converter.Errorf(converter.KindInvalidRequest, "malformed HTTP request: %v", err), start)
}

// reject answers with a gateway error in the given format and records it.
func (s *Server) reject(ctx *fasthttp.RequestCtx, pathLabel string, f converter.Format, e *converter.Error, start time.Time) {
	requestID := s.requestID(ctx)
	writeError(ctx, f, e, requestID)
	s.metrics.observe(string(ctx.Method()), pathLabel, ctx.Response.StatusCode(), time.Since(start).Seconds())
	if s.access != nil {
		s.access.LogRejected(&accesslog.Rejected{
			RequestID: requestID, Method: string(ctx.Method()), Path: pathLabel,
			Status: ctx.Response.StatusCode(), Error: e.Message, Duration: time.Since(start),
		})
	}
}

func writeError(ctx *fasthttp.RequestCtx, f converter.Format, e *converter.Error, requestID string) {
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
