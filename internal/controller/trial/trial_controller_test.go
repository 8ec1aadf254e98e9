package trial

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/store"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/internal/monitoring"
	"github.com/crucible-dev/crucible/internal/provenance"
	"github.com/crucible-dev/crucible/test/builder"
)

// now is the fake clock's time when a test starts.
var now = t0.Add(time.Hour)

var jobsResource = schema.GroupResource{Group: "batch", Resource: "jobs"}

// newStore returns a fake API server holding objs, with the status
// subresource and the production indexes.
func newStore(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	b := builder.NewClientBuilder(objs...)
	return b.Build()
}

// calls counts the writes the reconciler makes.
type calls struct {
	mu            sync.Mutex
	creates       int
	statusPatches int
	writes        int // every write, creates and status patches included
}

func (c *calls) snapshot() (creates, statusPatches, writes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creates, c.statusPatches, c.writes
}

func (c *calls) count(create, statusPatch bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if create {
		c.creates++
	}
	if statusPatch {
		c.statusPatches++
	}
}

// fixture is a Reconciler on a fake client, with its recorder, clock and
// write counters.
type fixture struct {
	store    client.WithWatch // the fake API server; the test reads and seeds it directly
	r        *Reconciler
	recorder *events.FakeRecorder
	clock    *clocktesting.FakeClock
	calls    *calls
}

type fixtureOptions struct {
	// apiReader is what the reconciler reads around the cache; the store
	// itself when nil.
	apiReader client.Reader
	// inject returns an error to fail a write with, or nil to let it
	// through. It sees the verb ("create", "patch status", ...) and object.
	inject func(verb string, obj client.Object) error
	// stores opens artifact stores; none when nil.
	stores store.Opener
	// signer signs provenance records; unsigned when nil.
	signer *provenance.Signer
	// series ends trials' series of step metrics; none when nil.
	series SeriesSealer
}

func newFixture(t *testing.T, o fixtureOptions, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{
		store:    newStore(t, objs...),
		recorder: events.NewFakeRecorder(16),
		clock:    clocktesting.NewFakeClock(now),
		calls:    &calls{},
	}
	inject := func(verb string, obj client.Object) error {
		if o.inject == nil {
			return nil
		}
		return o.inject(verb, obj)
	}
	write := func(verb string, obj client.Object, create, statusPatch bool, do func() error) error {
		f.calls.count(create, statusPatch)
		if err := inject(verb, obj); err != nil {
			return err
		}
		return do()
	}
	c := interceptor.NewClient(f.store, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return write("create", obj, true, false, func() error { return c.Create(ctx, obj, opts...) })
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return write("update", obj, false, false, func() error { return c.Update(ctx, obj, opts...) })
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			return write("patch", obj, false, false, func() error { return c.Patch(ctx, obj, p, opts...) })
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			return write("delete", obj, false, false, func() error { return c.Delete(ctx, obj, opts...) })
		},
		DeleteAllOf: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteAllOfOption) error {
			return write("deleteallof", obj, false, false, func() error { return c.DeleteAllOf(ctx, obj, opts...) })
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			return write("apply", nil, false, false, func() error { return c.Apply(ctx, obj, opts...) })
		},
		SubResourceCreate: func(ctx context.Context, c client.Client, sub string, obj, subObj client.Object, opts ...client.SubResourceCreateOption) error {
			return write("create "+sub, obj, false, false, func() error { return c.SubResource(sub).Create(ctx, obj, subObj, opts...) })
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			return write("update "+sub, obj, false, false, func() error { return c.SubResource(sub).Update(ctx, obj, opts...) })
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			return write("patch "+sub, obj, false, sub == "status", func() error { return c.SubResource(sub).Patch(ctx, obj, p, opts...) })
		},
		SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
			return write("apply "+sub, nil, false, false, func() error { return c.SubResource(sub).Apply(ctx, obj, opts...) })
		},
	})
	reader := o.apiReader
	if reader == nil {
		reader = f.store
	}
	f.r = NewReconciler(c, reader, f.recorder, WithClock(f.clock), WithStores(o.stores),
		WithProvenance(Provenance{Builder: provenance.Builder{ID: DefaultBuilderID, Version: "v0.0.0-test"}, Signer: o.signer}),
		WithStepMetrics(nil, nil, o.series))
	return f
}

func (f *fixture) reconcile(t *testing.T, trial *crucible.Trial) (ctrl.Result, error) {
	t.Helper()
	return f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(trial)})
}

