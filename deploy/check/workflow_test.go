package check

import (
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// TestReleaseWorkflow lints .github/workflows/release.yml with actionlint
// (syntax, expressions, action inputs, permissions) and checks that it
// publishes what the deployment files run: both images, multi-arch, tagged
// with the git tag.
func TestReleaseWorkflow(t *testing.T) {
	path := filepath.Join(repoRoot(), ".github", "workflows", "release.yml")
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{Shellcheck: "", Pyflakes: ""})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := linter.LintFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("actionlint: %s", e.Error())
	}

	wf := yamlMap(t, path)
	tags, _ := dig(wf, "on", "push", "tags").([]any)
	if !slices.Contains(tags, any("v*.*.*")) {
		t.Errorf("on.push.tags = %v, want v*.*.* (the tags the manifests pin)", tags)
	}
	job, _ := dig(wf, "jobs", "images").(map[string]any)
	if dig(job, "permissions", "packages") != "write" {
		t.Error("the images job cannot push: permissions.packages is not write")
	}
	var images []string
	for _, inc := range dig(job, "strategy", "matrix", "include").([]any) {
		images = append(images, dig(inc, "image").(string))
	}
	for _, want := range []string{imageRepo, "ghcr.io/aigateway/mockupstream"} {
		if !slices.Contains(images, want) {
			t.Errorf("the workflow publishes %v, not %s", images, want)
		}
	}
	var build map[string]any
	for _, step := range dig(job, "steps").([]any) {
		if uses, _ := dig(step, "uses").(string); strings.HasPrefix(uses, "docker/build-push-action@") {
			build, _ = dig(step, "with").(map[string]any)
		}
	}
	if build == nil {
		t.Fatal("no docker/build-push-action step")
	}
	platforms := strings.Split(build["platforms"].(string), ",")
	for _, want := range []string{"linux/amd64", "linux/arm64"} {
		if !slices.Contains(platforms, want) {
			t.Errorf("platforms %v lack %s", platforms, want)
		}
	}
	if build["push"] != true {
		t.Error("build-push-action does not push")
	}
	if args, _ := build["build-args"].(string); !strings.Contains(args, "VERSION=") {
		t.Errorf("build-args %q: the binary's version must be the tag", args)
	}
}
