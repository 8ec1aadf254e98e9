package trial

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/provenance"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

// provenanceRun is endedRun with a Trial made from its Experiment's spec,
// as trialspec makes it, on a node with a GPU.
func provenanceRun(t *testing.T, exp *crucible.Experiment, o fixtureOptions) (*fixture, *crucible.Trial) {
	t.Helper()
	digest, err := specdigest.Compute(&exp.Spec)
	if err != nil {
		t.Fatal(err)
	}
	exp.Status.SpecDigest = digest
	trial := sweepTrial(exp)
	trial.Spec.ExperimentDigest = digest
	trial.Status = crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: trial.Name, ObservedGeneration: 1,
		StartTime: &metav1.Time{Time: t0}}
	pod := makePod(trial, trial.Name+"-x", t0).Terminated(0, "Completed", `{"val_loss": 0.25}`).Obj()
	pod.Spec.NodeName = "gpu-node-1"
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-node-1", Labels: map[string]string{
		"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "node.kubernetes.io/instance-type": "p5.48xlarge"}}}
	f := newFixture(t, o, exp, trial, makeJob(trial).Complete(now.Add(-1)).Obj(), pod, node)
	return f, trial
}

// TestReconcileWritesProvenance: the pass that records the end puts a
// signed record beside the artifacts and its digest on the Trial, in the
// one status write of the end.
func TestReconcileWritesProvenance(t *testing.T) {
	private, public, err := provenance.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := provenance.LoadSigner(private)
	if err != nil {
		t.Fatal(err)
	}
	exp := s3Experiment(false)
	stores := &fakeStores{}
	f, trial := provenanceRun(t, exp, fixtureOptions{stores: stores, signer: signer})

	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if _, patches, writes := f.calls.snapshot(); patches != 1 || writes != 1 {
		t.Errorf("%d status patches, %d writes; want the end's one: the record adds no write", patches, writes)
	}
	got := f.trial(t, trial).Status
	if got.Phase != crucible.TrialSucceeded || got.Provenance == nil {
		t.Fatalf("phase %s, provenance %+v; want Succeeded with a provenance", got.Phase, got.Provenance)
	}
	key := artifacts.ProvenanceKey("team", exp, trial)
	if want := "s3://runs/" + key; got.Provenance.URI != want {
		t.Errorf("provenance uri %q; want %q", got.Provenance.URI, want)
	}
	if got.Provenance.KeyID != signer.KeyID() {
		t.Errorf("keyID %q; want the signer's %q", got.Provenance.KeyID, signer.KeyID())
	}
	line, ok := stores.puts[key]
	if !ok {
		t.Fatalf("nothing put at %s; puts: %v", key, stores.puts)
	}
	rec, err := provenance.Verify(t.Context(), line, public)
	if err != nil {
		t.Fatalf("the record the operator wrote does not verify: %v", err)
	}
	if rec.PayloadDigest != got.Provenance.Digest {
		t.Errorf("record digest %s; the Trial says %s", rec.PayloadDigest, got.Provenance.Digest)
	}
	if rec.Metrics["val_loss"] != "0.25" || rec.Trial.UID != string(trial.UID) || rec.Run.NodeName != "gpu-node-1" ||
		rec.Run.GPU != "NVIDIA-H100-80GB-HBM3" || rec.Run.InstanceType != "p5.48xlarge" || rec.Run.ExitCode == nil || *rec.Run.ExitCode != 0 {
		t.Errorf("record: metrics %v, trial %+v, run %+v; want val_loss 0.25, the Trial's UID, the node, its GPU and type, exit 0",
			rec.Metrics, rec.Trial, rec.Run)
	}

	t.Run("a changed byte is refused", func(t *testing.T) {
		bad := []byte(strings.Replace(string(line), `"payload":"`, `"payload":"A`, 1))
		if _, err := provenance.Verify(t.Context(), bad, public); err == nil {
			t.Error("a changed envelope verified")
		}
	})
}

// TestReconcileProvenanceStoreRefuses: a store that refuses the record
// does not hold the end back; the record follows when the store is back.
func TestReconcileProvenanceStoreRefuses(t *testing.T) {
	exp := s3Experiment(false)
	stores := &fakeStores{putErr: errors.New("503 SlowDown")}
	f, trial := provenanceRun(t, exp, fixtureOptions{stores: stores})

	if _, err := f.reconcile(t, trial); err == nil || !strings.Contains(err.Error(), "SlowDown") {
		t.Fatalf("Reconcile error = %v; want the store's", err)
	}
	got := f.trial(t, trial)
	if got.Status.Phase != crucible.TrialSucceeded || got.Status.Provenance != nil {
		t.Fatalf("phase %s, provenance %+v; want the end recorded without a provenance", got.Status.Phase, got.Status.Provenance)
	}

	stores.putErr = nil
	if _, err := f.reconcile(t, got); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	got = f.trial(t, trial)
	if got.Status.Provenance == nil || got.Status.Provenance.URI == "" || got.Status.Provenance.KeyID != "" {
		t.Fatalf("provenance %+v; want it stored, unsigned", got.Status.Provenance)
	}
	rec, err := provenance.Read(stores.puts[artifacts.ProvenanceKey("team", exp, trial)])
	if err != nil || rec.Signed || rec.PayloadDigest != got.Status.Provenance.Digest {
		t.Errorf("stored record %+v, %v; want an unsigned record of digest %s", rec, err, got.Status.Provenance.Digest)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d; want %d after a clean pass", got.Status.ObservedGeneration, got.Generation)
	}
}

// TestReconcileProvenanceWithoutStore: the digest is recorded; there is
// nowhere to keep the record.
func TestReconcileProvenanceWithoutStore(t *testing.T) {
	exp := sweepExperiment().Obj()
	f, trial := provenanceRun(t, exp, fixtureOptions{})
	if _, err := f.reconcile(t, trial); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	p := f.trial(t, trial).Status.Provenance
	if p == nil || !strings.HasPrefix(p.Digest, "sha256:") || p.URI != "" || p.KeyID != "" {
		t.Errorf("provenance %+v; want a digest, no uri, no key", p)
	}
}
