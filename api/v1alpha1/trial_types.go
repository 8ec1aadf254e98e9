package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ParameterAssignment is the value one parameter takes in one trial.
type ParameterAssignment struct {
	// name of the parameter.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// value of the parameter, as the trial sees it in CRUCIBLE_PARAM_<NAME>.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Value string `json:"value"`
}

// TrialSpec is the frozen record of one run: what it ran, on what, with
// which parameters and seed. It never changes after creation: the
// ValidatingAdmissionPolicy crucible-trial-record (config/policy) refuses
// any update of it.
type TrialSpec struct {
	// index of the trial in its Experiment's search space: replica times
	// the number of grid points plus the point's index, so the first pass
	// over the grid runs every point with the base seed.
	// +required
	// +kubebuilder:validation:Minimum=0
	Index int64 `json:"index"`

	// An atomic list, not a list map keyed by name: the operator writes it
	// once, whole, and a list map cost the API server about 0.2 ms more CPU
	// on every write of the Trial, status writes included
	// (docs/benchmarks.md, write cost).

	// parameters is the assignment of every parameter, in the order of the
	// Experiment's search space.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Parameters []ParameterAssignment `json:"parameters,omitempty"`

	// assignment is the parameters as one line, "lr=0.01 depth=4", for
	// `kubectl get trials`; cut with "..." past 256 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Assignment string `json:"assignment,omitempty"`

	// seed the trial runs with (CRUCIBLE_SEED).
	// +required
	// +kubebuilder:validation:Minimum=0
	Seed int64 `json:"seed"`

	// replica is which of the point's seed replicas this trial is.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replica int32 `json:"replica,omitempty"`

	// image is the trainer image, pinned by digest.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// datasetDigest is the content digest of the dataset, when there is one.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	DatasetDigest string `json:"datasetDigest,omitempty"`

	// experimentDigest is the specDigest of the Experiment that made this
	// trial: the fingerprint of every pinned input.
	// +required
	// +kubebuilder:validation:MaxLength=71
	ExperimentDigest string `json:"experimentDigest"`
}

// TrialPhase is a one-word summary of a Trial's state.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Stopped
type TrialPhase string

const (
	// TrialPending means the Job's Pod cannot start, 15 s after the Job was
	// created, for a reason the user may have to act on; status.reason
	// and status.message say which: Unschedulable, an image that cannot be
	// pulled (ErrImagePull, ImagePullBackOff), a container that cannot be
	// created (CreateContainerConfigError), Queued (the Experiment's
	// queueName: Kueue has not admitted the Job yet, or preempted it), or
	// Suspended (a Job held by a queue the Experiment does not name). The
	// first reason seen is kept until the trainer runs. A Trial whose Pod
	// merely waits its turn has no phase until it runs.
	TrialPending TrialPhase = "Pending"
	// TrialRunning means the Pod is running.
	TrialRunning TrialPhase = "Running"
	// TrialSucceeded means the run exited 0 and reported the objective metric.
	TrialSucceeded TrialPhase = "Succeeded"
	// TrialFailed means the run failed; reason and message say why.
	TrialFailed TrialPhase = "Failed"
	// TrialStopped means the Experiment's early-stopping rule stopped the
	// run (reason EarlyStopped, the step and the rule's numbers in the
	// message): its last step metrics are its metrics. It is no failure.
	TrialStopped TrialPhase = "Stopped"
)

