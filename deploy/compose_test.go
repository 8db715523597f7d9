package deploy

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/aigateway/gateway/config"
)

// composeFile is a parsed Compose file. Relative paths in it are resolved
// against base, the directory of the first -f file it is used with.
type composeFile struct {
	path     string // repository-relative
	base     string // repository-relative
	raw      map[string]any
	services map[string]*service
}

// service is one service of a Compose file.
type service struct {
	name string
	file *composeFile
	raw  map[string]any
}

// composeBase says which directory a Compose file's relative paths start
// from: the root file stands alone, the files of deploy/compose are used
// with -f from there.
func composeBase(path string) string {
	if filepath.Dir(path) == "." {
		return "."
	}
	return "deploy/compose"
}

func loadCompose(t *testing.T, path string) *composeFile {
	t.Helper()
	c := &composeFile{path: path, base: composeBase(path), raw: yamlDoc(t, repoPath(path)), services: map[string]*service{}}
	for name, raw := range mapping(c.raw["services"]) {
		c.services[name] = &service{name: name, file: c, raw: mapping(raw)}
	}
	if len(c.services) == 0 {
		t.Fatalf("%s: no services", path)
	}
	return c
}

func (c *composeFile) service(t *testing.T, name string) *service {
	t.Helper()
	s, ok := c.services[name]
	if !ok {
		t.Fatalf("%s: no service %s", c.path, name)
	}
	return s
}

// resolve turns a path of the file into a repository-relative one.
func (c *composeFile) resolve(p string) string {
	return filepath.Clean(filepath.Join(c.base, p))
}

func (s *service) image() string { return str(s.raw["image"]) }

// imageRepo returns the image without its tag.
func (s *service) imageRepo() string {
	img := s.image()
	if i := strings.LastIndexByte(img, ':'); i > strings.LastIndexByte(img, '/') {
		return img[:i]
	}
	return img
}

// buildSpec is a service's build section, paths repository-relative.
type buildSpec struct {
	context, dockerfile, target string
}

// build returns the service's build section, if it has one.
func (s *service) build(t *testing.T) (buildSpec, bool) {
	t.Helper()
	switch b := s.raw["build"].(type) {
	case nil:
		return buildSpec{}, false
	case string:
		ctx := s.file.resolve(b)
		return buildSpec{context: ctx, dockerfile: filepath.Join(ctx, "Dockerfile")}, true
	case map[string]any:
		ctx := s.file.resolve(str(b["context"]))
		df := str(b["dockerfile"])
		if df == "" {
			df = "Dockerfile"
		}
		return buildSpec{context: ctx, dockerfile: filepath.Join(ctx, df), target: str(b["target"])}, true
	}
	t.Fatalf("%s: build has type %T", s.name, s.raw["build"])
	return buildSpec{}, false
}

// composeHostEnv is the host environment the files are read with: the
// variables their headers tell an operator to set, with example values.
var composeHostEnv = map[string]string{"TEAM_A_KEY": "sk-example-team-a"}

// env returns the service's environment after interpolation with
// composeHostEnv.
func (s *service) env(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	set := func(k, v string) {
		v, err := interpolate(v, composeHostEnv)
		if err != nil {
			t.Errorf("%s: %s: %v", s.name, k, err)
		}
		env[k] = v
	}
	switch e := s.raw["environment"].(type) {
	case nil:
	case map[string]any:
		for k, v := range e {
			set(k, str(v))
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(str(kv), "=")
			set(k, v)
		}
	default:
		t.Fatalf("%s: environment has type %T", s.name, e)
	}
	return env
}

// words returns a command-like field as a list.
func (s *service) words(t *testing.T, key string) []string {
	t.Helper()
	switch v := s.raw[key].(type) {
	case nil:
		return nil
	case string:
		w, err := shellWords(v, nil)
		if err != nil {
			t.Fatalf("%s: %s: %v", s.name, key, err)
		}
		return w
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, str(x))
		}
		return out
	}
	t.Fatalf("%s: %s has type %T", s.name, key, s.raw[key])
	return nil
}

