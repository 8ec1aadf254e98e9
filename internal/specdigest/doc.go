// Package specdigest computes an Experiment's fingerprint: a digest over
// every pinned input of its spec.
//
// The digest is canonical: two manifests that mean the same thing have the
// same digest, whatever their key order, map order, spelling of resource
// quantities ("1Gi", "1024Mi" or "1073741824"), spelling of float bounds
// ("0.001" or "1e-3"), or whether they spell out the CRD's defaults. It is also stable: it is
// stored in Experiment status and copied into every Trial, so an operator of
// any later version must compute the same digest for the same stored spec.
//
// # Encoding
//
// The digest is sha256 over the line "crucible.dev/spec-digest/v1\n"
// followed by a canonical JSON encoding of the pinned fields, listed by
// explicit JSON names in this package rather than taken from the API types'
// tags. The encoding is canonical JSON in this sense: object keys are sorted;
// null, {} and [] object members are dropped, since Kubernetes treats them as
// unset, so a field added to the API later and left unset changes no digest,
// and neither does a change of omitempty or omitzero on a Kubernetes type;
// resource quantities, wherever they appear, are written by value in decimal
// SI; float bounds are written by value; and the CRD's defaults are filled
// in. Lists keep their order: parameter order decides the grid
// order and env order decides $(VAR) expansion.
//
// Fields that may change while an Experiment runs (parallelism,
// maxFailedTrials, suspend), metadata and status are not part of the digest.
//
// The encoding is frozen. A change that alters any digest needs a new
// version line, and since a stored digest does not say which version made
// it, the operator would have to keep computing v1 for existing
// Experiments; TestGolden guards against such a change by accident.
package specdigest
