package experiment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/retention"
)

// Retention runs in steps, each of which is written to the status before
// the next one starts, so that an operator restarted at any point redoes
// only idempotent work and counts nothing twice:
//
//  1. Artifacts: once the Experiment ended and the artifacts' TTL passed,
//     the artifacts of the trials the policy does not keep are deleted
//     (deleting a deleted prefix deletes nothing); then the counts and the
//     applied policy are written.
//  2. Trials: once step 1 is in the status, the Trials the policy does not
//     keep are counted and the count and applied policy are written.
//  3. Once step 2 is in the status, those Trials are deleted (again on
//     every pass, should one be left).
//
// The counts of a changed policy are what it collects in addition to the
// previous one: the trials the old policy removed are not counted again.

const (
	// retentionStepDelay is how soon after writing one step the next runs:
	// the Experiment's own status writes bring no event.
	retentionStepDelay = 100 * time.Millisecond
	// deletionPollPeriod is how often a deleted Experiment looks again
	// whether its Jobs and Pods are gone.
	deletionPollPeriod = time.Second
	// maxParallelDeletes bounds the store and API deletes in flight.
	maxParallelDeletes = 16
)

// retain applies the retention policy of an ended Experiment. It returns
// how long to wait before the next step.
func (r *Reconciler) retain(ctx context.Context, exp *crucible.Experiment, trials []crucible.Trial, now metav1.Time) (time.Duration, error) {
	policy := exp.Spec.Retention
	if policy == nil || (!collectsArtifacts(exp) && !collectsTrials(policy)) {
		return 0, nil
	}
	st := exp.Status.Retention
	if st == nil {
		st = &crucible.RetentionStatus{}
		exp.Status.Retention = st
	}
	var applied crucible.RetentionSpec
	if st.AppliedPolicy != nil {
		applied = *st.AppliedPolicy
	}
	cands := candidates(trials)
	minimize := exp.Spec.Objective.Goal != crucible.GoalMaximize

	// Step 1: artifacts.
	if st.AppliedPolicy == nil || !sameSelection(applied.Artifacts.KeepBest, applied.Artifacts.Failed,
		policy.Artifacts.KeepBest, policy.Artifacts.Failed) {
		if collectsArtifacts(exp) {
			due := exp.Status.CompletionTime.Add(time.Duration(policy.Artifacts.TTLSecondsAfterFinished) * time.Second)
			if wait := due.Sub(now.Time); wait > 0 {
				setCollected(exp, metav1.ConditionFalse, crucible.ReasonWaitingForTTL,
					fmt.Sprintf("the artifacts retention does not keep are deleted at %s", due.UTC().Format(time.RFC3339)), now)
				return wait, nil
			}
			added, err := r.deleteArtifacts(ctx, exp, trials, cands, &applied, minimize)
			if err != nil {
				setCollected(exp, metav1.ConditionFalse, crucible.ReasonStoreError, "deleting artifacts: "+err.Error(), now)
				return 0, err
			}
			st.ArtifactsDeleted.Trials += added.Trials
			st.ArtifactsDeleted.Objects += added.Objects
			st.ArtifactsDeleted.Bytes += added.Bytes
		}
		applied.Artifacts = policy.Artifacts
		st.AppliedPolicy, st.AppliedTime = applied.DeepCopy(), &now
		return retentionStepDelay, nil
	}

	// Step 2: count the Trials to delete.
	remove, removedBefore := removals(cands, minimize, policy.Trials.KeepBest, policy.Trials.Failed,
		applied.Trials.KeepBest, applied.Trials.Failed)
	if !sameSelection(applied.Trials.KeepBest, applied.Trials.Failed, policy.Trials.KeepBest, policy.Trials.Failed) {
		for _, name := range remove {
			if !removedBefore.Has(name) {
				st.TrialsDeleted++
			}
		}
		applied.Trials = policy.Trials
		st.AppliedPolicy, st.AppliedTime = applied.DeepCopy(), &now
		return retentionStepDelay, nil
	}

	// Step 3: delete them.
	if err := r.deleteTrials(ctx, trials, remove); err != nil {
		setCollected(exp, metav1.ConditionFalse, crucible.ReasonStoreError, "deleting Trials: "+err.Error(), now)
		return 0, err
	}
	setCollected(exp, metav1.ConditionTrue, crucible.ReasonRetentionApplied, fmt.Sprintf(
		"deleted %d Trials, and the artifacts of %d trials: %d objects, %d bytes",
		st.TrialsDeleted, st.ArtifactsDeleted.Trials, st.ArtifactsDeleted.Objects, st.ArtifactsDeleted.Bytes), now)
	return 0, nil
}

