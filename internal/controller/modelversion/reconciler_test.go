package modelversion

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/experiment"
	"github.com/crucible-dev/crucible/test/builder"
)

const (
	testNS = "ml"
	// trialPrefix is where the test versions' trial wrote, in the bucket
	// "runs" under the store prefix "sweeps"; modelPrefix is where
	// version 3 of the model "resnet" is copied.
	trialPrefix = "sweeps/ml/resnet-sweep/e-uid/resnet-sweep-3f9a1c2e/t-uid/"
	modelPrefix = "sweeps/ml/models/resnet/v3/"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// trialObjects is what the trial wrote, by key and size.
var trialObjects = map[string]int64{
	trialPrefix + "model/weights.safetensors": 4096,
	trialPrefix + "metrics.json":              17,
}

// trialDigest is the manifest digest of trialObjects as the fake store
// lists them.
func trialDigest() string {
	return artifacts.NewManifest(newFakeStore(trialObjects).under(trialPrefix)).Digest
}

// makeVersion is version 3 of resnet, promoted from a trial of an
// Experiment with an s3 store, as kubectl crucible promote writes it.
func makeVersion() *crucible.ModelVersion {
	return &crucible.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Name: "resnet-v3", Namespace: testNS, UID: "mv-uid",
			Labels: map[string]string{crucible.ModelLabel: "resnet"}},
		Spec: crucible.ModelVersionSpec{
			Model:   "resnet",
			Version: 3,
			Source:  crucible.ModelVersionSource{Experiment: "resnet-sweep", Trial: "resnet-sweep-3f9a1c2e", TrialUID: "t-uid"},
			Image:   "ghcr.io/acme/train@sha256:" + strings.Repeat("a", 64),
			Artifacts: &crucible.ModelVersionArtifacts{URI: "s3://runs/" + trialPrefix, ManifestDigest: trialDigest(),
				Objects: ptr.To[int64](2), Bytes: ptr.To[int64](4096 + 17)},
			Store: &crucible.S3ArtifactStore{Endpoint: "s3.example:9000", Bucket: "runs", Prefix: "sweeps",
				CredentialsSecret: crucible.SecretReference{Name: "creds"}},
		},
	}
}

type fixture struct {
	c        client.WithWatch
	r        *Reconciler
	store    *fakeStore
	recorder *events.FakeRecorder
	clock    *clocktesting.FakeClock
	// writes counts the API writes: patches, updates, creates, deletes.
	writes int
	// get, if set, answers a Get instead of the fake client.
	get func(key client.ObjectKey, obj client.Object) (handled bool, err error)
}

func newFixture(t *testing.T, st *fakeStore, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{store: st, recorder: events.NewFakeRecorder(32), clock: clocktesting.NewFakeClock(testNow)}
	base := fake.NewClientBuilder().WithScheme(builder.Scheme).
		WithStatusSubresource(&crucible.ModelVersion{}).WithObjects(objs...).Build()
	count := func() { f.writes++ }
	f.c = interceptor.NewClient(base, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if f.get != nil {
				if handled, err := f.get(key, obj); handled {
					return err
				}
			}
			return c.Get(ctx, key, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			count()
			return c.Patch(ctx, obj, patch, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count()
			return c.Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			count()
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			count()
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	f.r = NewReconciler(f.c, f.recorder, WithClock(f.clock), WithStores(st), WithArtifactDeletionTimeout(10*time.Minute))
	return f
}

func (f *fixture) pass(mv *crucible.ModelVersion) (ctrl.Result, error) {
	return f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mv)})
}

// version is the stored version, nil if it is gone.
func (f *fixture) version(t *testing.T, mv *crucible.ModelVersion) *crucible.ModelVersion {
	t.Helper()
	got := &crucible.ModelVersion{}
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(mv), got); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatal(err)
	}
	return got
}

// events drains the events recorded so far.
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

// ready is the stored version's Ready condition.
func (f *fixture) ready(t *testing.T, mv *crucible.ModelVersion) metav1.Condition {
	t.Helper()
	got := f.version(t, mv)
	if got == nil {
		t.Fatal("the version is gone")
	}
	c := meta.FindStatusCondition(got.Status.Conditions, crucible.ModelVersionReadyCondition)
	if c == nil {
		t.Fatalf("the version has no Ready condition: %+v", got.Status)
	}
	return *c
}

