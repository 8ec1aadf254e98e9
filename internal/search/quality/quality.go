// Package quality measures how well the samplers of package search
// minimise standard test functions: Branin, Hartmann-6 and a noisy
// learning-rate × depth quadratic.
//
// Every run is deterministic: sampler seed s, noise keyed by (s, evaluation
// index), and evaluations in sequence, each observed before the next
// proposal. Table runs every sampler on every problem for seeds 0..n-1 and
// summarises the best value after a number of evaluations by its median
// and quartiles; Markdown prints it as in docs/search.md (go run
// ./internal/search/quality/cmd/searchquality).
package quality

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/crucible-dev/crucible/internal/search"
)

// Problem is a test function to minimise.
type Problem struct {
	// Name of the function.
	Name string
	// Space is its domain.
	Space search.Space
	// Optimum is its known minimum.
	Optimum float64
	// Value returns the noiseless value at a point.
	Value func(search.Point) float64
	// Noise is the standard deviation of the Gaussian noise added to each
	// evaluation, 0 for none.
	Noise float64
}

// Problems returns the benchmark's test functions.
func Problems() []Problem {
	return []Problem{
		{
			Name: "Branin",
			Space: search.Space{
				{Name: "x1", Kind: search.Float, Min: -5, Max: 10},
				{Name: "x2", Kind: search.Float, Min: 0, Max: 15},
			},
			Optimum: BraninOptimum,
			Value:   func(p search.Point) float64 { return Branin(p[0], p[1]) },
		},
		{
			Name:    "Hartmann-6",
			Space:   unitCube(6),
			Optimum: Hartmann6Optimum,
			Value:   func(p search.Point) float64 { return Hartmann6([6]float64(p)) },
		},
		{
			Name: "log-lr × depth",
			Space: search.Space{
				{Name: "lr", Kind: search.Float, Min: 1e-5, Max: 1, Log: true},
				{Name: "depth", Kind: search.Int, Min: 1, Max: 12, Step: 1},
			},
			Optimum: 0,
			Value:   func(p search.Point) float64 { return LRDepth(p[0], p[1]) },
			Noise:   0.01,
		},
	}
}

// unitCube returns [0, 1]^n.
func unitCube(n int) search.Space {
	s := make(search.Space, n)
	for j := range s {
		s[j] = search.Dimension{Name: fmt.Sprintf("x%d", j+1), Kind: search.Float, Min: 0, Max: 1}
	}
	return s
}

// BraninOptimum is the minimum of Branin, 5/(4π), reached at (-π, 12.275),
// (π, 2.275) and (9.42478, 2.475).
const BraninOptimum = 5 / (4 * math.Pi)

// Branin is the Branin-Hoo function on [-5, 10] × [0, 15] (Dixon and Szegö
// 1978).
func Branin(x1, x2 float64) float64 {
	const (
		b = 5.1 / (4 * math.Pi * math.Pi)
		c = 5 / math.Pi
		r = 6
		s = 10
		t = 1 / (8 * math.Pi)
	)
	u := x2 - b*x1*x1 + c*x1 - r
	return u*u + s*(1-t)*math.Cos(x1) + s
}

// Hartmann6Optimum is the minimum of Hartmann6, reached at (0.20169,
// 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
const Hartmann6Optimum = -3.32237

// Hartmann6 is the 6-dimensional Hartmann function on [0, 1]^6.
func Hartmann6(x [6]float64) float64 {
	alpha := [4]float64{1.0, 1.2, 3.0, 3.2}
	a := [4][6]float64{
		{10, 3, 17, 3.5, 1.7, 8},
		{0.05, 10, 17, 0.1, 8, 14},
		{3, 3.5, 1.7, 10, 17, 8},
		{17, 8, 0.05, 10, 0.1, 14},
	}
	p := [4][6]float64{
		{1312, 1696, 5569, 124, 8283, 5886},
		{2329, 4135, 8307, 3736, 1004, 9991},
		{2348, 1451, 3522, 2883, 3047, 6650},
		{4047, 8828, 8732, 5743, 1091, 381},
	}
	sum := 0.0
	for i := range alpha {
		inner := 0.0
		for j := range x {
			d := x[j] - p[i][j]*1e-4
			inner += a[i][j] * d * d
		}
		sum += alpha[i] * math.Exp(-inner)
	}
	return -sum
}

// LRDepth is the learning-rate × depth quadratic, noiseless: minimum 0 at
// lr = 1e-3, depth = 6.
func LRDepth(lr, depth float64) float64 {
	l := math.Log10(lr) + 3
	return l*l + 0.05*(depth-6)*(depth-6)
}

// noise returns evaluation i's noise of run seed: a standard normal drawn
// by inverse CDF from a PCG stream keyed by a hash of (seed, i), times sd.
func noise(seed uint64, i int, sd float64) float64 {
	if sd == 0 {
		return 0
	}
	pcg := rand.NewPCG(splitmix64(seed), splitmix64(uint64(i)^0x6e6f697365))
	u := (float64(pcg.Uint64()>>11) + 0.5) * 0x1p-53
	return sd * distuv.UnitNormal.Quantile(u)
}

