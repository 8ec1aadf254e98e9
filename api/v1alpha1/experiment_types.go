package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Limits of the API. They keep every object far below etcd's size limit and
// every derived name within Kubernetes' 63-character label limit.
const (
	// MaxExperimentNameLength is the longest Experiment name: a Trial and
	// its Job are named "<experiment>-<12 hex digits>", which must fit in 63.
	MaxExperimentNameLength = 50

	// MaxTrials is the most trials one Experiment may have: the number of
	// grid points times seeds.replicas.
	MaxTrials = 100000

	// MaxParameters is the most parameters a search space may have.
	MaxParameters = 16
)

// ExperimentSpec pins everything that decides a result: the image, the
// command, the dataset, the search space, the seeds. All of it is immutable
// after creation except parallelism, maxFailedTrials and suspend: a changed
// pin is a new Experiment, not silent drift.
//
// +kubebuilder:validation:XValidation:rule="has(self.command) == has(oldSelf.command)",fieldPath=".command",message="command is immutable: a changed pin is a new Experiment"
// +kubebuilder:validation:XValidation:rule="has(self.args) == has(oldSelf.args)",fieldPath=".args",message="args is immutable: a changed pin is a new Experiment"
// +kubebuilder:validation:XValidation:rule="has(self.env) == has(oldSelf.env)",fieldPath=".env",message="env is immutable: a changed pin is a new Experiment"
// +kubebuilder:validation:XValidation:rule="has(self.dataset) == has(oldSelf.dataset)",fieldPath=".dataset",message="dataset is immutable: a changed pin is a new Experiment"
// +kubebuilder:validation:XValidation:rule="has(self.parameters) == has(oldSelf.parameters)",fieldPath=".parameters",message="parameters is immutable: a changed pin is a new Experiment"
// +kubebuilder:validation:XValidation:rule="has(self.artifacts) == has(oldSelf.artifacts)",fieldPath=".artifacts",message="artifacts is immutable: trials of one Experiment write to one place"
// +kubebuilder:validation:XValidation:rule="has(self.source) == has(oldSelf.source)",fieldPath=".source",message="source is immutable: a changed pin is a new Experiment"
// +kubebuilder:validation:XValidation:rule="(has(self.search.algorithm) ? self.search.algorithm : 'Grid') != 'Grid' || !has(self.parameters) || self.parameters.all(p, !has(p.float) || has(p.float.steps))",fieldPath=".parameters",message="a Grid needs steps on every float range; a continuous range (no steps) needs search.algorithm Random, Sobol or TPE"
// +kubebuilder:validation:XValidation:rule="(has(self.search.algorithm) ? self.search.algorithm : 'Grid') == 'Grid' || !has(self.seeds.replicas) || self.seeds.replicas == 1",fieldPath=".seeds.replicas",message="seeds.replicas needs a Grid: Random, Sobol and TPE run every suggestion once, with seeds.base"
// +kubebuilder:validation:XValidation:rule="!has(self.reproduces) || (has(self.search.algorithm) ? self.search.algorithm : 'Grid') == 'Grid'",fieldPath=".search.algorithm",message="a reproduction runs one point: search.algorithm must be Grid"
// +kubebuilder:validation:XValidation:rule="has(self.queueName) == has(oldSelf.queueName)",fieldPath=".queueName",message="queueName is immutable: the trials of one Experiment queue in one place"
// +kubebuilder:validation:XValidation:rule="has(self.earlyStopping) == has(oldSelf.earlyStopping)",fieldPath=".earlyStopping",message="earlyStopping is immutable: a changed rule is a new Experiment"
// +kubebuilder:validation:XValidation:rule="has(self.reproduces) == has(oldSelf.reproduces)",fieldPath=".reproduces",message="reproduces is immutable: a reproduction is its own Experiment"
// +kubebuilder:validation:XValidation:rule="!has(self.reproduces) || self.image == self.reproduces.image",fieldPath=".image",message="a reproduction runs the original's image: image must be reproduces.image"
// +kubebuilder:validation:XValidation:rule="!has(self.reproduces) || (has(self.dataset) ? (has(self.reproduces.datasetDigest) && self.dataset.digest == self.reproduces.datasetDigest) : !has(self.reproduces.datasetDigest))",fieldPath=".dataset",message="a reproduction reads the original's dataset: dataset.digest must be reproduces.datasetDigest"
// +kubebuilder:validation:XValidation:rule="!has(self.reproduces) || (self.seeds.base == self.reproduces.seed && self.seeds.replicas == 1)",fieldPath=".seeds",message="a reproduction runs the original's seed once: seeds must be {base: reproduces.seed, replicas: 1}"
// +kubebuilder:validation:XValidation:rule="!has(self.reproduces) || ((has(self.parameters) ? size(self.parameters) : 0) == (has(self.reproduces.parameters) ? size(self.reproduces.parameters) : 0) && (!has(self.reproduces.parameters) || self.reproduces.parameters.all(a, self.parameters.exists(p, p.name == a.name && has(p.values) && size(p.values) == 1 && p.values[0] == a.value))))",fieldPath=".parameters",message="a reproduction runs the original's point: parameters must give each of reproduces.parameters its one value, and nothing else"
type ExperimentSpec struct {
	// image is the trainer's container image, pinned by digest:
	// "<repository>@sha256:<64 hex digits>". A tag alone is refused, because
	// a tag can move and the result would not be reproducible.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@ ]+@sha256:[a-f0-9]{64}$')",message="image must be pinned by digest: <repository>@sha256:<64 lowercase hex digits>"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="image is immutable: a changed pin is a new Experiment"
	Image string `json:"image"`

	// command is the trainer's entrypoint; the image's own when empty.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="command is immutable: a changed pin is a new Experiment"
	Command []string `json:"command,omitempty"`

	// args are the trainer's arguments. Kubernetes expands $(VAR) references,
	// so "--lr=$(CRUCIBLE_PARAM_LR)" passes a parameter on the command line.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="args is immutable: a changed pin is a new Experiment"
	Args []string `json:"args,omitempty"`

	// env is added to the trainer's environment, after the CRUCIBLE_*
	// variables, so it may refer to them with $(VAR). Values are literal:
	// they are part of the pinned record. Secrets (an experiment tracker's
	// API key) belong in the podTemplate's trainer container, whose env may
	// use valueFrom.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="env is immutable: a changed pin is a new Experiment"
	Env []EnvVar `json:"env,omitempty"`

	// resources are the trainer container's requests and limits. They
	// cannot change after creation (enforced by the ValidatingAdmissionPolicy
	// in config/policy).
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// podTemplate is the template of every trial's Pod: volumes, node
	// selector, tolerations, service account, sidecars. A container named
	// "trainer" in it is merged with the container the operator builds from
	// image, command, args, env and resources; those fields win. Every image
	// in it must be pinned by digest.
	// +optional
	PodTemplate *corev1.PodTemplateSpec `json:"podTemplate,omitempty"`

	// dataset is the data every trial reads, pinned by version and content
	// digest and mounted read-only.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="dataset is immutable: a changed pin is a new Experiment"
	Dataset *DatasetSpec `json:"dataset,omitempty"`

	// source names the code the image was built from, for the record: the
	// trials' provenance lists it among their inputs. The operator does not
	// fetch it.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="source is immutable: a changed pin is a new Experiment"
	Source *SourceSpec `json:"source,omitempty"`

	// parameters is the search space. Every grid point runs once per seed
	// replica. An empty search space is one point: the run repeated for
	// every seed. Grid points times seeds.replicas may be at most 100000
	// (enforced by the ValidatingAdmissionPolicy in config/policy).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="parameters is immutable: a changed pin is a new Experiment"
	Parameters []ParameterSpec `json:"parameters,omitempty"`

	// search says how points are drawn from the space.
	// +optional
	// +kubebuilder:default={algorithm: Grid}
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="search is immutable: a changed pin is a new Experiment"
	Search SearchSpec `json:"search,omitzero"`

	// seeds says which seeds every point runs with.
	// +optional
	// +kubebuilder:default={}
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="seeds is immutable: a changed pin is a new Experiment"
	Seeds SeedSpec `json:"seeds,omitzero"`

	// objective is the metric that ranks trials.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="objective is immutable: a changed pin is a new Experiment"
	Objective ObjectiveSpec `json:"objective"`

	// parallelism is the most trials that run at once. It may be changed
	// while the Experiment runs.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	Parallelism int32 `json:"parallelism,omitempty"`

	// maxFailedTrials is how many trials may fail before the Experiment
	// fails. When more fail, no new trials start; trials already running
	// finish and are recorded. It may be changed while the Experiment runs.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	MaxFailedTrials int32 `json:"maxFailedTrials,omitempty"`

	// queueName is the Kueue LocalQueue, in the Experiment's namespace, that
	// admits the trials: every trial's Job is created suspended with the
	// label kueue.x-k8s.io/queue-name, and runs when Kueue admits it by
	// quota. A trial waiting for admission is Pending with reason Queued; a
	// trial whose Job Kueue suspends again after it ran (preemption) goes
	// back to Queued and runs again from the start with the same seed,
	// without counting as a failure. Without it, Jobs start at once. It is
	// not part of the spec digest: where a trial queues does not change its
	// result.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="queueName is immutable: the trials of one Experiment queue in one place"
	QueueName string `json:"queueName,omitempty"`

	// suspend stops new trials from starting; trials already running finish.
	// It may be changed while the Experiment runs.
	// +optional
	// +kubebuilder:default=false
	Suspend bool `json:"suspend,omitempty"`

	// artifacts is where trials write their outputs (models, checkpoints,
	// logs): an S3-compatible store or a PersistentVolumeClaim. Each run of
	// a trial writes under a prefix of its own,
	// <prefix>/<namespace>/<experiment>/<experiment uid>/<trial>/<trial uid>/,
	// named in its CRUCIBLE_ARTIFACT_URI. It cannot change after creation. It is not
	// part of the spec digest: where outputs go does not change them.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="artifacts is immutable: trials of one Experiment write to one place"
	Artifacts *ArtifactsSpec `json:"artifacts,omitempty"`

	// retention says which Jobs, Trials and artifacts are kept, and for how
	// long. Nothing is deleted unless it says so. It may be changed at any
	// time; a change after the Experiment ended is applied again.
	// +optional
	Retention *RetentionSpec `json:"retention,omitempty"`

	// earlyStopping stops trials whose step metrics (reported while they
	// run, see status.stepMetrics of a Trial) say they are hopeless, by a
	// rule on the objective metric. A stopped trial ends Stopped, with
	// reason EarlyStopped, is no failure, and its Job is deleted. The
	// decision is a pure function of the recorded curves, read in the
	// order of the trials' index, so a replay decides the same. Immutable.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="earlyStopping is immutable: a changed rule is a new Experiment"
	EarlyStopping *EarlyStoppingSpec `json:"earlyStopping,omitempty"`

	// reproduces makes this Experiment the reproduction of one trial: it
	// pins exactly the original's inputs, runs it once, and ends with a
	// verdict in status.reproduction. It is not part of the spec digest.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="reproduces is immutable: a reproduction is its own Experiment"
	Reproduces *ReproductionSpec `json:"reproduces,omitempty"`
}

