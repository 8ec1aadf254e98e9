package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Model limits.
const (
	// MaxModelNameLength is the longest Model name: its versions are named
	// "<model>-v<N>", N up to 10 digits, and must fit in 63 characters.
	MaxModelNameLength = 50

	// MaxAliasHistory is how many alias moves a Model's status keeps.
	MaxAliasHistory = 50
)

// ModelLabel is set on every ModelVersion to its Model's name:
// `kubectl get modelversions -l crucible.dev/model=resnet`.
const ModelLabel = "crucible.dev/model"

// ModelArtifactsFinalizer holds a deleted ModelVersion until the model's
// copy of its artifacts is deleted from the store, or until the operator's
// --artifact-deletion-timeout has passed since the deletion.
const ModelArtifactsFinalizer = "crucible.dev/model-artifacts"

// ModelSpec names a model and points its aliases at versions.
type ModelSpec struct {
	// description says what the model is for.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// aliases maps an alias ("champion", "staging") to a version number of
	// the model. It is the one mutable part of a model's record: pointing
	// an alias at an older version is the rollback, an ordinary edit or
	// kubectl apply. An alias may name a version that does not exist yet;
	// status says it does not resolve.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 63 && k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))",message="an alias is a DNS label: lowercase letters, digits and '-', at most 63 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k] >= 1)",message="an alias points at a version number, 1 or more"
	Aliases map[string]int32 `json:"aliases,omitempty"`
}

// ResolvedAlias is where an alias points.
type ResolvedAlias struct {
	// version is the version number the alias points at.
	// +required
	Version int32 `json:"version"`

	// modelVersion is the name of that ModelVersion.
	// +required
	// +kubebuilder:validation:MaxLength=63
	ModelVersion string `json:"modelVersion"`

	// ready says whether that version exists and its artifacts were copied
	// and verified.
	// +required
	Ready bool `json:"ready"`

	// uri is where the version's artifacts are: the model's own copy
	// (s3://<bucket>/<prefix>/<namespace>/models/<model>/v<N>/), or the
	// trial's URI for a version without a store. It is what a serving
	// system takes (KServe's storageUri).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	URI string `json:"uri,omitempty"`

	// manifestDigest is the digest of the artifacts at uri.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	ManifestDigest string `json:"manifestDigest,omitempty"`

	// objective is the version's objective value, a decimal string.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Objective string `json:"objective,omitempty"`
}

// AliasMove is one change of where an alias points.
type AliasMove struct {
	// alias that moved.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Alias string `json:"alias"`

	// from is the version it pointed at before; 0 when it is new.
	// +optional
	From int32 `json:"from,omitempty"`

	// to is the version it points at now; 0 when it was removed.
	// +optional
	To int32 `json:"to,omitempty"`

	// manager is the field manager that wrote the change, as the API
	// server recorded it in managedFields (kubectl, kubectl-crucible, an
	// Argo CD or Flux controller); empty when it could not be told.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Manager string `json:"manager,omitempty"`

	// time is when the operator saw the change.
	// +required
	Time metav1.Time `json:"time"`
}

// Model condition types and reasons.
const (
	// ModelReadyCondition is True when every alias resolves to a Ready
	// version: what a GitOps tool's health check reads.
	ModelReadyCondition = "Ready"
	// ReasonAliasesResolved: every alias points at a Ready version.
	ReasonAliasesResolved = "AliasesResolved"
	// ReasonAliasUnresolved: an alias names a version that does not
	// exist, or is not Ready; the message names them. Also the reason of
	// Stalled when one of them will not be Ready until someone acts: it
	// does not exist, is being deleted, or Failed.
	ReasonAliasUnresolved = "AliasUnresolved"
	// ReasonVersionNotReady: the reason of Reconciling while an alias
	// names a version whose copy is under way, and none names one that
	// cannot resolve; the message names them.
	ReasonVersionNotReady = "VersionNotReady"
)

// ModelStatus is the observed state of a Model.
type ModelStatus struct {
	// observedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// latestVersion is the highest version number the model has had,
	// kept when that version is deleted: promotion never reuses a number.
	// +optional
	LatestVersion int32 `json:"latestVersion,omitempty"`

	// versions is how many versions the model has.
	// +optional
	Versions int32 `json:"versions,omitempty"`

	// aliases resolves every alias of the spec.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Aliases map[string]ResolvedAlias `json:"aliases,omitempty"`

	// history lists the latest alias moves, oldest first, at most 50.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	History []AliasMove `json:"history,omitempty"`
}

