package access

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The shared counter protocol.
//
// Every limited counter of a key (requests or tokens, per minute or per quota
// period) is one key-value entry (see entryValue): the Unix second its window
// starts, and one record per replica holding the use that replica has
// written in the window and the capacity it holds leased but unused, with
// the time the record expires. An entry holding an older window counts as
// zero; the first write in a new window overwrites it, so the bucket holds a
// bounded number of entries and needs no expiry of its own.
//
// A replica changes an entry only by compare-and-set on its revision (Create
// for a new entry, Update otherwise), retrying on conflict, and only ever
// claims capacity the entry still has: the use and leases of all replicas
// together never exceed the limit. Locally a counter remembers what it
// leased and what it used in the current window; a request is admitted in
// memory while leased-used covers it and claims a new block otherwise. Blocks
// are max(1, limit/200) (at most 0.5% of the limit per replica left unused
// while another replica is refused), shrinking to exactly the request's need
// when less than four blocks remain, so the last units go to whoever asks.
//
// Only use is final. A lease is capacity set aside for a while: a replica
// writes its record with an expiry leaseTTL ahead and admits from the lease
// only until a quarter of the time-to-live before that, which leaves room
// for clock skew between replicas; the background loop renews the records
// of leases still held. A replica that stops without returning its lease
// (NATS unreachable at shutdown, the process killed) leaves its record to
// expire: whoever writes the entry next folds the record's written use into
// the entry's used and drops its lease, so the key is charged with what was
// used and the rest is free again. Use is written as it happens (each
// settled request of a quota queues a write, coalesced per counter) and
// every record is written with the replica's whole use of the window, so a
// write that is repeated or whose reply was lost counts nothing twice. A
// replica that finds its own record folded (it could not renew in time)
// counts its earlier use as folded and writes a fresh record.
//
// Usage beyond the leases (tokens reported above the estimate, or requests
// admitted while the store was down under the "open" policy) is written as
// use with the next write, unconditionally: it was consumed, so it must
// count. Unused leases go back when a counter idles, when Settle gave back
// much more than a block, and on Close.
//
// Only one store round trip per counter runs at a time in a replica (sem), so
// concurrent requests queue behind one claim instead of racing each other.
// A replica keeps the entry as it last wrote it and writes against that
// revision straight away, so a claim is one round trip unless another
// replica wrote in between (then: a conflict, a read and a retry).
//
// A write whose reply is lost (a time-out as the server dies) may still have
// been applied. That can only make the entry hold more than this replica
// knows (a lease it does not use, until it expires), never less, so the
// limit still holds. Writes are not even sent while the connection is down,
// since the client would buffer them and deliver them after the fact.
//
// What a replica admitted from its lease and had not written yet when it
// died is not counted: the use of the requests it settled within the last
// write's round trip, and of those still in flight. Everything it wrote is.

// errNotConnected is the store error while the NATS connection is down.
var errNotConnected = errors.New("not connected to NATS")

// noReturn tells sync to keep the whole unused lease.
const noReturn = math.MaxInt64

// maxCASAttempts bounds the compare-and-set retries of one sync; the store
// time-out bounds its duration.
const maxCASAttempts = 256

type counter struct {
	key    string // key-value entry name
	limit  int64
	period period
	sem    chan struct{} // one store round trip at a time
	// queued is set while the counter waits for the background loop to
	// write its use.
	queued atomic.Bool

	// entry is the entry as last read or written here; guarded by sem.
	entry entry

	mu        sync.Mutex
	start     int64 // Unix second the local window starts
	end       time.Time
	leased    int64 // claimed in this window and not returned: written use plus lease
	used      int64 // admitted in this window by this replica (estimates, then actuals)
	others    int64 // what the other replicas' records and folded use charge, as last seen
	held      int64 // of others: their live leases, not used yet
	folded    int64 // of used: what another replica folded into the entry's used
	written   int64 // use in our record as last written (without folded)
	recorded  bool  // our record is in the entry as far as we know
	expires   int64 // Unix milli: our record's expiry as last written
	leaseEnd  int64 // Unix nano: admit from the lease until then
	recheck   int64 // Unix nano: the entry had no room; do not ask again before
	lastUse   int64 // Unix nano of the last admission
	startTime time.Time
}