// EarlyStoppingSpec is one early-stopping rule: exactly one of medianStop
// or asha.
// +kubebuilder:validation:XValidation:rule="[has(self.medianStop), has(self.asha)].filter(x, x).size() == 1",message="exactly one of medianStop or asha must be set"
type EarlyStoppingSpec struct {
	// medianStop stops a trial whose best objective up to step s is worse
	// than the median of the running averages, up to s, of the trials
	// that completed (Katib's and Optuna's median stopping rule).
	// +optional
	MedianStop *MedianStopSpec `json:"medianStop,omitempty"`

	// asha is asynchronous successive halving (Ray Tune's
	// AsyncHyperBand): rungs at gracePeriod * reductionFactor^k steps; a
	// trial that reaches a rung goes on only if its objective there is in
	// the best 1/reductionFactor of those recorded at the rung.
	// +optional
	ASHA *ASHASpec `json:"asha,omitempty"`
}

// MedianStopSpec is the median stopping rule.
type MedianStopSpec struct {
	// minTrials is how many trials must have completed before any is
	// stopped.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MinTrials int32 `json:"minTrials,omitempty"`

	// startStep is the first step a trial can be stopped at.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	StartStep int64 `json:"startStep,omitempty"`
}

// ASHASpec is asynchronous successive halving.
type ASHASpec struct {
	// gracePeriod is the first rung's step: no trial is stopped before it.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	GracePeriod int64 `json:"gracePeriod,omitempty"`

	// reductionFactor is how many times fewer trials go on at each rung.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=100
	ReductionFactor int64 `json:"reductionFactor,omitempty"`

	// maxResource is the step past which there are no more rungs; none
	// when unset.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxResource int64 `json:"maxResource,omitempty"`
}

