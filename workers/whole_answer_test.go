package workers

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter/format"
)

// TestUpstreamClientStreamedCallAnsweredWithWholeBody reads and releases a
// streamed call's body that came whole, with a Content-Length, as servers
// that ignore "stream": true send it.
func TestUpstreamClientStreamedCallAnsweredWithWholeBody(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x"}`)
	})
	c := testClient(t, srv.URL, format.OpenAIChat, nil)
	for range 3 {
		resp, err := c.do(context.Background(), time.Time{}, &bus.Request{Stream: true}, format.OpenAIChat, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Stream)
		if err != nil || string(body) != `{"id":"x"}` {
			t.Errorf("body %q, err %v", body, err)
		}
		resp.Close()
	}
}
