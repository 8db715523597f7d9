package load

import (
	"os"
	"testing"
	"time"
)

func TestParseCPUTime(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want time.Duration
		ok   bool
	}{
		{"plain", "4242 (gateway) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 0 0", 325 * clockTick, true},
		{"name with spaces and parens", "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0", 7 * clockTick, true},
		{"truncated", "7 (x) R 1 7", 0, false},
		{"no name", "garbage", 0, false},
		{"negative", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 -3 4 0 0", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUTime([]byte(tt.stat))
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("parseCPUTime(%q) = %v, %v; want %v, ok=%v", tt.stat, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestReadCPUTimeOfThisProcess(t *testing.T) {
	before, err := readCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn enough CPU to cross several clock ticks.
	deadline := time.Now().Add(100 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	after, err := readCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU time did not grow while spinning: %v then %v", before, after)
	}
}

func TestSpreadCPU(t *testing.T) {
	rep := Report{Requests: 50, TTFB: &Durations{Count: 40}, Gap: &Durations{Count: 9960}, CPU: &CPU{Ms: 100}}
	rep.spreadCPU()
	if rep.CPU.PerRequestUs != 2000 || rep.CPU.PerEventUs != 10 {
		t.Fatalf("spreadCPU: %+v, want 2000 µs per request and 10 µs per event", *rep.CPU)
	}
}

func FuzzParseCPUTime(f *testing.F) {
	f.Add([]byte("4242 (gateway) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseCPUTime(b); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}
