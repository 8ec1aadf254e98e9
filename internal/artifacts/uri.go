package artifacts

import crucible "github.com/crucible-dev/crucible/api/v1alpha1"

// URI is where a trial writes its artifacts:
// s3://<bucket>/<prefix>/<namespace>/<experiment>/<trial>/ or
// pvc://<claim>/<subPath>/<namespace>/<experiment>/<trial>/.
func URI(a *crucible.ArtifactsSpec, namespace, experiment, trial string) string {
	if pvc := a.PersistentVolumeClaim; pvc != nil {
		return "pvc://" + pvc.ClaimName + "/" + TrialPrefix(pvc.SubPath, namespace, experiment, trial)
	}
	return S3URI(a.S3.Bucket, TrialPrefix(a.S3.Prefix, namespace, experiment, trial))
}