// deleteArtifacts deletes the artifacts of the trials the artifacts policy
// does not keep, and returns what the ones the applied policy had not
// removed yet held, by their records.
func (r *Reconciler) deleteArtifacts(ctx context.Context, exp *crucible.Experiment, trials []crucible.Trial,
	cands []retention.Candidate, applied *crucible.RetentionSpec, minimize bool) (crucible.ArtifactCounts, error) {
	var added crucible.ArtifactCounts
	store, err := r.stores.Open(ctx, exp)
	if err != nil {
		return added, err
	}
	current := &exp.Spec.Retention.Artifacts
	remove, before := removals(cands, minimize, current.KeepBest, current.Failed, applied.Artifacts.KeepBest, applied.Artifacts.Failed)
	byName := make(map[string]*crucible.Trial, len(trials))
	for i := range trials {
		byName[trials[i].Name] = &trials[i]
	}

	s3 := exp.Spec.Artifacts.S3
	var (
		mu   sync.Mutex
		errs []error
	)
	workqueue.ParallelizeUntil(ctx, maxParallelDeletes, len(remove), func(i int) {
		name := remove[i]
		_, _, err := store.DeletePrefix(ctx, artifacts.TrialPrefix(s3.Prefix, exp.Namespace, exp.Name, name))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		rec := byName[name].Status.Artifacts
		if before.Has(name) || rec == nil {
			return
		}
		added.Trials++
		added.Objects += ptr.Deref(rec.Objects, 0)
		added.Bytes += ptr.Deref(rec.Bytes, 0)
	})
	if len(errs) > 0 {
		// One store error is usually all of them: say the first and how many.
		return added, fmt.Errorf("%d of %d deletes failed, the first: %w", len(errs), len(remove), errs[0])
	}
	ctrl.LoggerFrom(ctx).V(1).Info("deleted artifacts", "trials", len(remove), "newlyCounted", added.Trials)
	return added, nil
}

