package mock

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixedNow is the clock of servers whose output goes into golden files.
var fixedNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// startServer starts a server with cfg on a free loopback port and closes
// it when the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := New(cfg)
	s.now = func() time.Time { return fixedNow }
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newHTTPClient returns a client whose idle connections are closed when the
// test ends, so the leak check sees no transport goroutines.
func newHTTPClient(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// openAIClient returns an OpenAI SDK client for s without retries.
func openAIClient(t testing.TB, s *Server, opts ...ooption.RequestOption) openai.Client {
	t.Helper()
	return openai.NewClient(append([]ooption.RequestOption{
		ooption.WithBaseURL(s.URL() + "/v1/"),
		ooption.WithAPIKey("sk-test"),
		ooption.WithHTTPClient(newHTTPClient(t)),
		ooption.WithMaxRetries(0),
	}, opts...)...)
}

// anthropicClient returns an Anthropic SDK client for s without retries.
func anthropicClient(t testing.TB, s *Server, opts ...aoption.RequestOption) anthropic.Client {
	t.Helper()
	return anthropic.NewClient(append([]aoption.RequestOption{
		aoption.WithBaseURL(s.URL()),
		aoption.WithAPIKey("sk-ant-test"),
		aoption.WithHTTPClient(newHTTPClient(t)),
		aoption.WithMaxRetries(0),
	}, opts...)...)
}

// rawResponse is an answer read in full.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
	err    error // error reading the body
}

// post sends body to s at path with the given headers and reads the whole
// answer.
func post(t testing.TB, s *Server, path, body string, header map[string]string) rawResponse {
	t.Helper()
	return postContext(t, context.Background(), s, path, body, header)
}

func postContext(t testing.TB, ctx context.Context, s *Server, path, body string, header map[string]string) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if path == "/v1/messages" {
		req.Header.Set("anthropic-version", "2023-06-01")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := newHTTPClient(t).Do(req)
	if err != nil {
		return rawResponse{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// waitFor polls cond until it holds or a generous deadline passes; it
// reports what it last saw, so failures explain themselves.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last seen: %s", what, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
