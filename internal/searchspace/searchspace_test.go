package searchspace

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Helpers that build parameters.

func values(name string, vs ...string) crucible.ParameterSpec {
	return crucible.ParameterSpec{Name: name, Values: vs}
}

func intRange(name string, lo, hi, step int64) crucible.ParameterSpec {
	return crucible.ParameterSpec{Name: name, Int: &crucible.IntRange{Min: lo, Max: hi, Step: step}}
}

func floatRange(name, lo, hi string, steps int32, scale crucible.Scale) crucible.ParameterSpec {
	return crucible.ParameterSpec{Name: name, Float: &crucible.FloatRange{Min: lo, Max: hi, Steps: steps, Scale: scale}}
}

func spec(params ...crucible.ParameterSpec) *crucible.ExperimentSpec {
	return &crucible.ExperimentSpec{Parameters: params}
}

func withSeeds(s *crucible.ExperimentSpec, base int64, replicas int32) *crucible.ExperimentSpec {
	s.Seeds = crucible.SeedSpec{Base: base, Replicas: replicas}
	return s
}

func assign(kv ...string) []crucible.ParameterAssignment {
	var out []crucible.ParameterAssignment
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, crucible.ParameterAssignment{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// trials lists every trial of s.
func trials(t testing.TB, s *Space) []Trial {
	t.Helper()
	out := make([]Trial, 0, s.Len())
	for i := range s.Len() {
		tr, err := s.Trial(i)
		if err != nil {
			t.Fatalf("Trial(%d): %v", i, err)
		}
		out = append(out, tr)
	}
	return out
}

// dimensionValues lists the values of a one-parameter space in point order.
func dimensionValues(t *testing.T, s *Space) []string {
	t.Helper()
	var out []string
	for _, tr := range trials(t, s)[:s.Points()] {
		if len(tr.Parameters) != 1 {
			t.Fatalf("trial %d has %d parameters, want 1", tr.Index, len(tr.Parameters))
		}
		out = append(out, tr.Parameters[0].Value)
	}
	return out
}

func TestOrder(t *testing.T) {
	// A 3x2 grid with 2 replicas: replicas are the outer loop and the last
	// parameter varies fastest.
	s, err := New(withSeeds(spec(values("a", "x", "y", "z"), intRange("b", 1, 2, 1)), 7, 2))
	if err != nil {
		t.Fatal(err)
	}
	want := []Trial{
		{Index: 0, Point: 0, Replica: 0, Seed: 7, Parameters: assign("a", "x", "b", "1")},
		{Index: 1, Point: 1, Replica: 0, Seed: 7, Parameters: assign("a", "x", "b", "2")},
		{Index: 2, Point: 2, Replica: 0, Seed: 7, Parameters: assign("a", "y", "b", "1")},
		{Index: 3, Point: 3, Replica: 0, Seed: 7, Parameters: assign("a", "y", "b", "2")},
		{Index: 4, Point: 4, Replica: 0, Seed: 7, Parameters: assign("a", "z", "b", "1")},
		{Index: 5, Point: 5, Replica: 0, Seed: 7, Parameters: assign("a", "z", "b", "2")},
		{Index: 6, Point: 0, Replica: 1, Seed: 8, Parameters: assign("a", "x", "b", "1")},
		{Index: 7, Point: 1, Replica: 1, Seed: 8, Parameters: assign("a", "x", "b", "2")},
		{Index: 8, Point: 2, Replica: 1, Seed: 8, Parameters: assign("a", "y", "b", "1")},
		{Index: 9, Point: 3, Replica: 1, Seed: 8, Parameters: assign("a", "y", "b", "2")},
		{Index: 10, Point: 4, Replica: 1, Seed: 8, Parameters: assign("a", "z", "b", "1")},
		{Index: 11, Point: 5, Replica: 1, Seed: 8, Parameters: assign("a", "z", "b", "2")},
	}
	if s.Points() != 6 || s.Len() != 12 {
		t.Errorf("Points(), Len() = %d, %d; want 6, 12", s.Points(), s.Len())
	}
	if diff := cmp.Diff(want, trials(t, s)); diff != "" {
		t.Errorf("trials (-want +got):\n%s", diff)
	}
}

func TestDimensionValues(t *testing.T) {
	tests := []struct {
		name  string
		param crucible.ParameterSpec
		want  []string
	}{
		{
			name:  "values in list order, verbatim",
			param: values("p", "b", "a", "1.50", "", "ünï code", "x y"),
			want:  []string{"b", "a", "1.50", "", "ünï code", "x y"},
		},
		{
			name:  "single value",
			param: values("p", "only"),
			want:  []string{"only"},
		},
		{
			name:  "int with step 1",
			param: intRange("p", -2, 2, 1),
			want:  []string{"-2", "-1", "0", "1", "2"},
		},
		{
			name:  "int step 0 defaults to 1",
			param: intRange("p", 1, 3, 0),
			want:  []string{"1", "2", "3"},
		},
		{
			name:  "int step not dividing the range stops below max",
			param: intRange("p", 2, 9, 3),
			want:  []string{"2", "5", "8"},
		},
		{
			name:  "int step dividing the range reaches max",
			param: intRange("p", -3, 3, 2),
			want:  []string{"-3", "-1", "1", "3"},
		},
		{
			name:  "int single value",
			param: intRange("p", 42, 42, 5),
			want:  []string{"42"},
		},
		{
			name:  "int step larger than the range",
			param: intRange("p", 0, 5, 100),
			want:  []string{"0"},
		},
		{
			name:  "int at the ends of int64",
			param: intRange("p", math.MinInt64, math.MaxInt64, math.MaxInt64),
			want:  []string{"-9223372036854775808", "-1", "9223372036854775806"},
		},
		{
			name:  "float linear 0 to 1 in 11 steps, without floating noise",
			param: floatRange("p", "0", "1", 11, crucible.ScaleLinear),
			want:  []string{"0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"},
		},
		{
			name:  "float scale defaults to Linear",
			param: floatRange("p", "0", "1", 3, ""),
			want:  []string{"0", "0.5", "1"},
		},
		{
			name:  "float linear through zero gives exactly 0",
			param: floatRange("p", "-0.7", "0.3", 11, crucible.ScaleLinear),
			want:  []string{"-0.7", "-0.6", "-0.5", "-0.4", "-0.3", "-0.2", "-0.1", "0", "0.1", "0.2", "0.3"},
		},
		{
			name:  "float linear with two steps is min and max",
			param: floatRange("p", "0.001", "1e3", 2, crucible.ScaleLinear),
			want:  []string{"0.001", "1000"},
		},
		{
			name:  "float linear with thirds rounds to 12 digits",
			param: floatRange("p", "0", "1", 4, crucible.ScaleLinear),
			want:  []string{"0", "0.333333333333", "0.666666666667", "1"},
		},
		{
			name:  "float bounds are printed in their shortest form",
			param: floatRange("p", "+1.50", "2.5e0", 3, crucible.ScaleLinear),
			want:  []string{"1.5", "2", "2.5"},
		},
		{
			name:  "float zero with a huge exponent is zero",
			param: floatRange("p", "0e99999999999999999999", "1", 2, crucible.ScaleLinear),
			want:  []string{"0", "1"},
		},
		{
			name:  "float log 1e-5 to 0.1 in 5 steps",
			param: floatRange("p", "1e-5", "0.1", 5, crucible.ScaleLog),
			want:  []string{"0.00001", "0.0001", "0.001", "0.01", "0.1"},
		},
		{
			name:  "float log 1 to 1000",
			param: floatRange("p", "1", "1000", 4, crucible.ScaleLog),
			want:  []string{"1", "10", "100", "1000"},
		},
		{
			name:  "float log with irrational ratios",
			param: floatRange("p", "1", "2", 3, crucible.ScaleLog),
			want:  []string{"1", "1.41421356237", "2"},
		},
		{
			name:  "float below 1e-6 in exponent notation",
			param: floatRange("p", "1e-7", "3e-7", 3, crucible.ScaleLinear),
			want:  []string{"1e-07", "2e-07", "3e-07"},
		},
		{
			name:  "float from 1e21 in exponent notation",
			param: floatRange("p", "1e20", "1e22", 3, crucible.ScaleLog),
			want:  []string{"100000000000000000000", "1e+21", "1e+22"},
		},
		{
			name:  "float log across the whole float64 range",
			param: floatRange("p", "1e-300", "1e300", 3, crucible.ScaleLog),
			want:  []string{"1e-300", "1", "1e+300"},
		},
		{
			name:  "float linear across the whole float64 range",
			param: floatRange("p", "-1e308", "1e308", 3, crucible.ScaleLinear),
			want:  []string{"-1e+308", "0", "1e+308"},
		},
		{
			name:  "float range narrow but distinct at 12 digits",
			param: floatRange("p", "1", "1.00000001", 11, crucible.ScaleLinear),
			want: []string{
				"1", "1.000000001", "1.000000002", "1.000000003", "1.000000004", "1.000000005",
				"1.000000006", "1.000000007", "1.000000008", "1.000000009", "1.00000001",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(spec(tc.param))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := s.Points(), int64(len(tc.want)); got != want {
				t.Errorf("Points() = %d, want %d", got, want)
			}
			if diff := cmp.Diff(tc.want, dimensionValues(t, s)); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoParameters(t *testing.T) {
	tests := []struct {
		name string
		spec *crucible.ExperimentSpec
		want []Trial
	}{
		{
			name: "one point, one seed by default",
			spec: &crucible.ExperimentSpec{},
			want: []Trial{{Index: 0, Point: 0, Replica: 0, Seed: 0}},
		},
		{
			name: "empty parameter list, three replicas",
			spec: withSeeds(&crucible.ExperimentSpec{Parameters: []crucible.ParameterSpec{}}, 100, 3),
			want: []Trial{
				{Index: 0, Point: 0, Replica: 0, Seed: 100},
				{Index: 1, Point: 0, Replica: 1, Seed: 101},
				{Index: 2, Point: 0, Replica: 2, Seed: 102},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if s.Points() != 1 {
				t.Errorf("Points() = %d, want 1", s.Points())
			}
			if diff := cmp.Diff(tc.want, trials(t, s)); diff != "" {
				t.Errorf("trials (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplicas(t *testing.T) {
	tests := []struct {
		name      string
		base      int64
		replicas  int32
		wantLen   int64
		wantSeeds []int64 // seed of every trial
	}{
		{name: "zero replicas defaults to one", replicas: 0, wantLen: 2, wantSeeds: []int64{0, 0}},
		{name: "one replica", base: 5, replicas: 1, wantLen: 2, wantSeeds: []int64{5, 5}},
		{name: "three replicas", base: 5, replicas: 3, wantLen: 6, wantSeeds: []int64{5, 5, 6, 6, 7, 7}},
		{name: "largest seeds", base: maxSeedBase, replicas: maxReplicas, wantLen: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(withSeeds(spec(values("p", "a", "b")), tc.base, tc.replicas))
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != tc.wantLen {
				t.Errorf("Len() = %d, want %d", s.Len(), tc.wantLen)
			}
			var seeds []int64
			for _, tr := range trials(t, s) {
				seeds = append(seeds, tr.Seed)
				if want := tc.base + int64(tr.Replica); tr.Seed != want {
					t.Errorf("trial %d: seed %d, want base+replica = %d", tr.Index, tr.Seed, want)
				}
			}
			if tc.wantSeeds != nil {
				if diff := cmp.Diff(tc.wantSeeds, seeds); diff != "" {
					t.Errorf("seeds (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestTrialOutOfRange(t *testing.T) {
	s, err := New(withSeeds(spec(values("p", "a", "b")), 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int64{-1, 4, 5, math.MaxInt64, math.MinInt64} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := s.Trial(i)
			want := fmt.Sprintf("trial index %d is out of range: the search space has 4 trials, 0 to 3", i)
			if err == nil || err.Error() != want {
				t.Fatalf("Trial(%d) error = %v, want %q", i, err, want)
			}
			if diff := cmp.Diff(Trial{}, got); diff != "" {
				t.Errorf("Trial(%d) returned a trial with its error (-want +got):\n%s", i, diff)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	ok := values("ok", "a")
	sixteen := make([]crucible.ParameterSpec, crucible.MaxParameters+1)
	for i := range sixteen {
		sixteen[i] = values(fmt.Sprintf("p%d", i), "a")
	}
	huge := make([]crucible.ParameterSpec, crucible.MaxParameters)
	for i := range huge {
		huge[i] = intRange(fmt.Sprintf("p%d", i), math.MinInt64, math.MaxInt64, 1)
	}
	tests := []struct {
		name string
		spec *crucible.ExperimentSpec
		want string
	}{
		{
			name: "no spec",
			spec: nil,
			want: "the Experiment has no spec",
		},
		{
			name: "unknown algorithm",
			spec: &crucible.ExperimentSpec{Search: crucible.SearchSpec{Algorithm: "Hyperband"}},
			want: `search.algorithm "Hyperband" is not supported: it is one of Grid, Random, Sobol or TPE`,
		},
		{
			name: "Random without a budget",
			spec: &crucible.ExperimentSpec{Search: crucible.SearchSpec{Algorithm: "Random"}},
			want: "search.maxTrials is required by Random",
		},
		{
			name: "negative replicas",
			spec: withSeeds(spec(ok), 0, -1),
			want: "seeds.replicas is -1; it must be between 1 and 100",
		},
		{
			name: "too many replicas",
			spec: withSeeds(spec(ok), 0, 101),
			want: "seeds.replicas is 101; it must be between 1 and 100",
		},
		{
			name: "negative seed base",
			spec: withSeeds(spec(ok), -1, 1),
			want: "seeds.base is -1; it must be between 0 and 4294967195",
		},
		{
			name: "seed base too large",
			spec: withSeeds(spec(ok), maxSeedBase+1, 1),
			want: "seeds.base is 4294967196; it must be between 0 and 4294967195",
		},
		{
			name: "too many parameters",
			spec: spec(sixteen...),
			want: "the search space has 17 parameters; the most is 16",
		},
		{
			name: "empty name",
			spec: spec(ok, values("", "a")),
			want: "parameters[1]: name must not be empty",
		},
		{
			name: "name too long",
			spec: spec(values(strings.Repeat("a", 64), "a")),
			want: fmt.Sprintf("parameter %q: name is 64 characters long; the most is 63", strings.Repeat("a", 64)),
		},
		{
			name: "name not matching the pattern",
			spec: spec(values("Learning-Rate", "a")),
			want: `parameter "Learning-Rate": name "Learning-Rate" must be lowercase letters, digits and '_', start with a letter and not end with '_'`,
		},
		{
			name: "name ending in underscore",
			spec: spec(values("lr_", "a")),
			want: `parameter "lr_": name "lr_" must be lowercase letters, digits and '_', start with a letter and not end with '_'`,
		},
		{
			name: "duplicate name",
			spec: spec(values("lr", "a"), ok, intRange("lr", 1, 2, 1)),
			want: `parameter "lr" is listed twice, at parameters[0] and parameters[2]`,
		},
		{
			name: "no kind",
			spec: spec(crucible.ParameterSpec{Name: "lr"}),
			want: `parameter "lr": exactly one of values, int or float must be set; none is`,
		},
		{
			name: "two kinds",
			spec: spec(crucible.ParameterSpec{Name: "lr", Values: []string{"a"}, Int: &crucible.IntRange{Max: 1}}),
			want: `parameter "lr": exactly one of values, int or float must be set; values and int are`,
		},
		{
			name: "three kinds",
			spec: spec(crucible.ParameterSpec{
				Name:   "lr",
				Values: []string{"a"},
				Int:    &crucible.IntRange{Max: 1},
				Float:  &crucible.FloatRange{Min: "0", Max: "1", Steps: 2},
			}),
			want: `parameter "lr": exactly one of values, int or float must be set; values and int and float are`,
		},
		{
			name: "empty values",
			spec: spec(crucible.ParameterSpec{Name: "lr", Values: []string{}}),
			want: `parameter "lr": values is empty; it must list at least one value`,
		},
		{
			name: "value too long",
			spec: spec(values("lr", "a", strings.Repeat("v", 257))),
			want: `parameter "lr": values[1] is 257 bytes long; the most is 256`,
		},
		{
			name: "duplicate value",
			spec: spec(values("lr", "a", "b", "a")),
			want: `parameter "lr": values[0] and values[2] are both "a", so their trials would be indistinguishable`,
		},
		{
			name: "negative int step",
			spec: spec(intRange("n", 0, 10, -2)),
			want: `parameter "n": int.step is -2; it must be at least 1`,
		},
		{
			name: "int min above max",
			spec: spec(intRange("n", 5, 4, 1)),
			want: `parameter "n": int.min 5 is greater than int.max 4`,
		},
		{
			name: "float steps 1",
			spec: spec(floatRange("x", "0", "1", 1, "")),
			want: `parameter "x": float.steps is 1; it must be at least 2`,
		},
		{
			name: "float steps 0: continuous, which a Grid cannot run",
			spec: spec(floatRange("x", "0", "1", 0, "")),
			want: `parameter "x": a Grid needs float.steps; a continuous range needs search.algorithm Random, Sobol or TPE`,
		},
		{
			name: "float min not a number",
			spec: spec(floatRange("x", "abc", "1", 2, "")),
			want: `parameter "x": float.min: "abc" is not a decimal number such as 0.001 or 1e-5`,
		},
		{
			name: "float max empty",
			spec: spec(floatRange("x", "0", "", 2, "")),
			want: `parameter "x": float.max: "" is not a decimal number such as 0.001 or 1e-5`,
		},
		{
			name: "float infinity, which Go would parse",
			spec: spec(floatRange("x", "0", "Inf", 2, "")),
			want: `parameter "x": float.max: "Inf" is not a decimal number such as 0.001 or 1e-5`,
		},
		{
			name: "float hexadecimal, which Go would parse",
			spec: spec(floatRange("x", "0x1p-2", "1", 2, "")),
			want: `parameter "x": float.min: "0x1p-2" is not a decimal number such as 0.001 or 1e-5`,
		},
		{
			name: "float with underscores, which Go would parse",
			spec: spec(floatRange("x", "0", "1_000", 2, "")),
			want: `parameter "x": float.max: "1_000" is not a decimal number such as 0.001 or 1e-5`,
		},
		{
			name: "float bound too long",
			spec: spec(floatRange("x", "0", "1."+strings.Repeat("0", 31), 2, "")),
			want: fmt.Sprintf(`parameter "x": float.max: %q is 33 characters long; the most is 32`, "1."+strings.Repeat("0", 31)),
		},
		{
			name: "float bound overflows",
			spec: spec(floatRange("x", "0", "1e400", 2, "")),
			want: `parameter "x": float.max: "1e400" is out of the range of a float64`,
		},
		{
			name: "float bound with a huge exponent",
			spec: spec(floatRange("x", "0", "1e9999999999999999999999", 2, "")),
			want: `parameter "x": float.max: "1e9999999999999999999999" is out of the range of a float64`,
		},
		{
			name: "float bound underflows",
			spec: spec(floatRange("x", "1e-400", "1", 2, "")),
			want: `parameter "x": float.min: "1e-400" is too close to zero for a float64`,
		},
		{
			name: "float bound past big.Rat's exponent limit, which ParseFloat reads as 0",
			spec: spec(floatRange("x", "1e-1000001", "1", 2, "")),
			want: `parameter "x": float.min: "1e-1000001" is too close to zero for a float64`,
		},
		{
			name: "negative float bound that underflows",
			spec: spec(floatRange("x", "-1", "-1e-1000001", 2, "")),
			want: `parameter "x": float.max: "-1e-1000001" is too close to zero for a float64`,
		},
		{
			name: "float bound that underflows at big.Rat's exponent limit",
			spec: spec(floatRange("x", "1e-1000000", "1", 2, "")),
			want: `parameter "x": float.min: "1e-1000000" is too close to zero for a float64`,
		},
		{
			name: "subnormal float bound",
			spec: spec(floatRange("x", "1e-310", "1", 2, crucible.ScaleLog)),
			want: `parameter "x": float.min: "1e-310" is too close to zero for a float64`,
		},
		{
			name: "negative float bound past big.Rat's exponent limit",
			spec: spec(floatRange("x", "-1e1000001", "1", 2, "")),
			want: `parameter "x": float.min: "-1e1000001" is out of the range of a float64`,
		},
		{
			name: "float min equal to max",
			spec: spec(floatRange("x", "1", "1.0", 2, "")),
			want: `parameter "x": float.min 1 must be less than float.max 1.0`,
		},
		{
			name: "float min above max",
			spec: spec(floatRange("x", "2", "1", 2, crucible.ScaleLog)),
			want: `parameter "x": float.min 2 must be less than float.max 1`,
		},
		{
			name: "float log from zero",
			spec: spec(floatRange("x", "0", "1", 2, crucible.ScaleLog)),
			want: `parameter "x": float.min 0 must be positive on a Log scale`,
		},
		{
			name: "float log from a negative number",
			spec: spec(floatRange("x", "-1", "1", 2, crucible.ScaleLog)),
			want: `parameter "x": float.min -1 must be positive on a Log scale`,
		},
		{
			name: "float unknown scale",
			spec: spec(floatRange("x", "0", "1", 2, "Exponential")),
			want: `parameter "x": float.scale "Exponential" is neither "Linear" nor "Log"`,
		},
		{
			name: "float linear values indistinguishable at 12 digits",
			spec: spec(floatRange("x", "1", "1.000000000001", 3, crucible.ScaleLinear)),
			want: `parameter "x": float values 0 and 1 both round to 1 at 12 significant digits, so their trials would be indistinguishable; use fewer steps or a wider range`,
		},
		{
			name: "float linear min and max indistinguishable at 12 digits",
			spec: spec(floatRange("x", "0.1", "0.1000000000000001", 2, crucible.ScaleLinear)),
			want: `parameter "x": float values 0 and 1 both round to 0.1 at 12 significant digits, so their trials would be indistinguishable; use fewer steps or a wider range`,
		},
		{
			name: "float log values indistinguishable at 12 digits",
			spec: spec(floatRange("x", "100", "100.00000001", 1000, crucible.ScaleLog)),
			want: `parameter "x": float values 0 and 1 both round to 100 at 12 significant digits, so their trials would be indistinguishable; use fewer steps or a wider range`,
		},
		{
			name: "float values too close to be sure to stay distinct, though the first two do",
			spec: spec(floatRange("x", "1", "1.00000000008", 11, crucible.ScaleLinear)),
			want: `parameter "x": neighbouring float values are 8e-12 of their magnitude apart, less than the 1.01e-11 that keeps them distinct at 12 significant digits; use fewer steps or a wider range`,
		},
		{
			name: "one dimension over the limit",
			spec: spec(intRange("n", 0, crucible.MaxTrials, 1)),
			want: "the search space has more than 100000 trials (grid points times seeds.replicas); split the sweep or coarsen the grid",
		},
		{
			name: "grid over the limit",
			spec: spec(intRange("a", 1, 1000, 1), floatRange("b", "0", "1", 101, "")),
			want: "the search space has more than 100000 trials (grid points times seeds.replicas); split the sweep or coarsen the grid",
		},
		{
			name: "replicas take the grid over the limit",
			spec: withSeeds(spec(intRange("a", 1, 1001, 1)), 0, 100),
			want: "the search space has more than 100000 trials (grid points times seeds.replicas); split the sweep or coarsen the grid",
		},
		{
			name: "a product that would overflow int64",
			spec: spec(huge...),
			want: "the search space has more than 100000 trials (grid points times seeds.replicas); split the sweep or coarsen the grid",
		},
		{
			name: "float steps far over the limit are not walked",
			spec: spec(floatRange("x", "1", "1.000000000001", math.MaxInt32, "")),
			want: "the search space has more than 100000 trials (grid points times seeds.replicas); split the sweep or coarsen the grid",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.spec)
			if err == nil {
				t.Fatalf("New() = a space of %d trials, want error %q", s.Len(), tc.want)
			}
			if s != nil {
				t.Errorf("New() returned a space with its error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// largeSpec is a 100,000-trial space of every kind of dimension: sizes 10,
// 10, 10 and 100.
func largeSpec() *crucible.ExperimentSpec {
	vs := make([]string, 10)
	for i := range vs {
		vs[i] = fmt.Sprintf("v%d", i)
	}
	return spec(
		values("optimizer", vs...),
		intRange("batch", 16, 160, 16),
		floatRange("dropout", "0", "0.9", 10, crucible.ScaleLinear),
		floatRange("lr", "1e-6", "1", 100, crucible.ScaleLog),
	)
}

func TestLargeSpace(t *testing.T) {
	s, err := New(largeSpec())
	if err != nil {
		t.Fatal(err)
	}
	if s.Points() != crucible.MaxTrials || s.Len() != crucible.MaxTrials {
		t.Fatalf("Points(), Len() = %d, %d; want %d, %d", s.Points(), s.Len(), crucible.MaxTrials, crucible.MaxTrials)
	}
	tests := []struct {
		index int64
		want  Trial
	}{
		{
			index: 0,
			want:  Trial{Index: 0, Point: 0, Parameters: assign("optimizer", "v0", "batch", "16", "dropout", "0", "lr", "0.000001")},
		},
		{
			index: 1,
			want:  Trial{Index: 1, Point: 1, Parameters: assign("optimizer", "v0", "batch", "16", "dropout", "0", "lr", "0.0000011497569954")},
		},
		{
			index: 12345,
			want:  Trial{Index: 12345, Point: 12345, Parameters: assign("optimizer", "v1", "batch", "48", "dropout", "0.3", "lr", "0.000533669923121")},
		},
		{
			index: 99999,
			want:  Trial{Index: 99999, Point: 99999, Parameters: assign("optimizer", "v9", "batch", "160", "dropout", "0.9", "lr", "1")},
		},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.index), func(t *testing.T) {
			got, err := s.Trial(tc.index)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Trial(%d) (-want +got):\n%s", tc.index, diff)
			}
		})
	}
}

// TestLogValuesNearTheLargestFloat64 checks values of Log ranges too wide
// for math.Pow, which are computed with math.Exp: on amd64 it overflows to
// +Inf from about 709.44 on, short of log(MaxFloat64) = 709.78. The values
// agree with the C library's exp to all 12 digits.
func TestLogValuesNearTheLargestFloat64(t *testing.T) {
	const largest = "1.7976931348623157e308"
	tests := []struct {
		name  string
		param crucible.ParameterSpec
		index int64
		want  string
	}{
		{
			name:  "from 1e-10, next to max",
			param: floatRange("p", "1e-10", largest, 10000, crucible.ScaleLog),
			index: 9998,
			want:  "1.67065550273e+308",
		},
		{
			name:  "from the smallest normal float64, the last that math.Exp computes",
			param: floatRange("p", "2.2250738585072014e-308", largest, crucible.MaxTrials, crucible.ScaleLog),
			index: 99974,
			want:  "1.26106414353e+308",
		},
		{
			name:  "from the smallest normal float64, the first past the overflow of math.Exp",
			param: floatRange("p", "2.2250738585072014e-308", largest, crucible.MaxTrials, crucible.ScaleLog),
			index: 99975,
			want:  "1.27907588969e+308",
		},
		{
			name:  "from the smallest normal float64, next to max",
			param: floatRange("p", "2.2250738585072014e-308", largest, crucible.MaxTrials, crucible.ScaleLog),
			index: 99998,
			want:  "1.77237830195e+308",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(spec(tc.param))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := s.Trial(tc.index)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(assign("p", tc.want), tr.Parameters); diff != "" {
				t.Errorf("Trial(%d) parameters (-want +got):\n%s", tc.index, diff)
			}
		})
	}
}

// TestNewDoesNotMaterialise checks that New's cost does not grow with the
// number of trials: a 100,000-trial space allocates no more than a 1-trial
// space of the same shape.
func TestNewDoesNotMaterialise(t *testing.T) {
	shape := func(n int64, steps int32) *crucible.ExperimentSpec {
		return withSeeds(spec(
			intRange("a", 1, n, 1),
			intRange("b", 1, n, 1),
			floatRange("c", "0", "1", steps, crucible.ScaleLinear),
			floatRange("d", "1e-6", "1", steps, crucible.ScaleLog),
		), 0, 1)
	}
	allocs := func(s *crucible.ExperimentSpec) float64 {
		return testing.AllocsPerRun(100, func() {
			if _, err := New(s); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(shape(1, 2)), allocs(shape(10, 25)) // 4 and 100,000 trials
	// The race detector's runtime adds an allocation or two now and then;
	// anything that grows with the values (64 more of them here) or the
	// trials is far more than the slack.
	const slack = 8
	if large > small+slack {
		t.Errorf("New allocates %v times for 100,000 trials but %v times for 4: it must not grow with the trials", large, small)
	}
}

// TestDistinct checks, over random small spaces, that every trial runs a
// different assignment of parameters and seed, and that points and replicas
// are numbered as documented.
func TestDistinct(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		var params []crucible.ParameterSpec
		for j := range rng.IntN(4) {
			name := fmt.Sprintf("p%d", j)
			switch rng.IntN(4) {
			case 0:
				vs := make([]string, 1+rng.IntN(4))
				for k := range vs {
					vs[k] = fmt.Sprintf("v%d", k)
				}
				params = append(params, values(name, vs...))
			case 1:
				lo := rng.Int64N(21) - 10
				params = append(params, intRange(name, lo, lo+rng.Int64N(10), rng.Int64N(4)))
			case 2:
				params = append(params, floatRange(name, "-1.5", "2.5", 2+rng.Int32N(5), crucible.ScaleLinear))
			default:
				params = append(params, floatRange(name, "0.001", "10", 2+rng.Int32N(5), crucible.ScaleLog))
			}
		}
		sp := withSeeds(spec(params...), rng.Int64N(5), rng.Int32N(4))
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, err := New(sp)
			if err != nil {
				t.Fatal(err)
			}
			seen := make(map[string]int64, s.Len())
			for _, tr := range trials(t, s) {
				if tr.Point != tr.Index%s.Points() || int64(tr.Replica) != tr.Index/s.Points() {
					t.Errorf("trial %d: point %d, replica %d; want %d, %d", tr.Index, tr.Point, tr.Replica, tr.Index%s.Points(), tr.Index/s.Points())
				}
				key := fmt.Sprintf("%q seed=%d", tr.Parameters, tr.Seed)
				if j, dup := seen[key]; dup {
					t.Errorf("trials %d and %d both run %s", j, tr.Index, key)
				}
				seen[key] = tr.Index
			}
		})
	}
}

// nearFloatLimits are float ranges of crucible.MaxTrials values at the ends
// of float64's range, narrow and wide. New once computed each of their values
// with big.Rat arithmetic to check that they were distinct: for [0, 1e308]
// it took 0.44 s and 152 MiB.
var nearFloatLimits = []struct {
	name   string
	lo, hi string
	scale  crucible.Scale
}{
	{"linear from 0 to 1e308", "0", "1e308", crucible.ScaleLinear},
	{"linear across all of float64", "-1.7976931348623157e308", "1.7976931348623157e308", crucible.ScaleLinear},
	{"linear narrow near the largest float64", "1e307", "1.00001e307", crucible.ScaleLinear},
	{"linear narrow near the smallest normal float64", "2.2250738585072014e-308", "2.2250961e-308", crucible.ScaleLinear},
	{"log across all normal float64s", "2.2250738585072014e-308", "1.7976931348623157e308", crucible.ScaleLog},
	{"log narrow near the largest float64", "1e308", "1.00001e308", crucible.ScaleLog},
}

// TestNewFloatCostDoesNotGrowWithSteps checks that New computes none of a
// float range's values: it allocates no more for crucible.MaxTrials steps
// than for 2.
func TestNewFloatCostDoesNotGrowWithSteps(t *testing.T) {
	for _, tc := range nearFloatLimits {
		t.Run(tc.name, func(t *testing.T) {
			allocs := func(steps int32) float64 {
				sp := spec(floatRange("x", tc.lo, tc.hi, steps, tc.scale))
				return testing.AllocsPerRun(10, func() {
					if _, err := New(sp); err != nil {
						t.Fatal(err)
					}
				})
			}
			// The same slack as TestNewDoesNotMaterialise, for the race
			// detector.
			const slack = 8
			if two, many := allocs(2), allocs(crucible.MaxTrials); many > two+slack {
				t.Errorf("New allocates %v times for %d steps but %v times for 2: it must not grow with the steps", many, crucible.MaxTrials, two)
			}
		})
	}
}

// BenchmarkNewNearFloatLimits measures New on the ranges of nearFloatLimits.
func BenchmarkNewNearFloatLimits(b *testing.B) {
	for _, tc := range nearFloatLimits {
		b.Run(tc.name, func(b *testing.B) {
			sp := spec(floatRange("x", tc.lo, tc.hi, crucible.MaxTrials, tc.scale))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(sp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAcceptedFloatValuesAreDistinct checks, over random float ranges whose
// neighbouring values are about minGap apart, that New accepts none whose
// values round alike: New no longer computes the values to check.
func TestAcceptedFloatValuesAreDistinct(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 300 {
		scale := crucible.ScaleLinear
		if rng.IntN(2) == 0 {
			scale = crucible.ScaleLog
		}
		steps := 2 + rng.Int32N(300)
		lo := (1 + 9*rng.Float64()) * math.Pow(10, float64(rng.IntN(615)-307))
		hi := lo * (1 + minGap*(0.5+2*rng.Float64())*float64(steps-1))
		sp := spec(floatRange("x", strconv.FormatFloat(lo, 'g', -1, 64), strconv.FormatFloat(hi, 'g', -1, 64), steps, scale))
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, err := New(sp)
			if err != nil {
				return
			}
			seen := make(map[string]int64, s.Points())
			for k, v := range dimensionValues(t, s) {
				if j, dup := seen[v]; dup {
					t.Fatalf("New accepted %+v, whose values %d and %d are both %s", *sp.Parameters[0].Float, j, k, v)
				}
				seen[v] = int64(k)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	sp := largeSpec()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(sp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrial(b *testing.B) {
	s, err := New(largeSpec())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		if _, err := s.Trial(i); err != nil {
			b.Fatal(err)
		}
		i = (i + 7919) % s.Len()
	}
}
