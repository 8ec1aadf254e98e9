package trial

import (
	"cmp"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/steps"
	"github.com/crucible-dev/crucible/internal/metrics"
)

const (
	// maxMessageLength bounds status.message.
	maxMessageLength = 1024
	// maxExcerpt bounds how much of a trainer's message or log tail is
	// quoted in a failure message.
	maxExcerpt = 300
	// podGracePeriod is how long after its Job completed, or failed, a
	// Trial waits for the Pod's final status to reach the cache before it
	// concludes the Pod is gone and its metrics, or its exit code, lost.
	podGracePeriod = 30 * time.Second
	// pendingGracePeriod is how long after its Job's creation a Trial whose
	// Pod cannot start (see waitingReason) records that it is Pending, and
	// why. A Pod that starts sooner, or only waits its turn, costs no
	// status write for it: the first write says Running.
	pendingGracePeriod = 15 * time.Second
	// runningGracePeriod is how long a trainer must have run before the
	// Trial records that it is Running. A run that ends sooner (a trainer
	// that crashes on start, a smoke test) costs one status write, its end,
	// not two.
	runningGracePeriod = 5 * time.Second
)

// isFinished reports whether a Trial has ended; an ended Trial never changes.
func isFinished(status *crucible.TrialStatus) bool {
	return status.Phase == crucible.TrialSucceeded || status.Phase == crucible.TrialFailed ||
		status.Phase == crucible.TrialStopped
}

// observed is what one pass read about a Trial's run, gathered before its
// status is computed.
type observed struct {
	// job is the Trial's Job.
	job *batchv1.Job
	// pods are the Pods of job (by its UID, never by label alone).
	pods []corev1.Pod
	// failedCreate is the Job controller's latest FailedCreate event about
	// job, if there is one: why it cannot create the Pod.
	failedCreate *corev1.Event
	// listing is what the artifact store listed under the trial's prefix;
	// nil unless the Job ended and the Experiment has an s3 store.
	listing *listing
	// attempts is how many Pods job has started: pods, and the disrupted
	// ones already deleted.
	attempts int32
}

// listing is the result of listing a trial's artifacts.
type listing struct {
	manifest artifacts.Manifest
	// sealed is where the series of the trial's step metrics was written.
	sealed steps.Sealed
	err    error
}

