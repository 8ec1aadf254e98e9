package experiment

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/reproduce"
)

// checkReproduction fails a reproduction whose inputs are not the ones its
// spec.reproduces records, before its trial is created: the API server
// compared what CEL can (image, dataset digest, seed, point), this compares
// the rest by the trial-inputs digest.
func checkReproduction(exp *crucible.Experiment, obs observation, now metav1.Time) {
	if exp.Spec.Reproduces == nil || obs.created > 0 || isTerminal(&exp.Status) {
		return
	}
	if err := reproduce.CheckPins(&exp.Spec); err != nil {
		setFailedFor(exp, crucible.ReasonReproductionPinsDiffer, err.Error(), now)
	}
}

// setReproduction writes a reproduction's verdict once it has ended with
// no trial running, in the same status write as its end. It is written
// once: later passes, and retention deleting the Trial, leave it.
func setReproduction(exp *crucible.Experiment, trials []crucible.Trial) {
	if exp.Spec.Reproduces == nil || exp.Status.CompletionTime == nil || exp.Status.Reproduction != nil {
		return
	}
	for i := range trials {
		t := &trials[i]
		if t.Status.Phase == crucible.TrialSucceeded || t.Status.Phase == crucible.TrialFailed {
			exp.Status.Reproduction = reproduce.Judge(exp.Spec.Reproduces, t)
			return
		}
	}
	// Ended without a trial result: the dataset, the pins or the template
	// did not pass.
	reason, message := "NoTrial", "the reproduction ended before its trial ran"
	if c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentFailedCondition); c != nil && c.Status == metav1.ConditionTrue {
		reason, message = c.Reason, c.Message
	}
	exp.Status.Reproduction = reproduce.NotComparable(reason, message)
}
