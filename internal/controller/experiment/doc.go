// Package experiment holds the Experiment reconciler. It walks the search
// space in index order and creates one Trial per point and seed while fewer
// than spec.parallelism are active, stops when the failure budget is spent or
// the Experiment is suspended, and recomputes the Experiment's status (counts,
// best trial, conditions, phase) from its Trials on every pass. It never
// writes spec, and it never lists more than the Experiment's own Trials,
// through a cache index by owner.
package experiment
