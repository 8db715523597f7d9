package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"
)

// printError writes err to w, one problem a line: configuration errors come
// joined, one per key, and each is worth its own line.
func printError(w io.Writer, err error) {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) && errors.Unwrap(err) == nil {
		for _, e := range joined.Unwrap() {
			printError(w, e)
		}
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "gateway:", line)
	}
}

// jsReplicasNotSupported is JetStream's error code for a stream asking for
// more replicas than a server outside a cluster can give.
const jsReplicasNotSupported = 10074

// hintFor says how to fix a start-up failure the operator can act on, or "".
func hintFor(err error) string {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jsReplicasNotSupported,
		strings.Contains(err.Error(), "replicas > 1 not supported"):
		return "bus.replicas > 1 needs a NATS cluster with at least that many JetStream servers; " +
			"on a single server set bus.replicas = 1 (GATEWAY_BUS_REPLICAS=1)"
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return "the NATS server at bus.url runs without JetStream; start it with -js (or jetstream {} in its config)"
	case errors.Is(err, syscall.EADDRINUSE):
		return "another process listens on that port; stop it or choose another port (GATEWAY_SERVER_PORT, or GATEWAY_WORKER_PORT for a worker)"
	case strings.Contains(err.Error(), "is not reachable (bus.url)"):
		return "start NATS there, or point bus.url (GATEWAY_BUS_URL) at a running server; " +
			"bus.mode = \"embedded\" runs one inside the all-in-one process"
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		return "no answer from JetStream at bus.url; check that the NATS servers run with JetStream"
	}
	return ""
}
