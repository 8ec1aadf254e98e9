package artifacts

import "strings"

// TrialPrefix is the key prefix of one run of a trial:
// "<prefix>/<namespace>/<experiment>/<experiment uid>/<trial>/<trial uid>/".
// The UIDs make it the prefix of this run alone: a Trial deleted by hand and
// created again, or an Experiment deleted and created again under the same
// name, writes under a prefix of its own, and its manifest lists only what it
// wrote. prefix is the store's configured prefix; its leading and trailing
// slashes are trimmed, and an empty prefix starts the key at <namespace>.
func TrialPrefix(prefix, namespace, experiment, experimentUID, trial, trialUID string) string {
	return ExperimentPrefix(prefix, namespace, experiment, experimentUID) + trial + "/" + trialUID + "/"
}

// ExperimentPrefix is the key prefix of one run of an experiment, under which
// every TrialPrefix of its trials lies:
// "<prefix>/<namespace>/<experiment>/<experiment uid>/", with prefix trimmed
// as in TrialPrefix. Deleting it deletes nothing of another Experiment of
// the same name.
func ExperimentPrefix(prefix, namespace, experiment, experimentUID string) string {
	p := namespace + "/" + experiment + "/" + experimentUID + "/"
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
