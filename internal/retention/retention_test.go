package retention

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crucible-dev/crucible/internal/metrics"
)

func k(n int32) *int32 { return &n }

func succeeded(name string, index int64, objective string) Candidate {
	return Candidate{Name: name, Index: index, Outcome: Succeeded, Objective: objective}
}

func failed(name string, index int64) Candidate {
	return Candidate{Name: name, Index: index, Outcome: Failed}
}

func active(name string, index int64) Candidate {
	return Candidate{Name: name, Index: index, Outcome: Active}
}

func TestSelect(t *testing.T) {
	// mixed holds, by index: a active, b 0.3, c failed, d 0.1, e 0.2, f failed.
	mixed := []Candidate{
		active("a", 0),
		succeeded("b", 1, "0.3"),
		failed("c", 2),
		succeeded("d", 3, "0.1"),
		succeeded("e", 4, "0.2"),
		failed("f", 5),
	}
	cases := []struct {
		name       string
		candidates []Candidate
		policy     Policy
		wantKeep   []string
		wantRemove []string
	}{
		{
			name:       "empty input",
			candidates: nil,
			policy:     Policy{KeepBest: k(3), KeepFailed: true},
			wantKeep:   []string{},
			wantRemove: []string{},
		},
		{
			name:       "KeepBest nil keeps every succeeded trial",
			candidates: mixed,
			policy:     Policy{Minimize: true},
			wantKeep:   []string{"a", "b", "d", "e"},
			wantRemove: []string{"c", "f"},
		},
		{
			name:       "K=0 keeps no succeeded trial",
			candidates: mixed,
			policy:     Policy{KeepBest: k(0), Minimize: true},
			wantKeep:   []string{"a"},
			wantRemove: []string{"b", "c", "d", "e", "f"},
		},
		{
			name:       "negative K keeps no succeeded trial",
			candidates: mixed,
			policy:     Policy{KeepBest: k(-2), KeepFailed: true},
			wantKeep:   []string{"a", "c", "f"},
			wantRemove: []string{"b", "d", "e"},
		},
		{
			name:       "K=1 minimize keeps the lowest",
			candidates: mixed,
			policy:     Policy{KeepBest: k(1), Minimize: true},
			wantKeep:   []string{"a", "d"},
			wantRemove: []string{"b", "c", "e", "f"},
		},
		{
			name:       "K=1 maximize keeps the highest",
			candidates: mixed,
			policy:     Policy{KeepBest: k(1)},
			wantKeep:   []string{"a", "b"},
			wantRemove: []string{"c", "d", "e", "f"},
		},
		{
			name:       "K=2 minimize",
			candidates: mixed,
			policy:     Policy{KeepBest: k(2), Minimize: true},
			wantKeep:   []string{"a", "d", "e"},
			wantRemove: []string{"b", "c", "f"},
		},
		{
			name:       "K larger than the number of trials keeps every succeeded trial",
			candidates: mixed,
			policy:     Policy{KeepBest: k(100), Minimize: true},
			wantKeep:   []string{"a", "b", "d", "e"},
			wantRemove: []string{"c", "f"},
		},
		{
			name:       "K equal to the number of succeeded trials keeps them all",
			candidates: mixed,
			policy:     Policy{KeepBest: k(3), Minimize: true},
			wantKeep:   []string{"a", "b", "d", "e"},
			wantRemove: []string{"c", "f"},
		},
		{
			name:       "KeepFailed true keeps every failed trial",
			candidates: mixed,
			policy:     Policy{KeepBest: k(1), KeepFailed: true, Minimize: true},
			wantKeep:   []string{"a", "c", "d", "f"},
			wantRemove: []string{"b", "e"},
		},
		{
			name:       "KeepFailed false removes every failed trial",
			candidates: []Candidate{failed("x", 0), failed("y", 1)},
			policy:     Policy{},
			wantKeep:   []string{},
			wantRemove: []string{"x", "y"},
		},
		{
			name:       "active trials are kept by the strictest policy",
			candidates: []Candidate{active("x", 0), active("y", 1), succeeded("z", 2, "1")},
			policy:     Policy{KeepBest: k(0)},
			wantKeep:   []string{"x", "y"},
			wantRemove: []string{"z"},
		},
		{
			name: "an unknown outcome is kept like an active trial",
			candidates: []Candidate{
				{Name: "x", Index: 0, Outcome: Outcome(7), Objective: "9"},
				succeeded("y", 1, "1"),
			},
			policy:     Policy{KeepBest: k(0)},
			wantKeep:   []string{"x"},
			wantRemove: []string{"y"},
		},
		{
			name:       "a tie on an equal objective goes to the lower index",
			candidates: []Candidate{succeeded("hi", 7, "0.5"), succeeded("lo", 3, "0.5"), succeeded("worse", 1, "0.9")},
			policy:     Policy{KeepBest: k(1), Minimize: true},
			wantKeep:   []string{"lo"},
			wantRemove: []string{"worse", "hi"},
		},
		{
			name: "equal numbers spelled differently tie, and go to the lower index",
			// metrics.Better treats "0.5", "5e-1" and "0.50" as equal; see
			// TestBetterTreatsSpellingsAsEqual.
			candidates: []Candidate{succeeded("plain", 9, "0.5"), succeeded("exp", 2, "5e-1"), succeeded("zero", 5, "0.50")},
			policy:     Policy{KeepBest: k(2)},
			wantKeep:   []string{"exp", "zero"},
			wantRemove: []string{"plain"},
		},
		{
			name:       "negative and positive zero tie",
			candidates: []Candidate{succeeded("pos", 4, "0"), succeeded("neg", 8, "-0")},
			policy:     Policy{KeepBest: k(1), Minimize: true},
			wantKeep:   []string{"pos"},
			wantRemove: []string{"neg"},
		},
		{
			name: "missing and unparseable objectives rank after every parseable one",
			candidates: []Candidate{
				succeeded("empty", 0, ""),
				succeeded("nan", 1, "NaN"),
				succeeded("inf", 2, "Inf"),
				succeeded("text", 3, "abc"),
				succeeded("overflow", 4, "1e999"),
				succeeded("worst", 5, "1e300"),
			},
			policy:     Policy{KeepBest: k(1), Minimize: true},
			wantKeep:   []string{"worst"},
			wantRemove: []string{"empty", "nan", "inf", "text", "overflow"},
		},
		{
			name: "ties among unparseable objectives go to the lower index",
			candidates: []Candidate{
				succeeded("text", 6, "abc"),
				succeeded("good", 9, "2"),
				succeeded("empty", 4, ""),
				succeeded("nan", 5, "NaN"),
			},
			policy:     Policy{KeepBest: k(2)},
			wantKeep:   []string{"empty", "good"},
			wantRemove: []string{"nan", "text"},
		},
		{
			name:       "a failed trial's objective is ignored",
			candidates: []Candidate{{Name: "f", Index: 0, Outcome: Failed, Objective: "0"}, succeeded("s", 1, "5")},
			policy:     Policy{KeepBest: k(1), Minimize: true},
			wantKeep:   []string{"s"},
			wantRemove: []string{"f"},
		},
		{
			name:       "equal indices are ordered by name",
			candidates: []Candidate{failed("b", 1), failed("a", 1), active("c", 0)},
			policy:     Policy{},
			wantKeep:   []string{"c"},
			wantRemove: []string{"a", "b"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			input := slices.Clone(tc.candidates)
			keep, remove := Select(input, tc.policy)
			if diff := cmp.Diff(tc.wantKeep, keep); diff != "" {
				t.Errorf("keep mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRemove, remove); diff != "" {
				t.Errorf("remove mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.candidates, input); diff != "" {
				t.Errorf("Select modified its input (-before +after):\n%s", diff)
			}
			checkShuffled(t, tc.candidates, tc.policy, keep, remove)
		})
	}
}

// TestBetterTreatsSpellingsAsEqual pins the assumption behind the tie cases:
// metrics.Better compares numbers, not strings.
func TestBetterTreatsSpellingsAsEqual(t *testing.T) {
	for _, pair := range [][2]string{{"0.5", "5e-1"}, {"0.5", "0.50"}, {"0", "-0"}, {"1000", "1e3"}} {
		for _, minimize := range []bool{true, false} {
			if metrics.Better(pair[0], pair[1], minimize) || metrics.Better(pair[1], pair[0], minimize) {
				t.Errorf("Better(%q, %q, %v): one is better; want a tie", pair[0], pair[1], minimize)
			}
		}
	}
}

// checkShuffled checks that Select returns keep and remove for shuffles of
// candidates.
func checkShuffled(t *testing.T, candidates []Candidate, p Policy, keep, remove []string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(len(candidates)), 7))
	shuffled := slices.Clone(candidates)
	for range 5 {
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		gotKeep, gotRemove := Select(shuffled, p)
		if diff := cmp.Diff(keep, gotKeep); diff != "" {
			t.Fatalf("keep depends on input order (-in order +shuffled):\n%s", diff)
		}
		if diff := cmp.Diff(remove, gotRemove); diff != "" {
			t.Fatalf("remove depends on input order (-in order +shuffled):\n%s", diff)
		}
	}
}

