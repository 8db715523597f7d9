package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// imageInfo is what the runtime stage of the Dockerfile sets up.
type imageInfo struct {
	base       string
	user       string
	workdir    string
	configDir  string // GATEWAY_CONFIG_DIR
	storeDir   string // GATEWAY_BUS_STORE_DIR
	expose     []int
	entrypoint []string
	healthcmd  []string
	binaries   []string // absolute paths copied from the build stage
	copies     []copyInstr
}

func loadDockerfile(t *testing.T) dockerfile {
	t.Helper()
	df, err := parseDockerfile(mustRead(t, repoPath("Dockerfile")))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return df
}

// mockRepo is the image of the mock upstream, the Dockerfile's mockupstream target.
const (
	mockRepo   = "ghcr.io/aigateway/mockupstream"
	mockTarget = "mockupstream"
)

// imageFacts describes the default target: the gateway image.
func imageFacts(t *testing.T) imageInfo {
	t.Helper()
	df := loadDockerfile(t)
	return imageFactsFor(t, df, df.final())
}

// imageFactsFor describes the image a stage builds, inherited stages included.
func imageFactsFor(t *testing.T, df dockerfile, st stage) imageInfo {
	t.Helper()
	final := df.resolved(st)
	info := imageInfo{base: final.Base}
	info.user, _ = final.lastArgs("USER")
	info.workdir, _ = final.lastArgs("WORKDIR")
	env, err := final.env()
	if err != nil {
		t.Fatal(err)
	}
	info.configDir, info.storeDir = env["GATEWAY_CONFIG_DIR"], env["GATEWAY_BUS_STORE_DIR"]
	for _, in := range final.all("EXPOSE") {
		for _, p := range strings.Fields(in.Args) {
			p, _, _ = strings.Cut(p, "/")
			n, err := strconv.Atoi(p)
			if err != nil {
				t.Fatalf("EXPOSE %q: %v", in.Args, err)
			}
			info.expose = append(info.expose, n)
		}
	}
	if ep, ok := final.lastArgs("ENTRYPOINT"); ok {
		if info.entrypoint, err = execForm(ep); err != nil {
			t.Fatalf("ENTRYPOINT: %v", err)
		}
	}
	if hc, ok := final.lastArgs("HEALTHCHECK"); ok && strings.TrimSpace(hc) != "NONE" {
		_, cmd, found := strings.Cut(hc, "CMD ")
		if !found {
			t.Fatalf("HEALTHCHECK %q has no CMD", hc)
		}
		if info.healthcmd, err = execForm(strings.TrimSpace(cmd)); err != nil {
			t.Fatalf("HEALTHCHECK: %v", err)
		}
	}
	for _, in := range final.all("COPY") {
		c, err := parseCopy(in.Args)
		if err != nil {
			t.Fatal(err)
		}
		info.copies = append(info.copies, c)
		if c.From != "" && strings.HasSuffix(c.Dest, "/") && strings.HasPrefix(c.Dest, "/usr/local/bin") {
			for _, src := range c.Srcs {
				info.binaries = append(info.binaries, path.Join(c.Dest, path.Base(src)))
			}
		}
	}
	return info
}

