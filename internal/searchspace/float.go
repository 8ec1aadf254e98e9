package searchspace

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

const (
	// precision is how many significant digits a float parameter's values
	// are rounded to.
	precision = 12

	// maxDecimalLength is the MaxLength of a float range's bounds.
	maxDecimalLength = 32

	// minGap is the smallest distance between neighbouring values, relative
	// to their magnitude, that New accepts; it keeps them distinct once
	// rounded without computing them. Two values that round to the same
	// precision-digit decimal d are at most one unit of its last digit
	// apart, which is at most 1e-11 of d. The extra 1% covers float64's
	// error in computing the values and their distance, under 1e-15 of them
	// for bounds that are normal float64s (see parseDecimal).
	minGap = 1.01e-11

	// smallestNormal is the smallest positive normal float64,
	// 2.2250738585072014e-308. Below it a float64 keeps ever fewer digits.
	smallestNormal = 0x1p-1022
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
// or "1_000"), and numbers a float64 cannot hold: those too large, and those
// other than zero below smallestNormal, where minGap would not hold.
// ParseFloat reads such a number as a subnormal float64 or, like 1e-400, as 0.
func parseDecimal(s string) (*big.Rat, float64, error) {
	if len(s) > maxDecimalLength {
		return nil, 0, fmt.Errorf("%q is %d characters long; the most is %d", s, len(s), maxDecimalLength)
	}
	if !decimalPattern.MatchString(s) {
		return nil, 0, fmt.Errorf("%q is not a decimal number such as 0.001 or 1e-5", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// The pattern admits only what ParseFloat reads, so this is ErrRange.
		return nil, 0, fmt.Errorf("%q is out of the range of a float64", s)
	}
	if math.Abs(f) < smallestNormal {
		mantissa, _, _ := strings.Cut(strings.ToLower(s), "e")
		if strings.ContainsAny(mantissa, "123456789") {
			return nil, 0, fmt.Errorf("%q is too close to zero for a float64", s)
		}
		// Zero, whatever its exponent ("0e99999999999999999999").
		return new(big.Rat), 0, nil
	}
	// f is a normal float64, so the exponent of s is at most a few hundred
	// and SetString, which computes ten to its power, succeeds at once.
	exact, _ := new(big.Rat).SetString(s)
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
			if v := math.Exp(d.logMin + t*(d.logMax-d.logMin)); !math.IsInf(v, 0) {
				return v
			}
			// math.Exp on amd64 overflows from about 709.44 on, short of
			// log(MaxFloat64) = 709.78: count down from max instead.
			return d.max * math.Exp((t-1)*(d.logMax-d.logMin))
		}
		return d.min * math.Pow(d.ratio, t)
	default:
		v := new(big.Rat).SetInt64(k)
		v.Mul(v, d.exactStep).Add(v, d.exactMin)
		f, _ := v.Float64()
		return f
	}
}

// checkDistinct returns an error unless neighbouring values are at least
// minGap apart, relative to their magnitude, which keeps them distinct once
// rounded. It computes at most two values, whatever the steps: walking them
// all, with big.Rat arithmetic, took 0.44 s and 152 MiB for 100,000 steps
// from 0 to 1e308. The price is that a range whose values are under minGap
// apart is refused even when rounding happens to keep them apart.
func (d *floatDimension) checkDistinct() error {
	gap := d.relativeGap()
	if gap >= minGap {
		return nil
	}
	if r := d.rounded(0); r == d.rounded(1) {
		return fmt.Errorf("float values 0 and 1 both round to %s at %d significant digits, so their trials would be indistinguishable; use fewer steps or a wider range",
			format(r), precision)
	}
	return fmt.Errorf("neighbouring float values are %.2g of their magnitude apart, less than the %g that keeps them distinct at %d significant digits; use fewer steps or a wider range",
		gap, minGap, precision)
}

// relativeGap returns the smallest distance between neighbouring values,
// relative to the larger magnitude of the two.
func (d *floatDimension) relativeGap() float64 {
	gaps := float64(d.size - 1)
	if d.log {
		// Neighbours v < w have w/v = (max/min)^(1/gaps). The logarithm of
		// the ratio, unless it overflows, is exact to the last digit even
		// for a ratio near 1, where log(max)-log(min) is not.
		logRatio := d.logMax - d.logMin
		if !math.IsInf(d.ratio, 0) {
			logRatio = math.Log(d.ratio)
		}
		return -math.Expm1(-logRatio / gaps)
	}
	// Neighbours are (max-min)/gaps apart, computed so that it cannot
	// overflow, and the largest magnitude is at an end.
	return (d.max/gaps - d.min/gaps) / max(-d.min, d.max)
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