// Model is a named model with versions (ModelVersions) and aliases that
// point at them: "resnet v3 is the champion, and v2 was before it".
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mdl,categories=crucible
// +kubebuilder:printcolumn:name="Latest",type=integer,JSONPath=`.status.latestVersion`
// +kubebuilder:printcolumn:name="Champion",type=integer,JSONPath=`.status.aliases.champion.version`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Aliases",type=string,JSONPath=`.spec.aliases`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 50",message="metadata.name must be at most 50 characters: version names add -v<N>"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label"
type Model struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the model's description and aliases.
	// +optional
	Spec ModelSpec `json:"spec,omitzero"`

	// status is the observed state, written only by the operator.
	// +optional
	Status ModelStatus `json:"status,omitzero"`
}

// ModelList is a list of Models.
//
// +kubebuilder:object:root=true
type ModelList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Model `json:"items"`
}

// ModelVersionSource is the trial a version was promoted from.
type ModelVersionSource struct {
	// experiment is the name of the trial's Experiment.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Experiment string `json:"experiment"`

	// trial is the name of the Trial.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Trial string `json:"trial"`

	// trialUID is the UID of the Trial.
	// +required
	// +kubebuilder:validation:MaxLength=36
	TrialUID string `json:"trialUID"`

	// specDigest is the Experiment's specDigest.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	SpecDigest string `json:"specDigest,omitempty"`
}

// ModelVersionArtifacts are where a version's artifacts are and their
// manifest digest.
type ModelVersionArtifacts struct {
	// uri: s3://<bucket>/<prefix>/ or pvc://<claim>/<path>/.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	URI string `json:"uri"`

	// manifestDigest is the artifact manifest's digest (see the Trial's
	// status.artifacts.manifestDigest); empty when unknown.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	ManifestDigest string `json:"manifestDigest,omitempty"`

	// objects is how many objects.
	// +optional
	Objects *int64 `json:"objects,omitempty"`

	// bytes is their total size.
	// +optional
	Bytes *int64 `json:"bytes,omitempty"`
}

// ModelVersionSpec is the immutable record of one version of a model: the
// trial it came from with everything that decided it, and its artifacts.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a ModelVersion's spec is immutable: promote again for a new version"
type ModelVersionSpec struct {
	// model is the name of the Model.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=50
	Model string `json:"model"`

	// version is the version number, 1 or more.
	// +required
	// +kubebuilder:validation:Minimum=1
	Version int32 `json:"version"`

	// source is the trial the version was promoted from.
	// +required
	Source ModelVersionSource `json:"source"`

	// parameters are the trial's parameters.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Parameters []ParameterAssignment `json:"parameters,omitempty"`

	// seed is the trial's seed.
	// +optional
	Seed int64 `json:"seed,omitempty"`

	// objective is the trial's objective value, a decimal string, and its
	// metric's name.
	// +optional
	Objective ModelObjective `json:"objective,omitzero"`

	// metrics are the trial's final metrics.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Metrics map[string]string `json:"metrics,omitempty"`

	// image is the trial's image, pinned by digest.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// datasetDigest is the trial's dataset digest, empty without one.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	DatasetDigest string `json:"datasetDigest,omitempty"`

	// provenanceDigest is the digest of the trial's provenance record,
	// empty when it has none.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	ProvenanceDigest string `json:"provenanceDigest,omitempty"`

	// artifacts are the trial's own artifacts, as the trial recorded them:
	// what is copied.
	// +optional
	Artifacts *ModelVersionArtifacts `json:"artifacts,omitempty"`

	// store is the s3 store of the trial's artifacts (its Experiment's
	// spec.artifacts.s3), where the model's copy is made under
	// <prefix>/<namespace>/models/<model>/v<N>/. Without it the version
	// records the trial's URI only, and says so.
	// +optional
	Store *S3ArtifactStore `json:"store,omitempty"`
}

