package searchspace

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

const (
	// precision is how many significant digits a float parameter's values
	// are rounded to.
	precision = 12

	// maxDecimalLength is the MaxLength of a float range's bounds.
	maxDecimalLength = 32

	// minSpacing is the smallest distance between neighbouring values,
	// relative to the larger bound, that New trusts without computing the
	// values: rounding to precision digits moves a value by at most 5e-12
	// of its magnitude, so neighbours this far apart always stay apart.
	minSpacing = 1e-9

	// minTrusted is the smallest magnitude at which float64 arithmetic is
	// precise enough for that argument; below it values may be subnormal.
	minTrusted = 1e-300
)

// decimalPattern is the Pattern of a float range's bounds.
var decimalPattern = regexp.MustCompile(`^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$`)

// floatDimension is a float parameter: size values from min to max, both
// included, in equal differences (Linear) or equal ratios (Log).
type floatDimension struct {
	size int64
	// log is true on a Log scale.
	log bool
	// min and max are the bounds, as the nearest float64.
	min, max float64

	// Linear: the exact bounds' min, and the exact difference between
	// neighbouring values, so that values do not depend on the order of
	// floating-point operations.
	exactMin, exactStep *big.Rat

	// Log: max/min, +Inf when it overflows; and the bounds' logarithms.
	ratio  float64
	logMin float64
	logMax float64
}

func newFloatDimension(r *crucible.FloatRange) (*floatDimension, error) {
	if r.Steps < 2 {
		return nil, fmt.Errorf("float.steps is %d; it must be at least 2", r.Steps)
	}
	exactMin, lo, err := parseDecimal(r.Min)
	if err != nil {
		return nil, fmt.Errorf("float.min: %w", err)
	}
	exactMax, hi, err := parseDecimal(r.Max)
	if err != nil {
		return nil, fmt.Errorf("float.max: %w", err)
	}
	if !(lo < hi) {
		return nil, fmt.Errorf("float.min %s must be less than float.max %s", r.Min, r.Max)
	}
	d := &floatDimension{size: int64(r.Steps), min: lo, max: hi}
	switch r.Scale {
	case "", crucible.ScaleLinear:
		d.exactMin = exactMin
		d.exactStep = new(big.Rat).Sub(exactMax, exactMin)
		d.exactStep.Quo(d.exactStep, new(big.Rat).SetInt64(d.size-1))
	case crucible.ScaleLog:
		if lo <= 0 {
			return nil, fmt.Errorf("float.min %s must be positive on a Log scale", r.Min)
		}
		d.log = true
		d.ratio = hi / lo
		d.logMin, d.logMax = math.Log(lo), math.Log(hi)
	default:
		return nil, fmt.Errorf("float.scale %q is neither %q nor %q", r.Scale, crucible.ScaleLinear, crucible.ScaleLog)
	}
	return d, nil
}

// parseDecimal parses a bound both exactly and as the nearest float64. It
// refuses what the CRD's pattern refuses (Go would also read "Inf", "0x1p3"
// or "1_000"), and numbers a float64 cannot hold.
func parseDecimal(s string) (*big.Rat, float64, error) {
	if len(s) > maxDecimalLength {
		return nil, 0, fmt.Errorf("%q is %d characters long; the most is %d", s, len(s), maxDecimalLength)
	}
	if !decimalPattern.MatchString(s) {
		return nil, 0, fmt.Errorf("%q is not a decimal number such as 0.001 or 1e-5", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("%q is out of the range of a float64", s)
	}
	exact, ok := new(big.Rat).SetString(s)
	if !ok {
		// big.Rat refuses huge exponents; a zero mantissa is still zero.
		if f != 0 {
			return nil, 0, fmt.Errorf("%q is out of the range of a float64", s)
		}
		exact = new(big.Rat)
	}
	if f == 0 && exact.Sign() != 0 {
		return nil, 0, fmt.Errorf("%q is too close to zero for a float64", s)
	}
	return exact, f, nil
}

func (d *floatDimension) len() int64 { return d.size }

func (d *floatDimension) value(k int64) string { return format(d.rounded(k)) }

// rounded returns the k-th value rounded to precision significant digits.
func (d *floatDimension) rounded(k int64) float64 {
	return round(d.raw(k))
}

// raw returns the k-th value, before rounding: min and max exactly at the
// ends.
func (d *floatDimension) raw(k int64) float64 {
	switch {
	case k == 0:
		return d.min
	case k == d.size-1:
		return d.max
	case d.log:
		t := float64(k) / float64(d.size-1)
		if math.IsInf(d.ratio, 0) {
			return math.Exp(d.logMin + t*(d.logMax-d.logMin))
		}
		return d.min * math.Pow(d.ratio, t)
	default:
		v := new(big.Rat).SetInt64(k)
		v.Mul(v, d.exactStep).Add(v, d.exactMin)
		f, _ := v.Float64()
		return f
	}
}

// checkDistinct returns an error when two of the dimension's values are equal
// once rounded. Rounding moves a value by at most 5e-12 of its magnitude, so
// values far enough apart relative to the bounds stay distinct and need not
// be computed; only a range finer than minSpacing is checked value by value.
func (d *floatDimension) checkDistinct() error {
	if d.widelySpaced() {
		return nil
	}
	seen := make(map[float64]int64, d.size)
	for k := range d.size {
		r := d.rounded(k)
		if j, dup := seen[r]; dup {
			return fmt.Errorf("float values %d and %d both round to %s at %d significant digits, so their trials would be indistinguishable; use fewer steps or a wider range",
				j, k, format(r), precision)
		}
		seen[r] = k
	}
	return nil
}

// widelySpaced reports whether neighbouring values are at least minSpacing
// apart relative to the bounds, in a range where float64 is precise.
func (d *floatDimension) widelySpaced() bool {
	gaps := float64(d.size - 1)
	if d.log {
		// Neighbours differ by the ratio (max/min)^(1/gaps).
		return d.min >= minTrusted && math.Expm1((d.logMax-d.logMin)/gaps) >= minSpacing
	}
	// Neighbours differ by (max-min)/gaps, computed so that it cannot
	// overflow. scale is a power of ten above both bounds' magnitudes.
	scale := math.Pow(10, math.Floor(math.Log10(max(math.Abs(d.min), math.Abs(d.max))))+1)
	return scale >= minTrusted && d.max/gaps-d.min/gaps >= minSpacing*scale
}

// round rounds v to precision significant digits.
func round(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', precision, 64), 64)
	if err != nil {
		// Only a value that rounds past the largest float64; keep it.
		return v
	}
	return r
}

// format prints a rounded value in its shortest form: plain decimals from
// 1e-6 to 1e21, exponent notation outside, and 0 without a sign.
func format(r float64) string {
	if r == 0 {
		return "0"
	}
	if a := math.Abs(r); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strconv.FormatFloat(r, 'g', -1, 64)
}