// ArtifactsSpec is an artifact store: exactly one of s3 or
// persistentVolumeClaim.
// +kubebuilder:validation:XValidation:rule="[has(self.s3), has(self.persistentVolumeClaim)].filter(x, x).size() == 1",message="exactly one of s3 or persistentVolumeClaim must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.required) || !self.required || has(self.s3)",message="required needs an s3 store: the operator cannot list a volume"
type ArtifactsSpec struct {
	// s3 is a bucket of an S3-compatible store. After a trial ends the
	// operator lists what it wrote and records it on the Trial.
	// +optional
	S3 *S3ArtifactStore `json:"s3,omitempty"`

	// persistentVolumeClaim is a claim in the Experiment's namespace; each
	// trial's directory of it is mounted at /artifacts.
	// +optional
	PersistentVolumeClaim *PVCArtifactStore `json:"persistentVolumeClaim,omitempty"`

	// required fails a trial that ends without having written any artifact,
	// with reason ArtifactsMissing. s3 stores only.
	// +optional
	Required bool `json:"required,omitempty"`
}

// S3ArtifactStore is a bucket of an S3-compatible store.
type S3ArtifactStore struct {
	// endpoint is the store's host, with a port if it is not the scheme's
	// default: "s3.eu-west-1.amazonaws.com", "minio.storage:9000".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?(:[0-9]{1,5})?$')",message="endpoint must be a host or host:port, without scheme or path"
	Endpoint string `json:"endpoint"`

	// bucket is the bucket's name. The operator does not create it.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	Bucket string `json:"bucket"`

	// prefix is the key prefix under which the Experiment's trials write.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..' || s == '.')",message="prefix must be a relative key prefix without '.' or '..' segments"
	Prefix string `json:"prefix,omitempty"`

	// region of the bucket; the store's default when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Region string `json:"region,omitempty"`

	// credentialsSecret names a Secret in the Experiment's namespace with
	// the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Trials get them
	// by secretKeyRef, never as plain values in the Job.
	// +required
	CredentialsSecret SecretReference `json:"credentialsSecret"`

	// insecure talks plain HTTP to the store instead of TLS. For a local
	// store on a trusted network only.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
}

// SecretReference names a Secret in the Experiment's namespace.
type SecretReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// PVCArtifactStore is a directory of a PersistentVolumeClaim.
type PVCArtifactStore struct {
	// claimName is the claim's name in the Experiment's namespace. It must
	// be writable by every trial at once (ReadWriteMany) unless trials run
	// one at a time.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`

	// subPath is the directory of the claim that trial directories go
	// under; the claim's root when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..')",message="subPath must be a relative path without '..'"
	SubPath string `json:"subPath,omitempty"`
}

