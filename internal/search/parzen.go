package search

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// invSqrt2 is 1/√2, and invSqrt2Pi 1/√(2π).
const (
	invSqrt2   = 1 / math.Sqrt2
	invSqrt2Pi = 0.3989422804014327
)

// parzen is a univariate Parzen estimator over a numeric dimension's model
// space [lo, hi]: a mixture of Gaussians truncated to [lo, hi], one kernel
// per observation and the prior kernel.
//
// Following Bergstra et al. (2011) with Optuna's defaults (prior_weight 1,
// consider_magic_clip, consider_endpoints false):
//
//   - kernel k is centred on observation k; its σ is the larger distance to
//     its neighbours among the observations, the prior's centre, lo and hi,
//     except that the leftmost and rightmost kernels use the distance to
//     their only inner neighbour;
//   - σ is clipped to [(hi-lo)/min(100, n+2), hi-lo] for n observations;
//   - the prior kernel is centred on (lo+hi)/2 with σ = hi-lo;
//   - kernel weights are weight(k, n) in chronological order, then
//     priorWeight, normalised.
//
// Kernels with the same centre and σ are merged into one with the sum of
// their weights, which changes no density: an Int dimension's 10,000
// observations on a 12-value grid make 35 kernels, not 10,000. Merged
// kernels are kept sorted by centre, then by observation order.
//
// A parzen's slices are reused by the next build, so one workspace serves
// every dimension of a proposal. Products that are added are converted to
// float64 explicitly (float64(a*b) + c), which keeps the compiler from
// fusing them into one multiply-add whose rounding differs between
// architectures.
type parzen struct {
	lo, hi float64
	// mu and sigma are the merged kernels' centres and widths.
	mu, sigma []float64
	// cum holds the cumulative normalised weights, for sampling.
	cum []float64
	// mass is w_k / Z_k, where Z_k is the kernel's Gaussian mass on
	// [lo, hi]: a kernel's probability of a cell is mass_k times its
	// Gaussian mass on the cell.
	mass []float64
	// dens is mass_k / σ_k / √(2π), the factor of the kernel's density.
	dens []float64
	// inv is 1/σ_k.
	inv []float64
	// Scratch space: the centres before merging, prior last, and their
	// widths and sorter.
	centres, widths []float64
	sorter          sorter
}

// build sets p to the estimator of observations obs (model-space values in
// [lo, hi], lo < hi, in chronological order) with the given prior weight.
func (p *parzen) build(obs []float64, lo, hi, priorWeight float64) {
	n := len(obs)
	width := hi - lo
	p.lo, p.hi = lo, hi
	p.centres = append(append(p.centres[:0], obs...), 0.5*(lo+hi))
	order := p.sorter.order(p.centres)

	// Widths, in sorted order; magic clip: n observations and the prior
	// make n+1 kernels.
	minSigma := width / math.Min(100, float64(n+2))
	p.widths = resize(p.widths, n+1)
	for i, k := range order {
		if k == n {
			p.widths[i] = width
			continue
		}
		mu := p.centres[k]
		left, right := lo, hi
		if i > 0 {
			left = p.centres[order[i-1]]
		}
		if i < n {
			right = p.centres[order[i+1]]
		}
		var s float64
		switch i {
		case 0:
			s = right - mu
		case n:
			s = mu - left
		default:
			s = math.Max(mu-left, right-mu)
		}
		p.widths[i] = math.Min(math.Max(s, minSigma), width)
	}

	// Merge equal kernels, summing their weights into cum.
	p.mu, p.sigma, p.cum = p.mu[:0], p.sigma[:0], p.cum[:0]
	total := 0.0
	for i, k := range order {
		mu, sigma := p.centres[k], p.widths[i]
		w := priorWeight
		if k < n {
			w = weight(k, n)
		}
		total += w
		if last := len(p.mu) - 1; last >= 0 && p.mu[last] == mu && p.sigma[last] == sigma {
			p.cum[last] += w
			continue
		}
		p.mu = append(p.mu, mu)
		p.sigma = append(p.sigma, sigma)
		p.cum = append(p.cum, w)
	}

	m := len(p.mu)
	p.mass = resize(p.mass, m)
	p.dens = resize(p.dens, m)
	p.inv = resize(p.inv, m)
	acc := 0.0
	for k, w := range p.cum {
		w /= total
		mu, inv := p.mu[k], 1/p.sigma[k]
		z := gaussMass((lo-mu)*inv, (hi-mu)*inv)
		p.mass[k] = w / z
		p.dens[k] = p.mass[k] * inv * invSqrt2Pi
		p.inv[k] = inv
		acc += w
		p.cum[k] = acc
	}
}

// sample draws a value of the model space from the mixture: a kernel by
// weight, then a value from its truncated Gaussian by inverse CDF. It takes
// two numbers from r.
func (p *parzen) sample(r *stream) float64 {
	u := r.float64() * p.cum[len(p.cum)-1]
	k := min(sort.Search(len(p.cum), func(i int) bool { return p.cum[i] > u }), len(p.cum)-1)
	return truncNormal(p.mu[k], p.sigma[k], p.lo, p.hi, r.open01())
}

