package leaderboard

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// trial is a trial of index i with objective obj, Succeeded unless phase
// says otherwise.
func trial(i int64, obj string, phase ...crucible.TrialPhase) *crucible.Trial {
	t := &crucible.Trial{}
	t.Name = fmt.Sprintf("t%d", i)
	t.Spec.Index = i
	t.Status.Objective = obj
	t.Status.Phase = crucible.TrialSucceeded
	if len(phase) > 0 {
		t.Status.Phase = phase[0]
	}
	return t
}

func names(entries []Entry) []string {
	var out []string
	for i, e := range entries {
		if e.Rank != i+1 {
			out = append(out, fmt.Sprintf("rank %d at %d", e.Rank, i))
		}
		out = append(out, e.Trial.Name)
	}
	return out
}

func TestBoard(t *testing.T) {
	tests := []struct {
		name          string
		k             int
		goal          crucible.Goal
		trials        []*crucible.Trial
		want          []string
		wantSucceeded int
	}{
		{
			name: "minimize",
			k:    3, goal: crucible.GoalMinimize,
			trials: []*crucible.Trial{trial(0, "0.5"), trial(1, "0.1"), trial(2, "0.9"), trial(3, "0.3"), trial(4, "0.2")},
			want:   []string{"t1", "t4", "t3"},
		},
		{
			name: "maximize",
			k:    2, goal: crucible.GoalMaximize,
			trials: []*crucible.Trial{trial(0, "0.5"), trial(1, "0.1"), trial(2, "0.9"), trial(3, "0.3")},
			want:   []string{"t2", "t0"},
		},
		{
			name: "ties go to the lower index, whatever the order seen",
			k:    3, goal: crucible.GoalMinimize,
			trials: []*crucible.Trial{trial(7, "0.1"), trial(3, "1e-1"), trial(5, "0.10"), trial(1, "0.2")},
			want:   []string{"t3", "t5", "t7"},
		},
		{
			name: "only succeeded trials are ranked",
			k:    10, goal: crucible.GoalMinimize,
			trials: []*crucible.Trial{
				trial(0, "0.01", crucible.TrialFailed), trial(1, "0.5"), trial(2, "", crucible.TrialRunning), trial(3, "0.4"), trial(4, ""),
			},
			want:          []string{"t3", "t1", "t4"},
			wantSucceeded: 3,
		},
		{
			name: "an objective that is not a number ranks last",
			k:    2, goal: crucible.GoalMaximize,
			trials: []*crucible.Trial{trial(0, "NaN"), trial(1, "-3"), trial(2, "oops")},
			want:   []string{"t1", "t0"},
		},
		{name: "no trials", k: 5, goal: crucible.GoalMinimize},
		{
			name: "k below 1 keeps one",
			k:    0, goal: crucible.GoalMinimize,
			trials: []*crucible.Trial{trial(0, "2"), trial(1, "1")},
			want:   []string{"t1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.k, tc.goal)
			for _, tr := range tc.trials {
				b.Add(tr)
			}
			if diff := cmp.Diff(tc.want, names(b.Entries())); diff != "" {
				t.Errorf("ranking (-want +got):\n%s", diff)
			}
			wantSucceeded := tc.wantSucceeded
			if wantSucceeded == 0 {
				wantSucceeded = len(tc.trials)
			}
			if b.Seen() != len(tc.trials) || b.Succeeded() != wantSucceeded {
				t.Errorf("seen %d, succeeded %d; want %d and %d", b.Seen(), b.Succeeded(), len(tc.trials), wantSucceeded)
			}
		})
	}
}

// TestBoardCopies checks the board keeps copies: a page reused for the
// next one does not change the ranking.
func TestBoardCopies(t *testing.T) {
	b := New(1, crucible.GoalMinimize)
	page := []crucible.Trial{*trial(0, "0.1")}
	b.Add(&page[0])
	page[0] = *trial(1, "9")
	if got := names(b.Entries()); !slices.Equal(got, []string{"t0"}) {
		t.Errorf("ranking %v after the page changed; want [t0]", got)
	}
}

// TestBoardIsASortCut checks the board against sorting every trial, over
// random objectives with many ties, for several K.
func TestBoardIsASortCut(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var all []*crucible.Trial
	for i := range 5000 {
		all = append(all, trial(int64(i), strconv.Itoa(r.IntN(200))))
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, goal := range []crucible.Goal{crucible.GoalMinimize, crucible.GoalMaximize} {
		sorted := slices.Clone(all)
		slices.SortStableFunc(sorted, func(a, b *crucible.Trial) int {
			x, _ := strconv.Atoi(a.Status.Objective)
			y, _ := strconv.Atoi(b.Status.Objective)
			if goal == crucible.GoalMaximize {
				x, y = -x, -y
			}
			if x != y {
				return x - y
			}
			return int(a.Spec.Index - b.Spec.Index)
		})
		for _, k := range []int{1, 10, 100, 4999, 5000, 6000} {
			b := New(k, goal)
			for _, tr := range all {
				b.Add(tr)
			}
			var want []string
			for _, tr := range sorted[:min(k, len(sorted))] {
				want = append(want, tr.Name)
			}
			if diff := cmp.Diff(want, names(b.Entries())); diff != "" {
				t.Errorf("%s, k=%d (-sorted +board):\n%s", goal, k, diff)
			}
		}
	}
}