// RetentionSpec says what is kept of an Experiment's runs.
type RetentionSpec struct {
	// jobs says when finished trials' Jobs, and their Pods, are deleted.
	// The Trial keeps its record.
	// +optional
	Jobs JobRetention `json:"jobs,omitzero"`

	// trials says which Trials are kept after the Experiment ends.
	// +optional
	Trials TrialRetention `json:"trials,omitzero"`

	// artifacts says whose artifacts are kept, for how long, and what
	// happens to them when the Experiment is deleted. s3 stores only.
	// +optional
	Artifacts ArtifactRetention `json:"artifacts,omitzero"`
}

// JobRetention says when finished trials' Jobs are deleted.
type JobRetention struct {
	// ttlSecondsAfterFinished deletes a trial's Job and its Pods this many
	// seconds after the trial's result was recorded. Jobs are kept when
	// unset.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
}

// FailedPolicy says whether failed trials are kept.
// +kubebuilder:validation:Enum=Keep;Delete
type FailedPolicy string

const (
	// FailedKeep keeps every failed trial.
	FailedKeep FailedPolicy = "Keep"
	// FailedDelete keeps no failed trial.
	FailedDelete FailedPolicy = "Delete"
)

// TrialRetention says which Trials are kept after the Experiment ends.
type TrialRetention struct {
	// keepBest keeps the best keepBest succeeded Trials by objective (ties
	// to the lower index) and deletes the other succeeded ones once the
	// Experiment has ended. All are kept when unset.
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepBest *int32 `json:"keepBest,omitempty"`

	// failed is Keep (every failed Trial is kept) or Delete.
	// +optional
	// +kubebuilder:default=Keep
	Failed FailedPolicy `json:"failed,omitempty"`
}

// DeletionPolicy says what happens to artifacts when their Experiment is
// deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionDelete deletes every artifact of the Experiment with it.
	DeletionDelete DeletionPolicy = "Delete"
	// DeletionRetain leaves the artifacts in the store.
	DeletionRetain DeletionPolicy = "Retain"
)

// ArtifactRetention says whose artifacts are kept.
type ArtifactRetention struct {
	// keepBest keeps the artifacts of the best keepBest succeeded trials by
	// objective (ties to the lower index); the other succeeded trials'
	// artifacts are deleted ttlSecondsAfterFinished after the Experiment
	// ended. All are kept when unset.
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepBest *int32 `json:"keepBest,omitempty"`

	// failed is Keep (failed trials' artifacts are kept) or Delete (deleted
	// with the succeeded ones not kept).
	// +optional
	// +kubebuilder:default=Keep
	Failed FailedPolicy `json:"failed,omitempty"`

	// ttlSecondsAfterFinished is how long after the Experiment ended the
	// artifacts not kept are deleted. Trials that retention.trials deletes
	// are deleted after it too, since their records say where those
	// artifacts are.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// onDeletion is Delete (deleting the Experiment deletes all its
	// artifacts first; the Experiment stays, with a condition, until that
	// succeeded, or until the operator's --artifact-deletion-timeout has
	// passed since the deletion: then it goes and the artifacts are left in
	// the store, with a Warning event) or Retain.
	// +optional
	// +kubebuilder:default=Delete
	OnDeletion DeletionPolicy `json:"onDeletion,omitempty"`
}

// EnvVar is a literal environment variable of the trainer.
type EnvVar struct {
	// name of the variable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z][-._a-zA-Z0-9]*$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('CRUCIBLE_')",message="names starting with CRUCIBLE_ are set by the operator"
	Name string `json:"name"`
	// value of the variable; $(VAR) references are expanded.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value,omitempty"`
}

// DatasetSpec pins a dataset by name, version and content digest.
type DatasetSpec struct {
	// name of the dataset, for humans and for the record.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// version of the dataset, for humans and for the record.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Version string `json:"version"`

	// digest is the content digest of the dataset as mounted:
	// "sha256:<64 hex digits>".
	// +required
	// +kubebuilder:validation:MaxLength=71
	// +kubebuilder:validation:XValidation:rule="self.matches('^sha256:[a-f0-9]{64}$')",message="digest must be sha256:<64 lowercase hex digits>"
	Digest string `json:"digest"`

	// source is where the dataset is mounted from.
	// +required
	Source DatasetSource `json:"source"`

	// mountPath is where the dataset appears in the trainer container.
	// +optional
	// +kubebuilder:default="/data"
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="mountPath must be an absolute path"
	MountPath string `json:"mountPath,omitempty"`

	// verify says whether the operator checks digest against the dataset
	// before the first trial: Always (the default) runs one verifier Job
	// that hashes the mounted source; Never skips it, and the Experiment's
	// DatasetVerified condition and every trial's provenance say so.
	// +optional
	// +kubebuilder:default=Always
	Verify DatasetVerifyPolicy `json:"verify,omitempty"`
}

// DatasetVerifyPolicy says whether a dataset's digest is checked.
// +kubebuilder:validation:Enum=Always;Never
type DatasetVerifyPolicy string

const (
	// DatasetVerifyAlways checks the digest before the first trial.
	DatasetVerifyAlways DatasetVerifyPolicy = "Always"
	// DatasetVerifyNever trusts the digest as written.
	DatasetVerifyNever DatasetVerifyPolicy = "Never"
)

