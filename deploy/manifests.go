// Package deploy holds the contract between the gateway and its deployment
// files: the Prometheus metric names the gateway exports, and the names the
// Grafana dashboard and the Prometheus alert rules under deploy/ query.
//
// Tests here and in the packages that register metrics compare the two, so
// a renamed metric breaks a test instead of a dashboard panel in production:
// the tests here check that every metric the deployment files query is in
// the contract, and the gateway's tests that a running gateway exports every
// metric of the contract. The PromQL parsing behind the first check lives in
// this package's test files, so that Prometheus's parser is no dependency of
// any gateway package.
package deploy

import (
	"slices"
	"sort"
	"strings"
)

// Locations of the files ReferencedMetrics reads, relative to the repository root.
const (
	// DashboardsDir holds the Grafana dashboards (*.json).
	DashboardsDir = "deploy/grafana/dashboards"
	// RulesDir holds the Prometheus rule files (*.yml, *.yaml).
	RulesDir = "deploy/prometheus/rules"
)

// MetricType is the Prometheus type of a metric.
type MetricType string

// The metric types the gateway exports.
const (
	Counter   MetricType = "counter"
	Gauge     MetricType = "gauge"
	Histogram MetricType = "histogram"
)

// Metric describes one metric of the gateway's contract.
type Metric struct {
	// Name is the base name; histograms also expose _bucket, _sum and _count.
	Name   string
	Type   MetricType
	Labels []string
	// Help says what one unit of the metric means.
	Help string
}

// gatewayMetrics is the contract: every metric the gateway exports. The
// README's and docs/metrics.md's tables describe the same list.
var gatewayMetrics = [...]Metric{
	// HTTP ingress.
	{"http_requests_total", Counter, []string{"method", "path", "status"}, "HTTP requests answered by the ingress."},
	{"http_request_duration_seconds", Histogram, []string{"method", "path", "status"}, "Whole request duration, until the last byte of a stream."},
	{"http_requests_in_flight", Gauge, []string{"method", "path"}, "Requests being served right now."},
	// Upstream calls made by the workers.
	{"upstream_request_duration_seconds", Histogram, []string{"upstream", "provider"}, "Time from sending an upstream call to its response headers (time to first byte)."},
	{"upstream_requests_total", Counter, []string{"upstream", "provider", "status"}, "Upstream calls by HTTP status."},
	{"upstream_errors_total", Counter, []string{"upstream", "error_type"}, "Upstream calls that failed, by kind of failure."},
	// Streaming.
	{"streaming_events_total", Counter, []string{"provider"}, "Events streamed from upstreams."},
	{"streaming_bytes_total", Counter, []string{"provider"}, "Bytes streamed from upstreams."},
	{"streaming_duration_seconds", Histogram, []string{"provider"}, "Duration of whole upstream streams."},
	{"streaming_time_to_first_token_seconds", Histogram, []string{"route"}, "From request arrival to the first streamed event written to the client."},
	{"streaming_inter_chunk_seconds", Histogram, []string{"route"}, "Gap between two streamed events written to the client."},
	// Queue and worker pools.
	{"gateway_queue_depth", Gauge, []string{"upstream"}, "Requests waiting for a worker slot."},
	{"gateway_queue_wait_seconds", Histogram, []string{"upstream"}, "Time from publish to a worker starting the request."},
	{"gateway_worker_busy", Gauge, []string{"upstream"}, "Worker slots running an upstream call."},
	{"gateway_worker_capacity", Gauge, []string{"upstream"}, "Worker slots (concurrency) of the process."},
	{"gateway_rejected_total", Counter, []string{"upstream", "reason"}, "Requests refused before a worker started them (reason: queue_full, queue_timeout, no_workers)."},
	{"gateway_client_disconnects_total", Counter, []string{"upstream", "stage"}, "Clients that closed the connection before their answer ended (stage: queued, answering)."},
	{"gateway_upstream_attempts_total", Counter, []string{"upstream", "outcome"}, "Attempts at serving a request from an upstream, by outcome (ok, or why the attempt failed)."},
	// Tokens, counted by the worker that called the upstream.
	{"gateway_tokens_total", Counter, []string{"upstream", "model", "kind"}, "Tokens upstreams reported, by model sent upstream (kind: input, output, cached)."},
	// NATS connections of the gateway's own processes.
	{"gateway_nats_connected", Gauge, []string{"role"}, "1 while the process is connected to NATS, else 0 (role: ingress, worker)."},
	{"gateway_nats_reconnects_total", Counter, []string{"role"}, "Reconnections to NATS."},
	{"gateway_nats_slow_consumers_total", Counter, []string{"role"}, "Messages dropped by the NATS client because a subscriber fell behind."},
	// Access control.
	{"auth_requests_total", Counter, []string{"result"}, "API key checks (result: allowed, denied)."},
	{"rate_limit_exceeded_total", Counter, []string{"key_name"}, "Requests refused by a per-key rate limit."},
	{"quota_exceeded_total", Counter, []string{"key_name"}, "Requests refused by a per-key quota."},
	{"gateway_key_tokens_total", Counter, []string{"key_name", "model", "kind"}, "Tokens charged to API keys (kind: input, output, cached)."},
	{"gateway_quota_remaining_ratio", Gauge, []string{"key_name"}, "Remaining share (0..1) of the period's token quota."},
	{"gateway_access_store_errors_total", Counter, []string{"policy"}, "Failures of the shared limit and quota store (policy: closed, open)."},
	// Robustness.
	{"gateway_panics_total", Counter, []string{"component"}, "Panics recovered while handling one request (component: ingress, worker)."},
	// Build.
	{"gateway_build_info", Gauge, []string{"version", "goversion"}, "Always 1; the labels name the running build."},
}

