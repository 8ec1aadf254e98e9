package artifacts

import "strings"

// TrialPrefix is the key prefix of one trial's artifacts:
// "<prefix>/<namespace>/<experiment>/<trial>/". prefix is the store's
// configured prefix; its leading and trailing slashes are trimmed, and an
// empty prefix gives "<namespace>/<experiment>/<trial>/".
func TrialPrefix(prefix, namespace, experiment, trial string) string {
	return ExperimentPrefix(prefix, namespace, experiment) + trial + "/"
}

// ExperimentPrefix is the key prefix of one experiment's artifacts, under
// which every trial's TrialPrefix lies: "<prefix>/<namespace>/<experiment>/",
// with prefix trimmed as in TrialPrefix.
func ExperimentPrefix(prefix, namespace, experiment string) string {
	p := namespace + "/" + experiment + "/"
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		p = prefix + "/" + p
	}
	return p
}

// S3URI is "s3://<bucket>/<key>", e.g. S3URI(bucket, TrialPrefix(...)) for
// where a trial's artifacts are.
func S3URI(bucket, key string) string {
	return "s3://" + bucket + "/" + key
}
