package experiment

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/health"
	"github.com/crucible-dev/crucible/test/builder"
)

// statusT0 and statusT1 are the times of an earlier and a later pass.
var (
	statusT0 = metav1.NewTime(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	statusT1 = metav1.NewTime(statusT0.Add(5 * time.Minute))
)

// ignoreLTT compares conditions without their LastTransitionTime.
var ignoreLTT = cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")

// statusTrial is a Trial at index in phase, with objective.
func statusTrial(index int64, phase crucible.TrialPhase, objective string) crucible.Trial {
	return crucible.Trial{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("exp-%012d", index), Namespace: "ns"},
		Spec: crucible.TrialSpec{
			Index:      index,
			Seed:       int64(index % 2),
			Parameters: []crucible.ParameterAssignment{{Name: "lr", Value: fmt.Sprint(index)}},
		},
		Status: crucible.TrialStatus{Phase: phase, Objective: objective},
	}
}

// obsSummary is what a test compares of an observation: the counts, the
// best trial's index (-1 for none) and the indices present below total.
type obsSummary struct {
	Created, Active, Succeeded, Failed int32
	Best                               int64
	Indices                            []int64
}

func summarize(obs observation, total int64) obsSummary {
	s := obsSummary{Created: obs.created, Active: obs.active, Succeeded: obs.succeeded, Failed: obs.failed, Best: -1}
	if obs.best != nil {
		s.Best = obs.best.Spec.Index
	}
	for i := range total {
		if obs.indices.has(i) {
			s.Indices = append(s.Indices, i)
		}
	}
	return s
}

func TestObserve(t *testing.T) {
	const (
		succeeded = crucible.TrialSucceeded
		failed    = crucible.TrialFailed
		running   = crucible.TrialRunning
		pending   = crucible.TrialPending
	)
	cases := []struct {
		name   string
		trials []crucible.Trial
		total  int64
		goal   crucible.Goal
		want   obsSummary
	}{
		{
			name:  "no trials",
			total: 4,
			goal:  crucible.GoalMinimize,
			want:  obsSummary{Best: -1},
		},
		{
			name: "counts by phase; a new Trial with no phase is active",
			trials: []crucible.Trial{
				statusTrial(0, "", ""),
				statusTrial(1, pending, ""),
				statusTrial(2, running, ""),
				statusTrial(3, succeeded, "0.5"),
				statusTrial(4, succeeded, "0.7"),
				statusTrial(5, failed, ""),
			},
			total: 8,
			goal:  crucible.GoalMinimize,
			want: obsSummary{Created: 6, Active: 3, Succeeded: 2, Failed: 1, Best: 3,
				Indices: []int64{0, 1, 2, 3, 4, 5}},
		},
		{
			name: "minimize: the lowest objective is best",
			trials: []crucible.Trial{
				statusTrial(0, succeeded, "0.5"),
				statusTrial(1, succeeded, "0.25"),
				statusTrial(2, succeeded, "0.75"),
				statusTrial(3, succeeded, "-1e-07"),
			},
			total: 4,
			goal:  crucible.GoalMinimize,
			want:  obsSummary{Created: 4, Succeeded: 4, Best: 3, Indices: []int64{0, 1, 2, 3}},
		},
		{
			name: "maximize: the highest objective is best",
			trials: []crucible.Trial{
				statusTrial(0, succeeded, "0.5"),
				statusTrial(1, succeeded, "0.25"),
				statusTrial(2, succeeded, "0.75"),
				statusTrial(3, succeeded, "-1e-07"),
			},
			total: 4,
			goal:  crucible.GoalMaximize,
			want:  obsSummary{Created: 4, Succeeded: 4, Best: 2, Indices: []int64{0, 1, 2, 3}},
		},
		{
			name: "an empty goal minimizes",
			trials: []crucible.Trial{
				statusTrial(0, succeeded, "2"),
				statusTrial(1, succeeded, "1"),
			},
			total: 2,
			want:  obsSummary{Created: 2, Succeeded: 2, Best: 1, Indices: []int64{0, 1}},
		},
		{
			name: "a tie goes to the lower index, listed after the higher",
			trials: []crucible.Trial{
				statusTrial(5, succeeded, "0.1"),
				statusTrial(2, succeeded, "0.1"),
				statusTrial(7, succeeded, "0.1"),
				statusTrial(0, succeeded, "0.3"),
			},
			total: 8,
			goal:  crucible.GoalMinimize,
			want:  obsSummary{Created: 4, Succeeded: 4, Best: 2, Indices: []int64{0, 2, 5, 7}},
		},
		{
			name: "a tie goes to the lower index when maximizing",
			trials: []crucible.Trial{
				statusTrial(6, succeeded, "0.9"),
				statusTrial(3, succeeded, "0.9"),
				statusTrial(1, succeeded, "0.2"),
			},
			total: 8,
			goal:  crucible.GoalMaximize,
			want:  obsSummary{Created: 3, Succeeded: 3, Best: 3, Indices: []int64{1, 3, 6}},
		},
		{
			name: "a succeeded trial with an empty objective is never best",
			trials: []crucible.Trial{
				statusTrial(0, succeeded, ""),
				statusTrial(1, succeeded, "1000"),
			},
			total: 2,
			goal:  crucible.GoalMinimize,
			want:  obsSummary{Created: 2, Succeeded: 2, Best: 1, Indices: []int64{0, 1}},
		},
		{
			name: "only empty objectives: no best",
			trials: []crucible.Trial{
				statusTrial(0, succeeded, ""),
				statusTrial(1, succeeded, ""),
			},
			total: 2,
			goal:  crucible.GoalMaximize,
			want:  obsSummary{Created: 2, Succeeded: 2, Best: -1, Indices: []int64{0, 1}},
		},
		{
			name: "a failed or running trial with an objective is never best",
			trials: []crucible.Trial{
				statusTrial(0, failed, "0.0001"),
				statusTrial(1, running, "0.0001"),
				statusTrial(2, succeeded, "0.5"),
			},
			total: 3,
			goal:  crucible.GoalMinimize,
			want:  obsSummary{Created: 3, Active: 1, Succeeded: 1, Failed: 1, Best: 2, Indices: []int64{0, 1, 2}},
		},
		{
			name: "an unparseable objective listed first loses to a parseable one",
			trials: []crucible.Trial{
				statusTrial(0, succeeded, "NaN"),
				statusTrial(1, succeeded, "1e300"),
			},
			total: 2,
			goal:  crucible.GoalMinimize,
			want:  obsSummary{Created: 2, Succeeded: 2, Best: 1, Indices: []int64{0, 1}},
		},
		{
			name: "an unparseable objective listed last loses to a parseable one",
			trials: []crucible.Trial{
				statusTrial(1, succeeded, "-5"),
				statusTrial(0, succeeded, "not-a-number"),
			},
			total: 2,
			goal:  crucible.GoalMaximize,
			want:  obsSummary{Created: 2, Succeeded: 2, Best: 1, Indices: []int64{0, 1}},
		},
		{
			name: "an unparseable objective is best only when nothing parses",
			trials: []crucible.Trial{
				statusTrial(1, succeeded, "Inf"),
				statusTrial(0, failed, ""),
			},
			total: 2,
			goal:  crucible.GoalMaximize,
			want:  obsSummary{Created: 2, Succeeded: 1, Failed: 1, Best: 1, Indices: []int64{0, 1}},
		},
		{
			name: "an index outside the space is counted but not marked",
			trials: []crucible.Trial{
				statusTrial(0, running, ""),
				statusTrial(-1, running, ""),
				statusTrial(200, running, ""),
			},
			total: 3,
			goal:  crucible.GoalMinimize,
			want:  obsSummary{Created: 3, Active: 3, Best: -1, Indices: []int64{0}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := make([]crucible.Trial, len(tc.trials))
			for i := range tc.trials {
				tc.trials[i].DeepCopyInto(&before[i])
			}
			got := summarize(observe(tc.trials, tc.total, tc.goal), tc.total)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("observe (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.trials, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("observe modified the trials, which come from the cache (-before +after):\n%s", diff)
			}
			// The cache lists in no particular order: neither must the
			// result depend on it.
			reversed := slices.Clone(tc.trials)
			slices.Reverse(reversed)
			if diff := cmp.Diff(tc.want, summarize(observe(reversed, tc.total, tc.goal), tc.total)); diff != "" {
				t.Errorf("observe of the trials in reverse order (-want +got):\n%s", diff)
			}
		})
	}
}

