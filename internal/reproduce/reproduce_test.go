package reproduce

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/provenance"
	"github.com/crucible-dev/crucible/internal/specdigest"
	"github.com/crucible-dev/crucible/test/builder"
)

// originalOf is a sweep and its succeeded trial lr=0.01 depth=4 seed 43.
func originalOf(t *testing.T) (*crucible.Experiment, *crucible.Trial) {
	t.Helper()
	exp := builder.MakeExperiment("resnet", "ml").UID("exp-uid").
		FloatRange("lr", "0.001", "0.1", 3, crucible.ScaleLog).IntRange("depth", 2, 8, 2).Seeds(42, 2).
		Args("--lr=$(CRUCIBLE_PARAM_LR)").Env("DATA_ROOT", "/data/train").
		Resources(corev1.ResourceRequirements{Limits: corev1.ResourceList{"memory": resource.MustParse("2Gi")}}).
		PVCDataset("datasets", "imagenet", "/data").Parallelism(4).Obj()
	exp.Spec.Source = &crucible.SourceSpec{Repository: "https://git.example/vision.git", Commit: strings.Repeat("ab", 20)}
	exp.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{Endpoint: "s3.example:9000", Bucket: "runs", CredentialsSecret: crucible.SecretReference{Name: "s3"}}}
	exp.Status.SpecDigest, _ = specdigest.Compute(&exp.Spec)
	trial := builder.MakeTrial(exp, "resnet-0123456789ab").Index(4).Seed(43).Param("lr", "0.01").Param("depth", "4").
		Status(crucible.TrialStatus{
			Phase:          crucible.TrialSucceeded,
			Metrics:        map[string]string{"val_loss": "0.5", "accuracy": "0.95"},
			Objective:      "0.5",
			StartTime:      &metav1.Time{Time: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
			CompletionTime: &metav1.Time{Time: time.Date(2026, 11, 1, 10, 5, 0, 0, time.UTC)},
			Artifacts:      &crucible.TrialArtifacts{URI: "s3://runs/ml/resnet/exp-uid/resnet-0123456789ab/t-uid/", ManifestDigest: "sha256:" + strings.Repeat("ee", 32)},
			Provenance:     &crucible.TrialProvenance{Digest: "sha256:" + strings.Repeat("aa", 32)},
		}).Obj()
	trial.Spec.ExperimentDigest = exp.Status.SpecDigest
	return exp, trial
}

func TestFromTrial(t *testing.T) {
	exp, trial := originalOf(t)
	tol := []crucible.MetricTolerance{{Metric: "val_loss", Absolute: "0.01"}}
	r, err := FromTrial(exp, trial, Options{Tolerances: tol})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPins(&r.Spec); err != nil {
		t.Errorf("the reproduction FromTrial made fails its own pin check: %v", err)
	}
	want := &crucible.ReproductionSpec{
		Trial:            crucible.ReproducedTrial{Namespace: "ml", Experiment: "resnet", Name: "resnet-0123456789ab", UID: "resnet-0123456789ab-uid"},
		ProvenanceDigest: "sha256:" + strings.Repeat("aa", 32),
		InputsDigest:     mustInputs(t, &exp.Spec, trial.Spec.Parameters, 43),
		Image:            exp.Spec.Image,
		DatasetDigest:    exp.Spec.Dataset.Digest,
		Seed:             43,
		Parameters:       trial.Spec.Parameters,
		Metrics:          map[string]string{"val_loss": "0.5", "accuracy": "0.95"},
		ManifestDigest:   "sha256:" + strings.Repeat("ee", 32),
		Tolerances:       tol,
	}
	if diff := cmp.Diff(want, r.Spec.Reproduces); diff != "" {
		t.Errorf("spec.reproduces (-want +got):\n%s", diff)
	}
	wantParams := []crucible.ParameterSpec{{Name: "lr", Values: []string{"0.01"}}, {Name: "depth", Values: []string{"4"}}}
	if diff := cmp.Diff(wantParams, r.Spec.Parameters); diff != "" {
		t.Errorf("spec.parameters (-want +got):\n%s", diff)
	}
	if r.Spec.Seeds != (crucible.SeedSpec{Base: 43, Replicas: 1}) || r.Spec.Parallelism != 1 {
		t.Errorf("seeds %+v, parallelism %d; want the original's seed once", r.Spec.Seeds, r.Spec.Parallelism)
	}
	if diff := cmp.Diff(exp.Spec.Artifacts, r.Spec.Artifacts); diff != "" {
		t.Errorf("artifacts: the reproduction writes beside the original (-want +got):\n%s", diff)
	}
	if r.Name != "resnet-repro-"+Name("", "resnet-0123456789ab-uid")[len("-repro-"):] || r.Namespace != "ml" || r.Labels[ReproducesLabel] != trial.Name {
		t.Errorf("metadata %+v", r.ObjectMeta)
	}
	// The reproduction is its own copy: changing it leaves the original.
	r.Spec.Env[0].Value = "changed"
	if exp.Spec.Env[0].Value == "changed" {
		t.Error("the reproduction shares the original's env")
	}
}

