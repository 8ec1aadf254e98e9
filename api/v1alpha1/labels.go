package v1alpha1

// Labels and annotations the operator sets on the objects it creates. They
// are part of the API: users select on them with `kubectl get -l`, and the
// operator's cache selects Jobs and Pods by them.
const (
	// ExperimentLabel is set on Trials, Jobs and Pods to the name of the
	// Experiment they belong to. The operator's cache holds only Jobs and
	// Pods that carry it.
	ExperimentLabel = "crucible.dev/experiment"

	// TrialLabel is set on Jobs and Pods to the name of the Trial they run.
	TrialLabel = "crucible.dev/trial"

	// TrialIndexAnnotation is set on Jobs and Pods to the Trial's index in
	// the search space, for humans reading a Pod.
	TrialIndexAnnotation = "crucible.dev/trial-index"

	// DatasetVerifierLabel is set to "true" on an Experiment's dataset
	// verifier Job and its Pod, beside ExperimentLabel.
	DatasetVerifierLabel = "crucible.dev/dataset-verifier"

	// DatasetDigestAnnotation is set on the verifier Job and its Pod to the
	// digest the Experiment pins, for humans reading them.
	DatasetDigestAnnotation = "crucible.dev/dataset-digest"

	// NoteAnnotation holds a user's note on a Trial or an Experiment, free
	// text written by `kubectl crucible note` and shown wherever the
	// object is (the plugin's listings, describe, the dashboard). It is
	// metadata: a note never changes a Trial's frozen record.
	NoteAnnotation = "crucible.dev/note"
)

// Environment variables every trial container sees.
const (
	// EnvParamPrefix prefixes one variable per parameter: CRUCIBLE_PARAM_<NAME>,
	// the name upper-cased.
	EnvParamPrefix = "CRUCIBLE_PARAM_"
	// EnvSeed holds the trial's seed as a decimal integer.
	EnvSeed = "CRUCIBLE_SEED"
	// EnvTrial holds the Trial's name.
	EnvTrial = "CRUCIBLE_TRIAL"
	// EnvExperiment holds the Experiment's name.
	EnvExperiment = "CRUCIBLE_EXPERIMENT"
	// EnvDatasetPath holds the path the dataset is mounted at, when there is one.
	EnvDatasetPath = "CRUCIBLE_DATASET_PATH"
	// EnvArtifactURI holds where the trial writes its artifacts:
	// s3://<bucket>/<key prefix>/ or pvc://<claim>/<path>/.
	EnvArtifactURI = "CRUCIBLE_ARTIFACT_URI"
	// EnvArtifactPath holds the directory the trial writes its artifacts
	// to, for a persistentVolumeClaim store: ArtifactsMountPath.
	EnvArtifactPath = "CRUCIBLE_ARTIFACT_PATH"
	// EnvArtifactBucket and EnvArtifactPrefix hold the bucket and the
	// trial's key prefix, for an s3 store. The endpoint, region and
	// credentials are in the variables S3 SDKs read: AWS_ENDPOINT_URL,
	// AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	EnvArtifactBucket = "CRUCIBLE_ARTIFACT_BUCKET"
	EnvArtifactPrefix = "CRUCIBLE_ARTIFACT_PREFIX"
)

// Keys of an s3 store's credentials Secret, the names S3 SDKs read them from.
const (
	SecretKeyAccessKeyID     = "AWS_ACCESS_KEY_ID"
	SecretKeySecretAccessKey = "AWS_SECRET_ACCESS_KEY"
)

// ArtifactsMountPath is where a persistentVolumeClaim store's directory of
// the trial is mounted.
const ArtifactsMountPath = "/artifacts"

// TrainerContainerName is the name of the container the operator builds from
// the Experiment's pinned fields. A podTemplate container of this name is
// merged with it; its termination message carries the final metrics.
const TrainerContainerName = "trainer"