// TestObserveBestTieIsOrderIndependent checks that a tie, in the sense of
// metrics.Better (neither value better than the other), goes to the lower
// index whatever order the cache lists the trials in. Equal numbers spelt
// differently, and two unparseable values, are ties.
func TestObserveBestTieIsOrderIndependent(t *testing.T) {
	cases := []struct {
		name   string
		trials []crucible.Trial
		want   int64
	}{
		{
			name: "the same number spelt two ways",
			trials: []crucible.Trial{
				statusTrial(4, crucible.TrialSucceeded, "0.50"),
				statusTrial(1, crucible.TrialSucceeded, "0.5"),
				statusTrial(0, crucible.TrialSucceeded, "0.9"),
			},
			want: 1,
		},
		{
			name: "two unparseable values",
			trials: []crucible.Trial{
				statusTrial(4, crucible.TrialSucceeded, "abc"),
				statusTrial(1, crucible.TrialSucceeded, "xyz"),
			},
			want: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, trials := range permutations(tc.trials) {
				obs := observe(trials, 8, crucible.GoalMinimize)
				got := int64(-1)
				if obs.best != nil {
					got = obs.best.Spec.Index
				}
				if got != tc.want {
					order := make([]int64, len(trials))
					for i := range trials {
						order[i] = trials[i].Spec.Index
					}
					t.Errorf("listed in index order %v: best is index %d; want %d", order, got, tc.want)
				}
			}
		})
	}
}

// permutations returns every order of ts.
func permutations(ts []crucible.Trial) [][]crucible.Trial {
	if len(ts) <= 1 {
		return [][]crucible.Trial{slices.Clone(ts)}
	}
	var out [][]crucible.Trial
	for i := range ts {
		rest := append(slices.Clone(ts[:i]), ts[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]crucible.Trial{ts[i]}, p...))
		}
	}
	return out
}

// setOf returns an indexSet for total with indices added.
func setOf(total int64, indices ...int64) indexSet {
	s := newIndexSet(total)
	for _, i := range indices {
		s.add(i)
	}
	return s
}

// span returns the indices lo to hi-1.
func span(lo, hi int64) []int64 {
	var out []int64
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// without returns span(0, total) without the listed indices.
func without(total int64, except ...int64) []int64 {
	var out []int64
	for i := range total {
		if !slices.Contains(except, i) {
			out = append(out, i)
		}
	}
	return out
}

func TestIndexSetAddHas(t *testing.T) {
	cases := []struct {
		name    string
		total   int64
		add     []int64
		present []int64
		absent  []int64
	}{
		{
			name:    "word boundaries",
			total:   130,
			add:     []int64{0, 63, 64, 65, 127, 128, 129},
			present: []int64{0, 63, 64, 65, 127, 128, 129},
			absent:  []int64{1, 62, 66, 126},
		},
		{
			name:   "an empty set has nothing",
			total:  64,
			absent: []int64{0, 1, 63},
		},
		{
			name:    "adding twice is adding once",
			total:   10,
			add:     []int64{3, 3},
			present: []int64{3},
			absent:  []int64{2, 4},
		},
		{
			name:   "negative adds are ignored",
			total:  70,
			add:    []int64{-1, -64, -65, math.MinInt64},
			absent: []int64{0, 1, 63, 64, 65, 69},
		},
		{
			name:   "adds past the set's words are ignored",
			total:  70,
			add:    []int64{128, 1000, 1 << 40, math.MaxInt64},
			absent: []int64{0, 1, 63, 64, 65, 69},
		},
		{
			name:   "has is false out of range",
			total:  70,
			add:    span(0, 70),
			absent: []int64{-1, -64, 128, 1 << 40, math.MaxInt64, math.MinInt64},
		},
		{
			name:   "a set of no indices",
			total:  0,
			add:    []int64{0, 1},
			absent: []int64{0, 1, -1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := setOf(tc.total, tc.add...)
			if got, want := len(s), int((tc.total+63)/64); got != want {
				t.Errorf("newIndexSet(%d) has %d words; want %d", tc.total, got, want)
			}
			for _, i := range tc.present {
				if !s.has(i) {
					t.Errorf("has(%d) = false; want true", i)
				}
			}
			for _, i := range tc.absent {
				if s.has(i) {
					t.Errorf("has(%d) = true; want false", i)
				}
			}
		})
	}
}

func TestIndexSetMissing(t *testing.T) {
	cases := []struct {
		name  string
		set   indexSet
		total int64
		n     int
		want  []int64
	}{
		{name: "empty set: the lowest n", set: setOf(10), total: 10, n: 3, want: []int64{0, 1, 2}},
		{name: "n larger than what is missing", set: setOf(5, 1, 3), total: 5, n: 10, want: []int64{0, 2, 4}},
		{name: "n of zero", set: setOf(10), total: 10, n: 0, want: nil},
		{name: "one trial, missing", set: setOf(1), total: 1, n: 5, want: []int64{0}},
		{name: "one trial, present", set: setOf(1, 0), total: 1, n: 5, want: nil},
		{name: "holes are filled lowest first", set: setOf(20, 0, 1, 4, 5, 6), total: 20, n: 4, want: []int64{2, 3, 7, 8}},
		{name: "0..62 present: 63 then the next word", set: setOf(130, span(0, 63)...), total: 130, n: 3, want: []int64{63, 64, 65}},
		{name: "0..63 present: the next word", set: setOf(130, span(0, 64)...), total: 130, n: 3, want: []int64{64, 65, 66}},
		{name: "0..64 present", set: setOf(130, span(0, 65)...), total: 130, n: 3, want: []int64{65, 66, 67}},
		{name: "only 63, 64 and 65 missing", set: setOf(130, without(130, 63, 64, 65)...), total: 130, n: 10, want: []int64{63, 64, 65}},
		{name: "n reached at a word's last bit", set: setOf(130, span(0, 62)...), total: 130, n: 2, want: []int64{62, 63}},
		{name: "n reached at a word's first bit", set: setOf(130, span(0, 63)...), total: 130, n: 2, want: []int64{63, 64}},
		{name: "the last index of a partial word", set: setOf(130, without(130, 129)...), total: 130, n: 3, want: []int64{129}},
		{name: "a whole word present, its neighbours missing", set: setOf(192, span(64, 128)...), total: 192, n: 70, want: append(span(0, 64), span(128, 134)...)},
		{name: "total not a multiple of 64: no index past it", set: setOf(70, span(0, 68)...), total: 70, n: 10, want: []int64{68, 69}},
		{name: "total not a multiple of 64, empty", set: setOf(3), total: 3, n: 10, want: []int64{0, 1, 2}},
		{name: "full, total not a multiple of 64", set: setOf(70, span(0, 70)...), total: 70, n: 10, want: nil},
		{name: "full, total a multiple of 64", set: setOf(128, span(0, 128)...), total: 128, n: 10, want: nil},
		{name: "full, 64", set: setOf(64, span(0, 64)...), total: 64, n: 1, want: nil},
		{name: "an add in the last word's padding changes nothing", set: setOf(70, append(span(0, 69), 100)...), total: 70, n: 10, want: []int64{69}},
		{name: "out-of-range adds change nothing", set: setOf(70, -1, 128, 1<<40), total: 70, n: 3, want: []int64{0, 1, 2}},
		{name: "every index of a large space", set: setOf(1000), total: 1000, n: 1000, want: span(0, 1000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.set.missing(tc.total, tc.n)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("missing(%d, %d) (-want +got):\n%s", tc.total, tc.n, diff)
			}
		})
	}
}

