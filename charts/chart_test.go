// Package charts_test renders the Helm chart charts/crucible with bin/helm
// (make test-chart builds it and runs this test) and checks what it renders:
// well-formed, namespaced where it must be, every manager flag reachable
// from values, and the rules, policies, CRDs and pod settings equal to
// config/, their one source.
package charts_test

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/store"
)

const (
	chartDir  = "crucible"
	release   = "crucible"
	namespace = "crucible-system"
	// allOn sets every optional part and every flag-valued option.
	allOn = "crucible/ci/all-on-values.yaml"
	// serviceMonitorAPI is the API the ServiceMonitor needs the cluster to serve.
	serviceMonitorAPI = "monitoring.coreos.com/v1"
)

// clusterScoped are the kinds the chart renders without a namespace.
var clusterScoped = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// helm is the helm binary: $HELM, or bin/helm. The test is skipped
// without either (make test-unit may run before helm was ever built);
// make test-chart always sets HELM.
func helm(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	h, err := filepath.Abs(filepath.Join("..", "bin", "helm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h); err != nil {
		t.Skipf("no helm at %s: make test-chart builds it and runs this test", h)
	}
	return h
}

// render runs helm template with args and returns the objects.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	cmd := exec.Command(helm(t), append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	return decode(t, out)
}

func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("decoding: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, data)
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func has(objs []*unstructured.Unstructured, kind string) bool {
	return slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == kind })
}

func TestObjectsAreWellFormed(t *testing.T) {
	for name, args := range map[string][]string{
		"default values":              nil,
		"every option on":             {"-f", allOn, "--api-versions", serviceMonitorAPI},
		"every option, CRDs included": {"-f", allOn, "--include-crds"},
	} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, args...)
			if len(objs) == 0 {
				t.Fatal("nothing rendered")
			}
			seen := map[string]bool{}
			for _, o := range objs {
				id := o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
				if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
					t.Errorf("an object without apiVersion, kind or name: %v", o.Object)
				}
				if seen[id] {
					t.Errorf("%s rendered twice", id)
				}
				seen[id] = true
				switch {
				case clusterScoped[o.GetKind()] && o.GetNamespace() != "":
					t.Errorf("%s is cluster-scoped but has a namespace", id)
				case !clusterScoped[o.GetKind()] && o.GetNamespace() == "":
					t.Errorf("%s has no namespace", id)
				}
			}
		})
	}
}

