package artifacts

import (
	"strconv"
	"strings"
)

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
	return NamespacePrefix(prefix, namespace) + experiment + "/" + experimentUID + "/"
}

// NamespacePrefix is the key prefix of one namespace's part of a store,
// under which every ExperimentPrefix and ModelVersionPrefix of its objects
// lies: "<prefix>/<namespace>/", with prefix trimmed as in TrialPrefix.
func NamespacePrefix(prefix, namespace string) string {
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		return prefix + "/" + namespace + "/"
	}
	return namespace + "/"
}

// ModelVersionPrefix is the key prefix of the model's own copy of a
// version's artifacts: "<prefix>/<namespace>/models/<model>/v<version>/",
// with prefix trimmed as in TrialPrefix. A ModelVersion is named
// "<model>-v<version>" in its namespace, so no two versions share one, and
// it lies beside the Experiments' prefixes, never under one: an
// Experiment's retention and deletion, which delete under ExperimentPrefix,
// leave it. (An Experiment named "models" writes under
// "<namespace>/models/<experiment uid>/", a UID where a model name is.)
func ModelVersionPrefix(prefix, namespace, model string, version int32) string {
	return NamespacePrefix(prefix, namespace) + "models/" + model + "/v" + strconv.FormatInt(int64(version), 10) + "/"
}

// S3URI is "s3://<bucket>/<key>", e.g. S3URI(bucket, TrialPrefix(...)) for
// where a trial's artifacts are.
func S3URI(bucket, key string) string {
	return "s3://" + bucket + "/" + key
}
