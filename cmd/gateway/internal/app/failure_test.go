package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/converter/jsonx"
)

// bigStream is an OpenAI-format upstream that streams events of eventSize
// content bytes, generated as it goes so that the test process holds none
// of the answer itself. It counts calls whose client went away.
type bigStream struct {
	events    int
	eventSize int
	gap       time.Duration
	calls     atomic.Int64
	gone      atomic.Int64
}

func (b *bigStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.calls.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	content := strings.Repeat("x", b.eventSize)
	event := []byte(`data: {"id":"chatcmpl-big","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"` +
		content + `"},"finish_reason":null}]}` + "\n\n")
	for i := range b.events {
		if _, err := w.Write(event); err != nil {
			b.gone.Add(1)
			return
		}
		flusher.Flush()
		if b.gap > 0 || i%64 == 0 {
			select {
			case <-r.Context().Done():
				b.gone.Add(1)
				return
			case <-time.After(b.gap):
			}
		}
	}
	_, _ = io.WriteString(w, `data: {"id":"chatcmpl-big","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n"+"data: [DONE]\n\n")
}

// rawStream is a client on a plain TCP connection, so a test can read as
// slowly as it likes or hang up whenever it wants.
type rawStream struct {
	conn net.Conn
	r    *bufio.Reader
	// body reads the decoded body once head has been read.
	body *bufio.Reader
}

// openStream sends a streamed request and reads the response head.
func openStream(t testing.TB, addr, path, body string) *rawStream {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nanthropic-version: 2023-06-01\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return &rawStream{conn: conn, r: bufio.NewReaderSize(conn, 4096)}
}

// head reads the status line and headers.
func (s *rawStream) head(t testing.TB) (int, http.Header) {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(s.r, nil)
	if err != nil {
		t.Fatalf("reading response head: %v", err)
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(45 * time.Second))
	// The body is read here, not through resp, so that the test decides
	// how fast.
	s.body = bufio.NewReaderSize(httputil.NewChunkedReader(s.r), 4096)
	return resp.StatusCode, resp.Header
}

// streamRequest is a streamed chat request with a prompt the mock echoes.
func streamRequest(text string) string {
	return `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"` + text + `"}]}`
}

// tailWriter counts what is written to it and keeps the last bytes.
type tailWriter struct {
	n    int64
	last []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.last = append(w.last, p...)
	if len(w.last) > 512 {
		w.last = append(w.last[:0], w.last[len(w.last)-512:]...)
	}
	return len(p), nil
}

// readStream reads a streamed answer to its end through the net/http
// client, without keeping it, and returns its size, its last bytes and how
// long it took.
func readStream(t testing.TB, url, body string) (*tailWriter, time.Duration, error) {
	t.Helper()
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	w := &tailWriter{}
	_, err = io.Copy(w, resp.Body)
	return w, time.Since(start), err
}

// TestClientDisconnectFreesTheSlot checks that a client that leaves, while
// queued or mid-stream, cancels its work: the upstream call is aborted,
// the slot freed, and a request that was still queued never starts.
func TestClientDisconnectFreesTheSlot(t *testing.T) {
	m := mock.New(mock.Config{Hang: true})
	upstream := httptest.NewServer(m.Handler())
	t.Cleanup(upstream.Close)
	p := startProc(t, ModeAll, upstream.URL, upstream.URL, "", map[string]string{
		"GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY":        "1",
		"GATEWAY_UPSTREAMS_OPENAI_FIRST_BYTE_TIMEOUT": "30s",
		"GATEWAY_UPSTREAMS_OPENAI_IDLE_TIMEOUT":       "30s",
	})
	addr := strings.TrimPrefix(p.url, "http://")
	busy := func() float64 { return gatheredValue(t, p.app, "gateway_worker_busy", "upstream", "openai") }
	idle := func() error {
		if b := busy(); b != 0 {
			return fmt.Errorf("gateway_worker_busy = %v", b)
		}
		return nil
	}

	t.Run("while queued", func(t *testing.T) {
		// The first request takes the only slot and hangs upstream.
		occupant := openStream(t, addr, "/v1/chat/completions", streamRequest("occupant"))
		eventually(t, 5*time.Second, func() error {
			if s := m.Stats(); s.Active != 1 {
				return fmt.Errorf("upstream has %d calls", s.Active)
			}
			return nil
		})
		queued := openStream(t, addr, "/v1/chat/completions", streamRequest("queued"))
		eventually(t, 5*time.Second, func() error {
			if n := gatheredValue(t, p.app, "http_requests_in_flight", "path", "/v1/chat/completions"); n != 2 {
				return fmt.Errorf("%v requests in flight, want 2", n)
			}
			return nil
		})
		_ = queued.conn.Close()
		eventually(t, 5*time.Second, func() error {
			if n := gatheredValue(t, p.app, "gateway_client_disconnects_total", "upstream", "openai", "stage", "queued"); n != 1 {
				return fmt.Errorf("gateway_client_disconnects_total{stage=queued} = %v", n)
			}
			return nil
		})
		gone := m.Stats().ClientGone
		_ = occupant.conn.Close()
		eventually(t, 5*time.Second, func() error {
			if s := m.Stats(); s.ClientGone != gone+1 {
				return fmt.Errorf("the upstream did not see the occupant leave: %+v", s)
			}
			return idle()
		})
		m.SetConfig(mock.DefaultConfig())
		defer m.SetConfig(mock.Config{Hang: true})
		g := &gateway{t: t, url: p.url}
		resp, body := g.post("/v1/chat/completions", overloadBody("/v1/chat/completions", "next"))
		if resp.StatusCode != 200 {
			t.Fatalf("next request: %d %s", resp.StatusCode, body)
		}
		for _, r := range m.Requests() {
			if bytes.Contains(r.Body, []byte(`"queued"`)) {
				t.Error("the request whose client left while queued reached the upstream")
			}
		}
	})

	t.Run("while streaming", func(t *testing.T) {
		m.SetConfig(mock.Config{Chunks: 200, ChunkGap: 20 * time.Millisecond})
		gone := m.Stats().ClientGone
		s := openStream(t, addr, "/v1/chat/completions", streamRequest("stream and leave"))
		if status, _ := s.head(t); status != 200 {
			t.Fatalf("status %d", status)
		}
		line, err := s.body.ReadString('\n')
		for err == nil && !strings.Contains(line, "data: ") {
			line, err = s.body.ReadString('\n')
		}
		if err != nil {
			t.Fatalf("no event before the hang-up: %v", err)
		}
		_ = s.conn.Close()
		eventually(t, 5*time.Second, func() error {
			if st := m.Stats(); st.ClientGone != gone+1 {
				return fmt.Errorf("the upstream call was not aborted: %+v", st)
			}
			return idle()
		})
		m.SetConfig(mock.DefaultConfig())
		g := &gateway{t: t, url: p.url}
		resp, body := g.post("/v1/chat/completions", streamRequest("after"))
		if resp.StatusCode != 200 || !strings.Contains(string(body), "[DONE]") {
			t.Fatalf("next request: %d %s", resp.StatusCode, body)
		}
	})

	// Three clients left: one queued, the occupant while its call hung
	// upstream, and one mid-stream. Each departure is counted once, by the
	// ingress, under the stage it happened in; none is a refusal.
	for _, tt := range []struct {
		stage string
		want  float64
	}{{"queued", 1}, {"answering", 2}} {
		if n := gatheredValue(t, p.app, "gateway_client_disconnects_total", "upstream", "openai", "stage", tt.stage); n != tt.want {
			t.Errorf("gateway_client_disconnects_total{stage=%s} = %v, want %v", tt.stage, n, tt.want)
		}
	}
	if n := gatheredValue(t, p.app, "gateway_rejected_total", "upstream", "openai", "reason", "client_gone"); n != 0 {
		t.Errorf("gateway_rejected_total{reason=client_gone} = %v: a client leaving is no refusal, and is counted in gateway_client_disconnects_total", n)
	}
}

// startSplit starts a worker process and an ingress process on a NATS
// server of their own, both calling upstreamURL. A single process's ingress
// and workers cannot lose each other: their replies do not go through NATS.
func startSplit(t *testing.T, upstreamURL string, env map[string]string) (worker, ingress *proc) {
	t.Helper()
	node := startNATSNode(t)
	env["GATEWAY_BUS_MODE"], env["GATEWAY_BUS_URL"] = "external", node.url()
	worker = startProc(t, ModeWorker, upstreamURL, upstreamURL, "", env)
	ingress = startProc(t, ModeIngress, upstreamURL, upstreamURL, "", env)
	return worker, ingress
}

// TestWorkerVanishesMidStream cuts a worker process off the bus in the
// middle of a stream: its client gets an SSE error event and the end of the
// stream within the stall time-out.
func TestWorkerVanishesMidStream(t *testing.T) {
	m := mock.New(mock.Config{Chunks: 200, ChunkGap: 20 * time.Millisecond})
	upstream := httptest.NewServer(m.Handler())
	t.Cleanup(upstream.Close)
	w, p := startSplit(t, upstream.URL, map[string]string{"GATEWAY_SERVER_STALL_TIMEOUT": "1s"})
	addr := strings.TrimPrefix(p.url, "http://")

	cases := []struct {
		name, path, body, errorEvent string
	}{
		{"openai", "/v1/chat/completions", streamRequest("vanish"), `data: {"error":{`},
		{"anthropic", "/x-openai/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"vanish"}]}`,
			"event: error\n"},
	}
	// Both clients stream from the same worker, which is then cut off.
	streams := make([]*rawStream, len(cases))
	for i, tc := range cases {
		streams[i] = openStream(t, addr, tc.path, tc.body)
		if status, _ := streams[i].head(t); status != 200 {
			t.Fatalf("%s: status %d", tc.name, status)
		}
		if _, err := streams[i].body.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	cut := time.Now()
	cutBus(t, w.app, "worker")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rest, err := io.ReadAll(streams[i].body)
			took := time.Since(cut)
			if err != nil {
				t.Fatalf("stream did not end cleanly: %v", err)
			}
			text := string(rest)
			if !strings.Contains(text, tc.errorEvent) || !strings.HasSuffix(text, "\n\n") || strings.Contains(text, "[DONE]") {
				t.Errorf("want an error event ending the stream, got tail %q", tail(text, 6))
			}
			// stall_timeout is 1s; the ingress checks every 250ms.
			if took > 5*time.Second {
				t.Errorf("stream ended %v after the worker vanished", took)
			}
			t.Logf("stream ended %v after the worker vanished", took)
		})
	}
}

