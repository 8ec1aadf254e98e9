package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// Digests of the promotion fixture.
var (
	expDigest        = "sha256:" + strings.Repeat("ee", 32)
	manifestDigest   = "sha256:" + strings.Repeat("12", 32)
	provenanceDigest = "sha256:" + strings.Repeat("34", 32)
)

// promotion is an Experiment of namespace ml writing to an s3 store, with
// two trials that succeeded, every field promote copies set, and one that
// failed.
func promotion() (*crucible.Experiment, []client.Object) {
	exp := builder.MakeExperiment("sweep", "ml").Values("lr", "0.1", "0.01").UID("sweep-uid").Obj()
	exp.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
		Endpoint: "minio.storage:9000", Bucket: "runs", Prefix: "sweeps", Region: "eu-west-1",
		CredentialsSecret: crucible.SecretReference{Name: "s3"},
	}}
	exp.Status.SpecDigest = expDigest
	mk := func(name string, i int64, lr string, s crucible.TrialStatus) *crucible.Trial {
		t := builder.MakeTrial(exp, name).Index(i).Seed(1234+i).Param("lr", lr).Status(s).Obj()
		t.Spec.DatasetDigest = builder.DatasetDigest
		return t
	}
	succeeded := func(objective string) crucible.TrialStatus {
		return crucible.TrialStatus{
			Phase:     crucible.TrialSucceeded,
			Objective: objective,
			Metrics:   map[string]string{"val_loss": objective, "accuracy": "0.9"},
			Artifacts: &crucible.TrialArtifacts{
				URI:            "s3://runs/sweeps/ml/sweep/sweep-uid/" + objective + "/",
				Objects:        ptr.To[int64](3),
				Bytes:          ptr.To[int64](1 << 20),
				ManifestDigest: manifestDigest,
			},
			Provenance: &crucible.TrialProvenance{Digest: provenanceDigest},
		}
	}
	return exp, []client.Object{
		exp,
		mk("sweep-000000000000", 0, "0.1", succeeded("0.5")),
		mk("sweep-111111111111", 1, "0.01", succeeded("0.3")),
		mk("sweep-222222222222", 2, "0.01", crucible.TrialStatus{Phase: crucible.TrialFailed, Reason: crucible.ReasonOOMKilled,
			Message: "the trainer ran out of memory"}),
	}
}

// versionsOf lists the ModelVersions of ns by name.
func versionsOf(t *testing.T, c client.Client) map[string]crucible.ModelVersion {
	t.Helper()
	var list crucible.ModelVersionList
	if err := c.List(t.Context(), &list, client.InNamespace("ml")); err != nil {
		t.Fatal(err)
	}
	out := map[string]crucible.ModelVersion{}
	for _, mv := range list.Items {
		out[mv.Name] = mv
	}
	return out
}

// getModel reads Model name of ml; nil when there is none.
func getModel(t *testing.T, c client.Client, name string) *crucible.Model {
	t.Helper()
	m := &crucible.Model{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "ml", Name: name}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatal(err)
	}
	return m
}

// writes records what promote writes: every Create's kind, name and field
// manager, and every Patch's type, body and field manager.
type writes struct {
	creates []string
	patches []string
}

func (w *writes) funcs() *interceptor.Funcs {
	return &interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			o := (&client.CreateOptions{}).ApplyOptions(opts)
			w.creates = append(w.creates, fmt.Sprintf("%T %s by %s", obj, obj.GetName(), o.FieldManager))
			return c.Create(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			o := (&client.PatchOptions{}).ApplyOptions(opts)
			data, err := patch.Data(obj)
			if err != nil {
				return err
			}
			w.patches = append(w.patches, fmt.Sprintf("%T %s %s %s by %s", obj, obj.GetName(), patch.Type(), data, o.FieldManager))
			return c.Patch(ctx, obj, patch, opts...)
		},
	}
}

