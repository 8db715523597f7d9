package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const k8sDir = "deploy/kubernetes"

// k8sObject is one Kubernetes manifest document.
type k8sObject struct {
	file string
	raw  map[string]any
}

func (o k8sObject) kind() string { return str(o.raw["kind"]) }
func (o k8sObject) name() string { return str(dig(o.raw, "metadata", "name")) }
func (o k8sObject) id() string   { return o.kind() + "/" + o.name() }

// secretFile is applied by hand with real values, outside the kustomization.
const secretFile = "secret.yaml"

// monitoringDir holds the optional kustomization with the Prometheus
// Operator's objects, applied only where its CRDs are installed.
const monitoringDir = "monitoring"

// k8sObjects loads every document of the kustomization's resources, of the
// optional monitoring kustomization and of the example Secret.
func k8sObjects(t *testing.T) (map[string]any, []k8sObject) {
	t.Helper()
	kust := yamlDoc(t, repoPath(k8sDir, "kustomization.yaml"))
	files := append(list(kust["resources"]), secretFile)
	for _, r := range list(yamlDoc(t, repoPath(k8sDir, monitoringDir, "kustomization.yaml"))["resources"]) {
		files = append(files, monitoringDir+"/"+str(r))
	}
	var objs []k8sObject
	for _, r := range files {
		for _, doc := range yamlDocs(t, repoPath(k8sDir, str(r))) {
			objs = append(objs, k8sObject{file: str(r), raw: doc})
		}
	}
	return kust, objs
}

func byKind(objs []k8sObject, kind string) []k8sObject {
	var out []k8sObject
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func lookupObject(objs []k8sObject, kind, name string) (k8sObject, bool) {
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o, true
		}
	}
	return k8sObject{}, false
}

// selects reports whether every matchLabels pair is among labels.
func selects(matchLabels, labels map[string]any) bool {
	if len(matchLabels) == 0 {
		return false
	}
	for k, v := range matchLabels {
		if str(labels[k]) != str(v) {
			return false
		}
	}
	return true
}

// secretValues returns a Secret's keys and values (stringData and data).
func secretValues(o k8sObject) map[string]string {
	out := map[string]string{}
	for k, v := range mapping(o.raw["stringData"]) {
		out[k] = str(v)
	}
	for k, v := range mapping(o.raw["data"]) {
		out[k] = str(v)
	}
	return out
}