// promote runs passes until the version's phase is final, at most 5.
func (f *fixture) promote(t *testing.T, mv *crucible.ModelVersion) {
	t.Helper()
	for range 5 {
		if _, err := f.pass(mv); err != nil {
			t.Fatalf("pass: %v", err)
		}
		if isFinal(f.version(t, mv)) {
			return
		}
	}
	t.Fatalf("not final after 5 passes: %+v", f.version(t, mv).Status)
}

func TestPromoteCopiesAndVerifies(t *testing.T) {
	st := newFakeStore(trialObjects)
	st.objects[modelPrefix+"stale.bin"] = artifacts.Object{Key: modelPrefix + "stale.bin", Size: 1, ETag: "left by an earlier v3"}
	mv := makeVersion()
	f := newFixture(t, st, mv)

	// Adding the finalizer, emptying the model's prefix and going Pending in the first pass.
	if res, err := f.pass(mv); err != nil || res != (ctrl.Result{}) {
		t.Fatalf("first pass = %+v, %v; want no requeue, no error", res, err)
	}
	got := f.version(t, mv)
	if !controllerutil.ContainsFinalizer(got, crucible.ModelArtifactsFinalizer) {
		t.Errorf("finalizers %v; want %s", got.Finalizers, crucible.ModelArtifactsFinalizer)
	}
	if got.Status.Phase != crucible.ModelVersionPending {
		t.Errorf("phase %q; want Pending", got.Status.Phase)
	}
	c := f.ready(t, mv)
	want := "copying the artifacts from s3://runs/" + trialPrefix + " to s3://runs/" + modelPrefix
	if c.Status != metav1.ConditionFalse || c.Reason != crucible.ReasonCopying || c.Message != want {
		t.Errorf("Ready = %s %s %q; want False Copying %q", c.Status, c.Reason, c.Message, want)
	}
	if diff := cmp.Diff([]string{modelPrefix}, st.deleted); diff != "" {
		t.Errorf("prefixes emptied (-want +got):\n%s", diff)
	}
	if len(st.copies) != 0 {
		t.Errorf("copied in the first pass: %v", st.copies)
	}

	// Copying, verifying and going Ready in the second.
	if res, err := f.pass(mv); err != nil || res != (ctrl.Result{}) {
		t.Fatalf("second pass = %+v, %v; want no requeue, no error", res, err)
	}
	got = f.version(t, mv)
	if got.Status.Phase != crucible.ModelVersionReady {
		t.Fatalf("phase %q (%+v); want Ready", got.Status.Phase, got.Status.Conditions)
	}
	if diff := cmp.Diff([][2]string{{trialPrefix, modelPrefix}}, st.copies); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	wantArtifacts := &crucible.ModelVersionArtifacts{URI: "s3://runs/" + modelPrefix, ManifestDigest: trialDigest(),
		Objects: ptr.To[int64](2), Bytes: ptr.To[int64](4096 + 17)}
	if diff := cmp.Diff(wantArtifacts, got.Status.Artifacts); diff != "" {
		t.Errorf("status.artifacts (-want +got):\n%s", diff)
	}
	c = f.ready(t, mv)
	if c.Status != metav1.ConditionTrue || c.Reason != crucible.ReasonVerified || !strings.Contains(c.Message, trialDigest()) {
		t.Errorf("Ready = %s %s %q; want True Verified naming the digest", c.Status, c.Reason, c.Message)
	}
	for _, k := range []string{modelPrefix + "metrics.json", modelPrefix + "model/weights.safetensors"} {
		if _, ok := st.objects[k]; !ok {
			t.Errorf("the copy lacks %s; the bucket holds %v", k, st.keys())
		}
	}

	// Three writes writes: the finalizer, Pending and Ready, and one event.
	if f.writes != 3 {
		t.Errorf("%d API writes; want 3", f.writes)
	}
	if evs := f.events(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Normal Ready Verified: copied 2 objects") {
		t.Errorf("events %q; want one Normal Ready", evs)
	}

	// Nothing more.
	if _, err := f.pass(mv); err != nil {
		t.Fatal(err)
	}
	if f.writes != 3 || len(st.copies) != 1 {
		t.Errorf("a pass on a Ready version wrote %d times and copied %d times in all; want 3 and 1", f.writes, len(st.copies))
	}
}

