package workers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/format"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's idle-connection sweeper ends by itself once its last
		// connection is closed, after at most one sweep interval.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// countingServer is an upstream that counts the connections it accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func testClient(t *testing.T, url string, format format.Format, edit func(*config.Upstream)) *upstreamClient {
	t.Helper()
	u := config.DefaultUpstream()
	u.Name, u.URL, u.Format = "test", url, format
	if edit != nil {
		edit(&u)
	}
	c, err := newUpstreamClient(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func TestUpstreamClientSendsProviderHeaders(t *testing.T) {
	tests := []struct {
		name    string
		format  format.Format
		client  format.Format
		headers []bus.Header
		stream  bool
		want    map[string]string
	}{
		{
			name:   "openai upstream, openai client",
			format: format.OpenAIChat, client: format.OpenAIChat,
			headers: []bus.Header{{Name: "openai-organization", Value: "org-1"}},
			want: map[string]string{
				"Authorization": "Bearer sk-test", "Content-Type": "application/json",
				"Accept": "application/json", "Openai-Organization": "org-1",
			},
		},
		{
			name:   "openai upstream, anthropic client: no openai headers pass",
			format: format.OpenAIChat, client: format.Anthropic, stream: true,
			headers: []bus.Header{{Name: "openai-organization", Value: "org-1"}},
			want:    map[string]string{"Accept": "text/event-stream", "Openai-Organization": ""},
		},
		{
			name:   "anthropic upstream, anthropic client: version and beta pass",
			format: format.Anthropic, client: format.Anthropic,
			headers: []bus.Header{{Name: "anthropic-version", Value: "2024-01-01"}, {Name: "anthropic-beta", Value: "tools-1"}},
			want: map[string]string{
				"X-Api-Key": "sk-test", "Anthropic-Version": "2024-01-01", "Anthropic-Beta": "tools-1", "Authorization": "",
			},
		},
		{
			name:   "anthropic upstream, openai client: default version",
			format: format.Anthropic, client: format.OpenAIChat,
			want: map[string]string{"Anthropic-Version": "2023-06-01", "Anthropic-Beta": ""},
		},
		{
			name:   "responses upstream, responses client: openai headers pass",
			format: format.OpenAIResponses, client: format.OpenAIResponses,
			headers: []bus.Header{{Name: "openai-project", Value: "proj-1"}},
			want: map[string]string{
				"Authorization": "Bearer sk-test", "Openai-Project": "proj-1", "X-Api-Key": "", "Anthropic-Version": "",
			},
		},
		{
			name:   "responses upstream, chat client: one dialect, openai headers pass",
			format: format.OpenAIResponses, client: format.OpenAIChat,
			headers: []bus.Header{{Name: "openai-organization", Value: "org-1"}},
			want:    map[string]string{"Authorization": "Bearer sk-test", "Openai-Organization": "org-1"},
		},
		{
			name:   "anthropic upstream, responses client: default version",
			format: format.Anthropic, client: format.OpenAIResponses,
			headers: []bus.Header{{Name: "openai-project", Value: "proj-1"}},
			want:    map[string]string{"X-Api-Key": "sk-test", "Anthropic-Version": "2023-06-01", "Openai-Project": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan http.Header, 1)
			srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Clone()
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{}`)
			})
			c := testClient(t, srv.URL, tt.format, func(u *config.Upstream) { u.APIKey = "sk-test" })
			req := &bus.Request{Stream: tt.stream, Headers: tt.headers}
			resp, err := c.do(context.Background(), time.Time{}, req, tt.client, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Close()
			h := <-got
			for name, want := range tt.want {
				if v := h.Get(name); v != want {
					t.Errorf("%s = %q, want %q", name, v, want)
				}
			}
		})
	}
}

func TestUpstreamClientKeepsConnections(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Accept") == "text/event-stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				_, _ = io.WriteString(w, "data: {\"n\":"+string(rune('0'+i))+"}\n\n")
				w.(http.Flusher).Flush()
			}
			_, _ = io.WriteString(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	c := testClient(t, srv.URL, format.OpenAIChat, nil)
	for i := range 6 {
		stream := i%2 == 1
		resp, err := c.do(context.Background(), time.Time{}, &bus.Request{Stream: stream}, format.OpenAIChat, []byte(`{}`))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if stream {
			// Read up to the last event only, as the stream converter does:
			// the end of the chunked body is left for Close to drain.
			br := bufio.NewReader(resp.Stream)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if strings.HasPrefix(line, "data: [DONE]") {
					break
				}
			}
		} else if got := string(resp.Body()); got != `{"ok":true}` {
			t.Fatalf("call %d: body %q", i, got)
		}
		resp.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("six calls opened %d connections, want 1", n)
	}
}

func TestUpstreamClientAbortsWithItsContext(t *testing.T) {
	started := make(chan struct{})
	gone := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a closed connection once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		close(started)
		<-r.Context().Done() // the gateway hung up
		close(gone)
	})
	c := testClient(t, srv.URL, format.OpenAIChat, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := c.do(ctx, time.Time{}, &bus.Request{}, format.OpenAIChat, []byte(`{}`))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream never saw the call end")
	}
}

func TestUpstreamClientFirstByteTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := testClient(t, srv.URL, format.OpenAIChat, func(u *config.Upstream) {
		u.FirstByteTimeout = config.Duration{Duration: 50 * time.Millisecond}
	})
	_, err := c.do(context.Background(), time.Time{}, &bus.Request{}, format.OpenAIChat, []byte(`{}`))
	if err == nil || !isTimeout(err) {
		t.Fatalf("err = %v, want a time-out", err)
	}
}

// rawServer answers each connection with script, which reads the request
// itself.
func rawServer(t *testing.T, script func(n int, conn net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			script(n, conn, bufio.NewReader(conn))
		}
	}()
	return "http://" + ln.Addr().String()
}

// readRequest consumes one request with a Content-Length body.
func readRequest(t *testing.T, br *bufio.Reader) {
	t.Helper()
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
}

func TestUpstreamClientRetriesAConnectionClosedWhileIdle(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	var accepted atomic.Int64
	url := rawServer(t, func(n int, conn net.Conn, br *bufio.Reader) {
		accepted.Add(1)
		defer conn.Close()
		readRequest(t, br)
		_, _ = io.WriteString(conn, answer)
		if n == 0 {
			// Keep-alive was promised, but the connection is closed
			// before the next request, as an idle time-out would.
			return
		}
		_, _ = io.Copy(io.Discard, conn) // until the client closes
	})
	c := testClient(t, url, format.OpenAIChat, nil)
	for i := range 2 {
		resp, err := c.do(context.Background(), time.Time{}, &bus.Request{}, format.OpenAIChat, []byte(`{}`))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.Status() != 200 {
			t.Fatalf("call %d: status %d", i, resp.Status())
		}
		resp.Close()
		time.Sleep(20 * time.Millisecond) // let the close reach the client
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the closed one and its replacement", n)
	}
}

func TestUpstreamClientReportsABrokenBody(t *testing.T) {
	url := rawServer(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		defer conn.Close()
		readRequest(t, br)
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":")
	})
	c := testClient(t, url, format.OpenAIChat, nil)
	_, err := c.do(context.Background(), time.Time{}, &bus.Request{}, format.OpenAIChat, []byte(`{}`))
	if !errors.Is(err, errBrokenBody) {
		t.Fatalf("err = %v, want errBrokenBody", err)
	}
}

func TestUpstreamClientReadsChunksThatArrivedTogetherAtOnce(t *testing.T) {
	events := []string{"data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n", "data: [DONE]\n\n"}
	url := rawServer(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		defer conn.Close()
		readRequest(t, br)
		// One write: a head and three chunks, as a provider flushing
		// events faster than they are read.
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		for _, e := range events {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(e), e)
		}
		b.WriteString("0\r\n\r\n")
		_, _ = io.WriteString(conn, b.String())
		_, _ = io.Copy(io.Discard, conn)
	})
	c := testClient(t, url, format.OpenAIChat, nil)
	resp, err := c.do(context.Background(), time.Time{}, &bus.Request{Stream: true}, format.OpenAIChat, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	want := strings.Join(events, "")
	// The head and the three chunks went out in one write and arrived in
	// one segment: reading the head buffered them all, and one read
	// returns all three events.
	buf := make([]byte, 4096)
	n, err := resp.Stream.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != want {
		t.Fatalf("one read returned %q, want %q", got, want)
	}
}

func TestUpstreamClientDeadlineBoundsTheWholeAnswer(t *testing.T) {
	url := rawServer(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		defer conn.Close()
		readRequest(t, br)
		// The head at once, then half the body, then nothing.
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":")
		_, _ = io.Copy(io.Discard, conn) // until the client gives up
	})
	c := testClient(t, url, format.OpenAIChat, nil)
	_, err := c.do(context.Background(), time.Now().Add(100*time.Millisecond), &bus.Request{}, format.OpenAIChat, []byte(`{}`))
	if !errors.Is(err, errBrokenBody) || !isTimeout(err) {
		t.Fatalf("err = %v, want a broken body by time-out", err)
	}
}

func TestUpstreamEndpointPath(t *testing.T) {
	tests := []struct {
		base string
		f    format.Format
		want string
	}{
		{"https://api.openai.com", format.OpenAIChat, "https://api.openai.com/v1/chat/completions"},
		{"https://api.openai.com/v1/", format.OpenAIResponses, "https://api.openai.com/v1/responses"},
		{"https://api.openai.com", format.OpenAIResponses, "https://api.openai.com/v1/responses"},
		{"https://api.anthropic.com/v1", format.Anthropic, "https://api.anthropic.com/v1/messages"},
	}
	for _, f := range format.All() {
		if f.Path() == "" {
			t.Errorf("format %s has no chat path", f)
		}
	}
	for _, tt := range tests {
		if got := endpoint(tt.base, tt.f); got != tt.want {
			t.Errorf("endpoint(%q, %s) = %q, want %q", tt.base, tt.f, got, tt.want)
		}
	}
}
