package experiment

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/internal/monitoring"
	"github.com/crucible-dev/crucible/internal/naming"
	"github.com/crucible-dev/crucible/internal/specdigest"
	"github.com/crucible-dev/crucible/test/builder"
)

// ctrlNow is the fake clock's time when a test starts: whole seconds, as a
// metav1.Time reads back from the API.
var ctrlNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testNS = "ml"

var trialsResource = schema.GroupResource{Group: crucible.GroupVersion.Group, Resource: "trials"}

// sweep is a 3x2 grid with 2 seed replicas: 12 trials, run 4 at a time.
// Trial i runs point i%6 with seed 7+i/6; the last parameter varies fastest.
// Its dataset is not verified: dataset_test.go covers the verifier.
func sweep() *builder.ExperimentWrapper {
	return builder.MakeExperiment("sweep", testNS).
		Values("optimizer", "adam", "sgd", "lion").
		IntRange("depth", 2, 3, 1).
		Seeds(7, 2).
		Parallelism(4).
		PVCDataset("datasets", "cifar10", "/data").DatasetVerify(crucible.DatasetVerifyNever)
}

// sweepParams is the parameters of point p of sweep().
func sweepParams(p int64) []crucible.ParameterAssignment {
	optimizers := []string{"adam", "sgd", "lion"}
	depths := []string{"2", "3"}
	return []crucible.ParameterAssignment{
		{Name: "optimizer", Value: optimizers[p/2]},
		{Name: "depth", Value: depths[p%2]},
	}
}

// sweepTrialName is the name of trial i of sweep().
func sweepTrialName(i int64) string {
	return naming.TrialName("sweep", sweepParams(i%6), 7+i/6)
}

// stored gives exp the metadata the API server would: a UID and a
// generation.
func stored(exp *crucible.Experiment) *crucible.Experiment {
	exp.UID = types.UID("uid-" + exp.Name)
	exp.Generation = 1
	return exp
}

// hooks let a test change what the reconciler's client does. A nil hook
// passes the call through.
type hooks struct {
	// create returns an error to fail a create with, or nil to let it
	// through.
	create func(obj client.Object) error
	// dryRun returns an error to fail a dry-run create with, as the API
	// server refusing it, or nil to accept it.
	dryRun func(obj client.Object) error
	// get, when it returns handled, answers a Get in place of the store.
	get func(key client.ObjectKey, obj client.Object) (handled bool, err error)
	// list edits what a List returns, as a lagging cache would.
	list func(list client.ObjectList)
}

// ctrlFixture is a Reconciler on a fake client with the production
// indexes, a fake recorder, a fake clock and write counters.
type ctrlFixture struct {
	store    client.WithWatch // the fake API server; the test reads and seeds it directly
	r        *Reconciler
	recorder *events.FakeRecorder
	clock    *clocktesting.FakeClock

	mu             sync.Mutex
	creates        int // Create calls, failed ones included, dry runs not
	dryRuns        int // dry-run Create calls
	statusPatches  int // Status().Patch calls
	otherWrites    int // every other write
	createdIndices []int64
	// client is the reconciler's client: store behind the hooks.
	client       client.Client
	createdKinds []string // the kind of every object created, in the order the creates returned
}

func newCtrlFixture(t *testing.T, h hooks, objs ...client.Object) *ctrlFixture {
	t.Helper()
	b := builder.NewClientBuilder(objs...)
	f := &ctrlFixture{
		store:    b.Build(),
		recorder: events.NewFakeRecorder(32),
		clock:    clocktesting.NewFakeClock(ctrlNow),
	}
	other := func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.otherWrites++
	}
	c := interceptor.NewClient(f.store, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if h.get != nil {
				if handled, err := h.get(key, obj); handled {
					return err
				}
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			if h.list != nil {
				h.list(list)
			}
			return nil
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if slices.Contains((&client.CreateOptions{}).ApplyOptions(opts).DryRun, metav1.DryRunAll) {
				f.mu.Lock()
				f.dryRuns++
				f.mu.Unlock()
				if h.dryRun != nil {
					if err := h.dryRun(obj); err != nil {
						return err
					}
				}
				return c.Create(ctx, obj, opts...)
			}
			f.mu.Lock()
			f.creates++
			if tr, ok := obj.(*crucible.Trial); ok {
				f.createdIndices = append(f.createdIndices, tr.Spec.Index)
			}
			f.mu.Unlock()
			if h.create != nil {
				if err := h.create(obj); err != nil {
					return err
				}
			}
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			f.mu.Lock()
			f.createdKinds = append(f.createdKinds, reflect.TypeOf(obj).Elem().Name())
			f.mu.Unlock()
			return nil
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			other()
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			other()
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			other()
			return c.Delete(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			other()
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			f.mu.Lock()
			if sub == "status" {
				f.statusPatches++
			} else {
				f.otherWrites++
			}
			f.mu.Unlock()
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
	f.client = c
	f.r = NewReconciler(c, f.recorder, WithClock(f.clock), WithDatasetVerifier(jobspec.Verifier{Image: testVerifierImage}))
	return f
}

// writes returns the counts of creates, status patches and other writes,
// and the indices of the Trials the reconciler tried to create, sorted,
// since the last call.
func (f *ctrlFixture) writes() (creates, statusPatches, other int, indices []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	creates, statusPatches, other, indices = f.creates, f.statusPatches, f.otherWrites, f.createdIndices
	f.creates, f.statusPatches, f.otherWrites, f.createdIndices = 0, 0, 0, nil
	slices.Sort(indices)
	return creates, statusPatches, other, indices
}

func (f *ctrlFixture) reconcile(t *testing.T, exp *crucible.Experiment) error {
	t.Helper()
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)})
	if res != (ctrl.Result{}) {
		t.Errorf("Reconcile result = %+v; want none: nothing here is clock-driven", res)
	}
	return err
}

// mustReconcile reconciles and fails the test on an error.
func (f *ctrlFixture) mustReconcile(t *testing.T, exp *crucible.Experiment) {
	t.Helper()
	if err := f.reconcile(t, exp); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
}