func (s *service) command(t *testing.T) []string    { return s.words(t, "command") }
func (s *service) entrypoint(t *testing.T) []string { return s.words(t, "entrypoint") }

// runsGateway reports whether the service runs the gateway binary of our image.
func (s *service) runsGateway(t *testing.T) bool {
	t.Helper()
	ep := s.entrypoint(t)
	return s.imageRepo() == imageRepo && (len(ep) == 0 || ep[0] == "/usr/local/bin/gateway")
}

// configFile is the config file the service's gateway loads.
func (s *service) configFile(t *testing.T) string {
	t.Helper()
	if env := s.env(t)["GATEWAY_ENV"]; env != "" {
		return env + ".toml"
	}
	return "default.toml"
}

// mount is a volume of a service: a bind mount (source set) or a named volume.
type mount struct {
	source   string // repository-relative, bind mounts only
	volume   string // named volume
	target   string
	readOnly bool
}

func (s *service) mounts(t *testing.T) []mount {
	t.Helper()
	var out []mount
	for _, v := range list(s.raw["volumes"]) {
		var m mount
		switch x := v.(type) {
		case string:
			parts := strings.Split(x, ":")
			if len(parts) < 2 {
				t.Fatalf("%s: volume %q: want SOURCE:TARGET[:MODE]", s.name, x)
			}
			src := parts[0]
			m.target = parts[1]
			if len(parts) > 2 {
				m.readOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
			}
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				m.source = s.file.resolve(src)
			} else {
				m.volume = src
			}
		case map[string]any:
			m.target = str(x["target"])
			m.readOnly = x["read_only"] == true
			if str(x["type"]) == "bind" {
				m.source = s.file.resolve(str(x["source"]))
			} else {
				m.volume = str(x["source"])
			}
		default:
			t.Fatalf("%s: volume has type %T", s.name, v)
		}
		out = append(out, m)
	}
	return out
}

// published is a published port.
type published struct {
	hostIP    string
	host      int
	container int
}

func (s *service) ports(t *testing.T) []published {
	t.Helper()
	var out []published
	for _, p := range list(s.raw["ports"]) {
		expanded, err := interpolate(str(p), composeHostEnv)
		if err != nil {
			t.Fatalf("%s: port %q: %v", s.name, str(p), err)
		}
		spec, _, _ := strings.Cut(expanded, "/")
		parts := strings.Split(spec, ":")
		var pp published
		switch len(parts) {
		case 1:
			pp.container, err = strconv.Atoi(parts[0])
			pp.host = pp.container
		case 2:
			pp.host, _ = strconv.Atoi(parts[0])
			pp.container, err = strconv.Atoi(parts[1])
		case 3:
			pp.hostIP = parts[0]
			pp.host, _ = strconv.Atoi(parts[1])
			pp.container, err = strconv.Atoi(parts[2])
		default:
			t.Fatalf("%s: port %q", s.name, str(p))
		}
		if err != nil {
			t.Fatalf("%s: port %q: %v", s.name, str(p), err)
		}
		out = append(out, pp)
	}
	return out
}

// containerPorts returns the ports published or exposed by the service.
func (s *service) containerPorts(t *testing.T) []int {
	t.Helper()
	var out []int
	for _, p := range s.ports(t) {
		out = append(out, p.container)
	}
	for _, e := range list(s.raw["expose"]) {
		n, err := strconv.Atoi(str(e))
		if err != nil {
			t.Fatalf("%s: expose %v: %v", s.name, e, err)
		}
		out = append(out, n)
	}
	return out
}

func (s *service) dependsOn() []string {
	var out []string
	switch d := s.raw["depends_on"].(type) {
	case []any:
		for _, x := range d {
			out = append(out, str(x))
		}
	case map[string]any:
		for k := range d {
			out = append(out, k)
		}
	}
	return out
}

