package check

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv is the host environment the projects are loaded with: what
// their headers tell an operator to set, with example values.
var composeEnv = []string{
	"TEAM_A_KEY=sk-example-team-a",
	"OPENAI_API_KEY=sk-example-openai",
	"ANTHROPIC_API_KEY=sk-example-anthropic",
}

// loadCompose loads a project from files (repository-relative) the way
// `docker compose -f a -f b config` does: merged, interpolated, paths
// resolved against the first file's directory, and validated against the
// Compose specification's schema.
func loadCompose(t *testing.T, env []string, profiles []string, files ...string) *types.Project {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(repoRoot(), f))
	}
	opts, err := cli.NewProjectOptions(paths,
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
		cli.WithDiscardEnvFile,
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker compose -f %s config: %v", strings.Join(files, " -f "), err)
	}
	return p
}

// composeProjects are the combinations the files' headers and
// docs/operations.md tell an operator to run.
var composeProjects = []struct {
	files    []string
	profiles []string
	// accessOn: the gateway answers only clients with a key, so the API may
	// be published on every interface.
	accessOn bool
}{
	{files: []string{"docker-compose.yml"}},
	{files: []string{"deploy/compose/single.yml"}},
	{files: []string{"deploy/compose/single.yml", "deploy/compose/monitoring.yml"}},
	{files: []string{"deploy/compose/split.yml"}, accessOn: true},
	{files: []string{"deploy/compose/split.yml"}, profiles: []string{"mock"}, accessOn: true},
	{files: []string{"deploy/compose/split.yml", "deploy/compose/monitoring.yml"}, accessOn: true},
}

// TestComposeProjectsLoad loads every documented project with compose-go
// and checks what makes a first `docker compose up` safe and working: bind
// mounts inside the repository, no open relay, and the production profile
// in split mode.
func TestComposeProjectsLoad(t *testing.T) {
	root, err := filepath.Abs(repoRoot())
	if err != nil {
		t.Fatal(err)
	}
	for _, proj := range composeProjects {
		name := strings.Join(append(slices.Clone(proj.files), proj.profiles...), "+")
		t.Run(name, func(t *testing.T) {
			p := loadCompose(t, composeEnv, proj.profiles, proj.files...)
			for _, s := range p.Services {
				for _, v := range s.Volumes {
					if v.Type != types.VolumeTypeBind {
						continue
					}
					if rel, err := filepath.Rel(root, v.Source); err != nil || strings.HasPrefix(rel, "..") {
						t.Errorf("%s mounts %s, outside the repository", s.Name, v.Source)
					}
				}
				for _, port := range s.Ports {
					if port.Target != 8080 {
						continue
					}
					if !proj.accessOn && port.HostIP != "127.0.0.1" {
						t.Errorf("%s publishes the API on %q with access control off: an open relay to the provider accounts", s.Name, port.HostIP)
					}
				}
				if strings.HasPrefix(s.Image, "nats:") && s.StopSignal != "SIGUSR2" {
					t.Errorf("%s stops with %q: NATS enters lame duck mode on SIGUSR2 only", s.Name, s.StopSignal)
				}
				if s.Image == imageRepo+":latest" && strings.Contains(name, "split") {
					if env := s.Environment["GATEWAY_ENV"]; env == nil || *env != "production" {
						t.Errorf("%s: split mode runs config/production.toml, want GATEWAY_ENV=production", s.Name)
					}
				}
			}
		})
	}
}

// TestComposeSplitNeedsTheKey checks that split mode refuses to start without
// the client key production.toml names, instead of starting a gateway that
// answers 401 to everything or fails at start-up.
func TestComposeSplitNeedsTheKey(t *testing.T) {
	var env []string
	for _, kv := range composeEnv {
		if !strings.HasPrefix(kv, "TEAM_A_KEY=") {
			env = append(env, kv)
		}
	}
	paths := []string{filepath.Join(repoRoot(), "deploy/compose/split.yml")}
	opts, err := cli.NewProjectOptions(paths, cli.WithEnv(env), cli.WithInterpolation(true), cli.WithDiscardEnvFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), "TEAM_A_KEY") {
		t.Errorf("split.yml without TEAM_A_KEY: err = %v, want a message naming TEAM_A_KEY", err)
	}
}
