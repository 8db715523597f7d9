package load

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's idle-connection cleaner sleeps up to MaxIdleConnDuration
		// before it notices that its client has no connections left; it is
		// the library's goroutine and ends by itself.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	)
}

// fakeUpstream is a minimal OpenAI and Anthropic server: enough JSON and SSE
// for the load generator, plus the failures it must count.
type fakeUpstream struct {
	// events is the number of content events in a stream.
	events int
	// failEvery answers every failEvery-th request with 500 (0: never).
	failEvery int64
	// truncate cuts every answer: a stream loses its closing event and a
	// JSON body its last bytes.
	truncate bool
	// delay is slept before answering.
	delay time.Duration
	// wantHeader, when set, must be present ("Key: Value") or the request
	// gets 400.
	wantHeader string

	seen      atomic.Int64
	invalid   atomic.Int64
	active    atomic.Int64
	maxActive atomic.Int64
}

// start serves f on loopback until the test ends.
func (f *fakeUpstream) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

// startBench is start for benchmarks.
func (f *fakeUpstream) startBench(b *testing.B) string {
	b.Helper()
	srv := httptest.NewServer(f)
	b.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.seen.Add(1)
	active := f.active.Add(1)
	defer f.active.Add(-1)
	for {
		m := f.maxActive.Load()
		if active <= m || f.maxActive.CompareAndSwap(m, active) {
			break
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	anthropic := r.URL.Path == "/v1/messages"
	stream := bytes.Contains(body, []byte(`"stream":true`))
	if problem := f.check(r, body, anthropic, stream); problem != "" {
		f.invalid.Add(1)
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			// The client gave up: do not hold the test server's Close.
			return
		}
	}
	if f.failEvery > 0 && n%f.failEvery == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"boom","type":"server_error"}}`)
		return
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		answer := `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`
		if anthropic {
			answer = `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}`
		}
		if f.truncate {
			answer = answer[:len(answer)/2]
		}
		_, _ = io.WriteString(w, answer)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher := w.(http.Flusher)
	// A keep-alive comment first: it must not count as an event.
	_, _ = io.WriteString(w, ": ping\n\n")
	for i := range f.events {
		if anthropic {
			fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%d\"}}\n\n", i)
		} else {
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d\"}}]}\n\n", i)
		}
		flusher.Flush()
	}
	if f.truncate {
		return
	}
	if anthropic {
		_, _ = io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	} else {
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}
}

// check returns why a request is not what the shape requires, or "".
func (f *fakeUpstream) check(r *http.Request, body []byte, anthropic, stream bool) string {
	switch {
	case r.Method != http.MethodPost:
		return "method " + r.Method
	case r.URL.Path != "/v1/messages" && r.URL.Path != "/v1/chat/completions":
		return "path " + r.URL.Path
	case r.Header.Get("Content-Type") != "application/json":
		return "content type " + r.Header.Get("Content-Type")
	case !bytes.Contains(body, []byte(`"max_tokens":`)):
		return "no max_tokens"
	case anthropic && r.Header.Get("anthropic-version") == "":
		return "no anthropic-version"
	case !anthropic && stream && !bytes.Contains(body, []byte(`"stream_options":{"include_usage":true}`)):
		return "stream without include_usage"
	}
	if f.wantHeader != "" {
		k, v, _ := strings.Cut(f.wantHeader, ": ")
		if r.Header.Get(k) != v {
			return "missing header " + k
		}
	}
	return ""
}
