package earlystop

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// curve builds a curve from step, value pairs.
func curve(pairs ...float64) []Sample {
	if len(pairs)%2 != 0 {
		panic("curve needs step, value pairs")
	}
	var c []Sample
	for i := 0; i < len(pairs); i += 2 {
		c = append(c, Sample{Step: int64(pairs[i]), Value: pairs[i+1]})
	}
	return c
}

func done(c []Sample) Other    { return Other{Curve: c, Completed: true} }
func running(c []Sample) Other { return Other{Curve: c} }

func TestMedianStop(t *testing.T) {
	// Three completed trials whose running averages by step 2 are 2, 4 and
	// 6 (and by step 1: 2.5, 4.5, 6.5): median 4 by step 2.
	a := done(curve(0, 3, 1, 2, 2, 1, 3, 0))   // (3+2+1)/3 = 2
	b := done(curve(0, 5, 1, 4, 2, 3, 3, 2))   // (5+4+3)/3 = 4
	c := done(curve(0, 7, 1, 6, 2, 5, 9, -50)) // (7+6+5)/3 = 6
	tests := []struct {
		name   string
		rule   MedianStop
		goal   Goal
		trial  []Sample
		others []Other
		want   Decision
	}{
		{
			name: "no value yet",
			rule: MedianStop{}, trial: nil, others: []Other{a, b, c},
			want: Decision{Message: "the trial has reported no value yet"},
		},
		{
			name: "before the start step",
			rule: MedianStop{StartStep: 3}, trial: curve(0, 9, 2, 9), others: []Other{a, b, c},
			want: Decision{Message: "step 2 is before the start step 3"},
		},
		{
			name:  "too few completed trials: running ones do not count",
			rule:  MedianStop{},
			trial: curve(0, 9, 1, 9, 2, 9), others: []Other{a, b, running(curve(0, 1, 1, 1, 2, 1))},
			want: Decision{Step: 2,
				Message: "2 completed trials reported by step 2; the median rule needs 3"},
		},
		{
			name:  "a completed trial with no value by the step does not count",
			rule:  MedianStop{},
			trial: curve(0, 9, 1, 9, 2, 9), others: []Other{a, b, done(curve(5, 0))},
			want: Decision{Step: 2,
				Message: "2 completed trials reported by step 2; the median rule needs 3"},
		},
		{
			name:  "minimize: best 4.5 by step 2 is worse than median 4",
			rule:  MedianStop{},
			trial: curve(0, 6, 1, 4.5, 2, 5), others: []Other{a, b, c},
			want: Decision{Stop: true, Step: 2,
				Message: "best value 4.5 by step 2 is worse than 4, the median of the running averages of 3 completed trials by that step (Minimize)"},
		},
		{
			name:  "minimize: the best, not the latest, value is compared",
			rule:  MedianStop{},
			trial: curve(0, 6, 1, 3.5, 2, 5), others: []Other{a, b, c},
			want: Decision{Step: 2,
				Message: "best value 3.5 by step 2 is not worse than 4, the median of the running averages of 3 completed trials by that step (Minimize)"},
		},
		{
			name:  "tie continues",
			rule:  MedianStop{},
			trial: curve(0, 6, 1, 4, 2, 5), others: []Other{a, b, c},
			want: Decision{Step: 2,
				Message: "best value 4 by step 2 is not worse than 4, the median of the running averages of 3 completed trials by that step (Minimize)"},
		},
		{
			name: "maximize: best 3.5 by step 2 is worse than median 4",
			rule: MedianStop{}, goal: Maximize,
			trial: curve(0, 1, 1, 3.5, 2, 2), others: []Other{a, b, c},
			want: Decision{Stop: true, Step: 2,
				Message: "best value 3.5 by step 2 is worse than 4, the median of the running averages of 3 completed trials by that step (Maximize)"},
		},
		{
			name: "maximize: best 4.5 continues",
			rule: MedianStop{}, goal: Maximize,
			trial: curve(0, 1, 1, 4.5, 2, 2), others: []Other{a, b, c},
			want: Decision{Step: 2,
				Message: "best value 4.5 by step 2 is not worse than 4, the median of the running averages of 3 completed trials by that step (Maximize)"},
		},
		{
			name: "judged at the trial's latest step: by step 1 the averages are 2.5, 4.5, 6.5",
			rule: MedianStop{},
			// Trailing samples of the others past step 1 are not averaged.
			trial: curve(0, 6, 1, 4.75), others: []Other{a, b, c},
			want: Decision{Stop: true, Step: 1,
				Message: "best value 4.75 by step 1 is worse than 4.5, the median of the running averages of 3 completed trials by that step (Minimize)"},
		},
		{
			name: "even count: the median is the mean of the middle two",
			rule: MedianStop{MinTrials: 4},
			// Averages 2, 4, 6, 8 by step 2: median 5.
			trial: curve(0, 5.25, 2, 5.5), others: []Other{a, b, c, done(curve(0, 8))},
			want: Decision{Stop: true, Step: 2,
				Message: "best value 5.25 by step 2 is worse than 5, the median of the running averages of 4 completed trials by that step (Minimize)"},
		},
		{
			name: "the others' sparse curves are averaged over what they reported",
			rule: MedianStop{MinTrials: 1},
			// One completed trial reported steps 0 and 10 only: by step 7
			// its average is its single value 2.
			trial: curve(7, 2.5), others: []Other{done(curve(0, 2, 10, 0))},
			want: Decision{Stop: true, Step: 7,
				Message: "best value 2.5 by step 7 is worse than 2, the median of the running averages of 1 completed trial by that step (Minimize)"},
		},
		{
			name:   "non-finite values are skipped",
			rule:   MedianStop{},
			trial:  curve(0, 6, 1, math.NaN(), 2, 4.5, 3, math.Inf(-1)),
			others: []Other{a, b, c, done(curve(0, math.NaN()))},
			want: Decision{Stop: true, Step: 2,
				Message: "best value 4.5 by step 2 is worse than 4, the median of the running averages of 3 completed trials by that step (Minimize)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.rule.Decide(tc.goal, tc.trial, tc.others)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestASHARungs(t *testing.T) {
	tests := []struct {
		name  string
		rule  ASHA
		limit int64
		want  []int64
	}{
		{name: "defaults", rule: ASHA{}, limit: 100, want: []int64{1, 3, 9, 27, 81}},
		{name: "an exact power of the max resource is a rung", rule: ASHA{MaxResource: 81}, limit: 1000, want: []int64{1, 3, 9, 27, 81}},
		{name: "grace period", rule: ASHA{GracePeriod: 10, ReductionFactor: 2}, limit: 100, want: []int64{10, 20, 40, 80}},
		{name: "below the first rung", rule: ASHA{GracePeriod: 5}, limit: 4, want: nil},
		{name: "unbounded stops before overflow", rule: ASHA{ReductionFactor: 1000}, limit: math.MaxInt64,
			want: []int64{1, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18}},
		{name: "invalid", rule: ASHA{ReductionFactor: 1}, limit: 100, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.rule.Rungs(tc.limit)); diff != "" {
				t.Errorf("Rungs(%d) (-want +got):\n%s", tc.limit, diff)
			}
		})
	}
}

func TestASHAValidate(t *testing.T) {
	tests := []struct {
		rule ASHA
		want string
	}{
		{rule: ASHA{}},
		{rule: ASHA{GracePeriod: 81, ReductionFactor: 3, MaxResource: 81}},
		{rule: ASHA{GracePeriod: -1}, want: "grace period -1 is negative"},
		{rule: ASHA{ReductionFactor: 1}, want: "reduction factor 1 is not from 2 to 1000"},
		{rule: ASHA{ReductionFactor: 1001}, want: "reduction factor 1001 is not from 2 to 1000"},
		{rule: ASHA{MaxResource: -3}, want: "max resource -3 is negative"},
		{rule: ASHA{GracePeriod: 10, MaxResource: 9}, want: "grace period 10 is above the max resource 9"},
	}
	for _, tc := range tests {
		got := ""
		if err := tc.rule.Validate(); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v.Validate() = %q, want %q", tc.rule, got, tc.want)
		}
	}
}