// trial reads the stored Trial.
func (f *fixture) trial(t *testing.T, trial *crucible.Trial) *crucible.Trial {
	t.Helper()
	got := &crucible.Trial{}
	if err := f.store.Get(context.Background(), client.ObjectKeyFromObject(trial), got); err != nil {
		t.Fatalf("getting Trial: %v", err)
	}
	return got
}

// jobs lists the stored Jobs.
func (f *fixture) jobs(t *testing.T) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := f.store.List(context.Background(), &list); err != nil {
		t.Fatalf("listing Jobs: %v", err)
	}
	return list.Items
}

// ownPod makes pod one of the stored Job's of trial, as the Job controller
// would: controlled by the Job the reconciler created.
func (f *fixture) ownPod(t *testing.T, trial *crucible.Trial, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	job := &batchv1.Job{}
	if err := f.store.Get(context.Background(), client.ObjectKeyFromObject(trial), job); err != nil {
		t.Fatalf("getting the trial's Job: %v", err)
	}
	pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))}
	return pod
}

// events drains the recorded events.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// controllerFixture is an Experiment and one of its Trials.
func controllerFixture() (*crucible.Experiment, *crucible.Trial) {
	exp := sweepExperiment().PVCDataset("datasets", "cifar10/2024-05-01", "/data").Obj()
	return exp, sweepTrial(exp)
}

func TestReconcileCreatesOneJob(t *testing.T) {
	exp, trial := controllerFixture()
	f := newFixture(t, fixtureOptions{}, exp, trial)

	res, err := f.reconcile(t, trial)
	if err != nil {
		t.Fatalf("first Reconcile: %v", err)
	}
	if res != (ctrl.Result{}) {
		t.Errorf("first Reconcile result = %+v; want none", res)
	}
	jobs := f.jobs(t)
	if len(jobs) != 1 {
		t.Fatalf("first Reconcile made %d Jobs; want 1", len(jobs))
	}
	if jobs[0].Name != trial.Name || jobs[0].Namespace != trial.Namespace {
		t.Errorf("Job is %s/%s; want %s/%s", jobs[0].Namespace, jobs[0].Name, trial.Namespace, trial.Name)
	}
	if !metav1.IsControlledBy(&jobs[0], trial) {
		t.Errorf("Job owner references = %+v; want controlled by the Trial", jobs[0].OwnerReferences)
	}
	if diff := cmp.Diff(jobspec.New(exp, trial).Spec, jobs[0].Spec); diff != "" {
		t.Errorf("created Job's spec is not NewJob's (-want +got):\n%s", diff)
	}
	// Creating the Job writes no status: the Job's events bring the Trial
	// back, and the first write records the Job with a phase.
	if diff := diffStatus(crucible.TrialStatus{}, f.trial(t, trial).Status); diff != "" {
		t.Errorf("status after the first Reconcile (-want +got):\n%s", diff)
	}
	creates, patches, _ := f.calls.snapshot()
	if creates != 1 || patches != 0 {
		t.Errorf("first Reconcile: %d creates and %d status patches; want 1 and 0", creates, patches)
	}

	// The Job is now in the cache, just created, its Pod not running yet:
	// nothing to write, and nothing to wait for but the Pod's events.
	setJobCreated(t, f, trial, now)
	res, err = f.reconcile(t, trial)
	if err != nil {
		t.Fatalf("second Reconcile: %v", err)
	}
	if res != (ctrl.Result{}) {
		t.Errorf("second Reconcile result = %+v; want none", res)
	}
	if creates, patches, writes := f.calls.snapshot(); creates != 1 || patches != 0 || writes != 1 {
		t.Errorf("after the second Reconcile: %d creates, %d status patches, %d writes in all; want 1, 0 and 1",
			creates, patches, writes)
	}
	if n := len(f.jobs(t)); n != 1 {
		t.Errorf("after the second Reconcile there are %d Jobs; want 1", n)
	}

	// The Pod starts running: the first status write, with the Job.
	pod := f.ownPod(t, trial, makePod(trial, trial.Name+"-x7k2p", t0).Running().Obj())
	if err := f.store.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("third Reconcile: %v", err)
	}
	wantStatus := crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: trial.Name,
		StartTime: &metav1.Time{Time: t0}, ObservedGeneration: 1, Attempts: 1,
		Conditions: []metav1.Condition{{Type: crucible.ReconcilingCondition, Status: metav1.ConditionTrue,
			Reason: string(crucible.TrialRunning), Message: "Job " + trial.Name + " runs the trainer", ObservedGeneration: 1}}}
	if diff := diffStatus(wantStatus, f.trial(t, trial).Status); diff != "" {
		t.Errorf("status with the Pod running (-want +got):\n%s", diff)
	}
	if creates, patches, _ := f.calls.snapshot(); creates != 1 || patches != 1 {
		t.Errorf("after the third Reconcile: %d creates and %d status patches; want 1 and 1", creates, patches)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events = %q; want none before the Trial ends", ev)
	}
}

