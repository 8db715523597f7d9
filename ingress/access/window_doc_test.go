package access

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocumentedWindowIsFixed: the shipped example configuration describes
// the per-minute limits as what they are, a fixed UTC minute (the window
// TestRequestsPerMinuteExact checks), not a sliding one.
func TestDocumentedWindowIsFixed(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "config", "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	found := false
	for i, line := range lines {
		if !strings.HasPrefix(line, "requests_per_minute") || i == 0 || !strings.HasPrefix(lines[i-1], "#") {
			continue
		}
		found = true
		var comment []string
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "#"); j-- {
			comment = append([]string{lines[j]}, comment...)
		}
		c := strings.ToLower(strings.Join(comment, " "))
		if strings.Contains(c, "sliding") || !strings.Contains(c, "fixed utc minute") {
			t.Errorf("example.toml describes the rate-limit window as:\n%s\nwant the fixed UTC minute", strings.Join(comment, "\n"))
		}
	}
	if !found {
		t.Fatal("no documented requests_per_minute in config/example.toml")
	}
}
