package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// event is a parsed event with copied bytes, comparable in tests.
type event struct{ Name, Data, Raw string }

func copyEvent(ev Event) event { return event{string(ev.Name), string(ev.Data), string(ev.Raw)} }

// parseAll splits buf into events with Parse at EOF, checking that every
// byte is consumed exactly once.
func parseAll(t testing.TB, buf []byte) []event {
	t.Helper()
	var evs []event
	var scratch []byte
	for len(buf) > 0 {
		ev, n, ok, sc := Parse(buf, true, scratch)
		scratch = sc
		if !ok || n <= 0 || n > len(buf) {
			t.Fatalf("Parse at EOF: ok=%v n=%d for %d bytes %q", ok, n, len(buf), buf)
		}
		if !bytes.Equal(ev.Raw, buf[:n]) {
			t.Fatalf("Raw %q is not the consumed bytes %q", ev.Raw, buf[:n])
		}
		evs = append(evs, copyEvent(ev))
		buf = buf[n:]
	}
	return evs
}

// readAll reads every event from r.
func readAll(t testing.TB, r *Reader) ([]event, error) {
	t.Helper()
	var evs []event
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return evs, nil
			}
			return evs, err
		}
		evs = append(evs, copyEvent(ev))
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []event
	}{
		{
			name: "named event",
			in:   "event: ping\ndata: {\"type\": \"ping\"}\n\n",
			want: []event{{"ping", `{"type": "ping"}`, "event: ping\ndata: {\"type\": \"ping\"}\n\n"}},
		},
		{
			name: "data only, two events",
			in:   "data: 1\n\ndata: [DONE]\n\n",
			want: []event{{"", "1", "data: 1\n\n"}, {"", "[DONE]", "data: [DONE]\n\n"}},
		},
		{
			name: "CRLF line endings",
			in:   "event: a\r\ndata: b\r\n\r\n",
			want: []event{{"a", "b", "event: a\r\ndata: b\r\n\r\n"}},
		},
		{
			name: "CR line endings",
			in:   "event: a\rdata: b\r\rdata: c\r\r",
			want: []event{{"a", "b", "event: a\rdata: b\r\r"}, {"", "c", "data: c\r\r"}},
		},
		{
			name: "multi-line data joined with newlines",
			in:   "data: {\"a\":\ndata: 1,\ndata: \"b\":2}\n\n",
			want: []event{{"", "{\"a\":\n1,\n\"b\":2}", "data: {\"a\":\ndata: 1,\ndata: \"b\":2}\n\n"}},
		},
		{
			name: "no space after colon",
			in:   "data:x\n\n",
			want: []event{{"", "x", "data:x\n\n"}},
		},
		{
			name: "only the first space is stripped",
			in:   "data:  x\n\n",
			want: []event{{"", " x", "data:  x\n\n"}},
		},
		{
			name: "comment block",
			in:   ": keep-alive\n\ndata: 1\n\n",
			want: []event{{"", "", ": keep-alive\n\n"}, {"", "1", "data: 1\n\n"}},
		},
		{
			name: "comment inside an event and unknown fields ignored",
			in:   "id: 7\n: note\nretry: 10\ndata: 1\n\n",
			want: []event{{"", "1", "id: 7\n: note\nretry: 10\ndata: 1\n\n"}},
		},
		{
			name: "stray blank lines are their own empty events",
			in:   "\n\ndata: 1\n\n",
			want: []event{{"", "", "\n"}, {"", "", "\n"}, {"", "1", "data: 1\n\n"}},
		},
		{
			name: "last event without blank line at EOF",
			in:   "data: 1\n\nevent: message_stop\ndata: {}",
			want: []event{{"", "1", "data: 1\n\n"}, {"message_stop", "{}", "event: message_stop\ndata: {}"}},
		},
		{
			name: "last event ending with one newline at EOF",
			in:   "data: 1\n",
			want: []event{{"", "1", "data: 1\n"}},
		},
		{
			name: "trailing CR at EOF ends the line",
			in:   "data: 1\r",
			want: []event{{"", "1", "data: 1\r"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseAll(t, []byte(tt.in))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %q, want %d %q", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
			// A reader fed one byte at a time sees the same events.
			r := NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), 1<<16)
			evs, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(got) {
				t.Fatalf("reader got %q, want %q", evs, got)
			}
			for i := range evs {
				if evs[i] != got[i] {
					t.Errorf("reader event %d = %q, want %q", i, evs[i], got[i])
				}
			}
		})
	}
}

func TestParseIncomplete(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"no blank line yet", "data: 1\n"},
		{"no line end yet", "data: 1"},
		{"lone CR may be the start of CRLF", "data: 1\r\n\r"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, n, ok, _ := Parse([]byte(tt.in), false, nil); ok || n != 0 {
				t.Errorf("Parse(%q) = ok %v n %d, want an incomplete event", tt.in, ok, n)
			}
		})
	}
}

