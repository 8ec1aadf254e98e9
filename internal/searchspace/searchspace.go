package searchspace

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Limits the CRD enforces with markers on the API types, which the API does
// not export as constants. Keep them in step with api/v1alpha1.
const (
	// maxSeedBase is the +kubebuilder:validation:Maximum of seeds.base.
	maxSeedBase = 4294967195
	// maxReplicas is the +kubebuilder:validation:Maximum of seeds.replicas.
	maxReplicas = 100
	// maxNameLength is the MaxLength of a parameter's name.
	maxNameLength = 63
	// maxValueLength is the MaxLength of a listed value, and of the value
	// of a ParameterAssignment.
	maxValueLength = 256
)

// namePattern is the Pattern of a parameter's name.
var namePattern = regexp.MustCompile(`^[a-z]([a-z0-9_]*[a-z0-9])?$`)

// Space is an Experiment's search space with its seeds. It holds one
// dimension per parameter, never the list of trials. A Space is immutable
// and safe for concurrent use.
type Space struct {
	// names and dims hold one entry per parameter, in spec order; sizes
	// caches dims[j].len().
	names []string
	dims  []dimension
	sizes []int64

	points   int64
	trials   int64
	replicas int32
	base     int64

	// suggest is set for Random, Sobol and TPE: trials are suggestions.
	suggest *suggester
}

// Trial is one trial of a Space: one grid point with one seed.
//
// Trials are numbered with the seed replicas as the outer loop: Point is
// Index % Points(), Replica is Index / Points() and Seed is seeds.base +
// Replica. Within the grid the last parameter varies fastest.
type Trial struct {
	// Index is the trial's number, 0 <= Index < Len().
	Index int64
	// Point is the index of the trial's grid point, 0 <= Point < Points().
	Point int64
	// Replica is which of the point's seed replicas the trial is.
	Replica int32
	// Seed is the seed the trial runs with: seeds.base + Replica.
	Seed int64
	// Parameters is the value of every parameter, in spec order; nil when
	// the space has no parameters.
	Parameters []crucible.ParameterAssignment
}

// dimension is the values one parameter takes, computed on demand.
type dimension interface {
	// len is how many values the dimension has, or crucible.MaxTrials+1
	// when it has more than crucible.MaxTrials.
	len() int64
	// value returns the k-th value, 0 <= k < len().
	value(k int64) string
}

