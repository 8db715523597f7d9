package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// response is what a session hands back once the response headers are in.
type response struct {
	status      int
	eventStream bool
	// body is the whole body when the client already read it.
	body []byte
	// stream is the body still to be read, when not nil.
	stream io.Reader
}

// session sends requests one at a time for one worker, reusing its request
// and response objects.
type session interface {
	// do sends the request and waits for the response headers. The request
	// ends at deadline, body included.
	do(ctx context.Context, deadline time.Time) (response, error)
	// release frees the last response, closing its body.
	release()
}

// client is one HTTP client implementation bound to a target.
type client interface {
	newSession() session
	// abort cuts every connection, ending requests in flight at once.
	abort()
	// close releases idle connections once the run is over.
	close()
}

func newClient(cfg Config, target string, body []byte) (client, error) {
	endpoint := cfg.endpoint(target)
	switch cfg.Client {
	case ClientNetHTTP:
		return newStdClient(cfg, endpoint, body), nil
	default:
		return newFastClient(cfg, endpoint, body)
	}
}

// contentTypeJSON is the content type of every request body.
const contentTypeJSON = "application/json"

// fastClient sends through fasthttp's HostClient, which reuses request and
// response objects and costs less CPU per request than net/http; the load
// generator shares the machine with the server it measures, so that matters.
type fastClient struct {
	hc      *fasthttp.HostClient
	uri     string
	body    []byte
	headers []Header
	shape   Shape
	stream  bool

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	aborted bool
}

// errAborted refuses new connections once the run was cut short.
var errAborted = errors.New("load: run aborted")

func newFastClient(cfg Config, endpoint string, body []byte) (*fastClient, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("load: parse %q: %w", endpoint, err)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	c := &fastClient{
		uri:     endpoint,
		body:    body,
		headers: cfg.Headers,
		shape:   cfg.Shape,
		stream:  cfg.Stream,
		conns:   make(map[net.Conn]struct{}),
	}
	c.hc = &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "aigateway-loadgen",
		IsTLS:                     u.Scheme == "https",
		TLSConfig:                 &tls.Config{ServerName: u.Hostname()},
		MaxConns:                  cfg.Concurrency,
		MaxConnWaitTimeout:        cfg.Timeout,
		MaxIdleConnDuration:       time.Minute,
		MaxIdemponentCallAttempts: 1,
		ReadBufferSize:            16 << 10,
		Dial:                      c.dial,
	}
	return c, nil
}

// dial opens a connection and remembers it, so that abort can cut requests
// in flight: fasthttp has no per-request cancellation.
func (c *fastClient) dial(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, owner: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		_ = conn.Close()
		return nil, errAborted
	}
	c.conns[tc] = struct{}{}
	return tc, nil
}

func (c *fastClient) abort() {
	c.mu.Lock()
	c.aborted = true
	conns := make([]net.Conn, 0, len(c.conns))
	for conn := range c.conns {
		conns = append(conns, conn)
	}
	c.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
	}
}

func (c *fastClient) close() { c.hc.CloseIdleConnections() }

func (c *fastClient) newSession() session {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(c.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType(contentTypeJSON)
	if c.shape == ShapeAnthropic {
		req.Header.Set("anthropic-version", AnthropicVersion)
	}
	if c.stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	for _, h := range c.headers {
		req.Header.Set(h.Key, h.Value)
	}
	// The body is shared by every session and never written to.
	req.SetBodyRaw(c.body)
	return &fastSession{c: c, req: req, resp: fasthttp.AcquireResponse()}
}

type fastSession struct {
	c    *fastClient
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func (s *fastSession) do(_ context.Context, deadline time.Time) (response, error) {
	// A stream must be read as it arrives to time its events; a plain JSON
	// answer is cheaper read whole into the response's reused buffer.
	s.resp.StreamBody = s.c.stream
	if err := s.c.hc.DoDeadline(s.req, s.resp, deadline); err != nil {
		return response{}, err
	}
	r := response{
		status:      s.resp.StatusCode(),
		eventStream: bytes.HasPrefix(s.resp.Header.ContentType(), []byte("text/event-stream")),
	}
	if bs := s.resp.BodyStream(); bs != nil {
		r.stream = bs
	} else {
		r.body = s.resp.Body()
	}
	return r, nil
}

func (s *fastSession) release() { _ = s.resp.CloseBodyStream() }

// trackedConn forgets itself in its owner when closed.
type trackedConn struct {
	net.Conn
	owner *fastClient
}

func (t *trackedConn) Close() error {
	t.owner.mu.Lock()
	delete(t.owner.conns, t)
	t.owner.mu.Unlock()
	return t.Conn.Close()
}

// stdClient sends through net/http with a transport sized to the
// concurrency, so every worker keeps its connection alive.
type stdClient struct {
	tr     *http.Transport
	uri    string
	body   []byte
	header http.Header
}

func newStdClient(cfg Config, endpoint string, body []byte) *stdClient {
	h := http.Header{}
	h.Set("Content-Type", contentTypeJSON)
	h.Set("User-Agent", "aigateway-loadgen")
	if cfg.Shape == ShapeAnthropic {
		h.Set("anthropic-version", AnthropicVersion)
	}
	if cfg.Stream {
		h.Set("Accept", "text/event-stream")
	}
	for _, kv := range cfg.Headers {
		h.Set(kv.Key, kv.Value)
	}
	return &stdClient{
		tr: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        cfg.Concurrency,
			MaxIdleConnsPerHost: cfg.Concurrency,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			ReadBufferSize:      16 << 10,
		},
		uri:    endpoint,
		body:   body,
		header: h,
	}
}

func (c *stdClient) newSession() session { return &stdSession{c: c} }

// abort needs nothing more: requests in flight carry the run's context.
func (c *stdClient) abort() {}

func (c *stdClient) close() { c.tr.CloseIdleConnections() }

type stdSession struct {
	c      *stdClient
	resp   *http.Response
	cancel context.CancelFunc
}

func (s *stdSession) do(ctx context.Context, deadline time.Time) (response, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.c.uri, bytes.NewReader(s.c.body))
	if err != nil {
		cancel()
		return response{}, fmt.Errorf("load: build request: %w", err)
	}
	// Shared and read-only: a RoundTripper must not modify the request.
	req.Header = s.c.header
	resp, err := s.c.tr.RoundTrip(req)
	if err != nil {
		cancel()
		return response{}, err
	}
	s.resp, s.cancel = resp, cancel
	ct := resp.Header.Get("Content-Type")
	return response{
		status:      resp.StatusCode,
		eventStream: len(ct) >= 17 && ct[:17] == "text/event-stream",
		stream:      resp.Body,
	}, nil
}

func (s *stdSession) release() {
	if s.resp != nil {
		_ = s.resp.Body.Close()
		s.resp = nil
	}
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}
