package searchspace

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/search"
)

// DefaultMaxConcurrent is spec.search.maxConcurrent's default: how many TPE
// trials run without knowing each other's outcome.
const DefaultMaxConcurrent = 4

// suggester is the part of a Space whose trials are a sampler's
// suggestions (Random, Sobol, TPE) rather than grid points.
type suggester struct {
	sampler search.Sampler
	// window is how many trials before it a suggestion leaves pending:
	// suggestion i sees the outcomes of trials 0..i-window. Zero when
	// suggestions do not depend on outcomes.
	window int64
	// codecs turn a parameter's value into a sampler's coordinate and back.
	codecs []codec
}

// codec is one parameter of a suggested space.
type codec struct {
	name string
	kind search.Kind
	// list holds a values parameter's values; index its positions.
	list  []string
	index map[string]int
	// grid is a stepped float range, drawn by index.
	grid *floatDimension
}

// Record is what a suggestion may know of the trials before it.
type Record interface {
	// Parameters returns the parameters of trial j, false when the record
	// does not have them.
	Parameters(j int64) ([]crucible.ParameterAssignment, bool)
	// Objective returns trial j's objective when it succeeded with one;
	// false when it failed, has not ended, or repeated an earlier trial.
	Objective(j int64) (float64, bool)
}

// newSuggested builds the space of a Random, Sobol or TPE search.
func newSuggested(spec *crucible.ExperimentSpec, s *Space) (*Space, error) {
	alg := spec.Search.Algorithm
	if spec.Search.MaxTrials == nil {
		return nil, fmt.Errorf("search.maxTrials is required by %s", alg)
	}
	budget := int64(*spec.Search.MaxTrials)
	if budget < 1 || budget > crucible.MaxTrials {
		return nil, fmt.Errorf("search.maxTrials is %d; it must be between 1 and %d", budget, crucible.MaxTrials)
	}
	if s.replicas != 1 {
		return nil, fmt.Errorf("seeds.replicas is %d; %s runs every suggestion once, so it must be 1", s.replicas, alg)
	}
	seed := spec.Seeds.Base
	if spec.Search.Seed != nil {
		seed = *spec.Search.Seed
	}
	if seed < 0 || seed > math.MaxUint32 {
		return nil, fmt.Errorf("search.seed is %d; it must be between 0 and %d", seed, int64(math.MaxUint32))
	}

	sg := &suggester{codecs: make([]codec, len(spec.Parameters))}
	space := make(search.Space, len(spec.Parameters))
	for i := range spec.Parameters {
		p := &spec.Parameters[i]
		c, d, err := newCodec(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", describe(i, p), err)
		}
		sg.codecs[i], space[i] = c, d
	}
	opts := search.Options{Scramble: spec.Search.Scramble == nil || *spec.Search.Scramble}
	sampler, err := search.New(search.Algorithm(alg), space, uint64(seed), opts)
	if err != nil {
		return nil, err
	}
	sg.sampler = sampler
	if alg == crucible.SearchTPE {
		sg.window = DefaultMaxConcurrent
		if m := spec.Search.MaxConcurrent; m != nil {
			if *m < 1 {
				return nil, fmt.Errorf("search.maxConcurrent is %d; it must be at least 1", *m)
			}
			sg.window = int64(*m)
		}
	}
	s.suggest = sg
	s.points, s.trials = budget, budget
	return s, nil
}

// newCodec checks p for a suggested space and returns its codec and the
// sampler's dimension.
func newCodec(p *crucible.ParameterSpec) (codec, search.Dimension, error) {
	c := codec{name: p.Name}
	d := search.Dimension{Name: p.Name}
	switch {
	case p.Float != nil && p.Float.Steps == 0:
		// Continuous: any value from min to max.
		_, lo, err := parseDecimal(p.Float.Min)
		if err != nil {
			return c, d, fmt.Errorf("float.min: %w", err)
		}
		_, hi, err := parseDecimal(p.Float.Max)
		if err != nil {
			return c, d, fmt.Errorf("float.max: %w", err)
		}
		if !(lo < hi) {
			return c, d, fmt.Errorf("float.min %s must be less than float.max %s", p.Float.Min, p.Float.Max)
		}
		switch p.Float.Scale {
		case "", crucible.ScaleLinear:
		case crucible.ScaleLog:
			if lo <= 0 {
				return c, d, fmt.Errorf("float.min %s must be positive on a Log scale", p.Float.Min)
			}
			d.Log = true
		default:
			return c, d, fmt.Errorf("float.scale %q is neither %q nor %q", p.Float.Scale, crucible.ScaleLinear, crucible.ScaleLog)
		}
		c.kind, d.Kind, d.Min, d.Max = search.Float, search.Float, lo, hi
		return c, d, nil
	case p.Float != nil:
		// Stepped: its values, drawn by their index, which is even in the
		// range's own scale.
		dim, err := newDimension(p)
		if err != nil {
			return c, d, err
		}
		c.grid = dim.(*floatDimension)
		if err := c.grid.checkDistinct(); err != nil {
			return c, d, err
		}
		c.kind, d.Kind, d.Min, d.Max, d.Step = search.Int, search.Int, 0, float64(c.grid.size-1), 1
		return c, d, nil
	case p.Int != nil:
		if _, err := newDimension(p); err != nil {
			return c, d, err
		}
		step := max(p.Int.Step, 1)
		// The largest value min + k*step <= max.
		top := p.Int.Min + (p.Int.Max-p.Int.Min)/step*step
		c.kind, d.Kind, d.Min, d.Max, d.Step = search.Int, search.Int, float64(p.Int.Min), float64(top), step
		return c, d, nil
	default:
		dim, err := newDimension(p)
		if err != nil {
			return c, d, err
		}
		c.list = dim.(listDimension)
		c.index = make(map[string]int, len(c.list))
		for k, v := range c.list {
			c.index[v] = k
		}
		c.kind, d.Kind, d.Choices = search.Categorical, search.Categorical, len(c.list)
		return c, d, nil
	}
}

