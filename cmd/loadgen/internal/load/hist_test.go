package load

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketRangeHoldsValue(t *testing.T) {
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 1000, 1 << 20, 123456789, maxTracked}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		values = append(values, r.Uint64N(maxTracked))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		low, width := bucketRange(i)
		if v < low || v >= low+width {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, low, low+width)
		}
		if v >= 2*subCount && float64(width)/float64(low) > 1.0/subCount {
			t.Errorf("bucket %d of %d: width %d over 1/%d of %d", i, v, width, subCount, low)
		}
	}
	if got := bucketOf(maxTracked * 4); got != numBuckets-1 {
		t.Errorf("value above range in bucket %d, want the last", got)
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	var next uint64
	for i := range numBuckets {
		low, width := bucketRange(i)
		if low != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, next)
		}
		next = low + width
	}
	if next != maxTracked+1 {
		t.Errorf("buckets end at %d, want %d", next, uint64(maxTracked+1))
	}
}

func TestQuantileMatchesSortedSample(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) uint64
	}{
		{"uniform small", func(r *rand.Rand) uint64 { return r.Uint64N(200) }},
		{"uniform ms in ns", func(r *rand.Rand) uint64 { return 1e6 + r.Uint64N(50e6) }},
		{"long tail", func(r *rand.Rand) uint64 { return uint64(r.ExpFloat64() * 2e6) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			var h histogram
			sample := make([]uint64, 20000)
			for i := range sample {
				sample[i] = tt.gen(r)
				h.record(sample[i])
			}
			slices.Sort(sample)
			s := h.snapshot()
			for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(float64(len(sample))*q+0.999999) - 1
				exact := sample[max(rank, 0)]
				got := s.quantile(q)
				// Within the bucket's relative width, or exact for small values.
				tol := float64(exact)/subCount + 1
				if d := float64(got) - float64(exact); d > tol || d < -tol {
					t.Errorf("q%v = %d, exact %d (tolerance %.0f)", q, got, exact, tol)
				}
			}
			if s.quantile(1) != sample[len(sample)-1] || s.max != sample[len(sample)-1] {
				t.Errorf("q1 %d max %d, want %d", s.quantile(1), s.max, sample[len(sample)-1])
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all histogram
	for v := uint64(1); v <= 1000; v++ {
		all.record(v * 1000)
		if v%2 == 0 {
			a.record(v * 1000)
		} else {
			b.record(v * 1000)
		}
	}
	merged := a.snapshot()
	merged.merge(b.snapshot())
	want := all.snapshot()
	if *merged != *want {
		t.Fatalf("merge of halves differs from the whole: total %d/%d sum %d/%d max %d/%d",
			merged.total, want.total, merged.sum, want.sum, merged.max, want.max)
	}
	if got := merged.mean(); got != 500500 {
		t.Errorf("mean %v, want 500500", got)
	}
}

func TestEmptyHistogram(t *testing.T) {
	var h histogram
	s := h.snapshot()
	if s.quantile(0.5) != 0 || s.mean() != 0 || s.max != 0 {
		t.Errorf("empty histogram: q50 %d mean %v max %d", s.quantile(0.5), s.mean(), s.max)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	b.RunParallel(func(pb *testing.PB) {
		v := uint64(1e6)
		for pb.Next() {
			h.record(v)
			v = v*7 + 13&(1<<30-1)
		}
	})
}