func TestPromoteVerdicts(t *testing.T) {
	cases := []struct {
		name       string
		mutate     func(*crucible.ModelVersion, *fakeStore)
		wantPhase  crucible.ModelVersionPhase
		wantReason string
		wantInMsg  []string
		wantEvent  string
	}{
		{
			name: "the trial's artifacts changed: the digests differ",
			mutate: func(_ *crucible.ModelVersion, st *fakeStore) {
				st.objects[trialPrefix+"metrics.json"] = artifacts.Object{Key: trialPrefix + "metrics.json", Size: 17, ETag: "rewritten"}
			},
			wantPhase: crucible.ModelVersionFailed, wantReason: crucible.ReasonDigestMismatch,
			wantInMsg: []string{"not the trial's " + trialDigest(), "the copy at s3://runs/" + modelPrefix + " has the manifest digest sha256:"},
			wantEvent: "Warning Failed DigestMismatch",
		},
		{
			name: "the trial's artifacts are gone",
			mutate: func(_ *crucible.ModelVersion, st *fakeStore) {
				clear(st.objects)
			},
			wantPhase: crucible.ModelVersionFailed, wantReason: crucible.ReasonSourceMissing,
			wantInMsg: []string{"there are no objects under s3://runs/" + trialPrefix, "(2 objects, manifest digest " + trialDigest()},
			wantEvent: "Warning Failed SourceMissing",
		},
		{
			name: "the trial recorded no digest",
			mutate: func(mv *crucible.ModelVersion, _ *fakeStore) {
				mv.Spec.Artifacts.ManifestDigest = ""
			},
			wantPhase: crucible.ModelVersionReady, wantReason: crucible.ReasonUnverified,
			wantInMsg: []string{"the trial recorded no manifest digest to verify them against: the copy's is " + trialDigest()},
			wantEvent: "Normal Ready Unverified",
		},
		{
			name: "the trial wrote nothing, and recorded so",
			mutate: func(mv *crucible.ModelVersion, st *fakeStore) {
				clear(st.objects)
				mv.Spec.Artifacts.Objects, mv.Spec.Artifacts.Bytes = ptr.To[int64](0), ptr.To[int64](0)
				mv.Spec.Artifacts.ManifestDigest = emptyDigest
			},
			wantPhase: crucible.ModelVersionReady, wantReason: crucible.ReasonVerified,
			wantInMsg: []string{"copied 0 objects (0 bytes)"},
			wantEvent: "Normal Ready Verified",
		},
		{
			name: "too many objects",
			mutate: func(_ *crucible.ModelVersion, st *fakeStore) {
				st.copyErr = fmt.Errorf("copy objects under s3://runs/%s: %w: more than 1", trialPrefix, artifacts.ErrTooManyObjects)
			},
			wantPhase: crucible.ModelVersionFailed, wantReason: crucible.ReasonArtifactsTooMany,
			wantInMsg: []string{"--artifact-max-objects-per-trial", "too many objects: more than 1"},
			wantEvent: "Warning Failed ArtifactsTooMany",
		},
		{
			name:      "the URI is in another bucket",
			mutate:    func(mv *crucible.ModelVersion, _ *fakeStore) { mv.Spec.Artifacts.URI = "s3://other/" + trialPrefix },
			wantPhase: crucible.ModelVersionFailed, wantReason: crucible.ReasonInvalidSource,
			wantInMsg: []string{`is in the bucket "other", not in spec.store's "runs"`},
			wantEvent: "Warning Failed InvalidSource",
		},
		{
			name:      "no artifacts recorded",
			mutate:    func(mv *crucible.ModelVersion, _ *fakeStore) { mv.Spec.Artifacts = nil },
			wantPhase: crucible.ModelVersionFailed, wantReason: crucible.ReasonInvalidSource,
			wantInMsg: []string{"the version records no artifacts (spec.artifacts) to copy"},
			wantEvent: "Warning Failed InvalidSource",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newFakeStore(trialObjects)
			mv := makeVersion()
			tc.mutate(mv, st)
			f := newFixture(t, st, mv)
			f.promote(t, mv)
			got := f.version(t, mv)
			c := f.ready(t, mv)
			if got.Status.Phase != tc.wantPhase || c.Reason != tc.wantReason {
				t.Fatalf("phase %s, reason %s (%s); want %s, %s", got.Status.Phase, c.Reason, c.Message, tc.wantPhase, tc.wantReason)
			}
			for _, s := range tc.wantInMsg {
				if !strings.Contains(c.Message, s) {
					t.Errorf("Ready message %q does not say %q", c.Message, s)
				}
			}
			if (got.Status.Artifacts != nil) != (tc.wantPhase == crucible.ModelVersionReady) {
				t.Errorf("status.artifacts = %+v with phase %s; want it set when Ready only", got.Status.Artifacts, got.Status.Phase)
			}
			evs := f.events()
			if len(evs) != 1 || !strings.HasPrefix(evs[0], tc.wantEvent) {
				t.Errorf("events %q; want one %q", evs, tc.wantEvent)
			}
		})
	}
}

