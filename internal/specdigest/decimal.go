package specdigest

import (
	"regexp"
	"strconv"
	"strings"
)

// decimalPattern is the CRD's Pattern for the bounds of a float range.
var decimalPattern = regexp.MustCompile(`^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$`)

// maxExponent bounds the exponents canonicalDecimal rewrites, far beyond any
// float64, so that its arithmetic cannot overflow.
const maxExponent = 1 << 60

// canonicalDecimal spells a decimal number exactly, in one way: its
// significant digits without leading or trailing zeros, then "e" and the
// exponent when it is not zero, so "0.0010", "1e-3" and "+.001E0" are all
// "1e-3", "1500" is "15e2", and "-0.0" is "0". A string that is not a
// decimal number by the CRD's pattern, or whose exponent is absurd, is
// returned as it is.
func canonicalDecimal(s string) string {
	if !decimalPattern.MatchString(s) {
		return s
	}
	negative := s[0] == '-'
	rest := strings.TrimLeft(s, "+-")
	mantissa, exponent, hasExponent := strings.Cut(strings.ToLower(rest), "e")
	whole, fraction, _ := strings.Cut(mantissa, ".")
	digits := strings.TrimLeft(whole+fraction, "0")
	if digits == "" {
		return "0"
	}
	var exp int64
	if hasExponent {
		var err error
		exp, err = strconv.ParseInt(exponent, 10, 64)
		if err != nil || exp > maxExponent || exp < -maxExponent {
			return s
		}
	}
	exp -= int64(len(fraction))
	significant := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(significant))

	var b strings.Builder
	if negative {
		b.WriteByte('-')
	}
	b.WriteString(significant)
	if exp != 0 {
		b.WriteByte('e')
		b.WriteString(strconv.FormatInt(exp, 10))
	}
	return b.String()
}
