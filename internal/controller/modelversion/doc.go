// Package modelversion holds the ModelVersion reconciler. It copies a
// promoted trial's artifacts to the model's own prefix in the store
// (artifacts.ModelVersionPrefix), recomputes the manifest digest of the
// copy and compares it with the one the trial recorded, and deletes the
// copy when the version is deleted, or gives up on it after the
// operator's --artifact-deletion-timeout (finalizer.go), as the Experiment
// reconciler does with an Experiment's artifacts.
//
// A promotion takes two passes and three writes: the first adds the
// finalizer, empties the model's prefix (of what an earlier version of the
// same name may have left) and writes phase Pending; the second, which the
// first's status write brings, copies, verifies and writes phase Ready or
// Failed. A version without a store is Ready at once and records the
// trial's URI. The status functions are pure (modelversion_status.go); what
// the reconciler keeps in memory (the last phase it wrote of each version,
// writes.go) is forgotten when the version is gone.
package modelversion
