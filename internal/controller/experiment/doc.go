// Package experiment holds the Experiment reconciler. It walks the search
// space in index order and creates one Trial per point and seed while fewer
// than spec.parallelism are active, stops when the failure budget is spent or
// the Experiment is suspended, and recomputes the Experiment's status (counts,
// best trial, conditions, phase) from its Trials on every pass. It never
// writes spec, and it never lists more than the Experiment's own Trials,
// through a cache index by owner.
//
// Before the first Trial it has the API server dry-run the first trial's
// Job (template.go), so that a template the server refuses fails the
// Experiment instead of every trial. Once the Experiment ended it carries
// out the retention policy as internal/retention plans it (retention.go);
// a deleted Experiment's artifacts are deleted before its finalizer is
// released, or given up on after a bounded time (finalizer.go). What it
// keeps in memory (expectations, search spaces, status write times) is
// keyed by the Experiment's name and forgotten when it is gone.
package experiment