// SourceSpec names the source code of a run: a repository and a commit.
type SourceSpec struct {
	// repository is the repository's URL, as a git client would clone it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.matches('^(https?|ssh|git)://[^ ]+$') || self.matches('^[A-Za-z0-9._-]+@[^ :]+:[^ ]+$')",message="repository must be a URL (https://, ssh://, git://) or an scp-like git@host:path"
	Repository string `json:"repository"`

	// commit is the full commit hash: 40 lowercase hex digits.
	// +required
	// +kubebuilder:validation:MinLength=40
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-f0-9]{40}$')",message="commit must be 40 lowercase hex digits"
	Commit string `json:"commit"`
}

// DatasetSource is where a dataset is mounted from: exactly one of its fields.
// +kubebuilder:validation:XValidation:rule="[has(self.persistentVolumeClaim), has(self.image)].filter(x, x).size() == 1",message="exactly one of persistentVolumeClaim or image must be set"
type DatasetSource struct {
	// persistentVolumeClaim mounts a directory of a claim in the
	// Experiment's namespace.
	// +optional
	PersistentVolumeClaim *PVCDatasetSource `json:"persistentVolumeClaim,omitempty"`

	// image mounts an OCI image or artifact as a volume (Kubernetes image
	// volumes), pinned by digest.
	// +optional
	Image *ImageDatasetSource `json:"image,omitempty"`
}

// PVCDatasetSource is a directory of a PersistentVolumeClaim.
type PVCDatasetSource struct {
	// claimName is the claim's name in the Experiment's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`

	// subPath is the directory of the claim to mount; the whole claim when
	// empty.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..')",message="subPath must be a relative path without '..'"
	SubPath string `json:"subPath,omitempty"`
}

// ImageDatasetSource is an OCI image or artifact mounted as a volume.
type ImageDatasetSource struct {
	// reference is the image, pinned by digest.
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@ ]+@sha256:[a-f0-9]{64}$')",message="reference must be pinned by digest: <repository>@sha256:<64 lowercase hex digits>"
	Reference string `json:"reference"`
}

// ParameterSpec is one dimension of the search space: exactly one of values,
// int or float.
// +kubebuilder:validation:XValidation:rule="[has(self.values), has(self.int), has(self.float)].filter(x, x).size() == 1",message="exactly one of values, int or float must be set"
type ParameterSpec struct {
	// name of the parameter. The trial sees it as CRUCIBLE_PARAM_<NAME>,
	// upper-cased.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([a-z0-9_]*[a-z0-9])?$`
	Name string `json:"name"`

	// values lists the parameter's values, in the order they are tried.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=256
	Values []string `json:"values,omitempty"`

	// int is a range of integers.
	// +optional
	Int *IntRange `json:"int,omitempty"`

	// float is a range of decimal numbers.
	// +optional
	Float *FloatRange `json:"float,omitempty"`
}

// IntRange is the integers min, min+step, ... up to max.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must not be greater than max"
// +kubebuilder:validation:XValidation:rule="self.min > self.max || (self.max - self.min) / self.step < 100000",message="the range has more than 100000 values"
type IntRange struct {
	// min is the first value.
	// +required
	// +kubebuilder:validation:Minimum=-1000000000000000
	// +kubebuilder:validation:Maximum=1000000000000000
	Min int64 `json:"min"`

	// max is the last value, included when min + k*step reaches it.
	// +required
	// +kubebuilder:validation:Minimum=-1000000000000000
	// +kubebuilder:validation:Maximum=1000000000000000
	Max int64 `json:"max"`

	// step between values.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	Step int64 `json:"step,omitempty"`
}

// Scale is how a float range is divided.
// +kubebuilder:validation:Enum=Linear;Log
type Scale string

const (
	// ScaleLinear divides a range into equal steps.
	ScaleLinear Scale = "Linear"
	// ScaleLog divides a range into equal ratios; min must be positive.
	ScaleLog Scale = "Log"
)

// FloatRange is steps values from min to max, both included, or without
// steps every number between them. Bounds are decimal strings: the API
// carries no floats.
// +kubebuilder:validation:XValidation:rule="double(self.min) < double(self.max)",message="min must be less than max"
// +kubebuilder:validation:XValidation:rule="self.scale != 'Log' || double(self.min) > 0.0",message="min must be positive on a Log scale"
type FloatRange struct {
	// min is the first value, a decimal number such as "0.001" or "1e-5".
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$`
	Min string `json:"min"`

	// max is the last value, a decimal number.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$`
	Max string `json:"max"`

	// steps is how many values the range has, min and max included. A Grid
	// needs it. Without it the range is continuous, for Random, Sobol and
	// TPE: they draw any value from min to max (on a Log scale, evenly in
	// log), printed with 12 significant digits.
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=100000
	Steps int32 `json:"steps,omitempty"`

	// scale is Linear (equal differences) or Log (equal ratios).
	// +optional
	// +kubebuilder:default=Linear
	Scale Scale `json:"scale,omitempty"`
}

// SearchAlgorithm is how points are drawn from the search space.
// +kubebuilder:validation:Enum=Grid;Random;Sobol;TPE
type SearchAlgorithm string

const (
	// SearchGrid runs every point of the grid, in index order: the last
	// parameter varies fastest.
	SearchGrid SearchAlgorithm = "Grid"
	// SearchRandom draws every point independently and uniformly (log-
	// uniformly on a Log scale); point i depends only on the seed and i.
	SearchRandom SearchAlgorithm = "Random"
	// SearchSobol takes point i of a Sobol low-discrepancy sequence (Joe
	// and Kuo's direction numbers), scrambled by the seed unless
	// spec.search.scramble is false; it covers the space more evenly than
	// Random.
	SearchSobol SearchAlgorithm = "Sobol"
	// SearchTPE is the Tree-structured Parzen Estimator (Bergstra et al.,
	// 2011) with Optuna's defaults: it proposes where good outcomes were
	// seen, learning from the trials that ended.
	SearchTPE SearchAlgorithm = "TPE"
)