// ModelObjective is a version's objective.
type ModelObjective struct {
	// metric is the objective's metric name.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Metric string `json:"metric,omitempty"`

	// value is its value, a decimal string.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Value string `json:"value,omitempty"`
}

// ModelVersionPhase is a one-word summary of a version.
// +kubebuilder:validation:Enum=Pending;Ready;Failed
type ModelVersionPhase string

// ModelVersion phases.
const (
	// ModelVersionPending means its artifacts are being copied.
	ModelVersionPending ModelVersionPhase = "Pending"
	// ModelVersionReady means its artifacts were copied and their digest
	// verified, or it has no store and records the trial's URI.
	ModelVersionReady ModelVersionPhase = "Ready"
	// ModelVersionFailed means the copy's digest is not the trial's, or the
	// trial's artifacts are gone.
	ModelVersionFailed ModelVersionPhase = "Failed"
)

// ModelVersion condition types and reasons.
const (
	// ModelVersionReadyCondition is True once the model's copy of the
	// artifacts is verified (or copied, when the trial recorded no digest
	// to verify it against, or there is no store).
	ModelVersionReadyCondition = "Ready"
	// ReasonCopying: the artifacts are being copied.
	ReasonCopying = "Copying"
	// ReasonVerified: the copy's manifest digest is the trial's.
	ReasonVerified = "Verified"
	// ReasonNoStore: the version has no s3 store; it records the trial's
	// URI only, which the Experiment's retention may delete.
	ReasonNoStore = "NoStore"
	// ReasonDigestMismatch: the copy's manifest digest is not the one the
	// trial recorded; the message names both.
	ReasonDigestMismatch = "DigestMismatch"
	// ReasonSourceMissing: the trial's artifacts are not in the store.
	ReasonSourceMissing = "SourceMissing"
	// ReasonUnverified: the artifacts were copied, but the trial recorded
	// no manifest digest to compare the copy with (Ready is True);
	// status.artifacts.manifestDigest is the copy's own.
	ReasonUnverified = "Unverified"
	// ReasonInvalidSource: spec.artifacts cannot be copied from spec.store:
	// there are none, or their URI is not an s3://<bucket>/<prefix>/ of
	// the store's bucket. The message says which.
	ReasonInvalidSource = "InvalidSource"
	// A version also takes ReasonStoreError (Ready False, phase unchanged:
	// the store cannot be reached or refuses; retried with backoff) and
	// ReasonArtifactsTooMany (Failed: more objects than the operator's
	// --artifact-max-objects-per-trial).
)

// ModelVersionStatus is the observed state of a ModelVersion.
type ModelVersionStatus struct {
	// phase is Pending, Ready or Failed.
	// +optional
	Phase ModelVersionPhase `json:"phase,omitempty"`

	// conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// artifacts is the model's copy: its URI, manifest digest (recomputed
	// from the store), objects and bytes.
	// +optional
	Artifacts *ModelVersionArtifacts `json:"artifacts,omitempty"`
}

// The name rule formats the version rather than concatenating
// string(self.spec.version): the API server estimates the cost of that
// conversion as unbounded and refused the whole CRD (over budget by more
// than 100x).
// +kubebuilder:validation:XValidation:rule="self.metadata.name == '%s-v%d'.format([self.spec.model, self.spec.version])",message="a ModelVersion is named <model>-v<version>"

// ModelVersion is one immutable version of a Model, promoted from a trial:
// its pins, metrics and provenance digest, and a copy of its artifacts
// that the Experiment's retention never deletes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mv,categories=crucible
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.spec.model`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Objective",type=string,JSONPath=`.spec.objective.value`
// +kubebuilder:printcolumn:name="Trial",type=string,JSONPath=`.spec.source.trial`,priority=1
// +kubebuilder:printcolumn:name="URI",type=string,JSONPath=`.status.artifacts.uri`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ModelVersion struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the immutable record of the version.
	// +required
	Spec ModelVersionSpec `json:"spec"`

	// status is the observed state, written only by the operator.
	// +optional
	Status ModelVersionStatus `json:"status,omitzero"`
}

// ModelVersionList is a list of ModelVersions.
//
// +kubebuilder:object:root=true
type ModelVersionList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []ModelVersion `json:"items"`
}
