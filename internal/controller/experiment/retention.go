package experiment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/retention"
)

const (
	// retentionStepDelay is how soon after writing one step the next runs:
	// the Experiment's own status writes bring no event.
	retentionStepDelay = 100 * time.Millisecond
	// maxParallelDeletes bounds the store and API deletes in flight.
	maxParallelDeletes = 16
)

// retain carries out the next step of the retention policy of an ended
// Experiment, as retention.Next plans it (what to delete, in which order,
// and what each step counts); the step is recorded in the status before the
// next one is planned. It returns how long to wait before the next step.
func (r *Reconciler) retain(ctx context.Context, exp *crucible.Experiment, trials []crucible.Trial, now metav1.Time) (time.Duration, error) {
	var applied *crucible.RetentionSpec
	if exp.Status.Retention != nil {
		applied = exp.Status.Retention.AppliedPolicy
	}
	plan := retention.Next(retention.Input{
		Policy:     exp.Spec.Retention,
		Applied:    applied,
		S3:         exp.Spec.Artifacts != nil && exp.Spec.Artifacts.S3 != nil,
		Minimize:   exp.Spec.Objective.Goal != crucible.GoalMaximize,
		Ended:      exp.Status.CompletionTime.Time,
		Now:        now.Time,
		Candidates: retention.Candidates(trials),
	})
	if plan.Action == retention.Nothing {
		return 0, nil
	}
	st := exp.Status.Retention
	if st == nil {
		st = &crucible.RetentionStatus{}
		exp.Status.Retention = st
	}
	next := crucible.RetentionSpec{}
	if applied != nil {
		next = *applied.DeepCopy()
	}

	switch plan.Action {
	case retention.Wait:
		setCollected(exp, metav1.ConditionFalse, crucible.ReasonWaitingForTTL,
			fmt.Sprintf("the artifacts retention does not keep are deleted at %s", plan.Due.UTC().Format(time.RFC3339)), now)
		return plan.Due.Sub(now.Time), nil
	case retention.DeleteArtifacts:
		added, err := r.deleteArtifacts(ctx, exp, trials, plan)
		if err != nil {
			setCollected(exp, metav1.ConditionFalse, crucible.ReasonStoreError, "deleting artifacts: "+err.Error(), now)
			return 0, err
		}
		st.ArtifactsDeleted.Trials += added.Trials
		st.ArtifactsDeleted.Objects += added.Objects
		st.ArtifactsDeleted.Bytes += added.Bytes
		next.Artifacts = exp.Spec.Retention.Artifacts
	case retention.CountTrials:
		st.TrialsDeleted += int32(len(plan.Count))
		next.Trials = exp.Spec.Retention.Trials
	case retention.DeleteTrials:
		if err := r.deleteTrials(ctx, trials, plan.Remove); err != nil {
			setCollected(exp, metav1.ConditionFalse, crucible.ReasonStoreError, "deleting Trials: "+err.Error(), now)
			return 0, err
		}
		setCollected(exp, metav1.ConditionTrue, crucible.ReasonRetentionApplied, fmt.Sprintf(
			"deleted %d Trials, and the artifacts of %d trials: %d objects, %d bytes",
			st.TrialsDeleted, st.ArtifactsDeleted.Trials, st.ArtifactsDeleted.Objects, st.ArtifactsDeleted.Bytes), now)
		return 0, nil
	}
	st.AppliedPolicy, st.AppliedTime = next.DeepCopy(), &now
	return retentionStepDelay, nil
}

// deleteArtifacts deletes the artifacts of the trials plan.Remove, and
// returns what those of plan.Count held, by their records. A plan that
// removes nothing opens no store.
func (r *Reconciler) deleteArtifacts(ctx context.Context, exp *crucible.Experiment, trials []crucible.Trial,
	plan retention.Plan) (crucible.ArtifactCounts, error) {
	var added crucible.ArtifactCounts
	if len(plan.Remove) == 0 {
		return added, nil
	}
	store, err := r.stores.Open(ctx, exp)
	if err != nil {
		return added, err
	}
	s3 := exp.Spec.Artifacts.S3
	byName := make(map[string]*crucible.Trial, len(trials))
	for i := range trials {
		byName[trials[i].Name] = &trials[i]
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	workqueue.ParallelizeUntil(ctx, maxParallelDeletes, len(plan.Remove), func(i int) {
		t, ok := byName[plan.Remove[i]]
		if !ok {
			return // the Trial is gone, and with it the run's prefix
		}
		_, _, err := store.DeletePrefix(ctx, artifacts.TrialKeyPrefix(s3.Prefix, exp, t))
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}
	})
	if len(errs) > 0 {
		// One store error is usually all of them: say the first and how many.
		return added, fmt.Errorf("%d of %d deletes failed, the first: %w", len(errs), len(plan.Remove), errs[0])
	}
	count := sets.New(plan.Count...)
	for i := range trials {
		rec := trials[i].Status.Artifacts
		if !count.Has(trials[i].Name) || rec == nil {
			continue
		}
		added.Trials++
		added.Objects += ptr.Deref(rec.Objects, 0)
		added.Bytes += ptr.Deref(rec.Bytes, 0)
	}
	ctrl.LoggerFrom(ctx).V(1).Info("deleted artifacts", "trials", len(plan.Remove), "newlyCounted", added.Trials)
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
