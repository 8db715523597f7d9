package load

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// The histogram is log-linear, in the manner of HdrHistogram: values below
// 2*subCount are exact, and every power-of-two range above that is split
// into subCount equal buckets, so a recorded value is known to within
// 1/subCount (0.8 %) whatever its size. Memory is fixed (numBuckets
// counters), which keeps a long or fast run bounded.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = 4096
	// maxTracked is the largest value with a bucket of its own (about 275 s
	// in nanoseconds); larger values are counted in the last bucket.
	maxTracked = 1<<38 - 1
)

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v > maxTracked {
		v = maxTracked
	}
	if v < 2*subCount {
		return int(v)
	}
	k := bits.Len64(v) - (subBits + 1)
	return k*subCount + int(v>>k)
}

// bucketRange returns the lowest value of bucket i and the bucket's width.
func bucketRange(i int) (low, width uint64) {
	if i < 2*subCount {
		return uint64(i), 1
	}
	k := i/subCount - 1
	m := i - k*subCount
	return uint64(m) << k, 1 << k
}

// histogram counts values concurrently: recording is a few atomic adds, so
// workers share one histogram instead of each holding its own 32 KiB.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
}

// record adds one value.
func (h *histogram) record(v uint64) {
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// snapshot copies the histogram into a plain value that can be merged and
// queried without atomics.
func (h *histogram) snapshot() *histSnapshot {
	s := &histSnapshot{}
	for i := range h.counts {
		s.counts[i] = h.counts[i].Load()
	}
	s.total = h.total.Load()
	s.sum = h.sum.Load()
	s.max = h.max.Load()
	return s
}

// histSnapshot is a point-in-time copy of a histogram.
type histSnapshot struct {
	counts [numBuckets]uint64
	total  uint64
	sum    uint64
	max    uint64
}

// merge adds o's counts to s.
func (s *histSnapshot) merge(o *histSnapshot) {
	for i := range s.counts {
		s.counts[i] += o.counts[i]
	}
	s.total += o.total
	s.sum += o.sum
	s.max = max(s.max, o.max)
}

// quantile returns the value at quantile q (0 < q <= 1): the middle of the
// bucket holding the ceil(q*total)-th smallest value, never above the largest
// value recorded, which is returned exactly for q = 1. It returns 0 for an
// empty histogram.
func (s *histSnapshot) quantile(q float64) uint64 {
	if s.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.total)))
	rank = min(max(rank, 1), s.total)
	if rank == s.total {
		// The largest value is known exactly.
		return s.max
	}
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(i)
			return min(low+(width-1)/2, s.max)
		}
	}
	return s.max
}

// mean returns the arithmetic mean, 0 for an empty histogram.
func (s *histSnapshot) mean() float64 {
	if s.total == 0 {
		return 0
	}
	return float64(s.sum) / float64(s.total)
}
