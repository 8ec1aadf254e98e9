package trial

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/steps"
)

// fakeSealer is a SeriesSealer that answers sealed, or err, and notes
// what the store had listed when it was called.
type fakeSealer struct {
	sealed steps.Sealed
	err    error
	stores *fakeStores
	// calls are the trials sealed; listedBefore, how many listings the
	// store had answered at each call.
	calls        []string
	listedBefore []int
}

func (f *fakeSealer) Seal(_ context.Context, _ *crucible.Experiment, trial *crucible.Trial) (steps.Sealed, error) {
	f.calls = append(f.calls, trial.Name)
	if f.stores != nil {
		f.listedBefore = append(f.listedBefore, len(f.stores.listed))
	}
	return f.sealed, f.err
}

const seriesURI = "s3://runs/team/metrics.jsonl"

// TestReconcileSealsTheSeriesBeforeListingArtifacts: the series of a
// trial's step metrics is one of its artifacts, written before they are
// listed for the manifest, and recorded with the end.
func TestReconcileSealsTheSeriesBeforeListingArtifacts(t *testing.T) {
	exp := s3Experiment(false)
	stores := &fakeStores{}
	sealer := &fakeSealer{stores: stores, sealed: steps.Sealed{URI: seriesURI, Stored: ptr.To[int64](21)}}
	f, trial := endedRunWith(t, exp, fixtureOptions{stores: stores, series: sealer})

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	got := f.trial(t, trial).Status
	if got.Phase != crucible.TrialSucceeded {
		t.Fatalf("phase %s (%s); want Succeeded", got.Phase, got.Message)
	}
	if len(sealer.calls) != 1 || sealer.listedBefore[0] != 0 || len(stores.listed) != 1 {
		t.Errorf("sealed %v with %v listings before; listed %d times; want one seal before the one listing",
			sealer.calls, sealer.listedBefore, len(stores.listed))
	}
	if sm := got.StepMetrics; sm == nil || sm.URI != seriesURI || ptr.Deref(sm.StoredReports, -1) != 21 {
		t.Errorf("stepMetrics = %+v; want the series' URI and 21 stored reports", sm)
	}
}

// TestReconcileWaitsForTheSeries: a store that refuses the series holds
// the end back, as one that cannot be listed does, and the manifest is not
// taken without it.
func TestReconcileWaitsForTheSeries(t *testing.T) {
	exp := s3Experiment(false)
	stores := &fakeStores{}
	sealer := &fakeSealer{stores: stores, err: errors.New("storing the step metrics: SlowDown (HTTP 503)")}
	f, trial := endedRunWith(t, exp, fixtureOptions{stores: stores, series: sealer})

	if _, err := f.reconcile(t, trial); err == nil || !strings.Contains(err.Error(), "SlowDown") {
		t.Fatalf("Reconcile error = %v; want the store's", err)
	}
	got := f.trial(t, trial).Status
	if got.Phase != crucible.TrialRunning || len(stores.listed) != 0 {
		t.Errorf("phase %s after %d listings; want Running, not listed", got.Phase, len(stores.listed))
	}
	cond := meta.FindStatusCondition(got.Conditions, crucible.TrialArtifactsRecordedCondition)
	if cond == nil || cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, "SlowDown") {
		t.Errorf("ArtifactsRecorded = %+v; want False with the store's error", cond)
	}

	sealer.err, sealer.sealed = nil, steps.Sealed{URI: seriesURI, Stored: ptr.To[int64](3)}
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile with the store back: %v", err)
	}
	got = f.trial(t, trial).Status
	if got.Phase != crucible.TrialSucceeded || got.StepMetrics == nil || got.StepMetrics.URI != seriesURI {
		t.Errorf("with the store back: phase %s, stepMetrics %+v; want Succeeded with the series", got.Phase, got.StepMetrics)
	}
}