func failedCond(status metav1.ConditionStatus, reason, message string, gen int64) metav1.Condition {
	return metav1.Condition{Type: crucible.ExperimentFailedCondition, Status: status, Reason: reason, Message: message,
		ObservedGeneration: gen, LastTransitionTime: statusT0}
}

func succeededCond(status metav1.ConditionStatus, reason, message string, gen int64) metav1.Condition {
	return metav1.Condition{Type: crucible.ExperimentSucceededCondition, Status: status, Reason: reason, Message: message,
		ObservedGeneration: gen, LastTransitionTime: statusT0}
}

func suspendedCond(status metav1.ConditionStatus, reason, message string, gen int64) metav1.Condition {
	return metav1.Condition{Type: crucible.ExperimentSuspendedCondition, Status: status, Reason: reason, Message: message,
		ObservedGeneration: gen, LastTransitionTime: statusT0}
}

// statusExperiment is an Experiment at generation 3 with maxFailedTrials
// and conditions.
func statusExperiment(maxFailed int32, conds ...metav1.Condition) *crucible.Experiment {
	return &crucible.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "exp", Namespace: "ns", Generation: 3},
		Spec:       crucible.ExperimentSpec{MaxFailedTrials: maxFailed},
		Status:     crucible.ExperimentStatus{Conditions: conds},
	}
}

// checkLTT checks the LastTransitionTime of the condition of type cond:
// statusT0 when the status did not change, statusT1 when it did.
func checkLTT(t *testing.T, conds []metav1.Condition, typ string, changed bool) {
	t.Helper()
	want := statusT0
	if changed {
		want = statusT1
	}
	for _, c := range conds {
		if c.Type == typ && !c.LastTransitionTime.Equal(&want) {
			t.Errorf("%s lastTransitionTime = %v; want %v (status changed: %v)", typ, c.LastTransitionTime, want, changed)
		}
	}
}

func TestSetFailedCondition(t *testing.T) {
	const (
		within   = crucible.ReasonWithinFailureBudget
		exceeded = crucible.ReasonMaxFailedTrialsExceeded
	)
	cases := []struct {
		name        string
		exp         *crucible.Experiment
		obs         observation
		want        []metav1.Condition
		wantChanged bool // whether the condition's status changed
	}{
		{
			name:        "no failures",
			exp:         statusExperiment(0),
			obs:         observation{},
			want:        []metav1.Condition{failedCond(metav1.ConditionFalse, within, "0 of at most 0 trials failed", 3)},
			wantChanged: true,
		},
		{
			name:        "failures equal to the budget",
			exp:         statusExperiment(2),
			obs:         observation{failed: 2, active: 1},
			want:        []metav1.Condition{failedCond(metav1.ConditionFalse, within, "2 of at most 2 trials failed", 3)},
			wantChanged: true,
		},
		{
			name: "one failure over the budget",
			exp:  statusExperiment(2, failedCond(metav1.ConditionFalse, within, "2 of at most 2 trials failed", 2)),
			obs:  observation{failed: 3, active: 4},
			want: []metav1.Condition{failedCond(metav1.ConditionTrue, exceeded,
				"3 trials failed, more than maxFailedTrials (2): no new trials start; 4 running trials finish and are recorded", 3)},
			wantChanged: true,
		},
		{
			name: "one failure with a budget of zero",
			exp:  statusExperiment(0),
			obs:  observation{failed: 1},
			want: []metav1.Condition{failedCond(metav1.ConditionTrue, exceeded,
				"1 trials failed, more than maxFailedTrials (0): no new trials start; 0 running trials finish and are recorded", 3)},
			wantChanged: true,
		},
		{
			name: "within budget again: the message follows, the transition time stays",
			exp:  statusExperiment(5, failedCond(metav1.ConditionFalse, within, "1 of at most 5 trials failed", 2)),
			obs:  observation{failed: 2},
			want: []metav1.Condition{failedCond(metav1.ConditionFalse, within, "2 of at most 5 trials failed", 3)},
		},
		{
			name: "True stays True when maxFailedTrials is raised",
			exp: statusExperiment(10, failedCond(metav1.ConditionTrue, exceeded,
				"3 trials failed, more than maxFailedTrials (2): no new trials start; 4 running trials finish and are recorded", 2)),
			obs: observation{failed: 3},
			want: []metav1.Condition{failedCond(metav1.ConditionTrue, exceeded,
				"3 trials failed, more than maxFailedTrials (2): no new trials start; 4 running trials finish and are recorded", 2)},
		},
		{
			name: "Succeeded True is final: lowering maxFailedTrials afterwards does not fail it",
			exp: statusExperiment(0,
				failedCond(metav1.ConditionFalse, within, "1 of at most 1 trials failed", 2),
				succeededCond(metav1.ConditionTrue, crucible.ReasonAllTrialsEnded, "all 4 trials ended: 3 succeeded, 1 failed", 2)),
			obs: observation{created: 4, succeeded: 3, failed: 1},
			want: []metav1.Condition{
				failedCond(metav1.ConditionFalse, within, "1 of at most 1 trials failed", 2),
				succeededCond(metav1.ConditionTrue, crucible.ReasonAllTrialsEnded, "all 4 trials ended: 3 succeeded, 1 failed", 2),
			},
		},
		{
			name: "True for an invalid search space stays True",
			exp:  statusExperiment(10, failedCond(metav1.ConditionTrue, crucible.ReasonInvalidSearchSpace, "bad", 1)),
			obs:  observation{},
			want: []metav1.Condition{failedCond(metav1.ConditionTrue, crucible.ReasonInvalidSearchSpace, "bad", 1)},
		},
		{
			name: "other conditions are kept",
			exp:  statusExperiment(1, suspendedCond(metav1.ConditionTrue, crucible.ReasonSuspendedBySpec, "s", 3)),
			obs:  observation{failed: 1},
			want: []metav1.Condition{
				suspendedCond(metav1.ConditionTrue, crucible.ReasonSuspendedBySpec, "s", 3),
				failedCond(metav1.ConditionFalse, within, "1 of at most 1 trials failed", 3),
			},
			wantChanged: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setFailedCondition(tc.exp, tc.obs, statusT1)
			if diff := cmp.Diff(tc.want, tc.exp.Status.Conditions, ignoreLTT); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			checkLTT(t, tc.exp.Status.Conditions, crucible.ExperimentFailedCondition, tc.wantChanged)
		})
	}
}