// Trial condition types and reasons. A failed Trial's status.reason is one
// of the failure reasons below.
const (
	// TrialSucceededCondition surfaces when the run ended: True if it
	// succeeded, False with a failure reason if it failed.
	TrialSucceededCondition = "Succeeded"

	// ReasonMetricsRecorded: the run exited 0 and its metrics were read.
	ReasonMetricsRecorded = "MetricsRecorded"
	// ReasonMetricsMissing: the run exited 0 but reported no objective
	// metric, or no termination message at all.
	ReasonMetricsMissing = "MetricsMissing"
	// ReasonMetricsMalformed: the termination message could not be read as
	// a JSON object of finite numbers.
	ReasonMetricsMalformed = "MetricsMalformed"
	// ReasonExitCode: the trainer exited with a non-zero code.
	ReasonExitCode = "ExitCode"
	// ReasonOOMKilled: the trainer was killed for exceeding its memory limit.
	ReasonOOMKilled = "OOMKilled"
	// ReasonDeadlineExceeded: the Job ran past its activeDeadlineSeconds.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonPodFailed: the Job failed for another reason (eviction, a
	// failed sidecar, a Pod deleted); the message has the details.
	ReasonPodFailed = "PodFailed"
	// ReasonJobMissing: the Trial's Job disappeared before the run ended.
	// The trial is not run again: a second Job could run the point twice.
	ReasonJobMissing = "JobMissing"
	// ReasonJobRejected: the API server refused to create the Trial's Job
	// (an invalid or forbidden Pod template); the message has its words.
	ReasonJobRejected = "JobRejected"
	// ReasonArtifactsTooMany: the run wrote more objects than the operator
	// lists for one trial (its --artifact-max-objects-per-trial flag).
	ReasonArtifactsTooMany = "ArtifactsTooMany"
	// ReasonArtifactsMissing: the run exited 0 but wrote no artifact, and
	// the Experiment's artifacts are required.
	ReasonArtifactsMissing = "ArtifactsMissing"

	// ReasonFailedCreate: while Pending, the Job controller cannot create
	// the trial's Pod (a ResourceQuota, Pod Security admission); the
	// message has the Job controller's words.
	ReasonFailedCreate = "FailedCreate"
	// ReasonEarlyStopped: the Experiment's early-stopping rule stopped the
	// trial; phase Stopped.
	ReasonEarlyStopped = "EarlyStopped"

	// ReasonQueued: while Pending, the trial's Job waits for Kueue to admit
	// it from the Experiment's queueName, at first or again after a
	// preemption; the message says which.
	ReasonQueued = "Queued"

	// QueueNameLabel is the label Kueue admits a Job by: the name of a
	// LocalQueue in the Job's namespace.
	QueueNameLabel = "kueue.x-k8s.io/queue-name"

	// TrialArtifactsRecordedCondition surfaces when the run ended but what
	// it wrote could not be listed yet (reason StoreError, the message says
	// why). The Trial ends once the listing succeeds.
	TrialArtifactsRecordedCondition = "ArtifactsRecorded"
)

// TrialStatus is the observed state of a Trial.
type TrialStatus struct {
	// phase is Pending, Running, Succeeded, Failed or Stopped.
	// +optional
	Phase TrialPhase `json:"phase,omitempty"`

	// observedGeneration is the spec generation the status was computed
	// from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Succeeded, ArtifactsRecorded, and for GitOps tools
	// (kstatus) Reconciling until it ends or Stalled once it failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// jobName is the name of the Job that runs the trial.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	JobName string `json:"jobName,omitempty"`

	// startTime is when the Job started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the run ended.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// metrics are the final metrics the run reported, as decimal strings.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Metrics map[string]string `json:"metrics,omitempty"`

	// objective is the value of the Experiment's objective metric, a
	// decimal string.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Objective string `json:"objective,omitempty"`

	// reason is why the run failed, CamelCase: MetricsMissing,
	// MetricsMalformed, ExitCode, OOMKilled, DeadlineExceeded, PodFailed,
	// JobMissing, JobRejected, ArtifactsMissing, ArtifactsTooMany; or, while
	// Pending, why the Pod cannot start: Unschedulable, Suspended,
	// FailedCreate, or the container's waiting reason.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// message says in a sentence why the run failed, or why it cannot start.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// artifacts is where the run's artifacts are and, for an s3 store,
	// what it had written when it ended.
	// +optional
	Artifacts *TrialArtifacts `json:"artifacts,omitempty"`

	// attempts is how many times the trainer was started. A Pod evicted or
	// preempted (condition DisruptionTarget) is replaced by its Job with the
	// same seed and does not count as a failure; every start counts here.
	// Recorded with the phase, so it costs no status write of its own but
	// on a disruption.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempts int32 `json:"attempts,omitempty"`

	// stepMetrics is the curve the trainer reported while it ran, to the
	// step metrics endpoint (CRUCIBLE_METRICS_URL): for each metric its
	// latest value and a downsampled history of at most 100 points, for
	// at most 16 metrics (well under 110 KiB). It is written at most every
	// 10 s, whatever the rate of reports.
	// +optional
	StepMetrics *StepMetrics `json:"stepMetrics,omitempty"`

	// provenance records the trial's provenance: an in-toto Statement
	// (SLSA Provenance v1) of its inputs and outputs, written when it
	// ended, signed when the operator has a key.
	// +optional
	Provenance *TrialProvenance `json:"provenance,omitempty"`
}

