package search

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mixedSpace has every kind of dimension.
var mixedSpace = Space{
	{Name: "lr", Kind: Float, Min: 1e-5, Max: 1, Log: true},
	{Name: "dropout", Kind: Float, Min: 0, Max: 0.5},
	{Name: "depth", Kind: Int, Min: 1, Max: 12, Step: 1},
	{Name: "batch", Kind: Int, Min: 16, Max: 512, Step: 1, Log: true},
	{Name: "units", Kind: Int, Min: 32, Max: 1000, Step: 32},
	{Name: "optimizer", Kind: Categorical, Choices: 4},
	{Name: "fixed", Kind: Int, Min: 7, Max: 7, Step: 1},
}

// mixedObjective is a smooth function of mixedSpace with its minimum inside.
func mixedObjective(p Point) float64 {
	lr := math.Log10(p[0]) + 3
	return lr*lr + (p[1]-0.1)*(p[1]-0.1) + 0.05*(p[2]-6)*(p[2]-6) +
		0.1*math.Abs(math.Log2(p[3]/64)) + math.Abs(p[4]-256)/1000 + 0.2*float64(int(p[5])%3)
}

// algorithms is every Algorithm, with the options the operator uses.
var algorithms = []struct {
	alg  Algorithm
	opts Options
}{
	{Random, Options{}},
	{Sobol, Options{Scramble: true}},
	{Sobol, Options{}},
	{TPE, Options{}},
}

// run proposes count points in sequence, with the last parallel-1 proposals
// still pending at each one, and returns them.
func run(t testing.TB, s Sampler, count, parallel int, f func(Point) float64) []Point {
	t.Helper()
	var points []Point
	var observed []Observation
	for i := range count {
		done := max(0, i-(parallel-1))
		for len(observed) < done {
			p := points[len(observed)]
			observed = append(observed, Observation{Point: p, Value: f(p)})
		}
		p, err := s.Propose(int64(i), observed, points[done:])
		if err != nil {
			t.Fatalf("Propose(%d): %v", i, err)
		}
		points = append(points, p)
	}
	return points
}

func mustNew(t testing.TB, alg Algorithm, space Space, seed uint64, opts Options) Sampler {
	t.Helper()
	s, err := New(alg, space, seed, opts)
	if err != nil {
		t.Fatalf("New(%s): %v", alg, err)
	}
	return s
}

func TestDeterminism(t *testing.T) {
	for _, a := range algorithms {
		for _, parallel := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/scramble=%t/parallel=%d", a.alg, a.opts.Scramble, parallel), func(t *testing.T) {
				first := run(t, mustNew(t, a.alg, mixedSpace, 42, a.opts), 200, parallel, mixedObjective)
				second := run(t, mustNew(t, a.alg, mixedSpace, 42, a.opts), 200, parallel, mixedObjective)
				if diff := cmp.Diff(first, second); diff != "" {
					t.Errorf("two runs differ (-first +second):\n%s", diff)
				}
				// Proposing an index again, out of order, gives the same
				// point: nothing is remembered between calls.
				s := mustNew(t, a.alg, mixedSpace, 42, a.opts)
				var observed []Observation
				for _, p := range first[:150] {
					observed = append(observed, Observation{Point: p, Value: mixedObjective(p)})
				}
				if parallel == 1 {
					got, err := s.Propose(150, observed, nil)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(first[150], got); diff != "" {
						t.Errorf("point 150 proposed again differs (-first +again):\n%s", diff)
					}
				}
				other := run(t, mustNew(t, a.alg, mixedSpace, 43, a.opts), 200, parallel, mixedObjective)
				same := cmp.Equal(first, other)
				if a.alg == Sobol && !a.opts.Scramble {
					if !same {
						t.Error("unscrambled Sobol depends on the seed")
					}
				} else if same {
					t.Error("seeds 42 and 43 give the same points")
				}
			})
		}
	}
}