func TestReconcileJobAlreadyExistsIsSuccess(t *testing.T) {
	exp, trial := controllerFixture()
	f := newFixture(t, fixtureOptions{inject: func(verb string, obj client.Object) error {
		if _, ok := obj.(*batchv1.Job); ok && verb == "create" {
			return apierrors.NewAlreadyExists(jobsResource, obj.GetName())
		}
		return nil
	}}, exp, trial)

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v; want AlreadyExists taken as success", err)
	}
	if diff := diffStatus(crucible.TrialStatus{}, f.trial(t, trial).Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestReconcileRecordsPendingWhenThePodCannotStart(t *testing.T) {
	exp, trial := controllerFixture()
	f := newFixture(t, fixtureOptions{}, exp, trial)
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatal(err)
	}
	setJobCreated(t, f, trial, now.Add(-pendingGracePeriod))
	pod := f.ownPod(t, trial, makePod(trial, trial.Name+"-x7k2p", t0).Obj())
	if err := f.store.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatal(err)
	}
	if _, patches, _ := f.calls.snapshot(); patches != 0 {
		t.Errorf("%d status patches for a Pod that only waits its turn; want 0", patches)
	}

	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/20 nodes are available: 20 Insufficient nvidia.com/gpu."}}
	if err := f.store.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatal(err)
	}
	got := f.trial(t, trial).Status
	want := crucible.TrialStatus{Phase: crucible.TrialPending, JobName: trial.Name, Reason: corev1.PodReasonUnschedulable,
		Message: got.Message, StartTime: &metav1.Time{Time: t0}, ObservedGeneration: 1, Attempts: 1,
		Conditions: []metav1.Condition{{Type: crucible.ReconcilingCondition, Status: metav1.ConditionTrue,
			Reason: string(crucible.TrialPending), Message: got.Message, ObservedGeneration: 1}}}
	if diff := diffStatus(want, got); diff != "" {
		t.Errorf("status of a Trial whose Pod cannot be scheduled (-want +got):\n%s", diff)
	}
	if !strings.Contains(got.Message, "Insufficient nvidia.com/gpu") {
		t.Errorf("message = %q; want the scheduler's", got.Message)
	}
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatal(err)
	}
	if _, patches, _ := f.calls.snapshot(); patches != 1 {
		t.Errorf("%d status patches after a second pass; want the one Pending", patches)
	}
}

// setJobCreated gives the Trial's Job a creation time and the start time
// the Job controller would write.
func setJobCreated(t *testing.T, f *fixture, trial *crucible.Trial, at time.Time) {
	t.Helper()
	job := &batchv1.Job{}
	if err := f.store.Get(context.Background(), client.ObjectKeyFromObject(trial), job); err != nil {
		t.Fatal(err)
	}
	job.CreationTimestamp = metav1.Time{Time: at}
	if err := f.store.Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	job.Status.StartTime = &metav1.Time{Time: t0}
	if err := f.store.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	stored := &batchv1.Job{}
	if err := f.store.Get(context.Background(), client.ObjectKeyFromObject(trial), stored); err != nil {
		t.Fatal(err)
	}
	if !stored.CreationTimestamp.Time.Equal(at) || stored.Status.StartTime == nil {
		t.Fatalf("the fake store kept creationTimestamp %v, startTime %v", stored.CreationTimestamp, stored.Status.StartTime)
	}
}

