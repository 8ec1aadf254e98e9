package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// HashLength is how many hex digits of the hash a Trial name carries: 48
// bits, so a 100,000-trial sweep has a chance of about 2e-5 of a collision,
// which the Experiment reconciler detects and reports rather than skipping
// a point.
const HashLength = 12

// MaxNameLength is the longest name of a Job: its name becomes the value of
// the batch.kubernetes.io/job-name label on its Pods.
const MaxNameLength = 63

// TrialName returns the name of the Trial of experiment that runs params
// with seed. experiment must be at most
// crucible.MaxExperimentNameLength characters, which the CRD enforces; a
// longer one is cut so that the result is still a valid name.
func TrialName(experiment string, params []crucible.ParameterAssignment, seed int64) string {
	prefix := experiment
	if max := MaxNameLength - HashLength - 1; len(prefix) > max {
		prefix = prefix[:max]
	}
	return prefix + "-" + Hash(params, seed)
}

// Hash returns HashLength hex digits of sha256 over an unambiguous encoding
// of params, in order, and seed: every name and value is length-prefixed, so
// no two different assignments encode alike.
func Hash(params []crucible.ParameterAssignment, seed int64) string {
	h := sha256.New()
	buf := make([]byte, 0, 64)
	for _, p := range params {
		buf = appendField(buf[:0], p.Name)
		buf = appendField(buf, p.Value)
		h.Write(buf)
	}
	buf = append(buf[:0], "seed="...)
	buf = strconv.AppendInt(buf, seed, 10)
	h.Write(buf)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))[:HashLength]
}

func appendField(buf []byte, s string) []byte {
	buf = strconv.AppendInt(buf, int64(len(s)), 10)
	buf = append(buf, ':')
	return append(buf, s...)
}
