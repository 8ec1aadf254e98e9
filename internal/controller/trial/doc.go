// Package trial holds the Trial reconciler. It runs every Trial as exactly
// one Job, named after the Trial and built from the owning Experiment's
// pinned fields, and records on the Trial's status what the Job and its Pod
// did: phase, times, the metrics the trainer wrote to its termination
// message, and a clear reason when the run failed.
package trial
