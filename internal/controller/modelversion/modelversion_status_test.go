package modelversion

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/health"
)

func TestPlanCopy(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*crucible.ModelVersion)
		want    copyPlan
		wantErr string
	}{
		{name: "a trial of the namespace", mutate: func(*crucible.ModelVersion) {},
			want: copyPlan{bucket: "runs", src: trialPrefix, dst: modelPrefix}},
		{name: "another version's copy", mutate: func(mv *crucible.ModelVersion) {
			mv.Spec.Artifacts.URI = "s3://runs/sweeps/ml/models/resnet/v2/"
		}, want: copyPlan{bucket: "runs", src: "sweeps/ml/models/resnet/v2/", dst: modelPrefix}},
		{name: "store prefix with slashes", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Store.Prefix = "/sweeps/" },
			want: copyPlan{bucket: "runs", src: trialPrefix, dst: modelPrefix}},
		{name: "no store prefix", mutate: func(mv *crucible.ModelVersion) {
			mv.Spec.Store.Prefix = ""
			mv.Spec.Artifacts.URI = "s3://runs/ml/e/uid/t/uid/"
		}, want: copyPlan{bucket: "runs", src: "ml/e/uid/t/uid/", dst: "ml/models/resnet/v3/"}},
		{name: "no artifacts", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts = nil },
			wantErr: "the version records no artifacts (spec.artifacts) to copy into spec.store"},
		{name: "a PVC", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "pvc://claim/ml/e/" },
			wantErr: `spec.artifacts.uri: "pvc://claim/ml/e/" is not an s3:// URI`},
		{name: "the whole bucket", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "s3://runs/" },
			wantErr: "names no key prefix"},
		{name: "not a prefix", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "s3://runs/sweeps/ml/e/model.bin" },
			wantErr: "does not end in /"},
		{name: "another bucket", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "s3://other/" + trialPrefix },
			wantErr: `is in the bucket "other", not in spec.store's "runs"`},
		{name: "another namespace", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "s3://runs/sweeps/ml2/e/uid/t/uid/" },
			wantErr: "is not under s3://runs/sweeps/ml/: a version copies artifacts of its own namespace only"},
		{name: "outside the store's prefix", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "s3://runs/ml/e/uid/t/uid/" },
			wantErr: "is not under s3://runs/sweeps/ml/"},
		{name: "a namespace that starts like it", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "s3://runs/sweeps/ml-2/e/u/t/u/" },
			wantErr: "is not under s3://runs/sweeps/ml/"},
		{name: "its own copy", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "s3://runs/" + modelPrefix },
			wantErr: "one under the other"},
		{name: "every model", mutate: func(mv *crucible.ModelVersion) { mv.Spec.Artifacts.URI = "s3://runs/sweeps/ml/models/" },
			wantErr: "one under the other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mv := makeVersion()
			tc.mutate(mv)
			got, err := planCopy(mv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("planCopy = %+v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(copyPlan{})); diff != "" {
				t.Errorf("planCopy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestByteCount(t *testing.T) {
	for n, want := range map[int64]string{
		0:         "0 bytes",
		1023:      "1023 bytes",
		1024:      "1024 bytes, 1.0 KiB",
		1 << 30:   "1073741824 bytes, 1.0 GiB",
		3 << 39:   "1649267441664 bytes, 1.5 TiB",
		1<<62 + 1: "4611686018427387905 bytes, 4.0 EiB",
	} {
		if got := byteCount(n); got != want {
			t.Errorf("byteCount(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestStatusWritesBehind(t *testing.T) {
	key := types.NamespacedName{Namespace: testNS, Name: "resnet-v3"}
	now := testNow
	version := func(uid types.UID, phase crucible.ModelVersionPhase) *crucible.ModelVersion {
		mv := makeVersion()
		mv.UID, mv.Status.Phase = uid, phase
		return mv
	}
	cases := []struct {
		name  string
		wrote *crucible.ModelVersion // nil: nothing written
		read  *crucible.ModelVersion
		after time.Duration
		want  bool
	}{
		{name: "nothing written", read: version("u", "")},
		{name: "Ready written, Pending read", wrote: version("u", crucible.ModelVersionReady), read: version("u", crucible.ModelVersionPending), want: true},
		{name: "Failed written, no phase read", wrote: version("u", crucible.ModelVersionFailed), read: version("u", ""), want: true},
		{name: "Pending written, no phase read", wrote: version("u", crucible.ModelVersionPending), read: version("u", ""), want: true},
		{name: "Ready written and read", wrote: version("u", crucible.ModelVersionReady), read: version("u", crucible.ModelVersionReady)},
		{name: "Pending written, Ready read", wrote: version("u", crucible.ModelVersionPending), read: version("u", crucible.ModelVersionReady)},
		{name: "another version of the name", wrote: version("u", crucible.ModelVersionReady), read: version("u2", "")},
		{name: "past the timeout", wrote: version("u", crucible.ModelVersionReady), read: version("u", crucible.ModelVersionPending),
			after: cacheLagTimeout + time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newStatusWrites()
			if tc.wrote != nil {
				w.wrote(key, tc.wrote, now)
			}
			if got := w.behind(key, tc.read, now.Add(tc.after)); got != tc.want {
				t.Errorf("behind = %v; want %v", got, tc.want)
			}
			if tc.want {
				w.forget(key)
				if w.behind(key, tc.read, now) {
					t.Error("behind after forget; want not")
				}
			} else if len(w.last) != 0 {
				t.Errorf("remembered %v once caught up; want nothing", w.last)
			}
		})
	}
}

// Every status function leaves the conditions kstatus reads in step with
// the phase it sets: Reconciling until the version is Ready or Failed,
// Stalled once it Failed, both with Ready's reason and message.
func TestReconcilingAndStalled(t *testing.T) {
	now := metav1.NewTime(testNow)
	p, err := planCopy(makeVersion())
	if err != nil {
		t.Fatal(err)
	}
	copied := artifacts.NewManifest(newFakeStore(trialObjects).under(trialPrefix))
	gone := artifacts.NewManifest(nil)
	cases := []struct {
		name  string
		steps []func(*crucible.ModelVersion)
		// want is the type of the condition beside Ready, empty for none.
		want       string
		wantReason string
	}{
		{name: "the store refuses before the copy: Reconciling, StoreError",
			steps: []func(*crucible.ModelVersion){func(mv *crucible.ModelVersion) { setStoreError(mv, "refused", now) }},
			want:  crucible.ReconcilingCondition, wantReason: crucible.ReasonStoreError},
		{name: "copying: Reconciling, Copying",
			steps: []func(*crucible.ModelVersion){func(mv *crucible.ModelVersion) { setCopying(mv, p, now) }},
			want:  crucible.ReconcilingCondition, wantReason: crucible.ReasonCopying},
		{name: "a copy cut short: Reconciling, Copying",
			steps: []func(*crucible.ModelVersion){
				func(mv *crucible.ModelVersion) { setCopying(mv, p, now) },
				func(mv *crucible.ModelVersion) { setCopyProgress(mv, p, 1, 17, now) }},
			want: crucible.ReconcilingCondition, wantReason: crucible.ReasonCopying},
		{name: "copied and verified: neither",
			steps: []func(*crucible.ModelVersion){
				func(mv *crucible.ModelVersion) { setCopying(mv, p, now) },
				func(mv *crucible.ModelVersion) { setStoreError(mv, "refused", now) },
				func(mv *crucible.ModelVersion) { setCopied(mv, p, copied, now) }}},
		{name: "no store: neither",
			steps: []func(*crucible.ModelVersion){func(mv *crucible.ModelVersion) { setNoStore(mv, now) }}},
		{name: "the trial's artifacts are gone: Stalled, SourceMissing",
			steps: []func(*crucible.ModelVersion){
				func(mv *crucible.ModelVersion) { setCopying(mv, p, now) },
				func(mv *crucible.ModelVersion) { setCopied(mv, p, gone, now) }},
			want: crucible.StalledCondition, wantReason: crucible.ReasonSourceMissing},
		{name: "an invalid source: Stalled, InvalidSource",
			steps: []func(*crucible.ModelVersion){func(mv *crucible.ModelVersion) { setInvalidSource(mv, errors.New("no artifacts"), now) }},
			want:  crucible.StalledCondition, wantReason: crucible.ReasonInvalidSource},
		{name: "too many objects: Stalled, ArtifactsTooMany",
			steps: []func(*crucible.ModelVersion){
				func(mv *crucible.ModelVersion) { setCopying(mv, p, now) },
				func(mv *crucible.ModelVersion) { setTooMany(mv, p, errors.New("more than 10"), now) }},
			want: crucible.StalledCondition, wantReason: crucible.ReasonArtifactsTooMany},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mv := makeVersion()
			for _, step := range tc.steps {
				step(mv)
			}
			ready := meta.FindStatusCondition(mv.Status.Conditions, crucible.ModelVersionReadyCondition)
			if ready == nil {
				t.Fatal("no Ready condition")
			}
			for _, typ := range []string{crucible.ReconcilingCondition, crucible.StalledCondition} {
				c := meta.FindStatusCondition(mv.Status.Conditions, typ)
				switch {
				case typ != tc.want && c != nil:
					t.Errorf("%s = %+v with phase %q; want none", typ, *c, mv.Status.Phase)
				case typ != tc.want:
				case c == nil:
					t.Errorf("no %s condition with phase %q; want one", typ, mv.Status.Phase)
				case c.Status != metav1.ConditionTrue || c.Reason != tc.wantReason || c.Message != ready.Message:
					t.Errorf("%s = %s, %q, %q; want True, %q and Ready's message %q", typ, c.Status, c.Reason, c.Message, tc.wantReason, ready.Message)
				}
			}
		})
	}
}

// update rewrites the fixtures of internal/health from what the status
// functions compute now:
//
//	go test ./internal/controller/modelversion/ -run TestHealthFixtures -update
var update = flag.Bool("update", false, "rewrite internal/health/testdata/modelversion")

// TestHealthFixtures computes a ModelVersion's status in every phase, as
// the reconciler's passes do, and checks it against the fixtures that
// internal/health reads with kstatus and the Argo CD health check.
func TestHealthFixtures(t *testing.T) {
	now := metav1.NewTime(testNow)
	created := makeVersion()
	created.Generation = 1
	created.CreationTimestamp = metav1.NewTime(testNow.Add(-time.Minute))
	p, err := planCopy(created)
	if err != nil {
		t.Fatal(err)
	}
	copied := artifacts.NewManifest(newFakeStore(trialObjects).under(trialPrefix))
	changed := artifacts.NewManifest(newFakeStore(map[string]int64{trialPrefix + "model/weights.safetensors": 4000}).under(trialPrefix))

	fixtures := map[string]*crucible.ModelVersion{"created": created}
	pending := created.DeepCopy()
	setCopying(pending, p, now)
	fixtures["pending"] = pending

	storeError := created.DeepCopy()
	setStoreError(storeError, "opening the store to copy "+p.srcURI()+": dial tcp 10.0.0.9:9000: connect: connection refused", now)
	fixtures["store-error"] = storeError

	ready := pending.DeepCopy()
	setCopied(ready, p, copied, now)
	fixtures["ready"] = ready

	noStore := created.DeepCopy()
	noStore.Spec.Store = nil
	setNoStore(noStore, now)
	fixtures["ready-no-store"] = noStore

	failed := pending.DeepCopy()
	setCopied(failed, p, changed, now)
	fixtures["failed"] = failed

	for name, mv := range fixtures {
		if err := health.Fixture(mv, name, *update); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