// SearchSpec says how the search space is explored. Every algorithm but Grid
// is a sequence of suggestions: trial i is suggestion i, a pure function of
// the algorithm, its seed, the search space and the outcomes of the ended
// trials in index order, so a restarted operator, or anyone replaying the
// record, proposes the same points.
// +kubebuilder:validation:XValidation:rule="(has(self.algorithm) ? self.algorithm : 'Grid') == 'Grid' ? !has(self.maxTrials) : has(self.maxTrials)",message="maxTrials is the budget of Random, Sobol and TPE, which it requires; a Grid runs every point and takes none"
// +kubebuilder:validation:XValidation:rule="(has(self.algorithm) ? self.algorithm : 'Grid') != 'Grid' || !has(self.seed)",message="seed is the sampler's: a Grid draws nothing"
// +kubebuilder:validation:XValidation:rule="(has(self.algorithm) ? self.algorithm : 'Grid') == 'Sobol' || !has(self.scramble)",message="scramble is Sobol's only"
// +kubebuilder:validation:XValidation:rule="(has(self.algorithm) ? self.algorithm : 'Grid') == 'TPE' || !has(self.maxConcurrent)",message="maxConcurrent is TPE's only: the other algorithms learn nothing from outcomes"
type SearchSpec struct {
	// algorithm is Grid (every point, in order; the default), Random,
	// Sobol or TPE.
	// +optional
	// +kubebuilder:default=Grid
	Algorithm SearchAlgorithm `json:"algorithm,omitempty"`

	// maxTrials is how many trials Random, Sobol and TPE run: the budget,
	// never exceeded, also across operator restarts. A suggestion that
	// repeats a point already run counts against it without a second Job.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxTrials *int32 `json:"maxTrials,omitempty"`

	// seed is the sampler's seed; seeds.base when unset. Trials all run with
	// seeds.base: the seed of the sampler picks points, not the trainer's
	// randomness.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	Seed *int64 `json:"seed,omitempty"`

	// scramble (Sobol only, default true) scrambles the sequence by the
	// seed (a random digital shift): different seeds give different,
	// equally even, point sets. Unscrambled, the points are the published
	// sequence, the first being the space's lower corner.
	// +optional
	Scramble *bool `json:"scramble,omitempty"`

	// maxConcurrent (TPE only, default 4) is how many TPE trials may run
	// without knowing each other's outcome: trial i is proposed once trials
	// 0..i-maxConcurrent have ended, from their outcomes, with trials
	// i-maxConcurrent+1..i-1 as pending points (the constant liar: each
	// counts as the worst outcome seen). So at most maxConcurrent TPE
	// trials run at once, fewer when parallelism is lower, and which
	// outcomes a proposal saw is fixed by the record, not by timing.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxConcurrent *int32 `json:"maxConcurrent,omitempty"`
}

// SeedSpec says which seeds every point runs with.
type SeedSpec struct {
	// base is the first seed. Replica r of every point runs with seed
	// base + r, so points are compared under the same seeds.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967195
	Base int64 `json:"base,omitempty"`

	// replicas is how many seeds every point runs with.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Replicas int32 `json:"replicas,omitempty"`
}

// Goal says whether the objective is minimised or maximised.
// +kubebuilder:validation:Enum=Minimize;Maximize
type Goal string

const (
	// GoalMinimize ranks lower objective values first.
	GoalMinimize Goal = "Minimize"
	// GoalMaximize ranks higher objective values first.
	GoalMaximize Goal = "Maximize"
)

// ObjectiveSpec is the metric that ranks trials.
type ObjectiveSpec struct {
	// metric is the key of the objective in the metrics a trial reports.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Metric string `json:"metric"`

	// goal is Minimize or Maximize.
	// +required
	Goal Goal `json:"goal"`
}

// ExperimentPhase is a one-word summary of an Experiment's state.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Suspended
type ExperimentPhase string

const (
	// ExperimentPending means no trial has been created yet.
	ExperimentPending ExperimentPhase = "Pending"
	// ExperimentRunning means trials are being created or are running.
	ExperimentRunning ExperimentPhase = "Running"
	// ExperimentSucceeded means every trial ended and failures stayed within
	// maxFailedTrials.
	ExperimentSucceeded ExperimentPhase = "Succeeded"
	// ExperimentFailed means more than maxFailedTrials trials failed, or
	// the search space or the trials' Job cannot be run. Every failure has
	// the same shape: conditions Failed=True and Succeeded=False with the
	// same reason, and completionTime once no trial runs.
	ExperimentFailed ExperimentPhase = "Failed"
	// ExperimentSuspended means spec.suspend is set; no new trials start.
	ExperimentSuspended ExperimentPhase = "Suspended"
)