func TestASHA(t *testing.T) {
	// Defaults: rungs 1, 3, 9, 27, ...; the cutoff is the 2/3 quantile.
	// Four others at rung 3 with values 1, 2, 3, 4: the rank of the 2/3
	// quantile is 3 × 2/3 = 2, so the cutoff is 3 exactly (Maximize); for
	// Minimize the values are negated, -4 -3 -2 -1, and the cutoff is -2,
	// that is a loss of 2.
	at3 := []Other{
		done(curve(0, 0, 3, 1, 5, 0)),
		running(curve(0, 0, 3, 2)),
		running(curve(1, 0, 2, 3, 4, 0)), // value at rung 3 is that at step 2
		running(curve(0, 0, 3, 4)),
	}
	tests := []struct {
		name   string
		rule   ASHA
		goal   Goal
		trial  []Sample
		others []Other
		want   Decision
	}{
		{
			name: "no value yet", trial: nil, others: at3,
			want: Decision{Message: "the trial has reported no value yet"},
		},
		{
			name: "before the first rung", rule: ASHA{GracePeriod: 2},
			trial: curve(0, 0, 1, 0), others: at3,
			want: Decision{Message: "step 1 is before the first rung, 2"},
		},
		{
			name: "rung 1: every other trial's value there is that of step 0 or 1",
			// at3's values at rung 1 are all 0.
			trial: curve(0, 5, 1, 4.5), others: at3,
			want: Decision{Step: 1, Stop: true,
				Message: "value 4.5 at rung 1 is worse than 0, the cutoff for the best 1/3 of the values of 4 other trials at that rung (Minimize)"},
		},
		{
			name:  "no other trial reached the rung",
			trial: curve(0, 5, 9, 4.5), others: at3,
			want: Decision{Step: 9, Message: "value 4.5 at rung 9 is the first recorded at that rung"},
		},
		{
			name: "maximize: below the cutoff stops", goal: Maximize,
			trial: curve(0, 0, 3, 2.5), others: at3,
			want: Decision{Step: 3, Stop: true,
				Message: "value 2.5 at rung 3 is worse than 3, the cutoff for the best 1/3 of the values of 4 other trials at that rung (Maximize)"},
		},
		{
			name: "maximize: a tie continues", goal: Maximize,
			trial: curve(0, 0, 3, 3), others: at3,
			want: Decision{Step: 3,
				Message: "value 3 at rung 3 is not worse than 3, the cutoff for the best 1/3 of the values of 4 other trials at that rung (Maximize)"},
		},
		{
			name:  "minimize: above the cutoff stops",
			trial: curve(0, 0, 3, 2.5), others: at3,
			want: Decision{Step: 3, Stop: true,
				Message: "value 2.5 at rung 3 is worse than 2, the cutoff for the best 1/3 of the values of 4 other trials at that rung (Minimize)"},
		},
		{
			name:  "minimize: below the cutoff continues",
			trial: curve(0, 0, 3, 1.5), others: at3,
			want: Decision{Step: 3,
				Message: "value 1.5 at rung 3 is not worse than 2, the cutoff for the best 1/3 of the values of 4 other trials at that rung (Minimize)"},
		},
		{
			name: "the trial's value at the rung is its last at or before it, and it is judged at its highest rung",
			goal: Maximize,
			// Latest step 8: highest rung 3; value at 3 is that of step 2.
			trial: curve(0, 9, 2, 2.5, 4, 9, 8, 9), others: at3,
			want: Decision{Step: 3, Stop: true,
				Message: "value 2.5 at rung 3 is worse than 3, the cutoff for the best 1/3 of the values of 4 other trials at that rung (Maximize)"},
		},
		{
			name: "interpolated cutoff", goal: Maximize,
			// Two others at rung 3, values 1 and 2: rank 1 × 2/3, cutoff
			// 1 + (2 − 1) × 2/3 = 1.6666666666666667 (numpy: 2 − 1/3).
			trial:  curve(3, 1.5),
			others: []Other{running(curve(3, 2)), running(curve(3, 1))},
			want: Decision{Step: 3, Stop: true,
				Message: "value 1.5 at rung 3 is worse than 1.6666666666666667, the cutoff for the best 1/3 of the values of 2 other trials at that rung (Maximize)"},
		},
		{
			name: "reduction factor 2 takes the median", goal: Maximize,
			rule:  ASHA{GracePeriod: 4, ReductionFactor: 2},
			trial: curve(4, 1.75),
			// Rank 3 × 1/2 = 1.5 among 1, 2, 3, 4: cutoff 2.5.
			others: []Other{running(curve(4, 4)), running(curve(4, 1)), running(curve(4, 3)), running(curve(4, 2))},
			want: Decision{Step: 4, Stop: true,
				Message: "value 1.75 at rung 4 is worse than 2.5, the cutoff for the best 1/2 of the values of 4 other trials at that rung (Maximize)"},
		},
		{
			name: "the max resource caps the rungs",
			rule: ASHA{MaxResource: 5},
			// Latest step 20, but the highest rung is 3.
			trial: curve(0, 0, 3, 2.5, 20, 0), others: at3,
			want: Decision{Step: 3, Stop: true,
				Message: "value 2.5 at rung 3 is worse than 2, the cutoff for the best 1/3 of the values of 4 other trials at that rung (Minimize)"},
		},
		{
			name:  "no value at the rung: the first sample is after it",
			trial: curve(5, 0), others: at3,
			want: Decision{Step: 3, Message: "the trial has no value at rung 3: its first step is after it"},
		},
		{
			name: "others that did not reach the rung, or have no value at it, are left out", goal: Maximize,
			trial: curve(3, 2.5),
			others: []Other{
				running(curve(0, 9, 2, 9)), // latest step 2 < 3
				done(curve(0, 9, 1, 9)),    // completed before the rung
				running(curve(4, 9)),       // no value at or before 3
				running(curve(3, 3, 4, 9)), // value 3
			},
			want: Decision{Step: 3, Stop: true,
				Message: "value 2.5 at rung 3 is worse than 3, the cutoff for the best 1/3 of the values of 1 other trial at that rung (Maximize)"},
		},
		{
			name: "invalid rule never stops", rule: ASHA{ReductionFactor: 1},
			trial: curve(3, 100), others: at3,
			want: Decision{Message: "ASHA cannot judge: reduction factor 1 is not from 2 to 1000"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.rule.Decide(tc.goal, tc.trial, tc.others)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOrderIndependence checks that shuffling the others changes neither
// decision nor message, and that Decide leaves its arguments as they were.
func TestOrderIndependence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rules := []Rule{MedianStop{}, MedianStop{MinTrials: 2, StartStep: 3}, ASHA{}, ASHA{GracePeriod: 2, ReductionFactor: 2}}
	randomCurve := func() []Sample {
		var c []Sample
		for s := int64(rng.IntN(3)); s < int64(rng.IntN(30)); s += 1 + int64(rng.IntN(3)) {
			c = append(c, Sample{Step: s, Value: float64(rng.IntN(10)) / 4})
		}
		return c
	}
	for i := range 200 {
		trial := randomCurve()
		others := make([]Other, rng.IntN(12))
		for j := range others {
			others[j] = Other{Curve: randomCurve(), Completed: rng.IntN(2) == 0}
		}
		saved := cloneOthers(others)
		for _, rule := range rules {
			for _, goal := range []Goal{Minimize, Maximize} {
				want := rule.Decide(goal, trial, others)
				if diff := cmp.Diff(saved, others); diff != "" {
					t.Fatalf("case %d: %T.Decide modified others (-before +after):\n%s", i, rule, diff)
				}
				shuffled := cloneOthers(others)
				rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
				if diff := cmp.Diff(want, rule.Decide(goal, trial, shuffled)); diff != "" {
					t.Errorf("case %d: %T.Decide depends on the order of others (-in order +shuffled):\n%s", i, rule, diff)
				}
			}
		}
	}
}

func cloneOthers(others []Other) []Other {
	out := make([]Other, len(others))
	for i, o := range others {
		out[i] = Other{Curve: slices.Clone(o.Curve), Completed: o.Completed}
	}
	return out
}

func TestQuantileMatchesNumpy(t *testing.T) {
	// Values from numpy.percentile(values, (1 - 1/rf) * 100).
	tests := []struct {
		values []float64
		rf     int64
		want   float64
	}{
		{values: []float64{7}, rf: 3, want: 7},
		{values: []float64{1, 2}, rf: 3, want: 1.6666666666666667},
		{values: []float64{4, 1, 3, 2}, rf: 3, want: 3},
		{values: []float64{1, 2, 3, 4, 5}, rf: 4, want: 4},
		{values: []float64{1, 2, 3, 4, 5, 6}, rf: 4, want: 4.75},
		{values: []float64{-1, -2}, rf: 2, want: -1.5},
	}
	for _, tc := range tests {
		if got := quantile(slices.Clone(tc.values), tc.rf); got != tc.want {
			t.Errorf("quantile(%v, %d) = %v, want %v", tc.values, tc.rf, got, tc.want)
		}
	}
}