// deleteTrials deletes the named Trials that still exist. Their Jobs and
// Pods go with them by garbage collection.
func (r *Reconciler) deleteTrials(ctx context.Context, trials []crucible.Trial, names []string) error {
	remove := sets.New(names...)
	var victims []*crucible.Trial
	for i := range trials {
		if t := &trials[i]; remove.Has(t.Name) && t.DeletionTimestamp.IsZero() {
			victims = append(victims, t)
		}
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	workqueue.ParallelizeUntil(ctx, maxParallelDeletes, len(victims), func(i int) {
		t := victims[i]
		err := r.client.Delete(ctx, t, client.Preconditions{UID: &t.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err = client.IgnoreNotFound(err); err != nil {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, fmt.Errorf("deleting Trial %s: %w", t.Name, err))
		}
	})
	return errors.Join(errs...)
}

// needsFinalizer reports whether deleting exp must first delete its
// artifacts.
func needsFinalizer(exp *crucible.Experiment) bool {
	return exp.Spec.Artifacts != nil && exp.Spec.Artifacts.S3 != nil &&
		(exp.Spec.Retention == nil || exp.Spec.Retention.Artifacts.OnDeletion != crucible.DeletionRetain)
}

// ensureFinalizer adds or removes the artifacts finalizer as the spec asks.
func (r *Reconciler) ensureFinalizer(ctx context.Context, exp *crucible.Experiment) error {
	want := needsFinalizer(exp)
	if want == controllerutil.ContainsFinalizer(exp, crucible.ArtifactsFinalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(exp.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if want {
		controllerutil.AddFinalizer(exp, crucible.ArtifactsFinalizer)
	} else {
		controllerutil.RemoveFinalizer(exp, crucible.ArtifactsFinalizer)
	}
	if err := r.client.Patch(ctx, exp, patch); err != nil {
		return fmt.Errorf("updating the artifacts finalizer: %w", err)
	}
	return nil
}

// finalize deletes a deleted Experiment's artifacts and then lets it go: it
// stops its Jobs, waits until they are gone and their Pods stopped (so that
// no trainer writes after), deletes everything under the Experiment's prefix, and
// removes the finalizer. A store that cannot be reached keeps the
// finalizer, with the Collected condition saying why; the pass is retried
// with backoff. It returns how long to wait before looking again.
func (r *Reconciler) finalize(ctx context.Context, exp *crucible.Experiment, now metav1.Time) (time.Duration, error) {
	if !controllerutil.ContainsFinalizer(exp, crucible.ArtifactsFinalizer) {
		return 0, nil
	}
	if needsFinalizer(exp) {
		running, err := r.stopRuns(ctx, exp)
		if err != nil {
			return 0, err
		}
		if running > 0 {
			setCollected(exp, metav1.ConditionFalse, crucible.ReasonDeletingArtifacts,
				fmt.Sprintf("waiting for %d Jobs and Pods to stop before the artifacts are deleted", running), now)
			return deletionPollPeriod, nil
		}
		if err := r.deleteAllArtifacts(ctx, exp); err != nil {
			setCollected(exp, metav1.ConditionFalse, crucible.ReasonStoreError,
				"the Experiment is deleted once its artifacts are: "+err.Error(), now)
			return 0, err
		}
		ctrl.LoggerFrom(ctx).Info("deleted the artifacts of the deleted experiment")
	}
	patch := client.MergeFromWithOptions(exp.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(exp, crucible.ArtifactsFinalizer)
	if err := r.client.Patch(ctx, exp, patch); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	return 0, nil
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

func (r *Reconciler) deleteAllArtifacts(ctx context.Context, exp *crucible.Experiment) error {
	store, err := r.stores.Open(ctx, exp)
	if err != nil {
		return err
	}
	_, _, err = store.DeletePrefix(ctx, artifacts.ExperimentPrefix(exp.Spec.Artifacts.S3.Prefix, exp.Namespace, exp.Name))
	return err
}

// setCollected sets the Collected condition.
func setCollected(exp *crucible.Experiment, status metav1.ConditionStatus, reason, message string, now metav1.Time) {
	meta.SetStatusCondition(&exp.Status.Conditions, metav1.Condition{
		Type:               crucible.ExperimentCollectedCondition,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message),
		ObservedGeneration: exp.Generation,
		LastTransitionTime: now,
	})
}

// collectsArtifacts reports whether exp's policy deletes artifacts of
// trials once it ended: an s3 store, and a policy that keeps less than all.
func collectsArtifacts(exp *crucible.Experiment) bool {
	return exp.Spec.Artifacts != nil && exp.Spec.Artifacts.S3 != nil && exp.Spec.Retention != nil &&
		removesSome(exp.Spec.Retention.Artifacts.KeepBest, exp.Spec.Retention.Artifacts.Failed)
}

// collectsTrials reports whether policy deletes Trials.
func collectsTrials(policy *crucible.RetentionSpec) bool {
	return removesSome(policy.Trials.KeepBest, policy.Trials.Failed)
}

// removesSome reports whether keeping the best keepBest and failed trials
// can leave some out.
func removesSome(keepBest *int32, failed crucible.FailedPolicy) bool {
	return keepBest != nil || !keepFailed(failed)
}

// sameSelection reports whether two policies keep the same trials.
func sameSelection(keepBestA *int32, failedA crucible.FailedPolicy, keepBestB *int32, failedB crucible.FailedPolicy) bool {
	return ptr.Equal(keepBestA, keepBestB) && keepFailed(failedA) == keepFailed(failedB)
}

// removals returns the names the current selection (keepBest, failed)
// removes, and the set the previously applied one removed, so that only
// what the current one adds is counted.
func removals(cands []retention.Candidate, minimize bool, keepBest *int32, failed crucible.FailedPolicy,
	appliedKeepBest *int32, appliedFailed crucible.FailedPolicy) (remove []string, removedBefore sets.Set[string]) {
	_, remove = retention.Select(cands, retention.Policy{KeepBest: keepBest, KeepFailed: keepFailed(failed), Minimize: minimize})
	removedBefore = sets.New[string]()
	if removesSome(appliedKeepBest, appliedFailed) {
		_, prev := retention.Select(cands, retention.Policy{KeepBest: appliedKeepBest, KeepFailed: keepFailed(appliedFailed), Minimize: minimize})
		removedBefore.Insert(prev...)
	}
	return remove, removedBefore
}

// keepFailed reads a FailedPolicy; the default keeps.
func keepFailed(p crucible.FailedPolicy) bool { return p != crucible.FailedDelete }

// candidates are the Trials as retention sees them.
func candidates(trials []crucible.Trial) []retention.Candidate {
	out := make([]retention.Candidate, len(trials))
	for i := range trials {
		t := &trials[i]
		c := retention.Candidate{Name: t.Name, Index: t.Spec.Index, Objective: t.Status.Objective}
		switch t.Status.Phase {
		case crucible.TrialSucceeded:
			c.Outcome = retention.Succeeded
		case crucible.TrialFailed:
			c.Outcome = retention.Failed
		default:
			c.Outcome = retention.Active
		}
		out[i] = c
	}
	return out
}
