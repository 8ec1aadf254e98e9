package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// testNow is the time in every test: ages are counted from it.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fakeClient holds objs; funcs, if any, intercept its calls.
func fakeClient(t *testing.T, funcs *interceptor.Funcs, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}

// fakeCluster reaches c and kube, whose kubeconfig's namespace is ns, at
// testNow. A nil c fails the test if a verb connects.
func fakeCluster(t *testing.T, c client.WithWatch, kube kubernetes.Interface, ns string) *cluster {
	t.Helper()
	cl := newCluster(genericclioptions.NewConfigFlags(true))
	cl.connect = func() (*clients, error) {
		if c == nil {
			t.Error("the command connected to the cluster")
			return nil, errors.New("no cluster in this test")
		}
		return &clients{client: c, kube: kube, namespace: ns}, nil
	}
	cl.now = func() time.Time { return testNow }
	return cl
}

// runWith runs the command line against cl, as run does, and returns the
// exit code, stdout and stderr.
func runWith(t *testing.T, cl *cluster, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runCommand(t.Context(), newRootCommandFor(cl), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExplain(t *testing.T) {
	forbidden := func(resource schema.GroupResource, name string) error {
		return apierrors.NewForbidden(resource, name, errors.New(`User "alice" cannot do it`))
	}
	trials := schema.GroupResource{Group: "crucible.dev", Resource: "trials"}
	tests := []struct {
		name      string
		access    access
		err       error
		want      string
		forbidden bool
	}{
		{
			name:      "list in a namespace",
			access:    access{verb: "list", resource: trialsResource, namespace: "team-a"},
			err:       forbidden(trials, ""),
			want:      `you may not list trials.crucible.dev in namespace "team-a": your RBAC needs the verb list on trials.crucible.dev (kubectl auth can-i list trials.crucible.dev -n team-a)`,
			forbidden: true,
		},
		{
			name:      "list in every namespace",
			access:    access{verb: "list", resource: experimentsResource},
			err:       forbidden(schema.GroupResource{Group: "crucible.dev", Resource: "experiments"}, ""),
			want:      `you may not list experiments.crucible.dev in all namespaces: your RBAC needs the verb list on experiments.crucible.dev (kubectl auth can-i list experiments.crucible.dev -A)`,
			forbidden: true,
		},
		{
			name:      "get by name",
			access:    access{verb: "get", resource: experimentsResource, namespace: "ml", name: "sweep"},
			err:       forbidden(schema.GroupResource{Group: "crucible.dev", Resource: "experiments"}, "sweep"),
			want:      `you may not get experiments.crucible.dev "sweep" in namespace "ml": your RBAC needs the verb get on experiments.crucible.dev (kubectl auth can-i get experiments.crucible.dev -n ml)`,
			forbidden: true,
		},
		{
			name:      "a subresource",
			access:    access{verb: "get", resource: podLogsResource, namespace: "ml", name: "p"},
			err:       forbidden(schema.GroupResource{Resource: "pods"}, "p"),
			want:      `you may not get pods/log "p" in namespace "ml": your RBAC needs the verb get on pods/log (kubectl auth can-i get pods --subresource=log -n ml)`,
			forbidden: true,
		},
		{
			name:   "not found",
			access: access{verb: "get", resource: trialsResource, namespace: "ml", name: "t"},
			err:    apierrors.NewNotFound(trials, "t"),
			want:   `trials.crucible.dev t not found in namespace "ml"`,
		},
		{
			name:   "anything else",
			access: access{verb: "list", resource: trialsResource, namespace: "ml"},
			err:    apierrors.NewServiceUnavailable("etcd is away"),
			want:   `list trials.crucible.dev in namespace "ml": etcd is away`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.access.explain(tc.err)
			if got == nil || got.Error() != tc.want {
				t.Errorf("explain: %v\nwant %s", got, tc.want)
			}
			if apierrors.IsForbidden(got) != tc.forbidden {
				t.Errorf("IsForbidden %v; want %v: the API server's error must stay inside", apierrors.IsForbidden(got), tc.forbidden)
			}
		})
	}
	if err := (access{}).explain(nil); err != nil {
		t.Errorf("explain(nil) = %v; want nil", err)
	}
}

func TestExitCode(t *testing.T) {
	plain := errors.New("plain")
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantErr  error
	}{
		{name: "success", err: nil, wantCode: 0, wantErr: nil},
		{name: "an error", err: plain, wantCode: 1, wantErr: plain},
		{name: "a silent code", err: &exitError{code: 1}, wantCode: 1, wantErr: nil},
		{name: "a code with an error", err: &exitError{code: 2, err: plain}, wantCode: 2, wantErr: plain},
		{name: "wrapped", err: fmt.Errorf("diff: %w", &exitError{code: 2, err: plain}), wantCode: 2, wantErr: plain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, err := exitCode(tc.err)
			if code != tc.wantCode || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("exitCode(%v) = %d, %v; want %d, %v", tc.err, code, err, tc.wantCode, tc.wantErr)
			}
		})
	}
}

