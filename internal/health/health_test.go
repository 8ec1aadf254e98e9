package health

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

// fixture reads testdata/<name>.yaml as a GitOps tool reads an object from
// the API server: unstructured, its integers int64.
func fixture(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

// healthCase is what kstatus and the Argo CD health check say of a
// fixture, an object the operator's status functions computed.
type healthCase struct {
	// fixture is testdata/<fixture>.yaml: <kind>/<name>.
	fixture string
	// kstatus is kstatus.Compute's status, and a part of its message.
	kstatus        kstatus.Status
	kstatusMessage string
	// argo is the Argo CD health check's status and message.
	argo        string
	argoMessage string
}

var healthCases = []healthCase{
	// An object the operator has not written a status for yet is Current
	// for kstatus: no observedGeneration to compare, no condition. The
	// Argo CD checks say Progressing.
	{fixture: "experiment/created", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is current",
		argo: "Progressing", argoMessage: "Waiting for the operator to observe the Experiment"},
	{fixture: "experiment/pending", kstatus: kstatus.InProgressStatus,
		kstatusMessage: "waiting for the dataset's verification: Job resnet-sweep-verify is hashing the dataset",
		argo:           "Progressing",
		argoMessage:    "Pending: waiting for the dataset's verification: Job resnet-sweep-verify is hashing the dataset pvc://datasets/cifar10"},
	{fixture: "experiment/running", kstatus: kstatus.InProgressStatus, kstatusMessage: "1 of 4 trials ended, 1 active",
		argo: "Progressing", argoMessage: "Running: 1 of 4 trials ended, 1 active"},
	{fixture: "experiment/running-spec-not-observed", kstatus: kstatus.InProgressStatus,
		kstatusMessage: "Experiment generation is 2, but latest observed generation is 1",
		argo:           "Progressing", argoMessage: "Waiting for the operator to observe generation 2"},
	// Suspended is where the spec says the Experiment should be.
	{fixture: "experiment/suspended", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is current",
		argo: "Suspended", argoMessage: "spec.suspend is true: no new trials start; running trials finish"},
	{fixture: "experiment/succeeded", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is current",
		argo: "Healthy", argoMessage: "all 4 trials ended: 3 succeeded, 1 failed; best trial resnet-sweep-000000000001: val_loss=0.27"},
	// Failed with a trial still running: it finishes, the outcome stands.
	{fixture: "experiment/failed", kstatus: kstatus.FailedStatus,
		kstatusMessage: "1 trials failed, more than maxFailedTrials (0)",
		argo:           "Degraded",
		argoMessage: "MaxFailedTrialsExceeded: 1 trials failed, more than maxFailedTrials (0): no new trials start; " +
			"1 running trials finish and are recorded"},
	{fixture: "experiment/failed-invalid-template", kstatus: kstatus.FailedStatus,
		kstatusMessage: "the API server refuses the trials' Job",
		argo:           "Degraded",
		argoMessage: `InvalidTemplate: the API server refuses the trials' Job: Job.batch "resnet-sweep-000000000000" is invalid: ` +
			`spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`},

	// A Trial whose Pod waits its turn has no status until it runs.
	{fixture: "trial/created", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is current",
		argo: "Progressing", argoMessage: "Waiting for the trial's Pod to start"},
	{fixture: "trial/pending", kstatus: kstatus.InProgressStatus, kstatusMessage: "cannot be scheduled",
		argo:        "Progressing",
		argoMessage: "Unschedulable: Pod resnet-0123456789ab-x7k2p cannot be scheduled: 0/20 nodes are available: 20 Insufficient nvidia.com/gpu."},
	// A queue (Kueue) holds the trial's Job, suspended.
	{fixture: "trial/pending-queued", kstatus: kstatus.InProgressStatus, kstatusMessage: "a queueing system may be holding it",
		argo: "Suspended", argoMessage: "Suspended: the Job is suspended; a queueing system may be holding it: Job suspended"},
	{fixture: "trial/pending-kueue", kstatus: kstatus.InProgressStatus, kstatusMessage: "waiting for Kueue to admit the Job",
		argo: "Suspended", argoMessage: "Queued: waiting for Kueue to admit the Job from LocalQueue team-a-gpus: Job suspended"},
	// Kueue preempted the running trial; it runs again once admitted.
	{fixture: "trial/pending-preempted", kstatus: kstatus.InProgressStatus, kstatusMessage: "preempted after attempt 1",
		argo: "Suspended",
		argoMessage: "Queued: preempted after attempt 1: the Job was suspended while its trainer ran and runs again " +
			"from the start when admitted: Job suspended"},
	{fixture: "trial/running", kstatus: kstatus.InProgressStatus, kstatusMessage: "Job resnet-0123456789ab runs the trainer",
		argo: "Progressing", argoMessage: "Running: Job resnet-0123456789ab runs the trainer"},
	{fixture: "trial/running-artifacts-not-listed", kstatus: kstatus.InProgressStatus,
		kstatusMessage: "the run ended but its artifacts could not be listed",
		argo:           "Progressing",
		argoMessage: "StoreError: the run ended but its artifacts could not be listed: list objects under s3://ml/ml/: " +
			"dial tcp 10.0.0.1:443: connect: connection refused"},
	{fixture: "trial/succeeded", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is current",
		argo: "Healthy", argoMessage: "val_loss=0.231"},
	{fixture: "trial/failed", kstatus: kstatus.FailedStatus, kstatusMessage: "the trainer exited with code 1",
		argo:        "Degraded",
		argoMessage: `ExitCode: the trainer exited with code 1; its last output: "RuntimeError: CUDA error: an illegal memory access was encountered"`},
	{fixture: "trial/failed-job-missing", kstatus: kstatus.FailedStatus, kstatusMessage: "was deleted before the run ended",
		argo: "Degraded", argoMessage: "JobMissing: job resnet-0123456789ab was deleted before the run ended; a trial is never run twice"},

	// A ModelVersion's spec never changes: it has no observedGeneration.
	{fixture: "modelversion/created", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is current",
		argo: "Progressing", argoMessage: "Waiting for the operator to copy the version's artifacts"},
	{fixture: "modelversion/store-error", kstatus: kstatus.InProgressStatus, kstatusMessage: "connection refused",
		argo: "Progressing",
		argoMessage: "StoreError: opening the store to copy s3://runs/sweeps/ml/resnet-sweep/e-uid/resnet-sweep-3f9a1c2e/t-uid/: " +
			"dial tcp 10.0.0.9:9000: connect: connection refused"},
	{fixture: "modelversion/pending", kstatus: kstatus.InProgressStatus, kstatusMessage: "copying the artifacts",
		argo: "Progressing",
		argoMessage: "Copying: copying the artifacts from s3://runs/sweeps/ml/resnet-sweep/e-uid/resnet-sweep-3f9a1c2e/t-uid/ " +
			"to s3://runs/sweeps/ml/models/resnet/v3/"},
	{fixture: "modelversion/ready", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is Ready",
		argo: "Healthy",
		argoMessage: "copied 2 objects (4113 bytes, 4.0 KiB) to s3://runs/sweeps/ml/models/resnet/v3/; their manifest digest is the trial's, " +
			"sha256:44909ad60b104e8b2994100088405ef91bbc1dca4b434207200c4cc7f81e3bf3"},
	{fixture: "modelversion/ready-no-store", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is Ready",
		argo: "Healthy",
		argoMessage: "the version has no store (spec.store) to copy the trial's artifacts into: they stay at " +
			"s3://runs/sweeps/ml/resnet-sweep/e-uid/resnet-sweep-3f9a1c2e/t-uid/, which the Experiment's retention or deletion may delete"},
	{fixture: "modelversion/failed", kstatus: kstatus.FailedStatus, kstatusMessage: "changed after the trial recorded them",
		argo: "Degraded",
		argoMessage: "DigestMismatch: the copy at s3://runs/sweeps/ml/models/resnet/v3/ has the manifest digest " +
			"sha256:09b72158607097a7e437e56405305f6d1755232b6f13ea214f2651f748594e2f (1 objects (4000 bytes, 3.9 KiB)), " +
			"not the trial's sha256:44909ad60b104e8b2994100088405ef91bbc1dca4b434207200c4cc7f81e3bf3 (2 objects): " +
			"the artifacts under s3://runs/sweeps/ml/resnet-sweep/e-uid/resnet-sweep-3f9a1c2e/t-uid/ changed after the trial recorded them"},

	{fixture: "model/created", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is current",
		argo: "Progressing", argoMessage: "Waiting for the operator to resolve the Model's aliases"},
	{fixture: "model/no-aliases", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is Ready",
		argo: "Healthy", argoMessage: "the Model has no aliases"},
	{fixture: "model/ready", kstatus: kstatus.CurrentStatus, kstatusMessage: "Resource is Ready",
		argo: "Healthy", argoMessage: "every alias resolves to a Ready version: champion → v2, previous → v1"},
	{fixture: "model/alias-moved-not-observed", kstatus: kstatus.InProgressStatus,
		kstatusMessage: "Model generation is 2, but latest observed generation is 1",
		argo:           "Progressing", argoMessage: "Waiting for the operator to observe generation 2"},
	{fixture: "model/alias-on-copying-version", kstatus: kstatus.InProgressStatus, kstatusMessage: "phase Pending, reason Copying",
		argo:        "Progressing",
		argoMessage: `AliasUnresolved: alias "champion" points at v3 (resnet-v3): the version is not Ready (phase Pending, reason Copying)`},
	{fixture: "model/alias-on-failed-version", kstatus: kstatus.FailedStatus, kstatusMessage: "phase Failed, reason DigestMismatch",
		argo:        "Degraded",
		argoMessage: `AliasUnresolved: alias "champion" points at v3 (resnet-v3): the version is not Ready (phase Failed, reason DigestMismatch)`},
	// An alias moved in git to a version never promoted: Failed, not
	// waited for.
	{fixture: "model/alias-on-missing-version", kstatus: kstatus.FailedStatus, kstatusMessage: "no such version",
		argo: "Degraded", argoMessage: `AliasUnresolved: alias "champion" points at v4 (resnet-v4): no such version`},
}

// Flux, and every tool built on kstatus, reads Crucible's objects by
// kstatus's generic conventions: observedGeneration, Reconciling, Stalled
// and Ready.
func TestKstatus(t *testing.T) {
	for _, tc := range healthCases {
		t.Run(tc.fixture, func(t *testing.T) {
			got, err := kstatus.Compute(fixture(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.kstatus || !strings.Contains(got.Message, tc.kstatusMessage) {
				t.Errorf("kstatus: %s, %q; want %s, a message containing %q", got.Status, got.Message, tc.kstatus, tc.kstatusMessage)
			}
		})
	}
}

// Argo CD reads Crucible's objects by the health checks of config/argocd.
func TestArgoCDHealth(t *testing.T) {
	for _, tc := range healthCases {
		t.Run(tc.fixture, func(t *testing.T) {
			obj := fixture(t, tc.fixture)
			got, err := runArgoHealth(script(t, obj.GetKind()), obj)
			if err != nil {
				t.Fatal(err)
			}
			if want := (argoHealth{Status: tc.argo, Message: tc.argoMessage}); got != want {
				t.Errorf("Argo CD health:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// Every fixture the controllers' tests write has a case above, and every
// phase of every kind has a fixture.
func TestEveryFixtureHasACase(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cased := map[string]bool{}
	for _, tc := range healthCases {
		cased[tc.fixture] = true
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.ToSlash(strings.TrimPrefix(f, "testdata"+string(filepath.Separator))), ".yaml")
		if !cased[name] {
			t.Errorf("the fixture %s has no case in healthCases", name)
		}
		delete(cased, name)
	}
	for name := range cased {
		t.Errorf("healthCases names %s, which has no fixture", name)
	}
	phases := map[string][]string{
		"Experiment":   {"", "Pending", "Running", "Suspended", "Succeeded", "Failed"},
		"Trial":        {"", "Pending", "Running", "Succeeded", "Failed"},
		"ModelVersion": {"", "Pending", "Ready", "Failed"},
	}
	for kind, want := range phases {
		seen := map[string]bool{}
		for _, tc := range healthCases {
			if obj := fixture(t, tc.fixture); obj.GetKind() == kind {
				phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
				seen[phase] = true
			}
		}
		for _, p := range want {
			if !seen[p] {
				t.Errorf("no %s fixture in phase %q", kind, p)
			}
		}
	}
}

// The Argo CD checks fall back on the phase: an object an older operator
// wrote, without Reconciling and Stalled, reads the same.
func TestArgoCDHealthWithoutReconcilingAndStalled(t *testing.T) {
	for _, tc := range healthCases {
		obj := fixture(t, tc.fixture)
		conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
		var kept []any
		for _, c := range conds {
			if typ := c.(map[string]any)["type"]; typ != "Reconciling" && typ != "Stalled" {
				kept = append(kept, c)
			}
		}
		if len(kept) == len(conds) || obj.GetKind() == "Model" {
			// A Model's status has always said Ready; Stalled is what
			// tells a version that will not be Ready.
			continue
		}
		t.Run(tc.fixture, func(t *testing.T) {
			if err := unstructured.SetNestedSlice(obj.Object, kept, "status", "conditions"); err != nil {
				t.Fatal(err)
			}
			got, err := runArgoHealth(script(t, obj.GetKind()), obj)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.argo {
				t.Errorf("Argo CD health without Reconciling and Stalled: %+v; want %s", got, tc.argo)
			}
		})
	}
}