// Experiment condition types and their reasons.
const (
	// ExperimentSucceededCondition surfaces when every trial has ended and
	// failures stayed within maxFailedTrials.
	ExperimentSucceededCondition = "Succeeded"
	// ReasonAllTrialsEnded: every trial of the search space ran to an end.
	ReasonAllTrialsEnded = "AllTrialsEnded"
	// ReasonTrialsRemaining: trials are still to run or running.
	ReasonTrialsRemaining = "TrialsRemaining"

	// ExperimentFailedCondition surfaces when more than maxFailedTrials
	// trials failed, or the search space or the trials' Job cannot be run.
	// When it is True, Succeeded is False with the same reason.
	ExperimentFailedCondition = "Failed"
	// ReasonMaxFailedTrialsExceeded: more trials failed than allowed.
	ReasonMaxFailedTrialsExceeded = "MaxFailedTrialsExceeded"
	// ReasonInvalidSearchSpace: the search space cannot be enumerated (an
	// object written before validation existed, or a name collision).
	ReasonInvalidSearchSpace = "InvalidSearchSpace"
	// ReasonInvalidTemplate: the API server refused a server-side dry run
	// of the first trial's Job (an invalid Pod template, or one an
	// admission policy forbids); the message has its words. No Trial was
	// created.
	ReasonInvalidTemplate = "InvalidTemplate"
	// ReasonReproductionPinsDiffer: a reproduction's inputs (command,
	// args, env, resources, podTemplate, dataset, source) are not the ones
	// its spec.reproduces.inputsDigest records. No Trial was created.
	ReasonReproductionPinsDiffer = "ReproductionPinsDiffer"
	// ReasonWithinFailureBudget: failures are within maxFailedTrials.
	ReasonWithinFailureBudget = "WithinFailureBudget"

	// ExperimentTemplateValidCondition surfaces once the first trial's Job
	// was dry-run on the API server, before any Trial is created: once per
	// generation, so a restarted operator does not repeat it. Its
	// observedGeneration is the generation checked.
	ExperimentTemplateValidCondition = "TemplateValid"
	// ReasonDryRunAccepted: the API server accepted the dry run.
	ReasonDryRunAccepted = "DryRunAccepted"
	// ReasonInvalidTemplate (above) when it refused it.

	// ExperimentDatasetVerifiedCondition surfaces on an Experiment with a
	// dataset: Unknown while its verifier Job runs, True when the digest
	// it found is spec.dataset.digest (the message has the digest, the
	// transition time says when), False when it differs, when the verifier
	// could not hash the dataset, or when spec.dataset.verify is Never. No
	// trial starts before it is True, or False for Never.
	ExperimentDatasetVerifiedCondition = "DatasetVerified"
	// ReasonVerifying: the verifier Job is hashing the dataset.
	ReasonVerifying = "Verifying"
	// ReasonDigestMatched: the dataset as mounted has the pinned digest.
	ReasonDigestMatched = "DigestMatched"
	// ReasonDatasetDigestMismatch: the dataset as mounted has another
	// digest than the pinned one; the message names both. The Experiment
	// fails with the same reason and no trial runs.
	ReasonDatasetDigestMismatch = "DatasetDigestMismatch"
	// ReasonDatasetVerificationFailed: the verifier could not hash the
	// dataset (a special file, a symlink out of the tree, an unreadable
	// file, a Pod that failed or ran past its deadline); the message has
	// its words. The Experiment fails with the same reason.
	ReasonDatasetVerificationFailed = "DatasetVerificationFailed"
	// ReasonVerificationDisabled: spec.dataset.verify is Never.
	ReasonVerificationDisabled = "VerificationDisabled"

	// ExperimentSuspendedCondition surfaces while spec.suspend is set.
	ExperimentSuspendedCondition = "Suspended"
	// ReasonSuspendedBySpec: spec.suspend is true.
	ReasonSuspendedBySpec = "SuspendedBySpec"
	// ReasonResumed: spec.suspend was cleared.
	ReasonResumed = "Resumed"
	// ReasonNotSuspended: spec.suspend is false and never was set.
	ReasonNotSuspended = "NotSuspended"

	// ExperimentCollectedCondition surfaces once retention has something to
	// collect: True when the ended Experiment's retention policy has been
	// applied, False while it waits or cannot reach the store.
	ExperimentCollectedCondition = "Collected"
	// ReasonRetentionApplied: what the policy does not keep was deleted.
	ReasonRetentionApplied = "RetentionApplied"
	// ReasonWaitingForTTL: artifacts are deleted once their TTL passed.
	ReasonWaitingForTTL = "WaitingForTTL"
	// ReasonStoreError: the artifact store could not be reached, or refused
	// a request; collection is retried with backoff (for a deleted
	// Experiment, until ReasonArtifactsAbandoned).
	ReasonStoreError = "StoreError"
	// ReasonDeletingArtifacts: the Experiment is being deleted and its
	// artifacts are deleted first.
	ReasonDeletingArtifacts = "DeletingArtifacts"
	// ReasonArtifactsAbandoned: the Experiment is being deleted, and its
	// artifacts could still not be deleted when the operator's
	// --artifact-deletion-timeout had passed since the deletion (the
	// credentials Secret, the bucket or the permission to delete is gone):
	// they are left in the store and the Experiment goes.
	ReasonArtifactsAbandoned = "ArtifactsAbandoned"
)

// ArtifactsFinalizer holds a deleted Experiment until its artifacts are
// deleted from the store (retention.artifacts.onDeletion: Delete), or
// until the operator's --artifact-deletion-timeout has passed since the
// deletion.
const ArtifactsFinalizer = "crucible.dev/artifacts"