// composeProjects are the Compose files and the files each is used with.
var composeProjects = []struct {
	file      string
	companion []string // files it is combined with by -f
}{
	{"docker-compose.yml", nil},
	{"deploy/compose/single.yml", nil},
	{"deploy/compose/split.yml", nil},
	{"deploy/compose/monitoring.yml", []string{"deploy/compose/single.yml", "deploy/compose/split.yml"}},
}

func TestComposeFiles(t *testing.T) {
	df := loadDockerfile(t)
	image := imageFacts(t)
	mockStage, ok := df.stage(mockTarget)
	if !ok {
		t.Fatalf("the Dockerfile has no %s stage", mockTarget)
	}
	mock := imageFactsFor(t, df, mockStage)
	validEnv := envNames(t)
	for _, proj := range composeProjects {
		t.Run(proj.file, func(t *testing.T) {
			c := loadCompose(t, proj.file)
			known := map[string]bool{}
			for name := range c.services {
				known[name] = true
			}
			for _, f := range proj.companion {
				for name := range loadCompose(t, f).services {
					known[name] = true
				}
			}
			volumes := mapping(c.raw["volumes"])
			for _, name := range sortedServiceNames(c) {
				s := c.services[name]
				t.Run(name, func(t *testing.T) {
					checkComposeService(t, s, df, image, mock, validEnv, known, volumes)
				})
			}
		})
	}
}

