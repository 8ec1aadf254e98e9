package specdigest

import (
	"testing"

	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/searchspace"
)

// TestSearchDefaults holds the digest's default of TPE's maxConcurrent to
// the one the operator applies.
func TestSearchDefaults(t *testing.T) {
	if defaultMaxConcurrent != searchspace.DefaultMaxConcurrent {
		t.Errorf("defaultMaxConcurrent = %d; searchspace.DefaultMaxConcurrent = %d", defaultMaxConcurrent, searchspace.DefaultMaxConcurrent)
	}
}

// TestSearchAndEarlyStopping checks that what decides which points run, and
// which run to their end, is in the digest, and that a default spelled out
// digests as one left out.
func TestSearchAndEarlyStopping(t *testing.T) {
	base := func() *crucible.ExperimentSpec {
		return &crucible.ExperimentSpec{
			Image:      "registry.example.com/t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Parameters: []crucible.ParameterSpec{{Name: "lr", Float: &crucible.FloatRange{Min: "1e-5", Max: "1", Scale: crucible.ScaleLog}}},
			Search:     crucible.SearchSpec{Algorithm: crucible.SearchTPE, MaxTrials: ptr.To[int32](40)},
			Seeds:      crucible.SeedSpec{Base: 7, Replicas: 1},
			Objective:  crucible.ObjectiveSpec{Metric: "loss", Goal: crucible.GoalMinimize},
		}
	}
	digest := func(s *crucible.ExperimentSpec) string {
		t.Helper()
		d, err := Compute(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	want := digest(base())
	same := map[string]func(*crucible.ExperimentSpec){
		"the sampler's seed spelled out as seeds.base": func(s *crucible.ExperimentSpec) { s.Search.Seed = ptr.To[int64](7) },
		"maxConcurrent spelled out as its default":     func(s *crucible.ExperimentSpec) { s.Search.MaxConcurrent = ptr.To[int32](4) },
	}
	differs := map[string]func(*crucible.ExperimentSpec){
		"another budget":        func(s *crucible.ExperimentSpec) { s.Search.MaxTrials = ptr.To[int32](41) },
		"another sampler seed":  func(s *crucible.ExperimentSpec) { s.Search.Seed = ptr.To[int64](8) },
		"another maxConcurrent": func(s *crucible.ExperimentSpec) { s.Search.MaxConcurrent = ptr.To[int32](2) },
		"another algorithm":     func(s *crucible.ExperimentSpec) { s.Search.Algorithm = crucible.SearchRandom },
		"early stopping": func(s *crucible.ExperimentSpec) {
			s.EarlyStopping = &crucible.EarlyStoppingSpec{ASHA: &crucible.ASHASpec{}}
		},
	}
	for name, mutate := range same {
		s := base()
		mutate(s)
		if got := digest(s); got != want {
			t.Errorf("%s: digest changed", name)
		}
	}
	for name, mutate := range differs {
		s := base()
		mutate(s)
		if got := digest(s); got == want {
			t.Errorf("%s: digest unchanged", name)
		}
	}
	// ASHA's defaults spelled out digest as left out.
	a, b := base(), base()
	a.EarlyStopping = &crucible.EarlyStoppingSpec{ASHA: &crucible.ASHASpec{}}
	b.EarlyStopping = &crucible.EarlyStoppingSpec{ASHA: &crucible.ASHASpec{GracePeriod: 1, ReductionFactor: 3}}
	if digest(a) != digest(b) {
		t.Error("ASHA's defaults spelled out change the digest")
	}
}