// objectives are the values generate draws from: few, so that ties are
// common, with several spellings of one number and some unparseable values.
var objectives = []string{"0.5", "5e-1", "0.50", "0.25", "-1", "0", "-0", "1e3", "1000", "2.5e-09", "", "NaN", "abc", "1e999"}

// generate returns n candidates with distinct names, shuffled indices and a
// mix of outcomes and objectives.
func generate(rng *rand.Rand, n int) []Candidate {
	out := make([]Candidate, n)
	for i, index := range rng.Perm(n) {
		c := Candidate{Name: fmt.Sprintf("trial-%d", index), Index: int64(index)}
		switch r := rng.IntN(10); {
		case r < 1:
			c.Outcome = Active
		case r < 3:
			c.Outcome = Failed
		default:
			c.Outcome = Succeeded
			c.Objective = objectives[rng.IntN(len(objectives))]
		}
		out[i] = c
	}
	return out
}

// TestSelectProperties checks Select's contract over generated inputs of a
// few thousand candidates against metrics.Better directly.
func TestSelectProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	candidates := generate(rng, 3000)
	succeededCount := 0
	for _, c := range candidates {
		if c.Outcome == Succeeded {
			succeededCount++
		}
	}
	policies := []Policy{
		{},
		{KeepBest: k(0), KeepFailed: true},
		{KeepBest: k(1), Minimize: true},
		{KeepBest: k(1)},
		{KeepBest: k(17), Minimize: true, KeepFailed: true},
		{KeepBest: k(500)},
		{KeepBest: k(int32(succeededCount) - 1), Minimize: true},
		{KeepBest: k(int32(succeededCount) + 1)},
	}
	for _, p := range policies {
		name := fmt.Sprintf("keepBest=%v keepFailed=%v minimize=%v", deref(p.KeepBest), p.KeepFailed, p.Minimize)
		t.Run(name, func(t *testing.T) {
			keep, remove := Select(candidates, p)
			checkPartition(t, candidates, keep, remove)
			checkDecisions(t, candidates, p, keep, succeededCount)
			checkShuffled(t, candidates, p, keep, remove)
		})
	}
}