func TestSetFailedFor(t *testing.T) {
	long := fmt.Sprintf("parameter %q: %s", "lr", strings.Repeat("x", 1000))
	cut := long[:maxMessageLength-3] + "..."
	within := failedCond(metav1.ConditionFalse, crucible.ReasonWithinFailureBudget, "0 of at most 0 trials failed", 3)
	exceeded := failedCond(metav1.ConditionTrue, crucible.ReasonMaxFailedTrialsExceeded, "2 trials failed", 2)
	ended := succeededCond(metav1.ConditionTrue, crucible.ReasonAllTrialsEnded, "all 4 trials ended", 2)
	cases := []struct {
		name        string
		exp         *crucible.Experiment
		reason      string
		message     string
		want        []metav1.Condition
		wantChanged bool
	}{
		{
			name:   "an invalid search space, its message cut",
			exp:    statusExperiment(0, within),
			reason: crucible.ReasonInvalidSearchSpace, message: long,
			want:        []metav1.Condition{failedCond(metav1.ConditionTrue, crucible.ReasonInvalidSearchSpace, cut, 3)},
			wantChanged: true,
		},
		{
			name:   "an invalid template, before any condition",
			exp:    statusExperiment(0),
			reason: crucible.ReasonInvalidTemplate, message: `Job.batch "e-1" is invalid`,
			want:        []metav1.Condition{failedCond(metav1.ConditionTrue, crucible.ReasonInvalidTemplate, `Job.batch "e-1" is invalid`, 3)},
			wantChanged: true,
		},
		{
			name:   "Failed is final: its first reason stays",
			exp:    statusExperiment(0, exceeded),
			reason: crucible.ReasonInvalidSearchSpace, message: "trial name collision",
			want: []metav1.Condition{exceeded},
		},
		{
			name:   "Succeeded is final",
			exp:    statusExperiment(0, within, ended),
			reason: crucible.ReasonInvalidSearchSpace, message: "trial name collision",
			want: []metav1.Condition{within, ended},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setFailedFor(tc.exp, tc.reason, tc.message, statusT1)
			if diff := cmp.Diff(tc.want, tc.exp.Status.Conditions, ignoreLTT); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			checkLTT(t, tc.exp.Status.Conditions, crucible.ExperimentFailedCondition, tc.wantChanged)
		})
	}
}

func TestSetSucceededCondition(t *testing.T) {
	const (
		remaining = crucible.ReasonTrialsRemaining
		ended     = crucible.ReasonAllTrialsEnded
	)
	exceededMsg := "3 trials failed, more than maxFailedTrials (2): no new trials start; 0 running trials finish and are recorded"
	failedTrue := failedCond(metav1.ConditionTrue, crucible.ReasonMaxFailedTrialsExceeded, exceededMsg, 3)
	withinBudget := failedCond(metav1.ConditionFalse, crucible.ReasonWithinFailureBudget, "1 of at most 2 trials failed", 3)
	cases := []struct {
		name        string
		exp         *crucible.Experiment
		total       int64
		obs         observation
		want        metav1.Condition
		wantChanged bool
	}{
		{
			name:        "nothing created",
			exp:         statusExperiment(0),
			total:       4,
			obs:         observation{},
			want:        succeededCond(metav1.ConditionFalse, remaining, "0 of 4 trials ended, 0 active", 3),
			wantChanged: true,
		},
		{
			name:        "all created, some active",
			exp:         statusExperiment(0),
			total:       4,
			obs:         observation{created: 4, active: 1, succeeded: 3},
			want:        succeededCond(metav1.ConditionFalse, remaining, "3 of 4 trials ended, 1 active", 3),
			wantChanged: true,
		},
		{
			name:        "none active but not all created",
			exp:         statusExperiment(0),
			total:       4,
			obs:         observation{created: 3, succeeded: 3},
			want:        succeededCond(metav1.ConditionFalse, remaining, "3 of 4 trials ended, 0 active", 3),
			wantChanged: true,
		},
		{
			name:        "all created and ended",
			exp:         statusExperiment(0),
			total:       4,
			obs:         observation{created: 4, succeeded: 4},
			want:        succeededCond(metav1.ConditionTrue, ended, "all 4 trials ended: 4 succeeded, 0 failed", 3),
			wantChanged: true,
		},
		{
			name:        "all ended, failures within the budget",
			exp:         statusExperiment(2, withinBudget, succeededCond(metav1.ConditionFalse, remaining, "3 of 4 trials ended, 1 active", 2)),
			total:       4,
			obs:         observation{created: 4, succeeded: 3, failed: 1},
			want:        succeededCond(metav1.ConditionTrue, ended, "all 4 trials ended: 3 succeeded, 1 failed", 3),
			wantChanged: true,
		},
		{
			name:        "all ended but Failed is True: False with Failed's reason",
			exp:         statusExperiment(2, failedTrue),
			total:       4,
			obs:         observation{created: 4, succeeded: 1, failed: 3},
			want:        succeededCond(metav1.ConditionFalse, crucible.ReasonMaxFailedTrialsExceeded, "the Experiment failed: "+exceededMsg, 3),
			wantChanged: true,
		},
		{
			name: "Failed True for an invalid search space",
			exp: statusExperiment(2, failedCond(metav1.ConditionTrue, crucible.ReasonInvalidSearchSpace, "trial name collision: x", 3),
				succeededCond(metav1.ConditionFalse, remaining, "0 of 4 trials ended, 2 active", 2)),
			total: 4,
			obs:   observation{created: 2, active: 2},
			want:  succeededCond(metav1.ConditionFalse, crucible.ReasonInvalidSearchSpace, "the Experiment failed: trial name collision: x", 3),
		},
		{
			name: "Failed's long message is cut",
			exp: statusExperiment(2, failedCond(metav1.ConditionTrue, crucible.ReasonInvalidSearchSpace,
				strings.Repeat("y", maxMessageLength), 3)),
			total:       4,
			obs:         observation{},
			want:        succeededCond(metav1.ConditionFalse, crucible.ReasonInvalidSearchSpace, "the Experiment failed: "+strings.Repeat("y", maxMessageLength-3-len("the Experiment failed: "))+"...", 3),
			wantChanged: true,
		},
		{
			name:  "True stays True when a Trial disappears",
			exp:   statusExperiment(0, succeededCond(metav1.ConditionTrue, ended, "all 4 trials ended: 4 succeeded, 0 failed", 2)),
			total: 4,
			obs:   observation{created: 3, succeeded: 3},
			want:  succeededCond(metav1.ConditionTrue, ended, "all 4 trials ended: 4 succeeded, 0 failed", 2),
		},
		{
			name:  "True stays True when Failed turns True later",
			exp:   statusExperiment(0, succeededCond(metav1.ConditionTrue, ended, "all 4 trials ended: 4 succeeded, 0 failed", 2), failedTrue),
			total: 4,
			obs:   observation{created: 4, succeeded: 1, failed: 3},
			want:  succeededCond(metav1.ConditionTrue, ended, "all 4 trials ended: 4 succeeded, 0 failed", 2),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setSucceededCondition(tc.exp, tc.total, tc.obs, statusT1)
			var got *metav1.Condition
			for i := range tc.exp.Status.Conditions {
				if tc.exp.Status.Conditions[i].Type == crucible.ExperimentSucceededCondition {
					got = &tc.exp.Status.Conditions[i]
				}
			}
			if got == nil {
				t.Fatalf("no Succeeded condition in %+v", tc.exp.Status.Conditions)
			}
			if diff := cmp.Diff(tc.want, *got, ignoreLTT); diff != "" {
				t.Errorf("Succeeded condition (-want +got):\n%s", diff)
			}
			checkLTT(t, tc.exp.Status.Conditions, crucible.ExperimentSucceededCondition, tc.wantChanged)
		})
	}
}

