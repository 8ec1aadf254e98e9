package experiment

import (
	"fmt"
	"math/bits"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
)

// maxMessageLength bounds condition messages.
const maxMessageLength = 512

// observation is what one pass saw of an Experiment's Trials.
type observation struct {
	created, active, succeeded, failed int32
	// stopped counts the Trials the early-stopping rule stopped: ended,
	// not failed, never the best.
	stopped int32
	// repeated counts the suggestions that repeated a trial's point:
	// indices without a Trial of their own.
	repeated int32
	// best is the succeeded Trial with the best objective, ties to the
	// lower index. It points into the cache: read only.
	best *crucible.Trial
	// indices has a bit set for every index of the search space that has a
	// Trial.
	indices indexSet
}

// observe counts trials and finds the best one. trials come from the cache
// and are not modified.
func observe(trials []crucible.Trial, total int64, goal crucible.Goal) observation {
	obs := observation{indices: newIndexSet(total)}
	minimize := goal != crucible.GoalMaximize
	for i := range trials {
		t := &trials[i]
		obs.created++
		obs.indices.add(t.Spec.Index)
		switch t.Status.Phase {
		case crucible.TrialSucceeded:
			obs.succeeded++
			if t.Status.Objective == "" {
				continue
			}
			// A tie is neither value better than the other (equal numbers,
			// or two unparseable values): it goes to the lower index.
			if obs.best == nil || metrics.Better(t.Status.Objective, obs.best.Status.Objective, minimize) ||
				(!metrics.Better(obs.best.Status.Objective, t.Status.Objective, minimize) && t.Spec.Index < obs.best.Spec.Index) {
				obs.best = t
			}
		case crucible.TrialFailed:
			obs.failed++
		case crucible.TrialStopped:
			obs.stopped++
		default:
			obs.active++
		}
	}
	return obs
}

// isTerminal reports whether the Experiment has ended: it succeeded or
// failed. Both are final: later changes to the spec do not revive it.
func isTerminal(status *crucible.ExperimentStatus) bool {
	return meta.IsStatusConditionTrue(status.Conditions, crucible.ExperimentSucceededCondition) ||
		meta.IsStatusConditionTrue(status.Conditions, crucible.ExperimentFailedCondition)
}

// setCounts writes the trial counts.
func setCounts(status *crucible.ExperimentStatus, total int64, obs observation) {
	status.Trials = crucible.TrialCounts{
		Total:     int32(total),
		Created:   obs.created,
		Active:    obs.active,
		Succeeded: obs.succeeded,
		Failed:    obs.failed,
		Stopped:   obs.stopped,
		Repeated:  obs.repeated,
	}
}

// setBestTrial writes the best trial, or clears it when no trial succeeded
// with an objective.
func setBestTrial(status *crucible.ExperimentStatus, obs observation) {
	if obs.best == nil {
		status.BestTrial = nil
		return
	}
	b := obs.best
	status.BestTrial = &crucible.BestTrial{
		Name:       b.Name,
		Index:      b.Spec.Index,
		Parameters: append([]crucible.ParameterAssignment(nil), b.Spec.Parameters...),
		Seed:       b.Spec.Seed,
		Objective:  b.Status.Objective,
	}
}