func TestVersionWithoutStore(t *testing.T) {
	for name, artifacts := range map[string]*crucible.ModelVersionArtifacts{
		"with the trial's URI": {URI: "pvc://datasets/ml/resnet-sweep/e-uid/resnet-sweep-3f9a1c2e/t-uid/", ManifestDigest: trialDigest()},
		"without artifacts":    nil,
	} {
		t.Run(name, func(t *testing.T) {
			st := newFakeStore(trialObjects)
			mv := makeVersion()
			mv.Spec.Store, mv.Spec.Artifacts = nil, artifacts
			f := newFixture(t, st, mv)
			if res, err := f.pass(mv); err != nil || res != (ctrl.Result{}) {
				t.Fatalf("pass = %+v, %v; want no requeue, no error", res, err)
			}
			got := f.version(t, mv)
			c := f.ready(t, mv)
			if got.Status.Phase != crucible.ModelVersionReady || c.Status != metav1.ConditionTrue || c.Reason != crucible.ReasonNoStore {
				t.Errorf("phase %s, Ready %s %s; want Ready, True NoStore", got.Status.Phase, c.Status, c.Reason)
			}
			if diff := cmp.Diff(artifacts, got.Status.Artifacts); diff != "" {
				t.Errorf("status.artifacts, the trial's (-want +got):\n%s", diff)
			}
			if artifacts != nil && !strings.Contains(c.Message, "they stay at "+artifacts.URI+", which the Experiment's retention or deletion may delete") {
				t.Errorf("Ready message %q does not say where the artifacts stay and that retention may delete them", c.Message)
			}
			if len(got.Finalizers) != 0 || f.writes != 1 || len(st.opened) != 0 {
				t.Errorf("finalizers %v, %d writes, stores opened %v; want none, 1, none", got.Finalizers, f.writes, st.opened)
			}
			if evs := f.events(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Normal Ready NoStore") {
				t.Errorf("events %q; want one Normal Ready NoStore", evs)
			}
		})
	}
}

// TestStoreErrorsAreRetried: a store that cannot be opened or refuses
// keeps the version at its phase with Ready False StoreError, returns the
// error for a retry with backoff, and says so in one event, not one per
// retry; once the store answers, the promotion goes on.
func TestStoreErrorsAreRetried(t *testing.T) {
	refused := errors.New("list objects under s3://runs/...: dial tcp 127.0.0.1:9000: connect: connection refused")
	cases := []struct {
		name      string
		fail      func(*fakeStore, error)
		heal      func(*fakeStore)
		wantPhase crucible.ModelVersionPhase
		wantMsg   string
	}{
		{name: "the Secret is gone", fail: func(s *fakeStore, err error) { s.openErr = err }, heal: func(s *fakeStore) { s.openErr = nil },
			wantMsg: "opening the store to copy s3://runs/" + trialPrefix},
		{name: "the store is down at the first step", fail: func(s *fakeStore, err error) { s.deleteErr = err }, heal: func(s *fakeStore) { s.deleteErr = nil },
			wantMsg: "emptying the model's prefix s3://runs/" + modelPrefix + " before the copy"},
		{name: "the copy fails", fail: func(s *fakeStore, err error) { s.copyErr = err }, heal: func(s *fakeStore) { s.copyErr = nil },
			wantPhase: crucible.ModelVersionPending, wantMsg: "copying s3://runs/" + trialPrefix + " to s3://runs/" + modelPrefix},
		{name: "the copy cannot be listed", fail: func(s *fakeStore, err error) { s.manifestErr = err }, heal: func(s *fakeStore) { s.manifestErr = nil },
			wantPhase: crucible.ModelVersionPending, wantMsg: "listing the copy at s3://runs/" + modelPrefix},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newFakeStore(trialObjects)
			mv := makeVersion()
			f := newFixture(t, st, mv)
			if tc.wantPhase == crucible.ModelVersionPending {
				if _, err := f.pass(mv); err != nil {
					t.Fatal(err)
				}
				f.events()
			}
			tc.fail(st, refused)
			for i := range 3 {
				if _, err := f.pass(mv); !errors.Is(err, refused) {
					t.Fatalf("pass %d = %v; want the store's error, retried with backoff", i, err)
				}
			}
			got := f.version(t, mv)
			c := f.ready(t, mv)
			if got.Status.Phase != tc.wantPhase || c.Status != metav1.ConditionFalse || c.Reason != crucible.ReasonStoreError ||
				!strings.Contains(c.Message, tc.wantMsg) || !strings.Contains(c.Message, "connection refused") {
				t.Errorf("phase %q, Ready %s %s %q; want %q, False StoreError saying %q and why", got.Status.Phase, c.Status, c.Reason, c.Message,
					tc.wantPhase, tc.wantMsg)
			}
			if evs := f.events(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning StoreError") {
				t.Errorf("events %q; want one Warning StoreError for three failed passes", evs)
			}
			tc.heal(st)
			f.promote(t, mv)
			if c := f.ready(t, mv); c.Reason != crucible.ReasonVerified {
				t.Errorf("once the store answers: Ready %s %s; want Verified", c.Status, c.Reason)
			}
		})
	}
}

