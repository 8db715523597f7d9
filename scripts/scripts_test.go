// Package scripts holds the project's shell scripts; its tests run them the
// way CI and release builds do.
package scripts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGoFilesOutsideACheckout runs gofiles.sh in a tree without .git, as in
// a source tarball or a container build context: it must list the Go files
// and end, never wait on stdin or fail for want of git.
func TestGoFilesOutsideACheckout(t *testing.T) {
	root := t.TempDir()
	script, err := os.ReadFile("gofiles.sh")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"scripts/gofiles.sh":          string(script),
		"main.go":                     "package main\n",
		"sub/pkg/b.go":                "package pkg\n",
		"sub/pkg/testdata/fixture.go": "not go at all",
		"node_modules/x/y.go":         "package y\n",
		"README.md":                   "text\n",
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "gofiles.sh"))
	// A terminal-less stdin that never ends: a script reading it would hang.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cmd.Stdin = r
	// Keep git from finding a repository above the temporary directory.
	cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(root))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatal("gofiles.sh did not finish outside a checkout")
	}
	if err != nil {
		t.Fatalf("gofiles.sh: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "main.go\nsub/pkg/b.go"; got != want {
		t.Errorf("listed:\n%s\nwant:\n%s", got, want)
	}
}

// TestTestScriptListsFilesWithoutGit keeps test.sh on gofiles.sh rather
// than on git ls-files, which fails outside a checkout and leaves gofmt
// reading stdin.
func TestTestScriptListsFilesWithoutGit(t *testing.T) {
	text, err := os.ReadFile("test.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(text), "\n") {
		code, _, _ := strings.Cut(line, "#")
		if strings.Contains(code, "git ") {
			t.Errorf("test.sh calls git directly: %q", line)
		}
		if strings.Contains(code, "gofmt -l") && !strings.Contains(code, "</dev/null") {
			t.Errorf("gofmt may read stdin: %q", line)
		}
	}
}
