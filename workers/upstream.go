package workers

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
)

// defaultAnthropicVersion is sent when an OpenAI-format client reaches an
// Anthropic upstream, or an Anthropic client sent no version of its own.
const defaultAnthropicVersion = "2023-06-01"

// upstreamClient calls one provider endpoint.
type upstreamClient struct {
	endpoint string
	format   converter.Format
	apiKey   string
	client   *http.Client
}

func newUpstreamClient(u config.Upstream) *upstreamClient {
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   u.ConnectTimeout.Duration,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   max(u.Concurrency, 16),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   u.ConnectTimeout.Duration,
		ResponseHeaderTimeout: u.FirstByteTimeout.Duration,
		// Answers are small JSON or event streams that must not wait on a
		// decompressor's buffer.
		DisableCompression: true,
	}
	return &upstreamClient{
		endpoint: endpoint(u.URL, converter.Format(u.Format)),
		format:   converter.Format(u.Format),
		apiKey:   u.APIKey,
		client:   &http.Client{Transport: transport},
	}
}

// endpoint appends the API path to the configured base URL, which may or may
// not already end in /v1.
func endpoint(base string, f converter.Format) string {
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/v1")
	if f == converter.Anthropic {
		return base + "/v1/messages"
	}
	return base + "/v1/chat/completions"
}

// do sends body to the upstream. client is the format the request came in,
// whose protocol headers (anthropic-version, anthropic-beta) pass through.
func (c *upstreamClient) do(ctx context.Context, req *bus.Request, client converter.Format, body []byte) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	h := hreq.Header
	h.Set("Content-Type", "application/json")
	if req.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	switch c.format {
	case converter.Anthropic:
		if c.apiKey != "" {
			h.Set("X-Api-Key", c.apiKey)
		}
		version := defaultAnthropicVersion
		if client == converter.Anthropic {
			if v := req.Header("anthropic-version"); v != "" {
				version = v
			}
			if v := req.Header("anthropic-beta"); v != "" {
				h.Set("Anthropic-Beta", v)
			}
		}
		h.Set("Anthropic-Version", version)
	default:
		if c.apiKey != "" {
			h.Set("Authorization", "Bearer "+c.apiKey)
		}
		for _, name := range [...]string{"openai-organization", "openai-project"} {
			if v := req.Header(name); v != "" && client == converter.OpenAIChat {
				h.Set(name, v)
			}
		}
	}
	return c.client.Do(hreq)
}

// close releases idle connections.
func (c *upstreamClient) close() { c.client.CloseIdleConnections() }
