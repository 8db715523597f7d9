package bus

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/aigateway/gateway/converter/jsonx"
)

// circuitSubject carries circuit-breaker transitions between ingress
// replicas. Core NATS, at most once: a replica that misses a transition
// (or cannot reach NATS) keeps its own view, which its own traffic keeps
// right, so nothing is lost that a later transition would not repair.
const circuitSubject = "_GW.circuit"

// CircuitEvent is one circuit's change of state, as a replica announces it.
type CircuitEvent struct {
	// Origin is the announcing replica, so it can ignore its own events.
	Origin string `json:"origin"`
	Target string `json:"target"`
	// State is "open" or "closed".
	State string `json:"state"`
	// Until is, for an open circuit, the Unix nanosecond at which it lets
	// a probe through.
	Until int64 `json:"until,omitempty"`
}

// PublishCircuit announces a transition to the other replicas. A failure
// is returned, not retried: the transition stays this replica's alone.
func PublishCircuit(nc *nats.Conn, ev CircuitEvent) error {
	data, err := jsonx.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding a circuit event: %w", err)
	}
	if err := nc.Publish(circuitSubject, data); err != nil {
		return fmt.Errorf("publishing a circuit event: %w", err)
	}
	return nil
}

// WatchCircuits calls fn with every transition other replicas than origin
// announce, until the subscription is unsubscribed. Malformed events are
// dropped.
func WatchCircuits(nc *nats.Conn, origin string, fn func(CircuitEvent)) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(circuitSubject, func(m *nats.Msg) {
		var ev CircuitEvent
		if jsonx.Unmarshal(m.Data, &ev) != nil || ev.Origin == origin || ev.Target == "" {
			return
		}
		fn(ev)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to circuit events: %w", err)
	}
	return sub, nil
}