// setStatusFromJob computes the Trial's status from what the pass
// observed. It returns how long to wait before looking again when the Job
// ended but its Pod's final status has not been seen yet; zero otherwise.
// A run that ended whose artifacts could not be listed is not ended: its
// metrics are recorded, with condition ArtifactsRecorded=False, so that a
// Pod collected before the next listing loses nothing.
func setStatusFromJob(trial *crucible.Trial, exp *crucible.Experiment, obs observed, now time.Time) time.Duration {
	status := &trial.Status
	job := obs.job
	// The Job's name and start are recorded with a phase, never alone, so
	// that they cost no status write of their own.
	recordJob := func() {
		status.JobName = job.Name
		if job.Status.StartTime != nil {
			status.StartTime = job.Status.StartTime.DeepCopy()
		}
	}
	defer func() {
		// Every start of the trainer is an attempt; a disrupted Pod is
		// replaced by the Job. Recorded once the Trial has a phase, so
		// that the count costs a write of its own only on a disruption.
		if n := max(obs.attempts, int32(len(obs.pods))); status.Phase != "" && n > status.Attempts {
			status.Attempts = n
		}
	}()
	pod := trainerPod(obs.pods)
	term := trainerTerminated(pod)

	if c := jobCondition(job, batchv1.JobFailed); c != nil {
		if term == nil && pod != nil && !podFinished(pod) && c.Reason != batchv1.JobReasonDeadlineExceeded {
			// The Job controller saw the trainer fail before this cache
			// saw its Pod end (two informers): wait for the exit code and
			// the log tail, a while, rather than record a bare PodFailed.
			if waited := now.Sub(c.LastTransitionTime.Time); waited < podGracePeriod {
				return podGracePeriod - waited
			}
		}
		reason, msg := failureReason(c, pod, term)
		end(trial, exp, obs.listing, outcome{reason: reason, message: msg, end: c.LastTransitionTime}, recordJob, now)
		return 0
	}
	if c := jobCondition(job, batchv1.JobComplete); c != nil {
		endTime := c.LastTransitionTime
		if job.Status.CompletionTime != nil {
			endTime = *job.Status.CompletionTime
		}
		var out outcome
		switch {
		case term != nil:
			out = metricsOutcome(term.Message, exp.Spec.Objective.Metric, endTime)
		case status.Objective != "":
			// Read in an earlier pass whose artifacts could not be listed;
			// the Pod may be gone since.
			out = outcome{metrics: status.Metrics, objective: status.Objective, end: endTime}
		default:
			waited := now.Sub(endTime.Time)
			if waited < podGracePeriod {
				return podGracePeriod - waited
			}
			out = outcome{reason: crucible.ReasonMetricsMissing, end: endTime,
				message: "the run succeeded but its Pod, and the metrics in its termination message, were gone before they could be read"}
		}
		end(trial, exp, obs.listing, out, recordJob, now)
		return 0
	}

	suspended := jobCondition(job, batchv1.JobSuspended)
	switch {
	case suspended != nil && status.Phase == crucible.TrialRunning:
		// Suspended after it ran: a queue (Kueue) preempted it. The Job
		// controller stops the trainer; the same Job runs again from the
		// start, with the same seed, once the queue admits it again. No
		// failure: only the attempt is counted, when it runs again.
		status.Phase = crucible.TrialPending
		status.Reason = queueReason(job)
		status.Message = truncate(fmt.Sprintf("preempted after attempt %d: the Job was suspended while its trainer ran and runs again from the start when admitted: %s",
			max(status.Attempts, 1), suspended.Message), maxMessageLength)
		setReconcilingAndStalled(trial, metav1.NewTime(now))
	case pod != nil && pod.Status.Phase == corev1.PodRunning && suspended == nil:
		if ran := now.Sub(runningSince(pod, job)); status.Phase != crucible.TrialRunning && ran < runningGracePeriod {
			return runningGracePeriod - ran
		}
		if status.Phase == crucible.TrialPending && status.Attempts > 0 {
			// A start after a preemption is a new attempt; the Pods of
			// the one before are gone, so the Pods alone do not show it.
			status.Attempts++
		}
		recordJob()
		status.Phase = crucible.TrialRunning
		status.Reason, status.Message = "", ""
		setReconcilingAndStalled(trial, metav1.NewTime(now))
	case status.Phase == crucible.TrialRunning:
		// The trainer ended and the Job controller has not said how yet.
	case status.Phase == crucible.TrialPending:
		// Recorded already, with why: the Job's start alone, or another
		// reason to wait, is no reason for a write; it is recorded with
		// Running or the end.
	default:
		reason, msg := waitingReason(job, pod, obs.failedCreate)
		if reason == "" {
			// Queued behind other Pods, or starting: nothing to say.
			return 0
		}
		if age := now.Sub(job.CreationTimestamp.Time); age < pendingGracePeriod {
			return pendingGracePeriod - age
		}
		recordJob()
		status.Phase = crucible.TrialPending
		status.Reason = reason
		status.Message = truncate(msg, maxMessageLength)
		setReconcilingAndStalled(trial, metav1.NewTime(now))
	}
	return 0
}

// outcome is how a run ended: succeeded with metrics and the objective, or
// failed with a reason.
type outcome struct {
	metrics   metrics.Metrics
	objective string
	// reason is empty for a success.
	reason, message string
	end             metav1.Time
}

