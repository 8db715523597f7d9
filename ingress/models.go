package ingress

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/ingress/access"
	"github.com/aigateway/gateway/ingress/accesslog"
)

// How long an upstream's model list is kept. A failed listing is retried
// sooner, and until then the last good list (if any) is served.
const (
	modelsTTL        = 5 * time.Minute
	modelsFailureTTL = 30 * time.Second
	// modelsWait bounds asking the workers, a little over their own bound
	// on asking the upstream.
	modelsWait = 10 * time.Second
)

// Anthropic's page size bounds for GET /v1/models.
const (
	defaultModelPage = 20
	maxModelPage     = 1000
)

// modelCatalog serves GET <base>/models and <base>/models/{id}: the model
// names a client can use through the gateway on the routes under base (the
// configured aliases and defaults, then what each upstream reports), in the
// client's dialect, filtered by the caller's key.
type modelCatalog struct {
	s *Server
	// bases maps "<base>/models" to the routes under that base, in
	// configuration order.
	bases map[string][]*route

	mu      sync.Mutex
	entries map[string]modelEntry // by upstream name
	calls   singleflight.Group
}

// modelEntry is an upstream's cached model list.
type modelEntry struct {
	models  []bus.ModelInfo
	fetched time.Time
	ok      bool
}

func newModelCatalog(s *Server, t *table) *modelCatalog {
	c := &modelCatalog{s: s, bases: make(map[string][]*route), entries: make(map[string]modelEntry)}
	for _, rc := range t.cfg.Routes {
		base, ok := rc.APIBase()
		if !ok {
			continue
		}
		c.bases[base+"/models"] = append(c.bases[base+"/models"], t.routes[rc.Path])
	}
	return c
}

// upstreamModels returns what the upstream reports, from the cache or its
// workers.
func (c *modelCatalog) upstreamModels(upstream string) []bus.ModelInfo {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[upstream]
	c.mu.Unlock()
	if ok && (e.ok && now.Sub(e.fetched) < modelsTTL || !e.ok && now.Sub(e.fetched) < modelsFailureTTL) {
		return e.models
	}
	v, _, _ := c.calls.Do(upstream, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), modelsWait)
		defer cancel()
		models, err := bus.RequestModels(ctx, c.s.nc, upstream)
		next := modelEntry{models: models, fetched: time.Now(), ok: err == nil}
		if err != nil {
			// Serve the last good list until the upstream answers again.
			next.models = e.models
			if !errors.Is(err, nats.ErrNoResponders) {
				c.s.logger.Warn("listing upstream models failed; serving configured names", "upstream", upstream, "err", err)
			}
		}
		c.mu.Lock()
		c.entries[upstream] = next
		c.mu.Unlock()
		return next.models, nil
	})
	return v.([]bus.ModelInfo)
}

// serve answers path if it is a model listing or lookup, and reports
// whether it was one.
func (c *modelCatalog) serve(ctx *fasthttp.RequestCtx, path []byte, start time.Time) bool {
	key, id := string(path), ""
	routes, ok := c.bases[key]
	if !ok {
		i := bytes.LastIndex(path, []byte("/models/"))
		for i >= 0 && !ok {
			key, id = string(path[:i+len("/models")]), string(path[i+len("/models/"):])
			routes, ok = c.bases[key]
			if !ok {
				i = bytes.LastIndex(path[:i], []byte("/models/"))
			}
		}
		if !ok || id == "" {
			return false
		}
	}
	c.s.listModels(ctx, key, routes, id, start)
	return true
}

// dialect picks the shape of the answer: Anthropic for a client that looks
// like one, or when every route under the base speaks Anthropic's API.
func modelsDialect(ctx *fasthttp.RequestCtx, routes []*route) format.Format {
	if requestFormat(ctx) == format.Anthropic {
		return format.Anthropic
	}
	for _, r := range routes {
		if r.format != format.Anthropic {
			return format.OpenAIChat
		}
	}
	return format.Anthropic
}

func (s *Server) listModels(ctx *fasthttp.RequestCtx, label string, routes []*route, id string, start time.Time) {
	f := modelsDialect(ctx, routes)
	requestID := s.requestID(ctx)
	status := fasthttp.StatusOK
	failure := ""
	defer func() {
		s.metrics.observe(string(ctx.Method()), label, status, time.Since(start).Seconds())
		if s.access != nil {
			s.access.LogRequest(&accesslog.Request{RequestID: requestID, Route: label, Status: status, Duration: time.Since(start), Error: failure})
		}
	}()
	refuse := func(e *converter.Error) {
		writeError(ctx, f, e, requestID)
		status, failure = e.Status(f), e.Message
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		refuse(converter.Errorf(converter.KindMethodNotAllowed, "%s only accepts GET", ctx.Path()))
		ctx.Response.Header.Set("Allow", "GET")
		return
	}
	var key *access.Key
	if g := s.opts.Guard; g != nil && g.Enabled() {
		k, err := g.Authenticate(ctx.Request.Header.Peek("Authorization"), ctx.Request.Header.Peek("X-Api-Key"))
		if err != nil {
			msg := "invalid API key"
			if errors.Is(err, access.ErrMissingKey) {
				msg = "missing API key: send it as Authorization: Bearer <key> or x-api-key"
			}
			refuse(converter.Errorf(converter.KindAuthentication, "%s", msg))
			return
		}
		key = k
	}
	models := s.table().models.collect(f, routes, key)
	if id != "" {
		i := slices.IndexFunc(models, func(m bus.ModelInfo) bool { return m.ID == id })
		if i < 0 {
			refuse(modelNotFound(id))
			return
		}
		writeJSON(ctx, appendModel(nil, f, models[i]))
		return
	}
	if f == format.OpenAIChat {
		b := append(make([]byte, 0, 64+len(models)*96), `{"object":"list","data":[`...)
		for i, m := range models {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendModel(b, f, m)
		}
		writeJSON(ctx, append(b, "]}"...))
		return
	}
	page, hasMore, e := anthropicPage(ctx, models)
	if e != nil {
		refuse(e)
		return
	}
	b := append(make([]byte, 0, 96+len(page)*128), `{"data":[`...)
	for i, m := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, f, m)
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	b = append(b, `,"first_id":`...)
	b = appendIDOrNull(b, page, 0)
	b = append(b, `,"last_id":`...)
	b = appendIDOrNull(b, page, len(page)-1)
	writeJSON(ctx, append(b, '}'))
}

