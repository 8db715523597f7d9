package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aigateway/gateway/converter/jsonx"
)

// PresenceInterval is how often a worker process announces itself. An
// ingress considers an upstream unserved after three silent intervals.
const PresenceInterval = time.Second

// PoolState is one worker pool's size as announced to the ingresses.
type PoolState struct {
	Capacity int `json:"capacity"`
	Busy     int `json:"busy"`
}

// Presence is a worker process's announcement.
type Presence struct {
	Worker    string               `json:"worker"`
	Upstreams map[string]PoolState `json:"upstreams"`
	// Leaving is set by a worker that is shutting down and takes no more work.
	Leaving bool `json:"leaving,omitempty"`
}

// Announce publishes the worker's presence every PresenceInterval and
// whenever an ingress asks, until ctx ends; then it announces that it leaves.
// state is called for each announcement.
func Announce(ctx context.Context, nc *nats.Conn, state func() Presence) error {
	publish := func() {
		data, err := jsonx.Marshal(state())
		if err == nil {
			_ = nc.Publish(presenceSubject, data)
		}
	}
	sub, err := nc.Subscribe(presenceProbe, func(*nats.Msg) { publish() })
	if err != nil {
		return fmt.Errorf("subscribing to presence probes: %w", err)
	}
	go func() {
		defer func() { _ = sub.Unsubscribe() }()
		ticker := time.NewTicker(PresenceInterval)
		defer ticker.Stop()
		publish()
		for {
			select {
			case <-ticker.C:
				publish()
			case <-ctx.Done():
				p := state()
				p.Leaving = true
				if data, err := jsonx.Marshal(p); err == nil {
					_ = nc.Publish(presenceSubject, data)
					_ = nc.Flush()
				}
				return
			}
		}
	}()
	return nil
}

// Registry tracks which upstreams have live workers, from their presence
// announcements, so the ingress can answer 503 at once when none does.
type Registry struct {
	sub *nats.Subscription
	now func() time.Time

	mu   sync.Mutex
	seen map[string]map[string]time.Time // upstream → worker → last announcement
}

// WatchPresence subscribes to worker announcements and asks every worker to
// announce itself now, so a new ingress knows its workers within a round trip.
func WatchPresence(nc *nats.Conn) (*Registry, error) {
	r := &Registry{now: time.Now, seen: make(map[string]map[string]time.Time)}
	sub, err := nc.Subscribe(presenceSubject, r.handle)
	if err != nil {
		return nil, fmt.Errorf("subscribing to worker presence: %w", err)
	}
	r.sub = sub
	if err := nc.Publish(presenceProbe, nil); err != nil {
		return nil, fmt.Errorf("probing worker presence: %w", err)
	}
	_ = nc.Flush()
	return r, nil
}

func (r *Registry) handle(m *nats.Msg) {
	var p Presence
	if err := jsonx.Unmarshal(m.Data, &p); err != nil || p.Worker == "" {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for upstream, workers := range r.seen {
		if _, ok := p.Upstreams[upstream]; !ok || p.Leaving {
			delete(workers, p.Worker)
		}
	}
	if p.Leaving {
		return
	}
	for upstream := range p.Upstreams {
		workers := r.seen[upstream]
		if workers == nil {
			workers = make(map[string]time.Time)
			r.seen[upstream] = workers
		}
		workers[p.Worker] = now
	}
}

// Workers returns how many worker processes announced the upstream recently.
func (r *Registry) Workers(upstream string) int {
	cutoff := r.now().Add(-3 * PresenceInterval)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, last := range r.seen[upstream] {
		if last.After(cutoff) {
			n++
		}
	}
	return n
}

// WaitForWorkers blocks until the upstream has a worker or ctx ends.
func (r *Registry) WaitForWorkers(ctx context.Context, upstream string) error {
	for r.Workers(upstream) == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// ProbePresence asks every worker process to announce itself now, so that
// an ingress whose configuration gained an upstream learns of its workers
// within a round trip.
func ProbePresence(nc *nats.Conn) error {
	if err := nc.Publish(presenceProbe, nil); err != nil {
		return fmt.Errorf("probing worker presence: %w", err)
	}
	return nc.Flush()
}

// Close stops watching.
func (r *Registry) Close() error { return r.sub.Unsubscribe() }
