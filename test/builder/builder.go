// Package builder makes test objects with a fluent API:
// MakeExperiment("e", ns).Parallelism(2).Obj().
package builder

import (
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Image is a digest-pinned image for tests.
const Image = "registry.example/train@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// T0 is when the built Jobs start and their trainers run.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// DatasetDigest is a dataset digest for tests.
var DatasetDigest = "sha256:" + strings.Repeat("ab", 32)

// ExperimentWrapper builds an Experiment.
type ExperimentWrapper struct{ crucible.Experiment }

// MakeExperiment returns a valid Experiment minimising val_loss with no
// parameters, one seed and parallelism 1.
func MakeExperiment(name, ns string) *ExperimentWrapper {
	return &ExperimentWrapper{crucible.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: crucible.ExperimentSpec{
			Image:       Image,
			Command:     []string{"python", "train.py"},
			Objective:   crucible.ObjectiveSpec{Metric: "val_loss", Goal: crucible.GoalMinimize},
			Parallelism: 1,
			Seeds:       crucible.SeedSpec{Base: 0, Replicas: 1},
			Search:      crucible.SearchSpec{Algorithm: crucible.SearchGrid},
		},
	}}
}

// Obj returns the built Experiment.
func (w *ExperimentWrapper) Obj() *crucible.Experiment { return w.DeepCopy() }

// Values adds a parameter that takes the listed values.
func (w *ExperimentWrapper) Values(name string, values ...string) *ExperimentWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterSpec{Name: name, Values: values})
	return w
}

// IntRange adds an integer parameter.
func (w *ExperimentWrapper) IntRange(name string, minV, maxV, step int64) *ExperimentWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterSpec{Name: name, Int: &crucible.IntRange{Min: minV, Max: maxV, Step: step}})
	return w
}

// FloatRange adds a decimal parameter.
func (w *ExperimentWrapper) FloatRange(name, minV, maxV string, steps int32, scale crucible.Scale) *ExperimentWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterSpec{Name: name,
		Float: &crucible.FloatRange{Min: minV, Max: maxV, Steps: steps, Scale: scale}})
	return w
}

// Seeds sets the seed base and replicas.
func (w *ExperimentWrapper) Seeds(base int64, replicas int32) *ExperimentWrapper {
	w.Spec.Seeds = crucible.SeedSpec{Base: base, Replicas: replicas}
	return w
}

// Parallelism sets spec.parallelism.
func (w *ExperimentWrapper) Parallelism(n int32) *ExperimentWrapper {
	w.Spec.Parallelism = n
	return w
}

// MaxFailedTrials sets spec.maxFailedTrials.
func (w *ExperimentWrapper) MaxFailedTrials(n int32) *ExperimentWrapper {
	w.Spec.MaxFailedTrials = n
	return w
}

// Suspend sets spec.suspend.
func (w *ExperimentWrapper) Suspend(s bool) *ExperimentWrapper {
	w.Spec.Suspend = s
	return w
}

// Objective sets the objective.
func (w *ExperimentWrapper) Objective(metric string, goal crucible.Goal) *ExperimentWrapper {
	w.Spec.Objective = crucible.ObjectiveSpec{Metric: metric, Goal: goal}
	return w
}

// PVCDataset sets a dataset mounted at mountPath from a PersistentVolumeClaim.
func (w *ExperimentWrapper) PVCDataset(claim, subPath, mountPath string) *ExperimentWrapper {
	w.Spec.Dataset = &crucible.DatasetSpec{
		Name: "cifar10", Version: "2024-05-01", Digest: DatasetDigest, MountPath: mountPath,
		Source: crucible.DatasetSource{PersistentVolumeClaim: &crucible.PVCDatasetSource{ClaimName: claim, SubPath: subPath}},
	}
	return w
}

// DatasetVerify sets spec.dataset.verify; the dataset must be set first.
func (w *ExperimentWrapper) DatasetVerify(p crucible.DatasetVerifyPolicy) *ExperimentWrapper {
	w.Spec.Dataset.Verify = p
	return w
}

// UID sets metadata.uid, for tests without an API server.
func (w *ExperimentWrapper) UID(uid types.UID) *ExperimentWrapper {
	w.ObjectMeta.UID = uid
	return w
}

// Args sets spec.args.
func (w *ExperimentWrapper) Args(args ...string) *ExperimentWrapper {
	w.Spec.Args = args
	return w
}