// experiment reads the stored Experiment.
func (f *ctrlFixture) experiment(t *testing.T, exp *crucible.Experiment) *crucible.Experiment {
	t.Helper()
	got := &crucible.Experiment{}
	if err := f.store.Get(context.Background(), client.ObjectKeyFromObject(exp), got); err != nil {
		t.Fatalf("getting Experiment: %v", err)
	}
	return got
}

// trials lists the stored Trials by index.
func (f *ctrlFixture) trials(t *testing.T) []crucible.Trial {
	t.Helper()
	var list crucible.TrialList
	if err := f.store.List(context.Background(), &list, client.InNamespace(testNS)); err != nil {
		t.Fatalf("listing Trials: %v", err)
	}
	slices.SortFunc(list.Items, func(a, b crucible.Trial) int { return int(a.Spec.Index - b.Spec.Index) })
	return list.Items
}

func trialIndices(trials []crucible.Trial) []int64 {
	out := make([]int64, len(trials))
	for i := range trials {
		out[i] = trials[i].Spec.Index
	}
	return out
}

// setTrialStatus writes the status of the stored Trial at index, as the
// Trial controller would.
func (f *ctrlFixture) setTrialStatus(t *testing.T, index int64, phase crucible.TrialPhase, objective string) {
	t.Helper()
	for _, tr := range f.trials(t) {
		if tr.Spec.Index != index {
			continue
		}
		tr.Status.Phase = phase
		tr.Status.Objective = objective
		if phase == crucible.TrialFailed {
			tr.Status.Reason = crucible.ReasonExitCode
			tr.Status.Message = "the trainer exited with code 1"
		}
		if err := f.store.Status().Update(context.Background(), &tr); err != nil {
			t.Fatalf("writing the status of Trial %d: %v", index, err)
		}
		return
	}
	t.Fatalf("no Trial with index %d", index)
}

// events drains the recorded events.
func (f *ctrlFixture) events() []string {
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

func condition(conds []metav1.Condition, typ string) metav1.Condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// diffEvents compares events, a nil and an empty list alike.
func diffEvents(want, got []string) string {
	if len(want) == 0 && len(got) == 0 {
		return ""
	}
	return cmp.Diff(want, got)
}

// TestReconcileSweep walks a sweep through its first passes: (a) the first
// creates the first parallelism Trials, (b) a pass with nothing changed
// writes nothing, (c) ended Trials make room for the next indices and the
// better one is best.
func TestReconcileSweep(t *testing.T) {
	exp := stored(sweep().Obj())
	f := newCtrlFixture(t, hooks{}, exp)

	// (a) The first pass.
	createdBefore := testutil.ToFloat64(monitoring.TrialsCreated)
	f.mustReconcile(t, exp)
	if got := testutil.ToFloat64(monitoring.TrialsCreated) - createdBefore; got != 4 {
		t.Errorf("crucible_trials_created_total rose by %v; want 4", got)
	}
	creates, patches, other, indices := f.writes()
	if diff := cmp.Diff([]int64{0, 1, 2, 3}, indices); diff != "" {
		t.Errorf("first pass created Trials (-want +got):\n%s", diff)
	}
	if creates != 8 || patches != 1 || other != 0 {
		t.Errorf("first pass: %d creates, %d status patches, %d other writes; want 8 (4 Trials, their 4 Jobs), 1 and 0", creates, patches, other)
	}
	for _, tr := range f.trials(t) {
		job := &batchv1.Job{}
		if err := f.store.Get(context.Background(), client.ObjectKeyFromObject(&tr), job); err != nil {
			t.Errorf("the Job of Trial %s: %v", tr.Name, err)
			continue
		}
		if !metav1.IsControlledBy(job, &tr) {
			t.Errorf("Job %s is not controlled by its Trial: %v", job.Name, job.OwnerReferences)
		}
	}

	got := f.experiment(t, exp)
	digest, err := specdigest.Compute(&exp.Spec)
	if err != nil {
		t.Fatal(err)
	}
	start := metav1.NewTime(ctrlNow)
	wantStatus := crucible.ExperimentStatus{
		Phase:              crucible.ExperimentRunning,
		ObservedGeneration: 1,
		Conditions: []metav1.Condition{
			{Type: crucible.ExperimentFailedCondition, Status: metav1.ConditionFalse, Reason: crucible.ReasonWithinFailureBudget,
				Message: "0 of at most 0 trials failed", ObservedGeneration: 1},
			templateAccepted(1),
			verificationDisabled(1),
			{Type: crucible.ExperimentSucceededCondition, Status: metav1.ConditionFalse, Reason: crucible.ReasonTrialsRemaining,
				Message: "0 of 12 trials ended, 4 active", ObservedGeneration: 1},
			{Type: crucible.ExperimentSuspendedCondition, Status: metav1.ConditionFalse, Reason: crucible.ReasonNotSuspended,
				Message: "spec.suspend is false", ObservedGeneration: 1},
			{Type: crucible.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: string(crucible.ExperimentRunning),
				Message: "0 of 12 trials ended, 4 active", ObservedGeneration: 1},
		},
		Trials:     crucible.TrialCounts{Total: 12, Created: 4, Active: 4},
		StartTime:  &start,
		SpecDigest: digest,
	}
	if diff := cmp.Diff(wantStatus, got.Status, ignoreLTT); diff != "" {
		t.Errorf("status after the first pass (-want +got):\n%s", diff)
	}
	for _, c := range got.Status.Conditions {
		if !c.LastTransitionTime.Time.Equal(ctrlNow) {
			t.Errorf("%s lastTransitionTime = %v; want the clock's now, %v", c.Type, c.LastTransitionTime, ctrlNow)
		}
	}

	trials := f.trials(t)
	if len(trials) != 4 {
		t.Fatalf("first pass left %d Trials; want 4", len(trials))
	}
	for i, tr := range trials {
		idx := int64(i)
		wantMeta := metav1.ObjectMeta{
			Name:      sweepTrialName(idx),
			Namespace: testNS,
			Labels:    map[string]string{crucible.ExperimentLabel: "sweep"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "crucible.dev/v1alpha1", Kind: "Experiment", Name: "sweep", UID: exp.UID,
				Controller: new(true), BlockOwnerDeletion: new(true),
			}},
		}
		gotMeta := metav1.ObjectMeta{Name: tr.Name, Namespace: tr.Namespace, Labels: tr.Labels, OwnerReferences: tr.OwnerReferences}
		if diff := cmp.Diff(wantMeta, gotMeta); diff != "" {
			t.Errorf("Trial %d metadata (-want +got):\n%s", idx, diff)
		}
		wantSpec := crucible.TrialSpec{
			Index:            idx,
			Parameters:       sweepParams(idx),
			Assignment:       "optimizer=" + sweepParams(idx)[0].Value + " depth=" + sweepParams(idx)[1].Value,
			Seed:             7,
			Replica:          0,
			Image:            builder.Image,
			DatasetDigest:    builder.DatasetDigest,
			ExperimentDigest: got.Status.SpecDigest,
		}
		if diff := cmp.Diff(wantSpec, tr.Spec); diff != "" {
			t.Errorf("Trial %d spec (-want +got):\n%s", idx, diff)
		}
	}
	if diff := diffEvents([]string{"Normal Started started 4 of 12 trials"}, f.events()); diff != "" {
		t.Errorf("events of the first pass (-want +got):\n%s", diff)
	}

	// (b) Nothing changed: nothing created, no status written.
	f.clock.Step(time.Minute)
	f.mustReconcile(t, exp)
	if creates, patches, other, _ := f.writes(); creates != 0 || patches != 0 || other != 0 {
		t.Errorf("a pass with nothing changed: %d creates, %d status patches, %d other writes; want none", creates, patches, other)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events of a pass with nothing changed (-want +got):\n%s", diff)
	}

	// (c) Two Trials succeed: the next two indices start, the better of
	// the two is best.
	f.setTrialStatus(t, 0, crucible.TrialSucceeded, "0.42")
	f.setTrialStatus(t, 1, crucible.TrialSucceeded, "0.31")
	f.mustReconcile(t, exp)
	if _, _, _, indices := f.writes(); !cmp.Equal([]int64{4, 5}, indices) {
		t.Errorf("after two Trials succeeded the pass created indices %v; want [4 5]", indices)
	}
	if diff := cmp.Diff([]int64{0, 1, 2, 3, 4, 5}, trialIndices(f.trials(t))); diff != "" {
		t.Errorf("stored Trials (-want +got):\n%s", diff)
	}
	got = f.experiment(t, exp)
	if diff := cmp.Diff(crucible.TrialCounts{Total: 12, Created: 6, Active: 4, Succeeded: 2}, got.Status.Trials); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	wantBest := &crucible.BestTrial{Name: sweepTrialName(1), Index: 1, Parameters: sweepParams(1), Seed: 7, Objective: "0.31"}
	if diff := cmp.Diff(wantBest, got.Status.BestTrial); diff != "" {
		t.Errorf("bestTrial (-want +got):\n%s", diff)
	}
	if !got.Status.StartTime.Equal(&start) {
		t.Errorf("startTime = %v; want it kept at %v", got.Status.StartTime, start)
	}
	if got.Status.Phase != crucible.ExperimentRunning {
		t.Errorf("phase = %q; want Running", got.Status.Phase)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events of the third pass (-want +got):\n%s", diff)
	}
}