// The manager's args with default values, and with every option set.
func TestManagerArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{{
		name: "default values",
		want: []string{
			"--leader-elect",
			"--leader-election-namespace=crucible-system",
			"--health-probe-bind-address=:8081",
			"--metrics-bind-address=:8443",
			"--metrics-secure=true",
			"--experiment-workers=4",
			"--trial-workers=32",
			"--dataset-verifier-image=ghcr.io/crucible-dev/crucible:0.1.0",
			"--step-metrics-bind-address=:9443",
			"--step-metrics-url=https://crucible-step-metrics.crucible-system.svc:9443",
			"--step-metrics-cert-dir=/etc/crucible/step-metrics",
			"--step-metrics-service=crucible-system/crucible-step-metrics",
			"--step-metrics-pod-ip=$(POD_IP)",
			"--zap-log-level=info",
		},
	}, {
		name: "every option set",
		args: []string{"-f", allOn},
		want: []string{
			"--leader-elect",
			"--leader-election-namespace=crucible-system",
			"--health-probe-bind-address=:8081",
			"--metrics-bind-address=:8443",
			"--metrics-secure=true",
			"--pprof-bind-address=:8082",
			"--experiment-workers=8",
			"--trial-workers=64",
			"--kube-api-qps=200",
			"--kube-api-burst=400",
			"--artifact-endpoints=s3.eu-west-1.amazonaws.com,*.storage.example:9000",
			"--artifact-allow-insecure",
			"--artifact-store-timeout=45s",
			"--artifact-max-objects-per-trial=5000000",
			"--artifact-deletion-timeout=15m",
			"--dataset-verifier-image=registry.example.com/crucible/verifier@sha256:" + strings.Repeat("cd", 32),
			"--dataset-verifier-deadline=2h",
			"--step-metrics-bind-address=:9444",
			"--step-metrics-url=https://crucible-step-metrics.crucible-system.svc:9444",
			"--step-metrics-cert-dir=/etc/crucible/step-metrics",
			"--step-metrics-service=crucible-system/crucible-step-metrics",
			"--step-metrics-pod-ip=$(POD_IP)",
			"--step-metrics-write-interval=5s",
			"--provenance-signing-key=crucible-system/crucible-provenance-signing-key",
			"--zap-log-level=debug",
			"--zap-encoder=console",
		},
	}, {
		name: "metrics and step metrics off, no leader election, an image by digest",
		args: []string{"--set", "metrics.enabled=false,metrics.secure=false,leaderElection.enabled=false,stepMetrics.enabled=false",
			"--set", "image.digest=sha256:" + strings.Repeat("ab", 32)},
		want: []string{
			"--leader-election-namespace=crucible-system",
			"--health-probe-bind-address=:8081",
			"--metrics-bind-address=0",
			"--metrics-secure=false",
			"--experiment-workers=4",
			"--trial-workers=32",
			"--dataset-verifier-image=ghcr.io/crucible-dev/crucible@sha256:" + strings.Repeat("ab", 32),
			"--zap-log-level=info",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := managerContainer(t, render(t, tc.args...))
			if diff := cmp.Diff(tc.want, stringsOf(t, got["args"])); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

// A manager flag no value can set fails here: cmd/main.go is read for
// every flag it defines, and the chart with every option set must pass
// each one.
func TestEveryManagerFlagIsAValue(t *testing.T) {
	flags := managerFlags(t)
	if len(flags) < 10 {
		t.Fatalf("found only %d flags in cmd/main.go: %v", len(flags), flags)
	}
	args := stringsOf(t, managerContainer(t, render(t, "-f", allOn))["args"])
	for _, f := range flags {
		if !slices.ContainsFunc(args, func(a string) bool { return a == "--"+f || strings.HasPrefix(a, "--"+f+"=") }) {
			t.Errorf("the manager's flag --%s is not set by any value of the chart (args with every option set: %v)", f, args)
		}
	}
}

// managerFlags lists the flags cmd/main.go defines on flag.CommandLine.
func managerFlags(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "cmd", "main.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{"store.FlagEndpoints": store.FlagEndpoints, "store.FlagAllowInsecure": store.FlagAllowInsecure}
	var flags []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "flag" {
			return true
		}
		i := -1
		switch {
		case sel.Sel.Name == "Func":
			i = 0
		case strings.HasSuffix(sel.Sel.Name, "Var"):
			i = 1
		}
		if i < 0 || len(call.Args) <= i {
			return true
		}
		switch a := call.Args[i].(type) {
		case *ast.BasicLit:
			name, err := strconv.Unquote(a.Value)
			if err != nil {
				t.Fatal(err)
			}
			flags = append(flags, name)
		case *ast.SelectorExpr:
			name, ok := consts[a.X.(*ast.Ident).Name+"."+a.Sel.Name]
			if !ok {
				t.Fatalf("cmd/main.go names a flag by %s.%s: add it to consts here", a.X, a.Sel.Name)
			}
			flags = append(flags, name)
		default:
			t.Fatalf("cmd/main.go names a flag by an expression this test cannot read: %T", a)
		}
		return true
	})
	return flags
}

// The Deployment's pod is config/manager's: its security contexts, probes,
// ports and resources.
func TestManagerPodMatchesConfig(t *testing.T) {
	var want *unstructured.Unstructured
	for _, o := range readObjects(t, filepath.Join("..", "config", "manager", "manager.yaml")) {
		if o.GetKind() == "Deployment" {
			want = o
		}
	}
	if want == nil {
		t.Fatal("config/manager/manager.yaml has no Deployment")
	}
	wantPod := nested(t, want.Object, "spec", "template", "spec")
	gotPod := nested(t, find(t, render(t), "Deployment", "crucible-controller-manager").Object, "spec", "template", "spec")
	for _, field := range []string{"securityContext", "terminationGracePeriodSeconds"} {
		if diff := cmp.Diff(wantPod[field], gotPod[field]); diff != "" {
			t.Errorf("pod %s (-config/manager +chart):\n%s", field, diff)
		}
	}
	wantC := containerOf(t, wantPod)
	gotC := containerOf(t, gotPod)
	for _, field := range []string{"securityContext", "livenessProbe", "readinessProbe", "ports", "resources", "command"} {
		if diff := cmp.Diff(wantC[field], gotC[field]); diff != "" {
			t.Errorf("container %s (-config/manager +chart):\n%s", field, diff)
		}
	}
}

// The RBAC rules, the policies and the CRDs are config/'s.
func TestGeneratedFromConfig(t *testing.T) {
	objs := render(t, "-f", allOn, "--include-crds")
	rbac := func(file, kind string) any {
		for _, o := range readObjects(t, filepath.Join("..", "config", "rbac", file)) {
			if o.GetKind() == kind {
				return o.Object["rules"]
			}
		}
		t.Fatalf("config/rbac/%s has no %s", file, kind)
		return nil
	}
	for _, tc := range []struct{ file, kind, name string }{
		{"role.yaml", "ClusterRole", "crucible-manager-role"},
		{"leader_election_role.yaml", "Role", "crucible-leader-election-role"},
		{"artifact_secrets_role.yaml", "ClusterRole", "crucible-artifact-secrets-reader"},
		{"metrics_reader_role.yaml", "ClusterRole", "crucible-metrics-reader"},
		{"experiment_editor_role.yaml", "ClusterRole", "crucible-experiment-editor-role"},
		{"experiment_viewer_role.yaml", "ClusterRole", "crucible-experiment-viewer-role"},
		{"trial_viewer_role.yaml", "ClusterRole", "crucible-trial-viewer-role"},
	} {
		if diff := cmp.Diff(rbac(tc.file, tc.kind), find(t, objs, tc.kind, tc.name).Object["rules"]); diff != "" {
			t.Errorf("%s %s rules (-config/rbac/%s +chart):\n%s", tc.kind, tc.name, tc.file, diff)
		}
	}
	// The provenance Role names the Secret of the values instead.
	keyRules := rbac("provenance_key_role.yaml", "Role").([]any)
	for _, r := range keyRules {
		r.(map[string]any)["resourceNames"] = []any{"crucible-provenance-signing-key"}
	}
	if diff := cmp.Diff(any(keyRules), find(t, objs, "Role", "crucible-provenance-key-reader").Object["rules"]); diff != "" {
		t.Errorf("provenance key Role rules (-config/rbac +chart):\n%s", diff)
	}
	dashboard := readObjects(t, filepath.Join("..", "config", "dashboard", "role.yaml"))[0]
	if diff := cmp.Diff(dashboard.Object["rules"], find(t, objs, "ClusterRole", "crucible-dashboard").Object["rules"]); diff != "" {
		t.Errorf("dashboard ClusterRole rules (-config/dashboard +chart):\n%s", diff)
	}

	files, err := filepath.Glob(filepath.Join("..", "config", "policy", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, must(filepath.Glob(filepath.Join("..", "config", "crd", "bases", "*.yaml")))...)
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, want := range readObjects(t, f) {
			n++
			got := find(t, objs, want.GetKind(), want.GetName())
			if diff := cmp.Diff(want.Object["spec"], got.Object["spec"]); diff != "" {
				t.Errorf("%s %s spec (-%s +chart):\n%s", want.GetKind(), want.GetName(), f, diff)
			}
		}
	}
	got := 0
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") || o.GetKind() == "CustomResourceDefinition" {
			got++
		}
	}
	if got != n {
		t.Errorf("the chart renders %d policies, bindings and CRDs; config/ has %d", got, n)
	}
}

