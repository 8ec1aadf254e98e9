package search

import (
	"fmt"
	"math"
	"slices"
)

// maxBelow is the largest number of observations modelled as good: gamma(n)
// = min(ceil(n/10), maxBelow), Optuna's default_gamma.
const maxBelow = 25

// tpeOptions are the Options TPE uses, with the defaults applied.
type tpeOptions struct {
	startup     int
	candidates  int
	priorWeight float64
}

// tpeDefaults validates opts and applies the defaults.
func tpeDefaults(opts Options) (tpeOptions, error) {
	o := tpeOptions{startup: opts.StartupTrials, candidates: opts.EICandidates, priorWeight: opts.PriorWeight}
	switch {
	case o.startup < 0:
		return o, fmt.Errorf("search: StartupTrials is %d, want at least 0", o.startup)
	case o.candidates < 0:
		return o, fmt.Errorf("search: EICandidates is %d, want at least 0", o.candidates)
	case !(o.priorWeight >= 0) || math.IsInf(o.priorWeight, 0):
		return o, fmt.Errorf("search: PriorWeight is %v, want a finite number >= 0", o.priorWeight)
	}
	if o.startup == 0 {
		o.startup = DefaultStartupTrials
	}
	if o.candidates == 0 {
		o.candidates = DefaultEICandidates
	}
	if o.priorWeight == 0 {
		o.priorWeight = DefaultPriorWeight
	}
	return o, nil
}

// tpeSampler is the Tree-structured Parzen Estimator (Bergstra, Bardenet,
// Bengio and Kégl, "Algorithms for Hyper-Parameter Optimization", NIPS
// 2011), univariate, with Optuna's defaults:
//
//   - Until StartupTrials (10) trials are observed, the point is the Random
//     point of the same index.
//   - The record is the observed trials in index order, then the pending
//     points, each with the worst (largest) observed value: the constant
//     liar, so that parallel proposals spread out and the result depends
//     only on the record. Pending points count as newer than every
//     observed one.
//   - The gamma(n) = min(ceil(n/10), 25) best of the record's n points are
//     "below", the rest "above"; equal values rank by record position.
//   - Each dimension is proposed independently: from a Parzen estimator
//     l(x) of the below points and g(x) of the above points, both in
//     chronological order (see parzen), draw EICandidates (24) candidates
//     from l and keep the one with the largest log l(x) - log g(x), the
//     lowest candidate on a tie. Log dimensions are modelled in log space;
//     Int dimensions as cells of width Step around each value
//     (discretised); Categorical ones with categoricalProbs.
//
// Coordinates outside a dimension's bounds (a space narrowed after trials
// ran) are clamped into them, and Int ones moved to the nearest grid value.
// The candidates of dimension j come from the stream (seed, purposeTPE,
// index, j).
type tpeSampler struct {
	dims []dimension
	seed uint64
	opts tpeOptions
}

// tpeWork is the scratch space of one proposal.
type tpeWork struct {
	l, g         parzen
	below, above []float64
	pl, pg       []float64
	// values and scores cache the scores of an Int or Categorical
	// dimension's distinct candidates.
	values, scores []float64
}

// Propose returns the TPE point of index given the record.
func (s *tpeSampler) Propose(index int64, observed []Observation, pending []Point) (Point, error) {
	if err := checkIndex(index); err != nil {
		return nil, err
	}
	worst := math.Inf(-1)
	for i, o := range observed {
		if err := checkPoint(s.dims, o.Point); err != nil {
			return nil, fmt.Errorf("search: observation %d: %w", i, err)
		}
		if math.IsNaN(o.Value) {
			return nil, fmt.Errorf("search: observation %d: value is NaN", i)
		}
		worst = math.Max(worst, o.Value)
	}
	for i, p := range pending {
		if err := checkPoint(s.dims, p); err != nil {
			return nil, fmt.Errorf("search: pending point %d: %w", i, err)
		}
	}
	if len(observed) < s.opts.startup {
		return randomPoint(s.dims, s.seed, index), nil
	}

	// The record: observed then pending, pending valued at the worst.
	n := len(observed) + len(pending)
	point := func(i int) Point {
		if i < len(observed) {
			return observed[i].Point
		}
		return pending[i-len(observed)]
	}
	values := make([]float64, n)
	for i := range values {
		values[i] = worst
		if i < len(observed) {
			values[i] = observed[i].Value
		}
	}
	below, above := split(values)

	var w tpeWork
	p := make(Point, len(s.dims))
	for j := range s.dims {
		d := &s.dims[j]
		if d.constant() {
			p[j] = d.fromUnit(0)
			continue
		}
		w.below = w.below[:0]
		for _, i := range below {
			w.below = append(w.below, d.modelCoordinate(point(i)[j]))
		}
		w.above = w.above[:0]
		for _, i := range above {
			w.above = append(w.above, d.modelCoordinate(point(i)[j]))
		}
		r := newStream(s.seed, purposeTPE, index, uint64(j))
		if d.Kind == Categorical {
			p[j] = s.proposeCategorical(d, &w, r)
		} else {
			p[j] = s.proposeNumeric(d, &w, r)
		}
	}
	return p, nil
}

