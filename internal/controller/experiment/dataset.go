package experiment

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/datasetdigest"
	"github.com/crucible-dev/crucible/internal/jobspec"
)

// DefaultVerifierDeadline bounds a dataset verifier's run: at the 1 GB/s
// one core hashes, 6 hours is about 20 TB.
const DefaultVerifierDeadline = 6 * time.Hour

// reportGracePeriod is how long after its verifier Job completed the pass
// waits for the Pod's report to show in the cache; past it, the Pod is
// taken to be gone (deleted, collected) and the Job is run again.
const reportGracePeriod = time.Minute

// verifyDataset decides whether the Experiment's dataset lets trials start:
// yes without a dataset, with verify: Never, or once its verifier found the
// pinned digest. Otherwise it creates the verifier Job, or reads what it
// found, and records it in the DatasetVerified condition; a digest that
// differs, or a dataset that cannot be hashed, fails the Experiment. The
// condition is the record: once True it is never checked again, by this
// operator or a restarted one.
func (r *Reconciler) verifyDataset(ctx context.Context, exp *crucible.Experiment, now metav1.Time) (bool, error) {
	ds := exp.Spec.Dataset
	if ds == nil {
		return true, nil
	}
	if ds.Verify == crucible.DatasetVerifyNever {
		setCondition(exp, crucible.ExperimentDatasetVerifiedCondition, metav1.ConditionFalse, crucible.ReasonVerificationDisabled,
			"spec.dataset.verify is Never: the dataset's digest was not checked", now)
		return true, nil
	}
	if meta.IsStatusConditionTrue(exp.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition) {
		return true, nil
	}
	if isTerminal(&exp.Status) || exp.Spec.Suspend {
		return false, nil
	}
	if r.verifier.Image == "" {
		msg := "the operator has no dataset verifier image (--dataset-verifier-image); ask its admin, or set spec.dataset.verify: Never"
		setCondition(exp, crucible.ExperimentDatasetVerifiedCondition, metav1.ConditionFalse, crucible.ReasonDatasetVerificationFailed, msg, now)
		setFailedFor(exp, crucible.ReasonDatasetVerificationFailed, msg, now)
		return false, nil
	}

	job := &batchv1.Job{}
	err := r.client.Get(ctx, client.ObjectKey{Namespace: exp.Namespace, Name: jobspec.VerifierName(exp)}, job)
	switch {
	case apierrors.IsNotFound(err):
		return false, r.startVerifier(ctx, exp, now)
	case err != nil:
		return false, fmt.Errorf("reading the dataset verifier Job: %w", err)
	case !metav1.IsControlledBy(job, exp):
		return false, fmt.Errorf("job %s is not this Experiment's dataset verifier; waiting for its deletion", job.Name)
	}
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.InNamespace(exp.Namespace),
		client.MatchingFields{index.PodJobKey: string(job.UID)}, client.UnsafeDisableDeepCopy); err != nil {
		return false, fmt.Errorf("listing the dataset verifier's Pods: %w", err)
	}
	switch v := judgeVerifier(ds, job, pods.Items, now.Time); v.outcome {
	case verifierMatched:
		setCondition(exp, crucible.ExperimentDatasetVerifiedCondition, metav1.ConditionTrue, crucible.ReasonDigestMatched, v.message, now)
		return true, nil
	case verifierMismatched, verifierFailed:
		reason := crucible.ReasonDatasetDigestMismatch
		if v.outcome == verifierFailed {
			reason = crucible.ReasonDatasetVerificationFailed
		}
		setCondition(exp, crucible.ExperimentDatasetVerifiedCondition, metav1.ConditionFalse, reason, v.message, now)
		setFailedFor(exp, reason, v.message, now)
		return false, nil
	case verifierReportMissing:
		return false, fmt.Errorf("dataset verifier Job %s completed, but its Pod's report is not in the cache yet", job.Name)
	case verifierLost:
		// Run it again: the same Job name, so a pass that still sees the
		// old one cannot start a second.
		ctrl.LoggerFrom(ctx).Info("the dataset verifier's Pod is gone without a report; running it again", "job", job.Name)
		if err := r.client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground),
			client.Preconditions{UID: &job.UID}); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("deleting the dataset verifier Job: %w", err)
		}
		return false, nil
	default:
		setCondition(exp, crucible.ExperimentDatasetVerifiedCondition, metav1.ConditionUnknown, crucible.ReasonVerifying, v.message, now)
		return false, nil
	}
}