func TestReconcileJobMissing(t *testing.T) {
	exp, trial := controllerFixture()
	running := trial.DeepCopy()
	running.Status = crucible.TrialStatus{
		Phase:              crucible.TrialRunning,
		JobName:            trial.Name,
		StartTime:          &metav1.Time{Time: t0},
		ObservedGeneration: 1,
	}
	job := makeJob(trial).Obj()

	cases := []struct {
		name       string
		apiReader  func(t *testing.T) client.Reader // nil: the API server agrees with the cache
		want       crucible.TrialStatus
		wantErr    bool
		wantEvents int
	}{
		{
			name: "gone from the cache and the API server: Failed JobMissing",
			want: crucible.TrialStatus{
				Phase:              crucible.TrialFailed,
				JobName:            trial.Name,
				StartTime:          &metav1.Time{Time: t0},
				CompletionTime:     &metav1.Time{Time: now},
				ObservedGeneration: 1,
				Reason:             "JobMissing",
				Conditions: []metav1.Condition{{
					Type: "Succeeded", Status: metav1.ConditionFalse, Reason: "JobMissing", ObservedGeneration: 1,
				}, {
					Type: crucible.StalledCondition, Status: metav1.ConditionTrue, Reason: "JobMissing", ObservedGeneration: 1,
				}},
			},
			wantEvents: 1,
		},
		{
			name:      "gone from the cache only: no change until the watch brings it",
			apiReader: func(t *testing.T) client.Reader { return newStore(t, job) },
			want:      running.Status,
		},
		{
			name: "the API server cannot be read: an error, and no verdict",
			apiReader: func(t *testing.T) client.Reader {
				return interceptor.NewClient(newStore(t), interceptor.Funcs{
					Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
						return apierrors.NewServiceUnavailable("apiserver is restarting")
					},
				})
			},
			want:    running.Status,
			wantErr: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o fixtureOptions
			if tc.apiReader != nil {
				o.apiReader = tc.apiReader(t)
			}
			f := newFixture(t, o, exp, running)

			_, err := f.reconcile(t, running)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Reconcile error = %v; want error %t", err, tc.wantErr)
			}
			got := f.trial(t, running).Status
			if diff := diffStatus(tc.want, got, cmpopts.IgnoreFields(crucible.TrialStatus{}, "Message"),
				cmpopts.IgnoreFields(metav1.Condition{}, "Message")); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if tc.want.Phase == crucible.TrialFailed && !strings.Contains(got.Message, trial.Name) {
				t.Errorf("status.message = %q; want it to name the Job %s", got.Message, trial.Name)
			}
			// A trial is never run twice.
			if creates, _, _ := f.calls.snapshot(); creates != 0 {
				t.Errorf("Reconcile made %d creates; want none", creates)
			}
			if n := len(f.jobs(t)); n != 0 {
				t.Errorf("there are %d Jobs; want none", n)
			}
			if tc.want.Phase != crucible.TrialFailed {
				if _, patches, _ := f.calls.snapshot(); patches != 0 {
					t.Errorf("Reconcile made %d status patches; want none", patches)
				}
			}
			if ev := f.events(); len(ev) != tc.wantEvents {
				t.Errorf("events = %q; want %d", ev, tc.wantEvents)
			}
		})
	}
}

func TestReconcileEndedTrialWritesNothing(t *testing.T) {
	exp, trial := controllerFixture()
	succeeded := trial.DeepCopy()
	succeeded.Generation = 2 // even a stale observedGeneration is left alone
	succeeded.Status = crucible.TrialStatus{
		Phase:              crucible.TrialSucceeded,
		JobName:            trial.Name,
		StartTime:          &metav1.Time{Time: t0},
		CompletionTime:     &metav1.Time{Time: t0.Add(time.Minute)},
		ObservedGeneration: 1,
		Metrics:            map[string]string{"val_loss": "0.25"},
		Objective:          "0.25",
		Conditions: []metav1.Condition{{
			Type: "Succeeded", Status: metav1.ConditionTrue, Reason: "MetricsRecorded",
			Message: "val_loss=0.25", ObservedGeneration: 1, LastTransitionTime: metav1.Time{Time: t0.Add(time.Minute)},
		}},
	}
	failed := trial.DeepCopy()
	failed.Status = crucible.TrialStatus{
		Phase: crucible.TrialFailed, JobName: trial.Name, Reason: "ExitCode", Message: "the trainer exited with code 1",
		ObservedGeneration: 1,
	}

	cases := []struct {
		name  string
		trial *crucible.Trial
		world []client.Object
	}{
		{
			// The Job says otherwise, and a Pod still runs: the record stands.
			name:  "Succeeded, its Job since marked Failed",
			trial: succeeded,
			world: []client.Object{
				makeJob(trial).Failed(t0.Add(2*time.Minute), "BackoffLimitExceeded", "").Obj(),
				makePod(trial, "p", t0).Running().Obj(),
			},
		},
		{
			name:  "Succeeded, its Job gone",
			trial: succeeded,
		},
		{
			name:  "Failed, its Job gone",
			trial: failed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{}, append([]client.Object{exp, tc.trial}, tc.world...)...)
			before := f.trial(t, tc.trial)

			res, err := f.reconcile(t, tc.trial)
			if err != nil || res != (ctrl.Result{}) {
				t.Errorf("Reconcile = %+v, %v; want no result and no error", res, err)
			}
			if _, _, writes := f.calls.snapshot(); writes != 0 {
				t.Errorf("Reconcile made %d writes; want none", writes)
			}
			if diff := cmp.Diff(before, f.trial(t, tc.trial)); diff != "" {
				t.Errorf("the Trial changed (-before +after):\n%s", diff)
			}
			if ev := f.events(); len(ev) != 0 {
				t.Errorf("events = %q; want none", ev)
			}
		})
	}
}

