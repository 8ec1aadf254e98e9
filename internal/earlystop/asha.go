package earlystop

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

const (
	// DefaultGracePeriod is ASHA's GracePeriod when it is 0: the first rung
	// is at step 1, as Ray Tune's ASHAScheduler grace_period defaults to 1.
	DefaultGracePeriod = 1
	// DefaultReductionFactor is ASHA's ReductionFactor when it is 0: the η
	// of the Hyperband paper. (Ray Tune's ASHAScheduler defaults to 4.)
	DefaultReductionFactor = 3
	// MaxReductionFactor bounds ReductionFactor. A larger factor leaves every
	// rung after the first out of reach of any trainer, and the bound keeps
	// the rule's integer arithmetic far from overflow.
	MaxReductionFactor = 1000
)

// ASHA is asynchronous successive halving (Li et al., "A System for Massively
// Parallel Hyperparameter Tuning", 2020) as Ray Tune's
// AsyncHyperBandScheduler implements it with a single bracket.
//
// Rungs are at steps GracePeriod × ReductionFactor^k, k = 0, 1, 2, ..., up to
// MaxResource. A trial that reaches a rung continues only if its value there
// is not worse than the cutoff of the best 1/ReductionFactor of the values
// the other trials recorded at that rung: their (1 − 1/ReductionFactor)
// quantile, with values negated for Minimize, by linear interpolation
// (numpy's default, which Ray Tune uses).
//
// Rungs are computed with integers, so a MaxResource that is an exact power
// is a rung. (Ray Tune computes the number of rungs with floating-point
// logarithms, which can miss that last rung.) Ray Tune also stops every trial
// at max_t; here a trial reaching MaxResource is only judged at it, and ends
// when its trainer does.
type ASHA struct {
	// GracePeriod is the first rung, the step before which no trial is
	// stopped. 0 means DefaultGracePeriod.
	GracePeriod int64
	// ReductionFactor is the ratio between rungs; about one trial in
	// ReductionFactor continues past each rung. 0 means
	// DefaultReductionFactor; otherwise it must be from 2 to
	// MaxReductionFactor.
	ReductionFactor int64
	// MaxResource bounds the rungs: none is above it. 0 means no bound, so
	// rungs continue for as long as steps do.
	MaxResource int64
}

// withDefaults returns a with its zero fields set to their defaults.
func (a ASHA) withDefaults() ASHA {
	if a.GracePeriod == 0 {
		a.GracePeriod = DefaultGracePeriod
	}
	if a.ReductionFactor == 0 {
		a.ReductionFactor = DefaultReductionFactor
	}
	if a.MaxResource == 0 {
		a.MaxResource = math.MaxInt64
	}
	return a
}

// Validate reports what is wrong with a, once its zero fields are given
// their defaults.
func (a ASHA) Validate() error {
	d := a.withDefaults()
	var errs []error
	if d.GracePeriod < 0 {
		errs = append(errs, fmt.Errorf("grace period %d is negative", a.GracePeriod))
	}
	if d.ReductionFactor < 2 || d.ReductionFactor > MaxReductionFactor {
		errs = append(errs, fmt.Errorf("reduction factor %d is not from 2 to %d", a.ReductionFactor, MaxReductionFactor))
	}
	if d.MaxResource < 0 {
		errs = append(errs, fmt.Errorf("max resource %d is negative", a.MaxResource))
	} else if d.GracePeriod > d.MaxResource {
		errs = append(errs, fmt.Errorf("grace period %d is above the max resource %d", d.GracePeriod, d.MaxResource))
	}
	return errors.Join(errs...)
}

// Rungs returns the rungs at or below limit, in ascending order, or nil if
// a is not valid.
func (a ASHA) Rungs(limit int64) []int64 {
	if a.Validate() != nil {
		return nil
	}
	d := a.withDefaults()
	limit = min(limit, d.MaxResource)
	var rungs []int64
	for r := d.GracePeriod; r <= limit; r *= d.ReductionFactor {
		rungs = append(rungs, r)
		if r > limit/d.ReductionFactor {
			break // the next rung is above limit, or would overflow
		}
	}
	return rungs
}