func TestKubernetesKustomization(t *testing.T) {
	kust, objs := k8sObjects(t)
	ns := str(kust["namespace"])
	if _, ok := lookupObject(objs, "Namespace", ns); !ok {
		t.Errorf("kustomization namespace %q is not created by a resource", ns)
	}
	// Every manifest in the directory is applied.
	files, _ := filepath.Glob(repoPath(k8sDir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		if base == "kustomization.yaml" || base == "nats-values.yaml" {
			continue
		}
		if base == secretFile {
			if slices.Contains(list(kust["resources"]), any(base)) {
				t.Errorf("%s is a kustomization resource: apply -k would overwrite the real Secret with placeholders", base)
			}
			continue
		}
		if !slices.Contains(list(kust["resources"]), any(base)) {
			t.Errorf("%s is not listed in kustomization.yaml resources", base)
		}
	}
	imageListed := false
	for _, img := range list(kust["images"]) {
		if str(dig(img, "name")) == imageRepo {
			imageListed = true
		}
	}
	if !imageListed {
		t.Errorf("kustomization images do not name %s", imageRepo)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if str(o.raw["apiVersion"]) == "" || o.kind() == "" || o.name() == "" {
			t.Errorf("%s: object without apiVersion, kind or name", o.file)
		}
		if seen[o.id()] {
			t.Errorf("%s defined twice", o.id())
		}
		seen[o.id()] = true
		if o.kind() != "Namespace" {
			if got := str(dig(o.raw, "metadata", "namespace")); got != "" && got != ns {
				t.Errorf("%s in namespace %q, kustomization says %q", o.id(), got, ns)
			}
		}
	}
	for _, want := range []string{"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "ServiceMonitor", "PodDisruptionBudget", "HorizontalPodAutoscaler"} {
		if len(byKind(objs, want)) == 0 {
			t.Errorf("no %s", want)
		}
	}
}

// renderConfigMap builds configmap.yaml from config/production.toml.
func renderConfigMap(t *testing.T) []byte {
	t.Helper()
	src := strings.TrimRight(mustRead(t, repoPath("config", "production.toml")), "\n")
	var b strings.Builder
	b.WriteString(`# Generated from config/production.toml by
#   go test ./deploy -run TestKubernetesConfigMap -update
# Edit that file and regenerate; the test fails while the two differ.
apiVersion: v1
kind: ConfigMap
metadata:
  name: gateway-config
  namespace: aigateway
  labels:
    app.kubernetes.io/name: gateway
    app.kubernetes.io/part-of: aigateway
data:
  production.toml: |
`)
	for _, line := range strings.Split(src, "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("    " + line + "\n")
	}
	return []byte(b.String())
}

func TestKubernetesConfigMap(t *testing.T) {
	path := repoPath(k8sDir, "configmap.yaml")
	want := renderConfigMap(t)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := mustRead(t, path)
	if !bytesEqualLines([]byte(got), want) {
		t.Fatalf("%s is out of date with config/production.toml; run go test ./deploy -run TestKubernetesConfigMap -update", path)
	}
	// And the YAML carries the file byte for byte.
	doc := yamlDoc(t, path)
	data := str(dig(doc, "data", "production.toml"))
	if strings.TrimRight(data, "\n") != strings.TrimRight(mustRead(t, repoPath("config", "production.toml")), "\n") {
		t.Error("the ConfigMap's production.toml differs from config/production.toml once decoded")
	}
}

func TestKubernetesDeployments(t *testing.T) {
	img := imageFacts(t)
	validEnv := envNames(t)
	_, objs := k8sObjects(t)
	deployments := byKind(objs, "Deployment")
	roles := map[string]k8sObject{}
	for _, d := range deployments {
		t.Run(d.name(), func(t *testing.T) {
			role := checkDeployment(t, d, objs, img, validEnv)
			roles[role] = d
		})
	}
	ingress, ok := roles["ingress"]
	if !ok {
		t.Fatal("no Deployment runs `gateway ingress`")
	}
	if _, ok := roles["worker"]; !ok {
		t.Fatal("no Deployment runs `gateway worker`")
	}
	if n, _ := dig(ingress.raw, "spec", "replicas").(int); n < 2 {
		t.Errorf("ingress replicas %v, want at least 2", dig(ingress.raw, "spec", "replicas"))
	}
}

// checkDeployment checks one gateway Deployment and returns its role.
func checkDeployment(t *testing.T, d k8sObject, objs []k8sObject, img imageInfo, validEnv map[string]bool) string {
	t.Helper()
	pod := dig(d.raw, "spec", "template", "spec")
	podLabels := mapping(dig(d.raw, "spec", "template", "metadata", "labels"))
	if !selects(mapping(dig(d.raw, "spec", "selector", "matchLabels")), podLabels) {
		t.Errorf("selector does not match the pod template labels")
	}
	containers := list(dig(pod, "containers"))
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]
	image := str(dig(c, "image"))
	if repo, _, _ := strings.Cut(image, ":"); repo != imageRepo {
		t.Errorf("image %s, want %s", image, imageRepo)
	}
	var args []string
	for _, a := range list(dig(c, "args")) {
		args = append(args, str(a))
	}
	if len(args) == 0 || (args[0] != "ingress" && args[0] != "worker") {
		t.Fatalf("args %v: want ingress or worker", args)
	}
	role := args[0]

	// Security: the restricted Pod Security Standard and then some.
	uid, _, _ := strings.Cut(img.user, ":")
	checks := map[string]any{
		"pod runAsNonRoot":                  dig(pod, "securityContext", "runAsNonRoot") == true,
		"pod runAsUser is the image's user": str(dig(pod, "securityContext", "runAsUser")) == uid,
		"pod seccomp RuntimeDefault":        str(dig(pod, "securityContext", "seccompProfile", "type")) == "RuntimeDefault",
		"readOnlyRootFilesystem":            dig(c, "securityContext", "readOnlyRootFilesystem") == true,
		"no privilege escalation":           dig(c, "securityContext", "allowPrivilegeEscalation") == false,
		"container runAsNonRoot":            dig(c, "securityContext", "runAsNonRoot") == true,
		"drops ALL capabilities":            slices.Contains(list(dig(c, "securityContext", "capabilities", "drop")), any("ALL")),
		"container seccomp RuntimeDefault":  str(dig(c, "securityContext", "seccompProfile", "type")) == "RuntimeDefault",
		"cpu request":                       str(dig(c, "resources", "requests", "cpu")) != "",
		"memory request":                    str(dig(c, "resources", "requests", "memory")) != "",
		"memory limit":                      str(dig(c, "resources", "limits", "memory")) != "",
	}
	for name, ok := range checks {
		if ok != true {
			t.Errorf("%s: not set", name)
		}
	}

	// Volumes: config read-only from a ConfigMap, writable paths on emptyDirs.
	volumes := map[string]map[string]any{}
	for _, v := range list(dig(pod, "volumes")) {
		volumes[str(dig(v, "name"))] = mapping(v)
	}
	mounts := map[string]map[string]any{}
	for _, m := range list(dig(c, "volumeMounts")) {
		mounts[str(dig(m, "mountPath"))] = mapping(m)
		if volumes[str(dig(m, "name"))] == nil {
			t.Errorf("volumeMount %s names no volume", dig(m, "name"))
		}
	}
	cfgMount := mounts[img.configDir]
	if cfgMount == nil || cfgMount["readOnly"] != true {
		t.Fatalf("config is not mounted read-only at %s (the image's GATEWAY_CONFIG_DIR)", img.configDir)
	}
	cmName := str(dig(volumes[str(cfgMount["name"])], "configMap", "name"))
	cm, ok := lookupObject(objs, "ConfigMap", cmName)
	if !ok {
		t.Fatalf("config volume uses ConfigMap %q, which is not defined", cmName)
	}
	for _, p := range []string{"/tmp", "/home/appuser/data"} {
		if m := mounts[p]; m == nil || dig(volumes[str(m["name"])], "emptyDir") == nil {
			t.Errorf("%s is not a writable emptyDir (the root filesystem is read-only)", p)
		}
	}

	// Environment: schema keys only, secrets that exist, a config that loads.
	env := map[string]string{}
	for _, e := range list(dig(c, "env")) {
		name := str(dig(e, "name"))
		if strings.HasPrefix(name, "GATEWAY_") && !validEnv[name] {
			t.Errorf("env %s is no key of the config schema", name)
		}
		if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
			sec, ok := lookupObject(objs, "Secret", str(dig(ref, "name")))
			if !ok {
				t.Errorf("env %s: Secret %s is not defined", name, dig(ref, "name"))
				continue
			}
			v, ok := secretValues(sec)[str(dig(ref, "key"))]
			if !ok {
				t.Errorf("env %s: Secret %s has no key %s", name, sec.name(), dig(ref, "key"))
			}
			env[name] = v
			continue
		}
		env[name] = str(dig(e, "value"))
	}
	if v, ok := env["GATEWAY_CONFIG_DIR"]; ok && v != img.configDir {
		t.Errorf("GATEWAY_CONFIG_DIR=%s, but the config is mounted at %s", v, img.configDir)
	}
	file := "default.toml"
	if e := env["GATEWAY_ENV"]; e != "" {
		file = e + ".toml"
	}
	if _, ok := mapping(dig(cm.raw, "data"))[file]; !ok {
		t.Fatalf("ConfigMap %s has no %s for GATEWAY_ENV=%s", cmName, file, env["GATEWAY_ENV"])
	}
	if err := loadWithEnv(file, env); err != nil {
		t.Errorf("config/%s with this Deployment's environment does not load: %v", file, err)
	}
	cfg := shippedConfig(t, file)
	for _, u := range cfg.Upstreams {
		key := "GATEWAY_UPSTREAMS_" + envToken(u.Name) + "_API_KEY"
		_, has := env[key]
		switch {
		case role == "worker" && !has:
			t.Errorf("worker has no %s: it could not call upstream %s", key, u.Name)
		case role == "ingress" && has:
			t.Errorf("ingress holds %s; only workers call the providers", key)
		}
	}

	// Ports and probes: the health endpoints on the port the process serves
	// them on (a worker's ops port, else server.port). Liveness never
	// depends on NATS, or an outage would restart every pod.
	gp := gatewayPorts(t, cfg, env)
	httpPort := gp.HTTP
	if role == "worker" {
		httpPort = gp.Worker
	}
	named := map[string]int{}
	for _, p := range list(dig(c, "ports")) {
		n, _ := dig(p, "containerPort").(int)
		named[str(dig(p, "name"))] = n
		if n != httpPort {
			t.Errorf("containerPort %d, the gateway listens on %d", n, httpPort)
		}
	}
	for probe, path := range map[string]string{"livenessProbe": "/health/live", "readinessProbe": "/health/ready", "startupProbe": "/health/live"} {
		hg := dig(c, probe, "httpGet")
		if hg == nil {
			if probe != "startupProbe" {
				t.Errorf("%s: no httpGet", probe)
			}
			continue
		}
		if str(dig(hg, "path")) != path {
			t.Errorf("%s probes %s, want %s", probe, dig(hg, "path"), path)
		}
		if port := resolvePort(dig(hg, "port"), named); port != httpPort {
			t.Errorf("%s probes port %v (%d), the gateway listens on %d", probe, dig(hg, "port"), port, httpPort)
		}
	}

	// Shutdown: Kubernetes waits at least the gateway's own grace.
	grace, _ := dig(pod, "terminationGracePeriodSeconds").(int)
	if float64(grace) <= cfg.Server.ShutdownGrace.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %d does not exceed server.shutdown_grace %s", grace, cfg.Server.ShutdownGrace)
	}

	// Every Deployment is covered by a PodDisruptionBudget.
	pdbs := 0
	for _, p := range byKind(objs, "PodDisruptionBudget") {
		if selects(mapping(dig(p.raw, "spec", "selector", "matchLabels")), podLabels) {
			pdbs++
		}
	}
	if pdbs != 1 {
		t.Errorf("%d PodDisruptionBudgets select these pods, want 1", pdbs)
	}
	return role
}