// encode is the sampler's coordinate of value.
func (c *codec) encode(value string) (float64, error) {
	switch {
	case c.list != nil:
		k, ok := c.index[value]
		if !ok {
			return 0, fmt.Errorf("%q is not one of its values", value)
		}
		return float64(k), nil
	case c.grid != nil:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, err
		}
		for _, k := range c.grid.nearest(v) {
			if c.grid.value(k) == value {
				return float64(k), nil
			}
		}
		return 0, fmt.Errorf("%s is not one of its steps", value)
	case c.kind == search.Int:
		v, err := strconv.ParseInt(value, 10, 64)
		return float64(v), err
	default:
		v, err := strconv.ParseFloat(value, 64)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = errors.New("not a finite number")
		}
		return v, err
	}
}

// decode is the value of the sampler's coordinate x.
func (c *codec) decode(x float64) string {
	switch {
	case c.list != nil:
		return c.list[int(x)]
	case c.grid != nil:
		return c.grid.value(int64(x))
	case c.kind == search.Int:
		return strconv.FormatInt(int64(x), 10)
	default:
		return format(round(x))
	}
}

// nearest returns the indices of the two steps around v.
func (d *floatDimension) nearest(v float64) []int64 {
	var pos float64
	if d.log {
		pos = (math.Log(v) - d.logMin) / (d.logMax - d.logMin) * float64(d.size-1)
	} else {
		pos = (v - d.min) / (d.max - d.min) * float64(d.size-1)
	}
	k := int64(math.Floor(pos))
	out := make([]int64, 0, 2)
	for _, j := range []int64{k, k + 1} {
		if j >= 0 && j < d.size {
			out = append(out, j)
		}
	}
	return out
}

// Suggested reports whether the space's trials are a sampler's suggestions
// (Random, Sobol, TPE) rather than the points of a grid.
func (s *Space) Suggested() bool { return s.suggest != nil }

// Window is how many trials before it a suggestion leaves pending: trial i
// is proposed from the outcomes of trials 0..i-Window(), and needs them
// ended. Zero when trials do not depend on outcomes (Grid, Random, Sobol):
// then Trial(i) gives trial i.
func (s *Space) Window() int64 {
	if s.suggest == nil {
		return 0
	}
	return s.suggest.window
}

// Suggest returns trial i of a suggested space from what rec says of the
// trials before it: with a Window w, the objectives of the trials 0..i-w
// that succeeded with one (a maximised objective negated), in index order,
// and the parameters of trials i-w+1..i-1 as pending points. It is a pure
// function of the space, i and those facts: a trial whose parameters the
// record lacks or cannot read is left out. Every suggestion runs with
// seeds.base.
func (s *Space) Suggest(i int64, rec Record, goal crucible.Goal) (Trial, error) {
	if s.suggest == nil {
		return Trial{}, errors.New("the space is a grid: use Trial")
	}
	if i < 0 || i >= s.trials {
		return Trial{}, fmt.Errorf("trial index %d is out of range: the search has %d trials, 0 to %d", i, s.trials, s.trials-1)
	}
	var observed []search.Observation
	var pending []search.Point
	if w := s.suggest.window; w > 0 && rec != nil {
		sign := 1.0
		if goal == crucible.GoalMaximize {
			sign = -1
		}
		known := max(i-w+1, 0)
		// One array backs every observed point: a search of 10,000 trials
		// reads 10,000 points per suggestion.
		dims := len(s.suggest.codecs)
		buf := make([]float64, 0, int(known)*dims)
		observed = make([]search.Observation, 0, known)
		for j := range known {
			v, ok := rec.Objective(j)
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if p, ok := s.pointInto(buf[len(buf):len(buf):cap(buf)], rec, j); ok {
				buf = buf[:len(buf)+dims]
				observed = append(observed, search.Observation{Point: p, Value: sign * v})
			}
		}
		for j := max(i-w+1, 0); j < i; j++ {
			if p, ok := s.point(rec, j); ok {
				pending = append(pending, p)
			}
		}
	}
	p, err := s.suggest.sampler.Propose(i, observed, pending)
	if err != nil {
		return Trial{}, fmt.Errorf("suggesting trial %d: %w", i, err)
	}
	t := Trial{Index: i, Point: i, Seed: s.base}
	if len(s.suggest.codecs) == 0 {
		return t, nil
	}
	t.Parameters = make([]crucible.ParameterAssignment, len(s.suggest.codecs))
	for k := range s.suggest.codecs {
		c := &s.suggest.codecs[k]
		t.Parameters[k] = crucible.ParameterAssignment{Name: c.name, Value: c.decode(p[k])}
	}
	return t, nil
}

// point reads trial j's parameters from rec as a sampler's point.
func (s *Space) point(rec Record, j int64) (search.Point, bool) {
	return s.pointInto(make(search.Point, 0, len(s.suggest.codecs)), rec, j)
}

// pointInto is point, appending to dst, which has room for it.
func (s *Space) pointInto(dst []float64, rec Record, j int64) (search.Point, bool) {
	params, ok := rec.Parameters(j)
	if !ok || len(params) != len(s.suggest.codecs) {
		return nil, false
	}
	p := dst[:len(params)]
	for k := range params {
		c := &s.suggest.codecs[k]
		if params[k].Name != c.name {
			return nil, false
		}
		x, err := c.encode(params[k].Value)
		if err != nil {
			return nil, false
		}
		p[k] = x
	}
	return p, true
}