// TestCopyCutShortGoesOn: a copy the store's timeout ends after it copied
// something is not an error: the version stays Copying, says how far the
// last call went, and the next pass goes on from there.
func TestCopyCutShortGoesOn(t *testing.T) {
	st := newFakeStore(trialObjects)
	mv := makeVersion()
	f := newFixture(t, st, mv)
	if _, err := f.pass(mv); err != nil {
		t.Fatal(err)
	}
	st.copyLimit = 1
	st.copyErr = fmt.Errorf("copy objects under ...: not done within the operator's 30s timeout: %w", context.DeadlineExceeded)
	res, err := f.pass(mv)
	if err != nil || res.RequeueAfter != resumeDelay {
		t.Fatalf("pass cut short = %+v, %v; want a requeue after %v, no error", res, err, resumeDelay)
	}
	c := f.ready(t, mv)
	if c.Reason != crucible.ReasonCopying || !strings.Contains(c.Message, "the last call copied 1 objects") {
		t.Errorf("Ready %s %q; want Copying, saying how far the last call went", c.Reason, c.Message)
	}
	st.copyLimit, st.copyErr = 0, nil
	f.promote(t, mv)
	if c := f.ready(t, mv); c.Reason != crucible.ReasonVerified {
		t.Errorf("Ready %s %q; want Verified", c.Reason, c.Message)
	}
	if evs := f.events(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Normal Ready") {
		t.Errorf("events %q; want one Normal Ready and no StoreError", evs)
	}
}

// TestStaleCacheCopiesOnce: a pass that reads the version from a cache
// that does not show the Ready this process wrote yet does not copy again.
func TestStaleCacheCopiesOnce(t *testing.T) {
	st := newFakeStore(trialObjects)
	mv := makeVersion()
	f := newFixture(t, st, mv)
	if _, err := f.pass(mv); err != nil {
		t.Fatal(err)
	}
	pending := f.version(t, mv)
	if _, err := f.pass(mv); err != nil {
		t.Fatal(err)
	}
	if got := f.version(t, mv); got.Status.Phase != crucible.ModelVersionReady {
		t.Fatalf("phase %s; want Ready", got.Status.Phase)
	}
	f.get = func(_ client.ObjectKey, obj client.Object) (bool, error) {
		pending.DeepCopyInto(obj.(*crucible.ModelVersion))
		return true, nil
	}
	res, err := f.pass(mv)
	if err != nil || res.RequeueAfter != staleReadRetry {
		t.Errorf("pass on a stale read = %+v, %v; want a requeue after %v", res, err, staleReadRetry)
	}
	if len(st.copies) != 1 || f.writes != 3 {
		t.Errorf("%d copies, %d writes; want 1 and 3: the stale read is not acted on", len(st.copies), f.writes)
	}

	// Past cacheLagTimeout the cache is believed: the copy is made again,
	// copies nothing new, and the stale status write is refused.
	f.clock.Step(cacheLagTimeout + time.Second)
	if _, err := f.pass(mv); err != nil {
		t.Fatal(err)
	}
	if len(st.copies) != 2 {
		t.Errorf("%d copies; want 2 once the cache is believed", len(st.copies))
	}
	f.get = nil
	if got := f.version(t, mv); got.Status.Phase != crucible.ModelVersionReady {
		t.Errorf("phase %s; want Ready still", got.Status.Phase)
	}
}