func newCounter(key string, limit int64, p period) *counter {
	return &counter{key: key, limit: limit, period: p, sem: make(chan struct{}, 1)}
}

// block is how much to lease at once when avail units remain in the entry.
func (c *counter) block(avail int64) int64 {
	b := max(1, c.limit/200)
	if avail < 4*b {
		return 1
	}
	return b
}

// rollLocked moves the local state to the window holding now; a new window
// starts with nothing leased or used. Windows only move forward. A lease
// past its end is given up: another replica may count it free soon.
func (c *counter) rollLocked(now time.Time) {
	if now.UnixNano() >= c.leaseEnd && c.leased > c.used {
		c.leased = c.used
	}
	if now.Before(c.end) {
		return
	}
	s, e := c.period.bounds(now)
	if s.Unix() <= c.start {
		return
	}
	c.start, c.end, c.startTime = s.Unix(), e, s
	c.leased, c.used, c.others, c.held, c.recheck = 0, 0, 0, 0, 0
	c.folded, c.written, c.recorded, c.expires, c.leaseEnd = 0, 0, false, 0, 0
}

// usedLocked estimates the window's total use across replicas: what the
// other replicas wrote, plus what this one used (written or not). Leases
// are not use: the key can still spend them.
func (c *counter) usedLocked() int64 {
	return max(0, c.others-c.held+c.used)
}

func (c *counter) remainingLocked() int64 {
	return max(0, c.limit-c.usedLocked())
}

// remainingRatio is the share of the limit left, 0..1.
func (c *counter) remainingRatio() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(c.remainingLocked()) / float64(c.limit)
}

// snapshot returns limit, remaining and reset for the window holding now.
func (c *counter) snapshot(now time.Time) (limit, remaining int64, reset time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	return c.limit, c.remainingLocked(), c.end
}

// idleSince is how long the counter has admitted nothing.
func (c *counter) idleSince(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(now.UnixNano() - c.lastUse)
}

// needsSync reports whether a sync keeping keep units of lease would write:
// use beyond the lease or not written yet, a lease to return, or a lease
// whose record expires within half of ttl.
func (c *counter) needsSync(keep int64, ttl time.Duration, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	free := c.leased - c.used
	return free < 0 || free > keep || c.used-c.folded != c.written ||
		free > 0 && c.expires-now.UnixMilli() < ttl.Milliseconds()/2
}

// adjust applies the difference between actual and estimated use of an
// admission made in the window starting at start. A refund for a window that
// has passed is dropped (that window's capacity no longer matters); extra use
// is charged to the current window, when the tokens were actually spent.
// It reports the unused lease left afterwards.
func (c *counter) adjust(start, diff int64, now time.Time) (free int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	if c.start == start || diff > 0 {
		c.used = max(0, c.used+diff)
	}
	return c.leased - c.used
}

// unadmit gives back n units taken in the window starting at start, when a
// later check refused the request.
func (c *counter) unadmit(start, n int64) {
	c.mu.Lock()
	if c.start == start {
		c.used -= n
	}
	c.mu.Unlock()
}

// entry is a decoded key-value entry and its revision (0: none yet).
type entry struct {
	val entryValue
	rev uint64
}

type outcome int

const (
	admitted outcome = iota
	limited
	unavailable
)

