package trial

import (
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Builders for the objects the tests of this package use, in the style of
// jobset's pkg/util/testing/wrappers.go: makeExperiment("e", ns).Obj().

const (
	testNamespace = "ml"
	testImage     = "registry.example/train@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// testDatasetImage is a digest-pinned OCI artifact holding a dataset.
	testDatasetImage = "registry.example/datasets/cifar10@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	testSidecarImage = "registry.example/log-shipper@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

var testDatasetDigest = "sha256:" + strings.Repeat("ab", 32)

// t0 is when the tests' Jobs start.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ignoreTransitionTime compares conditions without their LastTransitionTime.
var ignoreTransitionTime = cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")

// experimentWrapper builds an Experiment.
type experimentWrapper struct{ crucible.Experiment }

// makeExperiment returns a minimal Experiment minimising val_loss: an image
// and a command, no parameters, no dataset, no podTemplate.
func makeExperiment(name string) *experimentWrapper {
	return &experimentWrapper{crucible.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, UID: types.UID(name + "-uid"), Generation: 1},
		Spec: crucible.ExperimentSpec{
			Image:       testImage,
			Command:     []string{"python", "train.py"},
			Objective:   crucible.ObjectiveSpec{Metric: "val_loss", Goal: crucible.GoalMinimize},
			Parallelism: 1,
			Seeds:       crucible.SeedSpec{Replicas: 1},
			Search:      crucible.SearchSpec{Algorithm: crucible.SearchGrid},
		},
	}}
}

func (w *experimentWrapper) Obj() *crucible.Experiment { return w.DeepCopy() }

func (w *experimentWrapper) UID(uid types.UID) *experimentWrapper {
	w.ObjectMeta.UID = uid
	return w
}

func (w *experimentWrapper) Args(args ...string) *experimentWrapper {
	w.Spec.Args = args
	return w
}

func (w *experimentWrapper) Env(kv ...string) *experimentWrapper {
	for i := 0; i+1 < len(kv); i += 2 {
		w.Spec.Env = append(w.Spec.Env, crucible.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return w
}

func (w *experimentWrapper) Values(name string, values ...string) *experimentWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterSpec{Name: name, Values: values})
	return w
}

func (w *experimentWrapper) Resources(r corev1.ResourceRequirements) *experimentWrapper {
	w.Spec.Resources = &r
	return w
}

func (w *experimentWrapper) PodTemplate(t corev1.PodTemplateSpec) *experimentWrapper {
	w.Spec.PodTemplate = &t
	return w
}

func (w *experimentWrapper) PVCDataset(claim, subPath, mountPath string) *experimentWrapper {
	w.Spec.Dataset = &crucible.DatasetSpec{
		Name: "cifar10", Version: "2024-05-01", Digest: testDatasetDigest, MountPath: mountPath,
		Source: crucible.DatasetSource{PersistentVolumeClaim: &crucible.PVCDatasetSource{ClaimName: claim, SubPath: subPath}},
	}
	return w
}

func (w *experimentWrapper) ImageDataset(reference, mountPath string) *experimentWrapper {
	w.Spec.Dataset = &crucible.DatasetSpec{
		Name: "cifar10", Version: "2024-05-01", Digest: testDatasetDigest, MountPath: mountPath,
		Source: crucible.DatasetSource{Image: &crucible.ImageDatasetSource{Reference: reference}},
	}
	return w
}

// trialWrapper builds a Trial.
type trialWrapper struct{ crucible.Trial }

// makeTrial returns a Trial of exp, controlled by it, at index 0 with seed 0.
func makeTrial(exp *crucible.Experiment, name string) *trialWrapper {
	return &trialWrapper{crucible.Trial{
		ObjectMeta: metav1.ObjectMeta{
			Name:       name,
			Namespace:  exp.Namespace,
			UID:        types.UID(name + "-uid"),
			Generation: 1,
			Labels:     map[string]string{crucible.ExperimentLabel: exp.Name},
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(exp, crucible.GroupVersion.WithKind("Experiment")),
			},
		},
		Spec: crucible.TrialSpec{
			Image:            exp.Spec.Image,
			ExperimentDigest: "sha256:" + strings.Repeat("cd", 32),
		},
	}}
}

func (w *trialWrapper) Obj() *crucible.Trial { return w.DeepCopy() }

func (w *trialWrapper) Index(i int64) *trialWrapper {
	w.Spec.Index = i
	return w
}

func (w *trialWrapper) Seed(s int64) *trialWrapper {
	w.Spec.Seed = s
	return w
}

