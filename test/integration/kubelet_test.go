package integration

import (
	"context"
	"fmt"
	"math"
	"strconv"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// outcome is how a run ends, as the kubelet would report it.
type outcome struct {
	exitCode int32
	reason   string // Completed, Error, OOMKilled
	message  string // the termination message
}

func succeeded(message string) outcome { return outcome{reason: "Completed", message: message} }
func exited(code int32) outcome {
	return outcome{exitCode: code, reason: "Error", message: "Traceback: boom"}
}

// envOf reads the trainer container's environment from a Job.
func envOf(job *batchv1.Job) map[string]string {
	env := map[string]string{}
	for _, c := range job.Spec.Template.Spec.Containers {
		if c.Name != crucible.TrainerContainerName {
			continue
		}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
	}
	return env
}

// valLoss is the loss the simulated trainer reports: lowest at lr=0.01,
// depth=4 and the first seed, so the best trial is known in advance.
func valLoss(env map[string]string, baseSeed int64) float64 {
	lr, _ := strconv.ParseFloat(env["CRUCIBLE_PARAM_LR"], 64)
	depth, _ := strconv.ParseFloat(env["CRUCIBLE_PARAM_DEPTH"], 64)
	seed, _ := strconv.ParseInt(env["CRUCIBLE_SEED"], 10, 64)
	l := math.Log10(lr) + 2
	return l*l + 0.1*(depth-4)*(depth-4) + 0.01*float64(seed-baseSeed) + 0.5
}

// isFinished reports whether the Job has a terminal condition.
func isFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// unfinishedJobs lists the trials' Jobs of ns that have not ended.
func unfinishedJobs(ctx context.Context, ns string) []batchv1.Job {
	return unfinished(ctx, ns, client.HasLabels{crucible.TrialLabel})
}

// unfinished lists the Jobs of ns that have not ended and match opts.
func unfinished(ctx context.Context, ns string, opts ...client.ListOption) []batchv1.Job {
	var jobs batchv1.JobList
	ExpectWithOffset(2, k8sClient.List(ctx, &jobs, append(opts, client.InNamespace(ns))...)).To(Succeed())
	var out []batchv1.Job
	for _, j := range jobs.Items {
		if !isFinished(&j) {
			out = append(out, j)
		}
	}
	return out
}

// verifyDatasets plays the dataset verifier of every unfinished verifier
// Job of ns: it reports the digest the Job's annotation says the
// Experiment pins, or found when it is not empty.
func verifyDatasets(ctx context.Context, ns, found string) int {
	jobs := unfinished(ctx, ns, client.MatchingLabels{crucible.DatasetVerifierLabel: "true"})
	for i := range jobs {
		digest := found
		if digest == "" {
			digest = jobs[i].Annotations[crucible.DatasetDigestAnnotation]
		}
		finishJob(ctx, &jobs[i], succeeded(`{"digest":"`+digest+`","files":2,"bytes":2048}`))
	}
	return len(jobs)
}

// finishJob plays the kubelet and the Job controller: it creates the Job's
// Pod, ends its trainer container with o, and marks the Job Complete or
// Failed with the conditions Job validation requires.
func finishJob(ctx context.Context, job *batchv1.Job, o outcome) {
	now := metav1.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      job.Name + "-pod",
			Namespace: job.Namespace,
			Labels:    job.Spec.Template.Labels,
			// The Job controller's Pods are controlled by their Job: the
			// operator reads a trial's outcome from no other Pod.
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	if err := k8sClient.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
	}
	containerName := crucible.TrainerContainerName
	if job.Labels[crucible.DatasetVerifierLabel] == "true" {
		containerName = job.Spec.Template.Spec.Containers[0].Name
	}
	phase := corev1.PodSucceeded
	if o.exitCode != 0 || o.reason == "OOMKilled" {
		phase = corev1.PodFailed
	}
	pod.Status = corev1.PodStatus{
		Phase:     phase,
		StartTime: &now,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:    containerName,
			Image:   job.Spec.Template.Spec.Containers[0].Image,
			ImageID: job.Spec.Template.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: o.exitCode, Reason: o.reason, Message: o.message, StartedAt: now, FinishedAt: now,
			}},
		}},
	}
	ExpectWithOffset(1, k8sClient.Status().Update(ctx, pod)).To(Succeed())

	latest := &batchv1.Job{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(job), latest)).To(Succeed())
	latest.Status.StartTime = &now
	if phase == corev1.PodSucceeded {
		latest.Status.Succeeded = 1
		latest.Status.CompletionTime = &now
		latest.Status.Conditions = append(latest.Status.Conditions,
			batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: batchv1.JobReasonCompletionsReached, Message: "Reached expected number of succeeded pods"},
			batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: batchv1.JobReasonCompletionsReached, Message: "Reached expected number of succeeded pods"})
	} else {
		latest.Status.Failed = 1
		latest.Status.Conditions = append(latest.Status.Conditions,
			batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit"},
			batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit"})
	}
	ExpectWithOffset(1, k8sClient.Status().Update(ctx, latest)).To(Succeed(), fmt.Sprintf("finishing Job %s", job.Name))
}