// take admits n units, from the local lease when it covers them, otherwise by
// claiming more from the store. It returns the window start the units were
// counted in.
func (g *Guard) take(ctx context.Context, c *counter, n int64, now time.Time) (int64, outcome, error) {
	nano := now.UnixNano()
	c.mu.Lock()
	c.rollLocked(now)
	c.lastUse = nano
	if c.leased-c.used >= n {
		c.used += n
		s := c.start
		c.mu.Unlock()
		return s, admitted, nil
	}
	if nano < c.recheck && n-max(0, c.leased-c.used) > c.limit-c.others-max(c.used, c.leased) {
		// The entry had no room for this much a moment ago: answer without
		// a round trip, so a client hammering a spent key does not hammer
		// the store too.
		c.mu.Unlock()
		return 0, limited, nil
	}
	c.mu.Unlock()
	if g.isDown(now) {
		return g.takeLocal(c, n, now)
	}

	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, limited, ctx.Err()
	}
	// Another request may have refilled the lease while this one waited.
	c.mu.Lock()
	c.rollLocked(now)
	if c.leased-c.used >= n {
		c.used += n
		s := c.start
		c.mu.Unlock()
		<-c.sem
		return s, admitted, nil
	}
	c.mu.Unlock()
	start, granted, err := g.sync(ctx, c, n, noReturn, now)
	<-c.sem
	switch {
	case err != nil && ctx.Err() != nil:
		return 0, limited, ctx.Err()
	case err != nil:
		return g.takeLocal(c, n, now)
	case granted:
		return start, admitted, nil
	}
	return 0, limited, nil
}

