package artifacts

import crucible "github.com/crucible-dev/crucible/api/v1alpha1"

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
