// Package search proposes hyperparameter points: Random, Sobol and TPE
// samplers that are pure functions of their inputs.
//
// A Sampler is built once per Experiment by New from an algorithm, a Space,
// a seed and Options. Propose(index, observed, pending) returns the point of
// suggestion number index. The result depends only on
//
//	(algorithm, seed, space, options, index, observed, pending)
//
// never on time, global state, map iteration order or goroutine scheduling,
// so a controller that restarts, or two replicas that race, propose the same
// point for the same record. Random draws come from a counter-based stream
// keyed by the seed and the index (see stream.go): the point for index i is
// the same however many points came before it.
//
// # Algorithms
//
//   - Random: every coordinate uniform over its dimension (log-uniform on a
//     Log dimension), independent of observed and pending.
//   - Sobol: the Sobol' low-discrepancy sequence with the Joe–Kuo direction
//     numbers, point index of the sequence, randomised by a digital shift
//     when Options.Scramble is set. Independent of observed and pending.
//   - TPE: the Tree-structured Parzen Estimator of Bergstra et al. (2011)
//     with Optuna's defaults; it uses observed and pending.
//
// # Observations
//
// Objectives are minimised: the caller negates a maximised objective. Failed
// trials are not passed in observed; the caller decides what to do with
// them. Passing a failed trial's point in pending makes TPE treat it like the
// worst observed value, which steers it away from the failed region.
//
// # Reproducibility
//
// The next point is a pure function of algorithm, seed, space, and the
// outcomes of the ended trials in the order of their index. Every random
// number is derived from (seed, index) by SplitMix64 and PCG, whose outputs
// Go specifies; floating-point results use only IEEE arithmetic, Go's math
// package and gonum, so they are identical across runs and, in practice,
// across platforms (math.Exp and math.Log may differ in the last bit between
// architectures with assembly implementations, which could only change a TPE
// choice between two candidates tied to the last bit).
//
// See docs/search.md for the defaults and the measured quality.
package search
