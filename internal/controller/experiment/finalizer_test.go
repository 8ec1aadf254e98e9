package experiment

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/test/builder"
)

// fakeStores is an artifact store opener and store that records the
// prefixes deleted and fails as told.
type fakeStores struct {
	// openErr fails Open; deleteErr fails DeletePrefix.
	openErr, deleteErr error

	mu      sync.Mutex
	deleted []string
}

func (s *fakeStores) Open(context.Context, *crucible.Experiment) (artifacts.Store, error) {
	if s.openErr != nil {
		return nil, s.openErr
	}
	return fakeStore{s: s}, nil
}

func (s *fakeStores) OpenS3(context.Context, string, *crucible.S3ArtifactStore) (artifacts.Store, error) {
	return nil, errors.New("not used by the Experiment reconciler")
}

// fakeStore is the store fakeStores opens. Only DeletePrefix is called: the
// embedded interface, nil, stands for the rest.
type fakeStore struct {
	artifacts.Store
	s *fakeStores
}

func (f fakeStore) DeletePrefix(_ context.Context, prefix string) (int64, int64, error) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if f.s.deleteErr != nil {
		return 0, 0, f.s.deleteErr
	}
	f.s.deleted = append(f.s.deleted, prefix)
	return 1, 1, nil
}

func (s *fakeStores) prefixes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deleted...)
}

// s3Experiment is a one-trial Experiment with an s3 store, as stored.
func s3Experiment(name string) *crucible.Experiment {
	exp := stored(builder.MakeExperiment(name, testNS).Values("lr", "0.1").Obj())
	exp.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
		Endpoint: "s3.example:9000", Bucket: "runs", Prefix: "sweeps",
		CredentialsSecret: crucible.SecretReference{Name: "creds"},
	}}
	return exp
}

// deleted marks exp deleted at when, held by the artifacts finalizer.
func deleted(exp *crucible.Experiment, when time.Time) *crucible.Experiment {
	exp.Finalizers = []string{crucible.ArtifactsFinalizer}
	exp.DeletionTimestamp = &metav1.Time{Time: when}
	return exp
}

// pass reconciles once and returns the result.
func (f *ctrlFixture) pass(exp *crucible.Experiment) (ctrl.Result, error) {
	return f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)})
}