// TestReconcileTrialsBeforeJobs checks that a pass creates its Jobs only
// once all its Trials exist, even when one Trial's create is slow.
func TestReconcileTrialsBeforeJobs(t *testing.T) {
	exp := stored(sweep().Obj())
	f := newCtrlFixture(t, hooks{create: func(obj client.Object) error {
		if tr, ok := obj.(*crucible.Trial); ok && tr.Spec.Index == 3 {
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}}, exp)
	f.mustReconcile(t, exp)
	f.mu.Lock()
	kinds := slices.Clone(f.createdKinds)
	f.mu.Unlock()
	if diff := cmp.Diff([]string{"Trial", "Trial", "Trial", "Trial", "Job", "Job", "Job", "Job"}, kinds); diff != "" {
		t.Errorf("creates of the first pass, every Trial before any Job (-want +got):\n%s", diff)
	}
}

// TestReconcileSecondReplica checks that the trials past the grid run the
// second seed.
func TestReconcileSecondReplica(t *testing.T) {
	exp := stored(sweep().Parallelism(12).Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	trials := f.trials(t)
	if len(trials) != 12 {
		t.Fatalf("%d Trials; want 12", len(trials))
	}
	for _, tr := range trials[6:] {
		i := tr.Spec.Index
		if tr.Name != sweepTrialName(i) || tr.Spec.Seed != 8 || tr.Spec.Replica != 1 || !cmp.Equal(tr.Spec.Parameters, sweepParams(i-6)) {
			t.Errorf("Trial %d: name %s, seed %d, replica %d, parameters %v; want %s, 8, 1, %v",
				i, tr.Name, tr.Spec.Seed, tr.Spec.Replica, tr.Spec.Parameters, sweepTrialName(i), sweepParams(i-6))
		}
	}
}

// TestReconcileCacheLag is (d): a Trial created by an earlier pass that the
// cache does not list yet.
func TestReconcileCacheLag(t *testing.T) {
	// lagging answers a create of Trial 0 with AlreadyExists and a Get of
	// it with a Trial of index existingIndex, which the List never shows.
	lagging := func(exp *crucible.Experiment, existingIndex int64) hooks {
		name := sweepTrialName(0)
		return hooks{
			create: func(obj client.Object) error {
				if _, ok := obj.(*crucible.Trial); ok && obj.GetName() == name {
					return apierrors.NewAlreadyExists(trialsResource, name)
				}
				return nil
			},
			get: func(key client.ObjectKey, obj client.Object) (bool, error) {
				tr, ok := obj.(*crucible.Trial)
				if !ok || key.Name != name {
					return false, nil
				}
				*tr = crucible.Trial{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: key.Namespace,
						OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(exp, crucible.GroupVersion.WithKind("Experiment"))}},
					Spec: crucible.TrialSpec{Index: existingIndex, Parameters: sweepParams(existingIndex % 6), Seed: 7 + existingIndex/6},
				}
				return true, nil
			},
		}
	}

	t.Run("the same index is counted as created", func(t *testing.T) {
		exp := stored(sweep().Obj())
		f := newCtrlFixture(t, lagging(exp, 0), exp)
		f.mustReconcile(t, exp)
		got := f.experiment(t, exp)
		if diff := cmp.Diff(crucible.TrialCounts{Total: 12, Created: 4, Active: 4}, got.Status.Trials); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{1, 2, 3}, trialIndices(f.trials(t))); diff != "" {
			t.Errorf("stored Trials (-want +got):\n%s", diff)
		}
		if got.Status.Phase != crucible.ExperimentRunning || got.Status.ObservedGeneration != 1 {
			t.Errorf("phase %q, observedGeneration %d; want Running and 1", got.Status.Phase, got.Status.ObservedGeneration)
		}
		if c := condition(got.Status.Conditions, crucible.ExperimentFailedCondition); c.Status != metav1.ConditionFalse {
			t.Errorf("Failed condition = %+v; want False", c)
		}
	})

	t.Run("a different index is a collision: Failed, terminal, no error", func(t *testing.T) {
		exp := stored(sweep().Obj())
		f := newCtrlFixture(t, lagging(exp, 7), exp)
		if err := f.reconcile(t, exp); err != nil {
			t.Fatalf("Reconcile: %v; want no error, a collision is terminal", err)
		}
		got := f.experiment(t, exp)
		failed := condition(got.Status.Conditions, crucible.ExperimentFailedCondition)
		if failed.Status != metav1.ConditionTrue || failed.Reason != crucible.ReasonInvalidSearchSpace {
			t.Errorf("Failed condition = %+v; want True InvalidSearchSpace", failed)
		}
		for _, s := range []string{"collision", sweepTrialName(0), "index 0", "index 7"} {
			if !strings.Contains(failed.Message, s) {
				t.Errorf("Failed message %q does not contain %q", failed.Message, s)
			}
		}
		if s := condition(got.Status.Conditions, crucible.ExperimentSucceededCondition); s.Status != metav1.ConditionFalse || s.Reason != crucible.ReasonInvalidSearchSpace {
			t.Errorf("Succeeded condition = %+v; want False InvalidSearchSpace", s)
		}
		if got.Status.Phase != crucible.ExperimentFailed {
			t.Errorf("phase = %q; want Failed", got.Status.Phase)
		}
		if got.Status.ObservedGeneration != 1 {
			t.Errorf("observedGeneration = %d; want 1: the pass ended without error", got.Status.ObservedGeneration)
		}
		ev := f.events()
		if len(ev) != 2 || ev[0] != "Normal Started started 3 of 12 trials" || !strings.HasPrefix(ev[1], "Warning Failed trial name collision") {
			t.Errorf("events = %q; want Started with 3 trials and a Warning Failed naming the collision", ev)
		}
		f.writes()

		// Terminal: the next pass creates nothing, not even the missing
		// index.
		f.mustReconcile(t, exp)
		if creates, patches, _, _ := f.writes(); creates != 0 || patches != 0 {
			t.Errorf("the pass after the collision: %d creates, %d status patches; want none", creates, patches)
		}
		if diff := diffEvents(nil, f.events()); diff != "" {
			t.Errorf("events of the pass after the collision (-want +got):\n%s", diff)
		}
	})
}

