package model

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// liveReader is the API server as the reconciler's reader sees it: the
// Model's metadata with its managedFields, which the cache drops.
type liveReader struct {
	mu         sync.Mutex
	generation int64 // 0: the stored Model's
	managed    []metav1.ManagedFieldsEntry
	err        error
	reads      int
	store      client.Reader
}

func (l *liveReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	if l.err != nil {
		return l.err
	}
	meta, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return errors.New("liveReader: only metadata is read from the API server")
	}
	m := &crucible.Model{}
	if err := l.store.Get(ctx, key, m, opts...); err != nil {
		return err
	}
	meta.ObjectMeta = *m.ObjectMeta.DeepCopy()
	meta.ManagedFields = l.managed
	if l.generation != 0 {
		meta.Generation = l.generation
	}
	return nil
}

func (l *liveReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("liveReader: not listed")
}

// fixture is a Reconciler on a fake client with the production indexes
// and the status subresource, a live reader, a fake recorder and clock,
// and a count of status writes.
type fixture struct {
	store    client.Client
	r        *Reconciler
	live     *liveReader
	recorder *events.FakeRecorder
	clock    *clocktesting.FakeClock
	// patchErr, when set, fails status patches.
	patchErr      error
	statusPatches int
	otherWrites   int
}

func newFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	store := builder.NewClientBuilder(objs...).WithStatusSubresource(&crucible.Model{}, &crucible.ModelVersion{}).Build()
	f := &fixture{store: store, recorder: events.NewFakeRecorder(32), clock: clocktesting.NewFakeClock(t0)}
	f.live = &liveReader{store: store}
	c := interceptor.NewClient(store, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if sub != "status" {
				f.otherWrites++
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			}
			f.statusPatches++
			if f.patchErr != nil {
				return f.patchErr
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			f.otherWrites++
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			f.otherWrites++
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			f.otherWrites++
			return c.Delete(ctx, obj, opts...)
		},
	})
	f.r = NewReconciler(c, f.recorder, WithClock(f.clock), WithAPIReader(f.live))
	return f
}

func (f *fixture) reconcile(t *testing.T, name string) ctrl.Result {
	t.Helper()
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: testNS, Name: name}})
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return res
}

func (f *fixture) model(t *testing.T, name string) *crucible.Model {
	t.Helper()
	m := &crucible.Model{}
	if err := f.store.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: name}, m); err != nil {
		t.Fatalf("getting Model %s: %v", name, err)
	}
	return m
}

func (f *fixture) events() []string {
	var got []string
	for {
		select {
		case e := <-f.recorder.Events:
			got = append(got, e)
		default:
			return got
		}
	}
}

func TestReconcileResolvesAndRecords(t *testing.T) {
	created := t0.Add(-time.Hour)
	f := newFixture(t,
		makeModel("resnet").alias("champion", 1).Obj(),
		makeVersion("resnet", 1).objective("0.31").ready("pvc://models/resnet/v1/", "sha256:"+sha('1')).Obj(),
		makeVersion("resnet", 2).Obj(),
		// Not resnet's: another model's, and one of another namespace.
		makeVersion("vgg", 7).ready("pvc://models/vgg/v7/", "").Obj(),
		makeVersion("resnet", 9).namespace("other").ready("pvc://other/", "").Obj(),
	)
	f.live.managed = []metav1.ManagedFieldsEntry{
		managed("kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate, created, aliasFields("champion")),
	}

	f.reconcile(t, "resnet")
	got := f.model(t, "resnet").Status
	want := crucible.ModelStatus{
		ObservedGeneration: 1,
		Conditions: []metav1.Condition{{Type: crucible.ModelReadyCondition, Status: metav1.ConditionTrue,
			Reason: crucible.ReasonAliasesResolved, Message: "every alias resolves to a Ready version: champion → v1", ObservedGeneration: 1}},
		LatestVersion: 2,
		Versions:      2,
		Aliases: map[string]crucible.ResolvedAlias{"champion": {Version: 1, ModelVersion: "resnet-v1", Ready: true,
			URI: "pvc://models/resnet/v1/", ManifestDigest: "sha256:" + sha('1'), Objective: "0.31"}},
		History: []crucible.AliasMove{{Alias: "champion", To: 1, Manager: "kubectl-client-side-apply", Time: metav1.NewTime(t0)}},
	}
	if diff := cmp.Diff(want, got, ignoreTransitionTime); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Normal AliasMoved champion: none → v1 (by kubectl-client-side-apply)"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if f.statusPatches != 1 || f.otherWrites != 0 {
		t.Errorf("writes: %d status patches and %d others, want 1 and 0", f.statusPatches, f.otherWrites)
	}

	t.Run("a second pass with nothing new writes nothing and reads no managedFields", func(t *testing.T) {
		reads := f.live.reads
		f.clock.Step(time.Minute)
		f.reconcile(t, "resnet")
		if f.statusPatches != 1 {
			t.Errorf("status patches: %d, want still 1", f.statusPatches)
		}
		if f.live.reads != reads {
			t.Errorf("managedFields read %d more times, want none: no alias moved", f.live.reads-reads)
		}
		if e := f.events(); len(e) != 0 {
			t.Errorf("events: %q, want none", e)
		}
	})
}