// GatewayMetrics returns the gateway's metric contract, sorted by name. The
// slice is a copy.
func GatewayMetrics() []Metric {
	out := make([]Metric, len(gatewayMetrics))
	for i, m := range gatewayMetrics {
		m.Labels = slices.Clone(m.Labels)
		out[i] = m
	}
	slices.SortFunc(out, func(a, b Metric) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// exporterMetrics are the metrics of natsio/prometheus-nats-exporter that the
// deployment files may query. They are documented in docs/metrics.md; the
// exporter exposes many more, add them here (and there) before using them.
var exporterMetrics = [...]string{
	"gnatsd_varz_connections",
	"gnatsd_varz_total_connections",
	"gnatsd_varz_slow_consumers",
	"gnatsd_varz_in_msgs",
	"gnatsd_varz_out_msgs",
	"gnatsd_varz_in_bytes",
	"gnatsd_varz_out_bytes",
	"gnatsd_varz_subscriptions",
	"gnatsd_varz_routes",
	"gnatsd_varz_mem",
	"gnatsd_varz_cpu",
	"gnatsd_connz_num_connections",
	"gnatsd_routez_num_routes",
	"gnatsd_healthz_status",
}

// GatewayMetricNames returns the base name of every metric the gateway
// exports, sorted. The slice is a copy.
func GatewayMetricNames() []string {
	names := make([]string, len(gatewayMetrics))
	for i, m := range gatewayMetrics {
		names[i] = m.Name
	}
	sort.Strings(names)
	return names
}

// ExporterMetricNames returns the NATS exporter metrics the deployment files
// are allowed to query, sorted. The slice is a copy.
func ExporterMetricNames() []string {
	names := slices.Clone(exporterMetrics[:])
	sort.Strings(names)
	return names
}

// IsExporterMetric reports whether name belongs to the NATS exporter's
// namespace (gnatsd_ or nats_) rather than to the gateway.
func IsExporterMetric(name string) bool {
	return strings.HasPrefix(name, "gnatsd_") || strings.HasPrefix(name, "nats_")
}

// BaseName strips the series suffix a histogram or summary adds
// (_bucket, _sum, _count) from a metric name.
func BaseName(name string) string {
	for _, suffix := range [...]string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && base != "" {
			return base
		}
	}
	return name
}
