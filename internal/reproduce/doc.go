// Package reproduce is the pure logic of reproducing a trial: the
// reproduction's manifest, made from a Trial and its Experiment or from a
// provenance record alone (FromTrial, FromRecord); the check that a
// reproduction pins the original's inputs (CheckPins); and the verdict on
// how it came out (Judge). The Experiment reconciler and the kubectl plugin
// call it; it does no I/O.
package reproduce
