package deploy

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/BurntSushi/toml"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/jsonx"
)

// update rewrites generated files (the Kubernetes ConfigMap) from their source.
var update = flag.Bool("update", false, "rewrite generated deployment files from their sources")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// root is the repository root, relative to this package's directory.
const root = ".."

// imageRepo is the published image; every file that runs the gateway uses it.
const imageRepo = "ghcr.io/aigateway/gateway"

// repoPath joins slash-separated parts onto the repository root.
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{root}, parts...)...)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// yamlDoc decodes a single-document YAML file.
func yamlDoc(t *testing.T, path string) map[string]any {
	t.Helper()
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: want one YAML document, got %d", path, len(docs))
	}
	return docs[0]
}

// dig walks nested maps and lists by key or index ("0", "1"...); it returns
// nil when the path does not exist.
func dig(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func mapping(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// portOf returns the port of "host:port".
func portOf(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%q: port: %v", hostport, err)
	}
	return n
}

// ---- configuration facts --------------------------------------------------

// shippedConfig reads one of config/*.toml with BurntSushi/toml over the
// built-in defaults, without environment overrides.
func shippedConfig(t *testing.T, name string) config.Config {
	t.Helper()
	cfg := config.Default()
	if _, err := toml.DecodeFile(repoPath("config", name), &cfg); err != nil {
		t.Fatalf("config/%s: %v", name, err)
	}
	return cfg
}

// defaultWorkerPort is where `gateway worker` serves /health/* and
// /metrics ([worker] port, GATEWAY_WORKER_PORT): a worker takes no API
// traffic.
const defaultWorkerPort = 8081

// ports are the container ports of the gateway for one configuration.
type ports struct {
	HTTP, Worker, NATS, Monitor int
}

// gatewayPorts derives the ports from a configuration and GATEWAY_*
// overrides in env.
func gatewayPorts(t *testing.T, cfg config.Config, env map[string]string) ports {
	t.Helper()
	p := ports{HTTP: cfg.Server.Port, Worker: defaultWorkerPort}
	if v, ok := env["GATEWAY_WORKER_PORT"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("GATEWAY_WORKER_PORT=%q: %v", v, err)
		}
		p.Worker = n
	}
	if v, ok := env["GATEWAY_SERVER_PORT"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("GATEWAY_SERVER_PORT=%q: %v", v, err)
		}
		p.HTTP = n
	}
	monitor := cfg.Bus.Monitor
	if v, ok := env["GATEWAY_BUS_MONITOR"]; ok {
		monitor = v
	}
	p.Monitor = portOf(t, monitor)
	listen := cfg.Bus.Listen
	if v, ok := env["GATEWAY_BUS_LISTEN"]; ok {
		listen = v
	}
	if listen == "" {
		// No listener configured: the NATS client port is the one of the
		// default bus.url.
		u := config.Default().Bus.URL
		listen = strings.TrimPrefix(u, "nats://")
	}
	p.NATS = portOf(t, listen)
	return p
}

// envNames lists every GATEWAY_* variable the configuration schema accepts,
// by reflection over config.Config's toml tags: GATEWAY_<SECTION>_<KEY> for
// scalar keys of the tables, GATEWAY_UPSTREAMS_<NAME>_<KEY> for every
// upstream named in a shipped config file (API_KEY included, though it has no
// TOML key), and the variables that pick the file.
func envNames(t *testing.T) map[string]bool {
	t.Helper()
	return envNamesFor(upstreamNames(t))
}

// envNamesFor lists the GATEWAY_* variables for the given upstream names.
func envNamesFor(upstreams []string) map[string]bool {
	names := map[string]bool{
		"GATEWAY_ENV":              true,
		"GATEWAY_CONFIG_DIR":       true,
		"GATEWAY_ACCESS_ADMIN_KEY": true,
	}
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		section := tomlTag(f)
		if section == "" || f.Type.Kind() != reflect.Struct {
			continue
		}
		for _, key := range scalarKeys(f.Type) {
			names["GATEWAY_"+envToken(section)+"_"+envToken(key)] = true
		}
	}
	upstreamKeys := append(scalarKeys(reflect.TypeFor[config.Upstream]()), "api_key")
	for _, u := range upstreams {
		for _, key := range upstreamKeys {
			if key == "name" {
				// The name is what the variable names are derived from.
				continue
			}
			names["GATEWAY_UPSTREAMS_"+envToken(u)+"_"+envToken(key)] = true
		}
	}
	return names
}

