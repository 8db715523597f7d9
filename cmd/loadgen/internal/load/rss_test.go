package load

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"typical", "Name:\tgateway\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1000 kB\n", 12345, false},
		{"last line without newline", "Name:\tx\nVmRSS:\t7 kB", 7, false},
		{"zero", "VmRSS:\t0 kB\n", 0, false},
		{"missing, as for a kernel thread", "Name:\tkthreadd\nState:\tS\n", 0, true},
		{"no unit", "VmRSS:\t12\n", 0, true},
		{"not a number", "VmRSS:\tlots kB\n", 0, true},
		{"negative", "VmRSS:\t-5 kB\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrNoVmRSS) {
					t.Fatalf("error %v, want ErrNoVmRSS", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add([]byte("VmRSS:\t   12345 kB\n"))
	f.Add([]byte("Name:\tx\nVmRSS:\t7 kB"))
	f.Add([]byte("VmRSS:"))
	f.Fuzz(func(t *testing.T, in []byte) {
		kb, err := parseVmRSS(in)
		if err != nil && !errors.Is(err, ErrNoVmRSS) {
			t.Fatalf("error %v does not wrap ErrNoVmRSS", err)
		}
		if kb < 0 || (err != nil && kb != 0) {
			t.Fatalf("got %d, %v", kb, err)
		}
	})
}

func TestRSSSamplerOwnProcess(t *testing.T) {
	s, err := startRSSSampler(os.Getpid(), time.Millisecond)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	// Wait for the sampler to take a reading of its own: polling rather than
	// sleeping a fixed time.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := s.rss.Samples
		s.mu.Unlock()
		if n > 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r := s.stop()
	if r.PID != os.Getpid() || r.BeforeKB <= 0 || r.AfterKB <= 0 || r.MaxKB < r.BeforeKB || r.MaxKB < r.AfterKB || r.Samples < 3 || r.Error != "" {
		t.Errorf("rss %+v: want positive readings, max at least before and after, 3+ samples", *r)
	}
}

func TestRSSSamplerMissingProcess(t *testing.T) {
	// No process has so large an id (pid_max is at most 2^22).
	if _, err := startRSSSampler(1<<30, time.Millisecond); err == nil {
		t.Fatal("start on a missing process: no error")
	}
}

func TestRSSMerge(t *testing.T) {
	a := &RSS{PID: 9, BeforeKB: 100, MaxKB: 300, AfterKB: 200, Samples: 5}
	b := &RSS{PID: 9, BeforeKB: 210, MaxKB: 250, AfterKB: 220, Samples: 4, Error: "gone"}
	got := a.merge(b)
	want := RSS{PID: 9, BeforeKB: 100, MaxKB: 300, AfterKB: 220, Samples: 9, Error: "gone"}
	if *got != want {
		t.Errorf("merge = %+v, want %+v", *got, want)
	}
	if (*RSS)(nil).merge(nil) != nil {
		t.Error("nil merge nil is not nil")
	}
	if got := (*RSS)(nil).merge(b); *got != *b || got == b {
		t.Errorf("nil merge b = %+v, want a copy of b", got)
	}
}
