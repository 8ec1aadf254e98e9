package jobspec

import (
	"crypto/sha256"
	"encoding/hex"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// The verifier's container, where it sees the dataset, and how it reports.
const (
	// VerifierContainerName names the container that hashes the dataset;
	// its termination message carries the digest it found.
	VerifierContainerName = "verifier"
	// VerifierDatasetPath is where the verifier sees the dataset, read-only.
	VerifierDatasetPath = "/dataset"
	// VerifierExitUnhashable is the verifier's exit code for a dataset that
	// cannot be hashed (a special file, a symlink out of the tree, an
	// unreadable file): running it again cannot help, so it fails the Job
	// at once. Other failures are retried up to verifierBackoffLimit.
	VerifierExitUnhashable = 2
)

// verifierBackoffLimit is how many times a verifier Pod that failed for
// another reason than the dataset (a node lost, an OOM kill) is replaced.
const verifierBackoffLimit = 2

// Verifier configures the dataset verifier Job.
type Verifier struct {
	// Image is the operator's own image, which carries the verifier.
	Image string
	// Command runs the verifier from Image: it is given the dataset's
	// directory as its last argument, computes its digest and reports it in
	// its termination message.
	Command []string
	// Deadline bounds the Job's run (activeDeadlineSeconds).
	Deadline metav1.Duration
}

// DefaultVerifierCommand runs the manager binary's verifier entry point.
var DefaultVerifierCommand = []string{"/manager", "dataset", "verify"}

// Bounded resources: hashing streams each file through a fixed buffer per
// worker, so memory does not grow with the dataset; two cores hash at about
// 1.5 GB/s (make bench-digest).
var verifierResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("250m"),
		corev1.ResourceMemory: resource.MustParse("64Mi"),
	},
	Limits: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2"),
		corev1.ResourceMemory: resource.MustParse("256Mi"),
	},
}

// VerifierName is the name of an Experiment's verifier Job:
// "<experiment>-verify-<4 hex digits of its UID's hash>", at most 62
// characters. The UID part keeps a recreated Experiment of the same name
// from taking its predecessor's Job, still being collected, for its own.
func VerifierName(exp *crucible.Experiment) string {
	sum := sha256.Sum256([]byte(exp.UID))
	return exp.Name + "-verify-" + hex.EncodeToString(sum[:2])
}

// NewVerifier builds the Job that checks an Experiment's dataset: one Pod
// of the operator's image that mounts the dataset as the trials will, read
// only, hashes it and reports the digest. It runs with the Pod Security
// "restricted" defaults, a read-only root filesystem, no API credentials
// and bounded resources; of the Experiment's podTemplate it takes only
// what decides whether it can run and read the data where the trials do:
// the Pod's security context (user, groups), node selector, affinity,
// tolerations, service account and image pull secrets. It is a pure
// function: the same Experiment gives the same Job. exp.Spec.Dataset must
// be set.
func NewVerifier(exp *crucible.Experiment, v Verifier) *batchv1.Job {
	ds := exp.Spec.Dataset
	labels := map[string]string{
		crucible.ExperimentLabel:      exp.Name,
		crucible.DatasetVerifierLabel: "true",
	}
	annotations := map[string]string{crucible.DatasetDigestAnnotation: ds.Digest}

	var spec corev1.PodSpec
	if t := exp.Spec.PodTemplate; t != nil {
		ts := t.Spec.DeepCopy()
		spec.SecurityContext = ts.SecurityContext
		spec.NodeSelector = ts.NodeSelector
		spec.Affinity = ts.Affinity
		spec.Tolerations = ts.Tolerations
		spec.ServiceAccountName = ts.ServiceAccountName
		spec.ImagePullSecrets = ts.ImagePullSecrets
	}
	spec.RestartPolicy = corev1.RestartPolicyNever
	spec.AutomountServiceAccountToken = ptr.To(false)
	mount := corev1.VolumeMount{Name: datasetVolumeName, MountPath: VerifierDatasetPath, ReadOnly: true}
	if pvc := ds.Source.PersistentVolumeClaim; pvc != nil {
		mount.SubPath = pvc.SubPath
	}
	spec.Containers = []corev1.Container{{
		Name:                     VerifierContainerName,
		Image:                    v.Image,
		Command:                  append(append([]string(nil), v.Command...), VerifierDatasetPath),
		Resources:                *verifierResources.DeepCopy(),
		VolumeMounts:             []corev1.VolumeMount{mount},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)},
	}}
	spec.Volumes = []corev1.Volume{datasetVolume(ds)}
	restrict(&spec)

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        VerifierName(exp),
			Namespace:   exp.Namespace,
			Labels:      labels,
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(exp, crucible.GroupVersion.WithKind("Experiment")),
			},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:         ptr.To[int32](verifierBackoffLimit),
			Parallelism:          ptr.To[int32](1),
			Completions:          ptr.To[int32](1),
			PodReplacementPolicy: ptr.To(batchv1.Failed),
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{
					Action: batchv1.PodFailurePolicyActionFailJob,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr.To(VerifierContainerName),
						Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
						Values:        []int32{VerifierExitUnhashable},
					},
				},
				{
					Action: batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{
						Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
					}},
				},
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       spec,
			},
		},
	}
	if d := int64(v.Deadline.Seconds()); d > 0 {
		job.Spec.ActiveDeadlineSeconds = ptr.To(d)
	}
	return job
}
