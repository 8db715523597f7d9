package access_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress/access"
)

// Example shows the calls an ingress makes for one request and how it maps
// the outcomes to HTTP statuses.
func Example() {
	var js jetstream.JetStream // the ingress's JetStream context
	cfg := config.Access{
		Enabled:      true,
		StoreFailure: access.PolicyClosed,
		Keys: []config.Key{{
			Name:              "team-a",
			KeySHA256:         access.HashKey("gw-example"),
			RequestsPerMinute: 600,
			TokensPerMinute:   200_000,
			QuotaTokens:       50_000_000,
			QuotaPeriod:       "month",
		}},
	}
	guard, err := access.New(cfg, js, access.Options{
		Logger:      slog.Default(),
		Registerer:  prometheus.NewRegistry(),
		ModelLabels: []string{"gpt-4o", "claude-sonnet-4-5"},
	})
	if err != nil {
		return
	}
	defer guard.Close()

	// Per request: header values as the HTTP library gives them.
	authorization, xAPIKey := []byte("Bearer gw-example"), []byte(nil)
	status := func() int {
		if !guard.Enabled() {
			return 200
		}
		key, err := guard.Authenticate(authorization, xAPIKey)
		if err != nil {
			return 401 // ErrMissingKey or ErrInvalidKey
		}
		if err := guard.Authorize(key, "/v1/chat/completions", "gpt-4o"); err != nil {
			return 403 // ErrRouteNotAllowed or ErrModelNotAllowed
		}
		// The estimate: prompt tokens plus max_tokens, say.
		adm, err := guard.Admit(context.Background(), key, 1200)
		var d *access.Denial
		switch {
		case errors.As(err, &d) && d.Reason == access.StoreUnavailable:
			return 503 // Retry-After: d.RetryAfter; headers from d.Limits
		case errors.As(err, &d):
			return 429 // Retry-After: d.RetryAfter; headers from d.Limits
		case err != nil:
			return 499 // the client went away
		}
		// Write x-ratelimit-* headers from adm.Limits, publish the request,
		// stream the reply; then, with the usage of the final frame (or
		// what was produced before an abort):
		guard.Settle(adm, "gpt-4o", access.Usage{InputTokens: 900, OutputTokens: 250, CachedTokens: 512})
		return 200
	}()
	fmt.Println("status", status)
}