// startVerifier creates the verifier Job. AlreadyExists means an earlier
// pass made it and the cache does not show it yet.
func (r *Reconciler) startVerifier(ctx context.Context, exp *crucible.Experiment, now metav1.Time) error {
	job := jobspec.NewVerifier(exp, r.verifier)
	if err := r.client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the dataset verifier Job: %w", err)
	}
	setCondition(exp, crucible.ExperimentDatasetVerifiedCondition, metav1.ConditionUnknown, crucible.ReasonVerifying,
		fmt.Sprintf("Job %s is hashing the dataset %s", job.Name, datasetSourceURI(exp.Spec.Dataset)), now)
	return nil
}

// verifierOutcome is what a verifier Job came to.
type verifierOutcome int

const (
	// verifierRunning: it has not ended.
	verifierRunning verifierOutcome = iota
	// verifierMatched: it found the pinned digest.
	verifierMatched
	// verifierMismatched: it found another digest.
	verifierMismatched
	// verifierFailed: it could not hash the dataset, or its Job failed.
	verifierFailed
	// verifierReportMissing: it completed; its Pod's report is not in the
	// cache yet.
	verifierReportMissing
	// verifierLost: it completed long ago and its Pod is gone.
	verifierLost
)

// verdict is a verifierOutcome and the condition message that says it.
type verdict struct {
	outcome verifierOutcome
	message string
}

// judgeVerifier reads what a verifier Job and its Pods came to. It is a
// pure function of them, the pinned dataset and the time.
func judgeVerifier(ds *crucible.DatasetSpec, job *batchv1.Job, pods []corev1.Pod, now time.Time) verdict {
	where := datasetSourceURI(ds)
	switch {
	case jobCondition(job, batchv1.JobComplete) != nil:
		for i := range pods {
			msg, ok := verifierMessage(&pods[i], corev1.PodSucceeded)
			if !ok {
				continue
			}
			rep, err := datasetdigest.ParseReport([]byte(msg))
			switch {
			case err != nil:
				return verdict{verifierFailed, fmt.Sprintf("Job %s: %v", job.Name, err)}
			case rep.Error != "":
				return verdict{verifierFailed, fmt.Sprintf("Job %s could not hash the dataset %s: %s", job.Name, where, rep.Error)}
			case rep.Digest == ds.Digest:
				// No Job name: the record is the same for every run of
				// the same spec on the same data.
				return verdict{verifierMatched, fmt.Sprintf("the dataset %s has the pinned digest %s (%d files, %d symlinks, %d bytes)",
					where, rep.Digest, rep.Files, rep.Symlinks, rep.Bytes)}
			default:
				return verdict{verifierMismatched, fmt.Sprintf("spec.dataset.digest pins %s, but the dataset %s has %s (%d files, %d symlinks, %d bytes; Job %s): "+
					"the data changed since it was pinned, or the pin is wrong; recompute it with kubectl crucible dataset digest",
					ds.Digest, where, rep.Digest, rep.Files, rep.Symlinks, rep.Bytes, job.Name)}
			}
		}
		if done := job.Status.CompletionTime; done != nil && now.Sub(done.Time) > reportGracePeriod {
			return verdict{verifierLost, ""}
		}
		return verdict{verifierReportMissing, ""}
	case jobCondition(job, batchv1.JobFailed) != nil:
		c := jobCondition(job, batchv1.JobFailed)
		msg := fmt.Sprintf("Job %s failed (%s: %s)", job.Name, c.Reason, c.Message)
		for i := range pods {
			if m, ok := verifierMessage(&pods[i], corev1.PodFailed); ok && m != "" {
				if rep, err := datasetdigest.ParseReport([]byte(m)); err == nil && rep.Error != "" {
					m = rep.Error
				}
				msg = fmt.Sprintf("Job %s could not hash the dataset %s: %s", job.Name, where, strings.TrimSpace(m))
				break
			}
		}
		return verdict{verifierFailed, msg}
	default:
		return verdict{verifierRunning, fmt.Sprintf("Job %s is hashing the dataset %s", job.Name, where)}
	}
}

// jobCondition returns the Job's condition of type t when it is True.
func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// verifierMessage returns the termination message of a Pod's verifier
// container, when the Pod is in phase and the container terminated.
func verifierMessage(pod *corev1.Pod, phase corev1.PodPhase) (string, bool) {
	if pod.Status.Phase != phase {
		return "", false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == jobspec.VerifierContainerName && cs.State.Terminated != nil {
			return cs.State.Terminated.Message, true
		}
	}
	return "", false
}

// datasetSourceURI names where a dataset is mounted from, for messages:
// pvc://<claim>/<subPath> or the image reference.
func datasetSourceURI(ds *crucible.DatasetSpec) string {
	switch s := ds.Source; {
	case s.PersistentVolumeClaim != nil:
		return "pvc://" + strings.TrimSuffix(s.PersistentVolumeClaim.ClaimName+"/"+s.PersistentVolumeClaim.SubPath, "/")
	case s.Image != nil:
		return s.Image.Reference
	}
	return ""
}
