// Package searchspace enumerates an Experiment's search space, lazily, by
// index.
//
// A Space holds one dimension per parameter and the seeds, never the list of
// trials: New costs O(parameters + values listed) and Trial(i) computes the
// i-th trial in O(parameters), so a 100,000-trial sweep costs nothing up
// front and the reconciler can create trials from any index on.
//
// # Order
//
// Trials are numbered 0 to Len()-1. Seed replicas are the outer loop and the
// grid the inner one: the first Points() trials run every grid point once
// with seed seeds.base, the next Points() run them again with seeds.base+1,
// and so on:
//
//	point   = index % Points()
//	replica = index / Points()
//	seed    = seeds.base + replica
//
// Within the grid, points are numbered in mixed radix with the last parameter
// varying fastest, like nested for loops in spec order. For parameters
// a=[x, y, z] and b=[1, 2], points 0 to 5 are (x,1) (x,2) (y,1) (y,2) (z,1)
// (z,2).
//
// # Values
//
// A values parameter takes its values verbatim, in list order. An int
// parameter takes min, min+step, ... up to max, as decimal integers. A float
// parameter takes steps values from min to max, both included, in equal
// differences (Linear) or equal ratios (Log). Float values are rounded to 12
// significant digits and printed in their shortest form, so a trial sees
// "0.3", never "0.30000000000000004". Linear values are computed exactly from
// the decimal bounds before rounding, so they do not depend on the order of
// floating-point operations. Log values are computed with math.Pow, whose
// error is some ten thousand times smaller than the last digit kept; only a
// value within that error of a rounding boundary could print differently
// under another implementation of math.Pow.
//
// Values are part of every Trial's name (see package naming): changing how
// they are computed or printed renames every Trial of running Experiments.
package searchspace
