package check

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

const imageRepo = "ghcr.io/aigateway/gateway"

// repoRoot is the gateway repository, two levels above this directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// kustomize renders dir (repository-relative) as `kubectl kustomize` does
// and returns the objects as YAML documents.
func kustomize(t *testing.T, dir string) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(), dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var docs [][]byte
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		docs = append(docs, y)
	}
	if len(docs) == 0 {
		t.Fatalf("kustomize build %s rendered nothing", dir)
	}
	return docs
}

// strictDecoder decodes the built-in kinds the manifests use and refuses
// unknown or duplicate fields, as `kubectl apply --validate=strict` does.
func strictDecoder(t *testing.T) kruntime.Decoder {
	t.Helper()
	scheme := kruntime.NewScheme()
	for _, add := range []func(*kruntime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

// restricted is the Pod Security Standard the namespace enforces.
func restricted(t *testing.T) (policy.Evaluator, psapi.LevelVersion) {
	t.Helper()
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ev, psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}
}

// forbidden returns the reasons the restricted standard refuses a pod.
func forbidden(ev policy.Evaluator, lv psapi.LevelVersion, meta *metav1.ObjectMeta, spec *corev1.PodSpec) []string {
	var out []string
	for _, r := range ev.EvaluatePod(lv, meta, spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return out
}

// TestKustomizeRendersValidObjects renders deploy/kubernetes with kustomize,
// decodes every object strictly into its API type and checks every pod
// template against the restricted Pod Security Standard.
func TestKustomizeRendersValidObjects(t *testing.T) {
	dec := strictDecoder(t)
	ev, lv := restricted(t)
	var kinds []string
	var nsLabels map[string]string
	for _, doc := range kustomize(t, "deploy/kubernetes") {
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Errorf("object does not decode strictly: %v\n%s", err, doc)
			continue
		}
		kinds = append(kinds, gvk.Kind)
		switch o := obj.(type) {
		case *corev1.Namespace:
			nsLabels = o.Labels
		case *appsv1.Deployment:
			t.Run(o.Name, func(t *testing.T) {
				if o.Namespace != "aigateway" {
					t.Errorf("namespace %q", o.Namespace)
				}
				if reasons := forbidden(ev, lv, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec); len(reasons) > 0 {
					t.Errorf("the restricted Pod Security Standard refuses the pods:\n%s", strings.Join(reasons, "\n"))
				}
				checkGatewayContainer(t, o.Spec.Template.Spec.Containers[0])
			})
		}
	}
	for _, want := range []string{"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("kustomize rendered no %s (got %v)", want, kinds)
		}
	}
	if slices.Contains(kinds, "ServiceMonitor") || slices.Contains(kinds, "Secret") {
		t.Errorf("deploy/kubernetes renders %v: the ServiceMonitor needs the Prometheus Operator's CRDs and the Secret holds placeholders, neither belongs to the base", kinds)
	}
	if nsLabels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace labels %v: want the restricted standard enforced", nsLabels)
	}
}

var releaseTag = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// checkGatewayContainer checks what a first `kubectl apply` depends on:
// a released image, probes that survive a NATS outage and a Go memory limit
// under the container's.
func checkGatewayContainer(t *testing.T, c corev1.Container) {
	t.Helper()
	repo, tag, _ := strings.Cut(c.Image, ":")
	if repo != imageRepo || !releaseTag.MatchString(tag) {
		t.Errorf("image %s: want %s pinned to a release tag vX.Y.Z (published by .github/workflows/release.yml)", c.Image, imageRepo)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", c.LivenessProbe, "/health/live"},
		{"readiness", c.ReadinessProbe, "/health/ready"},
		{"startup", c.StartupProbe, "/health/live"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: none", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe on %s, want %s", p.name, p.probe.HTTPGet.Path, p.path)
		}
	}
	limit := c.Resources.Limits.Memory()
	var gomem string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			gomem = e.Value
		}
	}
	if limit.IsZero() || gomem == "" {
		t.Fatalf("memory limit %v, GOMEMLIMIT %q: want both", limit, gomem)
	}
	// Go writes MiB, Kubernetes Mi.
	soft, err := resource.ParseQuantity(strings.TrimSuffix(gomem, "B"))
	if err != nil {
		t.Fatalf("GOMEMLIMIT %q: %v", gomem, err)
	}
	if ratio := float64(soft.Value()) / float64(limit.Value()); ratio >= 0.95 || ratio < 0.7 {
		t.Errorf("GOMEMLIMIT %s is %.0f%% of the %s limit: want it under the limit with room for non-heap memory (70-95%%)", gomem, 100*ratio, limit)
	}
}