// Decide judges trial at the highest rung r at or below its latest step.
// The trial continues when it has no usable value, when its latest step is
// before the first rung, when it has no value at r (its first sample is
// after r), or when no other trial has reached r. Otherwise it stops if its
// value at r is strictly worse than the cutoff computed from the values at r
// of the other trials that reached r; a tie continues. Another trial has
// reached r when its latest step is at or after r and it has a value at r;
// completed trials count, as they do in Ray Tune. An invalid a never stops a
// trial; its Message says what is wrong.
//
// Like Ray Tune, the cutoff is computed from the other trials' values, not
// the judged trial's own. Unlike Ray Tune, which judges a trial once, when it
// reaches a rung, against the values recorded there before it, Decide has no
// arrival times: it judges against every other trial that has reached the
// rung in the curves it is given. Asked when the trial reaches the rung, it
// decides as Ray Tune does if the trials reached the rung in index order;
// asked again before the next rung, it may stop a trial that others, reaching
// the rung since, now outperform.
func (a ASHA) Decide(goal Goal, trial []Sample, others []Other) Decision {
	if err := a.Validate(); err != nil {
		return Decision{Message: fmt.Sprintf("ASHA cannot judge: %v", err)}
	}
	d := a.withDefaults()
	last, ok := lastStep(trial)
	if !ok {
		return Decision{Message: "the trial has reported no value yet"}
	}
	rungs := a.Rungs(last)
	if len(rungs) == 0 {
		return Decision{Message: fmt.Sprintf("step %d is before the first rung, %d", last, d.GracePeriod)}
	}
	rung := rungs[len(rungs)-1]
	value, ok := valueAt(trial, rung)
	if !ok {
		return Decision{Step: rung, Message: fmt.Sprintf("the trial has no value at rung %d: its first step is after it", rung)}
	}

	// Ray Tune negates values for Minimize so that higher is always better.
	sign := 1.0
	if goal == Minimize {
		sign = -1
	}
	var recorded []float64
	for _, o := range others {
		if l, ok := lastStep(o.Curve); !ok || l < rung {
			continue
		}
		if v, ok := valueAt(o.Curve, rung); ok {
			recorded = append(recorded, sign*v)
		}
	}
	if len(recorded) == 0 {
		return Decision{Step: rung, Message: fmt.Sprintf("value %s at rung %d is the first recorded at that rung", num(value), rung)}
	}

	cutoff := sign * quantile(recorded, d.ReductionFactor)
	dec := Decision{Step: rung, Stop: worse(goal, value, cutoff)}
	verdict := "is not worse than"
	if dec.Stop {
		verdict = "is worse than"
	}
	dec.Message = fmt.Sprintf("value %s at rung %d %s %s, the cutoff for the best 1/%d of the values of %s at that rung (%s)",
		num(value), rung, verdict, num(cutoff), d.ReductionFactor,
		plural(len(recorded), "other trial", "other trials"), goal)
	return dec
}

// quantile returns the (rf − 1)/rf quantile of values, which must not be
// empty, by linear interpolation between the two closest ranks, as numpy's
// percentile does by default. The rank, (n − 1)(rf − 1)/rf, and its
// fractional part are computed with integers, exactly; numpy computes them in
// floating point, which can differ in the last bits. It sorts values in
// place.
func quantile(values []float64, rf int64) float64 {
	slices.Sort(values)
	// With n and rf bounded, the numerator cannot overflow.
	num := int64(len(values)-1) * (rf - 1)
	lo, rem := num/rf, num%rf
	if rem == 0 {
		return values[lo]
	}
	a, b := values[lo], values[lo+1]
	// numpy's _lerp interpolates from the nearer end, so the result stays
	// within [a, b]. The float64 conversions forbid fusing the multiply and
	// the add (FMA), which some architectures would otherwise do, so that
	// every platform decides the same.
	if 2*rem >= rf {
		return b - float64((b-a)*(float64(rf-rem)/float64(rf)))
	}
	return a + float64((b-a)*(float64(rem)/float64(rf)))
}