func TestServiceMonitorOnlyWhereServed(t *testing.T) {
	on := []string{"--set", "metrics.serviceMonitor.enabled=true"}
	if has(render(t, on...), "ServiceMonitor") {
		t.Error("a ServiceMonitor was rendered for a cluster without " + serviceMonitorAPI)
	}
	if has(render(t, "--api-versions", serviceMonitorAPI), "ServiceMonitor") {
		t.Error("a ServiceMonitor was rendered though metrics.serviceMonitor.enabled is false")
	}
	sm := find(t, render(t, append(on, "--api-versions", serviceMonitorAPI)...), "ServiceMonitor", "crucible-controller-manager-metrics-monitor")
	svc := find(t, render(t), "Service", "crucible-controller-manager-metrics-service")
	for k, v := range nested(t, sm.Object, "spec", "selector", "matchLabels") {
		if svc.GetLabels()[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%v; the metrics Service has %q", k, v, svc.GetLabels()[k])
		}
	}
}

func TestDashboardOnlyWhenEnabled(t *testing.T) {
	for _, o := range render(t) {
		if strings.Contains(o.GetName(), "dashboard") {
			t.Errorf("%s %s rendered with the dashboard off", o.GetKind(), o.GetName())
		}
	}
	c := containerOf(t, nested(t, find(t, render(t, "-f", allOn), "Deployment", "crucible-dashboard").Object, "spec", "template", "spec"))
	if diff := cmp.Diff([]string{"dashboard", "--address=:8080", "--namespaces=team-a,team-b"}, stringsOf(t, c["args"])); diff != "" {
		t.Errorf("dashboard args (-want +got):\n%s", diff)
	}
}

