package deploy

// Reading the PromQL of the shipped dashboards and rules. It lives in a test
// file so that Prometheus's query parser, a large module, is a dependency of
// the deployment tests only and never of a gateway package.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/aigateway/gateway/converter/jsonx"
)

// ErrNoMetricName is returned for a selector that names no metric, such as
// {job="gateway"} or {__name__=~"gateway_.*"}: its metrics cannot be checked.
var ErrNoMetricName = errors.New("selector has no metric name")

// ParsePromQL parses a PromQL expression with the parser's default options:
// the stable functions only, which is what the shipped Prometheus runs.
func ParsePromQL(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(expr)
}

// grafanaVar matches Grafana's built-in variables. They stand where PromQL
// wants a duration ([$__rate_interval]) or a number ($__range_s), so they are
// replaced by a value of that kind before parsing. User variables ($instance)
// appear inside label matcher strings and need no replacement.
var grafanaVar = regexp.MustCompile(`\$\{?__(rate_interval|interval_ms|interval|range_ms|range_s|range)\}?`)

// ExpandGrafanaVars replaces Grafana's built-in variables in a panel query by
// values the PromQL parser accepts.
func ExpandGrafanaVars(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		name := strings.Trim(v, "${}")
		if strings.HasSuffix(name, "_s") || strings.HasSuffix(name, "_ms") {
			return "300"
		}
		return "5m"
	})
}

// QueryMetrics parses a PromQL expression and returns the base names of the
// metrics it selects, sorted and without duplicates.
func QueryMetrics(expr string) ([]string, error) {
	ast, err := ParsePromQL(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	seen := map[string]bool{}
	var errs []error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: %w", vs.String(), ErrNoMetricName))
			return nil
		}
		seen[BaseName(name)] = true
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// ReferencedMetrics returns every metric queried by the Grafana dashboards
// in DashboardsDir and the Prometheus rules in RulesDir under repoRoot, by
// base name, each with the places that reference it, such as
// `deploy/grafana/dashboards/gateway.json: panel "Queue depth"` or
// `deploy/prometheus/rules/gateway.rules.yml: alert GatewayNoWorkers`.
// Metrics produced by recording rules are not reported. A query that does not
// parse is an error naming its file and place.
func ReferencedMetrics(repoRoot string) (map[string][]string, error) {
	refs := map[string][]string{}
	recorded := map[string]bool{}
	var errs []error
	add := func(where, expr string) {
		names, err := QueryMetrics(expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			return
		}
		for _, n := range names {
			if !slices.Contains(refs[n], where) {
				refs[n] = append(refs[n], where)
			}
		}
	}

	dashboards, err := filesWithExt(repoRoot, DashboardsDir, ".json")
	if err != nil {
		return nil, err
	}
	for _, rel := range dashboards {
		queries, err := DashboardQueries(filepath.Join(repoRoot, rel))
		if err != nil {
			return nil, err
		}
		for _, q := range queries {
			add(rel+": "+q.Where, q.Expr)
		}
	}

	ruleFiles, err := filesWithExt(repoRoot, RulesDir, ".yml", ".yaml")
	if err != nil {
		return nil, err
	}
	for _, rel := range ruleFiles {
		groups, err := LoadRuleFile(filepath.Join(repoRoot, rel))
		if err != nil {
			return nil, err
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
					add(rel+": record "+r.Record, r.Expr)
					continue
				}
				add(rel+": alert "+r.Alert, r.Expr)
			}
		}
	}
	for name := range recorded {
		delete(refs, name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, where := range refs {
		sort.Strings(where)
	}
	return refs, nil
}

// filesWithExt lists the files under repoRoot/dir whose names end in one of
// exts, as slash-separated paths relative to repoRoot, sorted.
func filesWithExt(repoRoot, dir string, exts ...string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !slices.Contains(exts, filepath.Ext(path)) {
			return nil
		}
		rel, err := filepath.Rel(repoRoot, path)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deploy: list %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// Query is one PromQL expression found in a dashboard.
type Query struct {
	// Where names the panel or variable holding it, e.g. `panel "Queue depth"`.
	Where string
	// Expr is the expression with Grafana's built-in variables expanded.
	Expr string
}

// dashboard is the part of Grafana's dashboard model that holds queries.
type dashboard struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string   `json:"title"`
	Type    string   `json:"type"`
	Targets []target `json:"targets"`
	// Rows nest their panels when collapsed.
	Panels []panel `json:"panels"`
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type variable struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Query is a string in old dashboards and {"query": "..."} in new ones.
	Query jsonx.RawMessage `json:"query"`
}

// labelValues matches Grafana's label_values(metric_or_selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// queryResult matches Grafana's query_result(expr).
var queryResult = regexp.MustCompile(`^\s*query_result\((.+)\)\s*$`)

// DashboardQueries reads a Grafana dashboard and returns the PromQL of every
// panel target (rows included) and of every query variable, in file order.
func DashboardQueries(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploy: read dashboard: %w", err)
	}
	var d dashboard
	if err := jsonx.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("deploy: parse dashboard %s: %w", path, err)
	}
	var out []Query
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					continue
				}
				out = append(out, Query{
					Where: fmt.Sprintf("panel %q target %s", p.Title, t.RefID),
					Expr:  ExpandGrafanaVars(t.Expr),
				})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)

	for _, v := range d.Templating.List {
		if v.Type != "query" || len(v.Query) == 0 {
			continue
		}
		q, err := variableQuery(v.Query)
		if err != nil {
			return nil, fmt.Errorf("deploy: dashboard %s variable %s: %w", path, v.Name, err)
		}
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		} else if m := queryResult.FindStringSubmatch(q); m != nil {
			q = m[1]
		} else {
			// label_names(), label_values(label) and metrics(regex) select no metric.
			continue
		}
		if strings.TrimSpace(q) == "" {
			// label_values( , label) or query_result( ): no metric either.
			continue
		}
		out = append(out, Query{Where: "variable " + v.Name, Expr: ExpandGrafanaVars(q)})
	}
	return out, nil
}

// variableQuery returns the query text of a variable in either of Grafana's
// two shapes.
func variableQuery(raw jsonx.RawMessage) (string, error) {
	var s string
	if err := jsonx.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := jsonx.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("query is neither a string nor an object: %w", err)
	}
	return obj.Query, nil
}

// RuleGroups is a Prometheus rule file.
type RuleGroups struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is one group of a Prometheus rule file.
type RuleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Limit    int    `yaml:"limit,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is an alerting rule (Alert set) or a recording rule (Record set).
type Rule struct {
	Record        string            `yaml:"record,omitempty"`
	Alert         string            `yaml:"alert,omitempty"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

// LoadRuleFile reads a Prometheus rule file. Unknown fields are an error, as
// they are for Prometheus itself.
func LoadRuleFile(path string) (RuleGroups, error) {
	f, err := os.Open(path)
	if err != nil {
		return RuleGroups{}, fmt.Errorf("deploy: read rules: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var rg RuleGroups
	if err := dec.Decode(&rg); err != nil {
		return RuleGroups{}, fmt.Errorf("deploy: parse rules %s: %w", path, err)
	}
	return rg, nil
}
