package trial

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/earlystop"
	"github.com/crucible-dev/crucible/internal/metrics"
)

// rule returns the Experiment's early-stopping rule, nil when it has none.
func rule(exp *crucible.Experiment) earlystop.Rule {
	e := exp.Spec.EarlyStopping
	switch {
	case e == nil:
		return nil
	case e.MedianStop != nil:
		return earlystop.MedianStop{MinTrials: int(e.MedianStop.MinTrials), StartStep: e.MedianStop.StartStep}
	case e.ASHA != nil:
		return earlystop.ASHA{GracePeriod: e.ASHA.GracePeriod, ReductionFactor: e.ASHA.ReductionFactor, MaxResource: e.ASHA.MaxResource}
	}
	return nil
}

// curve reads a Trial's recorded curve of metric from its step metrics;
// values that are not numbers are left out.
func curve(trial *crucible.Trial, metric string) []earlystop.Sample {
	sm := trial.Status.StepMetrics
	if sm == nil {
		return nil
	}
	for _, s := range sm.Series {
		if s.Metric != metric {
			continue
		}
		out := make([]earlystop.Sample, 0, len(s.Points))
		for _, p := range s.Points {
			if v, err := strconv.ParseFloat(p.Value, 64); err == nil {
				out = append(out, earlystop.Sample{Step: p.Step, Value: v})
			}
		}
		return out
	}
	return nil
}

// decideEarlyStop judges a running Trial by the Experiment's rule, from its
// recorded curve of the objective and those of the Experiment's other
// Trials, taken in index order. A pure function of those curves: the same
// record decides the same.
func decideEarlyStop(exp *crucible.Experiment, trial *crucible.Trial, siblings []crucible.Trial) earlystop.Decision {
	r := rule(exp)
	mine := curve(trial, exp.Spec.Objective.Metric)
	if r == nil || len(mine) == 0 {
		return earlystop.Decision{}
	}
	slices.SortFunc(siblings, func(a, b crucible.Trial) int { return int(a.Spec.Index - b.Spec.Index) })
	others := make([]earlystop.Other, 0, len(siblings))
	for i := range siblings {
		t := &siblings[i]
		if t.UID == trial.UID {
			continue
		}
		if c := curve(t, exp.Spec.Objective.Metric); len(c) > 0 {
			others = append(others, earlystop.Other{Curve: c, Completed: t.Status.Phase == crucible.TrialSucceeded})
		}
	}
	goal := earlystop.Minimize
	if exp.Spec.Objective.Goal == crucible.GoalMaximize {
		goal = earlystop.Maximize
	}
	return r.Decide(goal, mine, others)
}

// earlyStop stops a running Trial that the Experiment's rule judges
// hopeless: it ends Stopped, reason EarlyStopped, with its latest step
// metrics as its metrics, and its Job is deleted at once (its Pods with
// it). It reports whether it stopped the Trial.
func (r *Reconciler) earlyStop(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial) (bool, error) {
	if exp.Spec.EarlyStopping == nil || trial.Status.StepMetrics == nil || isFinished(&trial.Status) {
		return false, nil
	}
	// Read only, and on every pass of a running trial with step metrics:
	// no deep copy of every Trial of the Experiment.
	var siblings crucible.TrialList
	if err := r.client.List(ctx, &siblings, client.InNamespace(trial.Namespace),
		client.MatchingFields{index.TrialOwnerKey: string(exp.UID)}, client.UnsafeDisableDeepCopy); err != nil {
		return false, fmt.Errorf("listing the Experiment's Trials: %w", err)
	}
	d := decideEarlyStop(exp, trial, siblings.Items)
	if !d.Stop {
		return false, nil
	}
	// The Job is named after the Trial. status.jobName is recorded only
	// with Running, runningGracePeriod after the trainer started, and ASHA's
	// first rung (step 1) decides well before that: reading status.jobName
	// alone left such a trial's Job, and its Pod, running to their end.
	job := &batchv1.Job{}
	if err := r.client.Get(ctx, client.ObjectKeyFromObject(trial), job); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("getting the Job of the trial to stop: %w", err)
	} else if err != nil || !metav1.IsControlledBy(job, trial) {
		job = nil
	}
	setStopped(trial, exp.Spec.Objective.Metric, d, metav1.NewTime(r.clock.Now()))
	if job != nil {
		// Recorded with the end, as an end after Running records them, so
		// that the trial's time (startTime to completionTime) is known.
		trial.Status.JobName = job.Name
		if trial.Status.StartTime == nil && job.Status.StartTime != nil {
			trial.Status.StartTime = job.Status.StartTime.DeepCopy()
		}
		err := r.client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground),
			client.Preconditions{UID: &job.UID})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			// The Trial is recorded Stopped all the same; its Job goes
			// only with the retention of ended trials (collectJob), when
			// the Experiment has one: an ended Trial is not judged again.
			return true, fmt.Errorf("deleting the stopped trial's Job: %w", err)
		}
	}
	if r.series != nil {
		// A stopped trial's artifacts have no manifest: its series is
		// written now, or, if the store refuses, by a later pass
		// (needsSeal).
		sealed, err := r.series.Seal(ctx, exp, trial)
		if err != nil {
			return true, fmt.Errorf("storing the stopped trial's step metrics: %w", err)
		}
		sealed.Record(trial)
	}
	return true, nil
}

// setStopped ends a Trial as the rule decided: phase Stopped, its latest
// step metrics recorded as its metrics.
func setStopped(trial *crucible.Trial, objective string, d earlystop.Decision, now metav1.Time) {
	status := &trial.Status
	status.Phase = crucible.TrialStopped
	status.Reason = crucible.ReasonEarlyStopped
	status.Message = truncate(fmt.Sprintf("stopped at step %d: %s", d.Step, d.Message), maxMessageLength)
	status.CompletionTime = ptr.To(now)
	status.Metrics = map[string]string{}
	for _, s := range status.StepMetrics.Series {
		if n := len(s.Points); n > 0 && len(status.Metrics) < metrics.MaxMetrics {
			status.Metrics[s.Metric] = s.Points[n-1].Value
		}
	}
	status.Objective = status.Metrics[objective]
	setCondition(trial, metav1.Condition{
		Type:    crucible.TrialSucceededCondition,
		Status:  metav1.ConditionFalse,
		Reason:  crucible.ReasonEarlyStopped,
		Message: status.Message,
	}, now.Time)
	setReconcilingAndStalled(trial, now)
}
