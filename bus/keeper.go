package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrMissing is returned by a Resource's Check when the resource is not on
// the bus at all, so the Keeper should create it.
var ErrMissing = errors.New("bus: resource missing")

// Resource is something the gateway owns on the bus and must find there: a
// queue stream with its consumer, a key-value bucket.
type Resource struct {
	// Name identifies the resource in logs and health reports, such as
	// "queue openai".
	Name string
	// Check returns nil when the resource is present and usable, an error
	// wrapping ErrMissing when it is gone, or another error when the bus
	// could not tell.
	Check func(ctx context.Context) error
	// Create creates the resource, or updates it to the wanted
	// configuration; creating one that exists must be harmless.
	Create func(ctx context.Context) error
	// OnChange, when set, is called when the resource becomes usable or
	// stops being usable, and with renewed set when it may have been
	// replaced: the Keeper recreated it, or found it after the connection
	// came back (the server may have restarted, and another process
	// recreated it). Whatever was pending on the old one, a pull on a
	// consumer for instance, will never be answered.
	OnChange func(ok, renewed bool)
}

// ResourceState is what the Keeper last learnt about a resource.
type ResourceState struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Error says why the resource is not usable.
	Error string `json:"error,omitempty"`
	// Permanent is set when the bus refused the resource in a way that
	// retrying will not change, such as replicas the server cannot place.
	Permanent bool `json:"permanent,omitempty"`
	// Recreated counts the times the Keeper found it gone and created it.
	Recreated int       `json:"recreated"`
	Checked   time.Time `json:"checked"`
}

// Keeper intervals.
const (
	// keeperInterval is how often a Keeper checks resources that were fine.
	keeperInterval = 2 * time.Second
	// keeperRetry is how soon it checks again after a failure.
	keeperRetry = 250 * time.Millisecond
	// keeperAttempt bounds one check or creation.
	keeperAttempt = queueSetupAttempt
)

// Keeper keeps the resources a process relies on in place on the bus. A
// NATS server that restarts loses its memory streams, and one that restarts
// with an empty store loses everything: nobody else would recreate them, and
// every request would be refused until a gateway process restarted. The
// Keeper checks its resources periodically, at once when the connection
// comes back or when a caller reports one missing (Kick), and recreates what
// is gone. Every gateway process runs one for what it uses, so whichever
// notices first repairs the bus for all.
type Keeper struct {
	nc        *nats.Conn
	logger    *slog.Logger
	resources []Resource
	kick      chan struct{}

	mu     sync.Mutex
	states []ResourceState
	// gen counts replacements, so a check of a replaced list is dropped.
	gen int
}

// NewKeeper returns a Keeper of resources on nc's server. Nothing runs until
// Run.
func NewKeeper(nc *nats.Conn, logger *slog.Logger, resources ...Resource) *Keeper {
	k := &Keeper{
		nc:        nc,
		logger:    logger.With("component", "bus"),
		resources: resources,
		kick:      make(chan struct{}, 1),
		states:    make([]ResourceState, len(resources)),
	}
	for i, r := range resources {
		k.states[i] = ResourceState{Name: r.Name, Error: "not checked yet"}
	}
	return k
}

// Kick asks for a check now; callers use it when the bus told them that a
// resource is missing. It never blocks.
func (k *Keeper) Kick() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// Replace makes resources the ones the Keeper keeps, for a configuration
// reload, and has them checked at once. A resource keeps its recreation
// count by name, but counts as never checked: its OnChange hears of its
// state after the next check even when it did not change, since the
// replacement may come with a new OnChange (a new worker pool).
func (k *Keeper) Replace(resources ...Resource) {
	k.mu.Lock()
	recreated := make(map[string]int, len(k.states))
	for _, st := range k.states {
		recreated[st.Name] = st.Recreated
	}
	k.resources = resources
	k.gen++
	k.states = make([]ResourceState, len(resources))
	for i, r := range resources {
		k.states[i] = ResourceState{Name: r.Name, Error: "not checked yet", Recreated: recreated[r.Name]}
	}
	k.mu.Unlock()
	k.Kick()
}

// States returns what the Keeper last learnt about each resource.
func (k *Keeper) States() []ResourceState {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]ResourceState(nil), k.states...)
}

