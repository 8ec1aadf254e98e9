package experiment

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/searchspace"
	"github.com/crucible-dev/crucible/test/builder"
)

var jobsResource = schema.GroupResource{Group: "batch", Resource: "jobs"}

// templateAccepted is the TemplateValid condition of a dry run the API
// server accepted at generation gen.
func templateAccepted(gen int64) metav1.Condition {
	return metav1.Condition{Type: crucible.ExperimentTemplateValidCondition, Status: metav1.ConditionTrue,
		Reason: crucible.ReasonDryRunAccepted, Message: "the API server accepted a server-side dry run of the first trial's Job",
		ObservedGeneration: gen}
}

func verificationDisabled(gen int64) metav1.Condition {
	return metav1.Condition{Type: crucible.ExperimentDatasetVerifiedCondition, Status: metav1.ConditionFalse,
		Reason: crucible.ReasonVerificationDisabled, Message: "spec.dataset.verify is Never: the dataset's digest was not checked",
		ObservedGeneration: gen}
}

// invalidJob is the error the API server answers a Job whose trainer mounts
// a volume the template lacks.
func invalidJob(name string) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, name, field.ErrorList{
		field.NotFound(field.NewPath("spec", "template", "spec", "containers").Index(0).Child("volumeMounts").Index(0).Child("name"), "scratch"),
	})
}

// expectFailedShape checks the one shape every failure ends in: phase
// Failed, Failed True and Succeeded False with reason, completionTime set.
func expectFailedShape(t *testing.T, got *crucible.Experiment, reason string) {
	t.Helper()
	failed := condition(got.Status.Conditions, crucible.ExperimentFailedCondition)
	succeeded := condition(got.Status.Conditions, crucible.ExperimentSucceededCondition)
	if got.Status.Phase != crucible.ExperimentFailed {
		t.Errorf("phase = %q; want Failed", got.Status.Phase)
	}
	if failed.Status != metav1.ConditionTrue || failed.Reason != reason {
		t.Errorf("Failed condition = %+v; want True %s", failed, reason)
	}
	if succeeded.Status != metav1.ConditionFalse || succeeded.Reason != reason {
		t.Errorf("Succeeded condition = %+v; want False %s: kubectl wait --for=condition=Succeeded=false must return", succeeded, reason)
	}
	if got.Status.CompletionTime == nil {
		t.Errorf("completionTime is not set; want it set once no trial runs")
	}
}

// TestReconcileFailureShape checks that every way an Experiment fails ends
// in the same terminal shape.
func TestReconcileFailureShape(t *testing.T) {
	t.Run("invalid search space", func(t *testing.T) {
		exp := stored(builder.MakeExperiment("bad", testNS).Values("lr", "0.1").Values("lr", "0.2").Obj())
		f := newCtrlFixture(t, hooks{}, exp)
		f.mustReconcile(t, exp)
		expectFailedShape(t, f.experiment(t, exp), crucible.ReasonInvalidSearchSpace)
	})

	t.Run("name collision, once the running trials ended", func(t *testing.T) {
		exp := stored(sweep().Obj())
		name := sweepTrialName(3)
		f := newCtrlFixture(t, hooks{create: func(obj client.Object) error {
			if tr, ok := obj.(*crucible.Trial); ok && tr.Name == name {
				return apierrors.NewAlreadyExists(trialsResource, name)
			}
			return nil
		}, get: func(key client.ObjectKey, obj client.Object) (bool, error) {
			tr, ok := obj.(*crucible.Trial)
			if !ok || key.Name != name {
				return false, nil
			}
			*tr = *builder.MakeTrial(exp, name).Index(9).Obj()
			return true, nil
		}}, exp)
		f.mustReconcile(t, exp)
		got := f.experiment(t, exp)
		if got.Status.CompletionTime != nil || got.Status.Phase != crucible.ExperimentFailed {
			t.Fatalf("phase %q, completionTime %v with 3 trials running; want Failed, not yet complete", got.Status.Phase, got.Status.CompletionTime)
		}
		for i := range int64(3) {
			f.setTrialStatus(t, i, crucible.TrialSucceeded, "0.5")
		}
		f.mustReconcile(t, exp)
		expectFailedShape(t, f.experiment(t, exp), crucible.ReasonInvalidSearchSpace)
	})

	t.Run("failure budget spent, once the running trials ended", func(t *testing.T) {
		exp := stored(sweep().Parallelism(2).Obj())
		f := newCtrlFixture(t, hooks{}, exp)
		f.mustReconcile(t, exp)
		f.setTrialStatus(t, 0, crucible.TrialFailed, "")
		f.mustReconcile(t, exp)
		f.setTrialStatus(t, 1, crucible.TrialSucceeded, "0.5")
		f.mustReconcile(t, exp)
		expectFailedShape(t, f.experiment(t, exp), crucible.ReasonMaxFailedTrialsExceeded)
	})

	t.Run("invalid template", func(t *testing.T) {
		exp := stored(sweep().Obj())
		f := newCtrlFixture(t, hooks{dryRun: func(obj client.Object) error { return invalidJob(obj.GetName()) }}, exp)
		f.mustReconcile(t, exp)
		expectFailedShape(t, f.experiment(t, exp), crucible.ReasonInvalidTemplate)
	})
}