func TestReconcileHoldsBackCountsOnlyWrites(t *testing.T) {
	exp := stored(sweep().Parallelism(2).MaxFailedTrials(0).Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	if _, patches, _, _ := f.writes(); patches != 1 {
		t.Fatalf("first pass: %d status patches; want 1", patches)
	}

	// A trial ends 2 s after that write: its successor starts at once, the
	// counts are written when countsWriteInterval has passed.
	f.clock.Step(2 * time.Second)
	f.setTrialStatus(t, 0, crucible.TrialSucceeded, "0.5")
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)})
	if err != nil {
		t.Fatal(err)
	}
	if want := countsWriteInterval - 2*time.Second; res.RequeueAfter != want {
		t.Errorf("pass 2 s after a write: RequeueAfter %v; want %v", res.RequeueAfter, want)
	}
	if _, patches, _, indices := f.writes(); patches != 0 || !cmp.Equal([]int64{2}, indices) {
		t.Errorf("pass 2 s after a write: %d status patches, created %v; want none, and index 2", patches, indices)
	}
	if got := f.experiment(t, exp).Status.Trials.Succeeded; got != 0 {
		t.Errorf("stored succeeded count %d; want 0 until the write", got)
	}

	f.clock.Step(countsWriteInterval - 2*time.Second)
	f.mustReconcile(t, exp)
	if _, patches, _, _ := f.writes(); patches != 1 {
		t.Errorf("pass %v after the write: %d status patches; want 1", countsWriteInterval, patches)
	}
	got := f.experiment(t, exp).Status
	if got.Trials.Succeeded != 1 || got.Trials.Created != 3 || got.BestTrial == nil || got.BestTrial.Objective != "0.5" {
		t.Errorf("stored counts %+v, best %+v; want 1 succeeded of 3 created, best 0.5", got.Trials, got.BestTrial)
	}

	// A transition is written at once, however soon: a failure spends the
	// budget of none.
	f.clock.Step(time.Second)
	f.setTrialStatus(t, 1, crucible.TrialFailed, "")
	f.mustReconcile(t, exp)
	if _, patches, _, _ := f.writes(); patches != 1 {
		t.Errorf("a failure 1 s after a write: %d status patches; want 1", patches)
	}
	got = f.experiment(t, exp).Status
	if c := condition(got.Conditions, crucible.ExperimentFailedCondition); c.Status != metav1.ConditionTrue || got.Trials.Failed != 1 {
		t.Errorf("Failed condition %+v, counts %+v; want True with the failure counted", c, got.Trials)
	}
}

