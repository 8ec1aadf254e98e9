package reproduce

import (
	"cmp"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// maxExponent bounds the binary exponent of a metric compared as a number
// (about 1e±600): metrics are compared exactly, as rationals, and a value
// like 1e-999999999 would take gigabytes as one. Beyond it a metric is
// compared as written.
const maxExponent = 2000

// maxMessage is the longest status.reproduction.message; a longer one is
// cut, the metrics list keeps every value.
const maxMessage = 4096

// Judge compares an ended reproduction's trial with the original it
// reproduces. A trial that failed is NotComparable with its reason; one
// that succeeded is Identical when every metric of the original is equal,
// WithinTolerance when each is equal or within its tolerance, and Differs
// when any is missing or beyond it.
func Judge(r *crucible.ReproductionSpec, trial *crucible.Trial) *crucible.ReproductionStatus {
	if trial.Status.Phase != crucible.TrialSucceeded {
		reason := cmp.Or(trial.Status.Reason, "TrialFailed")
		return &crucible.ReproductionStatus{
			Verdict: crucible.VerdictNotComparable,
			Reason:  reason,
			Message: cut(fmt.Sprintf("the reproduction's trial %s did not succeed (%s): %s", trial.Name, reason, trial.Status.Message)),
			Trial:   trial.Name,
		}
	}
	tolerances := map[string]crucible.MetricTolerance{}
	for _, t := range r.Tolerances {
		tolerances[t.Metric] = t
	}
	st := &crucible.ReproductionStatus{Verdict: crucible.VerdictIdentical, Trial: trial.Name}
	var notes []string
	for _, name := range slices.Sorted(maps.Keys(r.Metrics)) {
		c := compare(name, r.Metrics[name], trial.Status.Metrics, tolerances[name])
		st.Metrics = append(st.Metrics, c)
		switch c.Outcome {
		case crucible.MetricMissing:
			st.Verdict = crucible.VerdictDiffers
			notes = append(notes, fmt.Sprintf("%s was not reported (original %s)", name, c.Original))
		case crucible.MetricDiffers:
			st.Verdict = crucible.VerdictDiffers
			notes = append(notes, fmt.Sprintf("%s differs: %s, original %s (%s)", name, c.Reproduced, c.Original, describe(c.Difference, tolerances[name])))
		case crucible.MetricWithinTolerance:
			if st.Verdict == crucible.VerdictIdentical {
				st.Verdict = crucible.VerdictWithinTolerance
			}
			notes = append(notes, fmt.Sprintf("%s within tolerance: %s, original %s (%s)", name, c.Reproduced, c.Original, describe(c.Difference, tolerances[name])))
		}
	}
	// Differences first: they are what a reader looks for.
	slices.SortStableFunc(notes, func(a, b string) int {
		return cmp.Compare(boolRank(strings.Contains(a, " within tolerance: ")), boolRank(strings.Contains(b, " within tolerance: ")))
	})
	if st.Verdict == crucible.VerdictIdentical {
		notes = append(notes, fmt.Sprintf("all %d metrics equal", len(st.Metrics)))
	}
	if a := trial.Status.Artifacts; r.ManifestDigest != "" && a != nil && a.ManifestDigest != "" {
		st.ArtifactsMatched = ptr.To(a.ManifestDigest == r.ManifestDigest)
		if *st.ArtifactsMatched {
			notes = append(notes, "artifacts: the manifest digest matched")
		} else {
			notes = append(notes, fmt.Sprintf("artifacts: manifest digest %s, original %s", a.ManifestDigest, r.ManifestDigest))
		}
	}
	st.Message = cut(strings.Join(notes, "; "))
	return st
}

// NotComparable is the verdict on a reproduction that ended without a
// trial result: its dataset or its pins did not match, its template was
// refused.
func NotComparable(reason, message string) *crucible.ReproductionStatus {
	return &crucible.ReproductionStatus{Verdict: crucible.VerdictNotComparable, Reason: reason, Message: cut(message)}
}

// compare compares one metric of the original with the reproduced ones.
func compare(name, original string, reproduced map[string]string, tol crucible.MetricTolerance) crucible.MetricComparison {
	c := crucible.MetricComparison{Name: name, Original: original}
	got, ok := reproduced[name]
	if !ok {
		c.Outcome = crucible.MetricMissing
		return c
	}
	c.Reproduced = got
	a, aok := number(original)
	b, bok := number(got)
	if !aok || !bok {
		// Not numbers (both sides are a Pod's or a tenant's words): equal
		// only as written.
		c.Outcome = crucible.MetricDiffers
		if got == original {
			c.Outcome = crucible.MetricEqual
		}
		return c
	}
	d := new(big.Rat).Sub(b, a)
	if d.Sign() == 0 {
		c.Outcome = crucible.MetricEqual
		c.Difference = "0"
		return c
	}
	f, _ := d.Float64()
	c.Difference = strconv.FormatFloat(f, 'g', -1, 64)
	if f > 0 {
		c.Difference = "+" + c.Difference
	}
	c.Outcome = crucible.MetricDiffers
	if within(d, a, tol) {
		c.Outcome = crucible.MetricWithinTolerance
	}
	return c
}

// within reports whether |d| is at most tol.absolute, or at most
// tol.relative times |original|.
func within(d, original *big.Rat, tol crucible.MetricTolerance) bool {
	ad := new(big.Rat).Abs(d)
	if abs, ok := number(tol.Absolute); ok && ad.Cmp(abs) <= 0 {
		return true
	}
	if rel, ok := number(tol.Relative); ok {
		bound := new(big.Rat).Mul(rel, new(big.Rat).Abs(original))
		if ad.Cmp(bound) <= 0 {
			return true
		}
	}
	return false
}

// number parses a finite decimal of a bounded exponent, exactly; false for
// anything else.
func number(s string) (*big.Rat, bool) {
	if s == "" {
		return nil, false
	}
	f, _, err := new(big.Float).Parse(s, 10)
	if err != nil || f.IsInf() {
		return nil, false
	}
	if e := f.MantExp(nil); e > maxExponent || e < -maxExponent {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// describe says a difference and the tolerance it was held to.
func describe(difference string, tol crucible.MetricTolerance) string {
	var bounds []string
	if tol.Absolute != "" {
		bounds = append(bounds, "absolute "+tol.Absolute)
	}
	if tol.Relative != "" {
		bounds = append(bounds, "relative "+tol.Relative)
	}
	if difference == "" {
		difference = "not a number"
	}
	if len(bounds) == 0 {
		return difference + ", no tolerance"
	}
	return difference + ", tolerance " + strings.Join(bounds, " or ")
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cut keeps a message within status.reproduction.message's limit.
func cut(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessage-3], "") + "..."
}