// The Argo CD health checks, off by default, are config/argocd's scripts as
// they are: health-<kind>.lua under the argocd-cm key of that kind of
// crucible.dev.
func TestArgoCDHealthChecksFromConfig(t *testing.T) {
	const name = "crucible-argocd-health-checks"
	for _, o := range render(t) {
		if o.GetName() == name {
			t.Errorf("%s %s rendered with argocd.healthChecks off", o.GetKind(), name)
		}
	}
	got, _, err := unstructured.NestedStringMap(find(t, render(t, "-f", allOn), "ConfigMap", name).Object, "data")
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := crucible.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range must(filepath.Glob(filepath.Join("..", "config", "argocd", "health-*.lua"))) {
		lower := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "health-"), ".lua")
		for kind := range scheme.KnownTypes(crucible.GroupVersion) {
			if strings.ToLower(kind) == lower {
				want["resource.customizations.health."+crucible.GroupVersion.Group+"_"+kind] = string(must(os.ReadFile(f)))
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("no health check of a crucible.dev kind in config/argocd")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the chart's health checks (-config/argocd +chart):\n%s", diff)
	}
}

func managerContainer(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	return containerOf(t, nested(t, find(t, objs, "Deployment", "crucible-controller-manager").Object, "spec", "template", "spec"))
}

func containerOf(t *testing.T, pod map[string]any) map[string]any {
	t.Helper()
	cs, _ := pod["containers"].([]any)
	if len(cs) != 1 {
		t.Fatalf("want one container, have %d", len(cs))
	}
	return cs[0].(map[string]any)
}

func nested(t *testing.T, obj map[string]any, fields ...string) map[string]any {
	t.Helper()
	m, ok, err := unstructured.NestedMap(obj, fields...)
	if err != nil || !ok {
		t.Fatalf("no %s: %v", strings.Join(fields, "."), err)
	}
	return m
}

func stringsOf(t *testing.T, v any) []string {
	t.Helper()
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, s.(string))
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The step metrics Service selects no Pod: the leader, which alone serves
// the endpoint, writes its EndpointSlice, naming the Pod's IP from the
// downward API, with the leader election Role's grant; a Service that
// selected every replica would send reports to standbys.
func TestStepMetricsServiceFollowsTheLeader(t *testing.T) {
	objs := render(t, "--set", "replicaCount=2")
	svc := find(t, objs, "Service", "crucible-step-metrics")
	if sel, ok := svc.Object["spec"].(map[string]any)["selector"]; ok {
		t.Errorf("the step metrics Service selects %v; want no selector", sel)
	}
	c := managerContainer(t, objs)
	env := map[string]string{}
	for _, e := range c["env"].([]any) {
		e := e.(map[string]any)
		if from, ok := e["valueFrom"].(map[string]any); ok {
			env[e["name"].(string)] = nested(t, from, "fieldRef")["fieldPath"].(string)
		}
	}
	if env["POD_IP"] != "status.podIP" || env["POD_NAME"] != "metadata.name" {
		t.Errorf("env from the downward API %v; want POD_IP from status.podIP and POD_NAME from metadata.name", env)
	}
	role := find(t, objs, "Role", "crucible-leader-election-role")
	granted := false
	for _, r := range role.Object["rules"].([]any) {
		r := r.(map[string]any)
		if slices.Contains(stringsOf(t, r["apiGroups"]), "discovery.k8s.io") && slices.Contains(stringsOf(t, r["resources"]), "endpointslices") &&
			slices.Contains(stringsOf(t, r["verbs"]), "patch") && slices.Contains(stringsOf(t, r["verbs"]), "create") {
			granted = true
		}
	}
	if !granted {
		t.Errorf("the leader election Role does not grant create and patch of endpointslices: %v", role.Object["rules"])
	}

	// With step metrics off: no Service, no downward API, nothing to point.
	c = managerContainer(t, render(t, "--set", "stepMetrics.enabled=false"))
	if env, ok := c["env"]; ok {
		t.Errorf("env %v with step metrics off", env)
	}
}