// end records the outcome of a run whose Job ended, with its artifacts.
// When the store could not be listed the Trial does not end: the metrics
// are recorded, and the condition ArtifactsRecorded says why it waits.
func end(trial *crucible.Trial, exp *crucible.Experiment, l *listing, out outcome, recordJob func(), now time.Time) {
	status := &trial.Status
	recordJob()
	a := exp.Spec.Artifacts
	if a != nil && a.S3 != nil && l != nil && l.err != nil {
		if errors.Is(l.err, artifacts.ErrTooManyObjects) {
			out = outcome{reason: crucible.ReasonArtifactsTooMany, end: out.end, metrics: out.metrics,
				message: "the run's artifacts could not be recorded: " + l.err.Error()}
		} else {
			if out.reason == "" {
				status.Metrics, status.Objective = out.metrics, out.objective
			}
			setCondition(trial, metav1.Condition{
				Type:    crucible.TrialArtifactsRecordedCondition,
				Status:  metav1.ConditionFalse,
				Reason:  crucible.ReasonStoreError,
				Message: truncate(fmt.Sprintf("the run ended but its artifacts could not be listed: %v", l.err), maxMessageLength),
			}, now)
			setReconcilingAndStalled(trial, metav1.NewTime(now))
			return
		}
	}
	if a != nil {
		rec := &crucible.TrialArtifacts{URI: artifacts.URI(exp, trial)}
		if a.S3 != nil && l != nil && l.err == nil {
			m := l.manifest
			rec.Objects, rec.Bytes, rec.ManifestDigest = &m.Objects, &m.Bytes, m.Digest
			l.sealed.Record(trial)
			if a.Required && m.Objects == 0 && out.reason == "" {
				out = outcome{reason: crucible.ReasonArtifactsMissing, end: out.end, metrics: out.metrics,
					message: fmt.Sprintf("the run exited 0 but wrote no artifact under %s, and spec.artifacts.required is set", rec.URI)}
			}
			if meta.FindStatusCondition(status.Conditions, crucible.TrialArtifactsRecordedCondition) != nil {
				setCondition(trial, metav1.Condition{
					Type:    crucible.TrialArtifactsRecordedCondition,
					Status:  metav1.ConditionTrue,
					Reason:  "Recorded",
					Message: fmt.Sprintf("%d objects, %d bytes", m.Objects, m.Bytes),
				}, now)
			}
		}
		status.Artifacts = rec
	}
	if out.reason != "" {
		setFailed(trial, out.reason, out.message, out.end)
		if out.metrics != nil {
			status.Metrics = out.metrics
		}
		return
	}
	setSucceeded(trial, exp.Spec.Objective.Metric, out)
}

// setCondition sets c, observed at the Trial's generation.
func setCondition(trial *crucible.Trial, c metav1.Condition, now time.Time) {
	c.ObservedGeneration = trial.Generation
	c.LastTransitionTime = metav1.NewTime(now)
	meta.SetStatusCondition(&trial.Status.Conditions, c)
}

// waitingReason says why the trial's Pod cannot start, when something
// stands in its way that the user may have to act on: the Job is
// suspended (held by a queueing system such as Kueue), the Job controller
// cannot create the Pod (FailedCreate: a quota, Pod Security admission),
// the Pod cannot be scheduled, or a container waits for a reason other than
// being created (ErrImagePull, ImagePullBackOff, CreateContainerConfigError
// for a missing Secret, ...). It returns empty strings for a Pod that
// merely has not started yet. The reason is a CamelCase word, the message
// one sentence.
func waitingReason(job *batchv1.Job, pod *corev1.Pod, failedCreate *corev1.Event) (reason, message string) {
	if c := jobCondition(job, batchv1.JobSuspended); c != nil {
		if q := job.Labels[crucible.QueueNameLabel]; q != "" {
			return crucible.ReasonQueued, fmt.Sprintf("waiting for Kueue to admit the Job from LocalQueue %s: %s", q, c.Message)
		}
		return "Suspended", "the Job is suspended; a queueing system may be holding it: " + c.Message
	}
	if pod == nil && failedCreate != nil {
		return crucible.ReasonFailedCreate, "the Job controller cannot create the trial's Pod: " + failedCreate.Message
	}
	return podWaitingReason(pod)
}

// queueReason is the reason of a Trial whose Job a queue suspended:
// Queued when the Experiment named the queue, Suspended otherwise.
func queueReason(job *batchv1.Job) string {
	if job.Labels[crucible.QueueNameLabel] != "" {
		return crucible.ReasonQueued
	}
	return "Suspended"
}