// modelNotFound is the 404 for a model the caller cannot use.
func modelNotFound(id string) *converter.Error {
	e := converter.Errorf(converter.KindNotFound, "The model '%s' does not exist or you do not have access to it", id)
	e.Param = "model"
	e.Code = "model_not_found"
	return e
}

// collect gathers the models listed for the routes that serve the dialect
// f (all of them when none does), as key may use them.
func (c *modelCatalog) collect(f format.Format, routes []*route, key *access.Key) []bus.ModelInfo {
	var served []*route
	for _, r := range routes {
		if r.format == f {
			served = append(served, r)
		}
	}
	if len(served) == 0 {
		served = routes
	}
	var out []bus.ModelInfo
	seen := make(map[string]bool)
	allowed := func(r *route, name string) bool {
		if seen[name] {
			return false
		}
		if key != nil && c.s.opts.Guard.Authorize(key, r.Path, name) != nil {
			return false
		}
		seen[name] = true
		return true
	}
	table := c.s.table().routing
	for _, r := range served {
		if r.ModelRouted() {
			// The configured names and aliases: what a request to the
			// route resolves. Patterns match names no list could hold.
			for _, nm := range table.Names() {
				if !r.AllowsModel(nm.Name, nm.Model.Name) || !allowed(r, nm.Name) {
					continue
				}
				out = append(out, bus.ModelInfo{ID: nm.Name, DisplayName: nm.Name, OwnedBy: nm.Model.Targets[0].Up.Name})
			}
			continue
		}
		reported := c.upstreamModels(r.upstream.Name)
		byID := make(map[string]bus.ModelInfo, len(reported))
		for _, m := range reported {
			byID[m.ID] = m
		}
		for _, name := range r.ClientModels(r.upstream) {
			if !allowed(r, name) {
				continue
			}
			// An alias takes the release date and display name of the
			// model it stands for, when the upstream reports that one.
			m, ok := byID[r.MapModel(r.upstream, name)]
			if !ok {
				m = bus.ModelInfo{OwnedBy: r.upstream.Name}
			}
			m.ID = name
			if m.DisplayName == "" || m.DisplayName == r.MapModel(r.upstream, name) {
				m.DisplayName = name
			}
			out = append(out, m)
		}
		for _, m := range reported {
			if allowed(r, m.ID) {
				m.OwnedBy = cmp.Or(m.OwnedBy, r.upstream.Name)
				out = append(out, m)
			}
		}
	}
	return out
}

// anthropicPage applies Anthropic's paging parameters (limit, after_id,
// before_id) to the listing.
func anthropicPage(ctx *fasthttp.RequestCtx, models []bus.ModelInfo) (page []bus.ModelInfo, hasMore bool, e *converter.Error) {
	args := ctx.QueryArgs()
	limit := defaultModelPage
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxModelPage {
			e := converter.Errorf(converter.KindInvalidRequest, "limit: must be an integer between 1 and %d", maxModelPage)
			e.Param = "limit"
			return nil, false, e
		}
		limit = n
	}
	index := func(id string) int {
		return slices.IndexFunc(models, func(m bus.ModelInfo) bool { return m.ID == id })
	}
	from, to := 0, len(models)
	after, before := string(args.Peek("after_id")), string(args.Peek("before_id"))
	if after != "" {
		from = index(after) + 1
	}
	if before != "" {
		to = max(index(before), 0)
	}
	from = min(from, to)
	page = models[from:to]
	if len(page) <= limit {
		return page, false, nil
	}
	if before != "" && after == "" {
		// Paging backwards: the models just before before_id.
		return page[len(page)-limit:], true, nil
	}
	return page[:limit], true, nil
}

func appendIDOrNull(b []byte, page []bus.ModelInfo, i int) []byte {
	if i < 0 || i >= len(page) {
		return append(b, "null"...)
	}
	return jsonx.AppendString(b, page[i].ID)
}

// appendModel writes one model object in the dialect f.
func appendModel(b []byte, f format.Format, m bus.ModelInfo) []byte {
	if f == format.Anthropic {
		b = append(b, `{"type":"model","id":`...)
		b = jsonx.AppendString(b, m.ID)
		b = append(b, `,"display_name":`...)
		b = jsonx.AppendString(b, cmp.Or(m.DisplayName, m.ID))
		b = append(b, `,"created_at":`...)
		// Anthropic uses the epoch for a release date it does not know.
		b = jsonx.AppendString(b, time.Unix(m.Created, 0).UTC().Format(time.RFC3339))
		return append(b, '}')
	}
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, m.ID)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, m.Created, 10)
	b = append(b, `,"owned_by":`...)
	b = jsonx.AppendString(b, cmp.Or(m.OwnedBy, "gateway"))
	return append(b, '}')
}

func writeJSON(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}