// Env adds spec.env entries from name, value pairs.
func (w *ExperimentWrapper) Env(kv ...string) *ExperimentWrapper {
	for i := 0; i+1 < len(kv); i += 2 {
		w.Spec.Env = append(w.Spec.Env, crucible.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return w
}

// Resources sets spec.resources.
func (w *ExperimentWrapper) Resources(r corev1.ResourceRequirements) *ExperimentWrapper {
	w.Spec.Resources = &r
	return w
}

// PodTemplate sets spec.podTemplate.
func (w *ExperimentWrapper) PodTemplate(t corev1.PodTemplateSpec) *ExperimentWrapper {
	w.Spec.PodTemplate = &t
	return w
}

// ImageDataset sets a dataset mounted at mountPath from an OCI image.
func (w *ExperimentWrapper) ImageDataset(reference, mountPath string) *ExperimentWrapper {
	w.Spec.Dataset = &crucible.DatasetSpec{
		Name: "cifar10", Version: "2024-05-01", Digest: DatasetDigest, MountPath: mountPath,
		Source: crucible.DatasetSource{Image: &crucible.ImageDatasetSource{Reference: reference}},
	}
	return w
}

// TrialWrapper builds a Trial.
type TrialWrapper struct{ crucible.Trial }

// MakeTrial returns a Trial of exp, controlled by it, at index 0 with seed 0.
func MakeTrial(exp *crucible.Experiment, name string) *TrialWrapper {
	return &TrialWrapper{crucible.Trial{
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

// Obj returns the built Trial.
func (w *TrialWrapper) Obj() *crucible.Trial { return w.DeepCopy() }

// Index sets spec.index.
func (w *TrialWrapper) Index(i int64) *TrialWrapper {
	w.Spec.Index = i
	return w
}

// Seed sets spec.seed.
func (w *TrialWrapper) Seed(s int64) *TrialWrapper {
	w.Spec.Seed = s
	return w
}

// Param adds a parameter assignment.
func (w *TrialWrapper) Param(name, value string) *TrialWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterAssignment{Name: name, Value: value})
	return w
}

// Generation sets metadata.generation.
func (w *TrialWrapper) Generation(g int64) *TrialWrapper {
	w.ObjectMeta.Generation = g
	return w
}

// Status sets the status.
func (w *TrialWrapper) Status(s crucible.TrialStatus) *TrialWrapper {
	w.Trial.Status = s
	return w
}

// JobWrapper builds the status side of a Job, the way the Job controller
// writes it.
type JobWrapper struct{ batchv1.Job }

// MakeJob returns a Job named after trial and controlled by it, started at T0.
func MakeJob(trial *crucible.Trial) *JobWrapper {
	return &JobWrapper{batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      trial.Name,
			Namespace: trial.Namespace,
			UID:       JobUID(trial),
			Labels:    map[string]string{crucible.TrialLabel: trial.Name},
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(trial, crucible.GroupVersion.WithKind("Trial")),
			},
		},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: T0}},
	}}
}

// Obj returns the built Job.
func (w *JobWrapper) Obj() *batchv1.Job { return w.DeepCopy() }

// Complete marks the Job complete at end, as Job validation demands:
// SuccessCriteriaMet and Complete, with a completionTime.
func (w *JobWrapper) Complete(end time.Time) *JobWrapper {
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
func (w *JobWrapper) Suspended(message string) *JobWrapper {
	w.Spec.Suspend = ptr.To(true)
	w.Status.StartTime = nil
	w.Status.Conditions = append(w.Status.Conditions, batchv1.JobCondition{
		Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: "JobSuspended", Message: message,
	})
	return w
}

// Failed marks the Job failed at end with reason and message.
func (w *JobWrapper) Failed(end time.Time, reason, message string) *JobWrapper {
	w.Status.Failed = 1
	w.Status.Conditions = append(w.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.Time{Time: end}},
		batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.Time{Time: end}},
	)
	return w
}

// PodWrapper builds a Pod of a trial's Job.
type PodWrapper struct{ corev1.Pod }

// JobUID is the UID of the Job MakeJob builds for trial, which the Pods
// MakePod builds are controlled by.
func JobUID(trial *crucible.Trial) types.UID { return types.UID(trial.Name + "-job-uid") }

// MakePod returns a Pending Pod of trial's Job, created at created.
func MakePod(trial *crucible.Trial, name string, created time.Time) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			Namespace:         trial.Namespace,
			CreationTimestamp: metav1.Time{Time: created},
			Labels:            map[string]string{crucible.TrialLabel: trial.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "Job", Name: trial.Name, UID: JobUID(trial), Controller: ptr.To(true),
			}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}}
}

// Obj returns the built Pod.
func (w *PodWrapper) Obj() *corev1.Pod { return w.DeepCopy() }

// Running makes the Pod run with its trainer running.
func (w *PodWrapper) Running() *PodWrapper {
	w.Status.Phase = corev1.PodRunning
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  crucible.TrainerContainerName,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Time{Time: T0}}},
	}}
	return w
}

// Terminated ends the trainer with exit code, reason and termination
// message; the Pod's phase follows the exit code.
func (w *PodWrapper) Terminated(code int32, reason, message string) *PodWrapper {
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
func (w *PodWrapper) Unschedulable(message string) *PodWrapper {
	w.Status.Conditions = append(w.Status.Conditions, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: message,
	})
	return w
}

// Waiting makes the trainer wait to start with reason and message, as the
// kubelet reports an image it cannot pull.
func (w *PodWrapper) Waiting(reason, message string) *PodWrapper {
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  crucible.TrainerContainerName,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
	}}
	return w
}

// Evicted fails the Pod as the kubelet does on node pressure, with no
// terminated trainer status.
func (w *PodWrapper) Evicted(message string) *PodWrapper {
	w.Status.Phase = corev1.PodFailed
	w.Status.Reason = "Evicted"
	w.Status.Message = message
	w.Status.ContainerStatuses = nil
	return w
}

// SweepTrialName is the name of SweepTrial's Trial.
const SweepTrialName = "resnet-0123456789ab"

// MakeSweep returns the Experiment "resnet" of ns that most Job and Trial
// tests start from: two parameters, args referring to one, and env of its
// own, with a UID and generation 1 as the API server would give it.
func MakeSweep(ns string) *ExperimentWrapper {
	w := MakeExperiment("resnet", ns).
		UID("resnet-uid").
		Values("lr", "0.1", "0.01").
		Values("batch_size", "32", "64").
		Args("--lr=$(CRUCIBLE_PARAM_LR)", "--out=/logs").
		Env("EPOCHS", "3", "LOG_DIR", "/logs/$(CRUCIBLE_TRIAL)")
	w.Generation = 1
	return w
}

// SweepTrial returns trial 5 of a MakeSweep Experiment: lr=0.01,
// batch_size=64, seed 42.
func SweepTrial(exp *crucible.Experiment) *crucible.Trial {
	return MakeTrial(exp, SweepTrialName).Index(5).Seed(42).Param("lr", "0.01").Param("batch_size", "64").Obj()
}