// pdf returns the mixture's density at x of the model space.
func (p *parzen) pdf(x float64) float64 {
	sum := 0.0
	for k, mu := range p.mu {
		z := (x - mu) * p.inv[k]
		sum += float64(p.dens[k] * math.Exp(-0.5*z*z))
	}
	return sum
}

// prob returns the mixture's probability of the cell [a, b] of the model
// space: the probability of a grid value of an Int dimension.
func (p *parzen) prob(a, b float64) float64 {
	sum := 0.0
	for k, mu := range p.mu {
		inv := p.inv[k]
		sum += float64(p.mass[k] * gaussMass((a-mu)*inv, (b-mu)*inv))
	}
	return sum
}

// appendWeights appends the weights of n observations in chronological
// order (see weight).
func appendWeights(dst []float64, n int) []float64 {
	for k := range n {
		dst = append(dst, weight(k, n))
	}
	return dst
}

// weight returns Optuna's default weight of observation k of n, in
// chronological order: 1 for each when n < 25; otherwise a ramp from 1/n to
// 1 over the n-25 oldest (numpy's linspace(1/n, 1, n-25)) and 1 for the 25
// newest, so that old observations count less.
func weight(k, n int) float64 {
	const flat = 25
	ramp := n - flat
	if k >= ramp {
		return 1
	}
	start := 1 / float64(n)
	if ramp == 1 {
		return start
	}
	return start + float64(float64(k)*((1-start)/float64(ramp-1)))
}

// categoricalProbs sets dst to the probabilities of the choices 0..c-1
// under the categorical Parzen estimator of observations obs (choice
// indexes, in chronological order), and returns it.
//
// As in Optuna, each observation is a kernel that puts priorWeight/(n+1) on
// every choice and 1 more on its own, normalised; the prior kernel is
// uniform; the kernels are mixed with the weights of parzen. The mixture
// is the weighted counts of the choices smoothed by the prior.
func categoricalProbs(dst []float64, obs []float64, c int, priorWeight float64) []float64 {
	dst = resize(dst, c)
	n := len(obs)
	if n == 0 {
		for j := range dst {
			dst[j] = 1 / float64(c)
		}
		return dst
	}
	sumW := 0.0
	for k := range n {
		sumW += weight(k, n)
	}
	total := sumW + priorWeight
	fill := priorWeight / float64(n+1)
	row := fill*float64(c) + 1
	base := (float64(sumW*fill)/row + priorWeight/float64(c)) / total
	for j := range dst {
		dst[j] = base
	}
	for k, choice := range obs {
		dst[int(choice)] += weight(k, n) / row / total
	}
	return dst
}

// gaussMass returns Φ(b) - Φ(a) for a <= b, where Φ is the standard normal
// CDF, computed from the tail nearer to a and b so that it keeps its
// precision far from 0.
func gaussMass(a, b float64) float64 {
	switch {
	case a <= -9 && b >= 9:
		// Both tails are under 2^-60: the result rounds to 1.
		return 1
	case a >= 40 || b <= -40:
		// math.Erfc is 0 from 28 = 40/√2 on.
		return 0
	case a >= 0:
		return 0.5 * (math.Erfc(a*invSqrt2) - math.Erfc(b*invSqrt2))
	case b <= 0:
		return 0.5 * (math.Erfc(-b*invSqrt2) - math.Erfc(-a*invSqrt2))
	default:
		return 1 - float64(0.5*(math.Erfc(-a*invSqrt2)+math.Erfc(b*invSqrt2)))
	}
}

// truncNormal returns the u-quantile, u in (0, 1), of the Gaussian (mu,
// sigma) truncated to [lo, hi].
func truncNormal(mu, sigma, lo, hi, u float64) float64 {
	a, b := (lo-mu)/sigma, (hi-mu)/sigma
	var z float64
	if a > 0 {
		// Both bounds in the right tail: use the mirror image, where Φ
		// keeps its precision.
		z = -truncStdNormal(-b, -a, 1-u)
	} else {
		z = truncStdNormal(a, b, u)
	}
	return math.Min(math.Max(mu+float64(sigma*z), lo), hi)
}

// truncStdNormal returns the u-quantile of the standard normal truncated to
// [a, b], a <= 0.
func truncStdNormal(a, b, u float64) float64 {
	pa := 0.5 * math.Erfc(-a*invSqrt2)
	pb := 0.5 * math.Erfc(-b*invSqrt2)
	q := math.Min(math.Max(pa+float64(u*(pb-pa)), 0), 1)
	return math.Min(math.Max(distuv.UnitNormal.Quantile(q), a), b)
}

// resize returns s with length n, reusing its array when it is large
// enough. The contents are not cleared.
func resize(s []float64, n int) []float64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float64, n)
}