// modelCoordinate is toModel for Float and Int dimensions and the choice
// index for Categorical ones.
func (d *dimension) modelCoordinate(v float64) float64 {
	if d.Kind == Categorical {
		return v
	}
	return d.toModel(v)
}

// split returns the positions of the gamma(n) best of the n values
// ("below") and of the others ("above"), each in ascending position. Values
// rank by value, then by position.
func split(values []float64) (below, above []int) {
	n := len(values)
	nBelow := min((n+9)/10, maxBelow)
	var sorter sorter
	order := sorter.order(values)
	below = slices.Clone(order[:nBelow])
	slices.Sort(below)
	isBelow := make([]bool, n)
	for _, i := range below {
		isBelow[i] = true
	}
	above = order[:0]
	for i := range n {
		if !isBelow[i] {
			above = append(above, i)
		}
	}
	return below, above
}

// proposeNumeric returns the best of the candidates drawn for a Float or
// Int dimension.
func (s *tpeSampler) proposeNumeric(d *dimension, w *tpeWork, r *stream) float64 {
	w.l.build(w.below, d.lo, d.hi, s.opts.priorWeight)
	w.g.build(w.above, d.lo, d.hi, s.opts.priorWeight)
	w.values, w.scores = w.values[:0], w.scores[:0]
	best, bestValue := math.Inf(-1), math.NaN()
	for range s.opts.candidates {
		x := w.l.sample(r)
		v := d.fromModel(x)
		var score float64
		if d.Kind == Float {
			score = math.Log(w.l.pdf(x)) - math.Log(w.g.pdf(x))
		} else {
			score = w.cachedScore(v, func() float64 {
				a, b := d.cell(v)
				return math.Log(w.l.prob(a, b)) - math.Log(w.g.prob(a, b))
			})
		}
		if score > best || math.IsNaN(bestValue) {
			best, bestValue = score, v
		}
	}
	return bestValue
}

// cell returns the model-space cell of an Int dimension's value v: the
// reals nearer to v than to the other values, extended by Step/2 at the
// ends, on a log scale for a Log dimension.
func (d *dimension) cell(v float64) (a, b float64) {
	half := float64(d.Step) / 2
	if d.Log {
		return math.Log(v - half), math.Log(v + half)
	}
	return v - half, v + half
}

// proposeCategorical returns the best of the candidates drawn for a
// Categorical dimension.
func (s *tpeSampler) proposeCategorical(d *dimension, w *tpeWork, r *stream) float64 {
	c := int(d.size)
	w.pl = categoricalProbs(w.pl, w.below, c, s.opts.priorWeight)
	w.pg = categoricalProbs(w.pg, w.above, c, s.opts.priorWeight)
	best, bestValue := math.Inf(-1), math.NaN()
	for range s.opts.candidates {
		v := float64(drawChoice(w.pl, r.float64()))
		score := math.Log(w.pl[int(v)]) - math.Log(w.pg[int(v)])
		if score > best || math.IsNaN(bestValue) {
			best, bestValue = score, v
		}
	}
	return bestValue
}

// drawChoice returns the choice of probabilities probs at uniform u: the
// first whose cumulative probability exceeds u, the last one if rounding
// leaves none.
func drawChoice(probs []float64, u float64) int {
	acc := 0.0
	for j, q := range probs {
		acc += q
		if u < acc {
			return j
		}
	}
	return len(probs) - 1
}

// cachedScore returns the score of value v, computing it with score the
// first time v is seen in this dimension.
func (w *tpeWork) cachedScore(v float64, score func() float64) float64 {
	if i := slices.Index(w.values, v); i >= 0 {
		return w.scores[i]
	}
	sc := score()
	w.values = append(w.values, v)
	w.scores = append(w.scores, sc)
	return sc
}