// deletedVersion is a Ready version of the fixture's store, deleted at
// when, held by the finalizer.
func deletedVersion(t *testing.T, st *fakeStore, when time.Time) (*fixture, *crucible.ModelVersion) {
	t.Helper()
	mv := makeVersion()
	f := newFixture(t, st, mv)
	f.promote(t, mv)
	f.events()
	mv = f.version(t, mv)
	if err := f.c.Delete(context.Background(), mv); err != nil {
		t.Fatal(err)
	}
	mv = f.version(t, mv)
	if mv == nil || mv.DeletionTimestamp.IsZero() {
		t.Fatalf("deleted version %+v; want it held by its finalizer", mv)
	}
	// The fake client stamps the deletion with the real time.
	f.clock.SetTime(mv.DeletionTimestamp.Add(time.Since(when)))
	return f, mv
}

func TestDeletionDeletesTheCopy(t *testing.T) {
	st := newFakeStore(trialObjects)
	f, mv := deletedVersion(t, st, time.Now())
	st.deleted = nil
	if _, err := f.pass(mv); err != nil {
		t.Fatal(err)
	}
	if got := f.version(t, mv); got != nil {
		t.Errorf("the version is still there: %+v", got.ObjectMeta)
	}
	if diff := cmp.Diff([]string{modelPrefix}, st.deleted); diff != "" {
		t.Errorf("prefixes deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{trialPrefix + "metrics.json", trialPrefix + "model/weights.safetensors"}, st.keys()); diff != "" {
		t.Errorf("the bucket (-want +got): the trial's artifacts are the Experiment's to delete\n%s", diff)
	}
}

// TestDeletionGivesUpAfterTimeout: a deleted version whose copy cannot be
// deleted keeps its finalizer, with Ready False StoreError and one event,
// until the deletion timeout has passed since its deletionTimestamp by the
// injected clock; then it goes, and a Warning event says the copy is left.
func TestDeletionGivesUpAfterTimeout(t *testing.T) {
	refused := errors.New("delete objects under s3://runs/sweeps/ml/models/resnet/v3/: connection refused")
	st := newFakeStore(trialObjects)
	f, mv := deletedVersion(t, st, time.Now().Add(-time.Minute))
	st.deleteErr = refused
	for i := range 8 {
		if _, err := f.pass(mv); !errors.Is(err, refused) {
			t.Fatalf("pass %d, %v after the deletion: %v; want the store's error", i, f.clock.Since(mv.DeletionTimestamp.Time), err)
		}
		f.clock.Step(time.Minute)
	}
	c := f.ready(t, mv)
	if c.Reason != crucible.ReasonStoreError || !strings.Contains(c.Message, "deleting the model's copy under s3://runs/"+modelPrefix) ||
		!strings.Contains(c.Message, "retried until "+mv.DeletionTimestamp.Add(10*time.Minute).UTC().Format(time.RFC3339)) {
		t.Errorf("Ready %s %q; want StoreError saying what and until when", c.Reason, c.Message)
	}
	if evs := f.events(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning StoreError") {
		t.Errorf("events %q; want one Warning StoreError", evs)
	}
	f.clock.Step(time.Minute) // 10 minutes after the deletion
	if _, err := f.pass(mv); err != nil {
		t.Fatalf("pass after the timeout: %v; want none", err)
	}
	if got := f.version(t, mv); got != nil {
		t.Errorf("the version is still there after the timeout: %+v", got.ObjectMeta)
	}
	evs := f.events()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning ArtifactsAbandoned the model's copy under s3://runs/"+modelPrefix+" is left in the store") {
		t.Errorf("events %q; want one Warning ArtifactsAbandoned", evs)
	}
}

func TestDefaultArtifactDeletionTimeoutIsTheExperiments(t *testing.T) {
	if DefaultArtifactDeletionTimeout != experiment.DefaultArtifactDeletionTimeout {
		t.Errorf("DefaultArtifactDeletionTimeout = %v; want the Experiment reconciler's %v: one flag sets both",
			DefaultArtifactDeletionTimeout, experiment.DefaultArtifactDeletionTimeout)
	}
	r := NewReconciler(nil, nil, WithArtifactDeletionTimeout(0), WithStores(nil))
	if r.deletionTimeout != DefaultArtifactDeletionTimeout || r.stores == nil {
		t.Errorf("NewReconciler with zero options: timeout %v, stores %v; want the defaults", r.deletionTimeout, r.stores)
	}
}
