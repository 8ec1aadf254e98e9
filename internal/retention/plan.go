package retention

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Action is the next step of applying a retention policy to an ended
// Experiment. The steps run in this order, each recorded in the
// Experiment's status before the next is planned, so that an operator
// restarted at any point redoes only idempotent work and counts nothing
// twice:
//
//  1. Artifacts (Wait, then DeleteArtifacts): once the artifacts' TTL has
//     passed, the artifacts of the trials the policy does not keep are
//     deleted (deleting a deleted prefix deletes nothing); then what was
//     counted and the applied artifacts policy are recorded.
//  2. CountTrials: the Trials the policy does not keep are counted, and
//     the count and the applied Trials policy are recorded.
//  3. DeleteTrials: those Trials are deleted (again on every pass, should
//     one be left). Trials go after artifacts, since their records say
//     where the artifacts are.
//
// The counts of a changed policy are what it collects in addition to the
// previously applied one: the trials the old policy removed are not counted
// again.
type Action int

const (
	// Nothing is to be done: the policy keeps every Trial and every artifact.
	Nothing Action = iota
	// Wait until Plan.Due, when the artifacts not kept may be deleted.
	Wait
	// DeleteArtifacts deletes the artifacts of the trials Plan.Remove,
	// counts the records of Plan.Count, then records the artifacts policy
	// as applied. Remove is empty when the policy deletes no artifact (no
	// s3 store, or it keeps them all): the step only records it.
	DeleteArtifacts
	// CountTrials adds len(Plan.Count) to the Trials deleted and records
	// the Trials policy as applied.
	CountTrials
	// DeleteTrials deletes the Trials Plan.Remove that still exist; the
	// policy is then applied.
	DeleteTrials
)

// String names the action, for logs and test failures.
func (a Action) String() string {
	switch a {
	case Nothing:
		return "Nothing"
	case Wait:
		return "Wait"
	case DeleteArtifacts:
		return "DeleteArtifacts"
	case CountTrials:
		return "CountTrials"
	case DeleteTrials:
		return "DeleteTrials"
	}
	return "Action(?)"
}

// Input is what the plan is computed from: the Experiment's policy and
// record, and its trials.
type Input struct {
	// Policy is spec.retention; nil keeps everything.
	Policy *crucible.RetentionSpec
	// Applied is status.retention.appliedPolicy: nil when no step has been
	// recorded yet.
	Applied *crucible.RetentionSpec
	// S3 is whether the artifacts are in an s3 store, the only kind
	// retention deletes.
	S3 bool
	// Minimize is the objective's goal: lower is better when true.
	Minimize bool
	// Ended is when the Experiment ended (status.completionTime); Now is
	// the clock's time.
	Ended, Now time.Time
	// Candidates are the Experiment's Trials that still exist.
	Candidates []Candidate
}

// Plan is the next step.
type Plan struct {
	Action Action
	// Due is when to look again, for Wait.
	Due time.Time
	// Remove is the trials whose artifacts (DeleteArtifacts) or Trials
	// (DeleteTrials, CountTrials) the policy removes, sorted by index.
	Remove []string
	// Count is those of Remove the applied policy had not removed: what
	// this step adds to the counts.
	Count []string
}

// Next plans the next step of applying in.Policy. It is a pure function of
// its input.
func Next(in Input) Plan {
	policy := in.Policy
	if policy == nil {
		return Plan{Action: Nothing}
	}
	collectsArtifacts := in.S3 && removesSome(policy.Artifacts.KeepBest, policy.Artifacts.Failed)
	if !collectsArtifacts && !removesSome(policy.Trials.KeepBest, policy.Trials.Failed) {
		return Plan{Action: Nothing}
	}
	var applied crucible.RetentionSpec
	if in.Applied != nil {
		applied = *in.Applied
	}

	// Step 1: artifacts.
	if in.Applied == nil || !sameSelection(applied.Artifacts.KeepBest, applied.Artifacts.Failed,
		policy.Artifacts.KeepBest, policy.Artifacts.Failed) {
		if !collectsArtifacts {
			return Plan{Action: DeleteArtifacts, Remove: []string{}, Count: []string{}}
		}
		due := in.Ended.Add(time.Duration(policy.Artifacts.TTLSecondsAfterFinished) * time.Second)
		if in.Now.Before(due) {
			return Plan{Action: Wait, Due: due}
		}
		remove, count := removals(in.Candidates, in.Minimize, policy.Artifacts.KeepBest, policy.Artifacts.Failed,
			applied.Artifacts.KeepBest, applied.Artifacts.Failed)
		return Plan{Action: DeleteArtifacts, Remove: remove, Count: count}
	}

	// Steps 2 and 3: Trials.
	remove, count := removals(in.Candidates, in.Minimize, policy.Trials.KeepBest, policy.Trials.Failed,
		applied.Trials.KeepBest, applied.Trials.Failed)
	if !sameSelection(applied.Trials.KeepBest, applied.Trials.Failed, policy.Trials.KeepBest, policy.Trials.Failed) {
		return Plan{Action: CountTrials, Remove: remove, Count: count}
	}
	return Plan{Action: DeleteTrials, Remove: remove, Count: []string{}}
}

// Candidates are trials as retention sees them.
func Candidates(trials []crucible.Trial) []Candidate {
	out := make([]Candidate, len(trials))
	for i := range trials {
		t := &trials[i]
		c := Candidate{Name: t.Name, Index: t.Spec.Index, Objective: t.Status.Objective}
		switch t.Status.Phase {
		case crucible.TrialSucceeded, crucible.TrialStopped:
			// A stopped trial is ranked by its last objective, like one
			// that ran its course: it is no failure.
			c.Outcome = Succeeded
		case crucible.TrialFailed:
			c.Outcome = Failed
		default:
			c.Outcome = Active
		}
		out[i] = c
	}
	return out
}

// removesSome reports whether keeping the best keepBest and the failed
// trials as failed says can leave some out.
func removesSome(keepBest *int32, failed crucible.FailedPolicy) bool {
	return keepBest != nil || !keepFailed(failed)
}

// sameSelection reports whether two policies keep the same trials.
func sameSelection(keepBestA *int32, failedA crucible.FailedPolicy, keepBestB *int32, failedB crucible.FailedPolicy) bool {
	return ptr.Equal(keepBestA, keepBestB) && keepFailed(failedA) == keepFailed(failedB)
}

// keepFailed reads a FailedPolicy; the default keeps.
func keepFailed(p crucible.FailedPolicy) bool { return p != crucible.FailedDelete }

// removals returns the names the current selection (keepBest, failed)
// removes, and those of them the previously applied selection did not
// remove, so that only what the current one adds is counted.
func removals(cands []Candidate, minimize bool, keepBest *int32, failed crucible.FailedPolicy,
	appliedKeepBest *int32, appliedFailed crucible.FailedPolicy) (remove, count []string) {
	_, remove = Select(cands, Policy{KeepBest: keepBest, KeepFailed: keepFailed(failed), Minimize: minimize})
	if !removesSome(appliedKeepBest, appliedFailed) {
		return remove, slices.Clone(remove)
	}
	_, prev := Select(cands, Policy{KeepBest: appliedKeepBest, KeepFailed: keepFailed(appliedFailed), Minimize: minimize})
	before := sets.New(prev...)
	count = make([]string, 0, len(remove))
	for _, name := range remove {
		if !before.Has(name) {
			count = append(count, name)
		}
	}
	return remove, count
}