var durationType = reflect.TypeFor[config.Duration]()

// scalarKeys returns the toml keys of t's scalar fields (strings, numbers,
// booleans and durations: what one environment variable can hold).
func scalarKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := tomlTag(f)
		if tag == "" {
			continue
		}
		switch {
		case f.Type == durationType:
		case f.Type.Kind() == reflect.String, f.Type.Kind() == reflect.Bool,
			f.Type.Kind() >= reflect.Int && f.Type.Kind() <= reflect.Float64:
		default:
			continue
		}
		keys = append(keys, tag)
	}
	return keys
}

func tomlTag(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if tag == "-" || !f.IsExported() {
		return ""
	}
	return tag
}

func envToken(s string) string {
	return strings.ToUpper(regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(s, "_"))
}

// shippedFiles are the config files the image carries.
func shippedFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(repoPath("config", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no config/*.toml files (err %v)", err)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

// upstreamNames returns the upstream names of every shipped config file.
func upstreamNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range shippedFiles(t) {
		for _, u := range shippedConfig(t, f).Upstreams {
			if !slices.Contains(names, u.Name) {
				names = append(names, u.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}

// keyEnvs returns the key_env variables a config file needs at start-up.
func keyEnvs(cfg config.Config) []string {
	var out []string
	for _, k := range cfg.Access.Keys {
		if k.KeyEnv != "" {
			out = append(out, k.KeyEnv)
		}
	}
	for _, u := range cfg.Upstreams {
		// Key pool variables are the file's own choice too.
		out = append(out, u.APIKeyEnvs...)
	}
	return out
}

// loadWithEnv loads config/<file> the way a container does, with env as its
// whole environment, and reports the loader's verdict.
func loadWithEnv(file string, env map[string]string) error {
	_, err := config.Load(config.LoadOptions{
		Path: repoPath("config", file),
		Env: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
	})
	return err
}

// TestEnvNamesMatchLoader checks the reflection above against the variables
// the config loader itself reads, file by file: the deployment files are only
// checked correctly if both agree.
func TestEnvNamesMatchLoader(t *testing.T) {
	for _, file := range shippedFiles(t) {
		t.Run(file, func(t *testing.T) {
			cfg := shippedConfig(t, file)
			var upstreams []string
			for _, u := range cfg.Upstreams {
				upstreams = append(upstreams, u.Name)
			}
			ours := envNamesFor(upstreams)
			loader := map[string]bool{}
			for _, n := range cfg.EnvNames() {
				if slices.Contains(keyEnvs(cfg), n) && !strings.HasPrefix(n, "GATEWAY_") {
					continue // key_env names are the file's own choice
				}
				loader[n] = true
				if !ours[n] {
					t.Errorf("the loader reads %s, which the deployment checks would reject", n)
				}
			}
			for n := range ours {
				if !loader[n] {
					t.Errorf("the deployment checks accept %s, which the loader ignores", n)
				}
			}
		})
	}
}

// ---- every file parses -----------------------------------------------------

func TestDeploymentFilesParse(t *testing.T) {
	var files []string
	for _, dir := range []string{"deploy"} {
		err := filepath.WalkDir(repoPath(dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch filepath.Ext(path) {
			case ".yml", ".yaml", ".json":
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	files = append(files, repoPath("docker-compose.yml"))
	if len(files) < 15 {
		t.Fatalf("found only %d YAML/JSON files under deploy/", len(files))
	}
	for _, path := range files {
		t.Run(filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator))), func(t *testing.T) {
			data := mustRead(t, path)
			if filepath.Ext(path) == ".json" {
				var v any
				if err := jsonx.Unmarshal([]byte(data), &v); err != nil {
					t.Fatalf("invalid JSON: %v", err)
				}
				return
			}
			if len(yamlDocs(t, path)) == 0 {
				t.Fatal("no YAML document")
			}
		})
	}
}

// ---- metrics ---------------------------------------------------------------

var metricName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func TestMetricContract(t *testing.T) {
	metrics := GatewayMetrics()
	names := GatewayMetricNames()
	if len(metrics) != len(names) {
		t.Fatalf("GatewayMetrics has %d entries, GatewayMetricNames %d", len(metrics), len(names))
	}
	seen := map[string]bool{}
	for i, m := range metrics {
		t.Run(m.Name, func(t *testing.T) {
			if names[i] != m.Name {
				t.Errorf("GatewayMetricNames()[%d] = %q, want %q", i, names[i], m.Name)
			}
			if !metricName.MatchString(m.Name) {
				t.Errorf("not a valid Prometheus metric name")
			}
			if seen[m.Name] {
				t.Errorf("listed twice")
			}
			seen[m.Name] = true
			if IsExporterMetric(m.Name) {
				t.Errorf("gateway metric in the exporter's namespace")
			}
			if BaseName(m.Name) != m.Name {
				t.Errorf("name ends in a histogram series suffix")
			}
			switch m.Type {
			case Counter:
				if !strings.HasSuffix(m.Name, "_total") {
					t.Errorf("counter without _total suffix")
				}
			case Histogram:
				if !strings.HasSuffix(m.Name, "_seconds") {
					t.Errorf("histogram not in seconds")
				}
			case Gauge:
				if strings.HasSuffix(m.Name, "_total") {
					t.Errorf("gauge with a counter's _total suffix")
				}
			default:
				t.Errorf("unknown type %q", m.Type)
			}
			if len(m.Labels) == 0 || m.Help == "" {
				t.Errorf("labels %v, help %q: both are required", m.Labels, m.Help)
			}
		})
	}
	for _, n := range ExporterMetricNames() {
		if !IsExporterMetric(n) {
			t.Errorf("exporter metric %s outside gnatsd_/nats_", n)
		}
	}
	// The copies are the caller's.
	GatewayMetrics()[0].Labels[0] = "changed"
	if GatewayMetrics()[0].Labels[0] == "changed" {
		t.Error("GatewayMetrics returns shared label slices")
	}
}

func TestReferencedMetricsAreExported(t *testing.T) {
	refs, err := ReferencedMetrics(root)
	if err != nil {
		t.Fatal(err)
	}
	gateway := GatewayMetricNames()
	exporter := ExporterMetricNames()
	for name, where := range refs {
		switch {
		case IsExporterMetric(name):
			if !slices.Contains(exporter, name) {
				t.Errorf("%s (used by %v) is not in the documented exporter metrics (ExporterMetricNames, docs/metrics.md)", name, where)
			}
		case !slices.Contains(gateway, name):
			t.Errorf("%s (used by %v) is not exported by the gateway (GatewayMetricNames)", name, where)
		}
	}

	// What the dashboard must show, by the metric that carries it.
	dashboard := "deploy/grafana/dashboards/gateway.json"
	for _, name := range []string{
		"http_requests_total",                   // request and error rate
		"http_request_duration_seconds",         // latency percentiles
		"streaming_time_to_first_token_seconds", // time to first token
		"gateway_tokens_total",                  // tokens per upstream and model, access control or not
		"gateway_key_tokens_total",              // tokens per key
		"gateway_client_disconnects_total",      // clients that left
		"gateway_queue_depth", "gateway_queue_wait_seconds",
		"gateway_worker_busy", "gateway_worker_capacity",
		"gateway_rejected_total", // rejections by reason
		"upstream_errors_total",
		"gateway_nats_connected", "gnatsd_varz_connections",
		"gateway_nats_slow_consumers_total", "gnatsd_varz_slow_consumers",
	} {
		if !slices.ContainsFunc(refs[name], func(w string) bool { return strings.HasPrefix(w, dashboard) }) {
			t.Errorf("the dashboard has no panel on %s", name)
		}
	}
}

func TestQueryMetrics(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		want    []string
		wantErr error
	}{
		{"plain selector", `gateway_queue_depth`, []string{"gateway_queue_depth"}, nil},
		{"histogram buckets", `histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`,
			[]string{"http_request_duration_seconds"}, nil},
		{"sum and count are one histogram", `rate(x_seconds_sum[1m]) / rate(x_seconds_count[1m])`, []string{"x_seconds"}, nil},
		{"binary of two metrics", `sum(gateway_worker_busy) / sum(gateway_worker_capacity)`,
			[]string{"gateway_worker_busy", "gateway_worker_capacity"}, nil},
		{"name in matcher", `{__name__="up", job="gateway"}`, []string{"up"}, nil},
		{"label values are not names", `http_requests_total{path="gateway_queue_depth"}`, []string{"http_requests_total"}, nil},
		{"subquery and offset", `max_over_time(rate(a_total[1m])[10m:1m] offset 1h)`, []string{"a_total"}, nil},
		{"no name", `{job="gateway"}`, nil, ErrNoMetricName},
		{"regex name", `{__name__=~"gateway_.*"}`, nil, ErrNoMetricName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QueryMetrics(tt.expr)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := QueryMetrics(`sum(rate(x[5m])`); err == nil {
		t.Error("unbalanced parenthesis parsed")
	}
}

func TestExpandGrafanaVars(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"rate interval", `rate(a[$__rate_interval])`, `rate(a[5m])`},
		{"braced", `rate(a[${__interval}])`, `rate(a[5m])`},
		{"seconds", `a / $__range_s`, `a / 300`},
		{"user variables stay", `a{instance=~"$instance"}`, `a{instance=~"$instance"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpandGrafanaVars(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDashboardQueries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.json")
	src := `{"title":"t","panels":[
	  {"type":"row","title":"r","panels":[{"title":"nested","targets":[{"refId":"A","expr":"rate(a_total[$__rate_interval])"}]}]},
	  {"title":"p","targets":[{"refId":"A","expr":"b"},{"refId":"B","expr":""}]}],
	 "templating":{"list":[
	  {"name":"old","type":"query","query":"label_values(c, instance)"},
	  {"name":"new","type":"query","query":{"query":"label_values(d{x=\"y\"}, upstream)","refId":"v"}},
	  {"name":"labels","type":"query","query":"label_values(instance)"},
	  {"name":"ds","type":"datasource","query":"prometheus"}]}}`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := DashboardQueries(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Query{
		{`panel "nested" target A`, `rate(a_total[5m])`},
		{`panel "p" target A`, `b`},
		{`variable old`, `c`},
		{`variable new`, `d{x="y"}`},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// ---- Grafana ---------------------------------------------------------------

func TestGrafanaDashboard(t *testing.T) {
	path := repoPath("deploy", "grafana", "dashboards", "gateway.json")
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Panels     []map[string]any
		Templating struct {
			List []map[string]any `json:"list"`
		} `json:"templating"`
	}
	if err := jsonx.Unmarshal([]byte(mustRead(t, path)), &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both required for provisioning", d.UID, d.Title)
	}
	vars := map[string]map[string]any{}
	for _, v := range d.Templating.List {
		vars[str(v["name"])] = v
	}

	// The datasource variable must default to the provisioned datasource.
	ds := yamlDoc(t, repoPath("deploy", "grafana", "provisioning", "datasources", "prometheus.yml"))
	uid := str(dig(ds, "datasources", "0", "uid"))
	if v := vars["datasource"]; v == nil || str(dig(v, "current", "value")) != uid || str(v["query"]) != str(dig(ds, "datasources", "0", "type")) {
		t.Errorf("dashboard variable datasource = %v, want type %q defaulting to uid %q", v, str(dig(ds, "datasources", "0", "type")), uid)
	}

	ids := map[float64]string{}
	type rect struct{ x, y, w, h float64 }
	var rects []rect
	for _, p := range d.Panels {
		title := str(p["title"])
		id, _ := p["id"].(float64)
		if prev, dup := ids[id]; dup {
			t.Errorf("panels %q and %q share id %v", prev, title, id)
		}
		ids[id] = title
		g := mapping(p["gridPos"])
		r := rect{g["x"].(float64), g["y"].(float64), g["w"].(float64), g["h"].(float64)}
		if r.x+r.w > 24 {
			t.Errorf("panel %q is wider than the grid", title)
		}
		for _, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("panel %q overlaps another panel", title)
			}
		}
		rects = append(rects, r)
		if p["type"] == "row" {
			continue
		}
		if str(p["description"]) == "" {
			t.Errorf("panel %q has no description", title)
		}
		targets := list(p["targets"])
		if len(targets) == 0 {
			t.Errorf("panel %q has no query", title)
		}
		for _, tg := range targets {
			if str(dig(tg, "datasource", "uid")) != "${datasource}" {
				t.Errorf("panel %q queries datasource %v, want the ${datasource} variable", title, dig(tg, "datasource"))
			}
			// Every user variable a query uses must exist.
			for _, m := range regexp.MustCompile(`\$\{?([a-zA-Z]\w*)`).FindAllStringSubmatch(str(dig(tg, "expr")), -1) {
				if vars[m[1]] == nil {
					t.Errorf("panel %q uses undefined variable $%s", title, m[1])
				}
			}
		}
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	monitoring := loadCompose(t, "deploy/compose/monitoring.yml")
	grafana := monitoring.service(t, "grafana")
	prometheus := monitoring.service(t, "prometheus")

	// Datasource URL points at the Prometheus service on its container port.
	ds := yamlDoc(t, repoPath("deploy", "grafana", "provisioning", "datasources", "prometheus.yml"))
	url := str(dig(ds, "datasources", "0", "url"))
	if want := "http://prometheus:9090"; url != want || prometheus.name != "prometheus" {
		t.Errorf("datasource url %q, want %q", url, want)
	}

	// The dashboard provider reads the directory the dashboards are mounted at.
	prov := yamlDoc(t, repoPath("deploy", "grafana", "provisioning", "dashboards", "gateway.yml"))
	path := str(dig(prov, "providers", "0", "options", "path"))
	mounted := false
	for _, m := range grafana.mounts(t) {
		if m.target == path && filepath.ToSlash(m.source) == "deploy/grafana/dashboards" {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("dashboard provider path %q is not where deploy/grafana/dashboards is mounted (%v)", path, grafana.mounts(t))
	}
	for _, m := range grafana.mounts(t) {
		if m.target == "/etc/grafana/provisioning" && filepath.ToSlash(m.source) != "deploy/grafana/provisioning" {
			t.Errorf("provisioning mounted from %s", m.source)
		}
	}
}

// ---- Prometheus ------------------------------------------------------------

// severities are the values alert routing matches on.
var severities = []string{"critical", "warning", "info"}

// templateFuncs stubs Prometheus's template functions so that annotation
// templates can be parsed.
var templateFuncs = template.FuncMap{}

func init() {
	for _, f := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
		"humanizeTimestamp", "title", "toUpper", "toLower", "first", "label", "value", "query",
		"reReplaceAll", "match", "args", "safeHtml", "stripPort", "stripDomain", "pathPrefix",
		"externalURL", "graphLink", "tableLink", "sortByLabel", "strvalue", "toTime", "toDuration", "parseDuration"} {
		templateFuncs[f] = func(...any) any { return nil }
	}
}

func TestAlertRules(t *testing.T) {
	files, err := filepath.Glob(repoPath("deploy", "prometheus", "rules", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files (err %v)", err)
	}
	alerts := map[string]bool{}
	for _, file := range files {
		rg, err := LoadRuleFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if len(rg.Groups) == 0 {
			t.Fatalf("%s: no groups", file)
		}
		groups := map[string]bool{}
		for _, g := range rg.Groups {
			if g.Name == "" || groups[g.Name] {
				t.Errorf("%s: group name %q empty or repeated", file, g.Name)
			}
			groups[g.Name] = true
			for _, r := range g.Rules {
				t.Run(r.Alert, func(t *testing.T) {
					checkAlertRule(t, r)
				})
				if alerts[r.Alert] {
					t.Errorf("alert %s defined twice", r.Alert)
				}
				alerts[r.Alert] = true
			}
		}
	}
	// The situations operators must hear about.
	for _, want := range []string{"GatewayHighErrorRate", "GatewayQueueSaturated", "GatewayNoWorkers",
		"GatewayUpstreamErrors", "GatewayQuotaNearlyExhausted"} {
		if !alerts[want] {
			t.Errorf("missing alert %s", want)
		}
	}
}

func checkAlertRule(t *testing.T, r Rule) {
	t.Helper()
	if r.Alert == "" || r.Record != "" {
		t.Fatalf("not an alerting rule: alert %q record %q", r.Alert, r.Record)
	}
	expr, err := ParsePromQL(r.Expr)
	if err != nil {
		t.Fatalf("expr: %v", err)
	}
	if expr.Type() != parser.ValueTypeVector {
		t.Errorf("expr is a %s, want an instant vector", expr.Type())
	}
	if r.For == "" {
		t.Error("no for: duration")
	} else if _, err := model.ParseDuration(r.For); err != nil {
		t.Errorf("for: %v", err)
	}
	if !slices.Contains(severities, r.Labels["severity"]) {
		t.Errorf("labels.severity = %q, want one of %v", r.Labels["severity"], severities)
	}
	if strings.TrimSpace(r.Annotations["summary"]) == "" {
		t.Error("no annotations.summary")
	}
	kept, known := outputLabels(expr)
	for key, text := range r.Annotations {
		// Prometheus defines these variables before the annotation text.
		tmpl := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}" + text
		if _, err := template.New(key).Funcs(templateFuncs).Parse(tmpl); err != nil {
			t.Errorf("annotation %s: %v", key, err)
		}
		if !known {
			continue
		}
		for _, m := range regexp.MustCompile(`\$labels\.(\w+)`).FindAllStringSubmatch(text, -1) {
			if !kept[m[1]] {
				t.Errorf("annotation %s uses $labels.%s, which the expression aggregates away (keeps %v)", key, m[1], sortedKeys(kept))
			}
		}
	}
}

// outputLabels returns the labels an expression's result keeps, when they
// can be known from the expression alone (aggregations with by()).
func outputLabels(e parser.Expr) (map[string]bool, bool) {
	switch x := e.(type) {
	case *parser.ParenExpr:
		return outputLabels(x.Expr)
	case *parser.AggregateExpr:
		if x.Without {
			return nil, false
		}
		set := map[string]bool{}
		for _, l := range x.Grouping {
			set[l] = true
		}
		return set, true
	case *parser.BinaryExpr:
		lt, rt := x.LHS.Type(), x.RHS.Type()
		switch {
		case lt == parser.ValueTypeScalar:
			return outputLabels(x.RHS)
		case rt == parser.ValueTypeScalar:
			return outputLabels(x.LHS)
		case x.Op == parser.LOR:
			l, lok := outputLabels(x.LHS)
			r, rok := outputLabels(x.RHS)
			if !lok || !rok {
				return nil, false
			}
			// A label is certain only when both sides keep it.
			set := map[string]bool{}
			for k := range l {
				if r[k] {
					set[k] = true
				}
			}
			return set, true
		default:
			return outputLabels(x.LHS)
		}
	case *parser.Call:
		switch x.Func.Name {
		case "histogram_quantile":
			set, ok := outputLabels(x.Args[1])
			delete(set, "le")
			return set, ok
		case "absent":
			set := map[string]bool{}
			parser.Inspect(x.Args[0], func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					for _, m := range vs.LabelMatchers {
						if m.Type == labels.MatchEqual && m.Name != labels.MetricName {
							set[m.Name] = true
						}
					}
				}
				return nil
			})
			return set, true
		}
		for _, a := range x.Args {
			if a.Type() == parser.ValueTypeVector || a.Type() == parser.ValueTypeMatrix {
				return outputLabels(a)
			}
		}
	}
	return nil, false
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestOutputLabels(t *testing.T) {
	tests := []struct {
		name  string
		expr  string
		want  []string
		known bool
	}{
		{"by", `sum by (upstream) (rate(a[5m])) > 1`, []string{"upstream"}, true},
		{"ratio", `sum by (path) (a) / sum by (path) (b) > 0.1`, []string{"path"}, true},
		{"quantile drops le", `histogram_quantile(0.9, sum by (le, route) (rate(x_bucket[5m])))`, []string{"route"}, true},
		{"or keeps the common labels", `sum by (a, b) (x) > 0 or sum by (a) (y) == 0`, []string{"a"}, true},
		{"absent", `absent(x{job="g"})`, []string{"job"}, true},
		{"raw selector is unknown", `x > 1`, nil, false},
		{"without is unknown", `sum without (a) (x)`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParsePromQL(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, known := outputLabels(e)
			if known != tt.known || (known && !slices.Equal(sortedKeys(got), tt.want)) {
				t.Errorf("got %v (known %v), want %v (known %v)", sortedKeys(got), known, tt.want, tt.known)
			}
		})
	}
}

func TestPrometheusConfig(t *testing.T) {
	cfg := yamlDoc(t, repoPath("deploy", "prometheus", "prometheus.yml"))
	monitoring := loadCompose(t, "deploy/compose/monitoring.yml")
	prom := monitoring.service(t, "prometheus")

	// Rule files: the glob, mapped back through the container mount, finds the rules.
	for _, rf := range list(cfg["rule_files"]) {
		pattern := str(rf)
		host := ""
		for _, m := range prom.mounts(t) {
			if rest, ok := strings.CutPrefix(pattern, m.target+"/"); ok {
				host = filepath.Join(root, m.source, rest)
			}
		}
		if host == "" {
			t.Errorf("rule_files %q is not under a mounted directory", pattern)
			continue
		}
		matches, _ := filepath.Glob(host)
		if len(matches) == 0 {
			t.Errorf("rule_files %q matches no file (%s)", pattern, host)
		}
	}
	configMounted := false
	for _, m := range prom.mounts(t) {
		if filepath.ToSlash(m.source) == "deploy/prometheus/prometheus.yml" && slices.Contains(prom.command(t), "--config.file="+m.target) {
			configMounted = true
		}
	}
	if !configMounted {
		t.Error("prometheus does not run with the mounted deploy/prometheus/prometheus.yml")
	}

	// Scrape targets: gateway processes on the port serving /metrics,
	// exporters on 7777.
	gatewayHosts := map[string]int{}
	for _, file := range []string{"docker-compose.yml", "deploy/compose/single.yml", "deploy/compose/split.yml"} {
		c := loadCompose(t, file)
		for _, s := range c.services {
			if s.runsGateway(t) {
				p := gatewayPorts(t, shippedConfig(t, s.configFile(t)), s.env(t))
				gatewayHosts[s.name] = p.HTTP
				if slices.Equal(s.command(t), []string{"worker"}) {
					gatewayHosts[s.name] = p.Worker // workers serve /metrics on their ops port
				}
			}
		}
	}
	metricLabels := map[string]bool{}
	for _, m := range GatewayMetrics() {
		for _, l := range m.Labels {
			metricLabels[l] = true
		}
	}
	jobs := map[string]bool{}
	for _, sc := range list(cfg["scrape_configs"]) {
		job := str(dig(sc, "job_name"))
		jobs[job] = true
		for _, static := range list(dig(sc, "static_configs")) {
			for l := range mapping(dig(static, "labels")) {
				if metricLabels[l] {
					t.Errorf("job %s: target label %q clashes with a gateway metric label", job, l)
				}
			}
			for _, target := range list(dig(static, "targets")) {
				host, port, _ := net.SplitHostPort(str(target))
				p, _ := strconv.Atoi(port)
				switch job {
				case "gateway":
					want, ok := gatewayHosts[host]
					if !ok {
						t.Errorf("job gateway: target %s is no gateway service of the compose files", target)
					} else if p != want {
						t.Errorf("job gateway: target %s, but %s serves /metrics on %d", target, host, want)
					}
				case "nats":
					if s, ok := monitoring.services[host]; !ok || !strings.HasPrefix(s.image(), "natsio/prometheus-nats-exporter") || p != 7777 {
						t.Errorf("job nats: target %s is not a NATS exporter on :7777", target)
					}
				}
			}
		}
		if job == "gateway" && str(dig(sc, "metrics_path")) != "/metrics" {
			t.Errorf("job gateway scrapes %q", dig(sc, "metrics_path"))
		}
	}
	for _, want := range []string{"gateway", "nats"} {
		if !jobs[want] {
			t.Errorf("no scrape job %s", want)
		}
	}
	for host := range gatewayHosts {
		found := false
		for _, sc := range list(cfg["scrape_configs"]) {
			for _, static := range list(dig(sc, "static_configs")) {
				for _, target := range list(dig(static, "targets")) {
					if h, _, _ := net.SplitHostPort(str(target)); h == host {
						found = true
					}
				}
			}
		}
		if !found {
			t.Errorf("gateway service %s is not scraped", host)
		}
	}
}

// ---- docs ------------------------------------------------------------------

func TestDocs(t *testing.T) {
	metrics := mustRead(t, repoPath("docs", "metrics.md"))
	for _, m := range GatewayMetrics() {
		row := ""
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, "| `"+m.Name+"`") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("docs/metrics.md has no table row for %s", m.Name)
			continue
		}
		for _, l := range m.Labels {
			if !strings.Contains(row, "`"+l+"`") {
				t.Errorf("docs/metrics.md: row of %s does not name label %s", m.Name, l)
			}
		}
		if !strings.Contains(row, string(m.Type)) {
			t.Errorf("docs/metrics.md: row of %s does not say it is a %s", m.Name, m.Type)
		}
	}
	for _, n := range ExporterMetricNames() {
		if !strings.Contains(metrics, "`"+n+"`") {
			t.Errorf("docs/metrics.md does not document exporter metric %s", n)
		}
	}
	// Every PromQL example in the reference parses and uses known metrics.
	for _, block := range regexp.MustCompile("(?s)```promql\n(.*?)```").FindAllStringSubmatch(metrics, -1) {
		for _, q := range strings.Split(strings.TrimSpace(block[1]), "\n\n") {
			q = regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(q, "")
			if strings.TrimSpace(q) == "" {
				continue
			}
			names, err := QueryMetrics(q)
			if err != nil {
				t.Errorf("docs/metrics.md example: %v", err)
			}
			for _, n := range names {
				if !slices.Contains(GatewayMetricNames(), n) && !slices.Contains(ExporterMetricNames(), n) {
					t.Errorf("docs/metrics.md example uses unknown metric %s", n)
				}
			}
		}
	}

	ops := mustRead(t, repoPath("docs", "operations.md"))
	for _, want := range []string{"docker compose", "split.yml", "monitoring.yml", "kubectl apply -k deploy/kubernetes",
		"/varz", "/connz", "/jsz", "/healthz", "proxy_buffering off", "no_workers", "queue_full"} {
		if !strings.Contains(ops, want) {
			t.Errorf("docs/operations.md does not mention %q", want)
		}
	}
	// Relative links in the docs point at files that exist.
	for _, doc := range []string{"docs/operations.md", "docs/metrics.md", "deploy/kubernetes/README.md"} {
		text := mustRead(t, repoPath(doc))
		for _, m := range regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`).FindAllStringSubmatch(text, -1) {
			target := filepath.Join(root, filepath.Dir(doc), m[1])
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s links to %s, which does not exist", doc, m[1])
			}
		}
	}
}

// ---- fuzz targets ------------------------------------------------------------

func FuzzQueryMetrics(f *testing.F) {
	for _, s := range []string{
		`sum(rate(http_requests_total{status=~"5.."}[$__rate_interval]))`,
		`histogram_quantile(0.9, sum by (le) (rate(a_bucket[5m])))`,
		`{__name__="x"}`, `a or b unless c`, `label_values(x, y)`, ``, `)(`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		names, err := QueryMetrics(ExpandGrafanaVars(expr))
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" || BaseName(n) != n {
				t.Fatalf("QueryMetrics(%q) returned %q, not a base name", expr, n)
			}
		}
		if !sort.StringsAreSorted(names) {
			t.Fatalf("QueryMetrics(%q) = %v, not sorted", expr, names)
		}
	})
}

func FuzzDashboardQueries(f *testing.F) {
	f.Add([]byte(`{"panels":[{"title":"a","targets":[{"refId":"A","expr":"x"}]}],"templating":{"list":[{"name":"v","type":"query","query":"label_values(y, z)"}]}}`))
	f.Add([]byte(`{"templating":{"list":[{"name":"v","type":"query","query":{"query":"query_result(sum(x))"}}]}}`))
	f.Add([]byte(`{"panels":[{"panels":[{"panels":[]}]}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "d.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		qs, err := DashboardQueries(path)
		if err != nil {
			return
		}
		for _, q := range qs {
			if q.Where == "" || strings.TrimSpace(q.Expr) == "" {
				t.Fatalf("query %+v without place or text", q)
			}
		}
	})
}

// bytesEqualLines compares texts ignoring a trailing newline difference.
func bytesEqualLines(a, b []byte) bool {
	return bytes.Equal(bytes.TrimRight(a, "\n"), bytes.TrimRight(b, "\n"))
}
