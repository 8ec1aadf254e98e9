package retention

import (
	"cmp"
	"slices"
	"strings"

	"github.com/crucible-dev/crucible/internal/metrics"
)

// Outcome is how a trial ended, as far as retention cares.
type Outcome int

const (
	// Active means the trial has not ended: it is always kept. Any Outcome
	// value other than Succeeded and Failed is treated as Active, so that a
	// removal is never decided on an outcome Select does not know.
	Active Outcome = iota
	// Succeeded means the trial ended with an objective value, which ranks
	// it against the other succeeded trials.
	Succeeded
	// Failed means the trial ended without an objective.
	Failed
)

// Candidate is one trial.
type Candidate struct {
	// Name is what Select returns for the trial.
	Name string
	// Index is the trial's index in the search space; ties go to the lower
	// index.
	Index int64
	// Outcome is how the trial ended.
	Outcome Outcome
	// Objective is the trial's objective value as a decimal string (see
	// metrics.Value); it may be empty or unparseable, and is read only when
	// Outcome is Succeeded.
	Objective string
}

// Policy says what to keep.
type Policy struct {
	// KeepBest nil keeps every succeeded trial; a value K keeps the best K
	// succeeded trials, and K <= 0 keeps none.
	KeepBest *int32
	// KeepFailed keeps every failed trial when true, and none when false.
	KeepFailed bool
	// Minimize is the objective's goal: lower is better when true.
	Minimize bool
}

// Select splits candidates into the names kept and the names removed. Both
// are sorted by Index ascending and together hold every candidate exactly
// once; neither is nil.
//
// Active trials are always kept. Succeeded trials are ranked by objective
// (better first; a missing or unparseable objective ranks after every
// parseable one; ties, including among unparseable ones, go to the lower
// index) and the first K are kept. Failed trials are kept iff KeepFailed.
// K <= 0 keeps no succeeded trial.
//
// The input slice is not modified. The result is deterministic for any input
// order: candidates with equal indices are ordered, and their ties broken, by
// Name, then Outcome, then Objective. Select takes O(n log n) time.
func Select(candidates []Candidate, p Policy) (keep, remove []string) {
	// order holds positions in candidates, sorted into a canonical order in
	// which a tie between two succeeded trials goes to the one that comes
	// first. Sorting positions moves less memory than sorting candidates.
	order := make([]int, len(candidates))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return compareCandidates(&candidates[i], &candidates[j])
	})

	keeps := make([]bool, len(order))
	succeeded := 0
	for rank, i := range order {
		switch candidates[i].Outcome {
		case Succeeded:
			succeeded++
			// Kept unless KeepBest ranks it out below.
			keeps[rank] = true
		case Failed:
			keeps[rank] = p.KeepFailed
		default:
			keeps[rank] = true
		}
	}
	if p.KeepBest != nil && int(*p.KeepBest) < succeeded {
		rankOut(candidates, order, keeps, succeeded, max(int(*p.KeepBest), 0), p.Minimize)
	}

	kept := 0
	for _, k := range keeps {
		if k {
			kept++
		}
	}
	keep = make([]string, 0, kept)
	remove = make([]string, 0, len(order)-kept)
	for rank, i := range order {
		if keeps[rank] {
			keep = append(keep, candidates[i].Name)
		} else {
			remove = append(remove, candidates[i].Name)
		}
	}
	return keep, remove
}

// compareCandidates orders candidates by Index, then Name, Outcome and
// Objective, so that only identical candidates compare equal.
func compareCandidates(a, b *Candidate) int {
	if c := cmp.Compare(a.Index, b.Index); c != 0 {
		return c
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Outcome, b.Outcome); c != 0 {
		return c
	}
	return strings.Compare(a.Objective, b.Objective)
}

// scored is a succeeded trial's place in the canonical order, with its
// objective parsed once.
type scored struct {
	// rank is the trial's place in the canonical order.
	rank int
	// value is the parsed objective; meaningful only when parsed is true.
	value float64
	// parsed is whether the objective is parseable.
	parsed bool
}

// rankOut ranks the succeeded trials, of which there are succeeded, best
// first, and clears keeps on all but the first k. order is the canonical
// order of candidates, keeps is indexed like order, and 0 <= k < succeeded.
func rankOut(candidates []Candidate, order []int, keeps []bool, succeeded, k int, minimize bool) {
	ranked := make([]scored, 0, succeeded)
	for rank, i := range order {
		c := &candidates[i]
		if c.Outcome != Succeeded {
			continue
		}
		s := scored{rank: rank}
		if c.Objective != "" {
			// Value accepts exactly what metrics.Better treats as
			// parseable, and returns only finite values, so comparing the
			// parsed values agrees with Better and is a strict weak order.
			v, err := metrics.Value(c.Objective)
			s.value, s.parsed = v, err == nil
		}
		ranked = append(ranked, s)
	}
	slices.SortFunc(ranked, func(a, b scored) int {
		switch {
		case a.parsed != b.parsed:
			// A parseable objective ranks before an unparseable one.
			if a.parsed {
				return -1
			}
			return 1
		case a.parsed && a.value != b.value:
			if minimize {
				return cmp.Compare(a.value, b.value)
			}
			return cmp.Compare(b.value, a.value)
		}
		// Equal objectives, or two unparseable ones: the lower index, that
		// is the earlier in the canonical order, wins.
		return cmp.Compare(a.rank, b.rank)
	})
	for _, s := range ranked[k:] {
		keeps[s.rank] = false
	}
}