// TestKubeconfig checks the real connect: kubectl's rules for the
// kubeconfig and the namespace, through the root command's persistent
// flags. Making the clients does not reach the server.
func TestKubeconfig(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: team-a
  context: {cluster: c, user: u, namespace: team-a}
- name: no-namespace
  context: {cluster: c, user: u}
current-context: team-a
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string // KUBECONFIG
		args []string
		want string
	}{
		{name: "--kubeconfig", args: []string{"--kubeconfig", kubeconfig}, want: "team-a"},
		{name: "KUBECONFIG", env: kubeconfig, want: "team-a"},
		{name: "-n", env: kubeconfig, args: []string{"-n", "team-b"}, want: "team-b"},
		{name: "--namespace=", env: kubeconfig, args: []string{"--namespace=team-c"}, want: "team-c"},
		{name: "--context without a namespace", args: []string{"--kubeconfig", kubeconfig, "--context", "no-namespace"}, want: "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			cl := newCluster(genericclioptions.NewConfigFlags(true))
			root := newRootCommandFor(cl)
			if err := root.PersistentFlags().Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cs, ns, err := cl.open()
			if err != nil {
				t.Fatal(err)
			}
			if cs.client == nil || cs.kube == nil || ns != tc.want {
				t.Errorf("clients %+v, namespace %q; want both clients and %q", cs, ns, tc.want)
			}
		})
	}
}

// TestConnectionFlagsEverywhere checks that every verb that reaches the
// cluster takes kubectl's flags, from the root command.
func TestConnectionFlagsEverywhere(t *testing.T) {
	root := newRootCommand()
	for _, verb := range []string{"experiments", "leaderboard", "trials", "describe", "diff", "watch", "logs", "note", "reproduce", "promote", "dashboard"} {
		cmd, _, err := root.Find([]string{verb})
		if err != nil || cmd.Name() != verb {
			t.Errorf("no verb %s: %v", verb, err)
			continue
		}
		for _, flag := range []string{"kubeconfig", "context", "namespace", "as", "server"} {
			if cmd.Flag(flag) == nil {
				t.Errorf("%s has no --%s", verb, flag)
			}
		}
		if f := cmd.Flag("namespace"); f != nil && f.Shorthand != "n" {
			t.Errorf("%s: --namespace has shorthand %q; want -n", verb, f.Shorthand)
		}
	}
	// -A and -o where listing and showing make sense.
	for verb, flags := range map[string][]string{
		"experiments": {"all-namespaces", "output"},
		"leaderboard": {"output", "top"},
		"trials":      {"output", "phase", "param"},
		"describe":    {"output"},
		"diff":        {"output", "all"},
	} {
		cmd, _, _ := root.Find([]string{verb})
		for _, flag := range flags {
			if cmd.Flags().Lookup(flag) == nil {
				t.Errorf("%s has no --%s", verb, flag)
			}
		}
	}
}