// TestReconcileFailureBudget is (e).
func TestReconcileFailureBudget(t *testing.T) {
	exp := stored(sweep().Parallelism(2).MaxFailedTrials(1).Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	f.writes()
	f.events()

	// One failure is within the budget: its slot goes to the next index.
	f.clock.Step(countsWriteInterval)
	f.setTrialStatus(t, 0, crucible.TrialFailed, "")
	f.mustReconcile(t, exp)
	if _, _, _, indices := f.writes(); !cmp.Equal([]int64{2}, indices) {
		t.Errorf("after one failure the pass created indices %v; want [2]", indices)
	}
	got := f.experiment(t, exp)
	want := metav1.Condition{Type: crucible.ExperimentFailedCondition, Status: metav1.ConditionFalse,
		Reason: crucible.ReasonWithinFailureBudget, Message: "1 of at most 1 trials failed", ObservedGeneration: 1}
	if diff := cmp.Diff(want, condition(got.Status.Conditions, crucible.ExperimentFailedCondition), ignoreLTT); diff != "" {
		t.Errorf("Failed condition after one failure (-want +got):\n%s", diff)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events after one failure (-want +got):\n%s", diff)
	}

	// A second failure spends the budget: Failed, nothing new starts, the
	// running Trial finishes.
	f.clock.Step(time.Minute)
	f.setTrialStatus(t, 1, crucible.TrialFailed, "")
	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 0 {
		t.Errorf("after the budget was spent the pass made %d creates; want none", creates)
	}
	if diff := cmp.Diff([]int64{0, 1, 2}, trialIndices(f.trials(t))); diff != "" {
		t.Errorf("stored Trials (-want +got):\n%s", diff)
	}
	got = f.experiment(t, exp)
	msg := "2 trials failed, more than maxFailedTrials (1): no new trials start; 1 running trials finish and are recorded"
	wantConds := []metav1.Condition{
		{Type: crucible.ExperimentFailedCondition, Status: metav1.ConditionTrue, Reason: crucible.ReasonMaxFailedTrialsExceeded,
			Message: msg, ObservedGeneration: 1},
		templateAccepted(1),
		verificationDisabled(1),
		{Type: crucible.ExperimentSucceededCondition, Status: metav1.ConditionFalse, Reason: crucible.ReasonMaxFailedTrialsExceeded,
			Message: "the Experiment failed: " + msg, ObservedGeneration: 1},
		{Type: crucible.ExperimentSuspendedCondition, Status: metav1.ConditionFalse, Reason: crucible.ReasonNotSuspended,
			Message: "spec.suspend is false", ObservedGeneration: 1},
		{Type: crucible.StalledCondition, Status: metav1.ConditionTrue, Reason: crucible.ReasonMaxFailedTrialsExceeded,
			Message: msg, ObservedGeneration: 1},
	}
	if diff := cmp.Diff(wantConds, got.Status.Conditions, ignoreLTT); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if c := condition(got.Status.Conditions, crucible.ExperimentFailedCondition); !c.LastTransitionTime.Time.Equal(f.clock.Now()) {
		t.Errorf("Failed lastTransitionTime = %v; want the time it turned True, %v", c.LastTransitionTime, f.clock.Now())
	}
	if got.Status.Phase != crucible.ExperimentFailed {
		t.Errorf("phase = %q; want Failed", got.Status.Phase)
	}
	if got.Status.CompletionTime != nil {
		t.Errorf("completionTime = %v; want none while a Trial runs", got.Status.CompletionTime)
	}
	if diff := diffEvents([]string{"Warning Failed " + msg}, f.events()); diff != "" {
		t.Errorf("events when the budget was spent (-want +got):\n%s", diff)
	}

	// Once: the next pass, with nothing changed, emits nothing.
	f.mustReconcile(t, exp)
	if creates, patches, _, _ := f.writes(); creates != 0 || patches != 0 {
		t.Errorf("a pass with nothing changed: %d creates, %d status patches; want none", creates, patches)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events of a pass with nothing changed (-want +got):\n%s", diff)
	}

	// The running Trial ends: recorded, the Experiment completes, still
	// Failed, no second event. Raising the budget does not revive it.
	f.clock.Step(time.Minute)
	f.setTrialStatus(t, 2, crucible.TrialSucceeded, "0.5")
	latest := f.experiment(t, exp)
	latest.Spec.MaxFailedTrials = 10
	latest.Generation = 2
	if err := f.store.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 0 {
		t.Errorf("after raising maxFailedTrials the pass made %d creates; want none: Failed is final", creates)
	}
	got = f.experiment(t, exp)
	if got.Status.Phase != crucible.ExperimentFailed {
		t.Errorf("phase = %q; want Failed", got.Status.Phase)
	}
	if diff := cmp.Diff(crucible.TrialCounts{Total: 12, Created: 3, Succeeded: 1, Failed: 2}, got.Status.Trials); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if now := metav1.NewTime(f.clock.Now()); !got.Status.CompletionTime.Equal(&now) {
		t.Errorf("completionTime = %v; want %v, when the last Trial was seen ended", got.Status.CompletionTime, now)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events after the last Trial ended (-want +got):\n%s", diff)
	}
}

// TestReconcileSucceeds is (f): every Trial ended within the budget.
func TestReconcileSucceeds(t *testing.T) {
	exp := stored(builder.MakeExperiment("small", testNS).
		Values("lr", "0.1", "0.01", "0.001").
		Objective("accuracy", crucible.GoalMaximize).
		Parallelism(3).
		MaxFailedTrials(1).
		Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	trials := f.trials(t)
	if len(trials) != 3 {
		t.Fatalf("%d Trials; want 3", len(trials))
	}
	f.events()

	f.clock.Step(10 * time.Minute)
	f.setTrialStatus(t, 0, crucible.TrialSucceeded, "0.81")
	f.setTrialStatus(t, 1, crucible.TrialSucceeded, "0.93")
	f.setTrialStatus(t, 2, crucible.TrialFailed, "")
	f.mustReconcile(t, exp)

	got := f.experiment(t, exp)
	if got.Status.Phase != crucible.ExperimentSucceeded {
		t.Errorf("phase = %q; want Succeeded", got.Status.Phase)
	}
	want := metav1.Condition{Type: crucible.ExperimentSucceededCondition, Status: metav1.ConditionTrue,
		Reason: crucible.ReasonAllTrialsEnded, Message: "all 3 trials ended: 2 succeeded, 1 failed", ObservedGeneration: 1}
	if diff := cmp.Diff(want, condition(got.Status.Conditions, crucible.ExperimentSucceededCondition), ignoreLTT); diff != "" {
		t.Errorf("Succeeded condition (-want +got):\n%s", diff)
	}
	start, end := metav1.NewTime(ctrlNow), metav1.NewTime(f.clock.Now())
	if !got.Status.StartTime.Equal(&start) || !got.Status.CompletionTime.Equal(&end) {
		t.Errorf("startTime %v, completionTime %v; want %v and %v", got.Status.StartTime, got.Status.CompletionTime, start, end)
	}
	best := trials[1].Name
	if got.Status.BestTrial == nil || got.Status.BestTrial.Name != best || got.Status.BestTrial.Objective != "0.93" {
		t.Errorf("bestTrial = %+v; want %s with 0.93", got.Status.BestTrial, best)
	}
	wantEvent := "Normal Succeeded 2 trials succeeded, 1 failed; best trial " + best + " with accuracy=0.93"
	if diff := diffEvents([]string{wantEvent}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// Succeeded is final: later passes write and emit nothing.
	f.clock.Step(time.Minute)
	f.writes()
	f.mustReconcile(t, exp)
	if creates, patches, _, _ := f.writes(); creates != 0 || patches != 0 {
		t.Errorf("a pass after success: %d creates, %d status patches; want none", creates, patches)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events of a pass after success (-want +got):\n%s", diff)
	}
}

// TestReconcileSuspend is (g).
func TestReconcileSuspend(t *testing.T) {
	exp := stored(sweep().Suspend(true).Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)

	if n := len(f.trials(t)); n != 0 {
		t.Errorf("a suspended Experiment has %d Trials; want none", n)
	}
	got := f.experiment(t, exp)
	if got.Status.Phase != crucible.ExperimentSuspended {
		t.Errorf("phase = %q; want Suspended", got.Status.Phase)
	}
	wantSuspended := metav1.Condition{Type: crucible.ExperimentSuspendedCondition, Status: metav1.ConditionTrue,
		Reason: crucible.ReasonSuspendedBySpec, Message: "spec.suspend is true: no new trials start; running trials finish", ObservedGeneration: 1}
	if diff := cmp.Diff(wantSuspended, condition(got.Status.Conditions, crucible.ExperimentSuspendedCondition), ignoreLTT); diff != "" {
		t.Errorf("Suspended condition (-want +got):\n%s", diff)
	}
	if got.Status.StartTime != nil {
		t.Errorf("startTime = %v; want none before a Trial is created", got.Status.StartTime)
	}
	if diff := diffEvents([]string{"Normal Suspended suspended with 0 trials active"}, f.events()); diff != "" {
		t.Errorf("events when suspended (-want +got):\n%s", diff)
	}

	// Resume.
	f.clock.Step(time.Minute)
	got.Spec.Suspend = false
	got.Generation = 2
	if err := f.store.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	f.mustReconcile(t, exp)
	if diff := cmp.Diff([]int64{0, 1, 2, 3}, trialIndices(f.trials(t))); diff != "" {
		t.Errorf("Trials after resuming (-want +got):\n%s", diff)
	}
	got = f.experiment(t, exp)
	if got.Status.Phase != crucible.ExperimentRunning || got.Status.ObservedGeneration != 2 {
		t.Errorf("phase %q, observedGeneration %d; want Running and 2", got.Status.Phase, got.Status.ObservedGeneration)
	}
	wantResumed := metav1.Condition{Type: crucible.ExperimentSuspendedCondition, Status: metav1.ConditionFalse,
		Reason: crucible.ReasonResumed, Message: "spec.suspend was cleared: trials start again", ObservedGeneration: 2}
	if diff := cmp.Diff(wantResumed, condition(got.Status.Conditions, crucible.ExperimentSuspendedCondition), ignoreLTT); diff != "" {
		t.Errorf("Suspended condition after resuming (-want +got):\n%s", diff)
	}
	if now := metav1.NewTime(f.clock.Now()); !got.Status.StartTime.Equal(&now) {
		t.Errorf("startTime = %v; want %v, when the first Trial was created", got.Status.StartTime, now)
	}
	if diff := diffEvents([]string{"Normal Started started 4 of 12 trials", "Normal Resumed resumed"}, f.events()); diff != "" {
		t.Errorf("events when resumed (-want +got):\n%s", diff)
	}

	// Suspended while running: running Trials finish, none start.
	f.setTrialStatus(t, 0, crucible.TrialSucceeded, "0.3")
	f.setTrialStatus(t, 1, crucible.TrialSucceeded, "0.2")
	latest := f.experiment(t, exp)
	latest.Spec.Suspend = true
	latest.Generation = 3
	if err := f.store.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	f.writes()
	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 0 {
		t.Errorf("suspended while running: %d creates; want none", creates)
	}
	got = f.experiment(t, exp)
	if got.Status.Phase != crucible.ExperimentSuspended {
		t.Errorf("phase = %q; want Suspended", got.Status.Phase)
	}
	if diff := cmp.Diff(crucible.TrialCounts{Total: 12, Created: 4, Active: 2, Succeeded: 2}, got.Status.Trials); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if diff := diffEvents([]string{"Normal Suspended suspended with 2 trials active"}, f.events()); diff != "" {
		t.Errorf("events when suspended while running (-want +got):\n%s", diff)
	}
}

// TestReconcileCreateError is (h): a failed create is returned, the status
// is still written, observedGeneration does not advance.
func TestReconcileCreateError(t *testing.T) {
	exp := stored(sweep().Obj())
	failing := true
	f := newCtrlFixture(t, hooks{create: func(obj client.Object) error {
		if tr, ok := obj.(*crucible.Trial); ok && failing && tr.Spec.Index == 2 {
			return apierrors.NewInternalError(errTest)
		}
		return nil
	}}, exp)

	err := f.reconcile(t, exp)
	if err == nil {
		t.Fatal("Reconcile: no error; want the failed create's")
	}
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), sweepTrialName(2)) {
		t.Errorf("Reconcile error = %v; want the InternalError, naming Trial %s", err, sweepTrialName(2))
	}
	creates, patches, _, _ := f.writes()
	if creates != 7 || patches != 1 {
		t.Errorf("%d creates, %d status patches; want 7 (4 Trials, 1 refused; 3 Jobs) and 1", creates, patches)
	}
	if diff := cmp.Diff([]int64{0, 1, 3}, trialIndices(f.trials(t))); diff != "" {
		t.Errorf("stored Trials (-want +got):\n%s", diff)
	}
	got := f.experiment(t, exp)
	if diff := cmp.Diff(crucible.TrialCounts{Total: 12, Created: 3, Active: 3}, got.Status.Trials); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if got.Status.ObservedGeneration != 0 {
		t.Errorf("observedGeneration = %d; want 0: the pass failed", got.Status.ObservedGeneration)
	}
	if got.Status.Phase != crucible.ExperimentRunning || got.Status.StartTime == nil || got.Status.SpecDigest == "" {
		t.Errorf("phase %q, startTime %v, specDigest %q; want Running, set and set", got.Status.Phase, got.Status.StartTime, got.Status.SpecDigest)
	}
	if diff := diffEvents([]string{"Normal Started started 3 of 12 trials"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// The retry creates the missing index and advances observedGeneration.
	failing = false
	f.mustReconcile(t, exp)
	if _, _, _, indices := f.writes(); !cmp.Equal([]int64{2}, indices) {
		t.Errorf("the retry created indices %v; want [2]", indices)
	}
	got = f.experiment(t, exp)
	if got.Status.ObservedGeneration != 1 || got.Status.Trials.Created != 4 {
		t.Errorf("after the retry: observedGeneration %d, created %d; want 1 and 4", got.Status.ObservedGeneration, got.Status.Trials.Created)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events of the retry (-want +got):\n%s", diff)
	}
}

var errTest = errors.New("etcd is on fire")

// TestReconcileStatusPatchError checks that a failed status write is
// returned and emits no event.
func TestReconcileStatusPatchError(t *testing.T) {
	exp := stored(sweep().Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	// Every status write fails; everything else goes to the store.
	f.r.client = interceptor.NewClient(f.store, interceptor.Funcs{
		SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
			return apierrors.NewServiceUnavailable("etcd is gone: " + obj.GetName())
		},
	})
	if err := f.reconcile(t, exp); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("Reconcile error = %v; want the status write's ServiceUnavailable", err)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events after a failed status write (-want +got):\n%s", diff)
	}
}

// TestReconcileStaleRead checks that a pass that read the Experiment from a
// cache behind its last status write writes nothing and announces nothing
// twice: the write is refused with a conflict, and the pass comes back once
// the cache may have caught up.
func TestReconcileStaleRead(t *testing.T) {
	exp := stored(sweep().Obj())
	var stale *crucible.Experiment // what the lagging cache returns, when set
	f := newCtrlFixture(t, hooks{get: func(key client.ObjectKey, obj client.Object) (bool, error) {
		e, ok := obj.(*crucible.Experiment)
		if !ok || stale == nil || key.Name != exp.Name {
			return false, nil
		}
		stale.DeepCopyInto(e)
		return true, nil
	}}, exp)
	read := f.experiment(t, exp) // as the cache has it before the first pass

	f.mustReconcile(t, exp)
	if diff := diffEvents([]string{"Normal Started started 4 of 12 trials"}, f.events()); diff != "" {
		t.Fatalf("events of the first pass (-want +got):\n%s", diff)
	}
	written := f.experiment(t, exp)
	f.writes()

	stale = read
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)})
	if err != nil || res.RequeueAfter != staleReadRetry {
		t.Errorf("a pass on a stale read: result %+v, error %v; want a retry after %s and no error", res, err, staleReadRetry)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events of a pass on a stale read (-want +got):\n%s", diff)
	}
	if creates, _, _, _ := f.writes(); creates != 0 {
		t.Errorf("a pass on a stale read created %d objects; want none, the Trials are expected", creates)
	}
	if got := f.experiment(t, exp); got.ResourceVersion != written.ResourceVersion {
		t.Errorf("a pass on a stale read wrote the Experiment (resourceVersion %s, then %s); want no write", written.ResourceVersion, got.ResourceVersion)
	}

	stale = nil
	f.mustReconcile(t, exp)
	if _, patches, _, _ := f.writes(); patches != 0 {
		t.Errorf("the pass once the cache caught up: %d status patches; want none, nothing changed", patches)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events once the cache caught up (-want +got):\n%s", diff)
	}
}

