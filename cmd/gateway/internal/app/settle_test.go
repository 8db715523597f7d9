package app

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"go.uber.org/goleak"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// TestWorkerErrorSettlesAtOnce has a worker refuse a request with an error
// frame, which is final: the key is settled at once, and no goroutine is
// left waiting for an end frame after the gateway has shut down.
func TestWorkerErrorSettlesAtOnce(t *testing.T) {
	before := goleak.IgnoreCurrent()
	keys := newTestKeys(t, "alice")
	g := startGateway(t, mock.DefaultConfig(), accessTOML("closed", keyTOML("alice")), keys.env)
	params := chatParams("two answers please")
	params.N = openai.Int(2) // Anthropic models give one choice: the worker refuses it
	_, err := g.openAIAs("/x-anthropic", keys.plain["alice"], bearer).Chat.Completions.New(context.Background(), params)
	if apiStatus(err) != http.StatusBadRequest {
		t.Fatalf("n=2 to an Anthropic upstream: %v, want 400", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)
}
