package sse

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkReaderLargeEvent reads one event of 1 to 15 MiB arriving in 16 KiB
// reads, as from an upstream connection. ns/op grows in proportion to the
// size (MB/s stays flat) when parsing is linear.
func BenchmarkReaderLargeEvent(b *testing.B) {
	for _, mib := range []int{1, 2, 4, 8, 15} {
		event := append(append([]byte("data: "), bytes.Repeat([]byte("x"), mib<<20)...), "\n\n"...)
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			b.SetBytes(int64(len(event)))
			b.ReportAllocs()
			for b.Loop() {
				r := NewReader(chunkReader{bytes.NewReader(event), 16 << 10}, 16<<20)
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
