package v1alpha1

// Conditions every kind sets in the conventions of kstatus
// (sigs.k8s.io/cli-utils/pkg/kstatus), which Flux's health checks read:
// an object whose status.observedGeneration is its generation is
// InProgress while Reconciling is True, Failed while Stalled is True, and
// Current with neither (a ModelVersion, whose spec never changes, has no
// observedGeneration). Both have kstatus's abnormal-true polarity: present,
// and True, only while they hold, so at most one of them is there. They
// are set in the same computation as the phase, and cost no status write
// of their own. An Experiment has six other conditions at most; its
// status.conditions holds eight.
//
// An object the operator has not written a status for yet has neither, and
// kstatus reads it as Current: a Trial whose Pod waits its turn has no
// status until it runs, is Pending for a reason, or ends.
const (
	// ReconcilingCondition surfaces while the object is on its way to an
	// end: an Experiment or a Trial Pending or Running (reason: the phase;
	// ReasonStoreError for a Trial whose run ended but whose artifacts
	// could not be listed yet), a ModelVersion whose copy is under way
	// (reason: its Ready condition's, Copying or StoreError), a Model with
	// an alias on a version whose copy is under way (ReasonVersionNotReady).
	// A Succeeded or Suspended Experiment, a Succeeded Trial and a Ready
	// ModelVersion or Model have none.
	ReconcilingCondition = "Reconciling"

	// StalledCondition surfaces when the object failed and no pass of the
	// operator will change that: an Experiment, a Trial or a ModelVersion
	// Failed (reason and message: the failure's), a Model with an alias
	// that cannot resolve until someone acts (ReasonAliasUnresolved: no
	// such version, one being deleted, one that Failed).
	StalledCondition = "Stalled"
)