func TestReconcileRecordsMoves(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Hour))
	v := func(n int32) *crucible.ModelVersion {
		return makeVersion("resnet", n).ready(fmt.Sprintf("pvc://models/resnet/v%d/", n), "").Obj()
	}
	// previous is the status the pass before wrote: champion at v3 since
	// an hour ago.
	previous := func() *modelWrapper {
		w := makeModel("resnet").generation(2).
			resolved("champion", crucible.ResolvedAlias{Version: 3, ModelVersion: "resnet-v3", Ready: true, URI: "pvc://models/resnet/v3/"})
		w.Status.History = []crucible.AliasMove{{Alias: "champion", From: 2, To: 3, Manager: "argocd-controller", Time: earlier}}
		return w
	}
	cases := []struct {
		name        string
		model       *crucible.Model
		managed     []metav1.ManagedFieldsEntry
		wantHistory []crucible.AliasMove
		wantEvents  []string
	}{
		{
			name:  "a rollback by kubectl",
			model: previous().alias("champion", 2).Obj(),
			managed: []metav1.ManagedFieldsEntry{
				managed("argocd-controller", metav1.ManagedFieldsOperationApply, earlier.Time, aliasFields()),
				managed("kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate, t0, aliasFields("champion")),
				statusManaged(earlier.Time),
			},
			wantHistory: []crucible.AliasMove{
				{Alias: "champion", From: 2, To: 3, Manager: "argocd-controller", Time: earlier},
				{Alias: "champion", From: 3, To: 2, Manager: "kubectl-client-side-apply", Time: metav1.NewTime(t0)},
			},
			wantEvents: []string{"Normal AliasMoved champion: v3 → v2 (by kubectl-client-side-apply)"},
		},
		{
			name:  "a removed alias and a new one, with no owner and with one",
			model: previous().alias("staging", 1).Obj(),
			managed: []metav1.ManagedFieldsEntry{
				managed("argocd-controller", metav1.ManagedFieldsOperationApply, t0, aliasFields("staging")),
			},
			wantHistory: []crucible.AliasMove{
				{Alias: "champion", From: 2, To: 3, Manager: "argocd-controller", Time: earlier},
				{Alias: "champion", From: 3, To: 0, Time: metav1.NewTime(t0)},
				{Alias: "staging", From: 0, To: 1, Manager: "argocd-controller", Time: metav1.NewTime(t0)},
			},
			wantEvents: []string{
				"Normal AliasMoved champion: v3 → none (by an unknown manager)",
				"Normal AliasMoved staging: none → v1 (by argocd-controller)",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.model, v(1), v(2), v(3))
			f.live.managed = tc.managed
			f.reconcile(t, "resnet")
			if diff := cmp.Diff(tc.wantHistory, f.model(t, "resnet").Status.History); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEvents, f.events()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReconcileReadyTransitions(t *testing.T) {
	f := newFixture(t,
		makeModel("resnet").alias("champion", 1).Obj(),
		makeVersion("resnet", 1).ready("pvc://v1/", "").Obj(),
	)
	f.reconcile(t, "resnet")
	f.events()

	// The alias moves to a version that does not exist yet.
	m := f.model(t, "resnet")
	m.Spec.Aliases["champion"] = 2
	m.Generation = 2
	if err := f.store.Update(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	f.reconcile(t, "resnet")
	wantFalse := `alias "champion" points at v2 (resnet-v2): no such version`
	if diff := cmp.Diff([]string{
		"Normal AliasMoved champion: v1 → v2 (by an unknown manager)",
		"Warning AliasUnresolved " + wantFalse,
	}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	got := f.model(t, "resnet").Status
	if diff := cmp.Diff(crucible.ResolvedAlias{Version: 2, ModelVersion: "resnet-v2"}, got.Aliases["champion"]); diff != "" {
		t.Errorf("champion (-want +got):\n%s", diff)
	}

	// The version appears and is Ready: the alias resolves, without a move.
	if err := f.store.Create(context.Background(), makeVersion("resnet", 2).ready("pvc://v2/", "").Obj()); err != nil {
		t.Fatal(err)
	}
	f.reconcile(t, "resnet")
	if diff := cmp.Diff([]string{"Normal AliasesResolved every alias resolves to a Ready version: champion → v2"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got := f.model(t, "resnet").Status; len(got.History) != 2 || got.Aliases["champion"].URI != "pvc://v2/" || got.LatestVersion != 2 {
		t.Errorf("status: history %d entries, champion %+v, latest %d; want 2, pvc://v2/, 2", len(got.History), got.Aliases["champion"], got.LatestVersion)
	}
}

func TestReconcileWritesNothing(t *testing.T) {
	gone := metav1.NewTime(t0)
	deleting := makeModel("resnet").alias("champion", 1).Obj()
	deleting.DeletionTimestamp = &gone
	deleting.Finalizers = []string{"example.com/hold"}

	cases := []struct {
		name      string
		objs      []client.Object
		live      func(*liveReader)
		patchErr  error
		wantRes   ctrl.Result
		wantErr   bool
		wantWrite int // status patches tried
	}{
		{name: "the Model is gone"},
		{name: "the Model is being deleted: its versions stay", objs: []client.Object{deleting}},
		{
			name: "the API server holds a newer generation: the update event brings the pass again",
			objs: []client.Object{makeModel("resnet").alias("champion", 1).Obj()},
			live: func(l *liveReader) { l.generation = 2 },
		},
		{
			name:    "managedFields cannot be read: an error, nothing recorded",
			objs:    []client.Object{makeModel("resnet").alias("champion", 1).Obj()},
			live:    func(l *liveReader) { l.err = apierrors.NewServiceUnavailable("etcd") },
			wantErr: true,
		},
		{
			name:      "the status write is refused as stale: retried, no events",
			objs:      []client.Object{makeModel("resnet").alias("champion", 1).Obj()},
			patchErr:  apierrors.NewConflict(schema.GroupResource{Group: crucible.GroupVersion.Group, Resource: "models"}, "resnet", errors.New("changed")),
			wantRes:   ctrl.Result{RequeueAfter: staleReadRetry},
			wantWrite: 1,
		},
		{
			name:      "the status write fails: an error, no events",
			objs:      []client.Object{makeModel("resnet").Obj()},
			patchErr:  apierrors.NewServiceUnavailable("etcd"),
			wantErr:   true,
			wantWrite: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.objs...)
			if tc.live != nil {
				tc.live(f.live)
			}
			f.patchErr = tc.patchErr
			res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: testNS, Name: "resnet"}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Reconcile: error %v, want error %v", err, tc.wantErr)
			}
			if res != tc.wantRes {
				t.Errorf("result: %+v, want %+v", res, tc.wantRes)
			}
			if f.statusPatches != tc.wantWrite || f.otherWrites != 0 {
				t.Errorf("writes: %d status patches, %d others; want %d and 0", f.statusPatches, f.otherWrites, tc.wantWrite)
			}
			if e := f.events(); len(e) != 0 {
				t.Errorf("events: %q, want none", e)
			}
		})
	}
}

func TestModelOf(t *testing.T) {
	got := modelOf(context.Background(), makeVersion("resnet", 3).namespace("team-a").Obj())
	want := []ctrl.Request{{NamespacedName: types.NamespacedName{Namespace: "team-a", Name: "resnet"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modelOf (-want +got):\n%s", diff)
	}
	if got := modelOf(context.Background(), makeModel("resnet").Obj()); got != nil {
		t.Errorf("modelOf(a Model) = %v, want nil", got)
	}
}

func TestVersionChanged(t *testing.T) {
	base := makeVersion("resnet", 1).Obj()
	cases := []struct {
		name  string
		after func(*crucible.ModelVersion)
		want  bool
	}{
		{name: "a label", after: func(v *crucible.ModelVersion) { v.Labels["team"] = "a" }, want: false},
		{name: "a finalizer added", after: func(v *crucible.ModelVersion) { v.Finalizers = []string{crucible.ModelArtifactsFinalizer} }, want: false},
		{name: "Ready", after: func(v *crucible.ModelVersion) { *v = *(&versionWrapper{*v}).ready("s3://b/v1/", "").Obj() }, want: true},
		{name: "Failed", after: func(v *crucible.ModelVersion) { *v = *(&versionWrapper{*v}).failed(crucible.ReasonSourceMissing).Obj() }, want: true},
		{name: "deletion started", after: func(v *crucible.ModelVersion) { *v = *(&versionWrapper{*v}).deleting().Obj() }, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			after := base.DeepCopy()
			tc.after(after)
			if got := versionChanged.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: after}); got != tc.want {
				t.Errorf("versionChanged.Update = %v, want %v", got, tc.want)
			}
		})
	}
	if !versionChanged.Create(event.CreateEvent{Object: base}) || !versionChanged.Delete(event.DeleteEvent{Object: base}) {
		t.Error("versionChanged passes neither creation nor deletion; want both")
	}
}