// TestIngressVanishesMidStream cuts the ingress process off the bus in the
// middle of a long stream: the worker runs out of credit, gives up within
// the stall time-out and aborts the upstream call.
func TestIngressVanishesMidStream(t *testing.T) {
	up := &bigStream{events: 4000, eventSize: 1024, gap: time.Millisecond}
	upstream := httptest.NewServer(up)
	t.Cleanup(upstream.Close)
	w, p := startSplit(t, upstream.URL, map[string]string{"GATEWAY_SERVER_STALL_TIMEOUT": "1s"})
	addr := strings.TrimPrefix(p.url, "http://")
	s := openStream(t, addr, "/v1/chat/completions", streamRequest("long"))
	if status, _ := s.head(t); status != 200 {
		t.Fatalf("status %d", status)
	}
	if _, err := s.body.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	cutBus(t, p.app, "ingress")
	// The client still hears from its ingress: an error event, then the end.
	rest, err := io.ReadAll(s.body)
	if err != nil || !strings.Contains(string(rest), `data: {"error":{`) {
		t.Errorf("client: err %v, tail %q", err, tail(string(rest), 4))
	}
	eventually(t, 10*time.Second, func() error {
		if up.gone.Load() != 1 {
			return fmt.Errorf("the upstream call goes on")
		}
		return nil
	})
	t.Logf("upstream call aborted %v after the ingress vanished", time.Since(cut))
	eventually(t, 5*time.Second, func() error {
		if b := gatheredValue(t, w.app, "gateway_worker_busy", "upstream", "openai"); b != 0 {
			return fmt.Errorf("gateway_worker_busy = %v", b)
		}
		return nil
	})
}