// TestReconcileTemplateDryRun checks that the first trial's Job is dry-run
// once per generation, before any Trial is created, and not again on later
// passes or by a restarted operator.
func TestReconcileTemplateDryRun(t *testing.T) {
	exp := stored(sweep().Suspend(true).Obj())
	var dryRun *batchv1.Job
	f := newCtrlFixture(t, hooks{dryRun: func(obj client.Object) error {
		dryRun = obj.(*batchv1.Job).DeepCopy()
		return nil
	}}, exp)

	f.mustReconcile(t, exp)
	if f.dryRuns != 1 {
		t.Fatalf("%d dry runs on the first pass; want 1", f.dryRuns)
	}
	if dryRun.Name != sweepTrialName(0) || len(dryRun.OwnerReferences) != 0 || dryRun.Spec.Template.Spec.Containers[0].Image != builder.Image {
		t.Errorf("dry-run Job %s (owners %v, image %s); want the Job of trial 0, without an owner reference to a Trial that does not exist yet",
			dryRun.Name, dryRun.OwnerReferences, dryRun.Spec.Template.Spec.Containers[0].Image)
	}
	if diff := cmp.Diff(templateAccepted(1), condition(f.experiment(t, exp).Status.Conditions, crucible.ExperimentTemplateValidCondition), ignoreLTT); diff != "" {
		t.Errorf("TemplateValid condition (-want +got):\n%s", diff)
	}

	f.mustReconcile(t, exp)
	f.r = NewReconciler(f.r.client, f.recorder, WithClock(f.clock)) // a restarted operator
	f.mustReconcile(t, exp)
	if f.dryRuns != 1 {
		t.Errorf("%d dry runs after two more passes, one of a restarted operator; want still 1", f.dryRuns)
	}

	// A new generation is checked again, then its Trials created.
	latest := f.experiment(t, exp)
	latest.Spec.Suspend = false
	latest.Generation = 2
	if err := f.store.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	f.writes()
	f.mustReconcile(t, exp)
	if _, _, _, indices := f.writes(); f.dryRuns != 2 || !cmp.Equal([]int64{0, 1, 2, 3}, indices) {
		t.Errorf("generation 2: %d dry runs in all, created %v; want 2, and trials 0 to 3", f.dryRuns, indices)
	}

	// Once Trials exist, a new generation needs no dry run.
	latest = f.experiment(t, exp)
	latest.Spec.Parallelism = 5
	latest.Generation = 3
	if err := f.store.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	f.mustReconcile(t, exp)
	if f.dryRuns != 2 {
		t.Errorf("generation 3, with Trials: %d dry runs in all; want still 2", f.dryRuns)
	}
}