func TestReconcileWithoutItsExperiment(t *testing.T) {
	exp, trial := controllerFixture()
	recreated := exp.DeepCopy()
	recreated.UID = "recreated-uid"
	orphan := trial.DeepCopy()
	orphan.OwnerReferences = nil

	cases := []struct {
		name  string
		trial *crucible.Trial
		objs  []client.Object
	}{
		{name: "the Experiment is gone", trial: trial, objs: []client.Object{trial}},
		{name: "the Experiment was recreated under the same name", trial: trial, objs: []client.Object{recreated, trial}},
		{name: "the Trial has no controlling Experiment", trial: orphan, objs: []client.Object{exp, orphan}},
		{name: "the Trial itself is gone", trial: trial, objs: []client.Object{exp}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{}, tc.objs...)
			if _, err := f.reconcile(t, tc.trial); err != nil {
				t.Errorf("Reconcile: %v; want no error", err)
			}
			if creates, _, _ := f.calls.snapshot(); creates != 0 {
				t.Errorf("Reconcile made %d creates; want none", creates)
			}
			if n := len(f.jobs(t)); n != 0 {
				t.Errorf("there are %d Jobs; want none", n)
			}
		})
	}
}

func TestReconcileCreateErrorKeepsObservedGeneration(t *testing.T) {
	exp, trial := controllerFixture()
	trial.Generation = 2
	trial.Status.ObservedGeneration = 1
	f := newFixture(t, fixtureOptions{inject: func(verb string, obj client.Object) error {
		if _, ok := obj.(*batchv1.Job); ok && verb == "create" {
			return apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
		}
		return nil
	}}, exp, trial)

	_, err := f.reconcile(t, trial)
	if err == nil {
		t.Fatal("Reconcile returned no error; want the Create error")
	}
	if !apierrors.IsInternalError(err) {
		t.Errorf("Reconcile error = %v; want it to wrap the InternalError", err)
	}
	want := crucible.TrialStatus{ObservedGeneration: 1}
	if diff := diffStatus(want, f.trial(t, trial).Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if n := len(f.jobs(t)); n != 0 {
		t.Errorf("there are %d Jobs; want none", n)
	}
}

func TestReconcileFailedEmitsOneEvent(t *testing.T) {
	exp, trial := controllerFixture()
	running := trial.DeepCopy()
	running.Status = crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: trial.Name, ObservedGeneration: 1}
	world := []client.Object{
		exp, running,
		makeJob(trial).Failed(t0.Add(time.Minute), "BackoffLimitExceeded", "Job has reached the specified backoff limit").Obj(),
		makePod(trial, "p", t0).Terminated(2, "Error", "ValueError: bad lr").Obj(),
	}

	t.Run("once, after the status is written", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{}, world...)
		finished := monitoring.TrialsFinished.WithLabelValues(string(crucible.TrialFailed), crucible.ReasonExitCode)
		durations := monitoring.TrialDuration.WithLabelValues(string(crucible.TrialFailed))
		writes := monitoring.TrialStatusWrites.WithLabelValues(string(crucible.TrialFailed))
		finishedBefore, observedBefore := testutil.ToFloat64(finished), histogramCount(t, durations)
		writesBefore := testutil.ToFloat64(writes)
		if _, err := f.reconcile(t, running); err != nil {
			t.Fatalf("first Reconcile: %v", err)
		}
		if got := testutil.ToFloat64(writes) - writesBefore; got != 1 {
			t.Errorf("crucible_trial_status_writes_total{phase=Failed} rose by %v; want 1", got)
		}
		if got := testutil.ToFloat64(finished) - finishedBefore; got != 1 {
			t.Errorf("crucible_trials_finished_total{phase=Failed,reason=ExitCode} rose by %v; want 1", got)
		}
		if got := histogramCount(t, durations) - observedBefore; got != 1 {
			t.Errorf("crucible_trial_duration_seconds{phase=Failed} observed %d runs; want 1", got)
		}
		if got := f.trial(t, running).Status; got.Phase != crucible.TrialFailed || got.Reason != "ExitCode" {
			t.Errorf("status phase, reason = %s, %s; want Failed, ExitCode", got.Phase, got.Reason)
		}
		ev := f.events()
		if len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning TrialFailed ") {
			t.Fatalf("events = %q; want one Warning TrialFailed", ev)
		}
		if !strings.Contains(ev[0], "ExitCode") || !strings.Contains(ev[0], "exited with code 2") {
			t.Errorf("event = %q; want it to give the reason and message", ev[0])
		}

		if _, err := f.reconcile(t, running); err != nil {
			t.Fatalf("second Reconcile: %v", err)
		}
		if ev := f.events(); len(ev) != 0 {
			t.Errorf("second Reconcile emitted %q; want nothing", ev)
		}
		if got := testutil.ToFloat64(finished) - finishedBefore; got != 1 {
			t.Errorf("after a second Reconcile crucible_trials_finished_total rose by %v in all; want 1", got)
		}
		if got := testutil.ToFloat64(writes) - writesBefore; got != 1 {
			t.Errorf("after a second Reconcile crucible_trial_status_writes_total{phase=Failed} rose by %v in all; want 1", got)
		}
	})

	t.Run("none when the status write fails", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{inject: func(verb string, _ client.Object) error {
			if verb == "patch status" {
				return apierrors.NewConflict(schema.GroupResource{Group: "crucible.dev", Resource: "trials"}, running.Name, errors.New("modified"))
			}
			return nil
		}}, world...)
		writes := monitoring.TrialStatusWrites.WithLabelValues(string(crucible.TrialFailed))
		writesBefore := testutil.ToFloat64(writes)
		if _, err := f.reconcile(t, running); err == nil {
			t.Error("Reconcile returned no error; want the status write's")
		}
		if got := testutil.ToFloat64(writes) - writesBefore; got != 0 {
			t.Errorf("crucible_trial_status_writes_total{phase=Failed} rose by %v for a refused write; want 0", got)
		}
		if ev := f.events(); len(ev) != 0 {
			t.Errorf("events = %q; want none while the Failed status is not written", ev)
		}
	})
}

