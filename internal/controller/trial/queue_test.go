package trial

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// TestSetStatusFromJobQueued covers a Trial whose Job Kueue holds: waiting
// for admission, preempted after it ran, and running again.
func TestSetStatusFromJobQueued(t *testing.T) {
	exp := makeExperiment("resnet").Obj()
	exp.Spec.QueueName = "gpus"
	name := "resnet-0123456789ab"
	created := t0.Add(-time.Minute)

	// queuedJob is the Trial's Job as the operator creates it for a queue.
	queuedJob := func(trial *crucible.Trial) *batchv1.Job {
		j := makeJob(trial).Obj()
		j.Labels[crucible.QueueNameLabel] = "gpus"
		j.CreationTimestamp = metav1.NewTime(created)
		return j
	}
	suspend := func(j *batchv1.Job, message string) *batchv1.Job {
		j.Status.StartTime = nil
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{
			Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: "JobSuspended", Message: message,
		})
		return j
	}
	resume := func(j *batchv1.Job) *batchv1.Job {
		j.Status.Conditions = []batchv1.JobCondition{{
			Type: batchv1.JobSuspended, Status: corev1.ConditionFalse, Reason: "JobResumed", Message: "Job resumed",
		}}
		return j
	}
	withStatus := func(s crucible.TrialStatus) *crucible.Trial {
		return makeTrial(exp, name).Generation(1).Status(s).Obj()
	}
	fresh := makeTrial(exp, name).Generation(1).Obj()

	cases := []struct {
		name         string
		trial        *crucible.Trial
		job          func(*crucible.Trial) *batchv1.Job
		pods         func(*crucible.Trial) []corev1.Pod
		now          time.Time
		wantPhase    crucible.TrialPhase
		wantReason   string
		wantAttempts int32
		wantMessage  []string
	}{
		{
			name:       "not admitted 10 s after the Job: no write yet",
			trial:      fresh,
			job:        func(tr *crucible.Trial) *batchv1.Job { return suspend(queuedJob(tr), "Job suspended") },
			now:        created.Add(10 * time.Second),
			wantPhase:  "",
			wantReason: "",
		},
		{
			name:        "not admitted a minute after the Job: Pending, Queued, naming the LocalQueue",
			trial:       fresh,
			job:         func(tr *crucible.Trial) *batchv1.Job { return suspend(queuedJob(tr), "Job suspended") },
			now:         created.Add(time.Minute),
			wantPhase:   crucible.TrialPending,
			wantReason:  crucible.ReasonQueued,
			wantMessage: []string{"Kueue", "LocalQueue gpus"},
		},
		{
			name:  "Running, then suspended by Kueue while the trainer still runs: Pending, Queued, preempted, no failure",
			trial: withStatus(crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: name, Attempts: 1}),
			job: func(tr *crucible.Trial) *batchv1.Job {
				return suspend(queuedJob(tr), "Job suspended by the queue: Preempted to accommodate a higher priority Workload")
			},
			pods:         func(tr *crucible.Trial) []corev1.Pod { return pods(makePod(tr, "p1", t0).Running().Obj()) },
			now:          t0.Add(time.Minute),
			wantPhase:    crucible.TrialPending,
			wantReason:   crucible.ReasonQueued,
			wantAttempts: 1,
			wantMessage:  []string{"preempted after attempt 1", "Preempted to accommodate"},
		},
		{
			name: "Queued after a preemption, still suspended: nothing changes",
			trial: withStatus(crucible.TrialStatus{Phase: crucible.TrialPending, JobName: name, Attempts: 1,
				Reason: crucible.ReasonQueued, Message: "preempted after attempt 1"}),
			job:          func(tr *crucible.Trial) *batchv1.Job { return suspend(queuedJob(tr), "Job suspended") },
			now:          t0.Add(2 * time.Minute),
			wantPhase:    crucible.TrialPending,
			wantReason:   crucible.ReasonQueued,
			wantAttempts: 1,
			wantMessage:  []string{"preempted after attempt 1"},
		},
		{
			name: "admitted again, the new trainer running: Running, attempt 2",
			trial: withStatus(crucible.TrialStatus{Phase: crucible.TrialPending, JobName: name, Attempts: 1,
				Reason: crucible.ReasonQueued, Message: "preempted after attempt 1"}),
			job:          func(tr *crucible.Trial) *batchv1.Job { return resume(queuedJob(tr)) },
			pods:         func(tr *crucible.Trial) []corev1.Pod { return pods(makePod(tr, "p2", t0).Running().Obj()) },
			now:          t0.Add(time.Minute),
			wantPhase:    crucible.TrialRunning,
			wantAttempts: 2,
		},
		{
			name:  "Running, then suspended by a queue the Experiment does not name: Pending, Suspended",
			trial: withStatus(crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: name, Attempts: 1}),
			job: func(tr *crucible.Trial) *batchv1.Job {
				j := suspend(queuedJob(tr), "Job suspended")
				delete(j.Labels, crucible.QueueNameLabel)
				return j
			},
			now:          t0.Add(time.Minute),
			wantPhase:    crucible.TrialPending,
			wantReason:   "Suspended",
			wantAttempts: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.trial.DeepCopy()
			var ps []corev1.Pod
			if tc.pods != nil {
				ps = tc.pods(got)
			}
			setStatusFromJob(got, exp, observed{job: tc.job(got), pods: ps}, tc.now)
			s := got.Status
			if s.Phase != tc.wantPhase || s.Reason != tc.wantReason || s.Attempts != tc.wantAttempts {
				t.Fatalf("phase %q reason %q attempts %d; want %q %q %d (message %q)",
					s.Phase, s.Reason, s.Attempts, tc.wantPhase, tc.wantReason, tc.wantAttempts, s.Message)
			}
			for _, m := range tc.wantMessage {
				if !strings.Contains(s.Message, m) {
					t.Errorf("message %q lacks %q", s.Message, m)
				}
			}
		})
	}
}