// splitmix64 is SplitMix64's output function, a bijective mix of 64 bits.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Seeds is how many seeds the benchmark runs, 0 to Seeds-1.
const Seeds = 30

// Checkpoints are the numbers of evaluations after which the benchmark
// reports the best value.
var Checkpoints = []int{25, 50, 100}

// Sampler is an algorithm with its options.
type Sampler struct {
	// Name is shown in the table.
	Name string
	// Algorithm and Options are passed to search.New.
	Algorithm search.Algorithm
	Options   search.Options
}

// Samplers returns the samplers compared, with the operator's options.
func Samplers() []Sampler {
	return []Sampler{
		{Name: "Random", Algorithm: search.Random},
		{Name: "Sobol (scrambled)", Algorithm: search.Sobol, Options: search.Options{Scramble: true}},
		{Name: "TPE", Algorithm: search.TPE},
	}
}

// Run minimises p with s and seed over evals sequential evaluations. It
// returns, after each evaluation, the noiseless value of the point with the
// best observed (noisy) value so far: the point a user would pick, judged by
// its true value.
func Run(s Sampler, p Problem, seed uint64, evals int) ([]float64, error) {
	sampler, err := search.New(s.Algorithm, p.Space, seed, s.Options)
	if err != nil {
		return nil, err
	}
	best := make([]float64, evals)
	bestObserved, bestValue := math.Inf(1), math.Inf(1)
	observed := make([]search.Observation, 0, evals)
	for i := range evals {
		point, err := sampler.Propose(int64(i), observed, nil)
		if err != nil {
			return nil, fmt.Errorf("%s on %s, seed %d, evaluation %d: %w", s.Name, p.Name, seed, i, err)
		}
		value := p.Value(point)
		y := value + noise(seed, i, p.Noise)
		observed = append(observed, search.Observation{Point: point, Value: y})
		if y < bestObserved {
			bestObserved, bestValue = y, value
		}
		best[i] = bestValue
	}
	return best, nil
}

// Summary is the distribution over seeds of the best value after a number
// of evaluations.
type Summary struct {
	// Evals is the number of evaluations.
	Evals int
	// Q1, Median and Q3 are the quartiles of the best value.
	Q1, Median, Q3 float64
}

// Row is one sampler on one problem.
type Row struct {
	// Problem and Sampler are the names.
	Problem, Sampler string
	// Optimum is the problem's known minimum.
	Optimum float64
	// At holds one Summary per checkpoint.
	At []Summary
}

// Table runs every sampler on every problem with seeds 0..seeds-1 and
// summarises the best values after each of checkpoints evaluations.
func Table(problems []Problem, samplers []Sampler, seeds int, checkpoints []int) ([]Row, error) {
	evals := slices.Max(checkpoints)
	var rows []Row
	for _, p := range problems {
		for _, s := range samplers {
			runs := make([][]float64, seeds)
			for seed := range seeds {
				best, err := Run(s, p, uint64(seed), evals)
				if err != nil {
					return nil, err
				}
				runs[seed] = best
			}
			row := Row{Problem: p.Name, Sampler: s.Name, Optimum: p.Optimum}
			for _, n := range checkpoints {
				values := make([]float64, seeds)
				for seed, best := range runs {
					values[seed] = best[n-1]
				}
				slices.Sort(values)
				row.At = append(row.At, Summary{
					Evals:  n,
					Q1:     quantile(values, 0.25),
					Median: quantile(values, 0.5),
					Q3:     quantile(values, 0.75),
				})
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// quantile returns the q-quantile of sorted values, interpolated linearly
// between order statistics at h = (n-1)q (numpy's default, R's type 7).
func quantile(sorted []float64, q float64) float64 {
	h := float64(len(sorted)-1) * q
	lo := int(math.Floor(h))
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// Markdown writes rows as a markdown table: per problem and sampler, the
// median best value with its quartiles after each checkpoint, and the
// median regret (best value - optimum) after the last.
func Markdown(w io.Writer, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("| Function | Optimum | Sampler |")
	for _, s := range rows[0].At {
		fmt.Fprintf(&b, " best after %d: median [Q1, Q3] |", s.Evals)
	}
	fmt.Fprintf(&b, " median regret after %d |\n", rows[0].At[len(rows[0].At)-1].Evals)
	b.WriteString("|---|---:|---|")
	for range rows[0].At {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.5g | %s |", r.Problem, r.Optimum, r.Sampler)
		for _, s := range r.At {
			fmt.Fprintf(&b, " %.4g [%.4g, %.4g] |", s.Median, s.Q1, s.Q3)
		}
		fmt.Fprintf(&b, " %.3g |\n", r.At[len(r.At)-1].Median-r.Optimum)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
