package earlystop

import (
	"fmt"
	"slices"
)

// DefaultMinTrials is MedianStop's MinTrials when it is 0: Katib's
// min_trials_required and Ray Tune's min_samples_required are both 3.
// (Optuna's n_startup_trials is 5; its median is over intermediate values
// at one step rather than running averages, which are steadier, so fewer
// trials suffice.)
const DefaultMinTrials = 3

// MedianStop is the median stopping rule (Golovin et al., "Google Vizier",
// 2017): stop a trial at step s if its best value by s is strictly worse than
// the median of the running averages, up to s, of the completed trials.
//
// The running average of a completed trial up to s is the mean of all its
// values at steps at or before s, as Ray Tune's MedianStoppingRule computes
// it; a completed trial with no value by s has none and is left out. (Katib's
// service averages the first start_step values of each completed trial
// instead, and takes their mean rather than their median; Vizier, Ray Tune
// and Optuna take the median, as here.)
//
// The zero MedianStop is Katib's rule without a start step: it judges from
// the first step once 3 completed trials have values.
type MedianStop struct {
	// MinTrials is how many completed trials must have a running average at
	// the judged step before the rule stops anything. 0 means
	// DefaultMinTrials.
	MinTrials int
	// StartStep is the first step at which a trial may be stopped. The
	// default, 0, is Optuna's n_warmup_steps: steps are whatever unit the
	// trainer counts (batches, epochs), so no other default suits every
	// trainer. (Katib's start_step, 4, is a number of reports.)
	StartStep int64
}

// Decide judges trial at its latest step s, its greatest reported step.
// The trial continues when it has no usable value, when s is before
// StartStep, or when fewer than MinTrials completed trials have values by s.
// Otherwise it stops if its best value by s is strictly worse than the
// median of the completed trials' running averages up to s; a tie
// continues. Trials in others that are not completed are ignored.
func (m MedianStop) Decide(goal Goal, trial []Sample, others []Other) Decision {
	minTrials := m.MinTrials
	if minTrials <= 0 {
		minTrials = DefaultMinTrials
	}
	step, ok := lastStep(trial)
	if !ok {
		return Decision{Message: "the trial has reported no value yet"}
	}
	if step < m.StartStep {
		return Decision{Message: fmt.Sprintf("step %d is before the start step %d", step, m.StartStep)}
	}

	best, _ := valueAt(trial, step)
	for _, s := range trial {
		if usable(s) && s.Step <= step && worse(goal, best, s.Value) {
			best = s.Value
		}
	}

	var averages []float64
	for _, o := range others {
		if !o.Completed {
			continue
		}
		if avg, ok := runningAverage(o.Curve, step); ok {
			averages = append(averages, avg)
		}
	}
	if len(averages) < minTrials {
		return Decision{Step: step, Message: fmt.Sprintf(
			"%s reported by step %d; the median rule needs %d",
			plural(len(averages), "completed trial", "completed trials"), step, minTrials)}
	}

	med := median(averages)
	d := Decision{Step: step, Stop: worse(goal, best, med)}
	verdict := "is not worse than"
	if d.Stop {
		verdict = "is worse than"
	}
	d.Message = fmt.Sprintf("best value %s by step %d %s %s, the median of the running averages of %s by that step (%s)",
		num(best), step, verdict, num(med), plural(len(averages), "completed trial", "completed trials"), goal)
	return d
}

// runningAverage returns the mean of curve's usable values at steps at or
// before step, summed in the curve's order.
func runningAverage(curve []Sample, step int64) (float64, bool) {
	sum, n := 0.0, 0
	for _, s := range curve {
		if usable(s) && s.Step <= step {
			sum += s.Value
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// median returns the median of values, which must not be empty: the middle
// value, or the mean of the two middle values of an even count. It sorts
// values in place.
func median(values []float64) float64 {
	slices.Sort(values)
	n := len(values)
	if n%2 == 1 {
		return values[n/2]
	}
	return (values[n/2-1] + values[n/2]) / 2
}
