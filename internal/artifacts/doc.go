// Package artifacts says where a trial's artifacts live in an S3-compatible
// store, summarises them in a manifest, and lists and deletes them.
//
// # Layout
//
// A trial writes its artifacts under
//
//	<prefix>/<namespace>/<experiment>/<trial>/
//
// (TrialPrefix), so that one experiment's artifacts share
// <prefix>/<namespace>/<experiment>/ (ExperimentPrefix). Every prefix ends in
// "/", so trial "a" never sees the objects of trial "ab".
//
// # Manifest
//
// A Manifest is the number of objects under a trial's prefix, their total
// size, and a digest over their keys, sizes and ETags, so that a user can
// check that the artifacts are still the ones the trial wrote. The digest is
// "sha256:" followed by the lowercase hex SHA-256 of one line per object:
//
//	["model/weights.bin",1048576,"9e107d9d372bb6826bd81d3542a419d6"]\n
//
// that is, a compact JSON array of the key relative to the trial's prefix,
// the size in bytes (a decimal integer), and the ETag with any surrounding
// double quotes removed, followed by a newline. Lines are in the order of
// their keys, compared as bytes (ties, which a listing never has, by size,
// then ETag). No objects give the SHA-256 of the empty string.
//
// Strings are written as RFC 8785 (JSON Canonicalization Scheme) writes
// them: '"' and '\' as \" and \\; U+0008, U+0009, U+000A, U+000C and U+000D
// as \b, \t, \n, \f and \r; the other characters below U+0020 as \u00xx
// (lowercase hex); every other character as itself in UTF-8, '/' and
// non-ASCII included. (A byte that is not valid UTF-8, which no S3 key has,
// is written as U+FFFD.) This is what Python's
//
//	json.dumps([key, size, etag], separators=(",", ":"), ensure_ascii=False)
//
// and JavaScript's JSON.stringify([key, size, etag]) write. Sort the objects,
// not the lines: escaping and the closing quote reorder them ("a!" sorts
// before "a" as a line, after it as a key). In Python:
//
//	objs = sorted((o.key, o.size, o.etag.strip('"')) for o in objects)
//	data = "".join(json.dumps(list(o), separators=(",", ":"), ensure_ascii=False) + "\n"
//	               for o in objs)
//	digest = "sha256:" + hashlib.sha256(data.encode()).hexdigest()
//
// (Python orders strings by code point, which is the order of their UTF-8
// bytes.)
//
// The format is frozen: a manifest is recorded when a trial ends and checked
// later, perhaps by another version of the operator. TestManifestGolden
// guards it.
package artifacts