// Run checks the resources until ctx ends. It checks them once at once, so
// a caller that needs them may call Sync first instead.
func (k *Keeper) Run(ctx context.Context) {
	connected := k.nc.StatusChanged(nats.CONNECTED)
	defer k.nc.RemoveStatusListener(connected)
	timer := time.NewTimer(0)
	defer timer.Stop()
	reconnected := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-connected:
			reconnected = true
		case <-k.kick:
		case <-timer.C:
		}
		next := keeperInterval
		ok := k.sync(ctx, reconnected)
		if ok {
			reconnected = false
		} else {
			next = keeperRetry
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// Sync checks every resource once, recreating what is missing, and reports
// whether all are usable.
func (k *Keeper) Sync(ctx context.Context) bool { return k.sync(ctx, false) }

// sync checks every resource once; reconnected says the connection came
// back since the last pass that found them all.
func (k *Keeper) sync(ctx context.Context, reconnected bool) bool {
	k.mu.Lock()
	resources, gen := k.resources, k.gen
	k.mu.Unlock()
	all := true
	for i, r := range resources {
		if !k.syncOne(ctx, gen, i, r, reconnected) {
			all = false
		}
	}
	return all
}

// syncOne checks resources[i] of the list of generation gen.
func (k *Keeper) syncOne(ctx context.Context, gen, i int, r Resource, reconnected bool) bool {
	if !k.nc.IsConnected() {
		return k.record(gen, i, r, errors.New("not connected to NATS"), false, false)
	}
	attempt, cancel := context.WithTimeout(ctx, keeperAttempt)
	err := r.Check(attempt)
	cancel()
	if err == nil || !errors.Is(err, ErrMissing) {
		return k.record(gen, i, r, err, false, reconnected)
	}
	attempt, cancel = context.WithTimeout(ctx, keeperAttempt)
	err = r.Create(attempt)
	cancel()
	if err != nil {
		return k.record(gen, i, r, fmt.Errorf("missing, and creating it failed: %w", err), false, false)
	}
	return k.record(gen, i, r, nil, true, true)
}

// record stores the outcome of a check and logs changes: a failure once when
// it starts or changes, a recreation every time, a recovery once.
func (k *Keeper) record(gen, i int, r Resource, err error, recreated, renewed bool) bool {
	k.mu.Lock()
	if gen != k.gen {
		// Replaced while it was being checked: the replacement's own
		// check follows.
		k.mu.Unlock()
		return err == nil
	}
	prev := k.states[i]
	st := ResourceState{Name: r.Name, OK: err == nil, Recreated: prev.Recreated, Checked: time.Now()}
	if err != nil {
		st.Error = err.Error()
		st.Permanent = !transient(err)
	}
	if recreated {
		st.Recreated++
	}
	k.states[i] = st
	k.mu.Unlock()

	switch {
	case recreated:
		k.logger.Warn("recreated a missing resource on the bus", "resource", r.Name)
	case err != nil && st.Permanent && (prev.OK || prev.Error != st.Error):
		k.logger.Error("the bus refuses a resource this process needs; it cannot serve until that is fixed",
			"resource", r.Name, "err", err)
	case err != nil && (prev.OK || prev.Error != st.Error) && !prev.Checked.IsZero():
		k.logger.Warn("a resource on the bus is not usable", "resource", r.Name, "err", err)
	case err == nil && !prev.OK && !prev.Checked.IsZero():
		k.logger.Info("a resource on the bus is usable again", "resource", r.Name)
	}
	renewed = renewed && st.OK
	if r.OnChange != nil && (renewed || prev.OK != st.OK || prev.Checked.IsZero()) {
		r.OnChange(st.OK, renewed)
	}
	return st.OK
}

// QueueResource is the upstream's work queue, stream and consumer, as a
// resource of a Keeper. onChange may be nil.
func QueueResource(js jetstream.JetStream, q QueueConfig, onChange func(ok, renewed bool)) Resource {
	return Resource{
		Name: "queue " + q.Upstream,
		Check: func(ctx context.Context) error {
			stream, err := js.Stream(ctx, QueueStream(q.Upstream))
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("%w: stream %s", ErrMissing, QueueStream(q.Upstream))
			}
			if err != nil {
				return fmt.Errorf("queue stream of %q: %w", q.Upstream, err)
			}
			if info := stream.CachedInfo(); info != nil && info.Cluster != nil && info.Cluster.Leader == "" && q.Replicas > 1 {
				return fmt.Errorf("queue stream of %q has no leader", q.Upstream)
			}
			if _, err := stream.Consumer(ctx, queueConsumer); err != nil {
				if errors.Is(err, jetstream.ErrConsumerNotFound) {
					return fmt.Errorf("%w: consumer of stream %s", ErrMissing, QueueStream(q.Upstream))
				}
				return fmt.Errorf("queue consumer of %q: %w", q.Upstream, err)
			}
			return nil
		},
		Create: func(ctx context.Context) error {
			_, err := ensureQueue(ctx, js, q)
			return err
		},
		OnChange: onChange,
	}
}