func mustInputs(t *testing.T, spec *crucible.ExperimentSpec, params []crucible.ParameterAssignment, seed int64) string {
	t.Helper()
	d, err := specdigest.TrialInputs(spec, params, seed)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFromTrialRefuses(t *testing.T) {
	exp, trial := originalOf(t)
	other := exp.DeepCopy()
	other.UID = "another"
	failed := trial.DeepCopy()
	failed.Status.Phase = crucible.TrialFailed
	running := trial.DeepCopy()
	running.Status = crucible.TrialStatus{}
	noMetrics := trial.DeepCopy()
	noMetrics.Status.Metrics = nil
	cases := []struct {
		name  string
		exp   *crucible.Experiment
		trial *crucible.Trial
		opts  Options
		want  string
	}{
		{"another Experiment's trial", other, trial, Options{}, "is not a trial of Experiment"},
		{"a failed trial", exp, failed, Options{}, "is Failed: only a trial that succeeded"},
		{"a trial that has not ended", exp, running, Options{}, "is Pending"},
		{"no metrics", exp, noMetrics, Options{}, "recorded no metrics"},
		{"a tolerance for a metric never reported", exp, trial, Options{Tolerances: []crucible.MetricTolerance{{Metric: "f1", Absolute: "1"}}}, `a tolerance for "f1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromTrial(tc.exp, tc.trial, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FromTrial: error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFromRecordMatchesFromTrial(t *testing.T) {
	exp, trial := originalOf(t)
	st, err := provenance.Statement(provenance.Inputs{Experiment: exp, Trial: trial, Builder: provenance.Builder{ID: "https://crucible.dev/operator", Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := provenance.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	line, err := provenance.Envelope(context.Background(), nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := provenance.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	fromRecord, err := FromRecord(rec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fromTrial, err := FromTrial(exp, trial, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPins(&fromRecord.Spec); err != nil {
		t.Errorf("the reproduction FromRecord made fails its pin check: %v", err)
	}
	// The record carries the pinned spec, not where artifacts went, and
	// its own digest is the provenance digest.
	if fromRecord.Spec.Artifacts != nil {
		t.Errorf("artifacts %+v from a record, which does not keep them", fromRecord.Spec.Artifacts)
	}
	if got, want := fromRecord.Spec.Reproduces.ProvenanceDigest, provenance.Digest(payload); got != want {
		t.Errorf("provenanceDigest %s, want the payload's %s", got, want)
	}
	fromTrial.Spec.Artifacts = nil
	fromTrial.Spec.Reproduces.ProvenanceDigest = fromRecord.Spec.Reproduces.ProvenanceDigest
	// Quantities come back from the record in their canonical spelling.
	if diff := cmp.Diff(fromTrial, fromRecord, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("FromRecord differs from FromTrial (-trial +record):\n%s", diff)
	}

	rec.Outcome.Phase = crucible.TrialFailed
	if _, err := FromRecord(rec, Options{}); err == nil || !strings.Contains(err.Error(), "ended Failed") {
		t.Errorf("FromRecord of a failed trial: %v", err)
	}
}

func TestCheckPins(t *testing.T) {
	exp, trial := originalOf(t)
	r, err := FromTrial(exp, trial, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		change func(s *crucible.ExperimentSpec)
		want   string
	}{
		"the original's pins":     {func(*crucible.ExperimentSpec) {}, ""},
		"a mutable field changed": {func(s *crucible.ExperimentSpec) { s.Parallelism = 3; s.Suspend = true }, ""},
		"verification turned off": {func(s *crucible.ExperimentSpec) { s.Dataset.Verify = crucible.DatasetVerifyNever }, ""},
		"another env":             {func(s *crucible.ExperimentSpec) { s.Env[0].Value = "/data/val" }, "differ from the original's"},
		"another command":         {func(s *crucible.ExperimentSpec) { s.Command = []string{"python", "fast.py"} }, "differ from the original's"},
		"another template": {func(s *crucible.ExperimentSpec) {
			s.PodTemplate = &corev1.PodTemplateSpec{}
			s.PodTemplate.Spec.NodeSelector = map[string]string{"gpu": "h100"}
		}, "differ from the original's"},
		"another source commit":     {func(s *crucible.ExperimentSpec) { s.Source.Commit = strings.Repeat("cd", 20) }, "differ from the original's"},
		"a forged inputs digest":    {func(s *crucible.ExperimentSpec) { s.Reproduces.InputsDigest = "sha256:" + strings.Repeat("00", 32) }, "ran with sha256:0000"},
		"two values of a parameter": {func(s *crucible.ExperimentSpec) { s.Parameters[0].Values = append(s.Parameters[0].Values, "0.1") }, `parameter "lr" of a reproduction must have exactly one value`},
		"a range, not a value": {func(s *crucible.ExperimentSpec) {
			s.Parameters[1] = crucible.ParameterSpec{Name: "depth", Int: &crucible.IntRange{Min: 4, Max: 4}}
		}, `parameter "depth"`},
		"not a reproduction": {func(s *crucible.ExperimentSpec) { s.Reproduces = nil }, "spec.reproduces is not set"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := r.Spec.DeepCopy()
			tc.change(s)
			err := CheckPins(s)
			if tc.want == "" {
				if err != nil {
					t.Errorf("CheckPins: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckPins: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := Name("resnet", "u"); !strings.HasPrefix(got, "resnet-repro-") || len(got) != len("resnet-repro-")+4 {
		t.Errorf("Name = %q", got)
	}
	if Name("resnet", "u1") == Name("resnet", "u2") {
		t.Error("two trials' reproductions got the same name")
	}
	long := strings.Repeat("a", 49) + "-" // a 50-character name cut at a '-'
	got := Name(long, "u")
	if len(got) > crucible.MaxExperimentNameLength || strings.Contains(got, "--") {
		t.Errorf("Name(50 characters) = %q (%d characters)", got, len(got))
	}
}

func TestJudge(t *testing.T) {
	repro := func(metrics map[string]string, tol ...crucible.MetricTolerance) *crucible.ReproductionSpec {
		return &crucible.ReproductionSpec{Metrics: metrics, Tolerances: tol, ManifestDigest: "sha256:m1"}
	}
	trial := func(phase crucible.TrialPhase, metrics map[string]string) *crucible.Trial {
		return &crucible.Trial{ObjectMeta: metav1.ObjectMeta{Name: "r-1"}, Status: crucible.TrialStatus{Phase: phase, Metrics: metrics}}
	}
	orig := map[string]string{"val_loss": "0.5", "accuracy": "0.95"}
	cases := []struct {
		name        string
		r           *crucible.ReproductionSpec
		t           *crucible.Trial
		verdict     crucible.ReproductionVerdict
		outcomes    map[string]crucible.MetricOutcome
		differences map[string]string
		message     []string
	}{
		{
			name: "identical", r: repro(orig), t: trial(crucible.TrialSucceeded, map[string]string{"val_loss": "0.5", "accuracy": "0.95", "extra": "1"}),
			verdict:  crucible.VerdictIdentical,
			outcomes: map[string]crucible.MetricOutcome{"val_loss": crucible.MetricEqual, "accuracy": crucible.MetricEqual},
			message:  []string{"all 2 metrics equal"},
		},
		{
			name: "equal numbers spelled otherwise", r: repro(map[string]string{"val_loss": "0.5"}), t: trial(crucible.TrialSucceeded, map[string]string{"val_loss": "5e-1"}),
			verdict: crucible.VerdictIdentical, outcomes: map[string]crucible.MetricOutcome{"val_loss": crucible.MetricEqual},
		},
		{
			name: "differs without a tolerance", r: repro(orig), t: trial(crucible.TrialSucceeded, map[string]string{"val_loss": "0.5012", "accuracy": "0.95"}),
			verdict:     crucible.VerdictDiffers,
			outcomes:    map[string]crucible.MetricOutcome{"val_loss": crucible.MetricDiffers, "accuracy": crucible.MetricEqual},
			differences: map[string]string{"val_loss": "+0.0012"},
			message:     []string{"val_loss differs: 0.5012, original 0.5 (+0.0012, no tolerance)"},
		},
		{
			name: "within an absolute tolerance", r: repro(orig, crucible.MetricTolerance{Metric: "val_loss", Absolute: "0.002"}),
			t:           trial(crucible.TrialSucceeded, map[string]string{"val_loss": "0.4988", "accuracy": "0.95"}),
			verdict:     crucible.VerdictWithinTolerance,
			outcomes:    map[string]crucible.MetricOutcome{"val_loss": crucible.MetricWithinTolerance, "accuracy": crucible.MetricEqual},
			differences: map[string]string{"val_loss": "-0.0012"},
			message:     []string{"val_loss within tolerance: 0.4988, original 0.5 (-0.0012, tolerance absolute 0.002)"},
		},
		{
			name: "exactly at the tolerance", r: repro(map[string]string{"val_loss": "0.5"}, crucible.MetricTolerance{Metric: "val_loss", Absolute: "0.1"}),
			t:       trial(crucible.TrialSucceeded, map[string]string{"val_loss": "0.6"}),
			verdict: crucible.VerdictWithinTolerance,
		},
		{
			name: "within a relative tolerance", r: repro(map[string]string{"val_loss": "-2"}, crucible.MetricTolerance{Metric: "val_loss", Relative: "0.01"}),
			t:       trial(crucible.TrialSucceeded, map[string]string{"val_loss": "-2.02"}),
			verdict: crucible.VerdictWithinTolerance,
		},
		{
			name: "beyond both tolerances", r: repro(map[string]string{"val_loss": "1"}, crucible.MetricTolerance{Metric: "val_loss", Absolute: "0.01", Relative: "0.01"}),
			t:       trial(crucible.TrialSucceeded, map[string]string{"val_loss": "1.02"}),
			verdict: crucible.VerdictDiffers,
			message: []string{"tolerance absolute 0.01 or relative 0.01"},
		},
		{
			name: "a metric missing", r: repro(orig), t: trial(crucible.TrialSucceeded, map[string]string{"val_loss": "0.5"}),
			verdict:  crucible.VerdictDiffers,
			outcomes: map[string]crucible.MetricOutcome{"accuracy": crucible.MetricMissing, "val_loss": crucible.MetricEqual},
			message:  []string{"accuracy was not reported (original 0.95)"},
		},
		{
			name: "one differs, one within: differs first", r: repro(orig, crucible.MetricTolerance{Metric: "accuracy", Absolute: "1"}),
			t:       trial(crucible.TrialSucceeded, map[string]string{"val_loss": "0.7", "accuracy": "0.93"}),
			verdict: crucible.VerdictDiffers,
			message: []string{"val_loss differs: 0.7, original 0.5 (+0.2, no tolerance); accuracy within tolerance"},
		},
		{
			name: "not numbers: equal only as written", r: repro(map[string]string{"note": "NaN", "n2": "x"}), t: trial(crucible.TrialSucceeded, map[string]string{"note": "NaN", "n2": "y"}),
			verdict:     crucible.VerdictDiffers,
			outcomes:    map[string]crucible.MetricOutcome{"note": crucible.MetricEqual, "n2": crucible.MetricDiffers},
			differences: map[string]string{"note": "", "n2": ""},
			message:     []string{"n2 differs: y, original x (not a number, no tolerance)"},
		},
		{
			name: "a huge exponent is compared, not expanded", r: repro(map[string]string{"m": "1e-999999999"}), t: trial(crucible.TrialSucceeded, map[string]string{"m": "0"}),
			verdict: crucible.VerdictDiffers,
		},
		{
			name: "the trial failed", r: repro(orig),
			t:       &crucible.Trial{ObjectMeta: metav1.ObjectMeta{Name: "r-1"}, Status: crucible.TrialStatus{Phase: crucible.TrialFailed, Reason: "OOMKilled", Message: "the trainer ran out of memory"}},
			verdict: crucible.VerdictNotComparable,
			message: []string{"r-1 did not succeed (OOMKilled): the trainer ran out of memory"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := Judge(tc.r, tc.t)
			if st.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s (%s)", st.Verdict, tc.verdict, st.Message)
			}
			if st.Trial != "r-1" {
				t.Errorf("trial %q, want r-1", st.Trial)
			}
			got := map[string]crucible.MetricComparison{}
			for _, m := range st.Metrics {
				got[m.Name] = m
			}
			for name, want := range tc.outcomes {
				if got[name].Outcome != want {
					t.Errorf("%s: outcome %s, want %s", name, got[name].Outcome, want)
				}
			}
			for name, want := range tc.differences {
				if got[name].Difference != want {
					t.Errorf("%s: difference %q, want %q", name, got[name].Difference, want)
				}
			}
			for _, want := range tc.message {
				if !strings.Contains(st.Message, want) {
					t.Errorf("message %q, want it to contain %q", st.Message, want)
				}
			}
		})
	}
}

func TestJudgeArtifacts(t *testing.T) {
	r := &crucible.ReproductionSpec{Metrics: map[string]string{"m": "1"}, ManifestDigest: "sha256:m1"}
	trial := &crucible.Trial{Status: crucible.TrialStatus{Phase: crucible.TrialSucceeded, Metrics: map[string]string{"m": "1"}}}
	if st := Judge(r, trial); st.ArtifactsMatched != nil {
		t.Errorf("artifactsMatched %v without a reproduced manifest", *st.ArtifactsMatched)
	}
	trial.Status.Artifacts = &crucible.TrialArtifacts{ManifestDigest: "sha256:m1"}
	if st := Judge(r, trial); !ptr.Deref(st.ArtifactsMatched, false) || !strings.Contains(st.Message, "manifest digest matched") {
		t.Errorf("same manifest: %+v", st)
	}
	trial.Status.Artifacts.ManifestDigest = "sha256:m2"
	if st := Judge(r, trial); ptr.Deref(st.ArtifactsMatched, true) || st.Verdict != crucible.VerdictIdentical {
		t.Errorf("another manifest: %+v; the verdict is the metrics'", st)
	}
}

func TestNotComparableCutsItsMessage(t *testing.T) {
	st := NotComparable("ReproductionPinsDiffer", strings.Repeat("é", 5000))
	if len(st.Message) > maxMessage || !strings.HasSuffix(st.Message, "...") || st.Verdict != crucible.VerdictNotComparable {
		t.Errorf("%d bytes, verdict %s", len(st.Message), st.Verdict)
	}
}
