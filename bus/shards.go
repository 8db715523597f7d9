package bus

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// maxDispatchShards bounds the subscriptions a process spreads its reply or
// control traffic over.
const maxDispatchShards = 8

// shards are the subscriptions that share one process's reply (or control)
// traffic: the subjects "<base><shard>.<request id>", one subscription per
// shard, one shard per processor up to maxDispatchShards. The client
// library runs each subscription's callbacks on one goroutine of its own,
// so one wildcard subscription would dispatch every frame of every request
// on one core. A request keeps to the shard it was given, so its frames
// stay in order.
type shards struct {
	base     string
	prefixes []string // "<base><shard>."
	next     atomic.Uint32
}

// dispatchShards is how many shards a process's subscriptions get.
func dispatchShards() int { return max(1, min(runtime.GOMAXPROCS(0), maxDispatchShards)) }

// newShards returns n shards of the subjects under base.
func newShards(base string, n int) *shards {
	s := &shards{base: base, prefixes: make([]string, max(n, 1))}
	for i := range s.prefixes {
		s.prefixes[i] = base + strconv.Itoa(i) + "."
	}
	return s
}

// owns reports whether subject is one of the shards' subjects.
func (s *shards) owns(subject string) bool { return strings.HasPrefix(subject, s.base) }

// pick returns the subject prefix of the next request's shard, round robin.
func (s *shards) pick() string {
	return s.prefixes[s.next.Add(1)%uint32(len(s.prefixes))]
}

// subscribe subscribes handler to every shard's subjects, with the client
// library's pending limits lifted: the callers' handlers never wait, and
// what may be pending is bounded by the reply protocol itself (see NewInbox
// and NewOutbox).
func (s *shards) subscribe(nc *nats.Conn, handler nats.MsgHandler) ([]*nats.Subscription, error) {
	subs := make([]*nats.Subscription, 0, len(s.prefixes))
	for _, prefix := range s.prefixes {
		sub, err := nc.Subscribe(prefix+"*", handler)
		if err != nil {
			for _, done := range subs {
				_ = done.Unsubscribe()
			}
			return nil, fmt.Errorf("subscribing to %s*: %w", prefix, err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		subs = append(subs, sub)
	}
	return subs, nil
}