func (w *trialWrapper) Param(name, value string) *trialWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterAssignment{Name: name, Value: value})
	return w
}

func (w *trialWrapper) Generation(g int64) *trialWrapper {
	w.ObjectMeta.Generation = g
	return w
}

func (w *trialWrapper) Status(s crucible.TrialStatus) *trialWrapper {
	w.Trial.Status = s
	return w
}

// jobWrapper builds the status side of a Job, the way the Job controller
// writes it.
type jobWrapper struct{ batchv1.Job }

// makeJob returns a Job named after trial and controlled by it, started at t0.
func makeJob(trial *crucible.Trial) *jobWrapper {
	return &jobWrapper{batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      trial.Name,
			Namespace: trial.Namespace,
			Labels:    map[string]string{crucible.TrialLabel: trial.Name},
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(trial, crucible.GroupVersion.WithKind("Trial")),
			},
		},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: t0}},
	}}
}

func (w *jobWrapper) Obj() *batchv1.Job { return w.DeepCopy() }

// Complete marks the Job complete at end, as Job validation demands:
// SuccessCriteriaMet and Complete, with a completionTime.
func (w *jobWrapper) Complete(end time.Time) *jobWrapper {
	w.Status.CompletionTime = &metav1.Time{Time: end}
	w.Status.Succeeded = 1
	w.Status.Conditions = append(w.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Time{Time: end}},
		batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Time{Time: end}},
	)
	return w
}

// Suspended marks the Job suspended, as the Job controller does for a Job
// a queueing system holds.
func (w *jobWrapper) Suspended(message string) *jobWrapper {
	w.Spec.Suspend = ptr.To(true)
	w.Status.StartTime = nil
	w.Status.Conditions = append(w.Status.Conditions, batchv1.JobCondition{
		Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: "JobSuspended", Message: message,
	})
	return w
}

// Failed marks the Job failed at end with reason and message.
func (w *jobWrapper) Failed(end time.Time, reason, message string) *jobWrapper {
	w.Status.Failed = 1
	w.Status.Conditions = append(w.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.Time{Time: end}},
		batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.Time{Time: end}},
	)
	return w
}

// podWrapper builds a Pod of a trial's Job.
type podWrapper struct{ corev1.Pod }

// makePod returns a Pending Pod of trial's Job, created at created.
func makePod(trial *crucible.Trial, name string, created time.Time) *podWrapper {
	return &podWrapper{corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			Namespace:         trial.Namespace,
			CreationTimestamp: metav1.Time{Time: created},
			Labels:            map[string]string{crucible.TrialLabel: trial.Name},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}}
}

func (w *podWrapper) Obj() *corev1.Pod { return w.DeepCopy() }

// Running makes the Pod run with its trainer running.
func (w *podWrapper) Running() *podWrapper {
	w.Status.Phase = corev1.PodRunning
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  crucible.TrainerContainerName,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Time{Time: t0}}},
	}}
	return w
}

// Terminated ends the trainer with exit code, reason and termination
// message; the Pod's phase follows the exit code.
func (w *podWrapper) Terminated(code int32, reason, message string) *podWrapper {
	w.Status.Phase = corev1.PodSucceeded
	if code != 0 {
		w.Status.Phase = corev1.PodFailed
	}
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: crucible.TrainerContainerName,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, Message: message,
		}},
	}}
	return w
}

// Unschedulable marks the Pod as the scheduler does when no node fits it.
func (w *podWrapper) Unschedulable(message string) *podWrapper {
	w.Status.Conditions = append(w.Status.Conditions, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: message,
	})
	return w
}

// Waiting makes the trainer wait to start with reason and message, as the
// kubelet reports an image it cannot pull.
func (w *podWrapper) Waiting(reason, message string) *podWrapper {
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  crucible.TrainerContainerName,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
	}}
	return w
}

// Evicted fails the Pod as the kubelet does on node pressure, with no
// terminated trainer status.
func (w *podWrapper) Evicted(message string) *podWrapper {
	w.Status.Phase = corev1.PodFailed
	w.Status.Reason = "Evicted"
	w.Status.Message = message
	w.Status.ContainerStatuses = nil
	return w
}

// pods dereferences pods into the slice setStatusFromJob takes.
func pods(ps ...*corev1.Pod) []corev1.Pod {
	out := make([]corev1.Pod, 0, len(ps))
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

// diffStatus compares Trial statuses, conditions without LastTransitionTime.
func diffStatus(want, got crucible.TrialStatus, opts ...cmp.Option) string {
	return cmp.Diff(want, got, append([]cmp.Option{ignoreTransitionTime}, opts...)...)
}