// imageDigest matches an image reference pinned to a tag and a digest.
var imageDigest = regexp.MustCompile(`^[a-z0-9./_-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)

func TestDockerfile(t *testing.T) {
	df := loadDockerfile(t)
	img := imageFacts(t)
	mockStage, hasMock := df.stage(mockTarget)
	var mock imageInfo
	if hasMock {
		mock = imageFactsFor(t, df, mockStage)
	}
	defaults := shippedConfig(t, "default.toml")
	p := gatewayPorts(t, defaults, nil)

	tests := []struct {
		name  string
		check func() string // a failure message, or ""
	}{
		{"multi-stage build on golang", func() string {
			if len(df.Stages) < 2 || !strings.HasPrefix(df.Stages[0].Base, "golang:") {
				return "want a golang build stage and a runtime stage"
			}
			return ""
		}},
		{"external base images pinned by digest", func() string {
			var loose []string
			for _, st := range df.Stages {
				if _, internal := df.stage(st.Base); internal || st.Base == "scratch" {
					continue
				}
				// name:tag@sha256:<64 hex>: the tag for the reader, the digest for the build.
				if !imageDigest.MatchString(st.Base) {
					loose = append(loose, st.Base)
				}
			}
			if len(loose) > 0 {
				return "base images not pinned by digest: " + strings.Join(loose, ", ")
			}
			return ""
		}},
		{"gateway is the default target", func() string {
			if !slices.Contains(img.binaries, "/usr/local/bin/gateway") {
				return "the last stage does not ship /usr/local/bin/gateway"
			}
			return ""
		}},
		{"runtime base has no libc or shell", func() string {
			if !strings.HasPrefix(img.base, "gcr.io/distroless/static") {
				return "runtime base " + img.base + ", want gcr.io/distroless/static"
			}
			return ""
		}},
		{"numeric non-root user", func() string {
			uid, _, _ := strings.Cut(img.user, ":")
			if n, err := strconv.Atoi(uid); err != nil || n == 0 {
				return "USER " + img.user + ": want a numeric non-zero uid (runAsNonRoot checks it)"
			}
			return ""
		}},
		{"user appuser 10001 in /etc/passwd", func() string {
			for _, st := range df.Stages {
				for _, in := range st.all("RUN") {
					if strings.Contains(in.Args, "appuser:x:10001:10001:appuser:/home/appuser:") {
						return ""
					}
				}
			}
			return "no stage writes a passwd entry for appuser (10001, home /home/appuser)"
		}},
		{"workdir is the home", func() string {
			if img.workdir != "/home/appuser" {
				return "WORKDIR " + img.workdir
			}
			return ""
		}},
		{"config dir under the home", func() string {
			if img.configDir != "/home/appuser/config" {
				return "GATEWAY_CONFIG_DIR=" + img.configDir
			}
			return ""
		}},
		{"store dir on the data volume", func() string {
			if !strings.HasPrefix(img.storeDir, "/home/appuser/data/") {
				return "GATEWAY_BUS_STORE_DIR=" + img.storeDir + ", want under /home/appuser/data"
			}
			return ""
		}},
		{"shipped config copied to the config dir", func() string {
			for _, c := range img.copies {
				if c.From == "" && strings.TrimSuffix(c.Dest, "/") == img.configDir && slices.ContainsFunc(c.Srcs, func(s string) bool {
					return strings.HasPrefix(s, "config/")
				}) {
					if c.Chown != "" {
						return "config is chowned to the runtime user; it must stay read-only for it"
					}
					return ""
				}
			}
			return "no COPY of config/ to " + img.configDir
		}},
		{"data dir owned by the user", func() string {
			for _, c := range img.copies {
				if strings.HasPrefix(c.Chown, strings.Split(img.user, ":")[0]) && strings.HasPrefix(img.storeDir, c.Dest) {
					return ""
				}
			}
			return "no COPY --chown=" + img.user + " creating the data directory " + img.storeDir
		}},
		{"ports match the config defaults", func() string {
			want := []int{p.HTTP, p.Worker, p.NATS, p.Monitor}
			got := slices.Clone(img.expose)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return "EXPOSE " + strings.Join(intsToStrings(got), " ") + ", want " + strings.Join(intsToStrings(want), " ")
			}
			return ""
		}},
		{"entrypoint is the gateway", func() string {
			if !slices.Equal(img.entrypoint, []string{"/usr/local/bin/gateway"}) {
				return "ENTRYPOINT " + strings.Join(img.entrypoint, " ")
			}
			return ""
		}},
		{"gateway image ships nothing else", func() string {
			if !slices.Equal(img.binaries, []string{"/usr/local/bin/gateway"}) {
				return "binaries " + strings.Join(img.binaries, " ")
			}
			return ""
		}},
		{"mock upstream target", func() string {
			if !hasMock {
				return "no " + mockTarget + " stage"
			}
			if !slices.Equal(mock.binaries, []string{"/usr/local/bin/mockupstream"}) || len(mock.entrypoint) == 0 || mock.entrypoint[0] != "/usr/local/bin/mockupstream" {
				return "the " + mockTarget + " stage ships " + strings.Join(mock.binaries, " ") + " and runs " + strings.Join(mock.entrypoint, " ")
			}
			if mock.user != img.user || mock.base != img.base {
				return "the mock image does not share the gateway's base and user"
			}
			return ""
		}},
		{"health check uses the binary", func() string {
			if !slices.Equal(img.healthcmd, append(slices.Clone(img.entrypoint), "healthcheck")) {
				return "HEALTHCHECK runs " + strings.Join(img.healthcmd, " ") + ", want the entrypoint with healthcheck (no curl in distroless)"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg := tt.check(); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func intsToStrings(ns []int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.Itoa(n)
	}
	return out
}

// goBuild is one `go build` command of the Dockerfile.
type goBuild struct {
	env  []string // VAR=value assignments before the command
	args []string // after "go"
	out  string   // the -o value
	pkg  string   // the last argument
}

// dockerGoBuilds returns the go build commands of every stage, with ARG
// defaults expanded.
func dockerGoBuilds(t *testing.T) []goBuild {
	t.Helper()
	df := loadDockerfile(t)
	var builds []goBuild
	for _, st := range df.Stages {
		builds = append(builds, stageGoBuilds(t, df, st)...)
	}
	return builds
}

func stageGoBuilds(t *testing.T, df dockerfile, st stage) []goBuild {
	t.Helper()
	vars := df.args(st)
	var builds []goBuild
	for _, in := range st.all("RUN") {
		words, err := shellWords(runCommand(in.Args), vars)
		if err != nil {
			t.Fatalf("line %d: %v", in.Line, err)
		}
		for _, cmd := range splitCommands(words) {
			var b goBuild
			i := 0
			for ; i < len(cmd) && strings.Contains(cmd[i], "=") && !strings.HasPrefix(cmd[i], "-"); i++ {
				b.env = append(b.env, cmd[i])
			}
			if i+1 >= len(cmd) || cmd[i] != "go" || cmd[i+1] != "build" {
				continue
			}
			b.args = cmd[i+1:]
			for j, a := range b.args {
				if a == "-o" && j+1 < len(b.args) {
					b.out = b.args[j+1]
				}
			}
			b.pkg = b.args[len(b.args)-1]
			builds = append(builds, b)
		}
	}
	return builds
}

func TestDockerfileGoBuildFlags(t *testing.T) {
	builds := dockerGoBuilds(t)
	var pkgs []string
	for _, b := range builds {
		pkgs = append(pkgs, b.pkg)
		t.Run(b.pkg, func(t *testing.T) {
			if !slices.Contains(b.env, "CGO_ENABLED=0") {
				t.Errorf("env %v: want CGO_ENABLED=0", b.env)
			}
			if !slices.Contains(b.args, "-trimpath") {
				t.Error("no -trimpath")
			}
			ld := ""
			for _, a := range b.args {
				if v, ok := strings.CutPrefix(a, "-ldflags="); ok {
					ld = v
				}
			}
			if f := strings.Fields(ld); !slices.Contains(f, "-s") || !slices.Contains(f, "-w") || !slices.Contains(f, "main.version=dev") {
				t.Errorf("-ldflags %q: want -s -w -X main.version=${VERSION} (VERSION defaults to dev)", ld)
			}
			if path.Dir(b.out) != "/out" {
				t.Errorf("-o %s: the runtime stage copies from /out", b.out)
			}
		})
	}
	for _, want := range []string{"./cmd/gateway", "./cmd/mockupstream"} {
		if !slices.Contains(pkgs, want) {
			t.Errorf("the Dockerfile does not build %s", want)
		}
	}
}

// maxImageBytes is the size budget of each image; the distroless base takes
// about 2 MiB of it, and the offline tokenizer encodings that
// /v1/messages/count_tokens estimates with (tiktoken-go-loader) about 7 MiB
// of the gateway binary.
const (
	maxImageBytes  = 40 << 20
	baseImageBytes = 3 << 20
)

// TestDockerfileBuildsStaticBinaries runs the Dockerfile's own go build
// commands on this machine: what the image build would compile must compile,
// be static (the runtime image has no libc) and fit the size budget.
func TestDockerfileBuildsStaticBinaries(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain: %v", err)
	}
	const version = "v0.0.0-deploytest"
	dir := t.TempDir()
	for _, b := range dockerGoBuilds(t) {
		t.Run(b.pkg, func(t *testing.T) {
			out := filepath.Join(dir, path.Base(b.out))
			args := slices.Clone(b.args)
			for i, a := range args {
				switch {
				case i > 0 && args[i-1] == "-o":
					args[i] = out
				default:
					// A version recognisable in `gateway version` below.
					args[i] = strings.ReplaceAll(a, "main.version=dev", "main.version="+version)
				}
			}
			// The first run compiles every dependency with -trimpath, which
			// takes minutes on a small machine; later runs hit the build cache.
			ctx, cancel := buildContext(t)
			defer cancel()
			cmd := exec.CommandContext(ctx, goBin, args...)
			cmd.Dir = root
			cmd.Env = os.Environ()
			for _, kv := range b.env {
				// GOOS=${TARGETOS} is empty outside buildx: build for this machine.
				if k, v, _ := strings.Cut(kv, "="); v != "" {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
			}
			if output, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, output)
			}
			checkStatic(t, out)
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.1f MiB", path.Base(b.out), float64(fi.Size())/(1<<20))
			// Each image holds one binary on the shared base.
			if fi.Size()+baseImageBytes > maxImageBytes {
				t.Errorf("%s takes %.1f MiB: with the base image that exceeds the %d MiB budget",
					path.Base(b.out), float64(fi.Size())/(1<<20), maxImageBytes>>20)
			}

			if b.pkg == "./cmd/gateway" {
				// The -X flag lands in the variable `gateway version` prints.
				vctx, vcancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer vcancel()
				got, err := exec.CommandContext(vctx, out, "version").CombinedOutput()
				if err != nil || !bytes.Contains(got, []byte(version)) {
					t.Errorf("gateway version = %q (err %v), want it to contain %s", got, err, version)
				}
			}
		})
	}
}

// buildContext bounds a subprocess by the test's own deadline, keeping a
// few seconds to report the failure.
func buildContext(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	if d, ok := t.Deadline(); ok {
		return context.WithDeadline(context.Background(), d.Add(-10*time.Second))
	}
	return context.WithTimeout(context.Background(), 10*time.Minute)
}

// checkStatic fails unless the ELF file at path needs no dynamic loader and
// no shared library.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP program header: it needs a dynamic loader", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}

func TestDockerignore(t *testing.T) {
	rules, err := parseDockerignore(mustRead(t, repoPath(".dockerignore")))
	if err != nil {
		t.Fatal(err)
	}
	// Everything the build reads must reach the build context.
	needed := []string{"go.mod", "go.sum"}
	for _, f := range shippedFiles(t) {
		needed = append(needed, "config/"+f)
	}
	ctx, cancel := buildContext(t)
	defer cancel()
	var pkgs []string
	for _, b := range dockerGoBuilds(t) {
		pkgs = append(pkgs, b.pkg)
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-e", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}"}, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		rel, err := filepath.Rel(abs, fields[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency, not in the context
		}
		for _, f := range fields[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 5 {
		t.Fatalf("found only %v to check", needed)
	}
	for _, f := range needed {
		if ignored(rules, f) {
			t.Errorf(".dockerignore leaves %s out of the build context", f)
		}
	}
	for _, f := range []string{".git/config", "data/nats/jetstream/x", "bin/gateway", "deploy/deploy.test", "gateway"} {
		if !ignored(rules, f) {
			t.Errorf(".dockerignore sends %s to the build context", f)
		}
	}
}

func TestIgnored(t *testing.T) {
	rules, err := parseDockerignore("# c\n.git\n**/*.md\n!docs/keep.md\ndata\n/bin\n*.test\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{".git/objects/ab", true},
		{"README.md", true},
		{"docs/x.md", true},
		{"docs/keep.md", false},
		{"data/nats/x", true},
		{"config/data", false},
		{"bin/gateway", true},
		{"x.test", true},
		{"deploy/x.test", false},
		{"go.mod", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := ignored(rules, tt.path); got != tt.want {
				t.Errorf("ignored(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestShellWords(t *testing.T) {
	vars := map[string]string{"VERSION": "1.2", "EMPTY": ""}
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", `go build ./x`, []string{"go", "build", "./x"}},
		{"double quotes expand", `-ldflags="-s -X v=${VERSION}"`, []string{"-ldflags=-s -X v=1.2"}},
		{"single quotes do not", `'$VERSION x'`, []string{"$VERSION x"}},
		{"lists", `a && b || c; d | e`, []string{"a", "&&", "b", "||", "c", ";", "d", "|", "e"}},
		{"empty variable", `GOOS=${EMPTY} go`, []string{"GOOS=", "go"}},
		{"escapes", `a\ b "c\"d"`, []string{"a b", `c"d`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := shellWords(tt.in, vars)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{`"open`, `'open`, `${OPEN`} {
		if _, err := shellWords(bad, vars); err == nil {
			t.Errorf("shellWords(%q) accepted", bad)
		}
	}
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"SET": "v", "EMPTY": ""}
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"default when unset", "${OPENAI_API_KEY:-}", "", false},
		{"default value", "${X:-https://api.openai.com}", "https://api.openai.com", false},
		{"set wins", "${SET:-d}", "v", false},
		{"empty with colon", "${EMPTY:-d}", "d", false},
		{"empty without colon", "${EMPTY-d}", "", false},
		{"plain", "a $SET b", "a v b", false},
		{"escaped", "$$HOME", "$HOME", false},
		{"required", "${MISSING:?set it}", "", true},
		{"unterminated", "${OPEN", "${OPEN", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := interpolate(tt.in, env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseNginx(t *testing.T) {
	ds, err := parseNginx("events {}\nhttp { # c\n upstream u { server a:1; server 'b:2' max_fails=3; }\n server { location / { proxy_pass http://u; } } }")
	if err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, s := range find(ds, "server") {
		if len(s.Args) > 0 {
			servers = append(servers, s.Args[0])
		}
	}
	if !slices.Equal(servers, []string{"a:1", "b:2"}) {
		t.Errorf("servers %v", servers)
	}
	for _, bad := range []string{"a {", "a }", "a", "a { b; } }", `a "x;`} {
		if _, err := parseNginx(bad); err == nil {
			t.Errorf("parseNginx(%q) accepted", bad)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\nARG V=1\nFROM --platform=$BUILDPLATFORM golang:1 AS build\nARG V\nRUN a \\\n  # comment inside\n  && b\nFROM scratch\nENV A=1 B=\"two words\"\nCOPY --from=build --chown=1:1 /x /y /z/\n"
	df, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(df.Stages) != 2 || df.Stages[0].Name != "build" || df.Stages[0].Platform != "$BUILDPLATFORM" || df.final().Base != "scratch" {
		t.Fatalf("stages %+v", df.Stages)
	}
	if got := df.args(df.Stages[0]); got["V"] != "1" {
		t.Errorf("ARG V = %q, want the global default 1", got["V"])
	}
	if run, _ := df.Stages[0].lastArgs("RUN"); strings.Join(strings.Fields(run), " ") != "a && b" {
		t.Errorf("RUN %q", run)
	}
	env, err := df.final().env()
	if err != nil || env["A"] != "1" || env["B"] != "two words" {
		t.Errorf("ENV %v (err %v)", env, err)
	}
	c, err := parseCopy(df.final().all("COPY")[0].Args)
	if err != nil || c.From != "build" || c.Chown != "1:1" || c.Dest != "/z/" || len(c.Srcs) != 2 {
		t.Errorf("COPY %+v (err %v)", c, err)
	}
	for _, bad := range []string{"", "RUN x", "FROM a b c"} {
		if _, err := parseDockerfile(bad); err == nil {
			t.Errorf("parseDockerfile(%q) accepted", bad)
		}
	}
}

// ---- fuzz targets for the test parsers -------------------------------------

func FuzzParseDockerfile(f *testing.F) {
	f.Add(mustReadF(f, repoPath("Dockerfile")))
	f.Add("FROM a\nRUN b \\\n")
	f.Fuzz(func(t *testing.T, src string) {
		df, err := parseDockerfile(src)
		if err != nil {
			return
		}
		if len(df.Stages) == 0 {
			t.Fatal("no stages and no error")
		}
		for _, st := range df.Stages {
			_, _ = st.env()
			for _, in := range st.all("COPY") {
				_, _ = parseCopy(in.Args)
			}
			for _, in := range st.all("RUN") {
				if words, err := shellWords(runCommand(in.Args), df.args(st)); err == nil {
					_ = splitCommands(words)
				}
			}
		}
	})
}

func FuzzShellWords(f *testing.F) {
	f.Add(`CGO_ENABLED=0 go build -ldflags="-s -w -X main.version=${VERSION}" -o /out/x ./cmd/x && echo 'a b'`)
	f.Fuzz(func(t *testing.T, s string) {
		words, err := shellWords(s, map[string]string{"VERSION": "v"})
		if err != nil {
			return
		}
		for _, cmd := range splitCommands(words) {
			if len(cmd) == 0 {
				t.Fatal("empty command")
			}
		}
	})
}

func FuzzParseDockerignore(f *testing.F) {
	f.Add(mustReadF(f, repoPath(".dockerignore")), "config/default.toml")
	f.Add("[a-\n!**/x", "a/x")
	f.Fuzz(func(t *testing.T, src, path string) {
		rules, err := parseDockerignore(src)
		if err != nil {
			return
		}
		_ = ignored(rules, path)
	})
}

func FuzzParseNginx(f *testing.F) {
	f.Add(mustReadF(f, repoPath("deploy", "compose", "nginx.conf")))
	f.Fuzz(func(t *testing.T, src string) {
		ds, err := parseNginx(src)
		if err != nil {
			return
		}
		for _, d := range find(ds, "proxy_read_timeout") {
			if len(d.Args) > 0 {
				_, _ = nginxDuration(d.Args[0])
			}
		}
	})
}

func FuzzInterpolate(f *testing.F) {
	f.Add("${OPENAI_BASE_URL:-https://api.openai.com} $$x ${A?} $B")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := interpolate(s, map[string]string{"A": "1"})
		if err == nil && !strings.Contains(s, "$") && out != s {
			t.Fatalf("interpolate(%q) = %q: text without $ must not change", s, out)
		}
	})
}

func mustReadF(f *testing.F, path string) string {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}