// resolvePort turns a named or numeric port into a number.
func resolvePort(v any, named map[string]int) int {
	switch p := v.(type) {
	case int:
		return p
	case string:
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
		return named[p]
	}
	return 0
}

func TestKubernetesServices(t *testing.T) {
	_, objs := k8sObjects(t)
	services := byKind(objs, "Service")
	for _, s := range services {
		t.Run(s.name(), func(t *testing.T) {
			var dep *k8sObject
			for _, d := range byKind(objs, "Deployment") {
				if selects(mapping(dig(s.raw, "spec", "selector")), mapping(dig(d.raw, "spec", "template", "metadata", "labels"))) {
					dep = &d
				}
			}
			if dep == nil {
				t.Fatal("selects no Deployment's pods")
			}
			named := map[string]int{}
			var numbers []int
			for _, p := range list(dig(dep.raw, "spec", "template", "spec", "containers", "0", "ports")) {
				n, _ := dig(p, "containerPort").(int)
				named[str(dig(p, "name"))] = n
				numbers = append(numbers, n)
			}
			for _, p := range list(dig(s.raw, "spec", "ports")) {
				target := dig(p, "targetPort")
				if target == nil {
					target = dig(p, "port")
				}
				if !slices.Contains(numbers, resolvePort(target, named)) {
					t.Errorf("port %v targets %v, which %s does not open", dig(p, "name"), target, dep.name())
				}
			}
		})
	}

	// The ServiceMonitor scrapes every gateway Service on a port it has.
	monitors := byKind(objs, "ServiceMonitor")
	if len(monitors) == 0 {
		t.Fatal("no ServiceMonitor")
	}
	for _, sm := range monitors {
		if v := str(sm.raw["apiVersion"]); v != "monitoring.coreos.com/v1" {
			t.Errorf("%s: apiVersion %s", sm.id(), v)
		}
		sel := mapping(dig(sm.raw, "spec", "selector", "matchLabels"))
		covered := map[string]bool{}
		for _, s := range services {
			if !selects(sel, mapping(dig(s.raw, "metadata", "labels"))) {
				continue
			}
			covered[s.name()] = true
			for _, ep := range list(dig(sm.raw, "spec", "endpoints")) {
				found := false
				for _, p := range list(dig(s.raw, "spec", "ports")) {
					if str(dig(p, "name")) == str(dig(ep, "port")) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: endpoint port %q is not a port of Service %s", sm.id(), dig(ep, "port"), s.name())
				}
				if str(dig(ep, "path")) != "/metrics" {
					t.Errorf("%s: path %q", sm.id(), dig(ep, "path"))
				}
			}
		}
		for _, d := range byKind(objs, "Deployment") {
			exposed := false
			for _, s := range services {
				if covered[s.name()] && selects(mapping(dig(s.raw, "spec", "selector")), mapping(dig(d.raw, "spec", "template", "metadata", "labels"))) {
					exposed = true
				}
			}
			if !exposed {
				t.Errorf("%s does not scrape %s", sm.id(), d.name())
			}
		}
	}
}