// New builds the space of spec.
//
// It re-checks what the CRD validates, because objects can predate
// validation: every parameter has a valid, unique name and exactly one of
// values, int or float; listed values are unique and at most 256 bytes; int
// ranges have min <= max and step >= 1; float ranges have steps >= 2,
// decimal bounds with min < max, and min > 0 on a Log scale; the seeds are in
// range; and the space has at most crucible.MaxTrials trials. It refuses a
// float bound a float64 cannot hold, too large or non-zero but too close to
// zero (such as 1e-1000001, which strconv reads as 0). It also refuses a float
// range whose neighbouring values are less than 1.01e-11 of their magnitude
// apart: they might round alike at 12 significant digits, and their trials
// would be indistinguishable. Errors name the parameter at fault.
//
// New applies the CRD's defaults to zero fields: an int step of 0 is 1, an
// empty scale is Linear, 0 replicas is 1, an empty algorithm is Grid.
//
// New costs O(parameters + values listed): no trial, and no float value
// past the first two, is computed.
func New(spec *crucible.ExperimentSpec) (*Space, error) {
	if spec == nil {
		return nil, errors.New("the Experiment has no spec")
	}
	switch a := spec.Search.Algorithm; a {
	case "", crucible.SearchGrid, crucible.SearchRandom, crucible.SearchSobol, crucible.SearchTPE:
	default:
		return nil, fmt.Errorf("search.algorithm %q is not supported: it is one of %s, %s, %s or %s",
			a, crucible.SearchGrid, crucible.SearchRandom, crucible.SearchSobol, crucible.SearchTPE)
	}
	replicas := spec.Seeds.Replicas
	if replicas == 0 {
		replicas = 1
	}
	if replicas < 1 || replicas > maxReplicas {
		return nil, fmt.Errorf("seeds.replicas is %d; it must be between 1 and %d", replicas, maxReplicas)
	}
	if b := spec.Seeds.Base; b < 0 || b > maxSeedBase {
		return nil, fmt.Errorf("seeds.base is %d; it must be between 0 and %d", b, int64(maxSeedBase))
	}
	n := len(spec.Parameters)
	if n > crucible.MaxParameters {
		return nil, fmt.Errorf("the search space has %d parameters; the most is %d", n, crucible.MaxParameters)
	}

	s := &Space{
		names:    make([]string, n),
		dims:     make([]dimension, n),
		sizes:    make([]int64, n),
		points:   1,
		replicas: replicas,
		base:     spec.Seeds.Base,
	}
	seen := make(map[string]int, n)
	for i := range spec.Parameters {
		p := &spec.Parameters[i]
		if err := checkName(p.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", describe(i, p), err)
		}
		if j, dup := seen[p.Name]; dup {
			return nil, fmt.Errorf("parameter %q is listed twice, at parameters[%d] and parameters[%d]", p.Name, j, i)
		}
		seen[p.Name] = i
	}
	if a := spec.Search.Algorithm; a != "" && a != crucible.SearchGrid {
		return newSuggested(spec, s)
	}
	for i := range spec.Parameters {
		p := &spec.Parameters[i]
		if p.Float != nil && p.Float.Steps == 0 {
			return nil, fmt.Errorf("%s: a Grid needs float.steps; a continuous range needs search.algorithm %s, %s or %s",
				describe(i, p), crucible.SearchRandom, crucible.SearchSobol, crucible.SearchTPE)
		}
		d, err := newDimension(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", describe(i, p), err)
		}
		s.names[i], s.dims[i], s.sizes[i] = p.Name, d, d.len()
		s.points = mulCapped(s.points, s.sizes[i])
	}
	s.trials = mulCapped(s.points, int64(replicas))
	if s.trials > crucible.MaxTrials {
		return nil, fmt.Errorf("the search space has more than %d trials (grid points times seeds.replicas); split the sweep or coarsen the grid", crucible.MaxTrials)
	}
	// After the size, so that a range both too fine and too large is
	// reported as too large.
	for i, d := range s.dims {
		if f, ok := d.(*floatDimension); ok {
			if err := f.checkDistinct(); err != nil {
				return nil, fmt.Errorf("%s: %w", describe(i, &spec.Parameters[i]), err)
			}
		}
	}
	return s, nil
}

// Points is the number of grid points: the product of the dimensions'
// sizes, 1 for a space with no parameters.
func (s *Space) Points() int64 { return s.points }

// Len is the number of trials: Points() times seeds.replicas.
func (s *Space) Len() int64 { return s.trials }

// Trial returns the i-th trial, 0 <= i < Len(), in O(parameters). The
// replicas are the outer loop, so trial i runs grid point i % Points() with
// seed seeds.base + i / Points(); within the grid, the last parameter varies
// fastest.
//
// On a suggested space (Random, Sobol, TPE) it is Suggest without a record:
// right for Random and Sobol, whose suggestions ignore outcomes, and for
// TPE's trial 0, which has no trial before it; an error for TPE's others.
func (s *Space) Trial(i int64) (Trial, error) {
	if s.suggest != nil {
		if s.suggest.window > 0 && i > 0 {
			return Trial{}, errors.New("TPE's trials depend on the outcomes of earlier trials: use Suggest")
		}
		return s.Suggest(i, nil, "")
	}
	if i < 0 || i >= s.trials {
		return Trial{}, fmt.Errorf("trial index %d is out of range: the search space has %d trials, 0 to %d", i, s.trials, s.trials-1)
	}
	t := Trial{
		Index:   i,
		Point:   i % s.points,
		Replica: int32(i / s.points),
	}
	t.Seed = s.base + int64(t.Replica)
	if len(s.dims) == 0 {
		return t, nil
	}
	t.Parameters = make([]crucible.ParameterAssignment, len(s.dims))
	rest := t.Point
	for j := len(s.dims) - 1; j >= 0; j-- {
		size := s.sizes[j]
		t.Parameters[j] = crucible.ParameterAssignment{Name: s.names[j], Value: s.dims[j].value(rest % size)}
		rest /= size
	}
	return t, nil
}

