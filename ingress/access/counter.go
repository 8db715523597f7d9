package access

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The shared counter protocol.
//
// Every limited counter of a key (requests or tokens, per minute or per quota
// period) is one key-value entry "<start>:<total>": the Unix second its
// window starts and the total that all replicas have claimed in that window.
// An entry holding an older window counts as zero; the first claim in a new
// window overwrites it, so the bucket holds a bounded number of entries and
// needs no expiry.
//
// A replica changes an entry only by compare-and-set on its revision (Create
// for a new entry, Update otherwise), retrying on conflict, and only ever
// claims capacity the entry still has: the sum of all replicas' leases never
// exceeds the limit. Locally a counter remembers what it leased and what it
// used in the current window; a request is admitted in memory while
// leased-used covers it and claims a new block otherwise. Blocks are
// max(1, limit/200) (at most 0.5% of the limit per replica left unused while
// another replica is refused), shrinking to exactly the request's need when
// less than four blocks remain, so the last units go to whoever asks.
//
// Usage beyond the leases (tokens reported above the estimate, or requests
// admitted while the store was down under the "open" policy) is a deficit
// that the next write adds unconditionally: it was consumed, so it must count.
// Unused leases go back to the entry when a counter idles, when Settle gave
// back much more than a block, and on Close.
//
// Only one store round trip per counter runs at a time in a replica (sem), so
// concurrent requests queue behind one claim instead of racing each other.
// A replica keeps the entry as it last wrote it and writes against that
// revision straight away, so a claim is one round trip unless another
// replica wrote in between (then: a conflict, a read and a retry).
//
// A write whose reply is lost (a time-out as the server dies) may still have
// been applied. That can only make the entry count more than was leased,
// never less, so the limit still holds; the excess is at most that one
// write. Writes are not even sent while the connection is down, since the
// client would buffer them and deliver them after the fact.

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

	// entry is the entry as last read or written here; guarded by sem.
	entry entry

	mu        sync.Mutex
	start     int64 // Unix second the local window starts
	end       time.Time
	leased    int64 // claimed from the entry in this window and not returned
	used      int64 // admitted in this window by this replica (estimates, then actuals)
	shared    int64 // entry total last seen for this window, including our lease
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
// starts with nothing leased or used. Windows only move forward.
func (c *counter) rollLocked(now time.Time) {
	if now.Before(c.end) {
		return
	}
	s, e := c.period.bounds(now)
	if s.Unix() <= c.start {
		return
	}
	c.start, c.end, c.startTime = s.Unix(), e, s
	c.leased, c.used, c.shared, c.recheck = 0, 0, 0, 0
}