// TestReconcileDeleting is (i).
func TestReconcileDeleting(t *testing.T) {
	exp := stored(sweep().Obj())
	exp.Finalizers = []string{"test.crucible.dev/hold"}
	exp.DeletionTimestamp = &metav1.Time{Time: ctrlNow.Add(-time.Minute)}
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	if creates, patches, other, _ := f.writes(); creates != 0 || patches != 0 || other != 0 {
		t.Errorf("an Experiment being deleted: %d creates, %d status patches, %d other writes; want none", creates, patches, other)
	}
	if n := len(f.trials(t)); n != 0 {
		t.Errorf("%d Trials; want none", n)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestReconcileNotFound is (j).
func TestReconcileNotFound(t *testing.T) {
	f := newCtrlFixture(t, hooks{})
	if err := f.reconcile(t, stored(sweep().Obj())); err != nil {
		t.Errorf("Reconcile of a missing Experiment: %v; want no error", err)
	}
	if creates, patches, other, _ := f.writes(); creates != 0 || patches != 0 || other != 0 {
		t.Errorf("%d creates, %d status patches, %d other writes; want none", creates, patches, other)
	}
}

// TestReconcileInvalidSearchSpace checks that a space that cannot be
// enumerated fails the Experiment without error and creates nothing.
func TestReconcileInvalidSearchSpace(t *testing.T) {
	exp := stored(builder.MakeExperiment("bad", testNS).Values("lr", "0.1").Values("lr", "0.2").Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 0 {
		t.Errorf("%d creates; want none", creates)
	}
	got := f.experiment(t, exp)
	c := condition(got.Status.Conditions, crucible.ExperimentFailedCondition)
	if c.Status != metav1.ConditionTrue || c.Reason != crucible.ReasonInvalidSearchSpace || !strings.Contains(c.Message, `"lr"`) {
		t.Errorf("Failed condition = %+v; want True InvalidSearchSpace naming the parameter", c)
	}
	if got.Status.Phase != crucible.ExperimentFailed || got.Status.ObservedGeneration != 1 || got.Status.SpecDigest == "" {
		t.Errorf("phase %q, observedGeneration %d, specDigest %q; want Failed, 1, set", got.Status.Phase, got.Status.ObservedGeneration, got.Status.SpecDigest)
	}
	ev := f.events()
	if len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning Failed ") {
		t.Errorf("events = %q; want one Warning Failed", ev)
	}
	// A second pass changes nothing.
	f.mustReconcile(t, exp)
	if creates, patches, _, _ := f.writes(); creates != 0 || patches != 0 {
		t.Errorf("second pass: %d creates, %d status patches; want none", creates, patches)
	}
}

// TestReconcileParallelismRaised checks that raising parallelism starts
// the next indices at once.
func TestReconcileParallelismRaised(t *testing.T) {
	exp := stored(sweep().Parallelism(2).Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	latest := f.experiment(t, exp)
	latest.Spec.Parallelism = 5
	latest.Generation = 2
	if err := f.store.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	f.writes()
	f.mustReconcile(t, exp)
	if _, _, _, indices := f.writes(); !cmp.Equal([]int64{2, 3, 4}, indices) {
		t.Errorf("after raising parallelism to 5 the pass created indices %v; want [2 3 4]", indices)
	}
	if got := f.experiment(t, exp).Status.Trials; got.Active != 5 || got.Created != 5 {
		t.Errorf("counts = %+v; want 5 created and active", got)
	}
}

// TestReconcileSucceededIsFinal checks that lowering maxFailedTrials after
// an Experiment succeeded does not turn it Failed: Succeeded is final, and
// Failed and Succeeded are never both True.
func TestReconcileSucceededIsFinal(t *testing.T) {
	exp := stored(builder.MakeExperiment("small", testNS).Values("lr", "0.1", "0.01").Parallelism(2).MaxFailedTrials(1).Obj())
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	f.setTrialStatus(t, 0, crucible.TrialSucceeded, "0.2")
	f.setTrialStatus(t, 1, crucible.TrialFailed, "")
	f.mustReconcile(t, exp)
	if got := f.experiment(t, exp).Status.Phase; got != crucible.ExperimentSucceeded {
		t.Fatalf("phase = %q; want Succeeded", got)
	}
	f.events()

	latest := f.experiment(t, exp)
	latest.Spec.MaxFailedTrials = 0
	latest.Generation = 2
	if err := f.store.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(time.Minute)
	f.mustReconcile(t, exp)
	got := f.experiment(t, exp)
	if got.Status.Phase != crucible.ExperimentSucceeded {
		t.Errorf("phase after lowering maxFailedTrials = %q; want Succeeded: an ended Experiment's outcome is final", got.Status.Phase)
	}
	if c := condition(got.Status.Conditions, crucible.ExperimentFailedCondition); c.Status == metav1.ConditionTrue {
		t.Errorf("Failed condition = %+v; want not True while Succeeded is True", c)
	}
	if diff := diffEvents(nil, f.events()); diff != "" {
		t.Errorf("events after lowering maxFailedTrials (-want +got):\n%s", diff)
	}
}

// TestReconcileRecreatedExperiment checks an Experiment deleted and created
// again under the same name with a changed search space (the only way to
// change a pinned field), before the garbage collector removed the old
// Experiment's Trials. A Trial name depends on the Experiment's name, the
// parameters and the seed, not on the index, so an old Trial can hold the
// name of a new point at a different index. That is not a collision of the
// new search space: the new Experiment must wait for the old Trial to go,
// not fail for good.
func TestReconcileRecreatedExperiment(t *testing.T) {
	exp := stored(sweep().Obj())
	old := &crucible.Trial{
		ObjectMeta: metav1.ObjectMeta{
			Name: sweepTrialName(0), Namespace: testNS,
			Labels: map[string]string{crucible.ExperimentLabel: "sweep"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "crucible.dev/v1alpha1", Kind: "Experiment", Name: "sweep", UID: "uid-of-the-deleted-sweep",
				Controller: new(true), BlockOwnerDeletion: new(true),
			}},
		},
		// The same point and seed was index 3 of the old search space.
		Spec:   crucible.TrialSpec{Index: 3, Parameters: sweepParams(0), Seed: 7, Image: builder.Image},
		Status: crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.5"},
	}
	f := newCtrlFixture(t, hooks{}, exp, old)

	_ = f.reconcile(t, exp) // an error asking for a retry is fine
	got := f.experiment(t, exp)
	if c := condition(got.Status.Conditions, crucible.ExperimentFailedCondition); c.Status == metav1.ConditionTrue {
		t.Fatalf("Failed condition = %+v; want not True: the Trial in the way belongs to a deleted Experiment", c)
	}

	// The garbage collector removes the old Trial: index 0 starts.
	if err := f.store.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	f.writes()
	f.mustReconcile(t, exp)
	var found bool
	for _, tr := range f.trials(t) {
		if tr.Spec.Index == 0 && metav1.IsControlledBy(&tr, exp) {
			found = true
		}
	}
	if !found {
		t.Errorf("after the old Trial was deleted, no Trial of index 0 belongs to the Experiment; stored: %v", trialIndices(f.trials(t)))
	}
}

// TestReconcileLaggingCache: a pass whose cache does not show the Trials the
// previous pass created neither creates them again nor starts more than
// parallelism; once the cache shows them, nothing is expected any more.
func TestReconcileLaggingCache(t *testing.T) {
	exp := stored(sweep().Obj())
	lagging := true
	f := newCtrlFixture(t, hooks{list: func(list client.ObjectList) {
		if trials, ok := list.(*crucible.TrialList); ok && lagging {
			trials.Items = nil
		}
	}}, exp)

	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 8 {
		t.Fatalf("first pass: %d creates; want 8 (4 Trials, 4 Jobs)", creates)
	}
	f.mustReconcile(t, exp)
	if creates, _, _, indices := f.writes(); creates != 0 {
		t.Errorf("second pass on a cache without the Trials: %d creates (indices %v); want none", creates, indices)
	}
	if got := f.experiment(t, exp).Status.Trials; got.Created != 4 || got.Active != 4 {
		t.Errorf("counts on a lagging cache = %+v; want the 4 created, active", got)
	}

	// A cache that never shows them is believed after expectationTimeout.
	f.clock.Step(expectationTimeout + time.Second)
	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates == 0 {
		t.Errorf("no create past expectationTimeout; want the cache believed")
	}

	lagging = false
	f.mustReconcile(t, exp)
	if n := len(f.r.expected.pending); n != 0 {
		t.Errorf("%d Experiments still expected once the cache shows their Trials; want none", n)
	}
}
