package load

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEventScanner(t *testing.T) {
	tests := []struct {
		name       string
		marker     string
		in         string
		wantEvents int
		wantDone   bool
	}{
		{"openai done", markerOpenAI, "data: {\"a\":1}\n\ndata: [DONE]\n\n", 2, true},
		{"openai done without space", markerOpenAI, "data: {}\n\ndata:[DONE]\n\n", 2, true},
		{"openai cut", markerOpenAI, "data: {\"a\":1}\n\ndata: {\"a\":2}\n\n", 2, false},
		{"done inside data is not done", markerOpenAI, "data: [DONE] later\n\n", 1, false},
		{"done prefix only", markerOpenAI, "data: [DON\n\n", 1, false},
		{"anthropic stop", markerAnthropic, "event: message_start\ndata: {}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", 2, true},
		{"anthropic without stop", markerAnthropic, "event: message_start\ndata: {}\n\nevent: message_delta\ndata: {}\n\n", 2, false},
		{"comments are not events", markerOpenAI, ": ping\n\n: ping\n\ndata: x\n\n", 1, false},
		{"crlf", markerOpenAI, "data: x\r\n\r\ndata: [DONE]\r\n\r\n", 2, true},
		{"lone cr", markerOpenAI, "data: x\r\rdata: [DONE]\r\r", 2, true},
		{"last event without blank line", markerOpenAI, "data: x\n\ndata: [DONE]", 2, true},
		{"stray blank lines", markerOpenAI, "\n\n\ndata: x\n\n\n\n", 1, false},
		{"long line", markerOpenAI, "data: " + string(make([]byte, 100000)) + "\n\n", 1, false},
		{"empty", markerOpenAI, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, done := scanSplit(tt.marker, []byte(tt.in), 0)
			if events != tt.wantEvents || done != tt.wantDone {
				t.Errorf("events %d done %v, want %d %v", events, done, tt.wantEvents, tt.wantDone)
			}
		})
	}
}

// TestEventScannerFixtures counts the events of recorded provider streams.
func TestEventScannerFixtures(t *testing.T) {
	tests := []struct {
		file     string
		marker   string
		wantDone bool
	}{
		{"openai_stream_parallel_tool_calls_usage.sse", markerOpenAI, true},
		{"anthropic_stream_text_tool_use.sse", markerAnthropic, true},
		{"anthropic_stream_tool_use_max_tokens_incomplete.sse", markerAnthropic, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "..", "..", "converter", "testdata", "fixtures", tt.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read fixture: %v", err)
			}
			want := countEventsReference(b)
			for _, chunk := range []int{0, 1, 7, 64} {
				events, done := scanSplit(tt.marker, b, chunk)
				if events != want || done != tt.wantDone {
					t.Errorf("chunk %d: events %d done %v, want %d %v", chunk, events, done, want, tt.wantDone)
				}
			}
		})
	}
}

// countEventsReference counts blank-line separated blocks holding a line
// that is not a comment, the slow and obvious way.
func countEventsReference(b []byte) int {
	n, fields := 0, false
	line := []byte{}
	flush := func() {
		if len(line) == 0 {
			if fields {
				n++
			}
			fields = false
		} else if line[0] != ':' {
			fields = true
		}
		line = line[:0]
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\n':
			flush()
		case '\r':
			flush()
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		default:
			line = append(line, b[i])
		}
	}
	if len(line) > 0 {
		flush()
	}
	if fields {
		n++
	}
	return n
}

// scanSplit feeds in to a scanner in chunks of the given size (0: whole).
func scanSplit(marker string, in []byte, chunk int) (events int, done bool) {
	var s eventScanner
	s.reset(marker)
	total := 0
	if chunk <= 0 {
		chunk = len(in) + 1
	}
	for len(in) > 0 {
		k := min(chunk, len(in))
		total += s.feed(in[:k])
		in = in[k:]
	}
	total += s.finish()
	if total != s.events {
		panic("returned counts disagree with the total")
	}
	return s.events, s.done
}

// FuzzEventScanner checks that the scanner agrees with the reference count
// and that how the bytes are split into reads never changes the result.
func FuzzEventScanner(f *testing.F) {
	f.Add([]byte("data: x\n\ndata: [DONE]\n\n"), uint8(3))
	f.Add([]byte("event: message_stop\r\ndata: {}\r\n\r\n"), uint8(1))
	f.Add([]byte(": ping\r\rdata:[DONE]"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		for _, marker := range []string{markerOpenAI, markerAnthropic} {
			whole, wholeDone := scanSplit(marker, in, 0)
			split, splitDone := scanSplit(marker, in, int(chunk))
			if whole != split || wholeDone != splitDone {
				t.Fatalf("%q: whole %d %v, split by %d: %d %v", marker, whole, wholeDone, chunk, split, splitDone)
			}
			if want := countEventsReference(in); whole != want {
				t.Fatalf("%q: events %d, reference %d", marker, whole, want)
			}
		}
	})
}

func BenchmarkEventScanner(b *testing.B) {
	in, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "converter", "testdata", "fixtures", "anthropic_stream_text_tool_use.sse"))
	if err != nil {
		b.Fatal(err)
	}
	var s eventScanner
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		s.reset(markerAnthropic)
		s.feed(in)
		s.finish()
	}
}