// usedLocked estimates the window's total use across replicas: the entry's
// total, less what this replica leased but has not used, plus what it used
// beyond its lease and has not written yet.
func (c *counter) usedLocked() int64 {
	return max(0, c.shared-c.leased+c.used)
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

// needsSync reports whether a sync keeping keep units of lease would write.
func (c *counter) needsSync(keep int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	free := c.leased - c.used
	return free < 0 || free > keep
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
	start, total int64
	rev          uint64
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
	if nano < c.recheck && n-max(0, c.leased-c.used) > c.limit-c.shared-max(0, c.used-c.leased) {
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
// In both cases it writes the deficit. The caller holds c.sem.
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

	kctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	for attempt := range maxCASAttempts {
		// The entry as this replica last wrote or read it saves the read
		// when no other replica wrote since (always, with one replica); a
		// stale copy costs a conflict and a fresh read.
		s, total, rev := c.entry.start, c.entry.total, c.entry.rev
		cached := attempt == 0 && rev != 0
		if !cached {
			var err error
			if s, total, rev, err = g.read(kctx, ctx, c.key, now); err != nil {
				c.entry = entry{}
				return 0, false, err
			}
			c.entry = entry{start: s, total: total, rev: rev}
		}

		c.mu.Lock()
		c.rollLocked(now)
		local := c.start
		if need > 0 && local != pinStart {
			// A new window began while this request waited: what it
			// pinned belonged to the old one.
			pinned, pinStart, want = 0, local, need
		}
		base, win := total, s
		switch {
		case s < local:
			base, win = 0, local // the entry holds a finished window
		case s > local:
			// Another replica's clock is already in the next window. Count
			// into it (never reset it); our lease is then lost at our own
			// rollover, which errs on the safe side.
		}
		free := c.leased - c.used
		forced := max(0, -free)
		var grant int64
		if want > 0 {
			if avail := c.limit - base - forced; avail >= want {
				grant = min(max(want, c.block(avail)), avail)
			}
		} else if free > keep && s == local {
			forced -= free - keep // a return: only into our own window
		}
		if want > 0 && grant == 0 {
			if cached {
				// Other replicas may have returned capacity since.
				c.mu.Unlock()
				continue
			}
			c.recheck = now.Add(g.backoff).UnixNano()
		}
		delta := forced + grant
		if delta == 0 {
			if win == local {
				c.shared = base
			}
			c.mu.Unlock()
			return 0, false, nil
		}
		c.mu.Unlock()

		next := max(0, base+delta)
		newRev, conflict, err := g.write(kctx, ctx, c.key, win, next, rev, now)
		if err != nil {
			c.entry = entry{}
			return 0, false, err
		}
		if conflict {
			continue
		}
		c.entry = entry{start: win, total: next, rev: newRev}

		c.mu.Lock()
		if c.start == local {
			c.leased += delta
			if win == local {
				c.shared = next
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

// refresh reads the entry's total into the counter, for reports.
func (g *Guard) refresh(ctx context.Context, c *counter, now time.Time) error {
	kctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	s, total, _, err := g.read(kctx, ctx, c.key, now)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.rollLocked(now)
	if s == c.start {
		c.shared = total
	}
	c.mu.Unlock()
	return nil
}

// read fetches an entry. A missing entry reads as zero with revision 0.
func (g *Guard) read(kctx, ctx context.Context, key string, now time.Time) (start, total int64, rev uint64, err error) {
	if !g.conn.IsConnected() {
		return 0, 0, 0, g.storeErr(ctx, now, "read", errNotConnected)
	}
	e, err := g.kv.Get(kctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		g.markUp()
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, g.storeErr(ctx, now, "read", err)
	}
	g.markUp()
	start, total, perr := parseCounterValue(e.Value())
	if perr != nil {
		// Not written by this package: start afresh instead of failing
		// every request until someone repairs the entry by hand.
		g.log.Warn("access: ignoring malformed counter entry", "entry", key, "err", perr)
		return 0, 0, e.Revision(), nil
	}
	return start, total, e.Revision(), nil
}

// write stores an entry if its revision is still rev.
// It returns the entry's new revision.
func (g *Guard) write(kctx, ctx context.Context, key string, start, total int64, rev uint64, now time.Time) (newRev uint64, conflict bool, err error) {
	if !g.conn.IsConnected() {
		// While the client reconnects it buffers what is published and
		// sends it later: a write that timed out now would be applied
		// after the fact and count twice. Do not send it at all.
		return 0, false, g.storeErr(ctx, now, "write", errNotConnected)
	}
	var buf [48]byte
	val := appendCounterValue(buf[:0], start, total)
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

// appendCounterValue encodes an entry value: "<start>:<total>".
func appendCounterValue(dst []byte, start, total int64) []byte {
	dst = strconv.AppendInt(dst, start, 10)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, total, 10)
}

// parseCounterValue decodes an entry value written by appendCounterValue.
func parseCounterValue(b []byte) (start, total int64, err error) {
	s := string(b)
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return 0, 0, errors.New("counter value: missing ':'")
	}
	start, err = strconv.ParseInt(s[:i], 10, 64)
	if err != nil || start < 0 {
		return 0, 0, fmt.Errorf("counter value: bad window start %q", s[:i])
	}
	total, err = strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil || total < 0 {
		return 0, 0, fmt.Errorf("counter value: bad total %q", s[i+1:])
	}
	return start, total, nil
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
