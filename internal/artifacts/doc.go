// Package artifacts says where a trial's artifacts live in an S3-compatible
// store, summarises them in a manifest, and lists and deletes them.
//
// # Layout
//
// A trial writes its artifacts under
//
//	<prefix>/<namespace>/<experiment>/<experiment uid>/<trial>/<trial uid>/
//
// (TrialPrefix), so that one experiment's artifacts share
// <prefix>/<namespace>/<experiment>/<experiment uid>/ (ExperimentPrefix).
// The UIDs make each prefix one run's own: a Trial deleted and created
// again, or an Experiment recreated under the same name, never lists or
// deletes an earlier run's objects. Every prefix ends in
// "/", so trial "a" never sees the objects of trial "ab".
//
// A ModelVersion's own copy of the artifacts it was promoted from is kept
// under
//
//	<prefix>/<namespace>/models/<model>/v<version>/
//
// (ModelVersionPrefix), beside the Experiments' prefixes, so that an
// Experiment's retention and deletion never reach it.
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
// non-ASCII included. This is what Python's
//
//	json.dumps([key, size, etag], separators=(",", ":"), ensure_ascii=False)
//
// and JavaScript's JSON.stringify([key, size, etag]) write. A byte that is
// not part of valid UTF-8 (S3 requires UTF-8 keys, but not every store
// checks) is written as \udcxx, xx its lowercase hex: the lone surrogate
// U+DC00+byte that Python's "surrogateescape" error handler decodes it to,
// written as JSON.stringify writes a lone surrogate. Valid UTF-8 is never
// written so, hence keys that differ only in such bytes have different
// lines, and a valid key's line is as above. Sort the objects, not the
// lines: escaping and the closing quote reorder them ("a!" sorts before "a"
// as a line, after it as a key). In Python, with keys as bytes
// (key.encode() of a str key):
//
//	import hashlib, json, re
//
//	def line(key, size, etag):
//	    s = json.dumps([key.decode("utf-8", "surrogateescape"), size, etag],
//	                   separators=(",", ":"), ensure_ascii=False)
//	    return re.sub("[\udc80-\udcff]", lambda m: "\\u%x" % ord(m[0]), s) + "\n"
//
//	objs = sorted((o.key, o.size, o.etag.strip('"')) for o in objects)
//	data = "".join(line(*o) for o in objs)
//	digest = "sha256:" + hashlib.sha256(data.encode()).hexdigest()
//
// The format is frozen: a manifest is recorded when a trial ends and checked
// later, perhaps by another version of the operator. TestManifestGolden and
// TestManifestGoldenInvalidUTF8 guard it with digests this recipe computed.
//
// # Listing
//
// S3's ListObjectsV2 returns keys in ascending byte order, the manifest's,
// so Store.Manifest hashes each page as it comes and holds one page at a
// time; a store that lists a key out of that order is refused, with an
// error, rather than summarised wrongly. DeletePrefix deletes each batch of
// 1000 keys as it is listed. Every call ends within Limits.Timeout,
// Manifest stops past Limits.MaxObjects objects with ErrTooManyObjects, and
// a response longer than a page can be is refused, so that a slow, endless
// or hostile store costs the operator one worker for that long and tens of
// MiB of memory at most.
//
// # Copy
//
// Store.Copy copies a prefix within the bucket by server-side copies, so
// that no byte passes through the operator, and keeps every object's ETag,
// so that the copy's manifest digest is the source's: an object written
// by one PUT with CopyObject, whose copy has the MD5 of its bytes as the
// source has, and a multipart object part for part, each part the byte
// range the store reports for it (HEAD with partNumber), whose copy then
// has the source's multipart ETag. minio-go's ComposeObject splits a
// source in parts of its own choosing, which changes that ETag; it is used
// only for an object over 5 GiB without a multipart ETag, which S3 itself
// never has. Copy skips objects the destination holds already with the
// same size and ETag, so a copy cut short by the timeout goes on where it
// stopped when called again.
package artifacts
