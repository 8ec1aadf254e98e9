package searchspace

import (
	"strconv"
	"testing"

	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// sliceRecord is a Record of trials 0..len-1, all succeeded.
type sliceRecord struct {
	params     [][]crucible.ParameterAssignment
	objectives []float64
}

func (r sliceRecord) Parameters(j int64) ([]crucible.ParameterAssignment, bool) {
	if j < 0 || j >= int64(len(r.params)) {
		return nil, false
	}
	return r.params[j], true
}

func (r sliceRecord) Objective(j int64) (float64, bool) {
	if j < 0 || j >= int64(len(r.objectives)) {
		return 0, false
	}
	return r.objectives[j], true
}

// tpeSpec is a TPE search over six parameters of every kind.
func tpeSpec() *crucible.ExperimentSpec {
	return &crucible.ExperimentSpec{
		Parameters: []crucible.ParameterSpec{
			{Name: "lr", Float: &crucible.FloatRange{Min: "1e-5", Max: "1", Scale: crucible.ScaleLog}},
			{Name: "wd", Float: &crucible.FloatRange{Min: "0", Max: "0.1"}},
			{Name: "dropout", Float: &crucible.FloatRange{Min: "0", Max: "0.5", Steps: 11}},
			{Name: "depth", Int: &crucible.IntRange{Min: 1, Max: 12, Step: 1}},
			{Name: "width", Int: &crucible.IntRange{Min: 64, Max: 1024, Step: 64}},
			{Name: "optimizer", Values: []string{"adam", "sgd", "lion"}},
		},
		Search:    crucible.SearchSpec{Algorithm: crucible.SearchTPE, MaxTrials: ptr.To[int32](20000), MaxConcurrent: ptr.To[int32](4)},
		Seeds:     crucible.SeedSpec{Base: 1, Replicas: 1},
		Objective: crucible.ObjectiveSpec{Metric: "loss", Goal: crucible.GoalMinimize},
	}
}

// record10000 is a record of the space's first n suggestions, each with
// an objective.
func recordOf(tb testing.TB, s *Space, n int) sliceRecord {
	tb.Helper()
	rec := sliceRecord{}
	for i := range n {
		// Random points (Trial(i) on a Random space of the same params)
		// stand in for a search's history.
		t, err := s.suggestRandomForBench(int64(i))
		if err != nil {
			tb.Fatal(err)
		}
		rec.params = append(rec.params, t.Parameters)
		v, _ := strconv.ParseFloat(t.Parameters[0].Value, 64)
		rec.objectives = append(rec.objectives, v)
	}
	return rec
}

// suggestRandomForBench is Suggest as a Random space of the same
// parameters would give it.
func (s *Space) suggestRandomForBench(i int64) (Trial, error) {
	spec := tpeSpec()
	spec.Search.Algorithm = crucible.SearchRandom
	spec.Search.MaxConcurrent = nil
	r, err := New(spec)
	if err != nil {
		return Trial{}, err
	}
	return r.Trial(i)
}

// TestSuggestReadsTheRecord checks that what a TPE suggestion sees is the
// record: the same record proposes the same trial, and a value written
// back from a proposal parses to the proposal's point.
func TestSuggestReadsTheRecord(t *testing.T) {
	s, err := New(tpeSpec())
	if err != nil {
		t.Fatal(err)
	}
	rec := recordOf(t, s, 40)
	a, err := s.Suggest(40, rec, crucible.GoalMinimize)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Suggest(40, rec, crucible.GoalMinimize)
	if err != nil {
		t.Fatal(err)
	}
	if a.Index != 40 || len(a.Parameters) != 6 || a.Seed != 1 {
		t.Fatalf("trial %+v", a)
	}
	for k := range a.Parameters {
		if a.Parameters[k] != b.Parameters[k] {
			t.Errorf("parameter %d: %v then %v from the same record", k, a.Parameters[k], b.Parameters[k])
		}
	}
	if _, ok := s.point(sliceRecord{params: [][]crucible.ParameterAssignment{a.Parameters}}, 0); !ok {
		t.Errorf("the proposal %v does not read back as a point", a.Parameters)
	}
	// Trial(i) is refused past index 0: it depends on outcomes.
	if _, err := s.Trial(1); err == nil {
		t.Error("Trial(1) of a TPE space answered without a record")
	}
}

// BenchmarkSuggest10000 proposes the next trial of a TPE search from a
// record of 10,000 ended trials, the parsing of their parameters included.
func BenchmarkSuggest10000(b *testing.B) {
	s, err := New(tpeSpec())
	if err != nil {
		b.Fatal(err)
	}
	rec := recordOf(b, s, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Suggest(10003, rec, crucible.GoalMinimize); err != nil {
			b.Fatal(err)
		}
	}
}
