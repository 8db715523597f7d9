package bus

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aigateway/gateway/converter/jsonx"
)

// TestRegistryCountsWorkersUntilEachFallsSilent has workers announce at
// different times: each stops counting three intervals after its own last
// announcement, while the others still count, and an upstream nobody
// announced anew keeps its figures.
func TestRegistryCountsWorkersUntilEachFallsSilent(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	r := &Registry{now: func() time.Time { return now }, seen: make(map[string]map[string]workerState)}
	announce := func(p Presence) {
		t.Helper()
		data, err := jsonx.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		r.handle(&nats.Msg{Data: data})
	}
	announce(Presence{Worker: "a", Upstreams: map[string]PoolState{"openai": {Capacity: 4, Busy: 1}, "anthropic": {Capacity: 2}}})
	now = start.Add(2 * PresenceInterval)
	announce(Presence{Worker: "b", Envelope: EnvelopeVersion, Upstreams: map[string]PoolState{"openai": {Capacity: 8, Busy: 2}}})

	steps := []struct {
		name      string
		at        time.Duration
		upstream  string
		workers   int
		envelope  int
		capacity  int
		busy      int
		announced *Presence
	}{
		{name: "both live", at: 2 * PresenceInterval, upstream: "openai", workers: 2, envelope: EnvelopeV1, capacity: 12, busy: 3},
		{name: "other upstream", at: 2 * PresenceInterval, upstream: "anthropic", workers: 1, envelope: EnvelopeV1, capacity: 2},
		{name: "just before a falls silent", at: 3*PresenceInterval - time.Nanosecond, upstream: "openai", workers: 2, envelope: EnvelopeV1, capacity: 12, busy: 3},
		{name: "a silent", at: 3 * PresenceInterval, upstream: "openai", workers: 1, envelope: EnvelopeVersion, capacity: 8, busy: 2},
		{name: "a silent on the other upstream", at: 3 * PresenceInterval, upstream: "anthropic", envelope: EnvelopeV1},
		{name: "a again", at: 4 * PresenceInterval, upstream: "openai", workers: 2, envelope: EnvelopeV1, capacity: 13, busy: 2,
			announced: &Presence{Worker: "a", Upstreams: map[string]PoolState{"openai": {Capacity: 5}}}},
		{name: "b silent", at: 5 * PresenceInterval, upstream: "openai", workers: 1, envelope: EnvelopeV1, capacity: 5},
		{name: "all silent", at: 7 * PresenceInterval, upstream: "openai", envelope: EnvelopeV1},
		{name: "never announced", at: 7 * PresenceInterval, upstream: "mistral", envelope: EnvelopeV1},
	}
	for _, st := range steps {
		now = start.Add(st.at)
		if st.announced != nil {
			announce(*st.announced)
		}
		workers, envelope := r.Workers(st.upstream), r.Envelope(st.upstream)
		capacity, busy := r.Load(st.upstream)
		if workers != st.workers || envelope != st.envelope || capacity != st.capacity || busy != st.busy {
			t.Errorf("%s: workers %d, envelope %d, load %d/%d; want %d, %d, %d/%d", st.name,
				workers, envelope, capacity, busy, st.workers, st.envelope, st.capacity, st.busy)
		}
	}
}

// TestRegistryReadsDuringAnnouncements reads while workers announce
// themselves and leave, for the race detector.
func TestRegistryReadsDuringAnnouncements(t *testing.T) {
	r := &Registry{now: time.Now, seen: make(map[string]map[string]workerState)}
	msg := func(p Presence) *nats.Msg {
		data, err := jsonx.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return &nats.Msg{Data: data}
	}
	join := msg(Presence{Worker: "w", Envelope: EnvelopeVersion, Upstreams: map[string]PoolState{"openai": {Capacity: 4}}})
	leave := msg(Presence{Worker: "w", Leaving: true})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := r.Workers("openai")
				if c, _ := r.Load("openai"); n > 1 || c > 4 || c != 0 && c != 4 {
					t.Errorf("workers %d, capacity %d", n, c)
					return
				}
				_ = r.Envelope("openai")
			}
		})
	}
	for i := range 2000 {
		if i%2 == 0 {
			r.handle(join)
		} else {
			r.handle(leave)
		}
	}
	close(stop)
	wg.Wait()
}
