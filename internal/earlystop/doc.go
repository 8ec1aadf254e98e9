// Package earlystop decides whether a running trial should be stopped early,
// from the intermediate values of the objective that it and the other trials
// of its Experiment reported at numbered steps.
//
// Two rules are provided, each a pure function of its inputs:
//
//   - MedianStop, the median stopping rule of Google Vizier as Katib, Optuna
//     and Ray Tune implement it: stop a trial whose best value by its latest
//     step s is strictly worse than the median of the running averages, up to
//     s, of the completed trials.
//   - ASHA, the asynchronous successive halving of Ray Tune's
//     AsyncHyperBandScheduler with one bracket: rungs at GracePeriod ×
//     ReductionFactor^k, and a trial reaching a rung continues only if its
//     value there is not below the cutoff of the best 1/ReductionFactor of the
//     values other trials recorded at that rung.
//
// # Inputs
//
// A curve is a trial's samples, each a step and the objective's value at that
// step, in ascending order of step, as the trial reported them. The value of a
// curve "at step s", for a curve that did not report exactly s, is the value
// of its last sample at or before s; a curve has no value at s before its
// first sample. Samples whose value is NaN or infinite are skipped, as
// numpy's nan-aware functions skip them.
//
// The trial being judged is passed apart from the others; the others must not
// include it. Callers pass the others in ascending order of trial index, but
// a decision depends on them only as a set: running averages are summed per
// trial in step order, and medians and percentiles sort the values they read,
// so reordering the others changes neither the decision nor its message. No
// rule reads a map, a clock or a random source, so a restarted operator, or a
// replay of the recorded curves, decides the same.
//
// A rule judges a snapshot: the curves as they are when it is asked. The
// decision can change when the others' curves grow (see ASHA.Decide for how
// this differs from Ray Tune, which remembers what it saw when). A caller that
// keeps only a downsampled history of each curve must judge the curves it
// keeps, so that what it decides is what a replay of its records decides.
package earlystop
