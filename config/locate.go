package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// The TOML library reports where a key is only when parsing fails, and it
// drops array indices from key names. Messages about a well-formed file
// ("upstreams[1].concurrency must be positive") still deserve a line number,
// so keyLines walks the source once more and records, for every key, the line
// that sets it. The file has already been parsed successfully when this runs,
// so the scanner only needs to follow valid TOML; on anything unexpected it
// gives up quietly and the messages simply carry no line.

// joinKey appends one key segment to a dotted path, quoting it exactly as
// the TOML library does when it is not a bare key.
func joinKey(prefix, seg string) string {
	s := toml.Key{seg}.String()
	if prefix == "" {
		return s
	}
	return prefix + "." + s
}

// indexKey appends an array index to a path: upstreams → upstreams[1].
func indexKey(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// lineIndex maps dotted key paths to 1-based line numbers.
type lineIndex map[string]int

// lookup returns the line of path, or of its closest recorded ancestor
// (a key inside an inline table falls back to the table's line).
func (li lineIndex) lookup(path string) int {
	for path != "" {
		if n, ok := li[path]; ok {
			return n
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut <= 0 {
			return 0
		}
		path = path[:cut]
	}
	return 0
}

// keyLines returns the line of every key set in src.
func keyLines(src string) lineIndex {
	s := &scanner{src: src, out: lineIndex{}, arrays: map[string]int{}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			s.nl = append(s.nl, i)
		}
	}
	s.top()
	return s.out
}

type scanner struct {
	src    string
	pos    int
	nl     []int // offsets of '\n', to turn offsets into lines
	out    lineIndex
	arrays map[string]int // array-of-tables path → number of elements seen
	table  string         // path of the current [table] or [[array]] element
	steps  int            // guards against a scanner bug looping forever
}

func (s *scanner) line(off int) int {
	return sort.SearchInts(s.nl, off) + 1
}

func (s *scanner) record(path string, off int) {
	if _, ok := s.out[path]; !ok {
		s.out[path] = s.line(off)
	}
}

func (s *scanner) eof() bool { return s.pos >= len(s.src) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.pos]
}

func (s *scanner) hasPrefix(p string) bool { return strings.HasPrefix(s.src[s.pos:], p) }