// TestReconcileTemplateRefused checks that a Job the API server refuses
// fails the Experiment with its words, and that no Trial is created.
func TestReconcileTemplateRefused(t *testing.T) {
	exp := stored(sweep().Obj())
	f := newCtrlFixture(t, hooks{dryRun: func(obj client.Object) error { return invalidJob(obj.GetName()) }}, exp)
	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 0 || len(f.trials(t)) != 0 {
		t.Errorf("%d creates, %d Trials; want none", creates, len(f.trials(t)))
	}
	got := f.experiment(t, exp)
	failed := condition(got.Status.Conditions, crucible.ExperimentFailedCondition)
	for _, s := range []string{"the API server refuses the trials' Job", sweepTrialName(0), `volumeMounts[0].name: Not found: "scratch"`} {
		if !strings.Contains(failed.Message, s) {
			t.Errorf("Failed message %q does not contain %q", failed.Message, s)
		}
	}
	if tv := condition(got.Status.Conditions, crucible.ExperimentTemplateValidCondition); tv.Status != metav1.ConditionFalse ||
		tv.Reason != crucible.ReasonInvalidTemplate || tv.ObservedGeneration != 1 {
		t.Errorf("TemplateValid condition = %+v; want False InvalidTemplate at generation 1", tv)
	}
	if got.Status.ObservedGeneration != 1 {
		t.Errorf("observedGeneration = %d; want 1: a refusal is an outcome, not an error", got.Status.ObservedGeneration)
	}
	if diff := diffEvents([]string{"Warning Failed " + failed.Message}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	f.mustReconcile(t, exp)
	if creates, patches, _, _ := f.writes(); creates != 0 || patches != 0 || f.dryRuns != 1 {
		t.Errorf("the next pass: %d creates, %d status patches, %d dry runs in all; want none, none, 1", creates, patches, f.dryRuns)
	}
}

// TestReconcileTemplateTransientError checks that an error that is not a
// refusal of the Job leaves the Experiment running: the pass fails, no
// Trial is created, and the next pass checks again.
func TestReconcileTemplateTransientError(t *testing.T) {
	cases := []struct {
		name string
		err  error
	}{
		{name: "unavailable", err: apierrors.NewServiceUnavailable("etcd is gone")},
		{name: "timeout", err: apierrors.NewTimeoutError("the request timed out", 1)},
		{name: "internal error", err: apierrors.NewInternalError(errors.New(`failed calling webhook "jobs.kueue.x-k8s.io"`))},
		{name: "conflict", err: apierrors.NewConflict(jobsResource, "x", errors.New("try again"))},
		{name: "throttled", err: apierrors.NewTooManyRequests("slow down", 1)},
		{name: "the operator may not create Jobs", err: apierrors.NewForbidden(jobsResource, "",
			errors.New(`User "system:serviceaccount:crucible-system:manager" cannot create resource "jobs"`))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := stored(sweep().Obj())
			failing := true
			f := newCtrlFixture(t, hooks{dryRun: func(client.Object) error {
				if failing {
					return tc.err
				}
				return nil
			}}, exp)
			if err := f.reconcile(t, exp); err == nil {
				t.Errorf("Reconcile: no error; want the dry run's, to be retried")
			}
			got := f.experiment(t, exp)
			if creates, _, _, _ := f.writes(); creates != 0 || got.Status.Phase == crucible.ExperimentFailed {
				t.Errorf("%d creates, phase %q; want none, and not Failed", creates, got.Status.Phase)
			}
			if c := condition(got.Status.Conditions, crucible.ExperimentTemplateValidCondition); c.Type != "" {
				t.Errorf("TemplateValid condition = %+v; want none until the API server answered", c)
			}
			failing = false
			f.mustReconcile(t, exp)
			if _, _, _, indices := f.writes(); f.dryRuns != 2 || !cmp.Equal([]int64{0, 1, 2, 3}, indices) {
				t.Errorf("the retry: %d dry runs in all, created %v; want 2, and trials 0 to 3", f.dryRuns, indices)
			}
		})
	}
}