func TestPromote(t *testing.T) {
	exp, objs := promotion()
	w := &writes{}
	c := fakeClient(t, w.funcs(), objs...)
	cl := fakeCluster(t, c, nil, "ml")

	code, stdout, stderr := runWith(t, cl, "promote", "trial/sweep-111111111111", "--model", "resnet", "--description", "ResNet-50 on CIFAR-10")
	if code != 0 || stderr != "" {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	if want := "model.crucible.dev/resnet created\nmodelversion.crucible.dev/resnet-v1 created\n"; stdout != want {
		t.Errorf("stdout %q; want %q", stdout, want)
	}
	model := getModel(t, c, "resnet")
	if model == nil || model.Spec.Description != "ResNet-50 on CIFAR-10" || len(model.Spec.Aliases) != 0 {
		t.Fatalf("model %+v; want one described, without aliases", model)
	}
	v1, ok := versionsOf(t, c)["resnet-v1"]
	if !ok {
		t.Fatalf("no resnet-v1: %v", slices.Collect(maps.Keys(versionsOf(t, c))))
	}
	want := crucible.ModelVersionSpec{
		Model:   "resnet",
		Version: 1,
		Source: crucible.ModelVersionSource{
			Experiment: "sweep", Trial: "sweep-111111111111", TrialUID: "sweep-111111111111-uid",
			SpecDigest: expDigest, // the Experiment's, not the builder's trial digest
		},
		Parameters:       []crucible.ParameterAssignment{{Name: "lr", Value: "0.01"}},
		Seed:             1235,
		Objective:        crucible.ModelObjective{Metric: "val_loss", Value: "0.3"},
		Metrics:          map[string]string{"val_loss": "0.3", "accuracy": "0.9"},
		Image:            builder.Image,
		DatasetDigest:    builder.DatasetDigest,
		ProvenanceDigest: provenanceDigest,
		Artifacts: &crucible.ModelVersionArtifacts{
			URI: "s3://runs/sweeps/ml/sweep/sweep-uid/0.3/", ManifestDigest: manifestDigest,
			Objects: ptr.To[int64](3), Bytes: ptr.To[int64](1 << 20),
		},
		Store: exp.Spec.Artifacts.S3,
	}
	if diff := cmp.Diff(want, v1.Spec); diff != "" {
		t.Errorf("resnet-v1 spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{crucible.ModelLabel: "resnet"}, v1.Labels); diff != "" {
		t.Errorf("resnet-v1 labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		"*v1alpha1.Model resnet by kubectl-crucible",
		"*v1alpha1.ModelVersion resnet-v1 by kubectl-crucible",
	}, w.creates); diff != "" {
		t.Errorf("creates (-want +got):\n%s", diff)
	}

	// The second promotion takes the next number, into the Model there is.
	code, stdout, stderr = runWith(t, cl, "promote", "sweep-000000000000", "--model", "resnet")
	if code != 0 || stderr != "" || stdout != "modelversion.crucible.dev/resnet-v2 created\n" {
		t.Fatalf("second promotion: exit code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	v2 := versionsOf(t, c)["resnet-v2"]
	if v2.Spec.Version != 2 || v2.Spec.Source.Trial != "sweep-000000000000" || v2.Spec.Objective.Value != "0.5" || v2.Labels[crucible.ModelLabel] != "resnet" {
		t.Errorf("resnet-v2 %+v", v2)
	}
	if len(w.patches) != 0 {
		t.Errorf("patches without --alias: %v", w.patches)
	}
}

func TestPromoteAlias(t *testing.T) {
	_, objs := promotion()
	model := &crucible.Model{}
	model.Namespace, model.Name = "ml", "resnet"
	model.Spec.Aliases = map[string]int32{"staging": 1, "champion": 1}
	v1 := newModelVersion("resnet", 1, objs[1].(*crucible.Trial), nil)
	w := &writes{}
	c := fakeClient(t, w.funcs(), append(objs, model, v1)...)

	code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet", "--alias", "champion")
	if code != 0 || stderr != "" {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	if want := "modelversion.crucible.dev/resnet-v2 created\nmodel.crucible.dev/resnet alias champion → v2\n"; stdout != want {
		t.Errorf("stdout %q; want %q", stdout, want)
	}
	if diff := cmp.Diff(map[string]int32{"staging": 1, "champion": 2}, getModel(t, c, "resnet").Spec.Aliases); diff != "" {
		t.Errorf("aliases (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		`*v1alpha1.Model resnet application/merge-patch+json {"spec":{"aliases":{"champion":2}}} by kubectl-crucible`,
	}, w.patches); diff != "" {
		t.Errorf("patches (-want +got):\n%s", diff)
	}
}

func TestPromoteRefusesUnfinished(t *testing.T) {
	exp, objs := promotion()
	running := builder.MakeTrial(exp, "sweep-333333333333").Status(crucible.TrialStatus{Phase: crucible.TrialRunning}).Obj()
	pending := builder.MakeTrial(exp, "sweep-444444444444").Obj()
	c := fakeClient(t, nil, append(objs, running, pending)...)
	for _, tc := range []struct{ trial, want string }{
		{"sweep-222222222222", "error: trial ml/sweep-222222222222 is Failed (OOMKilled: the trainer ran out of memory): only a trial that succeeded can be promoted\n"},
		{"sweep-333333333333", "error: trial ml/sweep-333333333333 is Running: only a trial that succeeded can be promoted\n"},
		{"sweep-444444444444", "error: trial ml/sweep-444444444444 is not started: only a trial that succeeded can be promoted\n"},
	} {
		code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/"+tc.trial, "--model", "resnet", "--alias", "champion")
		if code != 1 || stdout != "" || stderr != tc.want {
			t.Errorf("%s: exit code %d, stdout %q, stderr %q; want 1 and %q", tc.trial, code, stdout, stderr, tc.want)
		}
	}
	if m, vs := getModel(t, c, "resnet"), versionsOf(t, c); m != nil || len(vs) != 0 {
		t.Errorf("a refused promotion wrote: model %v, versions %v", m, vs)
	}
}

func TestPromoteExperimentGone(t *testing.T) {
	exp, objs := promotion()
	trial := objs[2].(*crucible.Trial)
	// The Experiment is gone, or one of its name is another (a new UID).
	other := exp.DeepCopy()
	other.UID = "new-uid"
	for name, objs := range map[string][]client.Object{"gone": objs[1:], "recreated": append(objs[1:], other)} {
		t.Run(name, func(t *testing.T) {
			c := fakeClient(t, nil, objs...)
			code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet")
			if code != 0 || stdout != "model.crucible.dev/resnet created\nmodelversion.crucible.dev/resnet-v1 created\n" {
				t.Fatalf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			wantErr := "note: experiment ml/sweep of trial sweep-111111111111 is gone: promoting it without a store, so no copy of its artifacts is made\n" +
				"note: the version records the trial's URI s3://runs/sweeps/ml/sweep/sweep-uid/0.3/, which the Experiment's retention may delete\n"
			if stderr != wantErr {
				t.Errorf("stderr %q; want %q", stderr, wantErr)
			}
			v1 := versionsOf(t, c)["resnet-v1"].Spec
			if v1.Store != nil || v1.Source.Experiment != "sweep" || v1.Source.SpecDigest != trial.Spec.ExperimentDigest ||
				v1.Objective != (crucible.ModelObjective{Value: "0.3"}) || v1.Artifacts == nil || v1.Artifacts.ManifestDigest != manifestDigest {
				t.Errorf("resnet-v1 spec %+v; want no store, the trial's digest and URI, no metric name", v1)
			}
		})
	}

	t.Run("a PVC store", func(t *testing.T) {
		pvc := exp.DeepCopy()
		pvc.Spec.Artifacts = &crucible.ArtifactsSpec{PersistentVolumeClaim: &crucible.PVCArtifactStore{ClaimName: "outputs"}}
		c := fakeClient(t, nil, append([]client.Object{pvc}, objs[1:]...)...)
		code, _, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet")
		if code != 0 || stderr != "note: experiment ml/sweep has no s3 store: the version records the trial's artifact URI, and no copy is made\n" {
			t.Errorf("exit code %d, stderr %q", code, stderr)
		}
		if v1 := versionsOf(t, c)["resnet-v1"].Spec; v1.Store != nil || v1.Objective.Metric != "val_loss" {
			t.Errorf("resnet-v1 spec %+v", v1)
		}
	})
}

func TestPromoteRace(t *testing.T) {
	_, objs := promotion()
	// Another promotion creates v1 and v2 between this one's count and its
	// creates.
	taken := 0
	funcs := &interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if mv, ok := obj.(*crucible.ModelVersion); ok && taken < 2 {
				taken++
				theirs := newModelVersion("resnet", mv.Spec.Version, objs[1].(*crucible.Trial), nil)
				if err := c.Create(ctx, theirs); err != nil {
					return err
				}
			}
			return c.Create(ctx, obj, opts...)
		},
	}
	c := fakeClient(t, funcs, objs...)
	code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-000000000000", "--model", "resnet", "--alias", "champion")
	if code != 0 || stdout != "model.crucible.dev/resnet created\nmodelversion.crucible.dev/resnet-v3 created\nmodel.crucible.dev/resnet alias champion → v3\n" {
		t.Fatalf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	vs := versionsOf(t, c)
	if v3 := vs["resnet-v3"]; len(vs) != 3 || v3.Spec.Version != 3 || v3.Spec.Source.Trial != "sweep-000000000000" {
		t.Errorf("versions %v; want resnet-v3 of sweep-000000000000 after the other's v1 and v2", slices.Sorted(maps.Keys(vs)))
	}
	if got := getModel(t, c, "resnet").Spec.Aliases; got["champion"] != 3 {
		t.Errorf("aliases %v; want champion → 3", got)
	}

	// Every number taken: it gives up, saying why.
	always := &interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*crucible.ModelVersion); ok {
				return apierrors.NewAlreadyExists(schema.GroupResource{Group: "crucible.dev", Resource: "modelversions"}, obj.GetName())
			}
			return c.Create(ctx, obj, opts...)
		},
	}
	code, _, stderr = runWith(t, fakeCluster(t, fakeClient(t, always, objs...), nil, "ml"), "promote", "trial/sweep-000000000000", "--model", "resnet")
	if want := "error: versions 1 to 5 of model resnet were all taken while promoting: other promotions are running, try again\n"; code != 1 || stderr != want {
		t.Errorf("exit code %d, stderr %q; want 1, %q", code, stderr, want)
	}
}

func TestPromoteDryRun(t *testing.T) {
	exp, objs := promotion()
	w := &writes{}
	c := fakeClient(t, w.funcs(), objs...)
	code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet", "--alias", "champion", "--dry-run")
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	if want := "model.crucible.dev/resnet would be created\nmodel.crucible.dev/resnet alias champion would point at v1\n"; stderr != want {
		t.Errorf("stderr %q; want %q", stderr, want)
	}
	for _, noise := range []string{"creationTimestamp", "status", "null"} {
		if strings.Contains(stdout, noise) {
			t.Errorf("the manifest has %q:\n%s", noise, stdout)
		}
	}
	got := &crucible.ModelVersion{}
	if err := yaml.UnmarshalStrict([]byte(stdout), got); err != nil {
		t.Fatalf("not a ModelVersion: %v\n%s", err, stdout)
	}
	if got.APIVersion != "crucible.dev/v1alpha1" || got.Kind != "ModelVersion" || got.Name != "resnet-v1" || got.Namespace != "ml" ||
		got.Spec.Version != 1 || got.Spec.Store == nil || *got.Spec.Store != *exp.Spec.Artifacts.S3 {
		t.Errorf("manifest %+v", got)
	}
	if len(w.creates) != 0 || len(w.patches) != 0 {
		t.Errorf("--dry-run wrote: creates %v, patches %v", w.creates, w.patches)
	}

	code, stdout, _ = runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet", "--dry-run", "-o", "json")
	if code != 0 || !json.Valid([]byte(stdout)) || !strings.Contains(stdout, `"name": "resnet-v1"`) {
		t.Errorf("--dry-run -o json: exit code %d\n%s", code, stdout)
	}
	if len(w.creates) != 0 {
		t.Errorf("--dry-run -o json wrote: %v", w.creates)
	}
}

func TestPromoteOutput(t *testing.T) {
	_, objs := promotion()
	c := fakeClient(t, nil, objs...)
	code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet", "--alias", "champion", "-o", "json")
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	// What was done goes to stderr, the object alone to stdout.
	if want := "model.crucible.dev/resnet created\nmodelversion.crucible.dev/resnet-v1 created\nmodel.crucible.dev/resnet alias champion → v1\n"; stderr != want {
		t.Errorf("stderr %q; want %q", stderr, want)
	}
	got := &crucible.ModelVersion{}
	if err := json.Unmarshal([]byte(stdout), got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if got.Kind != "ModelVersion" || got.Name != "resnet-v1" || got.ResourceVersion == "" || got.Spec.Source.Trial != "sweep-111111111111" {
		t.Errorf("printed %+v; want the created resnet-v1", got)
	}
}

func TestPromoteErrors(t *testing.T) {
	_, objs := promotion()
	refuse := func(verb string, list client.ObjectList, obj client.Object) *interceptor.Funcs {
		forbidden := func(resource, name string) error {
			return apierrors.NewForbidden(schema.GroupResource{Group: "crucible.dev", Resource: resource}, name, fmt.Errorf(`User "alice" cannot %s`, verb))
		}
		return &interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
				if verb == "create" && fmt.Sprintf("%T", o) == fmt.Sprintf("%T", obj) {
					return forbidden("x", o.GetName())
				}
				return c.Create(ctx, o, opts...)
			},
			List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
				if verb == "list" && fmt.Sprintf("%T", l) == fmt.Sprintf("%T", list) {
					return forbidden("x", "")
				}
				return c.List(ctx, l, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
				if verb == "patch" {
					return forbidden("models", o.GetName())
				}
				return c.Patch(ctx, o, p, opts...)
			},
		}
	}
	tests := []struct {
		name  string
		args  []string
		funcs *interceptor.Funcs
		want  string
	}{
		{name: "no --model", args: []string{"trial/x"}, want: "say which model the trial becomes a version of: --model MODEL"},
		{name: "no trial", args: []string{"--model", "resnet"}, want: "say which: kubectl crucible promote trial/NAME --model MODEL"},
		{name: "an experiment", args: []string{"experiment/sweep", "--model", "resnet"}, want: `"experiment/sweep": want trial/NAME`},
		{name: "model too long", args: []string{"trial/x", "--model", strings.Repeat("m", 51)},
			want: `--model "` + strings.Repeat("m", 51) + `": want a DNS label (lowercase letters, digits and '-') of at most 50 characters: versions are named <model>-v<N>`},
		{name: "model not a label", args: []string{"trial/x", "--model", "ResNet"},
			want: `--model "ResNet": want a DNS label (lowercase letters, digits and '-') of at most 50 characters: versions are named <model>-v<N>`},
		{name: "alias not a label", args: []string{"trial/x", "--model", "resnet", "--alias", "Champion!"},
			want: `--alias "Champion!": want a DNS label (lowercase letters, digits and '-') of at most 63 characters`},
		{name: "output", args: []string{"trial/x", "--model", "resnet", "-o", "wide"}, want: `--output "wide": want "yaml" or "json"`},
		{name: "missing trial", args: []string{"trial/missing", "--model", "resnet"}, want: `trials.crucible.dev missing not found in namespace "ml"`},
		{
			name: "may not list versions", args: []string{"trial/sweep-111111111111", "--model", "resnet"},
			funcs: refuse("list", &crucible.ModelVersionList{}, nil),
			want:  `you may not list modelversions.crucible.dev in namespace "ml": your RBAC needs the verb list on modelversions.crucible.dev (kubectl auth can-i list modelversions.crucible.dev -n ml)`,
		},
		{
			name: "may not create models", args: []string{"trial/sweep-111111111111", "--model", "resnet"},
			funcs: refuse("create", nil, &crucible.Model{}),
			want:  `you may not create models.crucible.dev "resnet" in namespace "ml": your RBAC needs the verb create on models.crucible.dev (kubectl auth can-i create models.crucible.dev -n ml)`,
		},
		{
			name: "may not create versions", args: []string{"trial/sweep-111111111111", "--model", "resnet"},
			funcs: refuse("create", nil, &crucible.ModelVersion{}),
			want:  `you may not create modelversions.crucible.dev "resnet-v1" in namespace "ml": your RBAC needs the verb create on modelversions.crucible.dev (kubectl auth can-i create modelversions.crucible.dev -n ml)`,
		},
		{
			name: "may not move the alias", args: []string{"trial/sweep-111111111111", "--model", "resnet", "--alias", "champion"},
			funcs: refuse("patch", nil, nil),
			want: `modelversion.crucible.dev/resnet-v1 was created, but alias champion was not moved to it: you may not patch models.crucible.dev "resnet" in namespace "ml": ` +
				`your RBAC needs the verb patch on models.crucible.dev (kubectl auth can-i patch models.crucible.dev -n ml)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient(t, tc.funcs, objs...)
			code, _, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), append([]string{"promote"}, tc.args...)...)
			if code != 1 || stderr != "error: "+tc.want+"\n" {
				t.Errorf("exit code %d, stderr %q; want 1, %q", code, stderr, "error: "+tc.want+"\n")
			}
		})
	}
}

func TestPromoteVersionPages(t *testing.T) {
	_, objs := promotion()
	// 1,200 versions served 500 at a time; the highest is on the last page.
	var asks []client.ListOptions
	funcs := &interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			l, ok := list.(*crucible.ModelVersionList)
			if !ok {
				return c.List(ctx, list, opts...)
			}
			o := (&client.ListOptions{}).ApplyOptions(opts)
			asks = append(asks, *o)
			from := 0
			if o.Continue != "" {
				if _, err := fmt.Sscanf(o.Continue, "from-%d", &from); err != nil {
					return err
				}
			}
			to := min(from+int(o.Limit), 1200)
			for i := from; i < to; i++ {
				l.Items = append(l.Items, crucible.ModelVersion{Spec: crucible.ModelVersionSpec{Version: int32(i + 1)}})
			}
			if to < 1200 {
				l.Continue = fmt.Sprintf("from-%d", to)
			}
			return nil
		},
	}
	c := fakeClient(t, funcs, objs...)
	code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "name: resnet-v1201\n") {
		t.Fatalf("exit code %d, stderr %q\n%s", code, stderr, stdout)
	}
	var got []string
	for _, o := range asks {
		got = append(got, fmt.Sprintf("%s %s %d %q", o.Namespace, o.LabelSelector, o.Limit, o.Continue))
	}
	if diff := cmp.Diff([]string{
		`ml crucible.dev/model=resnet 500 ""`,
		`ml crucible.dev/model=resnet 500 "from-500"`,
		`ml crucible.dev/model=resnet 500 "from-1000"`,
	}, got); diff != "" {
		t.Errorf("Lists (-want +got):\n%s", diff)
	}
}

// TestPromoteDescriptionOfAModelThatExists says --description does not
// change a Model that is there.
func TestPromoteDescriptionOfAModelThatExists(t *testing.T) {
	_, objs := promotion()
	model := &crucible.Model{}
	model.Namespace, model.Name, model.Spec.Description = "ml", "resnet", "the old one"
	c := fakeClient(t, nil, append(objs, model)...)
	code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet", "--description", "new")
	if code != 0 || stdout != "modelversion.crucible.dev/resnet-v1 created\n" ||
		stderr != "note: model.crucible.dev/resnet exists: --description is for a new Model, the description is left as it is\n" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got := getModel(t, c, "resnet").Spec.Description; got != "the old one" {
		t.Errorf("description %q", got)
	}
}

// TestPromoteNeverReusesANumber: with v3 deleted, the Model's status still
// says 3 was given, and the next version is v4, not v3 again.
func TestPromoteNeverReusesANumber(t *testing.T) {
	_, objs := promotion()
	model := &crucible.Model{ObjectMeta: metav1.ObjectMeta{Name: "resnet", Namespace: "ml"},
		Status: crucible.ModelStatus{LatestVersion: 3, Versions: 1}}
	v1 := &crucible.ModelVersion{ObjectMeta: metav1.ObjectMeta{Name: "resnet-v1", Namespace: "ml", Labels: map[string]string{crucible.ModelLabel: "resnet"}},
		Spec: crucible.ModelVersionSpec{Model: "resnet", Version: 1}}
	c := fakeClient(t, (&writes{}).funcs(), append(objs, model, v1)...)
	code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "promote", "trial/sweep-111111111111", "--model", "resnet")
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	if want := "modelversion.crucible.dev/resnet-v4 created\n"; stdout != want {
		t.Errorf("stdout %q; want %q", stdout, want)
	}
}