// TrialCounts counts an Experiment's trials.
type TrialCounts struct {
	// total is how many trials the search space has: grid points times
	// seed replicas, or search.maxTrials.
	// +optional
	Total int32 `json:"total"`
	// created is how many Trials exist.
	// +optional
	Created int32 `json:"created"`
	// active is how many Trials have not ended.
	// +optional
	Active int32 `json:"active"`
	// succeeded is how many Trials succeeded.
	// +optional
	Succeeded int32 `json:"succeeded"`
	// failed is how many Trials failed.
	// +optional
	Failed int32 `json:"failed"`
	// stopped is how many Trials the early-stopping rule stopped; they
	// are not failures.
	// +optional
	Stopped int32 `json:"stopped,omitempty"`
	// repeated is how many suggestions of Random, Sobol or TPE repeated a
	// point an earlier trial ran: they count against maxTrials, with that
	// trial's outcome, and have no Trial of their own.
	// +optional
	Repeated int32 `json:"repeated,omitempty"`
}

// BestTrial is the trial with the best objective so far.
type BestTrial struct {
	// name of the Trial.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// index of the Trial in the search space.
	// +required
	Index int64 `json:"index"`
	// parameters of the Trial.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Parameters []ParameterAssignment `json:"parameters,omitempty"`
	// seed of the Trial.
	// +required
	Seed int64 `json:"seed"`
	// objective is the Trial's objective value, a decimal string.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Objective string `json:"objective"`
}

// ExperimentStatus is the observed state of an Experiment. Everything but
// startTime and completionTime is recomputed from the Trials on every pass.
type ExperimentStatus struct {
	// phase is a one-word summary: Pending, Running, Succeeded, Failed or
	// Suspended.
	// +optional
	Phase ExperimentPhase `json:"phase,omitempty"`

	// observedGeneration is the spec generation the status was computed
	// from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Succeeded, Failed, Suspended, Collected, TemplateValid,
	// DatasetVerified, and for GitOps tools (kstatus) Reconciling while it
	// runs or Stalled once it failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// trials counts the Experiment's trials.
	// +optional
	Trials TrialCounts `json:"trials,omitzero"`

	// bestTrial is the succeeded trial with the best objective; ties go to
	// the lower index.
	// +optional
	BestTrial *BestTrial `json:"bestTrial,omitempty"`

	// startTime is when the first trial was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the Experiment ended and no trial was active.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// specDigest is "sha256:<hex>" over every pinned input: the
	// Experiment's fingerprint. Two Experiments with the same digest ran the
	// same code on the same data with the same search space and seeds.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	SpecDigest string `json:"specDigest,omitempty"`

	// retention is what the retention policy has collected since the
	// Experiment ended.
	// +optional
	Retention *RetentionStatus `json:"retention,omitempty"`

	// reproduction is the verdict of a reproduction (spec.reproduces),
	// written when it ended.
	// +optional
	Reproduction *ReproductionStatus `json:"reproduction,omitempty"`
}

// RetentionStatus is what retention collected.
type RetentionStatus struct {
	// appliedPolicy is the policy last applied, so that a changed policy
	// counts only what it collects in addition.
	// +optional
	AppliedPolicy *RetentionSpec `json:"appliedPolicy,omitempty"`

	// appliedTime is when it was last applied.
	// +optional
	AppliedTime *metav1.Time `json:"appliedTime,omitempty"`

	// trialsDeleted is how many Trials retention deleted.
	// +optional
	TrialsDeleted int32 `json:"trialsDeleted,omitempty"`

	// artifactsDeleted is whose artifacts retention deleted, and what they
	// held.
	// +optional
	ArtifactsDeleted ArtifactCounts `json:"artifactsDeleted,omitzero"`
}

// ArtifactCounts counts the artifacts of some trials.
type ArtifactCounts struct {
	// trials is how many trials' artifacts.
	// +optional
	Trials int32 `json:"trials,omitempty"`
	// objects is how many objects they were.
	// +optional
	Objects int64 `json:"objects,omitempty"`
	// bytes is their total size.
	// +optional
	Bytes int64 `json:"bytes,omitempty"`
}

// Experiment is a reproducible hyperparameter sweep: an image, a dataset, a
// search space and seeds, all pinned, run as one Trial per point and seed.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exp,categories=crucible
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Succeeded",type=integer,JSONPath=`.status.trials.succeeded`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.trials.failed`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.trials.total`
// +kubebuilder:printcolumn:name="Best",type=string,JSONPath=`.status.bestTrial.objective`
// +kubebuilder:printcolumn:name="Reproduction",type=string,JSONPath=`.status.reproduction.verdict`
// +kubebuilder:printcolumn:name="Best Trial",type=string,JSONPath=`.status.bestTrial.name`,priority=1
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=`.status.specDigest`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 50",message="metadata.name must be at most 50 characters: Trial and Job names add a 13-character suffix and must fit in 63"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label (lowercase letters, digits and '-'): it names Jobs and Pods"
type Experiment struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the pinned description of the sweep.
	// +required
	Spec ExperimentSpec `json:"spec"`

	// status is the observed state, written only by the operator.
	// +optional
	Status ExperimentStatus `json:"status,omitzero"`
}

// ExperimentList is a list of Experiments.
//
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Experiment `json:"items"`
}
