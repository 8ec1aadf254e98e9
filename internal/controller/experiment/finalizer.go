package experiment

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/finalizer"
)

const (
	// DefaultArtifactDeletionTimeout is how long after an Experiment was
	// deleted the operator keeps trying to delete its artifacts before it
	// lets the Experiment go without them. Deletion must always finish: a
	// namespace being deleted, or `kubectl delete -f` of a file with the
	// Experiment and its credentials Secret, removes the Secret first, and
	// the namespace would hang in Terminating for ever. Ten minutes rides out
	// a store restarting or a network partition healing.
	DefaultArtifactDeletionTimeout = 10 * time.Minute

	// deletionPollPeriod is how often a deleted Experiment looks again
	// whether its Jobs and Pods are gone.
	deletionPollPeriod = time.Second
)

// needsFinalizer reports whether deleting exp must first delete its
// artifacts.
func needsFinalizer(exp *crucible.Experiment) bool {
	return exp.Spec.Artifacts != nil && exp.Spec.Artifacts.S3 != nil &&
		(exp.Spec.Retention == nil || exp.Spec.Retention.Artifacts.OnDeletion != crucible.DeletionRetain)
}

// ensureFinalizer adds or removes the artifacts finalizer as the spec asks.
func (r *Reconciler) ensureFinalizer(ctx context.Context, exp *crucible.Experiment) error {
	if err := finalizer.Ensure(ctx, r.client, exp, crucible.ArtifactsFinalizer, needsFinalizer(exp)); err != nil {
		return fmt.Errorf("updating the artifacts finalizer: %w", err)
	}
	return nil
}

// finalize deletes a deleted Experiment's artifacts and then lets it go:
// it stops its Jobs, waits until they are gone and their Pods stopped (so
// that no trainer writes after), deletes everything under the Experiment's
// prefix, and removes the finalizer. Reconcile calls it only while the
// finalizer is there. It returns how long to wait before looking again.
//
// A store that refuses (it is down, the credentials Secret or the bucket is
// gone, the keys may not delete) keeps the finalizer, with Collected False,
// reason StoreError, and the pass is retried with backoff, until
// deletionTimeout has passed since the deletionTimestamp. After that the
// runs are no longer waited for, and a store that still refuses is given
// up on: one pass records Collected False, reason ArtifactsAbandoned (with
// a Warning event once written), and the next removes the finalizer,
// leaving the artifacts in the store.
func (r *Reconciler) finalize(ctx context.Context, exp *crucible.Experiment, now metav1.Time) (time.Duration, error) {
	if !needsFinalizer(exp) || abandoned(exp) {
		return 0, r.releaseFinalizer(ctx, exp)
	}
	deadline := exp.DeletionTimestamp.Add(r.deletionTimeout)
	late := !now.Time.Before(deadline)
	running, err := r.stopRuns(ctx, exp)
	if err != nil {
		return 0, err
	}
	if running > 0 && !late {
		setCollected(exp, metav1.ConditionFalse, crucible.ReasonDeletingArtifacts,
			fmt.Sprintf("waiting for %d Jobs and Pods to stop before the artifacts are deleted", running), now)
		return deletionPollPeriod, nil
	}
	where := artifacts.S3URI(exp.Spec.Artifacts.S3.Bucket,
		artifacts.ExperimentKeyPrefix(exp.Spec.Artifacts.S3.Prefix, exp))
	if err := r.deleteAllArtifacts(ctx, exp); err != nil {
		if late {
			setCollected(exp, metav1.ConditionFalse, crucible.ReasonArtifactsAbandoned, fmt.Sprintf(
				"the artifacts under %s are left in the store: deleting them still failed %s after the Experiment was deleted: %v",
				where, r.deletionTimeout, err), now)
			ctrl.LoggerFrom(ctx).Info("leaving the artifacts of the deleted experiment in the store",
				"uri", where, "error", err.Error())
			return retentionStepDelay, nil
		}
		setCollected(exp, metav1.ConditionFalse, crucible.ReasonStoreError, fmt.Sprintf(
			"deleting the artifacts under %s: %v; retried until %s, then the Experiment is deleted and they are left in the store",
			where, err, deadline.UTC().Format(time.RFC3339)), now)
		return 0, err
	}
	ctrl.LoggerFrom(ctx).Info("deleted the artifacts of the deleted experiment", "uri", where, "runsLeft", running)
	return 0, r.releaseFinalizer(ctx, exp)
}

// abandoned reports whether the status records that the artifacts of the
// deleted Experiment are given up on.
func abandoned(exp *crucible.Experiment) bool {
	c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentCollectedCondition)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == crucible.ReasonArtifactsAbandoned
}

// releaseFinalizer removes the artifacts finalizer; the Experiment goes.
func (r *Reconciler) releaseFinalizer(ctx context.Context, exp *crucible.Experiment) error {
	patch := client.MergeFromWithOptions(exp.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(exp, crucible.ArtifactsFinalizer)
	if err := r.client.Patch(ctx, exp, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// stopRuns deletes the Experiment's Jobs and returns how many of its Jobs,
// and of its Pods that have not stopped, are still there.
func (r *Reconciler) stopRuns(ctx context.Context, exp *crucible.Experiment) (int, error) {
	ours := client.MatchingLabels{crucible.ExperimentLabel: exp.Name}
	var jobs batchv1.JobList
	if err := r.client.List(ctx, &jobs, client.InNamespace(exp.Namespace), ours); err != nil {
		return 0, fmt.Errorf("listing Jobs: %w", err)
	}
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.InNamespace(exp.Namespace), ours, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("listing Pods: %w", err)
	}
	running := 0
	for i := range pods.Items {
		if p := pods.Items[i].Status.Phase; p != corev1.PodSucceeded && p != corev1.PodFailed {
			running++
		}
	}
	var errs []error
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if !job.DeletionTimestamp.IsZero() {
			continue
		}
		err := r.client.Delete(ctx, job, client.Preconditions{UID: &job.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err = client.IgnoreNotFound(err); err != nil {
			errs = append(errs, fmt.Errorf("deleting Job %s: %w", job.Name, err))
		}
	}
	return len(jobs.Items) + running, errors.Join(errs...)
}

// deleteAllArtifacts deletes everything under the Experiment's prefix.
func (r *Reconciler) deleteAllArtifacts(ctx context.Context, exp *crucible.Experiment) error {
	store, err := r.stores.Open(ctx, exp)
	if err != nil {
		return err
	}
	_, _, err = store.DeletePrefix(ctx, artifacts.ExperimentKeyPrefix(exp.Spec.Artifacts.S3.Prefix, exp))
	return err
}
