package artifacts

import (
	"fmt"
	"strings"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// URI is where a trial of exp writes its artifacts, the store's URI of its
// TrialPrefix: s3://<bucket>/<key prefix>/ or pvc://<claim>/<path>/.
func URI(exp *crucible.Experiment, trial *crucible.Trial) string {
	a := exp.Spec.Artifacts
	if pvc := a.PersistentVolumeClaim; pvc != nil {
		return "pvc://" + pvc.ClaimName + "/" + TrialKeyPrefix(pvc.SubPath, exp, trial)
	}
	return S3URI(a.S3.Bucket, TrialKeyPrefix(a.S3.Prefix, exp, trial))
}

// TrialKeyPrefix is the TrialPrefix of trial, a trial of exp, under prefix.
func TrialKeyPrefix(prefix string, exp *crucible.Experiment, trial *crucible.Trial) string {
	return TrialPrefix(prefix, exp.Namespace, exp.Name, string(exp.UID), trial.Name, string(trial.UID))
}

// ExperimentKeyPrefix is the ExperimentPrefix of exp under prefix.
func ExperimentKeyPrefix(prefix string, exp *crucible.Experiment) string {
	return ExperimentPrefix(prefix, exp.Namespace, exp.Name, string(exp.UID))
}

// ProvenanceSuffix ends the key of a trial's provenance record.
const ProvenanceSuffix = ".provenance.intoto.jsonl"

// ProvenanceKey is where the provenance record of trial, a trial of exp, is
// kept under prefix: beside its artifacts, "<TrialKeyPrefix without its last
// slash>.provenance.intoto.jsonl". It is outside the trial's prefix, so it is
// never part of the artifacts' manifest, and a trial's retention, which
// deletes that prefix, leaves the record; deleting the Experiment's
// artifacts deletes it.
func ProvenanceKey(prefix string, exp *crucible.Experiment, trial *crucible.Trial) string {
	return strings.TrimSuffix(TrialKeyPrefix(prefix, exp, trial), "/") + ProvenanceSuffix
}

// ParseS3Prefix splits an s3://<bucket>/<key prefix>/ URI, as S3URI of a
// TrialPrefix writes it, into its bucket and key prefix. The key prefix
// must not be empty (the whole bucket) and must end in "/", so that
// "s3://b/ns/e/a/" never takes in "ns/e/ab/".
func ParseS3Prefix(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URI", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	switch {
	case bucket == "":
		return "", "", fmt.Errorf("%q names no bucket", uri)
	case prefix == "":
		return "", "", fmt.Errorf("%q names no key prefix: the whole bucket is never copied", uri)
	case !strings.HasSuffix(prefix, "/"):
		return "", "", fmt.Errorf("%q is not a key prefix: it does not end in /", uri)
	}
	return bucket, prefix, nil
}

// StepMetricsFile is the name, under a trial's prefix, of the full series of
// the step metrics its trainer reported: JSON Lines, one report per line, in
// the order of their steps.
const StepMetricsFile = "metrics.jsonl"

// StepMetricsKey is where the full series of trial's step metrics is kept
// under prefix once the trial ended: "<TrialKeyPrefix>metrics.jsonl", one of
// the trial's artifacts, in its manifest and deleted by its retention.
func StepMetricsKey(prefix string, exp *crucible.Experiment, trial *crucible.Trial) string {
	return TrialKeyPrefix(prefix, exp, trial) + StepMetricsFile
}

// StepChunksPrefix is where the series of trial's step metrics is kept
// under prefix while the trial runs, in chunks the operator joins into
// StepMetricsKey when it ends: beside its artifacts,
// "<TrialKeyPrefix without its last slash>.steps/", so that a chunk is never
// part of the manifest, nor seen by the trainer as one of its own objects.
// Deleting the Experiment's artifacts deletes what is left of it.
func StepChunksPrefix(prefix string, exp *crucible.Experiment, trial *crucible.Trial) string {
	return strings.TrimSuffix(TrialKeyPrefix(prefix, exp, trial), "/") + ".steps/"
}
