package experiment

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/test/builder"
)

const testVerifierImage = "registry.example.com/crucible/manager@sha256:" + "cd" + "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"

// otherDigest is a digest the dataset does not pin.
var otherDigest = "sha256:" + strings.Repeat("01", 32)

// verifiedSweep is sweep() with its dataset verified before any trial.
func verifiedSweep() *crucible.Experiment {
	exp := stored(sweep().Obj())
	exp.Spec.Dataset.Verify = crucible.DatasetVerifyAlways
	return exp
}

// verifierJob is the verifier Job the reconciler creates for exp, as the
// API server stores it.
func verifierJob(exp *crucible.Experiment) *batchv1.Job {
	job := jobspec.NewVerifier(exp, jobspec.Verifier{Image: testVerifierImage, Command: jobspec.DefaultVerifierCommand})
	job.UID = types.UID(job.Name + "-uid")
	job.Status.StartTime = &metav1.Time{Time: ctrlNow}
	return job
}

func completed(job *batchv1.Job, end time.Time) *batchv1.Job {
	job.Status.CompletionTime = &metav1.Time{Time: end}
	job.Status.Succeeded = 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue},
	}
	return job
}

func failed(job *batchv1.Job, reason, message string) *batchv1.Job {
	job.Status.Failed = 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message},
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: message},
	}
	return job
}

// verifierPod is a Pod of job whose verifier ended with code and message.
func verifierPod(job *batchv1.Job, code int32, message string) *corev1.Pod {
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name + "-x7k2p", Namespace: job.Namespace, Labels: job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true)}},
		},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			Name:  jobspec.VerifierContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: message}},
		}}},
	}
}

func report(digest string) string {
	return `{"digest":"` + digest + `","files":3,"bytes":1024}`
}

func TestJudgeVerifier(t *testing.T) {
	exp := verifiedSweep()
	ds := exp.Spec.Dataset
	job := verifierJob(exp)
	tests := []struct {
		name    string
		job     *batchv1.Job
		pods    []*corev1.Pod
		now     time.Time
		want    verifierOutcome
		message []string
	}{
		{name: "running", job: job, want: verifierRunning, message: []string{job.Name, "pvc://datasets/cifar10"}},
		{name: "the pinned digest", job: completed(job.DeepCopy(), ctrlNow), pods: []*corev1.Pod{verifierPod(job, 0, report(builder.DatasetDigest))},
			want: verifierMatched, message: []string{builder.DatasetDigest, "3 files", "1024 bytes", "pvc://datasets/cifar10"}},
		{name: "another digest", job: completed(job.DeepCopy(), ctrlNow), pods: []*corev1.Pod{verifierPod(job, 0, report(otherDigest))},
			want: verifierMismatched, message: []string{"pins " + builder.DatasetDigest, "has " + otherDigest, "pvc://datasets/cifar10", "kubectl crucible dataset digest"}},
		{name: "a report that is not one", job: completed(job.DeepCopy(), ctrlNow), pods: []*corev1.Pod{verifierPod(job, 0, "all good")},
			want: verifierFailed, message: []string{"not a JSON object"}},
		{name: "a Pod that reports an error and exits 0", job: completed(job.DeepCopy(), ctrlNow), pods: []*corev1.Pod{verifierPod(job, 0, `{"error":"boom"}`)},
			want: verifierFailed, message: []string{"could not hash", "boom"}},
		{name: "completed, the Pod not in the cache yet", job: completed(job.DeepCopy(), ctrlNow), now: ctrlNow.Add(reportGracePeriod),
			want: verifierReportMissing},
		{name: "completed long ago, the Pod gone", job: completed(job.DeepCopy(), ctrlNow), now: ctrlNow.Add(reportGracePeriod + time.Second),
			want: verifierLost},
		{name: "a special file", job: failed(job.DeepCopy(), "PodFailurePolicy", "Container verifier for pod x exited with 2"),
			pods: []*corev1.Pod{verifierPod(job, 2, `{"error":"train/fifo: only regular files, directories and symbolic links can be digested"}`)},
			want: verifierFailed, message: []string{"could not hash the dataset", "train/fifo"}},
		{name: "past its deadline", job: failed(job.DeepCopy(), "DeadlineExceeded", "Job was active longer than specified deadline"),
			want: verifierFailed, message: []string{"DeadlineExceeded", "longer than specified deadline"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pods []corev1.Pod
			for _, p := range tc.pods {
				pods = append(pods, *p)
			}
			now := tc.now
			if now.IsZero() {
				now = ctrlNow
			}
			got := judgeVerifier(ds, tc.job, pods, now)
			if got.outcome != tc.want {
				t.Fatalf("outcome = %d (%q), want %d", got.outcome, got.message, tc.want)
			}
			for _, m := range tc.message {
				if !strings.Contains(got.message, m) {
					t.Errorf("message %q does not contain %q", got.message, m)
				}
			}
		})
	}
}

