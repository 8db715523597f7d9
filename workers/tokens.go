package workers

import (
	"maps"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
)

// MetricTokens is the name of the token counter (part of the gateway's
// metrics contract). The worker that called the upstream counts it, so it
// exists with or without access control and each answer is counted once.
const MetricTokens = "gateway_tokens_total"

// Token kinds, the values of gateway_tokens_total's kind label.
const (
	tokensInput  = "input"
	tokensOutput = "output"
	tokensCached = "cached"
)

const (
	// maxModelLabels bounds the model label values of one upstream: the
	// configured names and the first names learned from answers. Beyond it
	// a model is counted as overflowModel, so a client sending a stream of
	// invented names cannot grow the series without limit.
	maxModelLabels = 64
	// maxModelLabelLen bounds one label value.
	maxModelLabelLen = 128
	// overflowModel is the model label of models past maxModelLabels.
	overflowModel = "other"
)

func newTokensVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricTokens,
		Help: "Tokens upstreams reported, by upstream, model sent upstream and kind (input, output, cached; input includes cached).",
	}, []string{"upstream", "model", "kind"})
}

// modelTokens are the token counters of one model of one upstream.
type modelTokens struct {
	input, output, cached prometheus.Counter
}

// tokenCounters counts one upstream's tokens by model. The model label
// values are bounded: the names the configuration can send to the upstream
// are created at start (so dashboards read 0 rather than no data), and
// names learned from answers are added up to maxModelLabels.
//
// Every answer looks its model up, and new names are rare, so lookups take
// no lock: the map is never modified once published, and a new name
// publishes a copy that holds it.
type tokenCounters struct {
	vec      *prometheus.CounterVec
	upstream string
	models   atomic.Pointer[map[string]*modelTokens]

	mu sync.Mutex // held while a new name is added
}

func newTokenCounters(vec *prometheus.CounterVec, u config.Upstream, routes []config.Route) *tokenCounters {
	tc := &tokenCounters{vec: vec, upstream: u.Name}
	tc.models.Store(&map[string]*modelTokens{})
	for _, name := range configuredModels(u, routes) {
		tc.lookup(name)
	}
	return tc
}

// configuredModels returns the model names the configuration itself sends to
// upstream u: its default model, the targets of its model map and of the
// model maps of the routes it serves, and those routes' default models
// after mapping.
func configuredModels(u config.Upstream, routes []config.Route) []string {
	var names []string
	add := func(n string) {
		if n != "" {
			names = append(names, n)
		}
	}
	// A route of its own would map the upstream's default model like this.
	add(config.Route{}.MapModel(u, ""))
	for _, to := range u.ModelMap {
		add(to)
	}
	for _, r := range routes {
		if r.Upstream != u.Name {
			continue
		}
		add(r.MapModel(u, ""))
		for _, to := range r.ModelMap {
			add(to)
		}
	}
	return names
}

// add counts the tokens of one answer of model.
func (tc *tokenCounters) add(model string, u converter.Usage) {
	if u.IsZero() {
		return
	}
	mt := tc.lookup(model)
	mt.input.Add(float64(max(u.InputTokens, 0)))
	mt.output.Add(float64(max(u.OutputTokens, 0)))
	mt.cached.Add(float64(max(u.CacheReadTokens, 0)))
}

// lookup returns the counters of model, creating them while the upstream has
// room for another label value.
func (tc *tokenCounters) lookup(model string) *modelTokens {
	if model == "" || len(model) > maxModelLabelLen || !utf8.ValidString(model) {
		model = overflowModel
	}
	if mt, ok := (*tc.models.Load())[model]; ok {
		return mt
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	models := *tc.models.Load()
	if mt, ok := models[model]; ok {
		return mt
	}
	if len(models) >= maxModelLabels {
		model = overflowModel
		if mt, ok := models[model]; ok {
			return mt
		}
	}
	mt := &modelTokens{
		input:  tc.vec.WithLabelValues(tc.upstream, model, tokensInput),
		output: tc.vec.WithLabelValues(tc.upstream, model, tokensOutput),
		cached: tc.vec.WithLabelValues(tc.upstream, model, tokensCached),
	}
	next := maps.Clone(models)
	next[model] = mt
	tc.models.Store(&next)
	return mt
}