func TestSetSuspendedCondition(t *testing.T) {
	const (
		bySpec       = crucible.ReasonSuspendedBySpec
		resumed      = crucible.ReasonResumed
		notSuspended = crucible.ReasonNotSuspended
	)
	suspendedMsg := "spec.suspend is true: no new trials start; running trials finish"
	resumedMsg := "spec.suspend was cleared: trials start again"
	notMsg := "spec.suspend is false"
	cases := []struct {
		name        string
		suspend     bool
		prev        []metav1.Condition
		want        metav1.Condition
		wantChanged bool
	}{
		{
			name:        "suspended from the start",
			suspend:     true,
			want:        suspendedCond(metav1.ConditionTrue, bySpec, suspendedMsg, 3),
			wantChanged: true,
		},
		{
			name:        "never suspended",
			want:        suspendedCond(metav1.ConditionFalse, notSuspended, notMsg, 3),
			wantChanged: true,
		},
		{
			name: "never suspended, on a later pass",
			prev: []metav1.Condition{suspendedCond(metav1.ConditionFalse, notSuspended, notMsg, 2)},
			want: suspendedCond(metav1.ConditionFalse, notSuspended, notMsg, 3),
		},
		{
			name:        "suspended after running",
			suspend:     true,
			prev:        []metav1.Condition{suspendedCond(metav1.ConditionFalse, notSuspended, notMsg, 2)},
			want:        suspendedCond(metav1.ConditionTrue, bySpec, suspendedMsg, 3),
			wantChanged: true,
		},
		{
			name:        "resumed",
			prev:        []metav1.Condition{suspendedCond(metav1.ConditionTrue, bySpec, suspendedMsg, 2)},
			want:        suspendedCond(metav1.ConditionFalse, resumed, resumedMsg, 3),
			wantChanged: true,
		},
		{
			name: "resumed, on a later pass",
			prev: []metav1.Condition{suspendedCond(metav1.ConditionFalse, resumed, resumedMsg, 3)},
			want: suspendedCond(metav1.ConditionFalse, resumed, resumedMsg, 3),
		},
		{
			name:        "suspended again after a resume",
			suspend:     true,
			prev:        []metav1.Condition{suspendedCond(metav1.ConditionFalse, resumed, resumedMsg, 2)},
			want:        suspendedCond(metav1.ConditionTrue, bySpec, suspendedMsg, 3),
			wantChanged: true,
		},
		{
			name:    "still suspended",
			suspend: true,
			prev:    []metav1.Condition{suspendedCond(metav1.ConditionTrue, bySpec, suspendedMsg, 2)},
			want:    suspendedCond(metav1.ConditionTrue, bySpec, suspendedMsg, 3),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := statusExperiment(0, tc.prev...)
			exp.Spec.Suspend = tc.suspend
			setSuspendedCondition(exp, statusT1)
			if diff := cmp.Diff([]metav1.Condition{tc.want}, exp.Status.Conditions, ignoreLTT); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			checkLTT(t, exp.Status.Conditions, crucible.ExperimentSuspendedCondition, tc.wantChanged)
		})
	}
}

