package search

import (
	"errors"
	"fmt"
	"math"
)

// Kind is the kind of a dimension.
type Kind int

const (
	// Float is a real number between Min and Max, both included.
	Float Kind = iota
	// Int is an integer Min, Min+Step, ... up to Max.
	Int
	// Categorical is one of Choices unordered values, held as its index.
	Categorical
)

// String returns the name of the kind, as in Go.
func (k Kind) String() string {
	switch k {
	case Float:
		return "Float"
	case Int:
		return "Int"
	case Categorical:
		return "Categorical"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// MaxDimensions is the most dimensions a Space may have: the API allows 16
// parameters, and the Sobol direction numbers embedded here cover 16
// dimensions.
const MaxDimensions = 16

// maxExactInt is 2^53: every integer up to it in magnitude is exact in a
// float64. The API bounds integers by 10^15.
const maxExactInt = 1 << 53

// Dimension is one parameter of a Space.
type Dimension struct {
	// Name of the parameter, used in error messages. Required and unique.
	Name string
	// Kind of the parameter.
	Kind Kind
	// Min and Max are the bounds, both included. Float: finite reals with
	// Min <= Max. Int: integers as float64, |Min|, |Max| <= 2^53.
	// Ignored for Categorical.
	Min, Max float64
	// Log samples a Float or Int dimension on a log scale; it needs Min > 0,
	// and Step 1 on an Int dimension.
	Log bool
	// Step is an Int dimension's step: its values are Min, Min+Step, ...
	// up to Max. Required (>= 1) for Int, ignored otherwise.
	Step int64
	// Choices is a Categorical dimension's number of values; a point holds
	// the index 0..Choices-1. Required (>= 1) for Categorical.
	Choices int
}

// Space is the search space: one Dimension per parameter.
type Space []Dimension

// Point holds one coordinate per dimension of a Space, in order: the float
// value, the int value (exact in a float64), or the categorical index.
type Point []float64

// Observation is an ended trial's outcome. Value is always minimised: the
// caller negates a maximised objective.
type Observation struct {
	// Point is the trial's point.
	Point Point
	// Value is the objective, to be minimised.
	Value float64
}

// Algorithm names a sampler.
type Algorithm string

const (
	// Random draws every point independently and uniformly.
	Random Algorithm = "Random"
	// Sobol walks the (optionally scrambled) Sobol' sequence.
	Sobol Algorithm = "Sobol"
	// TPE is the Tree-structured Parzen Estimator.
	TPE Algorithm = "TPE"
)

// Options tunes a Sampler. The zero value of a numeric field means its
// default, so Options{Scramble: true} is what the operator uses.
type Options struct {
	// Scramble randomises the Sobol sequence by a digital shift derived
	// from the seed (see sobol.go). The operator sets it; unscrambled, the
	// sequence is the published one and ignores the seed.
	Scramble bool

	// StartupTrials is how many observations TPE needs before it models
	// them; before that it proposes the Random point of the same index.
	// 0 means DefaultStartupTrials.
	StartupTrials int

	// EICandidates is how many candidates TPE draws from l(x) per
	// dimension. 0 means DefaultEICandidates.
	EICandidates int

	// PriorWeight is the weight of TPE's prior kernel, relative to an
	// observation's. 0 means DefaultPriorWeight.
	PriorWeight float64
}

// Defaults of Options, Optuna's (TPESampler, version 4).
const (
	// DefaultStartupTrials is Optuna's n_startup_trials.
	DefaultStartupTrials = 10
	// DefaultEICandidates is Optuna's n_ei_candidates.
	DefaultEICandidates = 24
	// DefaultPriorWeight is Optuna's prior_weight.
	DefaultPriorWeight = 1.0
)

// Sampler proposes points of a Space.
type Sampler interface {
	// Propose returns the point of suggestion number index (0-based).
	// observed are the outcomes known for this proposal, in the order of
	// their trial index; pending are points proposed before and not yet
	// ended (or whose outcome is not to be used), in index order. The
	// result is a pure function of (algorithm, seed, space, options, index,
	// observed, pending).
	Propose(index int64, observed []Observation, pending []Point) (Point, error)
}

// New returns a Sampler of algorithm alg over space. It validates the space
// and the options and returns an error naming the first wrong dimension or
// option.
func New(alg Algorithm, space Space, seed uint64, opts Options) (Sampler, error) {
	dims, err := compile(space)
	if err != nil {
		return nil, err
	}
	switch alg {
	case Random:
		return &randomSampler{dims: dims, seed: seed}, nil
	case Sobol:
		return newSobol(dims, seed, opts.Scramble), nil
	case TPE:
		o, err := tpeDefaults(opts)
		if err != nil {
			return nil, err
		}
		return &tpeSampler{dims: dims, seed: seed, opts: o}, nil
	default:
		return nil, fmt.Errorf("search: unknown algorithm %q: want %q, %q or %q", alg, Random, Sobol, TPE)
	}
}

// dimension is a validated Dimension with what the samplers derive from it.
type dimension struct {
	Dimension
	// size is the number of values of an Int (grid points) or Categorical
	// (choices) dimension.
	size int64
	// last is an Int dimension's largest value, Min + (size-1)*Step.
	last float64
	// lo and hi are the bounds of the continuous model space in which a
	// Float or Int dimension is sampled and modelled: [Min, Max] for a
	// Float, its log for a Log Float; each value's cell of width Step
	// around it for an Int, [log(Min-0.5), log(last+0.5)] for a Log Int.
	lo, hi float64
}

// constant reports whether the dimension has a single value.
func (d *dimension) constant() bool {
	switch d.Kind {
	case Float:
		return d.Min == d.Max
	default:
		return d.size == 1
	}
}

// compile validates space and derives each dimension's model space.
func compile(space Space) ([]dimension, error) {
	if len(space) == 0 {
		return nil, errors.New("search: the space has no dimensions")
	}
	if len(space) > MaxDimensions {
		return nil, fmt.Errorf("search: the space has %d dimensions, more than %d", len(space), MaxDimensions)
	}
	dims := make([]dimension, len(space))
	for i, d := range space {
		if d.Name == "" {
			return nil, fmt.Errorf("search: dimension %d has no name", i)
		}
		for _, e := range space[:i] {
			if e.Name == d.Name {
				return nil, fmt.Errorf("search: dimension %q appears twice", d.Name)
			}
		}
		c, err := compileDimension(d)
		if err != nil {
			return nil, fmt.Errorf("search: dimension %q: %w", d.Name, err)
		}
		dims[i] = c
	}
	return dims, nil
}

// compileDimension validates one dimension.
func compileDimension(d Dimension) (dimension, error) {
	c := dimension{Dimension: d}
	switch d.Kind {
	case Float, Int:
	case Categorical:
		if d.Choices < 1 {
			return c, fmt.Errorf("want Choices >= 1, got %d", d.Choices)
		}
		c.size = int64(d.Choices)
		return c, nil
	default:
		return c, fmt.Errorf("unknown kind %d", int(d.Kind))
	}

	if math.IsNaN(d.Min) || math.IsNaN(d.Max) || math.IsInf(d.Min, 0) || math.IsInf(d.Max, 0) {
		return c, fmt.Errorf("bounds must be finite numbers, got Min %v and Max %v", d.Min, d.Max)
	}
	if d.Min > d.Max {
		return c, fmt.Errorf("empty range: Min %v is greater than Max %v", d.Min, d.Max)
	}
	if d.Log && d.Min <= 0 {
		return c, fmt.Errorf("a Log scale needs Min > 0, got Min %v", d.Min)
	}

	if d.Kind == Float {
		c.lo, c.hi = d.Min, d.Max
		if d.Log {
			c.lo, c.hi = math.Log(d.Min), math.Log(d.Max)
		}
		return c, nil
	}

	if d.Min != math.Trunc(d.Min) || d.Max != math.Trunc(d.Max) {
		return c, fmt.Errorf("bounds of an Int must be integers, got Min %v and Max %v", d.Min, d.Max)
	}
	if math.Abs(d.Min) > maxExactInt || math.Abs(d.Max) > maxExactInt {
		return c, fmt.Errorf("bounds of an Int must be within ±2^53, got Min %v and Max %v", d.Min, d.Max)
	}
	if d.Step < 1 {
		return c, fmt.Errorf("want Step >= 1, got %d", d.Step)
	}
	if d.Log && d.Step != 1 {
		return c, fmt.Errorf("a Log scale needs Step 1, got Step %d", d.Step)
	}
	// Both bounds are exact integers within ±2^53, so the difference is
	// exact in an int64.
	c.size = (int64(d.Max)-int64(d.Min))/d.Step + 1
	c.last = d.Min + float64((c.size-1)*d.Step)
	half := float64(d.Step) / 2
	c.lo, c.hi = d.Min-half, c.last+half
	if d.Log {
		c.lo, c.hi = math.Log(d.Min-half), math.Log(c.last+half)
	}
	return c, nil
}

// fromUnit maps u in [0, 1) to the dimension: uniformly in its model space
// for a Float or Int dimension, to choice floor(u*Choices) for a
// Categorical one. Random and Sobol points, and TPE's startup points, are
// fromUnit of a uniform coordinate.
func (d *dimension) fromUnit(u float64) float64 {
	switch d.Kind {
	case Categorical:
		return float64(min(int64(u*float64(d.size)), d.size-1))
	case Int:
		if !d.Log {
			// Every grid value has an equal share of [0, 1).
			k := min(int64(u*float64(d.size)), d.size-1)
			return d.Min + float64(k*d.Step)
		}
	}
	// Float, or Log Int: uniform in the model space. The explicit
	// conversion keeps the compiler from fusing the multiply-add, whose
	// rounding differs between architectures.
	return d.fromModel(d.lo + float64(u*(d.hi-d.lo)))
}

// fromModel maps x of the model space to the dimension's nearest value.
func (d *dimension) fromModel(x float64) float64 {
	if d.Log {
		x = math.Exp(x)
	}
	if d.Kind == Float {
		return math.Min(math.Max(x, d.Min), d.Max)
	}
	return d.snap(x)
}

// snap returns the Int dimension's grid value nearest to x.
func (d *dimension) snap(x float64) float64 {
	k := math.Round((x - d.Min) / float64(d.Step))
	k = math.Min(math.Max(k, 0), float64(d.size-1))
	return d.Min + k*float64(d.Step)
}

// toModel maps a coordinate of a point to the dimension's model space: the
// value, or its log on a Log dimension, clamped into the bounds; an Int
// value is first moved to its nearest grid value.
func (d *dimension) toModel(v float64) float64 {
	if d.Kind == Int {
		v = d.snap(v)
	} else {
		v = math.Min(math.Max(v, d.Min), d.Max)
	}
	if d.Log {
		return math.Log(v)
	}
	return v
}

// checkPoint returns an error when p does not fit the space: a wrong
// length, NaN, or a categorical index that is not one.
func checkPoint(dims []dimension, p Point) error {
	if len(p) != len(dims) {
		return fmt.Errorf("has %d coordinates, want %d", len(p), len(dims))
	}
	for j, v := range p {
		d := &dims[j]
		if math.IsNaN(v) {
			return fmt.Errorf("dimension %q is NaN", d.Name)
		}
		if d.Kind == Categorical && (v != math.Trunc(v) || v < 0 || v >= float64(d.size)) {
			return fmt.Errorf("dimension %q: %v is not a choice index in [0, %d)", d.Name, v, d.size)
		}
	}
	return nil
}

// checkIndex returns an error for a negative index.
func checkIndex(index int64) error {
	if index < 0 {
		return fmt.Errorf("search: index %d is negative", index)
	}
	return nil
}
