package workers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter/format"
)

// apiBase is the path the provider's endpoints hang off, "/v1" for
// https://api.openai.com: the chat endpoint's path without its last part.
func (c *upstreamClient) apiBase() string {
	base := strings.TrimSuffix(c.path, "/chat/completions")
	return strings.TrimSuffix(base, "/messages")
}

// doAt sends a request to another endpoint of the provider than its chat
// endpoint (path is relative to apiBase, such as "/embeddings"), with the
// same credentials and protocol headers, and reads the whole answer by
// deadline. A GET carries no body. Like do, it tries once more when a pooled
// connection turns out to have been closed while idle.
func (c *upstreamClient) doAt(ctx context.Context, deadline time.Time, method, path string, req *bus.Request, client format.Format, body []byte) (*upstreamResponse, error) {
	r := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(r)
	c.build(r, req, client, body)
	r.Header.SetMethod(method)
	r.Header.SetRequestURI(c.apiBase() + path)
	r.Header.Set("Accept", "application/json")
	if method == fasthttp.MethodGet {
		r.Header.Del("Content-Type")
		r.SetBodyRaw(nil)
	}
	for attempt := 0; ; attempt++ {
		resp, reused, err := c.roundTrip(ctx, deadline, r, false)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("calling upstream %s: %w", path, ctx.Err())
		}
		if !reused || attempt > 0 || errors.Is(err, errBrokenBody) || !isStaleConnection(err) {
			return nil, err
		}
	}
}