func TestSetPhase(t *testing.T) {
	failedTrue := failedCond(metav1.ConditionTrue, crucible.ReasonMaxFailedTrialsExceeded, "", 1)
	failedFalse := failedCond(metav1.ConditionFalse, crucible.ReasonWithinFailureBudget, "", 1)
	succeededTrue := succeededCond(metav1.ConditionTrue, crucible.ReasonAllTrialsEnded, "", 1)
	succeededFalse := succeededCond(metav1.ConditionFalse, crucible.ReasonTrialsRemaining, "", 1)
	cases := []struct {
		name    string
		conds   []metav1.Condition
		created int32
		suspend bool
		want    crucible.ExperimentPhase
	}{
		{name: "nothing yet", want: crucible.ExperimentPending},
		{name: "no trial created, conditions False", conds: []metav1.Condition{failedFalse, succeededFalse}, want: crucible.ExperimentPending},
		{name: "trials created", conds: []metav1.Condition{failedFalse, succeededFalse}, created: 2, want: crucible.ExperimentRunning},
		{name: "succeeded", conds: []metav1.Condition{failedFalse, succeededTrue}, created: 4, want: crucible.ExperimentSucceeded},
		{name: "failed", conds: []metav1.Condition{failedTrue, succeededFalse}, created: 4, want: crucible.ExperimentFailed},
		{name: "failed with no trial created", conds: []metav1.Condition{failedTrue}, want: crucible.ExperimentFailed},
		{name: "suspended", conds: []metav1.Condition{failedFalse, succeededFalse}, created: 2, suspend: true, want: crucible.ExperimentSuspended},
		{name: "suspended before any trial", suspend: true, want: crucible.ExperimentSuspended},
		{name: "failed wins over suspended", conds: []metav1.Condition{failedTrue}, created: 2, suspend: true, want: crucible.ExperimentFailed},
		{name: "succeeded wins over suspended", conds: []metav1.Condition{succeededTrue}, created: 2, suspend: true, want: crucible.ExperimentSucceeded},
		{name: "failed wins over succeeded", conds: []metav1.Condition{succeededTrue, failedTrue}, created: 4, want: crucible.ExperimentFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := statusExperiment(0, tc.conds...)
			exp.Spec.Suspend = tc.suspend
			exp.Status.Trials.Created = tc.created
			exp.Status.Phase = crucible.ExperimentRunning // overwritten
			setPhase(exp)
			if exp.Status.Phase != tc.want {
				t.Errorf("phase = %q; want %q", exp.Status.Phase, tc.want)
			}
		})
	}
}

func TestSetReconcilingAndStalled(t *testing.T) {
	failedTrue := failedCond(metav1.ConditionTrue, crucible.ReasonInvalidTemplate, "the API server refuses the trials' Job", 3)
	succeededFalse := succeededCond(metav1.ConditionFalse, crucible.ReasonTrialsRemaining, "1 of 4 trials ended, 2 active", 3)
	verifying := metav1.Condition{Type: crucible.ExperimentDatasetVerifiedCondition, Status: metav1.ConditionUnknown,
		Reason: crucible.ReasonVerifying, Message: "Job e-verify is hashing the dataset pvc://data/cifar10", ObservedGeneration: 3, LastTransitionTime: statusT0}
	reconciling := func(reason, message string) metav1.Condition {
		return metav1.Condition{Type: crucible.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: reason, Message: message,
			ObservedGeneration: 3, LastTransitionTime: statusT0}
	}
	stalled := func(reason, message string) metav1.Condition {
		return metav1.Condition{Type: crucible.StalledCondition, Status: metav1.ConditionTrue, Reason: reason, Message: message,
			ObservedGeneration: 3, LastTransitionTime: statusT0}
	}
	cases := []struct {
		name  string
		phase crucible.ExperimentPhase
		conds []metav1.Condition
		// want is the Reconciling and Stalled conditions after the pass.
		want        []metav1.Condition
		wantChanged bool
	}{
		{
			name:  "Pending, no trial yet",
			phase: crucible.ExperimentPending,
			want:  []metav1.Condition{reconciling("Pending", "no trial has been created yet")}, wantChanged: true,
		},
		{
			name:  "Pending while the dataset is verified: the verifier's message",
			phase: crucible.ExperimentPending,
			conds: []metav1.Condition{verifying},
			want:  []metav1.Condition{reconciling("Pending", "waiting for the dataset's verification: "+verifying.Message)}, wantChanged: true,
		},
		{
			name:  "Running: the counts of Succeeded's message",
			phase: crucible.ExperimentRunning,
			conds: []metav1.Condition{succeededFalse},
			want:  []metav1.Condition{reconciling("Running", "1 of 4 trials ended, 2 active")}, wantChanged: true,
		},
		{
			name:  "still Running: the message follows, the transition time stays",
			phase: crucible.ExperimentRunning,
			conds: []metav1.Condition{succeededFalse, reconciling("Running", "0 of 4 trials ended, 2 active")},
			want:  []metav1.Condition{reconciling("Running", "1 of 4 trials ended, 2 active")},
		},
		{
			name:  "Pending to Running: the reason follows, still True",
			phase: crucible.ExperimentRunning,
			conds: []metav1.Condition{succeededFalse, reconciling("Pending", "no trial has been created yet")},
			want:  []metav1.Condition{reconciling("Running", "1 of 4 trials ended, 2 active")},
		},
		{
			name:  "Running to Failed: Reconciling goes, Stalled with Failed's reason and message",
			phase: crucible.ExperimentFailed,
			conds: []metav1.Condition{failedTrue, reconciling("Running", "1 of 4 trials ended, 2 active")},
			want:  []metav1.Condition{stalled(crucible.ReasonInvalidTemplate, "the API server refuses the trials' Job")}, wantChanged: true,
		},
		{
			name:  "Running to Succeeded: Reconciling goes, nothing else",
			phase: crucible.ExperimentSucceeded,
			conds: []metav1.Condition{reconciling("Running", "3 of 4 trials ended, 1 active")},
		},
		{
			name:  "Running to Suspended: Reconciling goes",
			phase: crucible.ExperimentSuspended,
			conds: []metav1.Condition{succeededFalse, reconciling("Running", "1 of 4 trials ended, 2 active")},
		},
		{
			name:  "Suspended to Running: Reconciling again",
			phase: crucible.ExperimentRunning,
			conds: []metav1.Condition{succeededFalse},
			want:  []metav1.Condition{reconciling("Running", "1 of 4 trials ended, 2 active")}, wantChanged: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := statusExperiment(0, tc.conds...)
			exp.Status.Phase = tc.phase
			setReconcilingAndStalled(exp, statusT1)
			health := func(c metav1.Condition) bool {
				return c.Type == crucible.ReconcilingCondition || c.Type == crucible.StalledCondition
			}
			var got, others []metav1.Condition
			for _, c := range exp.Status.Conditions {
				if health(c) {
					got = append(got, c)
				} else {
					others = append(others, c)
				}
			}
			if diff := cmp.Diff(tc.want, got, ignoreLTT); diff != "" {
				t.Errorf("Reconciling and Stalled (-want +got):\n%s", diff)
			}
			checkLTT(t, exp.Status.Conditions, crucible.ReconcilingCondition, tc.wantChanged)
			checkLTT(t, exp.Status.Conditions, crucible.StalledCondition, tc.wantChanged)
			if diff := cmp.Diff(slices.DeleteFunc(slices.Clone(tc.conds), health), others, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("other conditions changed (-want +got):\n%s", diff)
			}
		})
	}
}

