package dashboard

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
)

// Rows of a table rendered at once. A page of a sweep of 10,000 trials
// stays a few hundred KB of HTML; the plots read every trial from
// trials.json instead.
const (
	defaultLimit = 100
	maxLimit     = 200
)

// Sort keys of the leaderboard besides a parameter's name.
const (
	sortObjective = "objective"
	sortIndex     = "index"
	sortPhase     = "phase"
	sortSeed      = "seed"
)

// phaseWaiting is how a trial with no phase yet (its Pod waits its turn)
// is shown and filtered.
const phaseWaiting = "Waiting"

// trialPhases are the phases in the order filters list them.
var trialPhases = []string{
	string(crucible.TrialSucceeded), string(crucible.TrialStopped), string(crucible.TrialFailed),
	string(crucible.TrialRunning), string(crucible.TrialPending), phaseWaiting,
}

// phaseOf is a trial's phase as shown.
func phaseOf(t *crucible.Trial) string {
	if t.Status.Phase == "" {
		return phaseWaiting
	}
	return string(t.Status.Phase)
}

// tableQuery is the query string of a paginated table: sort, phase filter
// (repeatable), page (from 1) and limit.
type tableQuery struct {
	Sort   string
	Phases []string
	Page   int
	Limit  int
}

func parseTableQuery(q url.Values, defaultSort string) tableQuery {
	t := tableQuery{Sort: q.Get("sort"), Page: 1, Limit: defaultLimit}
	if t.Sort == "" {
		t.Sort = defaultSort
	}
	for _, p := range q["phase"] {
		if p != "" {
			t.Phases = append(t.Phases, p)
		}
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		t.Page = n
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 {
		t.Limit = min(n, maxLimit)
	}
	return t
}

// keeps reports whether the phase filter keeps phase.
func (t tableQuery) keeps(phase string) bool {
	return len(t.Phases) == 0 || slices.Contains(t.Phases, phase)
}

// pageBounds are the rows [from, to) of page, and the page made to lie
// within 1..pages.
func (t tableQuery) pageBounds(n int) (from, to, page, pages int) {
	pages = max(1, (n+t.Limit-1)/t.Limit)
	page = min(t.Page, pages)
	from = (page - 1) * t.Limit
	to = min(from+t.Limit, n)
	return from, to, page, pages
}

// rankTrials sorts trials for the leaderboard: by objective per goal
// (metrics.Better: trials without a numeric objective last), or by index,
// seed, phase or a parameter's value; ties always go to the lower index.
// An unknown key sorts by objective.
func rankTrials(trials []*crucible.Trial, key string, goal crucible.Goal, params []crucible.ParameterSpec) {
	minimize := goal != crucible.GoalMaximize
	byIndex := func(a, b *crucible.Trial) int { return cmp.Compare(a.Spec.Index, b.Spec.Index) }
	var by func(a, b *crucible.Trial) int
	switch key {
	case sortIndex:
		by = byIndex
	case sortSeed:
		by = func(a, b *crucible.Trial) int { return cmp.Compare(a.Spec.Seed, b.Spec.Seed) }
	case sortPhase:
		rank := map[string]int{}
		for i, p := range trialPhases {
			rank[p] = i
		}
		by = func(a, b *crucible.Trial) int { return cmp.Compare(rank[phaseOf(a)], rank[phaseOf(b)]) }
	default:
		if i := slices.IndexFunc(params, func(p crucible.ParameterSpec) bool { return p.Name == key }); i >= 0 {
			by = byParameter(key)
			break
		}
		// metrics.Better parses both values on every comparison: 10,000
		// trials took 100 ms to sort that way. Parse each once and compare
		// as Better does (a number is better than no number).
		value := make(map[*crucible.Trial]objectiveValue, len(trials))
		for _, t := range trials {
			v, err := metrics.Value(t.Status.Objective)
			value[t] = objectiveValue{v: v, ok: err == nil}
		}
		by = func(a, b *crucible.Trial) int { return value[a].compare(value[b], minimize) }
	}
	slices.SortStableFunc(trials, func(a, b *crucible.Trial) int {
		return cmp.Or(by(a, b), byIndex(a, b))
	})
}

// byParameter orders by a parameter's value: numerically when both are
// numbers, as text otherwise.
func byParameter(name string) func(a, b *crucible.Trial) int {
	return func(a, b *crucible.Trial) int {
		x, y := parameter(a, name), parameter(b, name)
		vx, errX := metrics.Value(x)
		vy, errY := metrics.Value(y)
		if errX == nil && errY == nil {
			return cmp.Compare(vx, vy)
		}
		return cmp.Compare(x, y)
	}
}

func parameter(t *crucible.Trial, name string) string {
	for _, p := range t.Spec.Parameters {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// objectiveValue is a parsed objective; ok is false for one that is not a
// number (a trial without a result).
type objectiveValue struct {
	v  float64
	ok bool
}

// compare orders a before b when a is better by metrics.Better's rule.
func (a objectiveValue) compare(b objectiveValue, minimize bool) int {
	switch {
	case a.ok != b.ok:
		if a.ok {
			return -1
		}
		return 1
	case !a.ok:
		return 0
	case minimize:
		return cmp.Compare(a.v, b.v)
	default:
		return cmp.Compare(b.v, a.v)
	}
}
