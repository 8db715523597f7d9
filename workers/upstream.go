package workers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpproxy"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
)

const (
	// idleConnTimeout closes pooled connections unused for this long,
	// shorter than the keep-alive time-outs providers' load balancers use,
	// so that a call rarely picks a connection the other side is closing.
	idleConnTimeout = 30 * time.Second
	// drainTimeout bounds the wait for the end of a streamed body after its
	// last event, to keep the connection for the next call.
	drainTimeout = 50 * time.Millisecond
	// maxDrainBytes is the most of an unread body read to keep a connection.
	maxDrainBytes = 4 << 10
	userAgent     = "aigateway"
)

// upstreamClient calls one provider endpoint over HTTP/1.1.
//
// It uses fasthttp's connection pool and its request and response codecs,
// which cost a fraction of net/http's per-call goroutines, header maps and
// copies. fasthttp's client has no notion of a context, so a call takes a
// connection from the pool itself and closes it when its context ends: that
// is what aborts the call of a client that left, a time-out, or a shutdown.
type upstreamClient struct {
	// host and path are the endpoint's Host header and request target,
	// set as they are so that no URL is parsed per call.
	host             string
	path             string
	format           format.Format
	firstByteTimeout time.Duration
	hc               *fasthttp.HostClient
}

func newUpstreamClient(u config.Upstream) (*upstreamClient, error) {
	endpoint := endpoint(u.URL, u.Format)
	parsed, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: url: %w", u.Name, err)
	}
	isTLS := parsed.Scheme == "https"
	addr := parsed.Host
	if parsed.Port() == "" {
		port := "80"
		if isTLS {
			port = "443"
		}
		addr = net.JoinHostPort(parsed.Hostname(), port)
	}
	dial, err := dialer(parsed, isTLS, u.ConnectTimeout.Duration)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	c := &upstreamClient{
		host:             parsed.Host,
		path:             parsed.RequestURI(),
		format:           u.Format,
		firstByteTimeout: u.FirstByteTimeout.Duration,
		hc: &fasthttp.HostClient{
			Addr:  addr,
			IsTLS: isTLS,
			Dial:  dial,
			// A pool never runs more calls than its concurrency; the
			// margin covers connections still closing.
			MaxConns:            max(u.Concurrency, 1) + 16,
			MaxConnWaitTimeout:  u.ConnectTimeout.Duration,
			MaxIdleConnDuration: idleConnTimeout,
			// The read buffer holds a whole response head; a streamed
			// body is read without it (bodyReader), so streams share
			// these buffers instead of holding one each. Bodies go past
			// the write buffer.
			ReadBufferSize:   8 << 10,
			WriteBufferSize:  4 << 10,
			ConnPoolStrategy: fasthttp.LIFO,
		},
	}
	return c, nil
}

// dialer connects to the upstream, through the proxy the environment names
// for it (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), as net/http would.
func dialer(target *url.URL, isTLS bool, timeout time.Duration) (fasthttp.DialFunc, error) {
	proxyURL, err := http.ProxyFromEnvironment(&http.Request{URL: target})
	if err != nil {
		return nil, fmt.Errorf("proxy from the environment: %w", err)
	}
	if proxyURL != nil {
		d := &fasthttpproxy.Dialer{Timeout: timeout, ConnectTimeout: timeout, DialDualStack: true}
		return d.GetDialFuncForTLS(true, isTLS)
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return func(addr string) (net.Conn, error) { return d.Dial("tcp", addr) }, nil
}

// endpoint appends the format's chat path to the configured base URL, which
// may or may not already end in /v1.
func endpoint(base string, f format.Format) string {
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/v1")
	return base + "/v1" + f.Path()
}

// upstreamResponse is an upstream's answer whose head has been read. A
// non-streamed body has been read whole (Body); a streamed one is read from
// Stream. Close must be called once the body is no longer needed.
type upstreamResponse struct {
	*fasthttp.Response
	// Stream is the streamed body; nil when the body was read whole.
	Stream *bodyReader
	// reusable is false when the upstream closes the connection after
	// this answer, or marks the body's end by closing it.
	reusable bool
	release  func(reusable bool)
}

// Status is the HTTP status code.
func (r *upstreamResponse) Status() int { return r.StatusCode() }

// Get returns a response header's value, "" when absent.
func (r *upstreamResponse) Get(name string) string { return string(r.Header.Peek(name)) }

// IsEventStream reports whether the body is a server-sent event stream.
func (r *upstreamResponse) IsEventStream() bool {
	return bytes.HasPrefix(r.Header.ContentType(), eventStream)
}

// Close returns the connection to the pool when the body ended cleanly, and
// closes it otherwise.
func (r *upstreamResponse) Close() {
	reusable := r.reusable
	if r.Stream != nil {
		reusable = reusable && r.Stream.drain()
	}
	r.release(reusable)
	r.ReleaseHead()
}

// ReleaseHead hands the response's head (status and headers) back once the
// answer no longer needs it, as a stream does once its head frame is built:
// a held stream would keep it, headers and all, for its whole life. Only
// Stream may be used afterwards.
func (r *upstreamResponse) ReleaseHead() {
	if r.Response != nil {
		fasthttp.ReleaseResponse(r.Response)
		r.Response = nil
	}
}

// do sends body to the upstream and reads the response head, and the whole
// body unless the request is streamed, by deadline unless it is zero.
// client is the format the request came in, whose protocol headers
// (anthropic-version, anthropic-beta, openai-project …) pass through to an
// upstream of the same dialect. key is the provider key to send, nil for
// none. Errors after ctx ended are ctx's error.
func (c *upstreamClient) do(ctx context.Context, deadline time.Time, req *bus.Request, client format.Format, body []byte, key *poolKey) (*upstreamResponse, error) {
	r := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(r)
	c.build(r, req, client, body, key)
	// A connection that sat idle in the pool may have been closed by the
	// other side just as it is reused; nothing reached the upstream then,
	// so the call is tried once more on a new connection.
	for attempt := 0; ; attempt++ {
		resp, reused, err := c.roundTrip(ctx, deadline, r, req.Stream)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			if errors.Is(err, errBrokenBody) {
				return nil, fmt.Errorf("%w: %w", errBrokenBody, ctx.Err())
			}
			return nil, fmt.Errorf("calling upstream: %w", ctx.Err())
		}
		if !reused || attempt > 0 || errors.Is(err, errBrokenBody) || !isStaleConnection(err) {
			return nil, err
		}
	}
}