// Every phase setStatus reaches has the Reconciling and Stalled conditions
// kstatus reads it by, and the conditions fit the CRD's maxItems with
// every other condition an Experiment can have.
func TestSetStatusReconcilingAndStalled(t *testing.T) {
	trials := func(phases ...crucible.TrialPhase) []crucible.Trial {
		var ts []crucible.Trial
		for i, p := range phases {
			ts = append(ts, statusTrial(int64(i), p, "0.5"))
		}
		return ts
	}
	cases := []struct {
		name          string
		suspend       bool
		trials        []crucible.Trial
		wantPhase     crucible.ExperimentPhase
		wantCondition string // Reconciling, Stalled, or none
	}{
		{name: "no trials", wantPhase: crucible.ExperimentPending, wantCondition: crucible.ReconcilingCondition},
		{name: "running", trials: trials(crucible.TrialSucceeded, crucible.TrialRunning), wantPhase: crucible.ExperimentRunning,
			wantCondition: crucible.ReconcilingCondition},
		{name: "suspended", suspend: true, trials: trials(crucible.TrialRunning), wantPhase: crucible.ExperimentSuspended},
		{name: "succeeded", trials: trials(crucible.TrialSucceeded, crucible.TrialSucceeded, crucible.TrialSucceeded, crucible.TrialSucceeded),
			wantPhase: crucible.ExperimentSucceeded},
		{name: "failed", trials: trials(crucible.TrialFailed, crucible.TrialRunning), wantPhase: crucible.ExperimentFailed,
			wantCondition: crucible.StalledCondition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := statusExperiment(0)
			exp.Spec.Suspend = tc.suspend
			// Every other condition an Experiment may carry at once.
			for _, typ := range []string{crucible.ExperimentTemplateValidCondition, crucible.ExperimentDatasetVerifiedCondition,
				crucible.ExperimentCollectedCondition} {
				setCondition(exp, typ, metav1.ConditionTrue, "Test", "", statusT0)
			}
			obs := observe(tc.trials, 4, crucible.GoalMinimize)
			setFailedCondition(exp, obs, statusT1)
			setStatus(exp, 4, obs, statusT1)
			if exp.Status.Phase != tc.wantPhase {
				t.Fatalf("phase = %s; want %s", exp.Status.Phase, tc.wantPhase)
			}
			for _, typ := range []string{crucible.ReconcilingCondition, crucible.StalledCondition} {
				c := meta.FindStatusCondition(exp.Status.Conditions, typ)
				switch {
				case typ == tc.wantCondition && (c == nil || c.Status != metav1.ConditionTrue):
					t.Errorf("%s = %+v; want True", typ, c)
				case typ != tc.wantCondition && c != nil:
					t.Errorf("%s = %+v; want none", typ, c)
				}
			}
			// The CRD's maxItems of status.conditions.
			if n := len(exp.Status.Conditions); n > 8 {
				t.Errorf("%d conditions, more than the CRD's 8: %+v", n, exp.Status.Conditions)
			}
		})
	}
}