func TestReconcileWaitsForThePodsFinalStatus(t *testing.T) {
	exp, trial := controllerFixture()
	running := trial.DeepCopy()
	running.Status = crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: trial.Name, ObservedGeneration: 1,
		StartTime: &metav1.Time{Time: t0}}
	completed := now.Add(-5 * time.Second)
	f := newFixture(t, fixtureOptions{}, exp, running, makeJob(trial).Complete(completed).Obj())

	res, err := f.reconcile(t, running)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if res.RequeueAfter != 25*time.Second {
		t.Errorf("RequeueAfter = %v; want 25s", res.RequeueAfter)
	}
	if diff := diffStatus(running.Status, f.trial(t, running).Status); diff != "" {
		t.Errorf("status while waiting (-want +got):\n%s", diff)
	}

	f.clock.Step(26 * time.Second)
	res, err = f.reconcile(t, running)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if res.RequeueAfter != 0 {
		t.Errorf("RequeueAfter = %v; want none once the Trial ended", res.RequeueAfter)
	}
	got := f.trial(t, running).Status
	if got.Phase != crucible.TrialFailed || got.Reason != "MetricsMissing" {
		t.Errorf("status phase, reason = %s, %s; want Failed, MetricsMissing", got.Phase, got.Reason)
	}
	if got.CompletionTime == nil || !got.CompletionTime.Time.Equal(completed) {
		t.Errorf("completionTime = %v; want the Job's, %v", got.CompletionTime, completed)
	}
}

