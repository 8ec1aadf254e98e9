package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/provenance"
	"github.com/crucible-dev/crucible/internal/reproduce"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

// original returns trialInputs' Experiment and Trial as the operator
// leaves them in the cluster: the Trial owned by the Experiment and
// labelled with it, its provenance record's digest set, and the Experiment
// writing to an s3 store.
func original(t *testing.T) (*crucible.Experiment, *crucible.Trial) {
	t.Helper()
	in := trialInputs(t)
	exp, trial := in.Experiment, in.Trial
	exp.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
		Endpoint: "https://s3.example.com", Bucket: "runs", CredentialsSecret: crucible.SecretReference{Name: "s3"},
	}}
	trial.Labels = map[string]string{crucible.ExperimentLabel: exp.Name}
	trial.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(exp, crucible.GroupVersion.WithKind("Experiment"))}
	trial.Status.Provenance = &crucible.TrialProvenance{
		Digest: "sha256:" + strings.Repeat("34", 32),
		URI:    "s3://runs/ml/sweep/exp-uid/sweep-0123456789ab/trial-uid.provenance.intoto.jsonl",
	}
	return exp, trial
}

// runReproduce runs reproduce with args against c, whose kubeconfig's
// namespace is ns, through the root command as the user runs it. A nil c
// fails the test if reproduce connects.
func runReproduce(t *testing.T, c client.WithWatch, ns string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommandFor(fakeCluster(t, c, nil, ns))
	var out, errOut bytes.Buffer
	cmd.SetArgs(append([]string{"reproduce"}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// decodeManifest reads a printed manifest strictly, as kubectl apply
// would, after checking it holds nothing but what apply needs.
func decodeManifest(t *testing.T, printed string) *crucible.Experiment {
	t.Helper()
	var top map[string]any
	if err := yaml.Unmarshal([]byte(printed), &top); err != nil {
		t.Fatalf("the manifest is not YAML: %v\n%s", err, printed)
	}
	if diff := cmp.Diff([]string{"apiVersion", "kind", "metadata", "spec"}, slices.Sorted(maps.Keys(top))); diff != "" {
		t.Errorf("top-level keys (-want +got):\n%s", diff)
	}
	for _, noise := range []string{"creationTimestamp", "status:", "null"} {
		if strings.Contains(printed, noise) {
			t.Errorf("the manifest has %q:\n%s", noise, printed)
		}
	}
	got := &crucible.Experiment{}
	if err := yaml.UnmarshalStrict([]byte(printed), got); err != nil {
		t.Fatalf("the manifest is not an Experiment: %v\n%s", err, printed)
	}
	return got
}

func TestReproduceTrial(t *testing.T) {
	exp, trial := original(t)
	want, err := reproduce.FromTrial(exp, trial, reproduce.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		namespace string // the kubeconfig's
	}{
		{name: "trial/NAME", args: []string{"trial/sweep-0123456789ab"}, namespace: "ml"},
		{name: "trials/NAME", args: []string{"trials/sweep-0123456789ab"}, namespace: "ml"},
		{name: "trial.crucible.dev/NAME", args: []string{"trial.crucible.dev/sweep-0123456789ab"}, namespace: "ml"},
		{name: "trials.crucible.dev/NAME", args: []string{"trials.crucible.dev/sweep-0123456789ab"}, namespace: "ml"},
		{name: "bare NAME", args: []string{"sweep-0123456789ab"}, namespace: "ml"},
		{name: "-n over the kubeconfig's namespace", args: []string{"-n", "ml", "trial/sweep-0123456789ab"}, namespace: "default"},
		{name: "--namespace", args: []string{"trial/sweep-0123456789ab", "--namespace=ml"}, namespace: ""},
		{name: "-o yaml", args: []string{"trial/sweep-0123456789ab", "-o", "yaml"}, namespace: "ml"},
		{name: "-o json", args: []string{"trial/sweep-0123456789ab", "-o", "json"}, namespace: "ml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient(t, nil, exp.DeepCopy(), trial.DeepCopy())
			stdout, stderr, err := runReproduce(t, c, tc.namespace, tc.args...)
			if err != nil {
				t.Fatalf("error %v; stderr %q", err, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr %q; want nothing", stderr)
			}
			if strings.Contains(strings.Join(tc.args, " "), "json") && !json.Valid([]byte(stdout)) {
				t.Errorf("-o json printed no JSON:\n%s", stdout)
			}
			if diff := cmp.Diff(want, decodeManifest(t, stdout)); diff != "" {
				t.Errorf("printed manifest (-FromTrial +printed):\n%s", diff)
			}
			// Nothing was created.
			var list crucible.ExperimentList
			if err := c.List(t.Context(), &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 1 {
				t.Errorf("%d Experiments in the cluster; want the original alone", len(list.Items))
			}
		})
	}
}

func TestReproduceTrialDefaults(t *testing.T) {
	exp, trial := original(t)
	stdout, _, err := runReproduce(t, fakeClient(t, nil, exp, trial), "ml", "trial/sweep-0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	got := decodeManifest(t, stdout)
	if want := reproduce.Name("sweep", "trial-uid"); got.Name != want || got.Namespace != "ml" {
		t.Errorf("reproduction %s/%s; want ml/%s", got.Namespace, got.Name, want)
	}
	r := got.Spec.Reproduces
	if r == nil {
		t.Fatal("no spec.reproduces")
	}
	wantTrial := crucible.ReproducedTrial{Namespace: "ml", Experiment: "sweep", Name: "sweep-0123456789ab", UID: "trial-uid"}
	if diff := cmp.Diff(wantTrial, r.Trial); diff != "" {
		t.Errorf("spec.reproduces.trial (-want +got):\n%s", diff)
	}
	if r.ProvenanceDigest != trial.Status.Provenance.Digest || r.ManifestDigest != trial.Status.Artifacts.ManifestDigest {
		t.Errorf("digests %s and %s; want the trial's provenance %s and manifest %s",
			r.ProvenanceDigest, r.ManifestDigest, trial.Status.Provenance.Digest, trial.Status.Artifacts.ManifestDigest)
	}
	if diff := cmp.Diff(trial.Status.Metrics, r.Metrics); diff != "" {
		t.Errorf("spec.reproduces.metrics (-trial +got):\n%s", diff)
	}
	if got.Labels[reproduce.ReproducesLabel] != trial.Name {
		t.Errorf("labels %v; want %s=%s", got.Labels, reproduce.ReproducesLabel, trial.Name)
	}
}

// TestReproduceTrialByLabel finds the Experiment by the Trial's label when
// its owner reference to it is not the controller's.
func TestReproduceTrialByLabel(t *testing.T) {
	exp, trial := original(t)
	trial.OwnerReferences[0].Controller = nil
	want, err := reproduce.FromTrial(exp, trial, reproduce.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runReproduce(t, fakeClient(t, nil, exp, trial), "ml", "trial/sweep-0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, decodeManifest(t, stdout)); diff != "" {
		t.Errorf("printed manifest (-FromTrial +printed):\n%s", diff)
	}
}

func TestReproduceTolerances(t *testing.T) {
	exp, trial := original(t)
	stdout, _, err := runReproduce(t, fakeClient(t, nil, exp, trial), "ml", "trial/sweep-0123456789ab", "--name", "again",
		"--tolerance", "loss=0.01", "--relative-tolerance", "loss=5e-2", "--relative-tolerance", "accuracy=0.001")
	if err != nil {
		t.Fatal(err)
	}
	wantTolerances := []crucible.MetricTolerance{
		{Metric: "accuracy", Relative: "0.001"},
		{Metric: "loss", Absolute: "0.01", Relative: "5e-2"},
	}
	want, err := reproduce.FromTrial(exp, trial, reproduce.Options{Name: "again", Tolerances: wantTolerances})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeManifest(t, stdout)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTolerances, got.Spec.Reproduces.Tolerances); diff != "" {
		t.Errorf("tolerances (-want +got):\n%s", diff)
	}
}

func TestParseTolerances(t *testing.T) {
	tests := []struct {
		name               string
		absolute, relative []string
		want               []crucible.MetricTolerance
		wantErr            string
	}{
		{name: "none"},
		{
			name:     "merged and sorted",
			absolute: []string{"z=1", "a=0.5"},
			relative: []string{"a=1E+3", "m=0"},
			want:     []crucible.MetricTolerance{{Metric: "a", Absolute: "0.5", Relative: "1E+3"}, {Metric: "m", Relative: "0"}, {Metric: "z", Absolute: "1"}},
		},
		{name: "no =", absolute: []string{"loss"}, wantErr: `--tolerance "loss": want METRIC=ABS`},
		{name: "no metric", relative: []string{"=0.1"}, wantErr: `--relative-tolerance "=0.1": want METRIC=FRACTION`},
		{name: "negative", absolute: []string{"loss=-0.1"}, wantErr: `--tolerance "loss=-0.1": ABS must be a non-negative decimal`},
		{name: "not a number", relative: []string{"loss=1%"}, wantErr: `--relative-tolerance "loss=1%": FRACTION must be a non-negative decimal`},
		{name: "empty value", absolute: []string{"loss="}, wantErr: `--tolerance "loss=": ABS must be a non-negative decimal`},
		{name: "leading dot", absolute: []string{"loss=.1"}, wantErr: `--tolerance "loss=.1": ABS must be a non-negative decimal`},
		{name: "twice", relative: []string{"loss=0.1", "loss=0.2"}, wantErr: `--relative-tolerance "loss=0.2": loss already has one (0.1)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTolerances(tc.absolute, tc.relative)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestTolerancePatternIsTheCRDs fails when the flags' check and the API
// server's drift apart.
func TestTolerancePatternIsTheCRDs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "crucible.dev_experiments.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	for _, v := range crd.Spec.Versions {
		tol := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["reproduces"].Properties["tolerances"].Items.Schema
		for _, f := range []string{"absolute", "relative"} {
			if got := tol.Properties[f].Pattern; got != tolerancePattern {
				t.Errorf("%s: the CRD's tolerances[].%s pattern is %q; the flags check %q", v.Name, f, got, tolerancePattern)
			}
		}
	}
}

func TestReproduceErrors(t *testing.T) {
	exp, trial := original(t)
	failed := trial.DeepCopy()
	failed.Name = "sweep-failed"
	failed.Status.Phase = crucible.TrialFailed
	orphan := trial.DeepCopy()
	orphan.Name = "sweep-orphan"
	orphan.OwnerReferences, orphan.Labels = nil, nil
	lost := trial.DeepCopy()
	lost.Name = "sweep-lost"
	lost.OwnerReferences[0].Name = "gone"
	labelled := trial.DeepCopy()
	labelled.Name = "sweep-labelled"
	labelled.OwnerReferences = nil
	record, _ := writeRecord(t, "")

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{
			name:    "another kind",
			args:    []string{"job/x"},
			wantErr: `"job/x": only a trial can be reproduced: want trial/NAME (or trials/NAME, trial.crucible.dev/NAME, trials.crucible.dev/NAME)`,
		},
		{name: "no name", args: []string{"trial/"}, wantErr: `"trial/": want trial/NAME, the name of a Trial`},
		{name: "a slash too many", args: []string{"trial/a/b"}, wantErr: `"trial/a/b": want trial/NAME, the name of a Trial`},
		{
			name:    "trial not found",
			args:    []string{"trial/missing"},
			wantErr: "trial ml/missing not found (if it was deleted, reproduce it from its provenance record with --from FILE)",
		},
		{
			name:    "trial not found in the namespace -n names",
			args:    []string{"-n", "other", "trial/sweep-0123456789ab"},
			wantErr: "trial other/sweep-0123456789ab not found",
		},
		{
			name:    "trial failed",
			args:    []string{"trial/sweep-failed"},
			wantErr: "trial ml/sweep-failed is Failed: only a trial that succeeded has a result to reproduce",
		},
		{
			name:    "no Experiment",
			args:    []string{"trial/sweep-orphan"},
			wantErr: "trial ml/sweep-orphan has no Experiment: no controller owner reference of kind Experiment, no crucible.dev/experiment label",
		},
		{
			name:    "labelled, not owned",
			args:    []string{"trial/sweep-labelled"},
			wantErr: "trial ml/sweep-labelled is not a trial of Experiment ml/sweep",
		},
		{
			name:    "Experiment gone",
			args:    []string{"trial/sweep-lost"},
			wantErr: "experiment ml/gone of trial sweep-lost not found (reproduce the trial from its provenance record with --from FILE)",
		},
		{
			name:    "tolerance for a metric not reported",
			args:    []string{"trial/sweep-0123456789ab", "--tolerance", "f1=0.1"},
			wantErr: `a tolerance for "f1", which the original did not report (it reported accuracy, loss)`,
		},
		{
			name:    "bad tolerance",
			args:    []string{"trial/sweep-0123456789ab", "--relative-tolerance", "loss=-1"},
			wantErr: `--relative-tolerance "loss=-1": FRACTION must be a non-negative decimal, such as 0.01 or 1e-3`,
		},
		{
			name:    "trial and --from",
			args:    []string{"trial/sweep-0123456789ab", "--from", record, "--allow-unsigned"},
			wantErr: "reproduce either trial trial/sweep-0123456789ab from the cluster or the record --from " + record + ", not both",
		},
		{
			name:    "neither",
			args:    []string{"--name", "x"},
			wantErr: "say which trial to reproduce: kubectl crucible reproduce trial/NAME, or --from FILE for a provenance record",
		},
		{name: "two trials", args: []string{"trial/a", "trial/b"}, wantErr: "want one trial, got 2 arguments"},
		{
			name:    "--wait without --apply",
			args:    []string{"trial/sweep-0123456789ab", "--wait"},
			wantErr: "--wait waits for a reproduction it created: pass --apply too",
		},
		{
			name:    "--timeout without --wait",
			args:    []string{"trial/sweep-0123456789ab", "--apply", "--timeout", "1m"},
			wantErr: "--timeout is how long --wait waits: pass --apply --wait too",
		},
		{name: "unknown output", args: []string{"trial/sweep-0123456789ab", "-o", "wide"}, wantErr: `--output "wide": want "yaml" or "json"`},
		{
			name:    "--output with --apply",
			args:    []string{"trial/sweep-0123456789ab", "--apply", "-o", "json"},
			wantErr: "--output formats the printed manifest; --apply creates it instead",
		},
		{
			name:    "--key without --from",
			args:    []string{"trial/sweep-0123456789ab", "--key", "crucible.pub"},
			wantErr: "--key and --allow-unsigned check a provenance record: pass them with --from FILE",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient(t, nil, exp.DeepCopy(), trial.DeepCopy(), failed.DeepCopy(), orphan.DeepCopy(), lost.DeepCopy(), labelled.DeepCopy())
			stdout, _, err := runReproduce(t, c, "ml", tc.args...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("error %v; want %q", err, tc.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout %q; want nothing", stdout)
			}
		})
	}
}

// TestReproduceCommandLine runs reproduce as the user does, through
// kubectl-crucible's root command: no cluster is needed to be refused.
func TestReproduceCommandLine(t *testing.T) {
	code, stdout, stderr := execute(t, "reproduce")
	if code != 1 || stdout != "" {
		t.Errorf("exit code %d, stdout %q; want 1 and nothing", code, stdout)
	}
	if want := "error: say which trial to reproduce: kubectl crucible reproduce trial/NAME, or --from FILE for a provenance record\n"; stderr != want {
		t.Errorf("stderr %q; want %q", stderr, want)
	}
	// kubectl's connection flags are there.
	code, stdout, _ = execute(t, "reproduce", "--help")
	if code != 0 {
		t.Fatalf("--help: exit code %d", code)
	}
	for _, flag := range []string{"--kubeconfig", "--context", "-n, --namespace", "--from", "--tolerance", "--relative-tolerance", "--apply", "--wait"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("--help has no %s", flag)
		}
	}
}

func TestReproduceApply(t *testing.T) {
	exp, trial := original(t)
	c := fakeClient(t, nil, exp, trial)
	name := reproduce.Name("sweep", "trial-uid")

	stdout, _, err := runReproduce(t, c, "ml", "trial/sweep-0123456789ab", "--apply", "--tolerance", "loss=0.01")
	if err != nil {
		t.Fatal(err)
	}
	if want := "experiment.crucible.dev/" + name + " created\n"; stdout != want {
		t.Errorf("stdout %q; want %q", stdout, want)
	}
	got := &crucible.Experiment{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "ml", Name: name}, got); err != nil {
		t.Fatalf("the reproduction was not created: %v", err)
	}
	want, err := reproduce.FromTrial(exp, trial, reproduce.Options{Tolerances: []crucible.MetricTolerance{{Metric: "loss", Absolute: "0.01"}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
		t.Errorf("created spec (-FromTrial +created):\n%s", diff)
	}
	if got.Labels[reproduce.ReproducesLabel] != trial.Name {
		t.Errorf("labels %v; want %s=%s", got.Labels, reproduce.ReproducesLabel, trial.Name)
	}

	// Again: the name is taken.
	stdout, _, err = runReproduce(t, c, "ml", "trial/sweep-0123456789ab", "--apply")
	wantErr := "a reproduction named " + name + " already exists in namespace ml: pass --name NAME to make another"
	if err == nil || err.Error() != wantErr {
		t.Errorf("error %v; want %q", err, wantErr)
	}
	if stdout != "" {
		t.Errorf("stdout %q; want nothing", stdout)
	}
	// With --name it is another.
	if stdout, _, err = runReproduce(t, c, "ml", "trial/sweep-0123456789ab", "--apply", "--name", "again"); err != nil || stdout != "experiment.crucible.dev/again created\n" {
		t.Errorf("--name again: error %v, stdout %q", err, stdout)
	}
}

func TestReproduceApplyRefused(t *testing.T) {
	exp, trial := original(t)
	invalid := apierrors.NewInvalid(crucible.GroupVersion.WithKind("Experiment").GroupKind(), "sweep-repro",
		field.ErrorList{field.Invalid(field.NewPath("spec", "image"), "x", "a reproduction runs the original's image: image must be reproduces.image")})
	c := fakeClient(t, &interceptor.Funcs{
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error { return invalid },
	}, exp, trial)
	stdout, _, err := runReproduce(t, c, "ml", "trial/sweep-0123456789ab", "--apply", "--wait")
	if err == nil || err.Error() != invalid.Error() {
		t.Errorf("error %v; want the API server's %q", err, invalid)
	}
	if stdout != "" {
		t.Errorf("stdout %q; want nothing", stdout)
	}
}

// withVerdict plays the operator: a Get of the reproduction named name
// finds it ended with status.
func withVerdict(name string, phase crucible.ExperimentPhase, status *crucible.ReproductionStatus) *interceptor.Funcs {
	return &interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			if exp, ok := obj.(*crucible.Experiment); ok && key.Name == name {
				exp.Status.Phase = phase
				exp.Status.Reproduction = status.DeepCopy()
			}
			return nil
		},
	}
}

func TestReproduceWait(t *testing.T) {
	name := reproduce.Name("sweep", "trial-uid")
	tests := []struct {
		name       string
		status     *crucible.ReproductionStatus
		wantOut    string
		wantErr    string
		toleranced bool
	}{
		{
			name: "identical",
			status: &crucible.ReproductionStatus{
				Verdict: crucible.VerdictIdentical, Message: "all 2 metrics equal", Trial: "r-1",
				Metrics: []crucible.MetricComparison{
					{Name: "accuracy", Original: "0.91", Reproduced: "0.91", Difference: "0", Outcome: crucible.MetricEqual},
					{Name: "loss", Original: "0.3", Reproduced: "0.3", Difference: "0", Outcome: crucible.MetricEqual},
				},
			},
			wantOut: "reproduction " + name + ": Identical: all 2 metrics equal\n" +
				"  accuracy  original 0.91  reproduced 0.91  difference 0  Equal\n" +
				"  loss      original 0.3   reproduced 0.3   difference 0  Equal\n",
		},
		{
			name: "within tolerance",
			status: &crucible.ReproductionStatus{
				Verdict: crucible.VerdictWithinTolerance, Message: "loss within tolerance: 0.30001, original 0.3 (+1e-05, tolerance absolute 0.01)",
				Metrics: []crucible.MetricComparison{
					{Name: "accuracy", Original: "0.91", Reproduced: "0.91", Difference: "0", Outcome: crucible.MetricEqual},
					{Name: "loss", Original: "0.3", Reproduced: "0.30001", Difference: "+1e-05", Outcome: crucible.MetricWithinTolerance},
				},
			},
			wantOut: "reproduction " + name + ": WithinTolerance: loss within tolerance: 0.30001, original 0.3 (+1e-05, tolerance absolute 0.01)\n" +
				"  accuracy  original 0.91  reproduced 0.91     difference 0       Equal\n" +
				"  loss      original 0.3   reproduced 0.30001  difference +1e-05  WithinTolerance\n",
			toleranced: true,
		},
		{
			name: "differs",
			status: &crucible.ReproductionStatus{
				Verdict: crucible.VerdictDiffers, Message: "accuracy differs: 0.9, original 0.91 (-0.01, no tolerance); loss was not reported (original 0.3)",
				Metrics: []crucible.MetricComparison{
					{Name: "accuracy", Original: "0.91", Reproduced: "0.9", Difference: "-0.01", Outcome: crucible.MetricDiffers},
					{Name: "loss", Original: "0.3", Outcome: crucible.MetricMissing},
				},
			},
			wantOut: "reproduction " + name + ": Differs: accuracy differs: 0.9, original 0.91 (-0.01, no tolerance); loss was not reported (original 0.3)\n" +
				"  accuracy  original 0.91  reproduced 0.9  difference -0.01  Differs\n" +
				"  loss      original 0.3   reproduced -    difference -      Missing\n",
			wantErr: "the reproduction's verdict is Differs",
		},
		{
			name: "not comparable",
			status: &crucible.ReproductionStatus{
				Verdict: crucible.VerdictNotComparable, Reason: "OOMKilled", Message: "the reproduction's trial r-1 did not succeed (OOMKilled): out of memory",
			},
			wantOut: "reproduction " + name + ": NotComparable (OOMKilled): the reproduction's trial r-1 did not succeed (OOMKilled): out of memory\n",
			wantErr: "the reproduction's verdict is NotComparable",
		},
		{
			name:    "verdict alone",
			status:  &crucible.ReproductionStatus{Verdict: crucible.VerdictNotComparable, Reason: "ReproductionPinsDiffer"},
			wantOut: "reproduction " + name + ": NotComparable (ReproductionPinsDiffer)\n",
			wantErr: "the reproduction's verdict is NotComparable",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp, trial := original(t)
			c := fakeClient(t, withVerdict(name, crucible.ExperimentSucceeded, tc.status), exp, trial)
			args := []string{"trial/sweep-0123456789ab", "--apply", "--wait"}
			if tc.toleranced {
				args = append(args, "--tolerance", "loss=0.01")
			}
			stdout, _, err := runReproduce(t, c, "ml", args...)
			if tc.wantErr == "" && err != nil {
				t.Errorf("error %v; want none", err)
			}
			if tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("error %v; want %q", err, tc.wantErr)
			}
			want := "experiment.crucible.dev/" + name + " created\n" + tc.wantOut
			if diff := cmp.Diff(want, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReproduceWaitTimeout(t *testing.T) {
	exp, trial := original(t)
	name := reproduce.Name("sweep", "trial-uid")
	c := fakeClient(t, withVerdict(name, crucible.ExperimentRunning, nil), exp, trial)
	stdout, _, err := runReproduce(t, c, "ml", "trial/sweep-0123456789ab", "--apply", "--wait", "--timeout", "20ms")
	wantErr := "no verdict on experiment ml/" + name + " after 20ms: it is Running (it keeps running; see kubectl get experiment " + name + " -n ml)"
	if err == nil || err.Error() != wantErr {
		t.Errorf("error %v; want %q", err, wantErr)
	}
	if want := "experiment.crucible.dev/" + name + " created\n"; stdout != want {
		t.Errorf("stdout %q; want %q", stdout, want)
	}
}

func TestReproduceFromRecord(t *testing.T) {
	priv, pub, _ := keygen(t)
	signed, digest := writeRecord(t, priv)
	unsigned, unsignedDigest := writeRecord(t, "")

	// The record's inputs digest, and the original Experiment's: a
	// reproduction made from either is the same.
	line, err := firstLine(signed)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := provenance.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	wantInputs, err := specdigest.TrialInputs(rec.Spec, rec.Parameters, rec.Seed)
	if err != nil {
		t.Fatal(err)
	}
	in := trialInputs(t)
	if fromSpec, err := specdigest.TrialInputs(&in.Experiment.Spec, in.Trial.Spec.Parameters, in.Trial.Spec.Seed); err != nil || fromSpec != wantInputs {
		t.Errorf("the Experiment's trial-inputs digest is %s (%v), the record's %s; want them equal", fromSpec, err, wantInputs)
	}
	name := reproduce.Name("sweep", "trial-uid")

	tests := []struct {
		name          string
		args          []string
		apply         bool   // a cluster, whose kubeconfig namespace is "team"
		wantNamespace string // the reproduction's
		wantDigest    string
		wantWarning   bool
	}{
		{name: "signed, --key", args: []string{"--from", signed, "--key", pub}, wantNamespace: "ml", wantDigest: digest},
		{name: "-n", args: []string{"--from", signed, "--key", pub, "-n", "other"}, wantNamespace: "other", wantDigest: digest},
		{name: "--apply in the kubeconfig's namespace", args: []string{"--from", signed, "--key", pub, "--apply"}, apply: true, wantNamespace: "team", wantDigest: digest},
		{name: "--apply -n", args: []string{"--from", signed, "--key", pub, "--apply", "-n", "other"}, apply: true, wantNamespace: "other", wantDigest: digest},
		{name: "unsigned, --allow-unsigned", args: []string{"--from", unsigned, "--allow-unsigned"}, wantNamespace: "ml", wantDigest: unsignedDigest, wantWarning: true},
		{name: "signed, --allow-unsigned", args: []string{"--from", signed, "--allow-unsigned"}, wantNamespace: "ml", wantDigest: digest, wantWarning: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c client.WithWatch
			if tc.apply {
				c = fakeClient(t, nil)
			}
			stdout, stderr, err := runReproduce(t, c, "team", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			const warning = "WARNING: signature NOT CHECKED (--allow-unsigned): anyone could have written this record\n"
			if tc.wantWarning != (stderr == warning) || !tc.wantWarning && stderr != "" {
				t.Errorf("stderr %q; want the warning: %v", stderr, tc.wantWarning)
			}
			got := &crucible.Experiment{}
			if tc.apply {
				if want := "experiment.crucible.dev/" + name + " created\n"; stdout != want {
					t.Errorf("stdout %q; want %q", stdout, want)
				}
				if err := c.Get(t.Context(), client.ObjectKey{Namespace: tc.wantNamespace, Name: name}, got); err != nil {
					t.Fatalf("the reproduction is not in %s: %v", tc.wantNamespace, err)
				}
			} else {
				got = decodeManifest(t, stdout)
			}
			if got.Namespace != tc.wantNamespace {
				t.Errorf("namespace %q; want %q", got.Namespace, tc.wantNamespace)
			}
			r := got.Spec.Reproduces
			if r == nil {
				t.Fatal("no spec.reproduces")
			}
			if r.ProvenanceDigest != tc.wantDigest {
				t.Errorf("provenanceDigest %s; want the record's %s", r.ProvenanceDigest, tc.wantDigest)
			}
			if r.InputsDigest != wantInputs {
				t.Errorf("inputsDigest %s; want the record's %s", r.InputsDigest, wantInputs)
			}
			wantTrial := crucible.ReproducedTrial{Namespace: "ml", Experiment: "sweep", Name: "sweep-0123456789ab", UID: "trial-uid"}
			if diff := cmp.Diff(wantTrial, r.Trial); diff != "" {
				t.Errorf("spec.reproduces.trial (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]string{"accuracy": "0.91", "loss": "0.3"}, r.Metrics); diff != "" {
				t.Errorf("spec.reproduces.metrics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReproduceFromRecordErrors(t *testing.T) {
	priv, pub, keyID := keygen(t)
	signed, _ := writeRecord(t, priv)
	unsigned, _ := writeRecord(t, "")

	changed := tamperedRecord(t, signed)

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{
			name:    "no --key, no --allow-unsigned",
			args:    []string{"--from", signed},
			wantErr: "pass --key PUB.pem, the operator's public key, to check the record's signature (or --allow-unsigned to read it without checking)",
		},
		{
			name:    "changed byte",
			args:    []string{"--from", changed, "--key", pub},
			wantErr: changed + ": the signature does not verify with key " + keyID + ": the record was changed or signed with another key",
		},
		{
			name:    "unsigned with --key",
			args:    []string{"--from", unsigned, "--key", pub, "--apply"},
			wantErr: unsigned + ": the record is unsigned: the operator that wrote it had no signing key",
		},
		{
			name:    "private key for the public one",
			args:    []string{"--from", signed, "--key", priv},
			wantErr: priv + `: want a public key in PEM ("PUBLIC KEY"), found "PRIVATE KEY"`,
		},
		{
			name:    "tolerance for a metric not reported",
			args:    []string{"--from", signed, "--key", pub, "--relative-tolerance", "f1=0.1"},
			wantErr: signed + `: a tolerance for "f1", which the original did not report (it reported accuracy, loss)`,
		},
		{
			name:    "missing file",
			args:    []string{"--from", signed + ".missing", "--key", pub},
			wantErr: "open " + signed + ".missing: no such file or directory",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runReproduce(t, nil, "ml", tc.args...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("error %v; want %q", err, tc.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout %q; want nothing", stdout)
			}
		})
	}
}

// TestReproduceKubeconfig checks the real newClient: kubectl's rules for
// the kubeconfig and the namespace. Making a client does not reach the
// server.
func TestReproduceKubeconfig(t *testing.T) {
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
		{name: "--context without a namespace", args: []string{"--kubeconfig", kubeconfig, "--context", "no-namespace"}, want: "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			flags := genericclioptions.NewConfigFlags(true)
			cmd := newRootCommandFor(newCluster(flags))
			if err := cmd.PersistentFlags().Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c, ns, err := newReproduceOptions(newCluster(flags)).connect()
			if err != nil {
				t.Fatal(err)
			}
			if c == nil || ns != tc.want {
				t.Errorf("client %v, namespace %q; want a client and %q", c, ns, tc.want)
			}
		})
	}
}