func TestEventIsComment(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want bool
	}{
		{"comment", Event{Raw: []byte(": x\n\n")}, true},
		{"data", Event{Data: []byte("1")}, false},
		{"name only", Event{Name: []byte("ping")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ev.IsComment(); got != tt.want {
				t.Errorf("IsComment() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReaderLimits(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		wantN   int
		wantErr error
	}{
		{"event over the limit", "data: " + strings.Repeat("x", 100) + "\n\n", 64, 0, ErrEventTooLarge},
		{"events under the limit", strings.Repeat("data: 1\n\n", 50), 16, 50, nil},
		{"large event grows the buffer", "data: " + strings.Repeat("x", 10000) + "\n\n", 1 << 20, 1, nil},
		{"zero limit", "data: 1\n\n", 0, 0, ErrEventTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := readAll(t, NewReader(strings.NewReader(tt.in), tt.max))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(evs) != tt.wantN {
				t.Errorf("read %d events, want %d", len(evs), tt.wantN)
			}
		})
	}
}

// TestReaderReadError: after a read error, a trailing partial event is not
// reported as whole; the error is.
func TestReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("data: 1\n\ndata: par"), iotest.ErrReader(boom))
	r := NewReader(src, 1<<16)
	evs, err := readAll(t, r)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if len(evs) != 1 || evs[0].Data != "1" {
		t.Errorf("events %q, want only the whole first one", evs)
	}
}

func TestReaderBuffered(t *testing.T) {
	r := NewReader(strings.NewReader("data: 1\n\ndata: 2\n\n"), 1<<16)
	if r.Buffered() {
		t.Fatal("Buffered before any read")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.Buffered() {
		t.Error("second event is in the buffer but Buffered is false")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() {
		t.Error("Buffered with nothing left")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"event: ping\ndata: {\"type\": \"ping\"}\n\n",
		"data: 1\r\n\r\ndata: [DONE]\r\n\r\n",
		"data: a\ndata: b\n\n: c\n\nevent: x\rdata: y\r\r",
		"event: message_stop\ndata: {\"type\":\"message_stop\" }",
		"\n\n\r\r\r\n",
		"data",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := parseAll(t, in)
		var raw strings.Builder
		for _, ev := range whole {
			raw.WriteString(ev.Raw)
			if strings.ContainsAny(ev.Name, "\r\n") {
				t.Fatalf("name %q holds a line break", ev.Name)
			}
		}
		if raw.String() != string(in) {
			t.Fatalf("events do not cover the input")
		}
		// Reading in small pieces gives the same events as parsing at once.
		got, err := readAll(t, NewReader(iotest.HalfReader(bytes.NewReader(in)), 1<<20))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(whole) {
			t.Fatalf("reader got %d events, Parse %d", len(got), len(whole))
		}
		for i := range got {
			if got[i] != whole[i] {
				t.Fatalf("event %d: reader %q, Parse %q", i, got[i], whole[i])
			}
		}
	})
}

// chunkReader returns at most n bytes per Read, as a network connection does.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// TestReaderScansLinearly: a large event arriving in small reads is scanned
// a bounded number of times per byte, not once per read from its start.
func TestReaderScansLinearly(t *testing.T) {
	tests := []struct {
		name  string
		event string
	}{
		{"one long data line", "data: " + strings.Repeat("x", 1<<20) + "\n\n"},
		{"many short lines", strings.Repeat("data: "+strings.Repeat("y", 60)+"\n", 1<<14) + "\n"},
		{"crlf lines", strings.Repeat("data: "+strings.Repeat("z", 1000)+"\r\n", 1<<10) + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(chunkReader{strings.NewReader(tt.event + "data: end\n\n"), 4096}, 8<<20)
			evs, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 2 || evs[0].Raw != tt.event {
				t.Fatalf("read %d events, want the large one and the last", len(evs))
			}
			if limit := 3 * (len(tt.event) + 16); r.scanned > limit {
				t.Errorf("scanned %d bytes for %d bytes of input, want at most %d", r.scanned, len(tt.event), limit)
			}
		})
	}
}

// waitingSource is a Waiter whose Wait records whether the reader held a
// buffer meanwhile.
type waitingSource struct {
	r       *Reader
	chunks  []string
	waits   int
	holding int // waits during which the reader kept a buffer
	fail    error
}

func (s *waitingSource) Wait() error {
	s.waits++
	if s.r.buf != nil {
		s.holding++
	}
	return s.fail
}

func (s *waitingSource) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; s.chunks[0] == "" {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

func TestReaderWaitsWithoutBuffer(t *testing.T) {
	large := "data: " + strings.Repeat("x", 3*initialBuffer) + "\n\n"
	src := &waitingSource{chunks: []string{"data: a\n\n", "data: b", "\n\n", large, "data: c\n\ndata: d\n\n"}}
	r := NewReader(src, 1<<20)
	src.r = r
	var got []string
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev.Data))
	}
	want := []string{"a", "b", strings.Repeat("x", 3*initialBuffer), "c", "d"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %q, want %q", got, want)
	}
	// It waits only with nothing buffered (not for the end of "data: b",
	// nor while the large event arrives), and then holds no buffer.
	if src.waits != 5 || src.holding != 0 {
		t.Errorf("%d waits, %d of them holding a buffer; want 5 and 0", src.waits, src.holding)
	}
}

func TestReaderWaitError(t *testing.T) {
	boom := errors.New("boom")
	src := &waitingSource{fail: boom}
	r := NewReader(src, 1<<20)
	src.r = r
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next() = %v, want the wait's error", err)
	}
}
