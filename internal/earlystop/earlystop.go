package earlystop

import (
	"math"
	"strconv"
)

// Goal says whether lower or higher values of the objective are better.
type Goal int8

const (
	// Minimize means lower values are better.
	Minimize Goal = iota
	// Maximize means higher values are better.
	Maximize
)

// String returns "Minimize" or "Maximize", as the API spells goals.
func (g Goal) String() string {
	if g == Maximize {
		return "Maximize"
	}
	return "Minimize"
}

// Sample is the objective's value reported at one step.
type Sample struct {
	// Step is the trainer's step number, at least 0.
	Step int64
	// Value is the objective's value at Step.
	Value float64
}

// Other is a trial other than the one being judged.
type Other struct {
	// Curve is its samples in ascending order of step.
	Curve []Sample
	// Completed says the trial ran to its end and succeeded. Trials that
	// failed or were stopped early are not completed: Katib, Optuna and Ray
	// Tune count only trials that ran their course.
	Completed bool
}

// Decision is what a rule decided about a trial.
type Decision struct {
	// Stop says the trial should be stopped.
	Stop bool
	// Step is the step the rule judged at: the trial's latest step for
	// MedianStop, the rung for ASHA; 0 when the rule could not judge yet.
	Step int64
	// Message says, with the rule's numbers, why the trial is stopped or why
	// it continues, in one sentence without a final period.
	Message string
}

// Rule decides whether to stop a trial from its curve and the others'.
type Rule interface {
	// Decide judges trial, a curve in ascending order of step, against
	// others, which must not include it. It is a pure function of its
	// arguments and does not modify them.
	Decide(goal Goal, trial []Sample, others []Other) Decision
}

var (
	_ Rule = MedianStop{}
	_ Rule = ASHA{}
)

// usable reports whether a sample's value takes part in decisions.
func usable(s Sample) bool {
	return !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0)
}

// lastStep returns the greatest step of a usable sample of curve.
func lastStep(curve []Sample) (int64, bool) {
	var last int64
	found := false
	for _, s := range curve {
		if usable(s) && (!found || s.Step > last) {
			last, found = s.Step, true
		}
	}
	return last, found
}

// valueAt returns the value of curve at step: that of its usable sample with
// the greatest step at or before step, the later one in curve of two with
// the same step. It does not rely on curve being sorted.
func valueAt(curve []Sample, step int64) (float64, bool) {
	var at Sample
	found := false
	for _, s := range curve {
		if usable(s) && s.Step <= step && (!found || s.Step >= at.Step) {
			at, found = s, true
		}
	}
	return at.Value, found
}

// worse reports whether a is strictly worse than b for goal.
func worse(goal Goal, a, b float64) bool {
	if goal == Maximize {
		return a < b
	}
	return a > b
}

// num spells a value for a message: the shortest decimal that reads back as
// v, so a message quotes exactly the numbers that were compared.
func num(v float64) string {
	if v == 0 {
		v = 0 // spell -0 as 0
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// plural returns "1 trial" or "n trials".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
