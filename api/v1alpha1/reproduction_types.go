package v1alpha1

// ReproductionSpec makes an Experiment the reproduction of one trial: it
// carries what the original recorded, and the Experiment pins exactly the
// original's inputs: one point (every parameter a single value, the
// original's), one seed (seeds.base the original's seed, replicas 1), the
// same image, dataset, command, args, env, resources, template and source.
// The API refuses a reproduction whose image, dataset digest, seed or point
// differ from the record; the operator fails one whose other pins differ
// from inputsDigest (reason ReproductionPinsDiffer) before any trial runs.
// `kubectl crucible reproduce` writes it from a Trial or a provenance file.
type ReproductionSpec struct {
	// trial is the original trial.
	// +required
	Trial ReproducedTrial `json:"trial"`

	// provenanceDigest is the original's status.provenance.digest, the
	// digest of its provenance record ("sha256:<hex>"); empty when it had
	// none.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	// +kubebuilder:validation:XValidation:rule="self.matches('^sha256:[a-f0-9]{64}$')",message="provenanceDigest must be sha256:<64 lowercase hex digits>"
	ProvenanceDigest string `json:"provenanceDigest,omitempty"`

	// inputsDigest is "sha256:<hex>" over every input the original trial
	// ran with: the image, command, args, env, resources, podTemplate,
	// dataset and source of its Experiment, its parameters and its seed
	// (specdigest.TrialInputs; README, "Reproducing a result").
	// +required
	// +kubebuilder:validation:MaxLength=71
	// +kubebuilder:validation:XValidation:rule="self.matches('^sha256:[a-f0-9]{64}$')",message="inputsDigest must be sha256:<64 lowercase hex digits>"
	InputsDigest string `json:"inputsDigest"`

	// image is the original's image; spec.image must be it.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// datasetDigest is the original's dataset digest, empty when it had no
	// dataset; spec.dataset.digest must be it.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	DatasetDigest string `json:"datasetDigest,omitempty"`

	// seed is the original's seed; spec.seeds.base must be it, with one
	// replica.
	// +required
	// +kubebuilder:validation:Minimum=0
	Seed int64 `json:"seed"`

	// parameters is the original's point; spec.parameters must give each
	// of them this one value, and no other parameter.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Parameters []ParameterAssignment `json:"parameters,omitempty"`

	// metrics are the original's final metrics, as decimal strings: what
	// the reproduction's are compared with.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=64
	Metrics map[string]string `json:"metrics"`

	// manifestDigest is the original's artifacts' manifest digest, empty
	// when it had none: status.reproduction says whether the
	// reproduction's is the same.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	ManifestDigest string `json:"manifestDigest,omitempty"`

	// tolerances allow a metric to differ by a bounded amount. A metric
	// without one must be equal.
	// +optional
	// +listType=map
	// +listMapKey=metric
	// +kubebuilder:validation:MaxItems=64
	Tolerances []MetricTolerance `json:"tolerances,omitempty"`
}

// ReproducedTrial names the original trial.
type ReproducedTrial struct {
	// namespace of the original Trial.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// experiment is the name of the original's Experiment.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Experiment string `json:"experiment"`

	// name of the original Trial.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// uid of the original Trial.
	// +required
	// +kubebuilder:validation:MaxLength=36
	UID string `json:"uid"`
}

// MetricTolerance bounds how far a reproduced metric may be from the
// original: it is within tolerance when |reproduced - original| is at most
// absolute, or at most relative times |original|.
// +kubebuilder:validation:XValidation:rule="has(self.absolute) || has(self.relative)",message="a tolerance needs absolute or relative"
type MetricTolerance struct {
	// metric is the name of the metric.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Metric string `json:"metric"`

	// absolute is the largest difference allowed, a non-negative decimal.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`
	Absolute string `json:"absolute,omitempty"`

	// relative is the largest difference allowed as a fraction of the
	// original's magnitude, a non-negative decimal (0.01 is 1%).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`
	Relative string `json:"relative,omitempty"`
}

// ReproductionVerdict says how a reproduction came out.
// +kubebuilder:validation:Enum=Identical;WithinTolerance;Differs;NotComparable
type ReproductionVerdict string

const (
	// VerdictIdentical means every metric of the original is equal in the
	// reproduction.
	VerdictIdentical ReproductionVerdict = "Identical"
	// VerdictWithinTolerance means every metric is equal or within its
	// tolerance, and at least one is not equal.
	VerdictWithinTolerance ReproductionVerdict = "WithinTolerance"
	// VerdictDiffers means at least one metric is missing or beyond its
	// tolerance; the message names each, with both values and the
	// difference.
	VerdictDiffers ReproductionVerdict = "Differs"
	// VerdictNotComparable means the reproduction did not run to a result (its
	// trial failed, its dataset or pins did not match); reason says why.
	VerdictNotComparable ReproductionVerdict = "NotComparable"
)

// MetricOutcome is how one metric compared.
// +kubebuilder:validation:Enum=Equal;WithinTolerance;Differs;Missing
type MetricOutcome string

const (
	// MetricEqual means the same number.
	MetricEqual MetricOutcome = "Equal"
	// MetricWithinTolerance means another number, within the metric's tolerance.
	MetricWithinTolerance MetricOutcome = "WithinTolerance"
	// MetricDiffers means another number, beyond the tolerance (or none given).
	MetricDiffers MetricOutcome = "Differs"
	// MetricMissing means the reproduction did not report it.
	MetricMissing MetricOutcome = "Missing"
)

// ReproductionStatus is the verdict on a reproduction, written once when
// it ended.
type ReproductionStatus struct {
	// verdict: Identical, WithinTolerance, Differs or NotComparable.
	// +required
	Verdict ReproductionVerdict `json:"verdict"`

	// reason is why a reproduction is NotComparable, CamelCase: the
	// trial's failure reason (ExitCode, OOMKilled, ...), or the
	// Experiment's (DatasetDigestMismatch, ReproductionPinsDiffer, ...).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// message says it in a sentence: the metrics that differ with both
	// values and the difference, or why it could not be compared.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message,omitempty"`

	// trial is the reproduction's Trial.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Trial string `json:"trial,omitempty"`

	// metrics is how each of the original's metrics compared.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Metrics []MetricComparison `json:"metrics,omitempty"`

	// artifactsMatched says whether the reproduction's artifacts have the
	// original's manifest digest; absent when either has none.
	// +optional
	ArtifactsMatched *bool `json:"artifactsMatched,omitempty"`
}

// MetricComparison is one metric of the original beside the reproduction's.
type MetricComparison struct {
	// name of the metric.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`

	// original is the original's value.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Original string `json:"original"`

	// reproduced is the reproduction's value; empty when it reported none.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reproduced string `json:"reproduced,omitempty"`

	// difference is reproduced - original, a decimal; empty when either
	// is not a number.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Difference string `json:"difference,omitempty"`

	// outcome: Equal, WithinTolerance, Differs or Missing.
	// +required
	Outcome MetricOutcome `json:"outcome"`
}
