package trial

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
)

// fakeStores opens one in-memory store, or fails with err. The store's
// behaviour is tested against a real S3 server in test/integration; here it
// only feeds the reconciler.
type fakeStores struct {
	err     error
	objects map[string][]artifacts.Object // by prefix
	listed  []string
	putErr  error
	puts    map[string][]byte // by key
}

func (f *fakeStores) Open(context.Context, *crucible.Experiment) (artifacts.Store, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f, nil
}

func (f *fakeStores) OpenS3(context.Context, string, *crucible.S3ArtifactStore) (artifacts.Store, error) {
	return nil, errors.New("not used by the Trial reconciler")
}

func (f *fakeStores) Copy(context.Context, string, string) (int64, int64, error) {
	return 0, 0, errors.New("not used by the Trial reconciler")
}

func (f *fakeStores) Manifest(_ context.Context, prefix string) (artifacts.Manifest, error) {
	f.listed = append(f.listed, prefix)
	return artifacts.NewManifest(f.objects[prefix]), nil
}

func (f *fakeStores) DeletePrefix(context.Context, string) (int64, int64, error) {
	return 0, 0, errors.New("not used by the Trial reconciler")
}

func (f *fakeStores) Concat(context.Context, string, string, string, int64, func([]byte) bool) (int64, int64, error) {
	return 0, 0, errors.New("not used by the Trial reconciler")
}

func (f *fakeStores) Exists(context.Context, string) (bool, error) {
	return false, errors.New("not used by the Trial reconciler")
}

func (f *fakeStores) Put(_ context.Context, key string, data []byte, _ string) error {
	if f.putErr != nil {
		return f.putErr
	}
	if f.puts == nil {
		f.puts = map[string][]byte{}
	}
	f.puts[key] = append([]byte(nil), data...)
	return nil
}

// s3Experiment is the sweep Experiment with an s3 artifact store.
func s3Experiment(required bool) *crucible.Experiment {
	exp := sweepExperiment().Obj()
	exp.Spec.Artifacts = &crucible.ArtifactsSpec{
		S3: &crucible.S3ArtifactStore{Endpoint: "s3.example:9000", Bucket: "runs", Prefix: "team",
			CredentialsSecret: crucible.SecretReference{Name: "creds"}},
		Required: required,
	}
	return exp
}

// endedRun is a running Trial whose Job completed and whose trainer
// reported val_loss.
func endedRun(t *testing.T, exp *crucible.Experiment, stores *fakeStores) (*fixture, *crucible.Trial) {
	t.Helper()
	return endedRunWith(t, exp, fixtureOptions{stores: stores})
}

// endedRunWith is endedRun with the fixture's options.
func endedRunWith(t *testing.T, exp *crucible.Experiment, o fixtureOptions) (*fixture, *crucible.Trial) {
	t.Helper()
	trial := sweepTrial(exp)
	trial.Status = crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: trial.Name, ObservedGeneration: 1,
		StartTime: &metav1.Time{Time: t0}}
	ended := now.Add(-time.Second)
	pod := makePod(trial, trial.Name+"-x", t0).Terminated(0, "Completed", `{"val_loss": 0.25}`).Obj()
	f := newFixture(t, o, exp, trial, makeJob(trial).Complete(ended).Obj(), pod)
	return f, trial
}