func TestRefusesTemplate(t *testing.T) {
	forbiddenByAdmission := apierrors.NewForbidden(jobsResource, "e-1", errors.New(`admission webhook "policy.example.com" denied the request: no hostPath`))
	quota := apierrors.NewForbidden(jobsResource, "e-1", errors.New("exceeded quota: jobs, requested: count/jobs.batch=1, used: count/jobs.batch=10, limited: count/jobs.batch=10"))
	terminating := apierrors.NewForbidden(jobsResource, "e-1", errors.New("unable to create new content in namespace ml because it is being terminated"))
	terminating.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{name: "invalid", err: invalidJob("e-1"), want: true},
		{name: "bad request", err: apierrors.NewBadRequest("strict decoding error: unknown field"), want: true},
		{name: "forbidden by an admission webhook", err: forbiddenByAdmission, want: true},
		{name: "wrapped", err: errors.Join(errors.New("context"), invalidJob("e-1")), want: true},
		{name: "forbidden by authorization", err: apierrors.NewForbidden(jobsResource, "", errors.New("cannot create resource")), want: false},
		{name: "a full quota", err: quota, want: false},
		{name: "a namespace being deleted", err: terminating, want: false},
		{name: "unavailable", err: apierrors.NewServiceUnavailable("x"), want: false},
		{name: "timeout", err: apierrors.NewServerTimeout(jobsResource, "create", 1), want: false},
		{name: "conflict", err: apierrors.NewConflict(jobsResource, "e-1", errors.New("x")), want: false},
		{name: "not an API error", err: context.DeadlineExceeded, want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusesTemplate(tc.err); got != tc.want {
				t.Errorf("refusesTemplate(%v) = %v; want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestReconcileBuildsSpaceOncePerGeneration checks that the search space is
// built once per generation of an Experiment, not on every pass, and
// forgotten once the Experiment is gone.
func TestReconcileBuildsSpaceOncePerGeneration(t *testing.T) {
	exp := stored(sweep().Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	builds := 0
	f.r.spaces.build = func(spec *crucible.ExperimentSpec) (*searchspace.Space, error) {
		builds++
		return searchspace.New(spec)
	}
	for range 3 {
		f.mustReconcile(t, exp)
	}
	if builds != 1 {
		t.Errorf("%d search spaces built in three passes of one generation; want 1", builds)
	}
	latest := f.experiment(t, exp)
	latest.Spec.Parallelism = 6
	latest.Generation = 2
	if err := f.store.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	f.mustReconcile(t, exp)
	f.mustReconcile(t, exp)
	if builds != 2 {
		t.Errorf("%d search spaces built after a new generation; want 2", builds)
	}

	// A bad space is remembered too: its error is not recomputed.
	bad := stored(builder.MakeExperiment("bad", testNS).Values("lr", "0.1").Values("lr", "0.2").Obj())
	builds = 0
	if _, err := f.r.spaces.get(bad); err == nil {
		t.Fatal("the space of a duplicate parameter built; want an error")
	}
	if _, err := f.r.spaces.get(bad); err == nil || builds != 1 {
		t.Errorf("a second get: error %v, %d builds; want the error again, 1 build", err, builds)
	}
}

// TestReconcileForgetsDeletedExperiment checks that nothing the reconciler
// keeps in memory outlives an Experiment deleted without a finalizer: the
// pass that finds it gone can only name it, not give its UID.
func TestReconcileForgetsDeletedExperiment(t *testing.T) {
	exp := stored(sweep().Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	if n := len(f.r.expected.pending); n != 1 {
		t.Fatalf("%d Experiments expected after the first pass; want 1, whose Trials the cache may not show yet", n)
	}
	if err := f.store.Delete(context.Background(), f.experiment(t, exp)); err != nil {
		t.Fatal(err)
	}
	f.mustReconcile(t, exp)
	if n := len(f.r.expected.pending); n != 0 {
		t.Errorf("%d Experiments still expected after it was deleted; want none", n)
	}
	if n := f.r.spaces.size(); n != 0 {
		t.Errorf("%d search spaces kept after the Experiment was deleted; want none", n)
	}
	if n := len(f.r.writes.last); n != 0 {
		t.Errorf("%d status writes remembered after the Experiment was deleted; want none", n)
	}
}

// TestExpectationsRecreatedExperiment checks that what was expected of an
// Experiment is not taken for its successor of the same name.
func TestExpectationsRecreatedExperiment(t *testing.T) {
	key := client.ObjectKey{Namespace: testNS, Name: "sweep"}
	e := newExpectations()
	e.expect(key, "old", []int64{0, 1}, ctrlNow)
	obs := observation{indices: newIndexSet(4)}
	if added := e.merge(key, "new", &obs, ctrlNow); added != 0 || obs.created != 0 {
		t.Errorf("merge for the new Experiment added %d (created %d); want 0", added, obs.created)
	}
	if n := len(e.pending); n != 0 {
		t.Errorf("%d Experiments expected; want none: the old one's expectations are dropped", n)
	}
	e.expect(key, "old", []int64{0}, ctrlNow)
	e.expect(key, "new", []int64{2}, ctrlNow)
	obs = observation{indices: newIndexSet(4)}
	if added := e.merge(key, "new", &obs, ctrlNow); added != 1 || !obs.indices.has(2) || obs.indices.has(0) {
		t.Errorf("merge added %d, indices %v; want index 2 only", added, obs.indices)
	}
}