// TestReconcileSealsAStoppedTrialsSeries: a trial the rule stops has its
// series written at once, or, when the store refuses, by a later pass of
// the ended Trial.
func TestReconcileSealsAStoppedTrialsSeries(t *testing.T) {
	exp := makeExperiment("resnet").Obj()
	exp.Spec.Objective = crucible.ObjectiveSpec{Metric: "val_loss", Goal: crucible.GoalMinimize}
	exp.Spec.EarlyStopping = &crucible.EarlyStoppingSpec{ASHA: &crucible.ASHASpec{GracePeriod: 1, ReductionFactor: 3}}
	exp.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{Endpoint: "s3.example", Bucket: "runs",
		CredentialsSecret: crucible.SecretReference{Name: "creds"}}}
	a := withCurve("a", 0, crucible.TrialSucceeded, map[int64]float64{1: 0.4, 3: 0.3, 9: 0.2})
	b := withCurve("b", 1, crucible.TrialSucceeded, map[int64]float64{1: 0.6, 3: 0.5, 9: 0.45})
	d := withCurve("d", 3, crucible.TrialRunning, map[int64]float64{1: 0.5, 3: 0.9})
	d.Status.JobName = d.Name
	sealer := &fakeSealer{err: errors.New("SlowDown (HTTP 503)")}
	f := newFixture(t, fixtureOptions{stores: &fakeStores{}, series: sealer}, exp, &a, &b, &d, makeJob(&d).Obj())

	if _, err := f.reconcile(t, &d); err == nil || !strings.Contains(err.Error(), "SlowDown") {
		t.Fatalf("Reconcile error = %v; want the store's", err)
	}
	got := f.trial(t, &d)
	if got.Status.Phase != crucible.TrialStopped || len(f.jobs(t)) != 0 || !steps.NeedsSeal(got) {
		t.Fatalf("phase %s with %d Jobs, stepMetrics %+v; want Stopped, its Job deleted, its series not yet written",
			got.Status.Phase, len(f.jobs(t)), got.Status.StepMetrics)
	}

	sealer.err, sealer.sealed = nil, steps.Sealed{URI: seriesURI, Stored: ptr.To[int64](2)}
	if _, err := f.reconcile(t, got); err != nil {
		t.Fatalf("Reconcile of the stopped trial: %v", err)
	}
	got = f.trial(t, &d)
	if sm := got.Status.StepMetrics; sm.URI != seriesURI || *sm.StoredReports != 2 || len(sm.Series) != 2 {
		t.Errorf("stepMetrics = %+v; want the series recorded beside the curve", sm)
	}
	if len(sealer.calls) != 2 {
		t.Errorf("sealed %d times; want 2", len(sealer.calls))
	}
	// Recorded: no later pass writes it again.
	if _, err := f.reconcile(t, got); err != nil || len(sealer.calls) != 2 {
		t.Errorf("a third pass: %v, sealed %d times; want no more", err, len(sealer.calls))
	}
}

// TestReconcileFailsATrialWhoseSeriesCannotBeJoined: past the store's
// limit of objects (a trainer that wrote a flood of objects beside its
// prefix), the series can never be joined: the trial fails with the reason
// an overfull prefix gets, rather than waiting for ever.
func TestReconcileFailsATrialWhoseSeriesCannotBeJoined(t *testing.T) {
	exp := s3Experiment(false)
	stores := &fakeStores{}
	sealer := &fakeSealer{err: fmt.Errorf("storing the step metrics: joining: more than 100000 objects: %w", artifacts.ErrTooManyObjects)}
	f, trial := endedRunWith(t, exp, fixtureOptions{stores: stores, series: sealer})

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	got := f.trial(t, trial).Status
	if got.Phase != crucible.TrialFailed || got.Reason != crucible.ReasonArtifactsTooMany || !strings.Contains(got.Message, "step metrics") {
		t.Errorf("phase %s, reason %s (%s); want Failed, %s, naming the step metrics", got.Phase, got.Reason, got.Message, crucible.ReasonArtifactsTooMany)
	}
}