// TestSlowReaderStaysBounded streams a long answer to a client that reads
// a little at a time: the gateway holds a bounded amount of it, and another
// stream at the same time is not held back by it.
func TestSlowReaderStaysBounded(t *testing.T) {
	const (
		events    = 4000
		eventSize = 8 << 10
	)
	up := &bigStream{events: events, eventSize: eventSize}
	upstream := httptest.NewServer(up)
	t.Cleanup(upstream.Close)
	p := startProc(t, ModeAll, upstream.URL, upstream.URL, "", nil)
	addr := strings.TrimPrefix(p.url, "http://")
	total := events * eventSize

	liveHeap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := liveHeap()

	slow := openStream(t, addr, "/v1/chat/completions", streamRequest("slow"))
	if status, _ := slow.head(t); status != 200 {
		t.Fatalf("status %d", status)
	}
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		// A forced collection is costly on a small machine: sample sparingly.
		ticker := time.NewTicker(300 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-ticker.C:
				if h := liveHeap(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	})

	slowDone := make(chan error, 1)
	var slowBytes atomic.Int64
	slowTail := &tailWriter{}
	slowStart := time.Now()
	go func() {
		body := slow.body
		buf := make([]byte, 4<<10)
		for {
			// A deadline on progress, not on the whole answer: how long
			// 32 MB take depends on the machine's load, while a stream
			// that stops moving is what this test must catch.
			_ = slow.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := body.Read(buf)
			slowBytes.Add(int64(n))
			_, _ = slowTail.Write(buf[:n])
			if err == io.EOF {
				slowDone <- nil
				return
			}
			if err != nil {
				slowDone <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// A second stream while the slow one is in progress.
	eventually(t, 60*time.Second, func() error {
		if slowBytes.Load() < 1<<20 {
			return fmt.Errorf("slow reader got %d bytes", slowBytes.Load())
		}
		return nil
	})
	fast, fastTook, err := readStream(t, p.url+"/v1/chat/completions", streamRequest("fast"))
	if err != nil || !bytes.HasSuffix(fast.last, []byte("data: [DONE]\n\n")) || fast.n < int64(total) {
		t.Fatalf("fast stream: %v, %d bytes ending %q", err, fast.n, fast.last)
	}
	slowAtFastEnd := slowBytes.Load()

	if err := <-slowDone; err != nil {
		t.Fatalf("slow stream: %v", err)
	}
	slowTook := time.Since(slowStart)
	close(stopSampling)
	sampling.Wait()

	if got := slowBytes.Load(); got < int64(total) || !bytes.HasSuffix(slowTail.last, []byte("data: [DONE]\n\n")) {
		t.Errorf("slow reader got %d bytes, want at least %d; ending %q", got, total, slowTail.last)
	}
	if slowAtFastEnd >= int64(total) {
		t.Errorf("the slow stream finished before the fast one; the test proves nothing")
	}
	grew := int64(peak.Load()) - int64(base)
	// The answer is 32 MB; without flow control most of it would sit in the
	// ingress while the client reads. The bound is generous: two windows per
	// stream, the buffers around them, and what passes through the bus and
	// the pools at the moment of a sample, which on a busy 2-core machine
	// measured 2–9 MB with a 16 MB answer and 3–4 MB with a 46 MB one: it
	// does not grow with the answer.
	if grew > 12<<20 {
		t.Errorf("live heap grew by %d bytes while streaming %d bytes to a slow reader", grew, total)
	}
	// That the fast stream ended first, checked above, shows that it did
	// not wait for the slow one; how long each took depends on the load.
	t.Logf("answer %d MB: fast stream %v, slow stream %v; live heap grew at most %.1f MB",
		total>>20, fastTook, slowTook, float64(grew)/(1<<20))
}

// imageRequest is a chat request carrying a base64 PNG of size bytes.
func imageRequest(size int) (body, image string) {
	raw := make([]byte, size*3/4)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	image = "data:image/png;base64," + base64.StdEncoding.EncodeToString(raw)
	body = `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"` +
		image + `"}}]}]}`
	return body, image
}

// TestLargeBodies sends request bodies far over the bus's message limit,
// which travel in chunks and reach the upstream intact, and one over the
// gateway's body limit, which gets 413.
func TestLargeBodies(t *testing.T) {
	body, image := imageRequest(20 << 20)
	cases := []struct {
		name       string
		maxPayload string
	}{
		{"default max_payload", ""},
		{"max_payload 1MB", "1048576"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"GATEWAY_SERVER_MAX_BODY_BYTES": strconv.Itoa(24 << 20),
				// The mock reads and decodes 20 MB before it answers, which
				// under the race detector on a busy machine takes seconds.
				"GATEWAY_UPSTREAMS_OPENAI_FIRST_BYTE_TIMEOUT": "60s",
			}
			if tc.maxPayload != "" {
				env["GATEWAY_BUS_MAX_PAYLOAD"] = tc.maxPayload
			}
			g := startGateway(t, mock.DefaultConfig(), "", env)
			resp, answer := g.post("/v1/chat/completions", body)
			if resp.StatusCode != 200 || !strings.Contains(string(answer), "[1 image(s)]") {
				t.Fatalf("status %d: %.300s", resp.StatusCode, answer)
			}
			reqs := g.mock.Requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream saw %d requests", len(reqs))
			}
			var got struct {
				Messages []struct {
					Content []struct {
						ImageURL struct {
							URL string `json:"url"`
						} `json:"image_url"`
					} `json:"content"`
				} `json:"messages"`
			}
			if err := jsonx.Unmarshal(reqs[0].Body, &got); err != nil || len(got.Messages) != 1 || len(got.Messages[0].Content) != 2 {
				t.Fatalf("upstream body does not decode as expected: %v", err)
			}
			if got.Messages[0].Content[1].ImageURL.URL != image {
				t.Errorf("the image reached the upstream altered (%d bytes, sent %d)", len(got.Messages[0].Content[1].ImageURL.URL), len(image))
			}
		})
	}

	t.Run("over max_body_bytes", func(t *testing.T) {
		g := startGateway(t, mock.DefaultConfig(), "", map[string]string{"GATEWAY_SERVER_MAX_BODY_BYTES": strconv.Itoa(16 << 20)})
		shapes := []struct{ path, contains string }{
			{"/v1/chat/completions", `"code":"request_too_large"`},
			{"/v1/messages", `"type":"request_too_large"`},
		}
		for _, s := range shapes {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, g.url+s.path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", s.path, err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assertError(t, resp, answer, 413, s.contains)
		}
		if n := g.mock.Stats().Requests; n != 0 {
			t.Errorf("upstream saw %d requests", n)
		}
	})
}
