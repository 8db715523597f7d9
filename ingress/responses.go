package ingress

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/ingress/accesslog"
	"github.com/aigateway/gateway/workers/respstore"
)

// The stored-response endpoints of the Responses API, beside each route
// that takes Responses requests (POST <base>/responses):
//
//	GET    <base>/responses/{id}              the stored response object
//	DELETE <base>/responses/{id}              forget it
//	GET    <base>/responses/{id}/input_items  its input items, as a list
//
// The workers store the responses (workers/responses.go); these endpoints
// only read and delete entries of the same key-value bucket, the way the
// ingress already uses the bus's key-value store for access control. No
// upstream is involved, so they do not travel the queue.

// inputItemsSuffix ends the path of the input item listing.
const inputItemsSuffix = "/input_items"

// Page bounds of GET …/input_items, as the API's.
const (
	defaultItemPage = 20
	maxItemPage     = 100
)

// storedRoutes maps "<route path>/" to the route, for each route that takes
// Responses requests at a path ending in /responses.
func (s *Server) storedRoutes() map[string]*route {
	out := make(map[string]*route)
	for _, r := range s.routes {
		if r.format == format.OpenAIResponses && strings.HasSuffix(r.Path, "/responses") {
			out[r.Path+"/"] = r
		}
	}
	return out
}

// serveStored answers path if it is a stored-response endpoint, and reports
// whether it was one.
func (s *Server) serveStored(ctx *fasthttp.RequestCtx, path []byte, start time.Time) bool {
	if len(s.stored) == 0 {
		return false
	}
	i := strings.LastIndex(string(path[:len(path)-1]), "/")
	if i < 0 {
		return false
	}
	rest := string(path)
	r, ok := s.stored[rest[:i+1]]
	id, listing := rest[i+1:], false
	if !ok && strings.HasSuffix(rest, inputItemsSuffix) {
		rest = strings.TrimSuffix(rest, inputItemsSuffix)
		if j := strings.LastIndex(rest, "/"); j >= 0 {
			r, ok = s.stored[rest[:j+1]]
			id, listing = rest[j+1:], true
		}
	}
	if !ok || id == "" {
		return false
	}
	label := r.Path + "/{id}"
	if listing {
		label += inputItemsSuffix
	}
	s.serveStoredResponse(ctx, r, label, id, listing, start)
	return true
}

func (s *Server) serveStoredResponse(ctx *fasthttp.RequestCtx, r *route, label, id string, listing bool, start time.Time) {
	x := &exchange{s: s, r: r, start: start, method: methodLabel(ctx.Method())}
	x.requestID = s.requestID(ctx)
	status, failure := fasthttp.StatusOK, ""
	defer func() {
		x.settle()
		s.metrics.observe(x.method, label, status, time.Since(start).Seconds())
		if s.access != nil {
			s.access.LogRequest(&accesslog.Request{RequestID: x.requestID, Route: label, Status: status, Duration: time.Since(start), Error: failure})
		}
	}()
	refuse := func(e *converter.Error) {
		writeError(ctx, r.format, e, x.requestID)
		status, failure = e.Status(r.format), e.Message
	}
	allowed := "GET, DELETE"
	if listing {
		allowed = "GET"
	}
	if !ctx.IsGet() && !(ctx.IsDelete() && !listing) {
		refuse(converter.Errorf(converter.KindMethodNotAllowed, "%s only accepts %s", label, allowed))
		ctx.Response.Header.Set("Allow", allowed)
		return
	}
	if g := s.opts.Guard; g != nil && g.Enabled() {
		if e := x.authenticate(ctx); e != nil {
			refuse(e)
			return
		}
		// Reading what a key stored is a request like any other for its
		// rate limits and request quota; it costs no tokens.
		if e := x.admitEstimate(ctx, 0); e != nil {
			refuse(e)
			return
		}
	}
	if s.responses == nil {
		refuse(converter.Errorf(converter.KindNotFound, "Response with id '%s' not found: this gateway stores no responses (responses.store is off).", id))
		return
	}
	scope := x.key.Scope()
	kvCtx := context.Background()
	if ctx.IsDelete() {
		err := s.responses.Delete(kvCtx, scope, id)
		if err != nil {
			refuse(s.storeError(err, id))
			return
		}
		writeJSON(ctx, converter.AppendResponseDeleted(nil, id))
		return
	}
	var page converter.ItemPage
	if listing {
		var e *converter.Error
		if page, e = itemPage(ctx.QueryArgs()); e != nil {
			refuse(e)
			return
		}
	}
	entry, err := s.responses.Load(kvCtx, scope, id)
	if err != nil {
		refuse(s.storeError(err, id))
		return
	}
	if !listing {
		writeJSON(ctx, entry.Response)
		return
	}
	body, err := converter.AppendResponsesItemList(nil, entry.Input, page)
	if err != nil {
		s.logger.Error("a stored response's input cannot be listed", "request_id", x.requestID, "err", err)
		refuse(converter.Errorf(converter.KindInternal, "the input items of response %s cannot be read", id))
		return
	}
	writeJSON(ctx, body)
}

// storeError is the client's error for a failed store call.
func (s *Server) storeError(err error, id string) *converter.Error {
	if errors.Is(err, respstore.ErrNotFound) {
		return converter.Errorf(converter.KindNotFound, "Response with id '%s' not found.", id)
	}
	s.logger.Warn("the responses store failed", "err", err)
	return converter.Errorf(converter.KindUnavailable, "stored responses cannot be reached right now")
}

// itemPage reads the paging parameters of GET …/input_items: limit (1-100,
// default 20), order (asc or desc, the default) and after (an item id).
func itemPage(args *fasthttp.Args) (converter.ItemPage, *converter.Error) {
	page := converter.ItemPage{Limit: defaultItemPage, After: string(args.Peek("after"))}
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxItemPage {
			e := converter.Errorf(converter.KindInvalidRequest, "limit must be an integer between 1 and %d", maxItemPage)
			e.Param = "limit"
			return page, e
		}
		page.Limit = n
	}
	switch order := string(args.Peek("order")); order {
	case "", "desc":
	case "asc":
		page.Ascending = true
	default:
		e := converter.Errorf(converter.KindInvalidRequest, "order must be asc or desc")
		e.Param = "order"
		return page, e
	}
	return page, nil
}