// skipSpace skips blanks; with newlines also line breaks and comments.
func (s *scanner) skipSpace(newlines bool) {
	for !s.eof() {
		switch c := s.src[s.pos]; {
		case c == ' ' || c == '\t' || c == '\r':
			s.pos++
		case c == '#':
			for !s.eof() && s.src[s.pos] != '\n' {
				s.pos++
			}
		case c == '\n' && newlines:
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) skipLine() {
	for !s.eof() && s.src[s.pos] != '\n' {
		s.pos++
	}
}

func (s *scanner) top() {
	for !s.eof() {
		s.steps++
		if s.steps > len(s.src)+16 {
			return
		}
		s.skipSpace(true)
		if s.eof() {
			return
		}
		start := s.pos
		if s.peek() == '[' {
			s.header()
		} else {
			s.keyValue(s.table)
		}
		s.skipSpace(false)
		s.skipLine()
		if s.pos == start {
			s.pos++
		}
	}
}

// header handles [a.b] and [[a.b]].
func (s *scanner) header() {
	start := s.pos
	array := s.hasPrefix("[[")
	if array {
		s.pos += 2
	} else {
		s.pos++
	}
	segs, ok := s.key()
	if !ok || len(segs) == 0 {
		return
	}
	// Walk the segments, stepping into the latest element of any array of
	// tables on the way, exactly as TOML resolves [[a.b]] under [[a]].
	path := ""
	for i, seg := range segs {
		path = joinKey(path, seg)
		last := i == len(segs)-1
		if last && array {
			n := s.arrays[path]
			s.arrays[path] = n + 1
			s.record(path, start)
			path = indexKey(path, n)
			break
		}
		if n, isArray := s.arrays[path]; isArray && n > 0 && !last {
			path = indexKey(path, n-1)
		}
	}
	s.record(path, start)
	s.table = path
}

// keyValue handles key = value under prefix.
func (s *scanner) keyValue(prefix string) bool {
	start := s.pos
	segs, ok := s.key()
	if !ok || len(segs) == 0 {
		return false
	}
	s.skipSpace(false)
	if s.peek() != '=' {
		return false
	}
	s.pos++
	path := prefix
	for _, seg := range segs {
		path = joinKey(path, seg)
	}
	s.record(path, start)
	s.skipSpace(false)
	return s.value(path)
}

// key reads a dotted key made of bare, "basic" and 'literal' segments.
func (s *scanner) key() ([]string, bool) {
	var segs []string
	for {
		s.skipSpace(false)
		switch c := s.peek(); {
		case c == '"':
			v, ok := s.basicString()
			if !ok {
				return nil, false
			}
			segs = append(segs, v)
		case c == '\'':
			s.pos++
			end := strings.IndexAny(s.src[s.pos:], "'\n")
			if end < 0 || s.src[s.pos+end] != '\'' {
				return nil, false
			}
			segs = append(segs, s.src[s.pos:s.pos+end])
			s.pos += end + 1
		default:
			begin := s.pos
			for !s.eof() && isBareKey(s.src[s.pos:s.pos+1]) {
				s.pos++
			}
			if s.pos == begin {
				return nil, false
			}
			segs = append(segs, s.src[begin:s.pos])
		}
		s.skipSpace(false)
		if s.peek() != '.' {
			break
		}
		s.pos++
	}
	if s.peek() == ']' {
		s.pos++
		if s.peek() == ']' {
			s.pos++
		}
	}
	return segs, true
}

// basicString reads a "..." string at pos and returns its unescaped value
// (escapes other than \" and \\ are kept as written: good enough for keys).
func (s *scanner) basicString() (string, bool) {
	s.pos++
	var b strings.Builder
	for !s.eof() {
		c := s.src[s.pos]
		switch {
		case c == '\\' && s.pos+1 < len(s.src):
			next := s.src[s.pos+1]
			if next == '"' || next == '\\' {
				b.WriteByte(next)
			} else {
				b.WriteByte(c)
				b.WriteByte(next)
			}
			s.pos += 2
		case c == '"':
			s.pos++
			return b.String(), true
		case c == '\n':
			return "", false
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
	return "", false
}

// value skips one value, recording the keys of inline tables under path.
func (s *scanner) value(path string) bool {
	switch {
	case s.hasPrefix(`"""`):
		return s.skipMultiline(`"""`, true)
	case s.hasPrefix(`'''`):
		return s.skipMultiline(`'''`, false)
	case s.peek() == '"':
		_, ok := s.basicString()
		return ok
	case s.peek() == '\'':
		s.pos++
		end := strings.IndexAny(s.src[s.pos:], "'\n")
		if end < 0 || s.src[s.pos+end] != '\'' {
			return false
		}
		s.pos += end + 1
		return true
	case s.peek() == '[':
		s.pos++
		for i := 0; ; i++ {
			s.skipSpace(true)
			if s.eof() {
				return false
			}
			if s.peek() == ']' {
				s.pos++
				return true
			}
			elem := indexKey(path, i)
			s.record(elem, s.pos)
			if !s.value(elem) {
				return false
			}
			s.skipSpace(true)
			if s.peek() == ',' {
				s.pos++
			}
		}
	case s.peek() == '{':
		s.pos++
		for {
			s.skipSpace(true)
			if s.eof() {
				return false
			}
			if s.peek() == '}' {
				s.pos++
				return true
			}
			if !s.keyValue(path) {
				return false
			}
			s.skipSpace(true)
			if s.peek() == ',' {
				s.pos++
			}
		}
	default:
		begin := s.pos
		for !s.eof() && !strings.ContainsRune(",]}#\n", rune(s.src[s.pos])) {
			s.pos++
		}
		return s.pos > begin
	}
}

func (s *scanner) skipMultiline(delim string, escapes bool) bool {
	s.pos += len(delim)
	for !s.eof() {
		if escapes && s.src[s.pos] == '\\' {
			s.pos += 2
			continue
		}
		if s.hasPrefix(delim) {
			s.pos += len(delim)
			// Up to two quotes may end the content right before the delimiter.
			for i := 0; i < 2 && !s.eof() && s.src[s.pos] == delim[0]; i++ {
				s.pos++
			}
			return true
		}
		s.pos++
	}
	return false
}
