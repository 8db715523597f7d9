package mock

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		header     map[string]string
		wantAfter  string
		wantAfterM string
	}{
		{name: "default", path: oaPath, header: map[string]string{HeaderStatus: "429"}, wantAfter: "1"},
		{name: "openai, rounded up, exact in ms", path: oaPath, header: map[string]string{HeaderStatus: "429", HeaderRetryAfter: "1500ms"}, wantAfter: "2", wantAfterM: "1500"},
		{name: "anthropic 529", path: anPath, header: map[string]string{HeaderStatus: "529", HeaderRetryAfter: "30s"}, wantAfter: "30"},
		{name: "no Retry-After on a 500", path: oaPath, header: map[string]string{HeaderStatus: "500", HeaderRetryAfter: "3s"}},
	}
	s := startServer(t, DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := oaSimple
			if tt.path == anPath {
				body = `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
			}
			resp := post(t, s, tt.path, body, tt.header)
			if got := resp.header.Get("Retry-After"); got != tt.wantAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantAfter)
			}
			if got := resp.header.Get("Retry-After-Ms"); got != tt.wantAfterM {
				t.Errorf("retry-after-ms = %q, want %q", got, tt.wantAfterM)
			}
		})
	}
	if resp := post(t, s, oaPath, oaSimple, map[string]string{HeaderRetryAfter: "soon"}); resp.status != 400 {
		t.Errorf("a bad %s got %d", HeaderRetryAfter, resp.status)
	}
}

// TestStall: the headers of a stream come at once, its first event only
// after the stall.
func TestStall(t *testing.T) {
	s := startServer(t, Config{Stall: 300 * time.Millisecond})
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL()+oaPath, strings.NewReader(oaSimpleStream))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := newHTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	headers := time.Since(start)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	first := time.Since(start)
	// Ordering, not speed: the event cannot come before the stall ends,
	// and the headers did not wait for it.
	if first < 300*time.Millisecond || headers >= first {
		t.Errorf("headers after %v, first event after %v; want the event after the 300ms stall", headers, first)
	}
	if err := (Config{Stall: -1}).Validate(); err == nil {
		t.Error("a negative stall is valid")
	}
}