// gone reports whether the stored Experiment is gone.
func (f *ctrlFixture) gone(t *testing.T, exp *crucible.Experiment) bool {
	t.Helper()
	err := f.store.Get(context.Background(), client.ObjectKeyFromObject(exp), &crucible.Experiment{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

// TestFinalizeGivesUpAfterTimeout checks that a deleted Experiment whose
// artifacts cannot be deleted goes once the deletion timeout has passed
// since its deletionTimestamp, by the injected clock: a Warning event when
// the store first refuses and one when the artifacts are given up on, none
// on the retries between, the Collected condition saying why.
func TestFinalizeGivesUpAfterTimeout(t *testing.T) {
	const timeout = 10 * time.Minute
	cases := []struct {
		name   string
		stores *fakeStores
		want   string // in the Collected message
	}{
		{
			name:   "the credentials Secret is gone",
			stores: &fakeStores{openErr: errors.New("the credentials Secret ml/creds (spec.artifacts.s3.credentialsSecret) does not exist")},
			want:   "the credentials Secret ml/creds (spec.artifacts.s3.credentialsSecret) does not exist",
		},
		{
			name:   "the bucket is gone",
			stores: &fakeStores{deleteErr: errors.New("list objects under s3://runs/sweeps/ml/e/uid-e/: The specified bucket does not exist")},
			want:   "The specified bucket does not exist",
		},
		{
			name:   "the keys may not delete",
			stores: &fakeStores{deleteErr: errors.New("delete objects under s3://runs/sweeps/ml/e/uid-e/: AccessDenied (HTTP 403): access denied")},
			want:   "AccessDenied (HTTP 403)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Deleted a minute before the clock's now.
			exp := deleted(s3Experiment("e"), ctrlNow.Add(-time.Minute))
			f := newCtrlFixture(t, hooks{}, exp)
			f.r.stores = tc.stores
			f.r.deletionTimeout = timeout

			for i := range 5 {
				if _, err := f.pass(exp); err == nil {
					t.Fatalf("pass %d within the timeout: no error; want the store's, retried with backoff", i)
				}
				f.clock.Step(time.Minute)
			}
			got := f.experiment(t, exp)
			collected := condition(got.Status.Conditions, crucible.ExperimentCollectedCondition)
			if collected.Status != metav1.ConditionFalse || collected.Reason != crucible.ReasonStoreError ||
				!strings.Contains(collected.Message, tc.want) || !strings.Contains(collected.Message, "2026-03-01T12:09:00Z") {
				t.Errorf("Collected condition = %+v; want False StoreError, saying why and until when", collected)
			}
			if !controllerutil.ContainsFinalizer(got, crucible.ArtifactsFinalizer) {
				t.Errorf("finalizer removed within the timeout; want it kept")
			}
			ev := f.events()
			if len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning StoreError deleting the artifacts under s3://runs/sweeps/ml/e/uid-e/: ") ||
				!strings.Contains(ev[0], tc.want) {
				t.Errorf("events of 5 failing passes = %q; want one Warning StoreError", ev)
			}

			// 10 minutes after the deletion: given up on, recorded first.
			f.clock.SetTime(ctrlNow.Add(-time.Minute + timeout))
			res, err := f.pass(exp)
			if err != nil || res.RequeueAfter != retentionStepDelay {
				t.Errorf("the pass at the timeout: result %+v, error %v; want the next step after %v", res, err, retentionStepDelay)
			}
			got = f.experiment(t, exp)
			collected = condition(got.Status.Conditions, crucible.ExperimentCollectedCondition)
			if collected.Status != metav1.ConditionFalse || collected.Reason != crucible.ReasonArtifactsAbandoned ||
				!strings.Contains(collected.Message, "s3://runs/sweeps/ml/e/uid-e/ are left in the store") || !strings.Contains(collected.Message, tc.want) {
				t.Errorf("Collected condition = %+v; want False ArtifactsAbandoned, naming the prefix and the error", collected)
			}
			if !controllerutil.ContainsFinalizer(got, crucible.ArtifactsFinalizer) {
				t.Errorf("finalizer removed before the status recorded why")
			}
			if diff := diffEvents([]string{"Warning ArtifactsAbandoned " + collected.Message}, f.events()); diff != "" {
				t.Errorf("events at the timeout (-want +got):\n%s", diff)
			}

			if _, err := f.pass(exp); err != nil {
				t.Fatalf("the pass after: %v", err)
			}
			if !f.gone(t, exp) {
				t.Errorf("the Experiment is still there after the pass that found its artifacts given up on")
			}
			if diff := diffEvents(nil, f.events()); diff != "" {
				t.Errorf("events of the last pass (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFinalizeAfterTimeoutOnRestart checks that an operator that was down
// longer than the timeout tries once, then gives up at once.
func TestFinalizeAfterTimeoutOnRestart(t *testing.T) {
	exp := deleted(s3Experiment("e"), ctrlNow.Add(-time.Hour))
	f := newCtrlFixture(t, hooks{}, exp)
	stores := &fakeStores{openErr: errors.New("the credentials Secret ml/creds does not exist")}
	f.r.stores = stores
	if res, err := f.pass(exp); err != nil || res.RequeueAfter != retentionStepDelay {
		t.Fatalf("first pass: result %+v, error %v; want the next step", res, err)
	}
	if _, err := f.pass(exp); err != nil || !f.gone(t, exp) {
		t.Errorf("second pass: error %v, gone %v; want the Experiment gone", err, f.gone(t, exp))
	}
}

// TestFinalizeDeletesArtifacts checks the usual path: the Experiment's
// prefix is deleted, then the finalizer released, without an event.
func TestFinalizeDeletesArtifacts(t *testing.T) {
	exp := deleted(s3Experiment("e"), ctrlNow)
	f := newCtrlFixture(t, hooks{}, exp)
	stores := &fakeStores{}
	f.r.stores = stores
	if _, err := f.pass(exp); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sweeps/ml/e/uid-e/"}, stores.prefixes()); diff != "" {
		t.Errorf("prefixes deleted (-want +got):\n%s", diff)
	}
	if !f.gone(t, exp) {
		t.Errorf("the Experiment is still there; want it gone")
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestFinalizeWaitsForRunsUntilTimeout checks that the artifacts are
// deleted only once no trainer runs, and that past the timeout a Pod that
// never stops is no longer waited for.
func TestFinalizeWaitsForRunsUntilTimeout(t *testing.T) {
	exp := deleted(s3Experiment("e"), ctrlNow)
	trial := builder.MakeTrial(exp, "e-0").Obj()
	pod := builder.MakePod(trial, "e-0-abcde", ctrlNow).Running().Obj()
	pod.Labels[crucible.ExperimentLabel] = exp.Name
	f := newCtrlFixture(t, hooks{}, exp, pod)
	stores := &fakeStores{}
	f.r.stores = stores
	f.r.deletionTimeout = time.Minute

	res, err := f.pass(exp)
	if err != nil || res.RequeueAfter != deletionPollPeriod || len(stores.prefixes()) != 0 {
		t.Fatalf("a pass with a trainer running: result %+v, error %v, deleted %v; want a look again after %v, nothing deleted",
			res, err, stores.prefixes(), deletionPollPeriod)
	}
	if c := condition(f.experiment(t, exp).Status.Conditions, crucible.ExperimentCollectedCondition); c.Reason != crucible.ReasonDeletingArtifacts {
		t.Errorf("Collected condition = %+v; want DeletingArtifacts", c)
	}
	f.clock.Step(time.Minute)
	if _, err := f.pass(exp); err != nil {
		t.Fatal(err)
	}
	if len(stores.prefixes()) != 1 || !f.gone(t, exp) {
		t.Errorf("past the timeout: deleted %v, gone %v; want the prefix deleted and the Experiment gone", stores.prefixes(), f.gone(t, exp))
	}
}

// TestFinalizeRetainReleases checks that an Experiment whose artifacts are
// retained goes without touching the store.
func TestFinalizeRetainReleases(t *testing.T) {
	exp := s3Experiment("e")
	exp.Spec.Retention = &crucible.RetentionSpec{Artifacts: crucible.ArtifactRetention{OnDeletion: crucible.DeletionRetain}}
	exp = deleted(exp, ctrlNow)
	f := newCtrlFixture(t, hooks{}, exp)
	stores := &fakeStores{openErr: errors.New("must not be opened")}
	f.r.stores = stores
	if _, err := f.pass(exp); err != nil || !f.gone(t, exp) {
		t.Errorf("error %v, gone %v; want the Experiment gone", err, f.gone(t, exp))
	}
}

// TestRetentionStoreErrorEventOnce checks that an ended Experiment whose
// store refuses to delete what retention does not keep announces it once,
// not on every failed retry.
func TestRetentionStoreErrorEventOnce(t *testing.T) {
	exp := s3Experiment("e")
	exp.Spec.Retention = &crucible.RetentionSpec{Artifacts: crucible.ArtifactRetention{KeepBest: ptr.To[int32](0)}}
	end := metav1.NewTime(ctrlNow.Add(-time.Hour))
	exp.Status = crucible.ExperimentStatus{
		Phase:              crucible.ExperimentSucceeded,
		ObservedGeneration: 1,
		Conditions: []metav1.Condition{{Type: crucible.ExperimentSucceededCondition, Status: metav1.ConditionTrue,
			Reason: crucible.ReasonAllTrialsEnded, Message: "all 1 trials ended", ObservedGeneration: 1, LastTransitionTime: end}},
		Trials:         crucible.TrialCounts{Total: 1, Created: 1, Succeeded: 1},
		StartTime:      &end,
		CompletionTime: &end,
	}
	trial := builder.MakeTrial(exp, "e-0").Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.1"}).Obj()
	f := newCtrlFixture(t, hooks{}, exp, trial)
	f.r.stores = &fakeStores{deleteErr: errors.New("AccessDenied (HTTP 403): access denied")}
	for i := range 5 {
		if _, err := f.pass(exp); err == nil {
			t.Fatalf("pass %d: no error; want the store's", i)
		}
		f.clock.Step(time.Minute)
	}
	got := f.experiment(t, exp)
	if c := condition(got.Status.Conditions, crucible.ExperimentCollectedCondition); c.Status != metav1.ConditionFalse || c.Reason != crucible.ReasonStoreError {
		t.Errorf("Collected condition = %+v; want False StoreError", c)
	}
	ev := f.events()
	if len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning StoreError deleting artifacts: ") {
		t.Errorf("events of 5 failing passes = %q; want one Warning StoreError", ev)
	}
}