// TestMonitoringKustomization renders the optional monitoring overlay: a
// ServiceMonitor, and nothing else, in the gateway's namespace.
func TestMonitoringKustomization(t *testing.T) {
	docs := kustomize(t, "deploy/kubernetes/monitoring")
	for _, doc := range docs {
		var obj struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatal(err)
		}
		if obj.APIVersion != "monitoring.coreos.com/v1" || obj.Kind != "ServiceMonitor" || obj.Metadata.Namespace != "aigateway" {
			t.Errorf("monitoring renders %s %s in %q, want only ServiceMonitors in aigateway", obj.APIVersion, obj.Kind, obj.Metadata.Namespace)
		}
	}
}

// TestNATSValuesMatchTheChart checks deploy/kubernetes/nats-values.yaml
// against the official chart's values.yaml (vendored in testdata): every key
// exists in the chart, outside the free-form merge and patch sections.
func TestNATSValuesMatchTheChart(t *testing.T) {
	ours := yamlMap(t, filepath.Join(repoRoot(), "deploy", "kubernetes", "nats-values.yaml"))
	chart := yamlMap(t, filepath.Join("testdata", "nats-chart", "values.yaml"))
	var unknown []string
	var walk func(path string, ours, chart map[string]any)
	walk = func(path string, ours, chart map[string]any) {
		for k, v := range ours {
			p := path + "." + k
			cv, ok := chart[k]
			if !ok {
				unknown = append(unknown, p)
				continue
			}
			if k == "merge" || k == "patch" {
				continue // free-form Kubernetes objects, checked below
			}
			if sub, ok := v.(map[string]any); ok {
				csub, _ := cv.(map[string]any)
				// A chart default of {} (e.g. topologySpreadConstraints) is a free-form map.
				if len(csub) > 0 {
					walk(p, sub, csub)
				}
			}
		}
	}
	walk("", ours, chart)
	if len(unknown) > 0 {
		t.Errorf("nats-values.yaml sets keys the NATS chart does not have (helm would ignore them): %v", unknown)
	}
}

// TestNATSPodsPassRestricted builds the NATS server pod the chart renders
// from the values' merges (pod template, nats, reloader and exporter
// containers) and the nats-box pod, and judges them against the restricted
// Pod Security Standard the namespace enforces. The chart itself is not
// rendered here (no Helm in the test's dependencies): its templates merge
// exactly these sections into the pod.
func TestNATSPodsPassRestricted(t *testing.T) {
	values := yamlMap(t, filepath.Join(repoRoot(), "deploy", "kubernetes", "nats-values.yaml"))
	ev, lv := restricted(t)
	container := func(name string, path ...string) corev1.Container {
		c := corev1.Container{Name: name, Image: "nats"}
		decodeInto(t, dig(values, append(path, "merge")...), &c)
		c.Name = name
		return c
	}
	pod := func(path ...string) corev1.PodSpec {
		var spec corev1.PodSpec
		decodeInto(t, dig(values, append(path, "merge", "spec")...), &spec)
		return spec
	}
	server := pod("podTemplate")
	server.Containers = []corev1.Container{
		container("nats", "container"),
		container("reloader", "reloader"),
		container("prom-exporter", "promExporter"),
	}
	box := pod("natsBox", "podTemplate")
	box.Containers = []corev1.Container{container("nats-box", "natsBox", "container")}
	for name, spec := range map[string]*corev1.PodSpec{"nats": &server, "nats-box": &box} {
		if reasons := forbidden(ev, lv, &metav1.ObjectMeta{Name: name}, spec); len(reasons) > 0 {
			t.Errorf("%s pods are refused by the restricted Pod Security Standard:\n%s", name, strings.Join(reasons, "\n"))
		}
	}
	if dig(values, "promExporter", "podMonitor", "enabled") != false {
		t.Error("promExporter.podMonitor is on: it fails without the Prometheus Operator's CRDs; keep it off by default")
	}
}

func yamlMap(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// decodeInto decodes a YAML value into a Kubernetes API type strictly
// (unknown fields are errors), as the chart's merge would hand it to the API
// server.
func decodeInto(t *testing.T, v any, into any) {
	t.Helper()
	if v == nil {
		return
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%T: %v\n%s", into, err, data)
	}
}