// setFailedCondition sets Failed to True once more trials failed than
// maxFailedTrials allows. Once the Experiment has ended, failed or
// succeeded, the condition no longer changes.
func setFailedCondition(exp *crucible.Experiment, obs observation, now metav1.Time) {
	status := &exp.Status
	if isTerminal(status) {
		return
	}
	cond := metav1.Condition{
		Type:               crucible.ExperimentFailedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             crucible.ReasonWithinFailureBudget,
		Message:            fmt.Sprintf("%d of at most %d trials failed", obs.failed, exp.Spec.MaxFailedTrials),
		ObservedGeneration: exp.Generation,
		LastTransitionTime: now,
	}
	if obs.failed > exp.Spec.MaxFailedTrials {
		cond.Status = metav1.ConditionTrue
		cond.Reason = crucible.ReasonMaxFailedTrialsExceeded
		cond.Message = fmt.Sprintf("%d trials failed, more than maxFailedTrials (%d): no new trials start; %d running trials finish and are recorded",
			obs.failed, exp.Spec.MaxFailedTrials, obs.active)
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}

// setFailedFor marks the Experiment Failed for a reason other than its
// failure budget: its search space or its trials' Job cannot be run.
// Failed is final: an Experiment that has ended, failed or succeeded, keeps
// its outcome. setSucceededCondition then gives Succeeded the same reason.
func setFailedFor(exp *crucible.Experiment, reason, message string, now metav1.Time) {
	if isTerminal(&exp.Status) {
		return
	}
	setCondition(exp, crucible.ExperimentFailedCondition, metav1.ConditionTrue, reason, message, now)
}

// setTemplateCondition records the dry run of the first trial's Job, for
// this generation.
func setTemplateCondition(exp *crucible.Experiment, status metav1.ConditionStatus, reason, message string, now metav1.Time) {
	setCondition(exp, crucible.ExperimentTemplateValidCondition, status, reason, message, now)
}

// setCollected sets the Collected condition.
func setCollected(exp *crucible.Experiment, status metav1.ConditionStatus, reason, message string, now metav1.Time) {
	setCondition(exp, crucible.ExperimentCollectedCondition, status, reason, message, now)
}

// setCondition sets the condition of type t, observed at the Experiment's
// generation, its message bounded.
func setCondition(exp *crucible.Experiment, t string, status metav1.ConditionStatus, reason, message string, now metav1.Time) {
	meta.SetStatusCondition(&exp.Status.Conditions, metav1.Condition{
		Type:               t,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message),
		ObservedGeneration: exp.Generation,
		LastTransitionTime: now,
	})
}

// setStatus recomputes what a pass computes from the Trials it saw, once
// Failed is decided: counts, best trial, the other conditions, phase and
// times. Every way an Experiment fails ends in the same shape: phase
// Failed, Failed True, Succeeded False with Failed's reason, Stalled True
// with Failed's reason, and completionTime once no trial is active.
func setStatus(exp *crucible.Experiment, total int64, obs observation, now metav1.Time) {
	setCounts(&exp.Status, total, obs)
	setBestTrial(&exp.Status, obs)
	setSucceededCondition(exp, total, obs, now)
	setSuspendedCondition(exp, now)
	setPhase(exp)
	setReconcilingAndStalled(exp, now)
	setTimes(&exp.Status, now)
}

// setSucceededCondition sets Succeeded to True once every trial of the
// search space has ended within the failure budget. Once True it stays True.
func setSucceededCondition(exp *crucible.Experiment, total int64, obs observation, now metav1.Time) {
	status := &exp.Status
	if meta.IsStatusConditionTrue(status.Conditions, crucible.ExperimentSucceededCondition) {
		return
	}
	cond := metav1.Condition{
		Type:               crucible.ExperimentSucceededCondition,
		Status:             metav1.ConditionFalse,
		Reason:             crucible.ReasonTrialsRemaining,
		Message:            fmt.Sprintf("%d of %d trials ended, %d active", obs.succeeded+obs.failed+obs.stopped+obs.repeated, total, obs.active),
		ObservedGeneration: exp.Generation,
		LastTransitionTime: now,
	}
	if failed := meta.FindStatusCondition(status.Conditions, crucible.ExperimentFailedCondition); failed != nil && failed.Status == metav1.ConditionTrue {
		cond.Reason = failed.Reason
		cond.Message = "the Experiment failed: " + failed.Message
	} else if int64(obs.created+obs.repeated) == total && obs.active == 0 {
		cond.Status = metav1.ConditionTrue
		cond.Reason = crucible.ReasonAllTrialsEnded
		cond.Message = fmt.Sprintf("all %d trials ended: %d succeeded, %d failed", total, obs.succeeded, obs.failed)
		if obs.stopped > 0 {
			cond.Message += fmt.Sprintf(", %d stopped early", obs.stopped)
		}
	}
	cond.Message = truncate(cond.Message)
	meta.SetStatusCondition(&status.Conditions, cond)
}

// setSuspendedCondition mirrors spec.suspend.
func setSuspendedCondition(exp *crucible.Experiment, now metav1.Time) {
	cond := metav1.Condition{
		Type:               crucible.ExperimentSuspendedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             crucible.ReasonNotSuspended,
		Message:            "spec.suspend is false",
		ObservedGeneration: exp.Generation,
		LastTransitionTime: now,
	}
	prev := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentSuspendedCondition)
	switch {
	case exp.Spec.Suspend:
		cond.Status = metav1.ConditionTrue
		cond.Reason = crucible.ReasonSuspendedBySpec
		cond.Message = "spec.suspend is true: no new trials start; running trials finish"
	case prev != nil && (prev.Status == metav1.ConditionTrue || prev.Reason == crucible.ReasonResumed):
		cond.Reason = crucible.ReasonResumed
		cond.Message = "spec.suspend was cleared: trials start again"
	}
	meta.SetStatusCondition(&exp.Status.Conditions, cond)
}