func TestRandomIgnoresRecord(t *testing.T) {
	s := mustNew(t, Random, mixedSpace, 7, Options{})
	observed := []Observation{{Point: Point{0.1, 0.2, 3, 20, 64, 1, 7}, Value: 1}}
	pending := []Point{{0.5, 0.3, 4, 30, 96, 2, 7}}
	for _, i := range []int64{0, 1, 99, 1 << 40} {
		alone, err := s.Propose(i, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		with, err := s.Propose(i, observed, pending)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(alone, with); diff != "" {
			t.Errorf("point %d depends on the record (-alone +with):\n%s", i, diff)
		}
	}
}

// TestTPEStartsWithRandom checks that TPE proposes the Random point until it
// has StartupTrials observations, and then models them.
func TestTPEStartsWithRandom(t *testing.T) {
	random := mustNew(t, Random, mixedSpace, 3, Options{})
	tpe := mustNew(t, TPE, mixedSpace, 3, Options{})
	randomPoints := run(t, random, 11, 1, mixedObjective)
	tpePoints := run(t, tpe, 11, 1, mixedObjective)
	if diff := cmp.Diff(randomPoints[:DefaultStartupTrials], tpePoints[:DefaultStartupTrials]); diff != "" {
		t.Errorf("startup points differ from Random's (-random +tpe):\n%s", diff)
	}
	if cmp.Equal(randomPoints[DefaultStartupTrials], tpePoints[DefaultStartupTrials]) {
		t.Errorf("point %d is still Random's", DefaultStartupTrials)
	}
}

// TestTPEConstantLiar checks that a pending point counts as the worst
// observation: the same as passing it observed with the worst value.
func TestTPEConstantLiar(t *testing.T) {
	s := mustNew(t, TPE, mixedSpace, 5, Options{})
	points := run(t, mustNew(t, Random, mixedSpace, 5, Options{}), 30, 1, mixedObjective)
	var observed []Observation
	worst := math.Inf(-1)
	for _, p := range points[:25] {
		v := mixedObjective(p)
		worst = math.Max(worst, v)
		observed = append(observed, Observation{Point: p, Value: v})
	}
	pending := points[25:]
	withPending, err := s.Propose(30, observed, pending)
	if err != nil {
		t.Fatal(err)
	}
	lied := append([]Observation(nil), observed...)
	for _, p := range pending {
		lied = append(lied, Observation{Point: p, Value: worst})
	}
	// Only the startup count differs, and both are past it.
	asObserved, err := s.Propose(30, lied, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(asObserved, withPending); diff != "" {
		t.Errorf("pending points are not the worst observations (-observed +pending):\n%s", diff)
	}
	without, err := s.Propose(30, observed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(without, withPending) {
		t.Error("pending points change nothing")
	}
}

func TestPointsInSpace(t *testing.T) {
	spaces := []struct {
		name  string
		space Space
	}{
		{"mixed", mixedSpace},
		{"sixteen", func() Space {
			var s Space
			for j := range MaxDimensions {
				d := mixedSpace[j%len(mixedSpace)]
				d.Name += strings.Repeat("_", j/len(mixedSpace))
				s = append(s, d)
			}
			return s
		}()},
		{"narrow", Space{
			{Name: "tiny", Kind: Float, Min: 1, Max: 1 + 1e-9},
			{Name: "coarse", Kind: Int, Min: -10, Max: 10, Step: 7},
			{Name: "one", Kind: Categorical, Choices: 1},
			{Name: "negative", Kind: Float, Min: -3, Max: -2},
			{Name: "logint", Kind: Int, Min: 1, Max: 2, Step: 1, Log: true},
		}},
	}
	for _, sp := range spaces {
		for _, a := range algorithms {
			t.Run(fmt.Sprintf("%s/%s/scramble=%t", sp.name, a.alg, a.opts.Scramble), func(t *testing.T) {
				space := sp.space
				s := mustNew(t, a.alg, space, 1, a.opts)
				f := func(p Point) float64 {
					sum := 0.0
					for _, x := range p {
						sum += math.Sin(x)
					}
					return sum
				}
				for i, p := range run(t, s, 300, 3, f) {
					if err := inSpace(space, p); err != nil {
						t.Errorf("point %d %v: %v", i, p, err)
					}
				}
			})
		}
	}
}

// inSpace returns an error unless p is a point of space.
func inSpace(space Space, p Point) error {
	if len(p) != len(space) {
		return fmt.Errorf("%d coordinates, want %d", len(p), len(space))
	}
	for j, d := range space {
		v := p[j]
		switch d.Kind {
		case Float:
			if !(v >= d.Min && v <= d.Max) {
				return fmt.Errorf("%s = %v is outside [%v, %v]", d.Name, v, d.Min, d.Max)
			}
		case Int:
			k := (v - d.Min) / float64(d.Step)
			if !(v >= d.Min && v <= d.Max) || k != math.Trunc(k) {
				return fmt.Errorf("%s = %v is not on the grid %v, %v+%d, ... <= %v", d.Name, v, d.Min, d.Min, d.Step, d.Max)
			}
		case Categorical:
			if v != math.Trunc(v) || v < 0 || v >= float64(d.Choices) {
				return fmt.Errorf("%s = %v is not a choice of %d", d.Name, v, d.Choices)
			}
		}
		if d.Log && v <= 0 {
			return fmt.Errorf("%s = %v is not positive on a Log scale", d.Name, v)
		}
	}
	return nil
}

func TestNewErrors(t *testing.T) {
	ok := Dimension{Name: "ok", Kind: Float, Min: 0, Max: 1}
	tests := []struct {
		name  string
		alg   Algorithm
		space Space
		opts  Options
		want  string
	}{
		{"no dimensions", Random, nil, Options{}, "no dimensions"},
		{"too many", Random, make(Space, MaxDimensions+1), Options{}, "more than 16"},
		{"no name", Random, Space{{Kind: Float, Max: 1}}, Options{}, "dimension 0 has no name"},
		{"twice", Random, Space{ok, ok}, Options{}, `"ok" appears twice`},
		{"empty float range", Random, Space{{Name: "x", Kind: Float, Min: 2, Max: 1}}, Options{}, `dimension "x": empty range`},
		{"empty int range", Sobol, Space{{Name: "n", Kind: Int, Min: 5, Max: 4, Step: 1}}, Options{}, `dimension "n": empty range`},
		{"log zero", TPE, Space{{Name: "lr", Kind: Float, Min: 0, Max: 1, Log: true}}, Options{}, `dimension "lr": a Log scale needs Min > 0`},
		{"log negative int", TPE, Space{{Name: "n", Kind: Int, Min: -1, Max: 4, Step: 1, Log: true}}, Options{}, `dimension "n": a Log scale needs Min > 0`},
		{"log int step", TPE, Space{{Name: "n", Kind: Int, Min: 1, Max: 9, Step: 2, Log: true}}, Options{}, `dimension "n": a Log scale needs Step 1`},
		{"no choices", Random, Space{ok, {Name: "opt", Kind: Categorical}}, Options{}, `dimension "opt": want Choices >= 1, got 0`},
		{"no step", Random, Space{{Name: "n", Kind: Int, Min: 1, Max: 4}}, Options{}, `dimension "n": want Step >= 1, got 0`},
		{"NaN min", Random, Space{{Name: "x", Kind: Float, Min: math.NaN(), Max: 1}}, Options{}, `dimension "x": bounds must be finite numbers`},
		{"NaN max", Random, Space{{Name: "x", Kind: Float, Min: 0, Max: math.NaN()}}, Options{}, `dimension "x": bounds must be finite numbers`},
		{"infinite", Random, Space{{Name: "x", Kind: Float, Min: 0, Max: math.Inf(1)}}, Options{}, `dimension "x": bounds must be finite numbers`},
		{"fractional int", Random, Space{{Name: "n", Kind: Int, Min: 0.5, Max: 4, Step: 1}}, Options{}, `dimension "n": bounds of an Int must be integers`},
		{"huge int", Random, Space{{Name: "n", Kind: Int, Min: 0, Max: 1e17, Step: 1}}, Options{}, `dimension "n": bounds of an Int must be within`},
		{"unknown kind", Random, Space{{Name: "k", Kind: 9}}, Options{}, `dimension "k": unknown kind 9`},
		{"unknown algorithm", "Grid", Space{ok}, Options{}, `unknown algorithm "Grid"`},
		{"negative startup", TPE, Space{ok}, Options{StartupTrials: -1}, "StartupTrials is -1"},
		{"negative candidates", TPE, Space{ok}, Options{EICandidates: -1}, "EICandidates is -1"},
		{"NaN prior", TPE, Space{ok}, Options{PriorWeight: math.NaN()}, "PriorWeight is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.alg, tt.space, 0, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestProposeErrors(t *testing.T) {
	space := Space{
		{Name: "x", Kind: Float, Min: 0, Max: 1},
		{Name: "opt", Kind: Categorical, Choices: 3},
	}
	good := Observation{Point: Point{0.5, 1}, Value: 1}
	many := func(o Observation) []Observation {
		obs := make([]Observation, 12)
		for i := range obs {
			obs[i] = good
		}
		obs[11] = o
		return obs
	}
	tests := []struct {
		name     string
		alg      Algorithm
		index    int64
		observed []Observation
		pending  []Point
		want     string
	}{
		{"negative index", Random, -1, nil, nil, "index -1 is negative"},
		{"negative Sobol index", Sobol, -1, nil, nil, "index -1 is negative"},
		{"past Sobol", Sobol, 1 << 32, nil, nil, "past the Sobol sequence"},
		{"negative TPE index", TPE, -1, nil, nil, "index -1 is negative"},
		{"short point", TPE, 20, many(Observation{Point: Point{0.5}}), nil, "observation 11: has 1 coordinates, want 2"},
		{"NaN value", TPE, 20, many(Observation{Point: Point{0.5, 1}, Value: math.NaN()}), nil, "observation 11: value is NaN"},
		{"NaN coordinate", TPE, 20, many(Observation{Point: Point{math.NaN(), 1}}), nil, `observation 11: dimension "x" is NaN`},
		{"bad choice", TPE, 20, many(Observation{Point: Point{0.5, 3}}), nil, `observation 11: dimension "opt": 3 is not a choice index`},
		{"bad pending", TPE, 20, many(good), []Point{{0.5, 1.5}}, `pending point 0: dimension "opt": 1.5 is not a choice index`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.alg, space, 0, Options{})
			_, err := s.Propose(tt.index, tt.observed, tt.pending)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Propose() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestOutOfBoundsObservations checks that TPE clamps coordinates outside
// the bounds (a space narrowed after trials ran) instead of failing.
func TestOutOfBoundsObservations(t *testing.T) {
	space := Space{
		{Name: "lr", Kind: Float, Min: 1e-3, Max: 1, Log: true},
		{Name: "n", Kind: Int, Min: 2, Max: 8, Step: 2},
	}
	var observed []Observation
	for i := range 20 {
		observed = append(observed, Observation{Point: Point{float64(i) - 5, float64(3*i - 10)}, Value: float64(i)})
	}
	s := mustNew(t, TPE, space, 0, Options{})
	p, err := s.Propose(20, observed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := inSpace(space, p); err != nil {
		t.Errorf("point %v: %v", p, err)
	}
}