func TestKubernetesAutoscaler(t *testing.T) {
	_, objs := k8sObjects(t)
	hpas := byKind(objs, "HorizontalPodAutoscaler")
	if len(hpas) == 0 {
		t.Fatal("no HorizontalPodAutoscaler")
	}
	for _, h := range hpas {
		ref := dig(h.raw, "spec", "scaleTargetRef")
		d, ok := lookupObject(objs, str(dig(ref, "kind")), str(dig(ref, "name")))
		if !ok {
			t.Fatalf("%s scales %s/%s, which is not defined", h.id(), dig(ref, "kind"), dig(ref, "name"))
		}
		if args := list(dig(d.raw, "spec", "template", "spec", "containers", "0", "args")); len(args) == 0 || args[0] != "worker" {
			t.Errorf("%s scales %s, which does not run workers", h.id(), d.name())
		}
		if dig(d.raw, "spec", "replicas") != nil {
			t.Errorf("%s sets replicas: every kubectl apply would fight the autoscaler", d.name())
		}
		if min, _ := dig(h.raw, "spec", "minReplicas").(int); min < 2 {
			t.Errorf("%s: minReplicas %d, want at least 2", h.id(), min)
		}
		for _, m := range list(dig(h.raw, "spec", "metrics")) {
			res := str(dig(m, "resource", "name"))
			if res != "" && str(dig(d.raw, "spec", "template", "spec", "containers", "0", "resources", "requests", res)) == "" {
				t.Errorf("%s scales on %s utilization but %s requests no %s", h.id(), res, d.name(), res)
			}
		}
	}
}