// setPhase summarises the conditions and counts in one word.
func setPhase(exp *crucible.Experiment) {
	status := &exp.Status
	switch {
	case meta.IsStatusConditionTrue(status.Conditions, crucible.ExperimentFailedCondition):
		status.Phase = crucible.ExperimentFailed
	case meta.IsStatusConditionTrue(status.Conditions, crucible.ExperimentSucceededCondition):
		status.Phase = crucible.ExperimentSucceeded
	case exp.Spec.Suspend:
		status.Phase = crucible.ExperimentSuspended
	case status.Trials.Created == 0:
		status.Phase = crucible.ExperimentPending
	default:
		status.Phase = crucible.ExperimentRunning
	}
}

// setReconcilingAndStalled sets the conditions kstatus reads, from the
// phase: Reconciling while the Experiment is Pending or Running, so that
// Flux waits for its end; Stalled once it Failed, with Failed's reason and
// message; neither once it Succeeded, nor while it is Suspended: a
// suspended Experiment is where its spec says it should be, and kstatus
// reads it as Current (Argo CD's health check says Suspended).
func setReconcilingAndStalled(exp *crucible.Experiment, now metav1.Time) {
	status := &exp.Status
	switch status.Phase {
	case crucible.ExperimentPending, crucible.ExperimentRunning:
		meta.RemoveStatusCondition(&status.Conditions, crucible.StalledCondition)
		message := "no trial has been created yet"
		if v := meta.FindStatusCondition(status.Conditions, crucible.ExperimentDatasetVerifiedCondition); v != nil && v.Status == metav1.ConditionUnknown {
			message = "waiting for the dataset's verification: " + v.Message
		}
		if s := meta.FindStatusCondition(status.Conditions, crucible.ExperimentSucceededCondition); s != nil && status.Phase == crucible.ExperimentRunning {
			message = s.Message
		}
		setCondition(exp, crucible.ReconcilingCondition, metav1.ConditionTrue, string(status.Phase), message, now)
	case crucible.ExperimentFailed:
		meta.RemoveStatusCondition(&status.Conditions, crucible.ReconcilingCondition)
		if f := meta.FindStatusCondition(status.Conditions, crucible.ExperimentFailedCondition); f != nil {
			setCondition(exp, crucible.StalledCondition, metav1.ConditionTrue, f.Reason, f.Message, now)
		}
	default:
		meta.RemoveStatusCondition(&status.Conditions, crucible.ReconcilingCondition)
		meta.RemoveStatusCondition(&status.Conditions, crucible.StalledCondition)
	}
}

// setTimes records when the first trial was created and when the
// Experiment ended with no trial left running.
func setTimes(status *crucible.ExperimentStatus, now metav1.Time) {
	if status.StartTime == nil && status.Trials.Created > 0 {
		status.StartTime = &now
	}
	if status.CompletionTime == nil && isTerminal(status) && status.Trials.Active == 0 {
		status.CompletionTime = &now
	}
}

func truncate(s string) string {
	if len(s) <= maxMessageLength {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessageLength-3], "") + "..."
}

// indexSet is a bitset of search-space indices.
type indexSet []uint64

func newIndexSet(n int64) indexSet {
	return make(indexSet, (n+63)/64)
}

func (s indexSet) add(i int64) {
	if i >= 0 && i/64 < int64(len(s)) {
		s[i/64] |= 1 << (uint(i) % 64)
	}
}

func (s indexSet) has(i int64) bool {
	return i >= 0 && i/64 < int64(len(s)) && s[i/64]&(1<<(uint(i)%64)) != 0
}

// missing returns up to n indices below total that have no Trial, lowest
// first.
func (s indexSet) missing(total int64, n int) []int64 {
	var out []int64
	for w := range s {
		free := ^s[w]
		for free != 0 && len(out) < n {
			i := int64(w)*64 + int64(bits.TrailingZeros64(free))
			if i >= total {
				return out
			}
			out = append(out, i)
			free &= free - 1
		}
		if len(out) == n {
			break
		}
	}
	return out
}
