package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// The cost of model routing on the hot path, with one target per model,
// against a path route and against calling the mock directly, in one
// process:
//
//	go test ./cmd/gateway/internal/app -run '^$' -bench 'Routed' -benchmem -count 3
//
// and the time a failed first target adds before the second one answers:
//
//	go test ./cmd/gateway/internal/app -run '^$' -bench 'Failover' -benchtime 200x

const oneTargetModels = `
[[models]]
name = "gpt-4o"

[[models.targets]]
upstream = "openai"
model = "gpt-4o"
`

func benchRouted(b *testing.B, body, suffix string) {
	cfg := mock.DefaultConfig()
	g := startRouted(b, routedOptions{mocks: map[string]mock.Config{"openai": cfg}, models: oneTargetModels})
	b.Run("path-route", func(b *testing.B) { benchRequests(b, g.url+"/v1/chat/completions", body, suffix) })
	b.Run("model-route", func(b *testing.B) { benchRequests(b, g.url+"/m/v1/chat/completions", body, suffix) })
	b.Run("direct", func(b *testing.B) { benchRequests(b, g.mocks["openai"].URL()+"/v1/chat/completions", body, suffix) })
}

func BenchmarkRoutedOpenAI(b *testing.B) { benchRouted(b, benchChat, "}") }

func BenchmarkRoutedOpenAIStream(b *testing.B) { benchRouted(b, benchStream, "data: [DONE]\n\n") }

// failoverModels: the first target fails, the second (openai-b) answers.
const failoverModels = `
[[models]]
name = "gpt-4o"
max_retry_wait = "1ms"

[[models.targets]]
upstream = "openai"
first_token_timeout = "%s"

[[models.targets]]
upstream = "openai-b"
priority = 1

[[models]]
name = "gpt-4o-b"

[[models.targets]]
upstream = "openai-b"
model = "gpt-4o"
`

func benchFailover(b *testing.B, first mock.Config, refuse bool, firstToken string, body, suffix string) {
	o := routedOptions{mocks: map[string]mock.Config{"openai": first}, models: fmt.Sprintf(failoverModels, firstToken)}
	if refuse {
		o.urls = map[string]string{"openai": refusedURL(b)}
	}
	g := startRouted(b, o)
	b.Run("failover", func(b *testing.B) { benchRequests(b, g.url+"/m/v1/chat/completions", body, suffix) })
	alone := strings.Replace(body, `"model":"gpt-4o"`, `"model":"gpt-4o-b"`, 1)
	b.Run("second-target-alone", func(b *testing.B) { benchRequests(b, g.url+"/m/v1/chat/completions", alone, suffix) })
}

func BenchmarkFailoverConnectRefused(b *testing.B) {
	benchFailover(b, mock.Config{}, true, "0s", benchStream, "data: [DONE]\n\n")
}

func BenchmarkFailover503(b *testing.B) {
	benchFailover(b, mock.Config{ErrorStatus: 503}, false, "0s", benchStream, "data: [DONE]\n\n")
}

func BenchmarkFailoverFirstToken100ms(b *testing.B) {
	benchFailover(b, mock.Config{Stall: time.Second}, false, "100ms", benchStream, "data: [DONE]\n\n")
}