// describe names parameter i in an error: by name when it has one.
func describe(i int, p *crucible.ParameterSpec) string {
	if p.Name == "" {
		return fmt.Sprintf("parameters[%d]", i)
	}
	return fmt.Sprintf("parameter %q", p.Name)
}

// checkName checks a parameter's name against the CRD's pattern.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("name must not be empty")
	case len(name) > maxNameLength:
		return fmt.Errorf("name is %d characters long; the most is %d", len(name), maxNameLength)
	case !namePattern.MatchString(name):
		return fmt.Errorf("name %q must be lowercase letters, digits and '_', start with a letter and not end with '_'", name)
	}
	return nil
}

// newDimension checks p's one kind of values and builds its dimension.
func newDimension(p *crucible.ParameterSpec) (dimension, error) {
	if p.Values != nil && len(p.Values) == 0 {
		return nil, errors.New("values is empty; it must list at least one value")
	}
	var kinds []string
	if len(p.Values) > 0 {
		kinds = append(kinds, "values")
	}
	if p.Int != nil {
		kinds = append(kinds, "int")
	}
	if p.Float != nil {
		kinds = append(kinds, "float")
	}
	switch len(kinds) {
	case 0:
		return nil, errors.New("exactly one of values, int or float must be set; none is")
	case 1:
	default:
		return nil, fmt.Errorf("exactly one of values, int or float must be set; %s are", strings.Join(kinds, " and "))
	}
	switch {
	case p.Int != nil:
		return newIntDimension(p.Int)
	case p.Float != nil:
		return newFloatDimension(p.Float)
	default:
		return newListDimension(p.Values)
	}
}

// mulCapped returns a*b, or crucible.MaxTrials+1 when that is larger. a and
// b are between 1 and crucible.MaxTrials+1, so a*b cannot overflow.
func mulCapped(a, b int64) int64 {
	return min(a*b, crucible.MaxTrials+1)
}

// listDimension is a values parameter: its values verbatim, in order.
type listDimension []string

func newListDimension(values []string) (listDimension, error) {
	seen := make(map[string]int, len(values))
	for k, v := range values {
		if len(v) > maxValueLength {
			return nil, fmt.Errorf("values[%d] is %d bytes long; the most is %d", k, len(v), maxValueLength)
		}
		if j, dup := seen[v]; dup {
			return nil, fmt.Errorf("values[%d] and values[%d] are both %q, so their trials would be indistinguishable", j, k, v)
		}
		seen[v] = k
	}
	return listDimension(slices.Clone(values)), nil
}

func (d listDimension) len() int64 { return int64(len(d)) }

func (d listDimension) value(k int64) string { return d[k] }

// intDimension is an int parameter: min, min+step, ... up to max.
type intDimension struct {
	min  int64
	step uint64
	size int64
}

func newIntDimension(r *crucible.IntRange) (*intDimension, error) {
	step := r.Step
	if step == 0 {
		step = 1
	}
	if step < 0 {
		return nil, fmt.Errorf("int.step is %d; it must be at least 1", step)
	}
	if r.Min > r.Max {
		return nil, fmt.Errorf("int.min %d is greater than int.max %d", r.Min, r.Max)
	}
	// max-min, computed in uint64 so that it cannot overflow.
	steps := (uint64(r.Max) - uint64(r.Min)) / uint64(step)
	size := int64(crucible.MaxTrials + 1)
	if steps < crucible.MaxTrials {
		size = int64(steps) + 1
	}
	return &intDimension{min: r.Min, step: uint64(step), size: size}, nil
}

func (d *intDimension) len() int64 { return d.size }

func (d *intDimension) value(k int64) string {
	// k*step <= max-min, so the sum wraps back into the int64 range.
	return strconv.FormatInt(int64(uint64(d.min)+uint64(k)*d.step), 10)
}
