package mock

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want []string
	}{
		{name: "empty", s: "", n: 3, want: nil},
		{name: "even", s: "abcdef", n: 3, want: []string{"ab", "cd", "ef"}},
		{name: "uneven", s: "abcdefg", n: 3, want: []string{"ab", "cd", "efg"}},
		{name: "fewer characters than pieces", s: "ab", n: 5, want: []string{"a", "b"}},
		{name: "one piece", s: "abc", n: 1, want: []string{"abc"}},
		{name: "multibyte never split", s: "ééé", n: 3, want: []string{"é", "é", "é"}},
		{name: "multibyte boundaries move", s: "a€b€", n: 2, want: []string{"a€", "b€"}},
		{name: "wide characters", s: "😀😀x", n: 3, want: []string{"😀", "😀", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := split(tt.s, tt.n)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("split(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("Hello! You said: hi", 10)
	f.Add("ééé😀", 2)
	f.Add("", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 1 || n > 1000 {
			return
		}
		got := split(s, n)
		if strings.Join(got, "") != s {
			t.Fatalf("pieces %q do not join to %q", got, s)
		}
		if len(got) > n {
			t.Fatalf("%d pieces, asked for %d", len(got), n)
		}
		for _, p := range got {
			if p == "" {
				t.Fatalf("empty piece in %q", got)
			}
			if utf8.ValidString(s) && !utf8.ValidString(p) {
				t.Fatalf("piece %q splits a character", p)
			}
		}
	})
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{name: "short", s: "abc", n: 5, want: "abc"},
		{name: "cut", s: "abcdef", n: 3, want: "abc"},
		{name: "inside a character", s: "aé", n: 2, want: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate(tt.s, tt.n); got != tt.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func TestAnswerEchoLimit(t *testing.T) {
	long := strings.Repeat("x", 300)
	p := prompt{userText: long, lastIsUser: true}
	a := buildAnswer(&p, 4, 1, "call_")
	if want := echoPrefix + long[:maxEcho]; a.fullText() != want {
		t.Errorf("text = %q, want the first %d bytes echoed", a.fullText(), maxEcho)
	}
	if len(a.text) != 4 || a.outputTokens != 4 {
		t.Errorf("%d chunks, %d output tokens; want 4 and 4", len(a.text), a.outputTokens)
	}
}