func TestSetTimes(t *testing.T) {
	earlier := metav1.NewTime(statusT0.Add(-time.Hour))
	succeededTrue := succeededCond(metav1.ConditionTrue, crucible.ReasonAllTrialsEnded, "", 1)
	succeededFalse := succeededCond(metav1.ConditionFalse, crucible.ReasonTrialsRemaining, "", 1)
	failedTrue := failedCond(metav1.ConditionTrue, crucible.ReasonMaxFailedTrialsExceeded, "", 1)
	cases := []struct {
		name                     string
		status                   crucible.ExperimentStatus
		wantStart, wantCompleted *metav1.Time
	}{
		{
			name:   "nothing created",
			status: crucible.ExperimentStatus{},
		},
		{
			name:      "first trial created",
			status:    crucible.ExperimentStatus{Trials: crucible.TrialCounts{Total: 4, Created: 1, Active: 1}},
			wantStart: &statusT1,
		},
		{
			name:      "start is not moved later",
			status:    crucible.ExperimentStatus{StartTime: &statusT0, Trials: crucible.TrialCounts{Total: 4, Created: 3, Active: 3}},
			wantStart: &statusT0,
		},
		{
			name: "running with none active: not complete",
			status: crucible.ExperimentStatus{StartTime: &statusT0, Conditions: []metav1.Condition{succeededFalse},
				Trials: crucible.TrialCounts{Total: 4, Created: 2, Succeeded: 2}},
			wantStart: &statusT0,
		},
		{
			name: "succeeded with none active: complete now",
			status: crucible.ExperimentStatus{StartTime: &statusT0, Conditions: []metav1.Condition{succeededTrue},
				Trials: crucible.TrialCounts{Total: 4, Created: 4, Succeeded: 4}},
			wantStart:     &statusT0,
			wantCompleted: &statusT1,
		},
		{
			name: "failed with trials still active: not complete",
			status: crucible.ExperimentStatus{StartTime: &statusT0, Conditions: []metav1.Condition{failedTrue},
				Trials: crucible.TrialCounts{Total: 4, Created: 3, Active: 1, Failed: 2}},
			wantStart: &statusT0,
		},
		{
			name: "failed with none active: complete now",
			status: crucible.ExperimentStatus{StartTime: &statusT0, Conditions: []metav1.Condition{failedTrue},
				Trials: crucible.TrialCounts{Total: 4, Created: 3, Failed: 3}},
			wantStart:     &statusT0,
			wantCompleted: &statusT1,
		},
		{
			name:          "failed before any trial: complete, no start",
			status:        crucible.ExperimentStatus{Conditions: []metav1.Condition{failedTrue}},
			wantCompleted: &statusT1,
		},
		{
			name: "completion is not moved later",
			status: crucible.ExperimentStatus{StartTime: &earlier, CompletionTime: &statusT0, Conditions: []metav1.Condition{succeededTrue},
				Trials: crucible.TrialCounts{Total: 4, Created: 4, Succeeded: 4}},
			wantStart:     &earlier,
			wantCompleted: &statusT0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status := tc.status.DeepCopy()
			setTimes(status, statusT1)
			if diff := cmp.Diff(tc.wantStart, status.StartTime); diff != "" {
				t.Errorf("startTime (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCompleted, status.CompletionTime); diff != "" {
				t.Errorf("completionTime (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetCountsAndBestTrial(t *testing.T) {
	trials := []crucible.Trial{
		statusTrial(0, crucible.TrialSucceeded, "0.4"),
		statusTrial(1, crucible.TrialSucceeded, "0.2"),
		statusTrial(2, crucible.TrialFailed, ""),
		statusTrial(3, crucible.TrialRunning, ""),
	}
	obs := observe(trials, 10, crucible.GoalMinimize)
	status := &crucible.ExperimentStatus{BestTrial: &crucible.BestTrial{Name: "stale"}}
	setCounts(status, 10, obs)
	setBestTrial(status, obs)
	want := crucible.ExperimentStatus{
		Trials: crucible.TrialCounts{Total: 10, Created: 4, Active: 1, Succeeded: 2, Failed: 1},
		BestTrial: &crucible.BestTrial{Name: trials[1].Name, Index: 1, Seed: 1, Objective: "0.2",
			Parameters: []crucible.ParameterAssignment{{Name: "lr", Value: "1"}}},
	}
	if diff := cmp.Diff(want, *status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	// The best trial's parameters are a copy, not the cache's slice.
	status.BestTrial.Parameters[0].Value = "changed"
	if trials[1].Spec.Parameters[0].Value != "1" {
		t.Errorf("setBestTrial aliases the Trial's parameters, which belong to the cache")
	}

	setBestTrial(status, observe(nil, 10, crucible.GoalMinimize))
	if status.BestTrial != nil {
		t.Errorf("bestTrial with no succeeded trial = %+v; want nil", status.BestTrial)
	}
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "short", in: "3 of 4 trials ended", want: "3 of 4 trials ended"},
		{name: "exactly the limit", in: strings.Repeat("a", maxMessageLength), want: strings.Repeat("a", maxMessageLength)},
		{name: "one byte over", in: strings.Repeat("a", maxMessageLength+1), want: strings.Repeat("a", maxMessageLength-3) + "..."},
		{name: "multi-byte runes at the limit are kept whole", in: strings.Repeat("é", maxMessageLength/2), want: strings.Repeat("é", maxMessageLength/2)},
		// 509 bytes is 254 two-byte runes and half of one.
		{name: "cut inside a two-byte rune", in: strings.Repeat("é", 300), want: strings.Repeat("é", 254) + "..."},
		// 509 = 1 + 3*169 + 1: the cut leaves one byte of a three-byte rune.
		{name: "cut inside a three-byte rune", in: "a" + strings.Repeat("€", 300), want: "a" + strings.Repeat("€", 169) + "..."},
		// 509 = 4*127 + 1.
		{name: "cut inside a four-byte rune", in: strings.Repeat("🧪", 200), want: strings.Repeat("🧪", 127) + "..."},
		// 509 = 3 + 4*126 + 2.
		{name: "cut after two bytes of a four-byte rune", in: "abc" + strings.Repeat("🧪", 200), want: "abc" + strings.Repeat("🧪", 126) + "..."},
		{name: "cut at a rune boundary", in: "a" + strings.Repeat("é", 300), want: "a" + strings.Repeat("é", 254) + "..."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := truncate(tc.in)
			if got != tc.want {
				t.Errorf("truncate: got %d bytes %q...; want %d bytes %q...", len(got), head(got), len(tc.want), head(tc.want))
			}
			if !utf8.ValidString(got) {
				t.Errorf("truncate returned invalid UTF-8")
			}
			if len(got) > maxMessageLength {
				t.Errorf("truncate returned %d bytes; want at most %d", len(got), maxMessageLength)
			}
		})
	}
}

func head(s string) string {
	if len(s) > 20 {
		return s[:20]
	}
	return s
}

// update rewrites the fixtures of internal/health from what the status
// functions compute now:
//
//	go test ./internal/controller/experiment/ -run TestHealthFixtures -update
var update = flag.Bool("update", false, "rewrite internal/health/testdata/experiment")

// TestHealthFixtures computes an Experiment's status in every phase, as a
// pass of the reconciler does, and checks it against the fixtures that
// internal/health reads with kstatus and the Argo CD health check.
func TestHealthFixtures(t *testing.T) {
	now := statusT1
	// An Experiment of 4 trials, as the API server holds it.
	base := func() *crucible.Experiment {
		w := builder.MakeExperiment("resnet-sweep", "team-a").UID("resnet-sweep-uid").
			Values("lr", "0.1", "0.01").Values("depth", "2", "4").Parallelism(2)
		w.Generation = 1
		w.CreationTimestamp = statusT0
		return w.Obj()
	}
	const total = 4
	trial := func(exp *crucible.Experiment, index int64, phase crucible.TrialPhase, objective string) crucible.Trial {
		t := builder.MakeTrial(exp, fmt.Sprintf("%s-%012x", exp.Name, index)).Index(index).Param("lr", fmt.Sprint(index)).Obj()
		t.Status = crucible.TrialStatus{Phase: phase, Objective: objective}
		return *t
	}
	// pass computes the status as reconcile does, from the Trials it saw,
	// the first trial's Job accepted, and sets observedGeneration as
	// writeStatus does after a pass without errors.
	pass := func(exp *crucible.Experiment, trials ...crucible.Trial) *crucible.Experiment {
		obs := observe(trials, total, exp.Spec.Objective.Goal)
		setFailedCondition(exp, obs, now)
		setTemplateCondition(exp, metav1.ConditionTrue, crucible.ReasonDryRunAccepted,
			"the API server accepted a server-side dry run of the first trial's Job", now)
		setStatus(exp, total, obs, now)
		exp.Status.ObservedGeneration = exp.Generation
		return exp
	}

	fixtures := map[string]*crucible.Experiment{}
	fixtures["created"] = base()

	// Before the first trial: its dataset is being verified.
	verifying := base()
	verifying.Spec.Dataset = builder.MakeExperiment("x", "x").PVCDataset("datasets", "cifar10", "/data").Spec.Dataset
	setCondition(verifying, crucible.ExperimentDatasetVerifiedCondition, metav1.ConditionUnknown, crucible.ReasonVerifying,
		"Job resnet-sweep-verify is hashing the dataset pvc://datasets/cifar10", now)
	fixtures["pending"] = pass(verifying)

	exp := base()
	fixtures["running"] = pass(exp, trial(exp, 0, crucible.TrialSucceeded, "0.31"), trial(exp, 1, crucible.TrialRunning, ""))

	// The user raised parallelism; the operator has not seen it yet.
	edited := fixtures["running"].DeepCopy()
	edited.Generation = 2
	edited.Spec.Parallelism = 4
	fixtures["running-spec-not-observed"] = edited

	exp = base()
	exp.Spec.Suspend = true
	fixtures["suspended"] = pass(exp, trial(exp, 0, crucible.TrialSucceeded, "0.31"), trial(exp, 1, crucible.TrialRunning, ""))

	exp = base()
	exp.Spec.MaxFailedTrials = 1
	fixtures["succeeded"] = pass(exp, trial(exp, 0, crucible.TrialSucceeded, "0.31"), trial(exp, 1, crucible.TrialSucceeded, "0.27"),
		trial(exp, 2, crucible.TrialFailed, ""), trial(exp, 3, crucible.TrialSucceeded, "0.29"))

	// Failed with a trial still running: it finishes and is recorded.
	exp = base()
	fixtures["failed"] = pass(exp, trial(exp, 0, crucible.TrialFailed, ""), trial(exp, 1, crucible.TrialRunning, ""))

	exp = base()
	msg := `the API server refuses the trials' Job: Job.batch "resnet-sweep-000000000000" is invalid: ` +
		`spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`
	setTemplateCondition(exp, metav1.ConditionFalse, crucible.ReasonInvalidTemplate, msg, now)
	setFailedFor(exp, crucible.ReasonInvalidTemplate, msg, now)
	obs := observe(nil, total, exp.Spec.Objective.Goal)
	setFailedCondition(exp, obs, now)
	setStatus(exp, total, obs, now)
	exp.Status.ObservedGeneration = exp.Generation
	fixtures["failed-invalid-template"] = exp

	for name, exp := range fixtures {
		if err := health.Fixture(exp, name, *update); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