// podWaitingReason is waitingReason's part that the Pod tells.
func podWaitingReason(pod *corev1.Pod) (reason, message string) {
	if pod == nil || pod.Status.Phase != corev1.PodPending {
		return "", ""
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return cmp.Or(c.Reason, "Unschedulable"), fmt.Sprintf("Pod %s cannot be scheduled: %s", pod.Name, c.Message)
		}
	}
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			if w := cs.State.Waiting; w != nil && !startingReasons[w.Reason] {
				return w.Reason, fmt.Sprintf("container %s of Pod %s is waiting: %s: %s", cs.Name, pod.Name, w.Reason, w.Message)
			}
		}
	}
	return "", ""
}

// startingReasons are the waiting reasons of a container on its way to
// running.
var startingReasons = map[string]bool{"": true, "ContainerCreating": true, "PodInitializing": true}

// runningSince is when the trainer started running: its container's start,
// or else the Pod's, or else the Job's creation.
func runningSince(pod *corev1.Pod, job *batchv1.Job) time.Time {
	if cs := trainerStatus(pod); cs != nil && cs.State.Running != nil && !cs.State.Running.StartedAt.IsZero() {
		return cs.State.Running.StartedAt.Time
	}
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return job.CreationTimestamp.Time
}

// metricsOutcome reads the metrics of a run that exited 0: a success with
// the objective, or a failure when they cannot be read or lack it.
func metricsOutcome(message, objective string, end metav1.Time) outcome {
	parsed, err := metrics.Parse(message)
	if err != nil {
		var perr *metrics.Error
		reason := crucible.ReasonMetricsMalformed
		if errors.As(err, &perr) && perr.Reason == metrics.ReasonEmpty {
			reason = crucible.ReasonMetricsMissing
		}
		return outcome{reason: reason, message: "the run exited 0 but its metrics could not be read: " + err.Error(), end: end}
	}
	value, ok := parsed[objective]
	if !ok {
		return outcome{reason: crucible.ReasonMetricsMissing, metrics: parsed, end: end, message: fmt.Sprintf(
			"the run exited 0 but did not report the objective metric %q; it reported %s", objective, metricNames(parsed))}
	}
	return outcome{metrics: parsed, objective: value, end: end}
}

// setSucceeded ends the Trial as Succeeded with out's metrics.
func setSucceeded(trial *crucible.Trial, objective string, out outcome) {
	status := &trial.Status
	status.Phase = crucible.TrialSucceeded
	status.Metrics = out.metrics
	status.Objective = out.objective
	status.Reason = ""
	status.Message = ""
	status.CompletionTime = out.end.DeepCopy()
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               crucible.TrialSucceededCondition,
		Status:             metav1.ConditionTrue,
		Reason:             crucible.ReasonMetricsRecorded,
		Message:            fmt.Sprintf("%s=%s", objective, out.objective),
		ObservedGeneration: trial.Generation,
		LastTransitionTime: out.end,
	})
	setReconcilingAndStalled(trial, out.end)
}

// setFailed ends the Trial as Failed.
func setFailed(trial *crucible.Trial, reason, message string, end metav1.Time) {
	status := &trial.Status
	message = truncate(message, maxMessageLength)
	status.Phase = crucible.TrialFailed
	status.Reason = reason
	status.Message = message
	status.CompletionTime = end.DeepCopy()
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               crucible.TrialSucceededCondition,
		Status:             metav1.ConditionFalse,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: trial.Generation,
		LastTransitionTime: end,
	})
	setReconcilingAndStalled(trial, end)
}

