// Package provenance owns a trial's provenance record: what it says, its
// bytes, its signature, and reading it back. It is pure: the Trial
// reconciler gathers the inputs and stores the result; the CLI reads a
// file.
//
// # Format
//
// A record is one line of a .intoto.jsonl file: a DSSE envelope
// (payloadType "application/vnd.in-toto+json") of an in-toto Statement v1
// whose predicate is SLSA Provenance v1 with buildType
// "https://crucible.dev/provenance/trial/v1". The envelope is signed with
// an ed25519 key when the operator has one, and otherwise carries
// "signatures":[]. Its payload is the Statement's canonical bytes
// (Marshal): protojson re-encoded compact with object keys sorted and no
// HTML escaping. Digest of those bytes is the Trial's
// status.provenance.digest, the same signed or not.
//
// Every number is written as a decimal string, because a JSON number in a
// protobuf Struct is a float. The Statement holds:
//
//   - subject: "artifacts" (uri, sha256 of the manifest digest, annotations
//     objects and bytes) when the trial's artifacts have a manifest digest;
//     always "metrics.json": digest sha256 over the metrics as one compact
//     JSON object, keys sorted, values the decimal strings as recorded (`{}`
//     when none; in Python json.dumps(m, sort_keys=True,
//     separators=(",", ":"), ensure_ascii=False)), and annotations.metrics
//     the values themselves, so a reader gets them and checks them.
//   - externalParameters: specDigest; spec, the exact bytes the digest is
//     computed over (specdigest.Canonical), so that specdigest.Of(spec) ==
//     specDigest; trial {parameters {name: value}, seed, index}; command,
//     args and env (a list of {name, value}) when set.
//   - internalParameters: experiment {namespace, name, uid}, trial {name}.
//   - resolvedDependencies: "image" (the reference as written, sha256);
//     "dataset" with a dataset (uri pvc://<claim>/<subPath> or the image
//     reference, sha256, annotations name, version, mountPath and
//     verification {policy, status: the DatasetVerified condition's reason,
//     message, time}); "source" with a source (uri git+<repository>,
//     gitCommit).
//   - runDetails: builder {id, version {crucible}}; metadata {invocationId:
//     the Trial's UID, startedOn, finishedOn, to the second}; byproducts
//     "job" {name, uid}, "pod" {uid, node, gpu, instanceType, exitCode},
//     "outcome" {phase, reason, message}, empty values left out, and
//     "artifacts" (uri) when the artifacts have no manifest digest.
//
// # Reading
//
// Read and Verify treat the line as untrusted: at most MaxEnvelopeSize
// bytes, envelope keys matched exactly, canonical base64, and a Record only
// when everything holds together: the spec against specDigest, the
// metrics against their digest, the image, dataset and source against the
// spec, the parameters against the spec's. Verify also checks the
// signature with DSSE's own verifier and refuses an unsigned record.
//
// The bytes of a Statement are frozen by testdata/statement.golden.json: a
// change of the layout is a new buildType.
package provenance