// histogramCount is how many observations h has.
func histogramCount(t *testing.T, h prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestReconcileLeavesAYoungTrialsJobToTheExperiment(t *testing.T) {
	exp, trial := controllerFixture()
	trial.CreationTimestamp = metav1.NewTime(now.Add(-3 * time.Second))
	f := newFixture(t, fixtureOptions{}, exp, trial)

	res, err := f.reconcile(t, trial)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if res.RequeueAfter != 7*time.Second {
		t.Errorf("RequeueAfter = %v; want 7s, when the handoff period ends", res.RequeueAfter)
	}
	if creates, _, writes := f.calls.snapshot(); creates != 0 || writes != 0 {
		t.Errorf("%d creates, %d writes within the handoff period; want none", creates, writes)
	}

	f.clock.Step(7 * time.Second)
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if jobs := f.jobs(t); len(jobs) != 1 {
		t.Errorf("%d Jobs after the handoff period; want the Trial reconciler to create the one", len(jobs))
	}
}

func TestReconcileAfterTheHandoffReadsBeforeItCreates(t *testing.T) {
	exp, trial := controllerFixture()
	trial.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
	// The API server has the Job the Experiment created; the cache does not
	// show it yet.
	job := jobspec.New(exp, trial)
	f := newFixture(t, fixtureOptions{apiReader: newStore(t, job)}, exp, trial)

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if creates, _, writes := f.calls.snapshot(); creates != 0 || writes != 0 {
		t.Errorf("%d creates, %d writes for a Job the API server has; want none", creates, writes)
	}
}

// TestReconcileJobDeletedBeforeItWasRecorded checks that a Job deleted in
// its first seconds, before the Trial recorded it, ends the Trial with
// JobMissing: the Trial reconciler does not create a second one.
func TestReconcileJobDeletedBeforeItWasRecorded(t *testing.T) {
	exp, trial := controllerFixture()
	trial.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute)) // past the handoff
	job := jobspec.New(exp, trial)
	job.UID = "job-uid"
	f := newFixture(t, fixtureOptions{}, exp, trial)

	// The watch delivers the Job's deletion; the cache no longer has it.
	h := f.r.jobEvents()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	h.Delete(context.Background(), event.DeleteEvent{Object: job}, q)
	if q.Len() != 1 {
		t.Fatalf("the deletion enqueued %d requests; want the Trial's", q.Len())
	}

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	got := f.trial(t, trial).Status
	if got.Phase != crucible.TrialFailed || got.Reason != crucible.ReasonJobMissing {
		t.Errorf("status = %s/%s; want Failed/JobMissing", got.Phase, got.Reason)
	}
	if !strings.Contains(got.Message, "job-uid") {
		t.Errorf("status.message = %q; want it to name the deleted Job's UID", got.Message)
	}
	if n := len(f.jobs(t)); n != 0 {
		t.Errorf("there are %d Jobs; want none: a trial is never run twice", n)
	}
	if _, ok := f.r.gone.deletedJob(client.ObjectKeyFromObject(trial)); ok {
		t.Errorf("the ended Trial's deleted Job is still remembered")
	}
}

// TestReconcileJobRejected checks that a Job the API server refuses for
// what it is fails the Trial once, and that a refusal of the moment is
// retried instead.
func TestReconcileJobRejected(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		wantReason string
		wantErr    bool
	}{
		{name: "invalid", err: apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "x", nil), wantReason: "JobRejected"},
		{name: "denied by an admission policy", wantReason: "JobRejected",
			err: apierrors.NewForbidden(jobsResource, "x", errors.New("ValidatingAdmissionPolicy 'no-gpus' with binding 'no-gpus' denied request: no GPUs here"))},
		{name: "quota", wantErr: true, err: apierrors.NewForbidden(jobsResource, "x", errors.New("exceeded quota: jobs"))},
		{name: "a namespace being deleted", wantErr: true,
			err: apierrors.NewForbidden(jobsResource, "x", errors.New("unable to create new content in namespace ml because it is being terminated"))},
		{name: "server unavailable", wantErr: true, err: apierrors.NewServiceUnavailable("etcd")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp, trial := controllerFixture()
			trial.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
			f := newFixture(t, fixtureOptions{inject: func(verb string, obj client.Object) error {
				if _, ok := obj.(*batchv1.Job); ok && verb == "create" {
					return tc.err
				}
				return nil
			}}, exp, trial)
			_, err := f.reconcile(t, trial)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Reconcile error = %v; want error %t", err, tc.wantErr)
			}
			got := f.trial(t, trial).Status
			if got.Reason != tc.wantReason {
				t.Errorf("status.reason = %q; want %q", got.Reason, tc.wantReason)
			}
			if tc.wantReason != "" && !strings.Contains(got.Message, tc.err.Error()) {
				t.Errorf("status.message = %q; want the API server's words %q", got.Message, tc.err.Error())
			}
		})
	}
}

