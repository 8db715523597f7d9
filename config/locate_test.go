package config

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestKeyLines(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]int
	}{
		{
			name: "tables and arrays of tables",
			src:  "[server]\nport = 1\n\n[[upstreams]]\nname = \"a\"\n[[upstreams]]\nname = \"b\"\n[upstreams.model_map]\nx = \"y\"\n",
			want: map[string]int{"server": 1, "server.port": 2, "upstreams[0]": 4, "upstreams[0].name": 5,
				"upstreams[1]": 6, "upstreams[1].name": 7, "upstreams[1].model_map": 8, "upstreams[1].model_map.x": 9},
		},
		{
			name: "nested arrays of tables",
			src:  "[[a]]\n[[a.b]]\nc = 1\n[[a]]\n[[a.b]]\n[[a.b]]\nc = 2\n",
			want: map[string]int{"a[0]": 1, "a[0].b[0]": 2, "a[0].b[0].c": 3, "a[1]": 4, "a[1].b[0]": 5, "a[1].b[1]": 6, "a[1].b[1].c": 7},
		},
		{
			name: "multi-line strings hide key-like text",
			src:  "a = \"\"\"\nb = 1\n[c]\n\"\"\"\nd = '''\ne = 2\n'''\nf = 3\n",
			want: map[string]int{"a": 1, "d": 5, "f": 8},
		},
		{
			name: "multi-line arrays and comments",
			src:  "a = [ # first\n  1,\n  \"]\", # a bracket in a string\n]\nb = 2 # done\n",
			want: map[string]int{"a": 1, "a[0]": 2, "a[1]": 3, "b": 5},
		},
		{
			name: "inline tables and arrays of them",
			src:  "[access]\nkeys = [\n  { name = \"a\" },\n  { name = \"b\", routes = [\"/x\"] },\n]\n",
			want: map[string]int{"access.keys[0].name": 3, "access.keys[1].name": 4, "access.keys[1].routes[0]": 4},
		},
		{
			name: "quoted and dotted keys",
			src:  "[upstreams.model_map]\n\"gpt-4.1\" = \"x\"\n'claude 3' = \"y\"\nsite.\"google.com\" = true\n",
			want: map[string]int{`upstreams.model_map."gpt-4.1"`: 2, `upstreams.model_map."claude 3"`: 3, `upstreams.model_map.site."google.com"`: 4},
		},
		{
			name: "escaped quote in a string",
			src:  "a = \"x\\\"y = 1\"\nb = 2\n",
			want: map[string]int{"a": 1, "b": 2},
		},
		{
			name: "windows line endings",
			src:  "[server]\r\nport = 1\r\n",
			want: map[string]int{"server": 1, "server.port": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := toml.Decode(tt.src, new(map[string]any)); err != nil {
				t.Fatalf("test input is not valid TOML: %v", err)
			}
			got := keyLines(tt.src)
			for key, line := range tt.want {
				if got[key] != line {
					t.Errorf("line of %s = %d, want %d (all: %v)", key, got[key], line, got)
				}
			}
		})
	}
}

func TestLineLookupFallsBack(t *testing.T) {
	li := lineIndex{"upstreams[1]": 6, "server": 1}
	tests := []struct {
		path string
		want int
	}{
		{"upstreams[1].format", 6},
		{"upstreams[1].model_map.x", 6},
		{"server.port", 1},
		{"bus.url", 0},
		{"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := li.lookup(tt.path); got != tt.want {
				t.Errorf("lookup(%q) = %d, want %d", tt.path, got, tt.want)
			}
		})
	}
}

var indexRE = regexp.MustCompile(`\[[0-9]+\]`)

// FuzzKeyLines checks the line scanner against the TOML library: on any
// valid document it finds exactly the keys the library reports, and on any
// input at all it does not panic.
func FuzzKeyLines(f *testing.F) {
	f.Add("[server]\nport = 1\n[[u]]\na = [1, {b = 2}]\n")
	f.Add("a = \"\"\"\nb = 1\n\"\"\"\n")
	f.Add("x.'y z'.\"w\" = { a = [ [1], [2] ] }\n")
	f.Fuzz(func(t *testing.T, src string) {
		got := keyLines(src)
		md, err := toml.Decode(src, new(map[string]any))
		if err != nil {
			return
		}
		want := map[string]bool{}
		for _, k := range md.Keys() {
			want[k.String()] = true
		}
		found := map[string]bool{}
		for path, line := range got {
			if line < 1 || line > strings.Count(src, "\n")+1 {
				t.Errorf("%s: line %d out of range", path, line)
			}
			found[indexRE.ReplaceAllString(path, "")] = true
		}
		if !sameKeys(want, found) {
			t.Errorf("keys differ\nlibrary: %v\nscanner: %v", sortedSet(want), sortedSet(found))
		}
	})
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