// StepMetrics is the curve a trainer reported while it ran.
type StepMetrics struct {
	// reports is how many reports were accepted.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Reports int64 `json:"reports,omitempty"`

	// lastStep is the step of the latest report.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LastStep int64 `json:"lastStep,omitempty"`

	// series holds one curve per metric, the Experiment's objective always
	// among them.
	// +optional
	// +listType=map
	// +listMapKey=metric
	// +kubebuilder:validation:MaxItems=16
	Series []StepSeries `json:"series,omitempty"`

	// uri is where the full series was written once the trial ended, with
	// an s3 artifact store: s3://<bucket>/<trial prefix>metrics.jsonl, one
	// of the trial's artifacts. It is JSON Lines, one report per line in
	// the order of their steps:
	// {"step":N,"metrics":{"<name>":<value>,...}}, nothing else, so that
	// the same reports make the same file.
	// +optional
	// +kubebuilder:validation:MaxLength=1100
	URI string `json:"uri,omitempty"`

	// storedReports is how many reports that file holds. It differs from
	// reports when a manager that crashed had written the reports of its
	// last write interval to one and not yet to the other (the curve and
	// the file are each written once per interval), and is fewer when a
	// store kept refusing them. It is not known when the manager stopped
	// between writing the file and recording it.
	// +optional
	StoredReports *int64 `json:"storedReports,omitempty"`
}

// StepSeries is one metric's curve: the first and latest values and, between
// them, those that thinning kept. Which steps are kept depends only on the
// steps reported: the n-th value of a metric is kept while n is a multiple
// of a stride that doubles whenever the curve would exceed 100 points.
type StepSeries struct {
	// metric is the metric's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Metric string `json:"metric"`

	// reports is how many values of the metric were reported.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Reports int64 `json:"reports,omitempty"`

	// points are the kept values, in ascending order of step; the last is
	// the latest.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Points []StepPoint `json:"points,omitempty"`
}

// StepPoint is a metric's value at a step.
type StepPoint struct {
	// step is the step the value was reported at.
	// +required
	// +kubebuilder:validation:Minimum=0
	Step int64 `json:"step"`

	// value is the value, a decimal string.
	// +required
	// +kubebuilder:validation:MaxLength=32
	Value string `json:"value"`
}

// TrialProvenance records where a trial's provenance is and what it says.
type TrialProvenance struct {
	// digest is "sha256:<hex>" of the in-toto Statement's bytes, the DSSE
	// envelope's payload: the same whether the envelope is signed or not.
	// +required
	// +kubebuilder:validation:MaxLength=71
	Digest string `json:"digest"`

	// uri is where its DSSE envelope is stored, one line of JSON, beside
	// the trial's artifacts: s3://<bucket>/<trial's key prefix
	// without its last slash>.provenance.intoto.jsonl. Empty without an s3
	// store: the record is then not kept by the operator.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	URI string `json:"uri,omitempty"`

	// keyID names the ed25519 key that signed it; empty when the operator
	// has no signing key and the envelope is unsigned.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	KeyID string `json:"keyID,omitempty"`
}

// TrialArtifacts records a trial's artifacts.
type TrialArtifacts struct {
	// uri is where the trial wrote, as the trial saw it in
	// CRUCIBLE_ARTIFACT_URI: s3://<bucket>/<key prefix>/ or
	// pvc://<claim>/<path>/.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	URI string `json:"uri"`

	// objects is how many objects the trial wrote (s3 stores).
	// +optional
	Objects *int64 `json:"objects,omitempty"`

	// bytes is their total size (s3 stores).
	// +optional
	Bytes *int64 `json:"bytes,omitempty"`

	// manifestDigest is "sha256:<hex>" over the sorted list of the objects'
	// keys (relative to uri), sizes and ETags, one JSON array
	// [key,size,etag] and a newline per object: equal outputs, equal
	// digest (s3 stores).
	// +optional
	// +kubebuilder:validation:MaxLength=71
	ManifestDigest string `json:"manifestDigest,omitempty"`
}

// Trial is one run of an Experiment: one point of the search space with one
// seed. It is created and owned by its Experiment and runs as one Job.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tr,categories=crucible
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Objective",type=string,JSONPath=`.status.objective`
// +kubebuilder:printcolumn:name="Parameters",type=string,JSONPath=`.spec.assignment`
// +kubebuilder:printcolumn:name="Seed",type=integer,JSONPath=`.spec.seed`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Trial struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the frozen record of the run.
	// +required
	Spec TrialSpec `json:"spec"`

	// status is the observed state, written only by the operator.
	// +optional
	Status TrialStatus `json:"status,omitzero"`
}

// TrialList is a list of Trials.
//
// +kubebuilder:object:root=true
type TrialList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Trial `json:"items"`
}