// TestReconcileReadsOnlyItsOwnJobsPods checks that a Pod carrying the
// Trial's label but not controlled by its Job cannot forge its metrics.
func TestReconcileReadsOnlyItsOwnJobsPods(t *testing.T) {
	exp, trial := controllerFixture()
	end := t0.Add(time.Minute)
	job := makeJob(trial).Complete(end).Obj()
	// Labelled as the Trial's, but controlled by a Job of the forger's.
	forged := makePod(trial, trial.Name+"-forged", t0.Add(time.Second)).Terminated(0, "Completed", `{"val_loss": -1000}`).Obj()
	forged.OwnerReferences[0].UID = "forger-job-uid"
	own := makePod(trial, trial.Name+"-own", t0).Terminated(0, "Completed", `{"val_loss": 0.5}`).Obj()
	f := newFixture(t, fixtureOptions{}, exp, trial, job, forged, own)

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if got := f.trial(t, trial).Status; got.Objective != "0.5" {
		t.Errorf("status.objective = %q; want 0.5 from the Job's own Pod, not the forged -1000", got.Objective)
	}
}

// TestReconcileRecordsFailedCreate checks that the Job controller's
// FailedCreate event about the Trial's Job makes the Trial Pending with its
// words, and that an event about another Job does not.
func TestReconcileRecordsFailedCreate(t *testing.T) {
	exp, trial := controllerFixture()
	job := makeJob(trial).Obj()
	job.Status.StartTime = nil
	job.CreationTimestamp = metav1.NewTime(now.Add(-pendingGracePeriod))
	event := func(name string, uid types.UID, msg string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: trial.Namespace},
			InvolvedObject: corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Name: trial.Name, UID: uid},
			Reason:         "FailedCreate", Message: msg, LastTimestamp: metav1.NewTime(now),
		}
	}
	f := newFixture(t, fixtureOptions{}, exp, trial, job,
		event("a", job.UID, `pods "x" is forbidden: exceeded quota: compute, requested: nvidia.com/gpu=1`),
		event("b", "an-earlier-job", "not this one"))

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	got := f.trial(t, trial).Status
	if got.Phase != crucible.TrialPending || got.Reason != "FailedCreate" || !strings.Contains(got.Message, "exceeded quota: compute") {
		t.Errorf("status = %s/%s %q; want Pending/FailedCreate with the quota message", got.Phase, got.Reason, got.Message)
	}
	if reqs := failedCreateToTrial(context.Background(), event("a", job.UID, "")); len(reqs) != 1 || reqs[0].Name != trial.Name {
		t.Errorf("failedCreateToTrial = %v; want the Trial %s", reqs, trial.Name)
	}
}

// TestReconcileCountsADeletedDisruptedPod checks that an evicted Pod,
// deleted before the pass that records the rerun, still counts as an
// attempt.
func TestReconcileCountsADeletedDisruptedPod(t *testing.T) {
	exp, trial := controllerFixture()
	trial.Status = crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: trial.Name,
		StartTime: &metav1.Time{Time: t0}, Attempts: 1, ObservedGeneration: 1}
	job := makeJob(trial).Obj()
	evicted := makePod(trial, trial.Name+"-a", t0).Terminated(137, "Error", "").Obj()
	evicted.UID = "evicted"
	evicted.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
	rerun := makePod(trial, trial.Name+"-b", t0.Add(time.Minute)).Running().Obj()
	rerun.UID = "rerun"
	f := newFixture(t, fixtureOptions{}, exp, trial, job, rerun)

	// The watch saw the evicted Pod go; the cache has only the rerun.
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	f.r.podEvents().Delete(context.Background(), event.DeleteEvent{Object: evicted}, q)
	if q.Len() != 1 {
		t.Fatalf("the deletion enqueued %d requests; want the Trial's", q.Len())
	}

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if got := f.trial(t, trial).Status; got.Phase != crucible.TrialRunning || got.Attempts != 2 {
		t.Errorf("status = %s with %d attempts; want Running with 2", got.Phase, got.Attempts)
	}
}