// setReconcilingAndStalled sets the conditions kstatus reads, with the
// phase: Reconciling until the Trial ends (reason: its phase, or
// ReasonStoreError while the ended run's artifacts cannot be listed);
// Stalled once it failed, with the failure's reason and message; neither
// once it succeeded. It is called wherever the phase is recorded, so it
// costs no status write of its own.
func setReconcilingAndStalled(trial *crucible.Trial, now metav1.Time) {
	status := &trial.Status
	set := func(t, reason, message string) {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: message,
			ObservedGeneration: trial.Generation, LastTransitionTime: now,
		})
	}
	switch status.Phase {
	case crucible.TrialSucceeded, crucible.TrialStopped:
		meta.RemoveStatusCondition(&status.Conditions, crucible.ReconcilingCondition)
		meta.RemoveStatusCondition(&status.Conditions, crucible.StalledCondition)
	case crucible.TrialFailed:
		meta.RemoveStatusCondition(&status.Conditions, crucible.ReconcilingCondition)
		set(crucible.StalledCondition, status.Reason, status.Message)
	default:
		meta.RemoveStatusCondition(&status.Conditions, crucible.StalledCondition)
		reason, message := string(status.Phase), status.Message
		if status.Phase == crucible.TrialRunning {
			message = fmt.Sprintf("Job %s runs the trainer", status.JobName)
		}
		if c := meta.FindStatusCondition(status.Conditions, crucible.TrialArtifactsRecordedCondition); c != nil && c.Status == metav1.ConditionFalse {
			reason, message = c.Reason, c.Message
		}
		set(crucible.ReconcilingCondition, reason, message)
	}
}

// failureReason names why a Job failed: its deadline, the trainer's memory
// limit, the trainer's exit code, or whatever the Job controller said.
func failureReason(c *batchv1.JobCondition, pod *corev1.Pod, term *corev1.ContainerStateTerminated) (string, string) {
	switch {
	case c.Reason == batchv1.JobReasonDeadlineExceeded:
		return crucible.ReasonDeadlineExceeded, "the Job ran past its activeDeadlineSeconds: " + c.Message
	case term != nil && term.Reason == "OOMKilled":
		return crucible.ReasonOOMKilled, fmt.Sprintf("the trainer was killed for exceeding its memory limit (exit code %d)", term.ExitCode)
	case term != nil && term.ExitCode != 0:
		msg := fmt.Sprintf("the trainer exited with code %d", term.ExitCode)
		if term.Reason != "" && term.Reason != "Error" {
			msg += " (" + term.Reason + ")"
		}
		if tail := strings.TrimSpace(term.Message); tail != "" {
			msg += fmt.Sprintf("; its last output: %q", lastRunes(tail, maxExcerpt))
		}
		return crucible.ReasonExitCode, msg
	}
	msg := "the Job failed"
	if c.Reason != "" {
		msg += ": " + c.Reason
	}
	if c.Message != "" {
		msg += ": " + c.Message
	}
	if pod != nil && pod.Status.Reason != "" {
		msg += fmt.Sprintf("; Pod %s: %s %s", pod.Name, pod.Status.Reason, pod.Status.Message)
	}
	return crucible.ReasonPodFailed, msg
}

// podFinished reports whether pod's phase is Succeeded or Failed.
func podFinished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// trainerPod picks the Pod whose trainer ended, the newest first; or else
// the newest Pod; nil when there is none. A disrupted Pod (evicted,
// preempted) is no outcome of the run: its Job starts another.
func trainerPod(pods []corev1.Pod) *corev1.Pod {
	var best *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if disrupted(p) {
			continue
		}
		if best == nil {
			best = p
			continue
		}
		pEnded, bestEnded := trainerTerminated(p) != nil, trainerTerminated(best) != nil
		if pEnded != bestEnded {
			if pEnded {
				best = p
			}
			continue
		}
		if best.CreationTimestamp.Before(&p.CreationTimestamp) {
			best = p
		}
	}
	return best
}

// disrupted reports whether the Pod was evicted or preempted: the
// condition DisruptionTarget, which the Job's podFailurePolicy ignores.
func disrupted(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// trainerTerminated returns the trainer container's terminated state.
func trainerTerminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	if cs := trainerStatus(pod); cs != nil {
		return cs.State.Terminated
	}
	return nil
}

// trainerStatus returns the trainer container's status, nil without one.
func trainerStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	if pod == nil {
		return nil
	}
	for i := range pod.Status.ContainerStatuses {
		if cs := &pod.Status.ContainerStatuses[i]; cs.Name == crucible.TrainerContainerName {
			return cs
		}
	}
	return nil
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func metricNames(m metrics.Metrics) string {
	if len(m) == 0 {
		return "no metrics"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return truncate(strings.Join(names, ", "), maxExcerpt)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}

func lastRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + strings.ToValidUTF8(s[len(s)-n:], "")
}