func TestReconcileRecordsArtifacts(t *testing.T) {
	exp := s3Experiment(true)
	t1 := sweepTrial(exp)
	prefix := "team/" + exp.Namespace + "/" + exp.Name + "/" + string(exp.UID) + "/" + t1.Name + "/" + string(t1.UID) + "/"
	objs := []artifacts.Object{{Key: "model.bin", Size: 100, ETag: "a"}, {Key: "log.txt", Size: 5, ETag: "b"}}
	stores := &fakeStores{objects: map[string][]artifacts.Object{prefix: objs}}
	f, trial := endedRun(t, exp, stores)

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	got := f.trial(t, trial).Status
	if got.Phase != crucible.TrialSucceeded {
		t.Fatalf("phase = %s (%s); want Succeeded", got.Phase, got.Message)
	}
	want := &crucible.TrialArtifacts{URI: "s3://runs/" + prefix, Objects: ptr.To[int64](2), Bytes: ptr.To[int64](105),
		ManifestDigest: artifacts.NewManifest(objs).Digest}
	if diff := cmp.Diff(want, got.Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	if len(stores.listed) != 1 || stores.listed[0] != prefix {
		t.Errorf("listed %v; want [%s]", stores.listed, prefix)
	}
}

func TestReconcileFailsARunWithoutRequiredArtifacts(t *testing.T) {
	for _, required := range []bool{true, false} {
		f, trial := endedRun(t, s3Experiment(required), &fakeStores{})
		if _, err := f.reconcile(t, trial); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		got := f.trial(t, trial).Status
		if got.Artifacts == nil || ptr.Deref(got.Artifacts.Objects, -1) != 0 {
			t.Errorf("required=%v: artifacts = %+v; want a record of 0 objects", required, got.Artifacts)
		}
		wantPhase, wantReason := crucible.TrialSucceeded, ""
		if required {
			wantPhase, wantReason = crucible.TrialFailed, crucible.ReasonArtifactsMissing
		}
		if got.Phase != wantPhase || got.Reason != wantReason {
			t.Errorf("required=%v: phase, reason = %s, %s; want %s, %q", required, got.Phase, got.Reason, wantPhase, wantReason)
		}
	}
}

func TestReconcileDoesNotEndATrialWhoseStoreIsDown(t *testing.T) {
	exp := s3Experiment(false)
	stores := &fakeStores{err: errors.New("dial tcp: connection refused")}
	f, trial := endedRun(t, exp, stores)

	if _, err := f.reconcile(t, trial); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Reconcile error = %v; want the store's, so that the pass is retried", err)
	}
	got := f.trial(t, trial).Status
	if got.Phase != crucible.TrialRunning || got.CompletionTime != nil || got.Artifacts != nil {
		t.Errorf("status = %s, completion %v, artifacts %v; want still Running with nothing recorded", got.Phase, got.CompletionTime, got.Artifacts)
	}
	cond := meta.FindStatusCondition(got.Conditions, crucible.TrialArtifactsRecordedCondition)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != crucible.ReasonStoreError ||
		!strings.Contains(cond.Message, "connection refused") {
		t.Errorf("ArtifactsRecorded condition = %+v; want False, StoreError, with the error", cond)
	}
	if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], EventStoreError) {
		t.Errorf("events = %q; want one %s", ev, EventStoreError)
	}

	// Once the store is back:
	stores.err = nil
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile with the store back: %v", err)
	}
	got = f.trial(t, trial).Status
	if got.Phase != crucible.TrialSucceeded || got.Artifacts == nil {
		t.Errorf("with the store back: phase %s, artifacts %v; want Succeeded with a record", got.Phase, got.Artifacts)
	}
	if !meta.IsStatusConditionTrue(got.Conditions, crucible.TrialArtifactsRecordedCondition) {
		t.Errorf("with the store back: ArtifactsRecorded is not True: %+v", got.Conditions)
	}
}

func TestReconcileDeletesTheJobOfAnEndedTrialAfterItsTTL(t *testing.T) {
	exp := sweepExperiment().Obj()
	exp.Spec.Retention = &crucible.RetentionSpec{Jobs: crucible.JobRetention{TTLSecondsAfterFinished: ptr.To[int32](60)}}
	trial := sweepTrial(exp)
	ended := now.Add(-10 * time.Second)
	trial.Status = crucible.TrialStatus{Phase: crucible.TrialSucceeded, JobName: trial.Name, ObservedGeneration: 1,
		CompletionTime: &metav1.Time{Time: ended}, Objective: "0.25"}
	f := newFixture(t, fixtureOptions{}, exp, trial, makeJob(trial).Complete(ended).Obj())

	res, err := f.reconcile(t, trial)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if res.RequeueAfter != 50*time.Second {
		t.Errorf("RequeueAfter = %v; want 50s, when the TTL runs out", res.RequeueAfter)
	}
	if n := len(f.jobs(t)); n != 1 {
		t.Fatalf("%d Jobs before the TTL; want 1", n)
	}
	f.clock.Step(50 * time.Second)
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if jobs := f.jobs(t); len(jobs) != 0 {
		t.Errorf("Jobs after the TTL: %d; want the Job deleted", len(jobs))
	}
	if got := f.trial(t, trial).Status; got.Phase != crucible.TrialSucceeded || got.Objective != "0.25" {
		t.Errorf("the Trial's record changed: %+v", got)
	}
	_, _, writes := f.calls.snapshot()
	if writes != 1 {
		t.Errorf("%d writes; want 1, the Job's deletion", writes)
	}
}
