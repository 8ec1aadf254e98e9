// Package retention selects which of an ended Experiment's trials a
// retention policy keeps: the best K succeeded trials by objective, every
// failed trial or none, and every trial that has not ended. The same
// selection decides which Trial objects and which trials' artifacts are
// removed, each with its own policy, so it works on plain values rather
// than API objects.
//
// Next plans how an Experiment's policy is applied: what to delete, in
// which order (artifacts, then the count of Trials, then the Trials), and
// what each step adds to the counts; it is a pure function of the policy,
// the policy already applied and the trials. The Experiment reconciler
// carries the steps out and records each before the next.
//
// Ranking agrees with metrics.Better and with the Experiment reconciler's
// choice of its best trial: a better objective wins, a missing or
// unparseable objective ranks after every parseable one, and a tie goes to
// the lower index. The best trial the reconciler reports is therefore kept
// by any policy that keeps at least one succeeded trial.
package retention