// TestReconcileVerifiesTheDatasetFirst: the first pass starts the verifier
// and no trial; a report of the pinned digest starts the trials, once.
func TestReconcileVerifiesTheDatasetFirst(t *testing.T) {
	exp := verifiedSweep()
	f := newCtrlFixture(t, hooks{}, exp)

	f.mustReconcile(t, exp)
	creates, _, _, indices := f.writes()
	if creates != 1 || len(indices) != 0 {
		t.Fatalf("first pass: %d creates, Trials %v; want 1 (the verifier Job) and none", creates, indices)
	}
	job := &batchv1.Job{}
	if err := f.store.Get(context.Background(), client.ObjectKey{Namespace: exp.Namespace, Name: jobspec.VerifierName(exp)}, job); err != nil {
		t.Fatalf("the verifier Job: %v", err)
	}
	got := f.experiment(t, exp)
	if c := condition(got.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition); c.Status != metav1.ConditionUnknown || c.Reason != crucible.ReasonVerifying {
		t.Errorf("DatasetVerified = %s/%s; want Unknown/Verifying", c.Status, c.Reason)
	}
	if got.Status.Phase != crucible.ExperimentPending {
		t.Errorf("phase %s; want Pending while the dataset is verified", got.Status.Phase)
	}

	// A pass while it runs changes nothing.
	f.mustReconcile(t, exp)
	if creates, patches, other, _ := f.writes(); creates+patches+other != 0 {
		t.Errorf("a pass while the verifier runs: %d creates, %d status patches, %d other writes; want none", creates, patches, other)
	}

	// It found the pinned digest.
	job.UID = types.UID(job.Name + "-uid")
	f.replace(t, completed(job, ctrlNow))
	if err := f.store.Create(context.Background(), verifierPod(job, 0, report(builder.DatasetDigest))); err != nil {
		t.Fatal(err)
	}
	f.mustReconcile(t, exp)
	if _, _, _, indices := f.writes(); len(indices) != 4 {
		t.Errorf("after the verifier matched, the pass created Trials %v; want 4", indices)
	}
	got = f.experiment(t, exp)
	c := condition(got.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition)
	if c.Status != metav1.ConditionTrue || c.Reason != crucible.ReasonDigestMatched || !strings.Contains(c.Message, builder.DatasetDigest) {
		t.Errorf("DatasetVerified = %s/%s %q; want True/DigestMatched naming the digest", c.Status, c.Reason, c.Message)
	}
	if diff := cmp.Diff([]string{"Normal DatasetVerified " + c.Message, "Normal Started started 4 of 12 trials"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// The record stands: deleting the Job does not bring verification back.
	if err := f.store.Delete(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	f.mustReconcile(t, exp)
	if creates, _, _, indices := f.writes(); creates != 0 || len(indices) != 0 {
		t.Errorf("a pass after the verification was recorded made %d creates; want none", creates)
	}
}

// TestReconcileDatasetMismatch: another digest fails the Experiment with
// both digests named, and no trial is created.
func TestReconcileDatasetMismatch(t *testing.T) {
	exp := verifiedSweep()
	job := completed(verifierJob(exp), ctrlNow)
	f := newCtrlFixture(t, hooks{}, exp, job, verifierPod(job, 0, report(otherDigest)))

	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 0 {
		t.Errorf("%d creates; want none: no trial runs on the wrong data", creates)
	}
	got := f.experiment(t, exp)
	if got.Status.Phase != crucible.ExperimentFailed || got.Status.CompletionTime == nil {
		t.Errorf("phase %s, completionTime %v; want Failed and set", got.Status.Phase, got.Status.CompletionTime)
	}
	for _, typ := range []string{crucible.ExperimentFailedCondition, crucible.ExperimentDatasetVerifiedCondition} {
		c := condition(got.Status.Conditions, typ)
		if c.Reason != crucible.ReasonDatasetDigestMismatch || !strings.Contains(c.Message, builder.DatasetDigest) || !strings.Contains(c.Message, otherDigest) {
			t.Errorf("%s = %s/%s %q; want reason DatasetDigestMismatch naming both digests", typ, c.Status, c.Reason, c.Message)
		}
	}
	// Terminal: a later pass starts nothing.
	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 0 {
		t.Errorf("a pass after the mismatch made %d creates; want none", creates)
	}
}

// TestReconcileDatasetVerifierCases: the other ways verification goes.
func TestReconcileDatasetVerifierCases(t *testing.T) {
	t.Run("Never: trials start at once, and the condition says it was not checked", func(t *testing.T) {
		exp := stored(sweep().Obj())
		f := newCtrlFixture(t, hooks{}, exp)
		f.mustReconcile(t, exp)
		if _, _, _, indices := f.writes(); len(indices) != 4 {
			t.Errorf("created Trials %v; want 4", indices)
		}
		if diff := cmp.Diff(verificationDisabled(1), condition(f.experiment(t, exp).Status.Conditions,
			crucible.ExperimentDatasetVerifiedCondition), ignoreLTT); diff != "" {
			t.Errorf("DatasetVerified (-want +got):\n%s", diff)
		}
		var jobs batchv1.JobList
		if err := f.store.List(context.Background(), &jobs, client.MatchingLabels{crucible.DatasetVerifierLabel: "true"}); err != nil || len(jobs.Items) != 0 {
			t.Errorf("verifier Jobs %d (%v); want none", len(jobs.Items), err)
		}
	})
	t.Run("no verifier image: Failed, saying what to do", func(t *testing.T) {
		exp := verifiedSweep()
		f := newCtrlFixture(t, hooks{}, exp)
		f.r = NewReconciler(f.client, f.recorder, WithClock(f.clock))
		f.mustReconcile(t, exp)
		got := f.experiment(t, exp)
		c := condition(got.Status.Conditions, crucible.ExperimentFailedCondition)
		if got.Status.Phase != crucible.ExperimentFailed || c.Reason != crucible.ReasonDatasetVerificationFailed ||
			!strings.Contains(c.Message, "--dataset-verifier-image") || !strings.Contains(c.Message, "verify: Never") {
			t.Errorf("phase %s, Failed %s %q; want Failed, DatasetVerificationFailed naming the flag and the opt-out", got.Status.Phase, c.Reason, c.Message)
		}
	})
	t.Run("suspended: no verifier runs", func(t *testing.T) {
		exp := verifiedSweep()
		exp.Spec.Suspend = true
		f := newCtrlFixture(t, hooks{}, exp)
		f.mustReconcile(t, exp)
		if creates, _, _, _ := f.writes(); creates != 0 {
			t.Errorf("%d creates; want none while suspended", creates)
		}
	})
	t.Run("a Job of the name that is not its own: wait, with an error", func(t *testing.T) {
		exp := verifiedSweep()
		theirs := verifierJob(exp)
		theirs.OwnerReferences[0].UID = "an-earlier-experiment"
		f := newCtrlFixture(t, hooks{}, exp, theirs)
		if err := f.reconcile(t, exp); err == nil || !strings.Contains(err.Error(), "waiting for its deletion") {
			t.Errorf("Reconcile error = %v; want one waiting for the other Job's deletion", err)
		}
	})
	t.Run("a failed verifier fails the Experiment with its words", func(t *testing.T) {
		exp := verifiedSweep()
		job := failed(verifierJob(exp), "PodFailurePolicy", "exit code 2")
		f := newCtrlFixture(t, hooks{}, exp, job, verifierPod(job, 2, `{"error":"train/fifo: only regular files"}`))
		f.mustReconcile(t, exp)
		c := condition(f.experiment(t, exp).Status.Conditions, crucible.ExperimentFailedCondition)
		if c.Reason != crucible.ReasonDatasetVerificationFailed || !strings.Contains(c.Message, "train/fifo") {
			t.Errorf("Failed = %s %q; want DatasetVerificationFailed naming the file", c.Reason, c.Message)
		}
	})
	t.Run("the report not in the cache: an error, retried; the Pod gone for long: run again", func(t *testing.T) {
		exp := verifiedSweep()
		job := completed(verifierJob(exp), ctrlNow)
		f := newCtrlFixture(t, hooks{}, exp, job)
		if err := f.reconcile(t, exp); err == nil || !strings.Contains(err.Error(), "report is not in the cache") {
			t.Errorf("Reconcile error = %v; want the report not in the cache yet", err)
		}
		f.clock.Step(reportGracePeriod + time.Second)
		f.mustReconcile(t, exp)
		err := f.store.Get(context.Background(), client.ObjectKeyFromObject(job), &batchv1.Job{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("the verifier Job after its Pod was lost: %v; want it deleted, to run again", err)
		}
		f.mustReconcile(t, exp)
		if err := f.store.Get(context.Background(), client.ObjectKeyFromObject(job), &batchv1.Job{}); err != nil {
			t.Errorf("the next pass did not create the verifier again: %v", err)
		}
	})
}

func TestNewVerifierJob(t *testing.T) {
	exp := verifiedSweep()
	exp.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		NodeSelector:    map[string]string{"zone": "a"},
		Tolerations:     []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}},
		SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](2000)},
		Containers:      []corev1.Container{{Name: "sidecar", Image: "x@sha256:" + strings.Repeat("0", 64)}},
		Volumes:         []corev1.Volume{{Name: "secrets", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}},
	}}
	job := jobspec.NewVerifier(exp, jobspec.Verifier{Image: testVerifierImage, Command: jobspec.DefaultVerifierCommand,
		Deadline: metav1.Duration{Duration: time.Hour}})
	spec := job.Spec.Template.Spec
	if len(spec.Containers) != 1 || len(spec.Volumes) != 1 {
		t.Fatalf("containers %d, volumes %d; want only the verifier and the dataset: no sidecar, no other volume", len(spec.Containers), len(spec.Volumes))
	}
	c := spec.Containers[0]
	if diff := cmp.Diff([]string{"/manager", "dataset", "verify", jobspec.VerifierDatasetPath}, c.Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if m := c.VolumeMounts[0]; !m.ReadOnly || m.SubPath != "cifar10" || spec.Volumes[0].PersistentVolumeClaim == nil || !spec.Volumes[0].PersistentVolumeClaim.ReadOnly {
		t.Errorf("dataset mount %+v, volume %+v; want the claim's subPath, read-only", m, spec.Volumes[0])
	}
	if *spec.AutomountServiceAccountToken || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("token %v, read-only root %v; want no token and a read-only root", *spec.AutomountServiceAccountToken, *c.SecurityContext.ReadOnlyRootFilesystem)
	}
	if *spec.SecurityContext.RunAsUser != 1000 || *spec.SecurityContext.FSGroup != 2000 || !*spec.SecurityContext.RunAsNonRoot ||
		spec.SecurityContext.SeccompProfile == nil || spec.NodeSelector["zone"] != "a" || len(spec.Tolerations) != 1 {
		t.Errorf("pod security context %+v, node selector %v, tolerations %v; want the template's user, group and placement, restricted",
			spec.SecurityContext, spec.NodeSelector, spec.Tolerations)
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() {
		t.Errorf("limits %v; want bounded memory and CPU", c.Resources.Limits)
	}
	if *job.Spec.ActiveDeadlineSeconds != 3600 || len(job.Name) > 63 || !metav1.IsControlledBy(job, exp) {
		t.Errorf("deadline %v, name %q, owners %v; want 3600 s, at most 63 characters, controlled by the Experiment",
			*job.Spec.ActiveDeadlineSeconds, job.Name, job.OwnerReferences)
	}
}

// replace writes job, status included, over the stored one.
func (f *ctrlFixture) replace(t *testing.T, job *batchv1.Job) {
	t.Helper()
	stored := &batchv1.Job{}
	if err := f.store.Get(context.Background(), client.ObjectKeyFromObject(job), stored); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Delete(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	job = job.DeepCopy()
	job.ResourceVersion = ""
	if err := f.store.Create(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}