func (c *upstreamClient) build(r *fasthttp.Request, req *bus.Request, client format.Format, body []byte, key *poolKey) {
	h := &r.Header
	h.SetHost(c.host)
	h.SetRequestURI(c.path)
	h.SetMethod(fasthttp.MethodPost)
	h.SetContentType("application/json")
	h.SetUserAgent(userAgent)
	if req.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	if key != nil {
		h.Set(key.authName, key.authValue)
	}
	converter.UpstreamHeaders(c.format, client, req.Header, h.Set)
	r.SetBodyRaw(body)
}

// roundTrip makes one attempt on one connection. reused tells whether the
// connection had served a call before.
func (c *upstreamClient) roundTrip(ctx context.Context, deadline time.Time, r *fasthttp.Request, stream bool) (resp *upstreamResponse, reused bool, err error) {
	cc, err := c.hc.AcquireConn(0, false)
	if err != nil {
		return nil, false, fmt.Errorf("connecting to upstream: %w", err)
	}
	reused = cc.LastUseTime().After(cc.CreatedTime())
	conn := cc.Conn()
	// From here the connection is this call's: closing it is how the call
	// is aborted. A connection whose call was aborted is never reused.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	release := func(reusable bool) {
		if stop() && reusable {
			c.hc.ReleaseConn(cc)
		} else {
			c.hc.CloseConn(cc)
		}
	}

	// A pooled connection may carry its last call's deadline.
	if err := conn.SetDeadline(deadline); err != nil {
		release(false)
		return nil, reused, fmt.Errorf("sending request upstream: %w", err)
	}
	bw := c.hc.AcquireWriter(conn)
	err = r.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	c.hc.ReleaseWriter(bw)
	if err != nil {
		release(false)
		return nil, reused, fmt.Errorf("sending request upstream: %w", err)
	}

	br := c.hc.AcquireReader(conn)
	fresp := fasthttp.AcquireResponse()
	fail := func(err error) (*upstreamResponse, bool, error) {
		c.hc.ReleaseReader(br)
		fasthttp.ReleaseResponse(fresp)
		release(false)
		return nil, reused, err
	}
	if err := readHead(conn, br, &fresp.Header, c.firstByteTimeout, deadline); err != nil {
		return fail(fmt.Errorf("reading upstream response head: %w", err))
	}
	resp = &upstreamResponse{
		Response: fresp,
		reusable: !fresp.ConnectionClose() && fresp.Header.ContentLength() != -2,
	}
	if stream && fresp.StatusCode() < 300 {
		// The head's reader goes back to the pool now rather than at the
		// end of the stream: a held stream would pin its buffer between
		// events, for minutes. What it read past the head is the body's
		// start.
		buffered, _ := br.Peek(br.Buffered())
		resp.Stream = newBodyReader(conn, fresp.Header.ContentLength(), buffered)
		c.hc.ReleaseReader(br)
		resp.release = release
		return resp, reused, nil
	}
	if !noBody(fresp.StatusCode()) {
		chunked := fresp.Header.ContentLength() == -1
		if err := fresp.ReadBody(br, maxResponseBytes); err != nil {
			return fail(fmt.Errorf("%w: %w", errBrokenBody, err))
		}
		if chunked {
			if err := fresp.Header.ReadTrailer(br); err != nil {
				return fail(fmt.Errorf("%w: reading the trailer: %w", errBrokenBody, err))
			}
		}
	}
	c.hc.ReleaseReader(br)
	resp.release = release
	return resp, reused, nil
}

// readHead reads the status line and headers, skipping interim (1xx)
// responses, within the first-byte time-out and by the call's deadline.
func readHead(conn net.Conn, br *bufio.Reader, h *fasthttp.ResponseHeader, timeout time.Duration, deadline time.Time) error {
	headDeadline := deadline
	if timeout > 0 {
		if firstByte := time.Now().Add(timeout); deadline.IsZero() || firstByte.Before(deadline) {
			headDeadline = firstByte
		}
	}
	if !headDeadline.Equal(deadline) {
		if err := conn.SetReadDeadline(headDeadline); err != nil {
			return err
		}
	}
	for interim := 0; ; interim++ {
		if err := h.Read(br); err != nil {
			return err
		}
		if s := h.StatusCode(); s >= 200 || s == fasthttp.StatusSwitchingProtocols {
			break
		}
		if interim == 100 {
			return errors.New("too many interim responses")
		}
	}
	if !headDeadline.Equal(deadline) {
		return conn.SetReadDeadline(deadline)
	}
	return nil
}

func noBody(status int) bool {
	return status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
}

var eventStream = []byte("text/event-stream")

// errBrokenBody is a call whose upstream sent its response head but not all
// of its body.
var errBrokenBody = errors.New("upstream broke off its answer")

// isStaleConnection reports an error that a connection closed by the other
// side while idle gives on its next use.
func isStaleConnection(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// close releases idle connections.
func (c *upstreamClient) close() { c.hc.CloseIdleConnections() }