func sortedServiceNames(c *composeFile) []string {
	var names []string
	for n := range c.services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func checkComposeService(t *testing.T, s *service, df dockerfile, image, mock imageInfo, validEnv map[string]bool, known map[string]bool, volumes map[string]any) {
	t.Helper()
	if s.image() == "" {
		t.Fatal("no image")
	}
	ours := s.imageRepo() == imageRepo || s.imageRepo() == mockRepo
	if !ours {
		// Third-party images are pinned: "latest" changes under a deployment.
		if tag := strings.TrimPrefix(s.image(), s.imageRepo()); tag == "" || tag == ":latest" {
			t.Errorf("image %s is not pinned to a version", s.image())
		}
	}
	if b, ok := s.build(t); ok {
		if _, err := os.Stat(repoPath(b.context, "go.mod")); err != nil {
			t.Errorf("build context %s is not the module root: %v", b.context, err)
		}
		if filepath.Clean(b.dockerfile) != "Dockerfile" {
			t.Errorf("builds %s, want the repository's Dockerfile", b.dockerfile)
		}
		want := imageRepo
		switch b.target {
		case "", df.final().Name:
		case mockTarget:
			want = mockRepo
		default:
			if _, ok := df.stage(b.target); !ok {
				t.Errorf("build target %s is no stage of the Dockerfile", b.target)
			}
			want = ""
		}
		if s.imageRepo() != want {
			t.Errorf("builds target %q but tags it %s, want %s", b.target, s.image(), want)
		}
	}
	for _, d := range s.dependsOn() {
		if !known[d] {
			t.Errorf("depends on %s, which is no service of the project", d)
		}
		cond := str(dig(s.raw, "depends_on", d, "condition"))
		if dep := s.file.services[d]; cond == "service_healthy" && dep != nil {
			_, own := dep.raw["healthcheck"]
			if !own && dep.imageRepo() != imageRepo {
				t.Errorf("waits for %s to be healthy, but %s has no health check", d, d)
			}
		}
	}
	for _, m := range s.mounts(t) {
		switch {
		case m.source != "":
			if _, err := os.Stat(repoPath(m.source)); err != nil {
				t.Errorf("bind mount source %s: %v", m.source, err)
			}
		case m.volume != "":
			if _, ok := volumes[m.volume]; !ok {
				t.Errorf("named volume %s is not declared", m.volume)
			}
		}
	}
	env := s.env(t)
	if s.imageRepo() == mockRepo {
		checkMockService(t, s, mock)
		return
	}
	if s.imageRepo() != imageRepo {
		return
	}
	for name := range env {
		if strings.HasPrefix(name, "GATEWAY_") && !validEnv[name] {
			t.Errorf("environment %s is no key of the config schema", name)
		}
	}
	if !s.runsGateway(t) {
		t.Fatalf("runs %v from the gateway image", s.entrypoint(t))
	}
	if cmd := s.command(t); len(cmd) > 0 && cmd[0] != "ingress" && cmd[0] != "worker" {
		t.Errorf("command %v: want none (all in one), ingress or worker", cmd)
	}

	// The configuration the container reads.
	configMounted := false
	for _, m := range s.mounts(t) {
		if m.target == image.configDir {
			configMounted = true
			if m.source != "config" || !m.readOnly {
				t.Errorf("%s mounted from %q read-only=%v, want config/ read-only", m.target, m.source, m.readOnly)
			}
		}
	}
	if !configMounted {
		t.Errorf("config is not mounted at %s (the image's GATEWAY_CONFIG_DIR)", image.configDir)
	}
	file := s.configFile(t)
	loadEnv := map[string]string{"GATEWAY_CONFIG_DIR": image.configDir, "GATEWAY_BUS_STORE_DIR": image.storeDir}
	for k, v := range env {
		loadEnv[k] = v
	}
	if err := loadWithEnv(file, loadEnv); err != nil {
		t.Errorf("config/%s with this environment does not load: %v", file, err)
	}

	// Ports: only the gateway's own, and reachable from outside the container.
	cfg := shippedConfig(t, file)
	p := gatewayPorts(t, cfg, env)
	for _, port := range s.containerPorts(t) {
		switch port {
		case p.HTTP:
			if slices.Equal(s.command(t), []string{"worker"}) {
				t.Errorf("a worker opens port %d (server.port): it serves no API, only its ops port %d", port, p.Worker)
			}
		case p.Worker:
			if !slices.Equal(s.command(t), []string{"worker"}) {
				t.Errorf("publishes the worker port %d, but runs no worker", port)
			}
		case p.Monitor:
			if host, _, _ := net.SplitHostPort(env["GATEWAY_BUS_MONITOR"]); host != "0.0.0.0" {
				t.Errorf("publishes NATS monitoring port %d, but GATEWAY_BUS_MONITOR=%q listens on loopback inside the container", port, env["GATEWAY_BUS_MONITOR"])
			}
		case p.NATS:
			if host, _, _ := net.SplitHostPort(env["GATEWAY_BUS_LISTEN"]); host != "0.0.0.0" {
				t.Errorf("publishes NATS port %d, but GATEWAY_BUS_LISTEN=%q does not listen on all interfaces", port, env["GATEWAY_BUS_LISTEN"])
			}
		default:
			t.Errorf("publishes port %d, which is none of the gateway's (%+v)", port, p)
		}
		if !slices.Contains(image.expose, port) {
			t.Errorf("port %d is not EXPOSEd by the Dockerfile (%v)", port, image.expose)
		}
	}

	// An embedded NATS server keeps its JetStream store on a volume.
	mode := cfg.Bus.Mode
	if v, ok := env["GATEWAY_BUS_MODE"]; ok {
		mode = v
	}
	if mode == "embedded" {
		onVolume := false
		for _, m := range s.mounts(t) {
			if m.volume != "" && strings.HasPrefix(image.storeDir+"/", m.target+"/") {
				onVolume = true
			}
		}
		if !onVolume {
			t.Errorf("embedded NATS store %s is not on a volume", image.storeDir)
		}
	}

	// Upstream URLs that name a service of the project must hit a port it opens.
	for k, v := range env {
		if !strings.HasPrefix(k, "GATEWAY_UPSTREAMS_") || !strings.HasSuffix(k, "_URL") {
			continue
		}
		u, err := url.Parse(v)
		if err != nil {
			t.Errorf("%s=%q: %v", k, v, err)
			continue
		}
		if target, ok := s.file.services[u.Hostname()]; ok {
			port, _ := strconv.Atoi(u.Port())
			if !slices.Contains(target.containerPorts(t), port) {
				t.Errorf("%s=%s, but %s opens %v", k, v, target.name, target.containerPorts(t))
			}
		}
	}
}

// checkMockService checks a service that runs the mock upstream image.
func checkMockService(t *testing.T, s *service, mock imageInfo) {
	t.Helper()
	// Compose's entrypoint replaces the image's; command is appended to it.
	argv := s.entrypoint(t)
	if len(argv) == 0 {
		argv = slices.Clone(mock.entrypoint)
	}
	argv = append(argv, s.command(t)...)
	if len(argv) == 0 || argv[0] != "/usr/local/bin/mockupstream" {
		t.Fatalf("runs %v, want /usr/local/bin/mockupstream", argv)
	}
	addr := ""
	for i, a := range argv {
		if (a == "-addr" || a == "--addr") && i+1 < len(argv) {
			addr = argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, "-addr="); ok {
			addr = v
		}
	}
	if addr == "" {
		t.Fatal("no -addr: the mock listens on loopback by default, unreachable from other containers")
	}
	host, port, _ := net.SplitHostPort(addr)
	if host != "0.0.0.0" {
		t.Errorf("-addr %s is not reachable from other containers", addr)
	}
	n, _ := strconv.Atoi(port)
	if !slices.Contains(s.containerPorts(t), n) && !slices.Contains(mock.expose, n) {
		t.Errorf("listens on %d but neither the service nor the image exposes it", n)
	}
}

func TestComposeSplit(t *testing.T) {
	c := loadCompose(t, "deploy/compose/split.yml")
	var natsNames, ingresses, workers []string
	for _, name := range sortedServiceNames(c) {
		s := c.services[name]
		switch {
		case strings.HasPrefix(s.image(), "nats:"):
			natsNames = append(natsNames, name)
		case s.runsGateway(t) && slices.Equal(s.command(t), []string{"ingress"}):
			ingresses = append(ingresses, name)
		case s.runsGateway(t) && slices.Equal(s.command(t), []string{"worker"}):
			workers = append(workers, name)
		}
	}
	if len(natsNames) != 3 || len(ingresses) < 2 || len(workers) < 2 {
		t.Fatalf("nats %v, ingresses %v, workers %v: want 3 NATS servers and at least 2 of each", natsNames, ingresses, workers)
	}

	// NATS: each server's config, read by nats-server's own parser.
	clientPorts := map[string]int{}
	for _, name := range natsNames {
		t.Run(name, func(t *testing.T) {
			s := c.services[name]
			conf := ""
			for _, m := range s.mounts(t) {
				if m.source != "" && strings.HasSuffix(m.source, ".conf") {
					conf = m.source
					cmd := s.command(t)
					if i := slices.Index(cmd, "--config"); i < 0 || i+1 >= len(cmd) || cmd[i+1] != m.target {
						t.Errorf("command %v does not load the mounted %s", cmd, m.target)
					}
				}
			}
			if conf == "" {
				t.Fatal("no .conf file mounted")
			}
			for k, v := range s.env(t) {
				t.Setenv(k, v)
			}
			opts, err := natsserver.ProcessConfigFile(repoPath(conf))
			if err != nil {
				t.Fatalf("%s: %v", conf, err)
			}
			clientPorts[name] = opts.Port
			if opts.ServerName != name {
				t.Errorf("server_name %q, want the service name %q", opts.ServerName, name)
			}
			if !opts.JetStream {
				t.Error("JetStream is off")
			}
			if opts.HTTPPort != 8222 {
				t.Errorf("monitoring port %d, want 8222 (the exporters scrape it)", opts.HTTPPort)
			}
			if min := config.Default().Bus.MaxPayload; int(opts.MaxPayload) < min {
				t.Errorf("max_payload %d is below the gateway's bus.max_payload %d", opts.MaxPayload, min)
			}
			if opts.WriteDeadline != 0 && opts.WriteDeadline < 10*time.Second {
				t.Errorf("write_deadline %s is shorter than the NATS default", opts.WriteDeadline)
			}
			var routes []string
			for _, r := range opts.Routes {
				if r.Port() != strconv.Itoa(opts.Cluster.Port) {
					t.Errorf("route %s does not use the cluster port %d", r, opts.Cluster.Port)
				}
				routes = append(routes, r.Hostname())
			}
			slices.Sort(routes)
			if !slices.Equal(routes, natsNames) {
				t.Errorf("routes %v, want every NATS service %v", routes, natsNames)
			}
		})
	}

	// Gateway processes: external bus over every server, keys only on workers.
	for _, name := range append(slices.Clone(ingresses), workers...) {
		t.Run(name, func(t *testing.T) {
			env := c.services[name].env(t)
			// The production shape: the production profile's access control
			// and bus settings, only the cluster's URLs from the environment.
			if env["GATEWAY_ENV"] != "production" {
				t.Errorf("GATEWAY_ENV=%q, want production (config/production.toml)", env["GATEWAY_ENV"])
			}
			cfg := shippedConfig(t, c.services[name].configFile(t))
			if !cfg.Access.Enabled {
				t.Errorf("%s runs with access control off", c.services[name].configFile(t))
			}
			mode, replicas := cfg.Bus.Mode, strconv.Itoa(cfg.Bus.Replicas)
			if v, ok := env["GATEWAY_BUS_MODE"]; ok {
				mode = v
			}
			if v, ok := env["GATEWAY_BUS_REPLICAS"]; ok {
				replicas = v
			}
			if mode != "external" {
				t.Errorf("bus mode %q, want external", mode)
			}
			var hosts []string
			for _, u := range strings.Split(env["GATEWAY_BUS_URL"], ",") {
				pu, err := url.Parse(strings.TrimSpace(u))
				if err != nil || pu.Scheme != "nats" {
					t.Errorf("GATEWAY_BUS_URL entry %q is not a nats:// URL", u)
					continue
				}
				if port, _ := strconv.Atoi(pu.Port()); port != clientPorts[pu.Hostname()] {
					t.Errorf("GATEWAY_BUS_URL entry %s: %s listens on %d", u, pu.Hostname(), clientPorts[pu.Hostname()])
				}
				hosts = append(hosts, pu.Hostname())
			}
			slices.Sort(hosts)
			if !slices.Equal(hosts, natsNames) {
				t.Errorf("GATEWAY_BUS_URL names %v, want every NATS server %v", hosts, natsNames)
			}
			if r, _ := strconv.Atoi(replicas); r < 1 || r > len(natsNames) {
				t.Errorf("bus replicas %q with %d servers", replicas, len(natsNames))
			}
			for k := range env {
				if slices.Contains(ingresses, name) && strings.HasPrefix(k, "GATEWAY_UPSTREAMS_") && strings.HasSuffix(k, "_API_KEY") {
					t.Errorf("ingress holds provider key %s; only workers call providers", k)
				}
			}
		})
	}

	// nginx in front of the ingresses, streaming-friendly.
	t.Run("nginx", func(t *testing.T) {
		s := c.service(t, "nginx")
		conf := ""
		for _, m := range s.mounts(t) {
			if m.target == "/etc/nginx/nginx.conf" {
				conf = m.source
			}
		}
		if conf == "" {
			t.Fatal("nginx.conf is not mounted at /etc/nginx/nginx.conf")
		}
		ds, err := parseNginx(mustRead(t, repoPath(conf)))
		if err != nil {
			t.Fatalf("%s: %v", conf, err)
		}
		var servers []string
		for _, up := range find(ds, "upstream") {
			for _, srv := range find(up.Children, "server") {
				host, port, err := net.SplitHostPort(srv.Args[0])
				if err != nil {
					t.Errorf("upstream server %q: %v", srv.Args[0], err)
					continue
				}
				if !slices.Contains(ingresses, host) {
					t.Errorf("upstream server %s is not an ingress service (%v)", host, ingresses)
					continue
				}
				want := gatewayPorts(t, shippedConfig(t, c.services[host].configFile(t)), c.services[host].env(t)).HTTP
				if n, _ := strconv.Atoi(port); n != want {
					t.Errorf("upstream server %s, but the ingress listens on %d", srv.Args[0], want)
				}
				servers = append(servers, host)
			}
		}
		slices.Sort(servers)
		if !slices.Equal(servers, ingresses) {
			t.Errorf("upstream servers %v, want every ingress %v", servers, ingresses)
		}
		locations := find(ds, "location")
		if len(locations) == 0 {
			t.Fatal("no location")
		}
		for _, loc := range locations {
			get := func(name string) string {
				if d := find(loc.Children, name); len(d) > 0 {
					return strings.Join(d[len(d)-1].Args, " ")
				}
				return ""
			}
			if get("proxy_buffering") != "off" {
				t.Errorf("location %v: proxy_buffering %q, want off (SSE must not wait for a full buffer)", loc.Args, get("proxy_buffering"))
			}
			if get("proxy_http_version") != "1.1" {
				t.Errorf("location %v: proxy_http_version %q, want 1.1", loc.Args, get("proxy_http_version"))
			}
			read, err := nginxDuration(get("proxy_read_timeout"))
			if err != nil {
				t.Errorf("proxy_read_timeout: %v", err)
			}
			// The longest silence before a first byte the gateway allows.
			if min := config.DefaultUpstream().FirstByteTimeout.Duration; time.Duration(read)*time.Second < min {
				t.Errorf("proxy_read_timeout %ds is shorter than the upstream first_byte_timeout %s", read, min)
			}
		}
		listen := find(ds, "listen")
		if len(listen) == 0 {
			t.Fatal("no listen")
		}
		port, _ := strconv.Atoi(listen[0].Args[0])
		if !slices.Contains(s.containerPorts(t), port) {
			t.Errorf("nginx listens on %d but the service publishes %v", port, s.containerPorts(t))
		}
	})
}

func TestComposeMonitoringExporters(t *testing.T) {
	monitoring := loadCompose(t, "deploy/compose/monitoring.yml")
	targets := map[string]*service{}
	for _, f := range []string{"deploy/compose/single.yml", "deploy/compose/split.yml"} {
		for name, s := range loadCompose(t, f).services {
			targets[name] = s
		}
	}
	found := 0
	for _, name := range sortedServiceNames(monitoring) {
		s := monitoring.services[name]
		if !strings.HasPrefix(s.image(), "natsio/prometheus-nats-exporter") {
			continue
		}
		found++
		t.Run(name, func(t *testing.T) {
			cmd := s.command(t)
			if len(cmd) == 0 || !slices.Contains(cmd, "-varz") {
				t.Fatalf("command %v: the dashboard needs -varz", cmd)
			}
			if !slices.Contains(cmd, "-healthz") {
				t.Errorf("command %v: the NATSServerUnhealthy alert needs -healthz", cmd)
			}
			u, err := url.Parse(cmd[len(cmd)-1])
			if err != nil {
				t.Fatal(err)
			}
			target, ok := targets[u.Hostname()]
			if !ok {
				t.Fatalf("scrapes %s, which is no service of single.yml or split.yml", u)
			}
			port, _ := strconv.Atoi(u.Port())
			if strings.HasPrefix(target.image(), "nats:") {
				if port != 8222 {
					t.Errorf("scrapes %s, NATS monitoring is on 8222", u)
				}
				return
			}
			// The embedded server of a single-process gateway.
			p := gatewayPorts(t, shippedConfig(t, target.configFile(t)), target.env(t))
			if port != p.Monitor {
				t.Errorf("scrapes %s, the gateway's NATS monitoring is on %d", u, p.Monitor)
			}
			if host, _, _ := net.SplitHostPort(target.env(t)["GATEWAY_BUS_MONITOR"]); host != "0.0.0.0" {
				t.Errorf("%s keeps NATS monitoring on loopback: the exporter cannot reach it", target.name)
			}
		})
	}
	if found < 3 {
		t.Errorf("%d NATS exporters, want one per cluster server", found)
	}
}