// takeLocal decides without the store, by the failure policy: "closed"
// refuses; "open" admits while this replica alone stays within the limit,
// leaving a deficit that a later sync writes to the store.
func (g *Guard) takeLocal(c *counter, n int64, now time.Time) (int64, outcome, error) {
	g.met.storeErrors.Inc()
	if !g.open {
		return 0, unavailable, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	if c.used+n > c.limit {
		return 0, limited, nil
	}
	c.used += n
	return c.start, admitted, nil
}

// release writes the counter's deficit and returns its unused lease beyond
// keep to the store.
func (g *Guard) release(ctx context.Context, c *counter, keep int64, now time.Time) error {
	if g.isDown(now) {
		return ErrStoreUnavailable
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	_, _, err := g.sync(ctx, c, 0, keep, now)
	return err
}

// sync reconciles the counter with its entry. With need > 0 it claims at
// least need units and, on success, counts them as used (so no concurrent
// request can take them first); otherwise it returns the lease beyond keep.
// In both cases it writes the counter's use and renews its lease. The caller
// holds c.sem.
func (g *Guard) sync(ctx context.Context, c *counter, need, keep int64, now time.Time) (start int64, granted bool, err error) {
	// The unused lease goes towards the need. Pin it (count it as used)
	// for the round trip, so requests served from the lease meanwhile
	// cannot take it too; unpin it if the claim fails.
	var pinned, pinStart int64
	if need > 0 {
		c.mu.Lock()
		c.rollLocked(now)
		pinned, pinStart = max(0, min(c.leased-c.used, need)), c.start
		c.used += pinned
		c.mu.Unlock()
		if pinned == need {
			return pinStart, true, nil
		}
		defer func() {
			if granted {
				return
			}
			c.mu.Lock()
			if c.start == pinStart {
				c.used -= pinned
			}
			c.mu.Unlock()
		}()
	}
	want := need - pinned
	nowMilli := now.UnixMilli()

	kctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	for attempt := range maxCASAttempts {
		// The entry as this replica last wrote or read it saves the read
		// when no other replica wrote since (always, with one replica); a
		// stale copy costs a conflict and a fresh read.
		val, rev := c.entry.val, c.entry.rev
		cached := attempt == 0 && rev != 0
		if !cached {
			var err error
			if val, rev, err = g.read(kctx, ctx, c.key, now); err != nil {
				c.entry = entry{}
				return 0, false, err
			}
			c.entry = entry{val: val, rev: rev}
		}

		c.mu.Lock()
		c.rollLocked(now)
		local := c.start
		if need > 0 && local != pinStart {
			// A new window began while this request waited: what it
			// pinned belonged to the old one.
			pinned, pinStart, want = 0, local, need
		}
		if val.start < local {
			// The entry holds a finished window.
			val = entryValue{start: local}
		}
		// A newer window (another replica's clock is already in the next
		// one) is counted into, never reset; our lease is then lost at our
		// own rollover, which errs on the safe side.
		own := val.start == local
		v := g.view(c, val, nowMilli, own)

		free := c.leased - c.used
		var grant, ret int64
		if want > 0 {
			if avail := c.limit - v.others - max(c.used, c.leased); avail >= want {
				grant = min(max(want, c.block(avail)), avail)
			}
		} else if free > keep && own {
			ret = free - keep // a return: only into our own window
		}
		if want > 0 && grant == 0 {
			if cached {
				// Other replicas may have returned capacity since.
				c.mu.Unlock()
				continue
			}
			c.recheck = now.Add(g.backoff).UnixNano()
		}
		// Our record: all our use of the window and the lease we keep.
		leased := max(c.leased, c.used) + grant - ret
		rec := holding{id: g.id, used: c.used - v.folded, lease: leased - c.used, expires: nowMilli + g.ttl.Milliseconds()}
		next := entryValue{start: val.start, used: v.used, holders: v.kept}
		if rec.used < 0 {
			// Refunds of estimates folded with our earlier record.
			next.used = max(0, next.used+rec.used)
			rec.used = 0
		}
		folded := c.used - rec.used
		renew := rec.lease > 0 && v.mine.expires-nowMilli < g.ttl.Milliseconds()/2
		if v.found && !renew {
			rec.expires = v.mine.expires
		}
		unchanged := v.found == (rec.used > 0 || rec.lease > 0) && !v.dropped && next.used == v.used &&
			(!v.found || v.mine.used == rec.used && v.mine.lease == rec.lease && v.mine.expires == rec.expires)
		if unchanged {
			if own {
				c.others, c.held, c.folded = v.others, v.held, folded
			}
			c.mu.Unlock()
			return 0, false, nil
		}
		if rec.used > 0 || rec.lease > 0 {
			next.holders = append(next.holders, rec)
		}
		c.mu.Unlock()

		newRev, conflict, err := g.write(kctx, ctx, c.key, next, rev, now)
		if err != nil {
			c.entry = entry{}
			c.mu.Lock()
			if c.start == local && own {
				// The write may have been applied: our record then holds
				// at least the smaller of the two uses.
				c.written = min(c.written, rec.used)
			}
			c.mu.Unlock()
			return 0, false, err
		}
		if conflict {
			continue
		}
		c.entry = entry{val: next, rev: newRev}

		c.mu.Lock()
		if c.start == local {
			// Concurrent admissions changed only used: the entry now
			// holds exactly this lease for us.
			c.leased = leased
			if own {
				c.others, c.held, c.folded = v.others, v.held, folded
				c.written, c.recorded, c.expires = rec.used, rec.used > 0 || rec.lease > 0, rec.expires
				if rec.lease > 0 {
					c.leaseEnd = time.UnixMilli(rec.expires).Add(-g.ttl / 4).UnixNano()
				}
			}
			if grant > 0 {
				c.used += want
				c.recheck = 0
				granted = true
			}
		}
		c.mu.Unlock()
		return local, granted, nil
	}
	return 0, false, fmt.Errorf("%w: %d conflicting updates of %s", ErrStoreUnavailable, maxCASAttempts, c.key)
}

// refresh reads the entry into the counter, for reports.
func (g *Guard) refresh(ctx context.Context, c *counter, now time.Time) error {
	kctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	val, _, err := g.read(kctx, ctx, c.key, now)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.rollLocked(now)
	if val.start == c.start {
		v := g.view(c, val, now.UnixMilli(), true)
		c.others, c.held = v.others, v.held
	}
	c.mu.Unlock()
	return nil
}

// read fetches an entry. A missing entry reads as zero with revision 0.
func (g *Guard) read(kctx, ctx context.Context, key string, now time.Time) (entryValue, uint64, error) {
	if !g.conn.IsConnected() {
		return entryValue{}, 0, g.storeErr(ctx, now, "read", errNotConnected)
	}
	e, err := g.kv.Get(kctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		g.markUp()
		return entryValue{}, 0, nil
	}
	if err != nil {
		return entryValue{}, 0, g.storeErr(ctx, now, "read", err)
	}
	g.markUp()
	val, perr := parseCounterValue(e.Value())
	if perr != nil {
		// Not written by this package: start afresh instead of failing
		// every request until someone repairs the entry by hand.
		g.log.Warn("access: ignoring malformed counter entry", "entry", key, "err", perr)
		return entryValue{}, e.Revision(), nil
	}
	return val, e.Revision(), nil
}

// entryView is an entry as one replica sees it at one instant.
type entryView struct {
	used    int64     // the entry's used plus the records expired by now
	kept    []holding // the other replicas' live records
	others  int64     // what used and kept charge, less our own folded use
	held    int64     // of others: the live leases in kept
	mine    holding   // our record, when found
	found   bool
	dropped bool  // some record expired: a write folds it
	folded  int64 // our use that used holds
}

// view reads val from c's side at nowMilli; own says val is c's current
// window. The caller holds c.mu. Finding our record folded by another
// replica is recorded in c at once: that use is in the entry's used now,
// and the lease is gone.
func (g *Guard) view(c *counter, val entryValue, nowMilli int64, own bool) entryView {
	v := entryView{used: val.used}
	for _, h := range val.holders {
		switch {
		case h.id == g.id:
			v.mine, v.found = h, true
		case h.expires <= nowMilli:
			v.used += h.used
			v.dropped = true
		default:
			v.kept = append(v.kept, h)
			v.others += h.used + h.lease
			v.held += h.lease
		}
	}
	if own && !v.found && c.recorded {
		c.folded += c.written
		c.written, c.recorded = 0, false
		c.leased = min(c.leased, c.used)
		c.leaseEnd = 0
	}
	v.folded = c.folded
	v.others += max(0, v.used-v.folded)
	return v
}

// write stores an entry if its revision is still rev.
// It returns the entry's new revision.
func (g *Guard) write(kctx, ctx context.Context, key string, v entryValue, rev uint64, now time.Time) (newRev uint64, conflict bool, err error) {
	if !g.conn.IsConnected() {
		// While the client reconnects it buffers what is published and
		// sends it later: a write that timed out now would be applied
		// after the fact and count twice. Do not send it at all.
		return 0, false, g.storeErr(ctx, now, "write", errNotConnected)
	}
	var buf [128]byte
	val := appendCounterValue(buf[:0], v)
	if rev == 0 {
		newRev, err = g.kv.Create(kctx, key, val)
	} else {
		newRev, err = g.kv.Update(kctx, key, val, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, g.storeErr(ctx, now, "write", err)
	}
	return newRev, false, nil
}

// storeErr classifies a failed store call: the caller's own cancellation is
// passed on as is; anything else marks the store down.
func (g *Guard) storeErr(ctx context.Context, now time.Time, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("access: counter %s: %w", op, ctx.Err())
	}
	g.markDown(now, err)
	return fmt.Errorf("%w: %s: %w", ErrStoreUnavailable, op, err)
}

// storeName maps a key name to a key-value token. Names made of letters,
// digits, '-' and '_' are used as they are, so entries are readable with the
// nats CLI; anything else is hex-encoded behind '=', which plain names never
// contain.
func storeName(name string) string {
	plain := name != ""
	for i := 0; i < len(name) && plain; i++ {
		b := name[i]
		plain = b == '-' || b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
	}
	if plain {
		return name
	}
	return "=" + fmt.Sprintf("%x", name)
}
