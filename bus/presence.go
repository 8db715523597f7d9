package bus

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
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
	// Envelope is the highest request envelope version the worker decodes;
	// workers from before versioning leave it out (version 1).
	Envelope int `json:"envelope,omitempty"`
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
//
// Announcements are few (one a second per worker) and reads are many (every
// attempt asks Workers and Envelope, model routing asks Load), so reads take
// no lock: each announcement rebuilds an immutable summary of the upstreams
// it touches and publishes it through an atomic pointer. A summary holds
// until the first of its live workers falls silent; the first read after
// that rebuilds it.
type Registry struct {
	sub *nats.Subscription
	now func() time.Time

	// summaries maps upstream → summary; the map is never modified once
	// published: writers, holding mu, publish a new one.
	summaries atomic.Pointer[map[string]upstreamSummary]

	mu   sync.Mutex
	seen map[string]map[string]workerState // upstream → worker → last announcement
}

// workerState is what the last announcement of one worker said of one pool.
type workerState struct {
	at       time.Time
	envelope int
	pool     PoolState
}

// upstreamSummary is what the live workers of one upstream announced, as of
// the time it was built.
type upstreamSummary struct {
	workers  int
	envelope int // as Envelope returns it
	pool     PoolState
	// until is when the first of the workers counted falls silent, and the
	// summary no longer holds; zero when no worker is counted, which only
	// an announcement (rebuilding the summary) can change.
	until time.Time
}

// valid reports whether the summary still holds at now. Workers not counted
// were silent already when it was built and are silent still.
func (s *upstreamSummary) valid(now time.Time) bool {
	return s.until.IsZero() || now.Before(s.until)
}

// WatchPresence subscribes to worker announcements and asks every worker to
// announce itself now, so a new ingress knows its workers within a round trip.
func WatchPresence(nc *nats.Conn) (*Registry, error) {
	r := &Registry{now: time.Now, seen: make(map[string]map[string]workerState)}
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
	var changed []string
	for upstream, workers := range r.seen {
		if _, ok := p.Upstreams[upstream]; !ok || p.Leaving {
			if _, ok := workers[p.Worker]; ok {
				delete(workers, p.Worker)
				changed = append(changed, upstream)
			}
		}
	}
	if !p.Leaving {
		envelope := max(p.Envelope, EnvelopeV1)
		for upstream, pool := range p.Upstreams {
			workers := r.seen[upstream]
			if workers == nil {
				workers = make(map[string]workerState)
				r.seen[upstream] = workers
			}
			workers[p.Worker] = workerState{at: now, envelope: envelope, pool: pool}
			changed = append(changed, upstream)
		}
	}
	r.publish(now, changed...)
}

// publish rebuilds the summaries of upstreams as of now and swaps in a map
// holding them; r.mu must be held.
func (r *Registry) publish(now time.Time, upstreams ...string) {
	if len(upstreams) == 0 {
		return
	}
	var next map[string]upstreamSummary
	if cur := r.summaries.Load(); cur != nil {
		next = maps.Clone(*cur)
	} else {
		next = make(map[string]upstreamSummary, len(upstreams))
	}
	for _, upstream := range upstreams {
		next[upstream] = r.summarize(upstream, now)
	}
	r.summaries.Store(&next)
}

// summarize sums up the upstream's workers live at now; r.mu must be held.
func (r *Registry) summarize(upstream string, now time.Time) upstreamSummary {
	cutoff := now.Add(-3 * PresenceInterval)
	var s upstreamSummary
	v := 0
	for _, w := range r.seen[upstream] {
		if !w.at.After(cutoff) {
			continue
		}
		s.workers++
		s.pool.Capacity += w.pool.Capacity
		s.pool.Busy += w.pool.Busy
		if v == 0 || w.envelope < v {
			v = w.envelope
		}
		// Counted while now < at + 3 intervals, which is at.After(cutoff).
		if end := w.at.Add(3 * PresenceInterval); s.until.IsZero() || end.Before(s.until) {
			s.until = end
		}
	}
	s.envelope = min(max(v, EnvelopeV1), EnvelopeVersion)
	return s
}

// summary returns the upstream's summary as it holds now: the published one
// while it is valid, else one rebuilt now.
func (r *Registry) summary(upstream string) upstreamSummary {
	now := r.now()
	m := r.summaries.Load()
	if m == nil {
		return upstreamSummary{envelope: EnvelopeV1} // nothing announced yet
	}
	s, ok := (*m)[upstream]
	if !ok {
		// Every upstream an announcement named has a summary.
		return upstreamSummary{envelope: EnvelopeV1}
	}
	if s.valid(now) {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Another reader may have rebuilt it meanwhile.
	if s := (*r.summaries.Load())[upstream]; s.valid(now) {
		return s
	}
	r.publish(now, upstream)
	return (*r.summaries.Load())[upstream]
}

// Workers returns how many worker processes announced the upstream recently.
func (r *Registry) Workers(upstream string) int { return r.summary(upstream).workers }

// Silent returns how many worker processes that announced the upstream
// have been silent for three intervals without saying they leave: gone
// without a word, or only late. A worker whose connection is busy with
// thousands of streams can be seconds late with its announcements while its
// answers still flow, so the ingress weighs this against the frames it
// receives before it concludes that nobody serves the upstream.
func (r *Registry) Silent(upstream string) int {
	cutoff := r.now().Add(-3 * PresenceInterval)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, w := range r.seen[upstream] {
		if !w.at.After(cutoff) {
			n++
		}
	}
	return n
}

// Envelope returns the highest envelope version every live worker of the
// upstream decodes: a request on the upstream's queue may reach any of
// them. It is EnvelopeV1 when no worker is known.
func (r *Registry) Envelope(upstream string) int { return r.summary(upstream).envelope }

// Load returns the upstream's worker slots and how many of them were busy,
// summed over its live workers as they last announced themselves.
func (r *Registry) Load(upstream string) (capacity, busy int) {
	s := r.summary(upstream)
	return s.pool.Capacity, s.pool.Busy
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