func TestNATSHelmValues(t *testing.T) {
	v := yamlDoc(t, repoPath(k8sDir, "nats-values.yaml"))
	prod := shippedConfig(t, "production.toml")
	replicas, _ := dig(v, "config", "cluster", "replicas").(int)
	maxPayload, _ := dig(v, "config", "merge", "max_payload").(int)
	checks := []struct {
		name string
		ok   bool
	}{
		{"cluster enabled", dig(v, "config", "cluster", "enabled") == true},
		{fmt.Sprintf("cluster replicas %d cover bus.replicas %d", replicas, prod.Bus.Replicas), replicas >= 3 && replicas >= prod.Bus.Replicas},
		{"JetStream enabled", dig(v, "config", "jetstream", "enabled") == true},
		{"JetStream file store on a volume", dig(v, "config", "jetstream", "fileStore", "enabled") == true && dig(v, "config", "jetstream", "fileStore", "pvc", "enabled") == true},
		{"monitoring enabled", dig(v, "config", "monitor", "enabled") == true},
		{"exporter enabled", dig(v, "promExporter", "enabled") == true},
		// A PodMonitor needs the Prometheus Operator's CRDs: off unless asked for.
		{"podMonitor off by default", dig(v, "promExporter", "podMonitor", "enabled") == false},
		{fmt.Sprintf("max_payload %d covers bus.max_payload %d", maxPayload, prod.Bus.MaxPayload), maxPayload >= prod.Bus.MaxPayload},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Error("not so in nats-values.yaml")
			}
		})
	}

	// The release name in the README is the Service name production.toml dials.
	readme := mustRead(t, repoPath(k8sDir, "README.md"))
	m := regexp.MustCompile(`helm upgrade --install (\S+) nats/nats .*-f deploy/kubernetes/nats-values\.yaml`).FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no `helm upgrade --install <release> nats/nats ... -f deploy/kubernetes/nats-values.yaml`")
	}
	for _, u := range strings.Split(prod.Bus.URL, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil {
			t.Fatal(err)
		}
		if host := strings.Split(pu.Hostname(), ".")[0]; host != m[1] {
			t.Errorf("production bus.url host %s, but the NATS release (and Service) is %s", pu.Hostname(), m[1])
		}
	}
	if !strings.Contains(readme, "kubectl apply -k deploy/kubernetes") {
		t.Error("README.md does not show kubectl apply -k deploy/kubernetes")
	}
}
