package leaderboard

import (
	"container/heap"
	"slices"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
)

// Better reports whether trial a ranks above trial b for goal: a better
// objective (metrics.Better: an objective that is not a number ranks
// below every number), and on a tie the lower spec.index, as
// status.bestTrial breaks ties.
func Better(a, b *crucible.Trial, goal crucible.Goal) bool {
	minimize := goal != crucible.GoalMaximize
	if metrics.Better(a.Status.Objective, b.Status.Objective, minimize) {
		return true
	}
	if metrics.Better(b.Status.Objective, a.Status.Objective, minimize) {
		return false
	}
	if a.Spec.Index != b.Spec.Index {
		return a.Spec.Index < b.Spec.Index
	}
	// Only hand-made Trials share an index: order them by name, so the
	// ranking never depends on the order they were listed in.
	return a.Name < b.Name
}

// Entry is one ranked trial.
type Entry struct {
	// Rank is 1 for the best.
	Rank int
	// Trial is a copy of the trial, which holds nothing of the page it
	// was listed in.
	Trial *crucible.Trial
}

// Board keeps the best K succeeded trials it was offered. The zero value
// is not usable: make one with New.
type Board struct {
	k    int
	goal crucible.Goal
	// worst is a heap with the worst kept trial on top: a new trial has
	// only to beat it to enter, and then takes its place.
	worst worstFirst
	seen  int
	ranks int
}

// New returns a Board that keeps the best k trials (k at least 1) for goal.
func New(k int, goal crucible.Goal) *Board {
	k = max(k, 1)
	return &Board{k: k, goal: goal, worst: worstFirst{goal: goal, trials: make([]*crucible.Trial, 0, min(k, 1024))}}
}

// Add offers a trial. Only a Succeeded trial is ranked; the board copies
// the trials it keeps, so the caller may reuse t and the list it is in.
// Add costs O(log K).
func (b *Board) Add(t *crucible.Trial) {
	b.seen++
	if t.Status.Phase != crucible.TrialSucceeded {
		return
	}
	b.ranks++
	if len(b.worst.trials) < b.k {
		heap.Push(&b.worst, t.DeepCopy())
		return
	}
	if !Better(t, b.worst.trials[0], b.goal) {
		return
	}
	b.worst.trials[0] = t.DeepCopy()
	heap.Fix(&b.worst, 0)
}

// Seen is how many trials were offered; Succeeded how many of them were
// ranked.
func (b *Board) Seen() int { return b.seen }

// Succeeded is how many of the offered trials succeeded and were ranked.
func (b *Board) Succeeded() int { return b.ranks }

// Entries returns the kept trials, best first, ranked from 1.
func (b *Board) Entries() []Entry {
	trials := slices.Clone(b.worst.trials)
	slices.SortFunc(trials, func(x, y *crucible.Trial) int {
		switch {
		case Better(x, y, b.goal):
			return -1
		case Better(y, x, b.goal):
			return 1
		}
		return 0
	})
	entries := make([]Entry, len(trials))
	for i, t := range trials {
		entries[i] = Entry{Rank: i + 1, Trial: t}
	}
	return entries
}

// worstFirst is a heap.Interface whose top is the worst trial.
type worstFirst struct {
	goal   crucible.Goal
	trials []*crucible.Trial
}

func (h *worstFirst) Len() int           { return len(h.trials) }
func (h *worstFirst) Less(i, j int) bool { return Better(h.trials[j], h.trials[i], h.goal) }
func (h *worstFirst) Swap(i, j int)      { h.trials[i], h.trials[j] = h.trials[j], h.trials[i] }
func (h *worstFirst) Push(x any)         { h.trials = append(h.trials, x.(*crucible.Trial)) }
func (h *worstFirst) Pop() any {
	n := len(h.trials) - 1
	t := h.trials[n]
	h.trials[n] = nil
	h.trials = h.trials[:n]
	return t
}