func deref(n *int32) string {
	if n == nil {
		return "nil"
	}
	return fmt.Sprint(*n)
}

// checkPartition checks that keep and remove are sorted by index and
// together hold every candidate exactly once.
func checkPartition(t *testing.T, candidates []Candidate, keep, remove []string) {
	t.Helper()
	byName := map[string]Candidate{}
	for _, c := range candidates {
		byName[c.Name] = c
	}
	seen := map[string]bool{}
	for _, list := range [][]string{keep, remove} {
		for i, name := range list {
			if _, ok := byName[name]; !ok {
				t.Fatalf("%q is not a candidate", name)
			}
			if seen[name] {
				t.Fatalf("%q is returned twice", name)
			}
			seen[name] = true
			if i > 0 && byName[list[i-1]].Index >= byName[name].Index {
				t.Fatalf("%q (index %d) follows %q (index %d): not sorted by index",
					name, byName[name].Index, list[i-1], byName[list[i-1]].Index)
			}
		}
	}
	if len(seen) != len(candidates) {
		t.Fatalf("keep and remove hold %d candidates; want %d", len(seen), len(candidates))
	}
}

// checkDecisions checks each candidate's fate against the policy, ranking
// succeeded trials with metrics.Better and the lower index as the tie-break,
// as the Experiment reconciler does.
func checkDecisions(t *testing.T, candidates []Candidate, p Policy, keep []string, succeededCount int) {
	t.Helper()
	kept := map[string]bool{}
	for _, name := range keep {
		kept[name] = true
	}
	var keptSucceeded, removedSucceeded []Candidate
	for _, c := range candidates {
		switch c.Outcome {
		case Active:
			if !kept[c.Name] {
				t.Errorf("active trial %q removed", c.Name)
			}
		case Failed:
			if kept[c.Name] != p.KeepFailed {
				t.Errorf("failed trial %q kept = %v; want %v", c.Name, kept[c.Name], p.KeepFailed)
			}
		case Succeeded:
			if kept[c.Name] {
				keptSucceeded = append(keptSucceeded, c)
			} else {
				removedSucceeded = append(removedSucceeded, c)
			}
		}
	}
	want := succeededCount
	if p.KeepBest != nil {
		want = min(max(int(*p.KeepBest), 0), succeededCount)
	}
	if len(keptSucceeded) != want {
		t.Fatalf("kept %d succeeded trials; want %d", len(keptSucceeded), want)
	}
	ranksBefore := func(a, b Candidate) bool {
		return metrics.Better(a.Objective, b.Objective, p.Minimize) ||
			(!metrics.Better(b.Objective, a.Objective, p.Minimize) && a.Index < b.Index)
	}
	// Every kept trial must rank before every removed one. Comparing the
	// worst kept with the best removed is enough.
	if len(keptSucceeded) == 0 || len(removedSucceeded) == 0 {
		return
	}
	worstKept := keptSucceeded[0]
	for _, c := range keptSucceeded[1:] {
		if ranksBefore(worstKept, c) {
			worstKept = c
		}
	}
	bestRemoved := removedSucceeded[0]
	for _, c := range removedSucceeded[1:] {
		if ranksBefore(c, bestRemoved) {
			bestRemoved = c
		}
	}
	if !ranksBefore(worstKept, bestRemoved) {
		t.Errorf("removed %q (index %d, objective %q) ranks before kept %q (index %d, objective %q)",
			bestRemoved.Name, bestRemoved.Index, bestRemoved.Objective,
			worstKept.Name, worstKept.Index, worstKept.Objective)
	}
}

// BenchmarkSelect measures Select over 100,000 candidates, and as a baseline
// sorting the same candidates by index alone. The Select sub-benchmark
// reports its time as a multiple of the baseline's, in x-of-sort, when the
// baseline ran first in the same invocation.
//
// The baseline's time is taken from its own sub-benchmark rather than with
// testing.Benchmark: that cannot be called from inside a running benchmark,
// which holds the lock testing.Benchmark waits for.
func BenchmarkSelect(b *testing.B) {
	candidates := generate(rand.New(rand.NewPCG(3, 4)), 100_000)
	policy := Policy{KeepBest: k(10), Minimize: true}

	var sortNsPerOp float64
	b.Run("SortByIndex", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sorted := slices.Clone(candidates)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i].Index < sorted[j].Index })
		}
		sortNsPerOp = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("Select", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Select(candidates, policy)
		}
		if sortNsPerOp > 0 {
			selectNsPerOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(selectNsPerOp/sortNsPerOp, "x-of-sort")
		}
	})
}
