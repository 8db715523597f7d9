package ingress

import (
	"testing"
	"time"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter/jsonx"
)

// TestServedThroughLateAnnouncements checks when the ingress concludes that
// no worker serves an upstream. A worker whose bus connection carries
// thousands of streams can be seconds late with its announcements while
// its frames still arrive: refusing requests with "no worker" then would
// turn a busy gateway into a failing one. A worker that says it leaves, or
// that went silent along with its frames, serves nothing.
func TestServedThroughLateAnnouncements(t *testing.T) {
	nc := startNATS(t)
	registry, err := bus.WatchPresence(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = registry.Close() })
	announce := func(p bus.Presence) {
		t.Helper()
		data, err := jsonx.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("_GW.presence", data); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{registry: registry}
	u := &upstreamStats{name: "openai"}

	announce(bus.Presence{Worker: "w1", Upstreams: map[string]bus.PoolState{"openai": {Capacity: 4}}})
	eventuallyTrue(t, func() bool { return registry.Workers("openai") == 1 })
	if !s.served(u, time.Now()) {
		t.Fatal("an announced worker does not serve")
	}

	// Three intervals later the announcement is stale.
	eventuallyTrue(t, func() bool { return registry.Workers("openai") == 0 })
	if s.served(u, time.Now()) {
		t.Error("served by a worker silent for three intervals, with no frame heard")
	}
	u.heardAt(time.Now())
	if !s.served(u, time.Now()) {
		t.Error("not served while frames of the upstream's requests arrive")
	}
	if s.served(u, time.Now().Add(3*bus.PresenceInterval)) {
		t.Error("served three intervals after the last frame")
	}

	announce(bus.Presence{Worker: "w1", Leaving: true})
	eventuallyTrue(t, func() bool { return registry.Silent("openai") == 0 })
	u.heardAt(time.Now().Add(time.Second))
	if s.served(u, time.Now()) {
		t.Error("served by a worker that left, while its last frames arrive")
	}
}

// eventuallyTrue polls cond for up to ten seconds.
func eventuallyTrue(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
