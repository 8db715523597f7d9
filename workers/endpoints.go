package workers

import (
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

// HeaderTokenCount marks a count_tokens answer the gateway computed itself
// rather than the upstream: its value is TokenCountEstimate.
const (
	HeaderTokenCount   = "X-Gateway-Token-Count"
	TokenCountEstimate = "estimate"
)

// derivedRoute is an endpoint served beside a route's chat endpoint, with
// the route it belongs to (its upstream, model map and client format).
type derivedRoute struct {
	endpoint config.Endpoint
	route    config.Route
}

// addEndpoints registers the endpoints derived from the pool's routes.
func (p *pool) addEndpoints() {
	p.endpoints = make(map[string]derivedRoute)
	for _, r := range p.routes {
		for _, e := range config.Endpoints() {
			if path, ok := r.EndpointPath(e); ok && e.ChatFormat() == "" {
				p.endpoints[path] = derivedRoute{endpoint: e, route: r}
			}
		}
	}
}

// serveEndpoint serves a request to an endpoint beside chat: embeddings
// pass through to an OpenAI-format upstream; count_tokens goes to an
// Anthropic-format upstream, and is estimated here for the others.
func (c *call) serveEndpoint() {
	ctx := c.sender.Context()
	body, err := bus.Body(ctx, c.p.svc.nc, c.req)
	if err != nil {
		c.fail(converter.Errorf(converter.KindInternal, "the request body could not be read from the bus"), err)
		return
	}
	c.upstreamModel = c.mapModel()
	var path string
	switch {
	case c.endpoint == config.EndpointCountTokens && c.p.format != format.Anthropic:
		c.estimateTokens(body)
		return
	case c.endpoint == config.EndpointCountTokens:
		path = "/messages/count_tokens"
	case c.endpoint == config.EndpointEmbeddings && c.p.format.Family() == format.FamilyOpenAI:
		path = "/embeddings"
	default:
		c.fail(converter.Errorf(converter.KindNotFound, "upstream %s speaks the %s API, which has no %s endpoint", c.p.upstream.Name, c.p.format, c.endpoint), nil)
		return
	}
	if c.upstreamModel != "" {
		if body, err = converter.SetModel(body, c.upstreamModel); err != nil {
			c.fail(asConverterError(err), nil)
			return
		}
	}
	deadline := time.Now().Add(c.p.upstream.Timeout.Duration)
	resp, err := c.withKey(func(key *poolKey) (*upstreamResponse, error) {
		return c.p.client.doAt(ctx, deadline, fasthttp.MethodPost, path, c.req, c.client, body, key)
	})
	if err != nil {
		c.p.pm.request(0)
		c.upstreamFailed(err, ctx.Err())
		return
	}
	defer resp.Close()
	c.p.pm.request(resp.Status())
	if resp.Status() >= 300 {
		c.forwardError(ctx, resp)
		return
	}
	out := resp.Body()
	var usage converter.Usage
	if c.endpoint == config.EndpointEmbeddings {
		usage = embeddingUsage(out)
		if model := c.reportedModel(); model != "" {
			// The client hears back the name it asked for, as with chat.
			if renamed, err := converter.SetModel(out, model); err == nil {
				out = renamed
			}
		}
	}
	c.sender.Head(c.head(resp, "application/json"))
	c.sender.Data(out)
	c.end(ctx, usage)
}

// estimateTokens answers count_tokens for an upstream that cannot count:
// the gateway's tokenizer estimates the count, and a header says so.
func (c *call) estimateTokens(body []byte) {
	n, err := c.p.svc.tokens.AnthropicRequest(body, c.upstreamModel)
	if err != nil {
		c.fail(asConverterError(err), nil)
		return
	}
	out := strconv.AppendInt(append(c.out[:0], `{"input_tokens":`...), int64(n), 10)
	out = append(out, '}')
	c.sender.Head(bus.Head{Status: fasthttp.StatusOK, Headers: []bus.Header{
		{Name: "Content-Type", Value: "application/json"},
		{Name: HeaderTokenCount, Value: TokenCountEstimate},
	}})
	c.sender.Data(out)
	c.end(c.sender.Context(), converter.Usage{})
}

// embeddingUsage reads the input tokens an embeddings answer reports, which
// quotas count like a chat request's.
func embeddingUsage(body []byte) converter.Usage {
	var r struct {
		Usage struct {
			PromptTokens int64 `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := jsonx.Unmarshal(body, &r); err != nil {
		return converter.Usage{}
	}
	return converter.Usage{InputTokens: r.Usage.PromptTokens}
}

func asConverterError(err error) *converter.Error {
	var e *converter.Error
	if errors.As(err, &e) {
		return e
	}
	return converter.Errorf(converter.KindInvalidRequest, "%v", err)
}
