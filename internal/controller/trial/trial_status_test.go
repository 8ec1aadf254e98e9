package trial

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/health"
	"github.com/crucible-dev/crucible/test/builder"
)

// statusCase is one case of TestSetStatusFromJob.
type statusCase struct {
	name  string
	trial *crucible.Trial
	jobFn func() *builder.JobWrapper
	pods  []corev1.Pod
	now   time.Time

	want     crucible.TrialStatus
	wantWait time.Duration
	// wantMessage, when set, lists what status.message (and the
	// condition's message) must contain; the messages are then left out of
	// the exact comparison.
	wantMessage []string
	// notInMessage lists what status.message must not contain.
	notInMessage []string
}

func TestSetStatusFromJob(t *testing.T) {
	exp := makeExperiment("resnet").Obj()
	// The Trial before the pass: created, its Job made, not yet seen running.
	trial := makeTrial(exp, "resnet-0123456789ab").Generation(3).Status(crucible.TrialStatus{
		Phase:      crucible.TrialPending,
		JobName:    "resnet-0123456789ab",
		Conditions: []metav1.Condition{reconcilingCondition("Pending", "", 3)},
	}).Obj()
	running := makeTrial(exp, "resnet-0123456789ab").Generation(3).Status(crucible.TrialStatus{
		Phase:      crucible.TrialRunning,
		JobName:    "resnet-0123456789ab",
		StartTime:  &metav1.Time{Time: t0},
		Conditions: []metav1.Condition{reconcilingCondition("Running", "Job resnet-0123456789ab runs the trainer", 3)},
	}).Obj()

	end := t0.Add(10 * time.Minute)
	afterEnd := end.Add(time.Minute)
	started := &metav1.Time{Time: t0}
	ended := &metav1.Time{Time: end}

	pod := makePod(trial, "resnet-0123456789ab-x7k2p", t0)
	// createdJob is the Trial's Job, created at jobCreated.
	jobCreated := t0.Add(-time.Minute)
	createdJob := func() *builder.JobWrapper {
		w := makeJob(trial)
		w.CreationTimestamp = metav1.NewTime(jobCreated)
		return w
	}

	// failed is the status of a Trial that failed at end for reason.
	failed := func(reason string) crucible.TrialStatus {
		return crucible.TrialStatus{
			Phase:          crucible.TrialFailed,
			JobName:        trial.Name,
			StartTime:      started,
			CompletionTime: ended,
			Reason:         reason,
			Conditions: []metav1.Condition{{
				Type:               "Succeeded",
				Status:             metav1.ConditionFalse,
				Reason:             reason,
				ObservedGeneration: 3,
			}},
		}
	}
	withMetrics := func(s crucible.TrialStatus, m map[string]string) crucible.TrialStatus {
		s.Metrics = m
		return s
	}

	cases := []statusCase{
		{
			name:  "no phase, no Pod a minute after the Job: nothing to say, no write",
			trial: makeTrial(exp, "resnet-0123456789ab").Generation(3).Obj(),
			jobFn: createdJob,
			now:   jobCreated.Add(time.Minute),
			want:  crucible.TrialStatus{},
		},
		{
			name:  "no phase, Pod waiting its turn a minute after the Job: no write",
			trial: makeTrial(exp, "resnet-0123456789ab").Generation(3).Obj(),
			jobFn: createdJob,
			pods:  pods(pod.Obj()),
			now:   jobCreated.Add(time.Minute),
			want:  crucible.TrialStatus{},
		},
		{
			name:  "no phase, trainer being created a minute after the Job: no write",
			trial: makeTrial(exp, "resnet-0123456789ab").Generation(3).Obj(),
			jobFn: createdJob,
			pods:  pods(makePod(trial, "p", t0).Waiting("ContainerCreating", "").Obj()),
			now:   jobCreated.Add(time.Minute),
			want:  crucible.TrialStatus{},
		},
		{
			name:     "no phase, Pod unschedulable 10s after the Job: no write yet, look again in 5s",
			trial:    makeTrial(exp, "resnet-0123456789ab").Generation(3).Obj(),
			jobFn:    createdJob,
			pods:     pods(makePod(trial, "p", t0).Unschedulable("0/20 nodes are available: 20 Insufficient nvidia.com/gpu.").Obj()),
			now:      jobCreated.Add(10 * time.Second),
			want:     crucible.TrialStatus{},
			wantWait: 5 * time.Second,
		},
		{
			name:  "no phase, Pod unschedulable 15s after the Job: Pending with the scheduler's word, and the Job",
			trial: makeTrial(exp, "resnet-0123456789ab").Generation(3).Obj(),
			jobFn: createdJob,
			pods:  pods(makePod(trial, "resnet-0123456789ab-x7k2p", t0).Unschedulable("0/20 nodes are available: 20 Insufficient nvidia.com/gpu.").Obj()),
			now:   jobCreated.Add(15 * time.Second),
			want: crucible.TrialStatus{Phase: crucible.TrialPending, JobName: trial.Name, StartTime: started,
				Reason: "Unschedulable"},
			wantMessage: []string{"resnet-0123456789ab-x7k2p", "cannot be scheduled", "20 Insufficient nvidia.com/gpu"},
		},
		{
			name:  "no phase, trainer's image cannot be pulled: Pending, ImagePullBackOff",
			trial: makeTrial(exp, "resnet-0123456789ab").Generation(3).Obj(),
			jobFn: createdJob,
			pods: pods(makePod(trial, "p", t0).Waiting("ImagePullBackOff",
				`Back-off pulling image "ghcr.io/acme/train@sha256:4f53"`).Obj()),
			now: jobCreated.Add(time.Minute),
			want: crucible.TrialStatus{Phase: crucible.TrialPending, JobName: trial.Name, StartTime: started,
				Reason: "ImagePullBackOff"},
			wantMessage: []string{"container trainer", "Back-off pulling image", "ghcr.io/acme/train@sha256:4f53"},
		},
		{
			name:  "no phase, Job suspended by a queue: Pending, Suspended",
			trial: makeTrial(exp, "resnet-0123456789ab").Generation(3).Obj(),
			jobFn: func() *builder.JobWrapper { return createdJob().Suspended("Job suspended") },
			now:   jobCreated.Add(time.Minute),
			want: crucible.TrialStatus{Phase: crucible.TrialPending, JobName: trial.Name,
				Reason: "Suspended"},
			wantMessage: []string{"suspended", "queueing"},
		},
		{
			name: "Pending with a reason, trainer running for 5s: Running, the reason cleared",
			trial: makeTrial(exp, "resnet-0123456789ab").Generation(3).Status(crucible.TrialStatus{
				Phase: crucible.TrialPending, JobName: trial.Name, Reason: "Unschedulable", Message: "Pod p cannot be scheduled",
			}).Obj(),
			jobFn: func() *builder.JobWrapper { return makeJob(trial) },
			pods:  pods(makePod(trial, "p", t0).Running().Obj()),
			now:   t0.Add(5 * time.Second),
			want:  crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: trial.Name, StartTime: started},
		},
		{
			name:  "Pending recorded: the Job's start alone is no change",
			trial: trial,
			jobFn: func() *builder.JobWrapper { return makeJob(trial) },
			pods:  pods(pod.Obj()),
			now:   t0,
			want:  trial.Status,
		},
		{
			name:  "trainer running for 5s: Running",
			trial: trial,
			jobFn: func() *builder.JobWrapper { return makeJob(trial) },
			pods:  pods(makePod(trial, "p", t0).Running().Obj()),
			now:   t0.Add(5 * time.Second),
			want:  crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: trial.Name, StartTime: started},
		},
		{
			name:     "trainer running for 2s: no write yet, look again in 3s",
			trial:    makeTrial(exp, "resnet-0123456789ab").Generation(3).Obj(),
			jobFn:    func() *builder.JobWrapper { return makeJob(trial) },
			pods:     pods(makePod(trial, "p", t0).Running().Obj()),
			now:      t0.Add(2 * time.Second),
			want:     crucible.TrialStatus{},
			wantWait: 3 * time.Second,
		},
		{
			name:     "Pending recorded, trainer running for 1s: still Pending for 4s",
			trial:    trial,
			jobFn:    func() *builder.JobWrapper { return makeJob(trial) },
			pods:     pods(makePod(trial, "p", t0).Running().Obj()),
			now:      t0.Add(time.Second),
			want:     trial.Status,
			wantWait: 4 * time.Second,
		},
		{
			name:  "Complete with the objective reported: Succeeded with metrics",
			trial: running,
			jobFn: func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			pods:  pods(makePod(trial, "p", t0).Terminated(0, "Completed", `{"val_loss": 0.25, "acc": 1}`).Obj()),
			now:   afterEnd,
			want: crucible.TrialStatus{
				Phase:          crucible.TrialSucceeded,
				JobName:        trial.Name,
				StartTime:      started,
				CompletionTime: ended,
				Metrics:        map[string]string{"val_loss": "0.25", "acc": "1"},
				Objective:      "0.25",
				Conditions: []metav1.Condition{{
					Type:               "Succeeded",
					Status:             metav1.ConditionTrue,
					Reason:             "MetricsRecorded",
					Message:            "val_loss=0.25",
					ObservedGeneration: 3,
				}},
			},
		},
		{
			name:        "Complete without the objective: MetricsMissing naming it and what was reported",
			trial:       running,
			jobFn:       func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			pods:        pods(makePod(trial, "p", t0).Terminated(0, "Completed", `{"loss": 0.3, "acc": 0.9}`).Obj()),
			now:         afterEnd,
			want:        withMetrics(failed("MetricsMissing"), map[string]string{"loss": "0.3", "acc": "0.9"}),
			wantMessage: []string{`"val_loss"`, "acc, loss"},
		},
		{
			name:        "Complete with an empty message: MetricsMissing",
			trial:       running,
			jobFn:       func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			pods:        pods(makePod(trial, "p", t0).Terminated(0, "Completed", "").Obj()),
			now:         afterEnd,
			want:        failed("MetricsMissing"),
			wantMessage: []string{"empty"},
		},
		{
			name:        "Complete with key=value text: MetricsMalformed quoting what was read",
			trial:       running,
			jobFn:       func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			pods:        pods(makePod(trial, "p", t0).Terminated(0, "Completed", "loss=0.3").Obj()),
			now:         afterEnd,
			want:        failed("MetricsMalformed"),
			wantMessage: []string{`"loss=0.3"`},
		},
		{
			name:        "Complete with NaN: MetricsMalformed",
			trial:       running,
			jobFn:       func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			pods:        pods(makePod(trial, "p", t0).Terminated(0, "Completed", `{"val_loss": NaN, "acc": 0.9}`).Obj()),
			now:         afterEnd,
			want:        failed("MetricsMalformed"),
			wantMessage: []string{"val_loss", "NaN"},
		},
		{
			name:     "Complete, no Pod yet, 5s after completion: wait 25s more",
			trial:    running,
			jobFn:    func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			now:      end.Add(5 * time.Second),
			want:     running.Status,
			wantWait: 25 * time.Second,
		},
		{
			name:     "Complete, trainer not seen terminated yet, 5s after completion: wait 25s more",
			trial:    running,
			jobFn:    func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			pods:     pods(makePod(trial, "p", t0).Running().Obj()),
			now:      end.Add(5 * time.Second),
			want:     running.Status,
			wantWait: 25 * time.Second,
		},
		{
			name:        "Complete, no Pod, 31s after completion: MetricsMissing",
			trial:       running,
			jobFn:       func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			now:         end.Add(31 * time.Second),
			want:        failed("MetricsMissing"),
			wantMessage: []string{"Pod"},
		},
		{
			name:  "Failed, trainer not seen terminated yet, 5s after: wait 25s more for its exit code",
			trial: running,
			jobFn: func() *builder.JobWrapper {
				return makeJob(trial).Failed(end, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
			},
			pods:     pods(makePod(trial, "p", t0).Running().Obj()),
			now:      end.Add(5 * time.Second),
			want:     running.Status,
			wantWait: 25 * time.Second,
		},
		{
			name:  "Failed, trainer still not seen terminated 31s after: PodFailed",
			trial: running,
			jobFn: func() *builder.JobWrapper {
				return makeJob(trial).Failed(end, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
			},
			pods:        pods(makePod(trial, "p", t0).Running().Obj()),
			now:         end.Add(31 * time.Second),
			want:        failed("PodFailed"),
			wantMessage: []string{"BackoffLimitExceeded"},
		},
		{
			name:  "Failed, trainer OOMKilled: OOMKilled",
			trial: running,
			jobFn: func() *builder.JobWrapper {
				return makeJob(trial).Failed(end, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
			},
			pods:        pods(makePod(trial, "p", t0).Terminated(137, "OOMKilled", "").Obj()),
			now:         afterEnd,
			want:        failed("OOMKilled"),
			wantMessage: []string{"memory limit", "137"},
		},
		{
			name:  "Failed, trainer exited 2: ExitCode with the log tail",
			trial: running,
			jobFn: func() *builder.JobWrapper {
				return makeJob(trial).Failed(end, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
			},
			pods:        pods(makePod(trial, "p", t0).Terminated(2, "Error", "ValueError: learning rate must be positive").Obj()),
			now:         afterEnd,
			want:        failed("ExitCode"),
			wantMessage: []string{"exited with code 2", "ValueError: learning rate must be positive"},
		},
		{
			name:  "Failed past the deadline, trainer killed: DeadlineExceeded",
			trial: running,
			jobFn: func() *builder.JobWrapper {
				return makeJob(trial).Failed(end, "DeadlineExceeded", "Job was active longer than specified deadline")
			},
			pods:        pods(makePod(trial, "p", t0).Terminated(137, "Error", "").Obj()),
			now:         afterEnd,
			want:        failed("DeadlineExceeded"),
			wantMessage: []string{"Job was active longer than specified deadline"},
		},
		{
			name:  "Failed, Pod evicted, no terminated trainer: PodFailed",
			trial: running,
			jobFn: func() *builder.JobWrapper {
				return makeJob(trial).Failed(end, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
			},
			pods:        pods(makePod(trial, "p", t0).Evicted("The node was low on resource: memory.").Obj()),
			now:         afterEnd,
			want:        failed("PodFailed"),
			wantMessage: []string{"Evicted", "The node was low on resource: memory."},
		},
		{
			name:  "two Pods, the older running, the newer terminated: the terminated one",
			trial: running,
			jobFn: func() *builder.JobWrapper { return makeJob(trial).Complete(end) },
			pods: pods(
				makePod(trial, "older", t0).Running().Obj(),
				makePod(trial, "newer", t0.Add(time.Minute)).Terminated(0, "Completed", `{"val_loss": 0.5}`).Obj(),
			),
			now: afterEnd,
			want: crucible.TrialStatus{
				Phase:          crucible.TrialSucceeded,
				JobName:        trial.Name,
				StartTime:      started,
				CompletionTime: ended,
				Metrics:        map[string]string{"val_loss": "0.5"},
				Objective:      "0.5",
				Conditions: []metav1.Condition{{
					Type: "Succeeded", Status: metav1.ConditionTrue, Reason: "MetricsRecorded",
					Message: "val_loss=0.5", ObservedGeneration: 3,
				}},
			},
		},
		{
			name:  "two Pods, the older terminated, the newer pending: the terminated one",
			trial: running,
			jobFn: func() *builder.JobWrapper { return makeJob(trial).Failed(end, "BackoffLimitExceeded", "") },
			pods: pods(
				makePod(trial, "newer", t0.Add(time.Minute)).Obj(),
				makePod(trial, "older", t0).Terminated(3, "Error", "boom").Obj(),
			),
			now:         afterEnd,
			want:        failed("ExitCode"),
			wantMessage: []string{"exited with code 3", "boom"},
		},
	}
	// Long texts cut at each of three byte alignments, so that some cuts
	// fall inside a multi-byte character.
	for pad := range 3 {
		runes := strings.Repeat("日本語", 10*1024/9)
		// Ten control bytes quote to 40: the quoted tail outgrows 1024.
		controls := strings.Repeat(strings.Repeat("\x01", 10)+"日", 10*1024/13)
		suffix := strings.Repeat("x", pad)
		cases = append(cases, []statusCase{
			{
				name:        fmt.Sprintf("10 KB multi-byte log tail, +%d: bounded, valid UTF-8", pad),
				trial:       running,
				jobFn:       func() *builder.JobWrapper { return makeJob(trial).Failed(end, "BackoffLimitExceeded", "") },
				pods:        pods(makePod(trial, "p", t0).Terminated(1, "Error", runes+suffix).Obj()),
				now:         afterEnd,
				want:        failed("ExitCode"),
				wantMessage: []string{"exited with code 1", "日本語" + suffix},
				// A rune cut in half shows as a \x escape once quoted.
				notInMessage: []string{`\x`},
			},
			{
				name:        fmt.Sprintf("10 KB log tail that grows when quoted, +%d: bounded, valid UTF-8", pad),
				trial:       running,
				jobFn:       func() *builder.JobWrapper { return makeJob(trial).Failed(end, "BackoffLimitExceeded", "") },
				pods:        pods(makePod(trial, "p", t0).Terminated(1, "Error", controls+suffix).Obj()),
				now:         afterEnd,
				want:        failed("ExitCode"),
				wantMessage: []string{"exited with code 1", "..."},
			},
			{
				name:        fmt.Sprintf("10 KB multi-byte eviction message, +%d: bounded, valid UTF-8", pad),
				trial:       running,
				jobFn:       func() *builder.JobWrapper { return makeJob(trial).Failed(end, "BackoffLimitExceeded", "") },
				pods:        pods(makePod(trial, "p", t0).Evicted(suffix + runes).Obj()),
				now:         afterEnd,
				want:        failed("PodFailed"),
				wantMessage: []string{"Evicted", "日本語", "..."},
			},
			{
				name:        fmt.Sprintf("10 KB multi-byte deadline message, +%d: bounded, valid UTF-8", pad),
				trial:       running,
				jobFn:       func() *builder.JobWrapper { return makeJob(trial).Failed(end, "DeadlineExceeded", suffix+runes) },
				now:         afterEnd,
				want:        failed("DeadlineExceeded"),
				wantMessage: []string{"activeDeadlineSeconds", "日本語", "..."},
			},
		}...)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.trial.DeepCopy()
			j := tc.jobFn().Obj()
			podsBefore := make([]corev1.Pod, len(tc.pods))
			for i := range tc.pods {
				tc.pods[i].DeepCopyInto(&podsBefore[i])
			}
			jobBefore := j.DeepCopy()

			wait := setStatusFromJob(got, exp, observed{job: j, pods: tc.pods}, tc.now)

			if wait != tc.wantWait {
				t.Errorf("setStatusFromJob() wait = %v; want %v", wait, tc.wantWait)
			}
			// Attempts, Reconciling and Stalled have tests of their own.
			opts := []cmp.Option{cmpopts.IgnoreFields(crucible.TrialStatus{}, "Attempts")}
			if len(tc.wantMessage) > 0 {
				opts = append(opts,
					cmpopts.IgnoreFields(crucible.TrialStatus{}, "Message"),
					cmpopts.IgnoreFields(metav1.Condition{}, "Message"))
			}
			if diff := diffStatus(withoutReconcilingAndStalled(tc.want), withoutReconcilingAndStalled(got.Status), opts...); diff != "" {
				t.Errorf("status mismatch (-want +got):\n%s", diff)
			}
			checkMessage(t, got.Status, tc.wantMessage)
			checkReconcilingAndStalled(t, got.Status)
			for _, n := range tc.notInMessage {
				if strings.Contains(got.Status.Message, n) {
					t.Errorf("status.message = %q; want it not to contain %q", got.Status.Message, n)
				}
			}
			if diff := cmp.Diff(jobBefore, j); diff != "" {
				t.Errorf("setStatusFromJob modified the Job (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(podsBefore, tc.pods, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("setStatusFromJob modified the Pods (-before +after):\n%s", diff)
			}
		})
	}
}

// checkMessage checks what every failure message must be: bounded, valid
// UTF-8, the same on the status and its condition, and saying what want
// lists.
func checkMessage(t *testing.T, s crucible.TrialStatus, want []string) {
	t.Helper()
	if s.Phase != crucible.TrialFailed {
		return
	}
	if len(s.Message) > 1024 {
		t.Errorf("status.message is %d bytes; want at most 1024", len(s.Message))
	}
	if !utf8.ValidString(s.Message) {
		t.Errorf("status.message is not valid UTF-8: %q", s.Message)
	}
	if strings.ContainsRune(s.Message, utf8.RuneError) {
		t.Errorf("status.message has a replacement character: %q", s.Message)
	}
	if s.Message == "" {
		t.Errorf("status.message is empty; a failed Trial must say why")
	}
	for _, w := range want {
		if !strings.Contains(s.Message, w) {
			t.Errorf("status.message = %q; want it to contain %q", s.Message, w)
		}
	}
	for _, c := range s.Conditions {
		if c.Type == crucible.TrialSucceededCondition && c.Message != s.Message {
			t.Errorf("Succeeded condition message = %q; want status.message %q", c.Message, s.Message)
		}
	}
}

// TestSetStatusFromJobObserved covers what a pass observes beside the Job
// and its Pods: the Job controller's FailedCreate event, a disrupted Pod,
// and an artifact listing that failed.
func TestSetStatusFromJobObserved(t *testing.T) {
	exp := makeExperiment("resnet").Obj()
	s3 := makeExperiment("resnet").Obj()
	s3.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
		Endpoint: "s3.example", Bucket: "ml", CredentialsSecret: crucible.SecretReference{Name: "s3"}}}
	name := "resnet-0123456789ab"
	fresh := makeTrial(exp, name).Obj()
	running := makeTrial(exp, name).Status(crucible.TrialStatus{
		Phase: crucible.TrialRunning, JobName: name, StartTime: &metav1.Time{Time: t0}, Attempts: 1,
		Conditions: []metav1.Condition{reconcilingCondition("Running", "Job "+name+" runs the trainer", 1)}}).Obj()
	end := t0.Add(10 * time.Minute)
	created := func() *batchv1.Job {
		j := makeJob(fresh).Obj()
		j.CreationTimestamp = metav1.NewTime(t0)
		j.Status.StartTime = nil
		return j
	}
	quota := &corev1.Event{Reason: "FailedCreate", Message: `pods "resnet-0123456789ab-x" is forbidden: exceeded quota: gpus`}
	evicted := makePod(fresh, name+"-a", t0).Terminated(137, "Error", "").Obj()
	evicted.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"}}
	rerun := makePod(fresh, name+"-b", t0.Add(time.Minute)).Running().Obj()
	done := makePod(fresh, name+"-b", t0.Add(time.Minute)).Terminated(0, "Completed", `{"val_loss": 0.25}`).Obj()
	down := &listing{err: errors.New("list objects under s3://ml/team/: dial tcp 10.0.0.1:443: connect: connection refused")}
	metricsRecorded := crucible.TrialStatus{
		Phase: crucible.TrialRunning, JobName: name, StartTime: &metav1.Time{Time: t0}, Attempts: 1,
		Metrics: map[string]string{"val_loss": "0.25"}, Objective: "0.25",
		Conditions: []metav1.Condition{{Type: crucible.TrialArtifactsRecordedCondition, Status: metav1.ConditionFalse,
			ObservedGeneration: 1, Reason: crucible.ReasonStoreError, Message: "the run ended but its artifacts could not be listed: " + down.err.Error()}},
	}
	succeeded := func(attempts int32, conds ...metav1.Condition) crucible.TrialStatus {
		return crucible.TrialStatus{
			Phase: crucible.TrialSucceeded, JobName: name, StartTime: &metav1.Time{Time: t0}, CompletionTime: &metav1.Time{Time: end},
			Metrics: map[string]string{"val_loss": "0.25"}, Objective: "0.25", Attempts: attempts,
			Conditions: append(conds, metav1.Condition{Type: crucible.TrialSucceededCondition, Status: metav1.ConditionTrue,
				Reason: crucible.ReasonMetricsRecorded, Message: "val_loss=0.25", ObservedGeneration: 1}),
		}
	}
	cases := []struct {
		name  string
		exp   *crucible.Experiment
		trial *crucible.Trial
		obs   observed
		now   time.Time
		want  crucible.TrialStatus
	}{
		{
			name:  "the Job controller cannot create the Pod: Pending with its words",
			exp:   exp,
			trial: fresh,
			obs:   observed{job: created(), failedCreate: quota},
			now:   t0.Add(pendingGracePeriod),
			want: crucible.TrialStatus{Phase: crucible.TrialPending, JobName: name, Reason: "FailedCreate",
				Message: "the Job controller cannot create the trial's Pod: " + quota.Message},
		},
		{
			name:  "an old FailedCreate once the Pod exists: nothing to say",
			exp:   exp,
			trial: fresh,
			obs:   observed{job: created(), failedCreate: quota, pods: pods(makePod(fresh, name+"-a", t0).Obj())},
			now:   t0.Add(pendingGracePeriod),
			want:  crucible.TrialStatus{},
		},
		{
			name:  "an evicted Pod replaced by a running one: still Running, a second attempt",
			exp:   exp,
			trial: running,
			obs:   observed{job: makeJob(fresh).Obj(), pods: pods(makePod(fresh, name+"-a", t0).Obj(), rerun)},
			now:   t0.Add(time.Hour),
			want:  crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: name, StartTime: &metav1.Time{Time: t0}, Attempts: 2},
		},
		{
			name:  "the evicted Pod's exit code is no outcome: the rerun's metrics count",
			exp:   exp,
			trial: running,
			obs:   observed{job: makeJob(fresh).Complete(end).Obj(), pods: pods(evicted, done)},
			now:   end,
			want:  succeeded(2),
		},
		{
			name:  "the store is down: metrics recorded, the Trial does not end",
			exp:   s3,
			trial: running,
			obs:   observed{job: makeJob(fresh).Complete(end).Obj(), pods: pods(done), listing: down},
			now:   end,
			want:  metricsRecorded,
		},
		{
			name:  "the store is back and the Pod is gone: the recorded metrics end it",
			exp:   s3,
			trial: makeTrial(exp, name).Status(metricsRecorded).Obj(),
			obs:   observed{job: makeJob(fresh).Complete(end).Obj(), listing: &listing{manifest: artifacts.Manifest{Objects: 2, Bytes: 10, Digest: "sha256:" + strings.Repeat("e", 64)}}},
			now:   end.Add(time.Hour),
			want: func() crucible.TrialStatus {
				st := succeeded(1, metav1.Condition{Type: crucible.TrialArtifactsRecordedCondition, Status: metav1.ConditionTrue,
					Reason: "Recorded", Message: "2 objects, 10 bytes", ObservedGeneration: 1})
				st.Artifacts = &crucible.TrialArtifacts{URI: "s3://ml/ml/resnet/resnet-uid/" + name + "/" + name + "-uid/",
					Objects: ptr.To[int64](2), Bytes: ptr.To[int64](10), ManifestDigest: "sha256:" + strings.Repeat("e", 64)}
				return st
			}(),
		},
		{
			name:  "more objects than the operator lists: failed with its own reason",
			exp:   s3,
			trial: running,
			obs: observed{job: makeJob(fresh).Complete(end).Obj(), pods: pods(done),
				listing: &listing{err: fmt.Errorf("s3://ml/ml/resnet/%s/: %w", name, artifacts.ErrTooManyObjects)}},
			now: end,
			want: crucible.TrialStatus{Phase: crucible.TrialFailed, JobName: name, StartTime: &metav1.Time{Time: t0},
				CompletionTime: &metav1.Time{Time: end}, Attempts: 1, Reason: crucible.ReasonArtifactsTooMany,
				Artifacts: &crucible.TrialArtifacts{URI: "s3://ml/ml/resnet/resnet-uid/" + name + "/" + name + "-uid/"},
				Metrics:   map[string]string{"val_loss": "0.25"},
				Message:   "the run's artifacts could not be recorded: s3://ml/ml/resnet/" + name + "/: " + artifacts.ErrTooManyObjects.Error(),
				Conditions: []metav1.Condition{{Type: crucible.TrialSucceededCondition, Status: metav1.ConditionFalse,
					ObservedGeneration: 1, Reason: crucible.ReasonArtifactsTooMany,
					Message: "the run's artifacts could not be recorded: s3://ml/ml/resnet/" + name + "/: " + artifacts.ErrTooManyObjects.Error()}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.trial.DeepCopy()
			setStatusFromJob(got, tc.exp, tc.obs, tc.now)
			if diff := diffStatus(withoutReconcilingAndStalled(tc.want), withoutReconcilingAndStalled(got.Status)); diff != "" {
				t.Errorf("status mismatch (-want +got):\n%s", diff)
			}
			checkReconcilingAndStalled(t, got.Status)
		})
	}
}

// withoutReconcilingAndStalled is s without the conditions kstatus reads,
// for comparisons that leave them to checkReconcilingAndStalled.
func withoutReconcilingAndStalled(s crucible.TrialStatus) crucible.TrialStatus {
	s = *s.DeepCopy()
	s.Conditions = slices.DeleteFunc(s.Conditions, func(c metav1.Condition) bool {
		return c.Type == crucible.ReconcilingCondition || c.Type == crucible.StalledCondition
	})
	if len(s.Conditions) == 0 {
		s.Conditions = nil
	}
	return s
}

// reconcilingCondition is the Reconciling condition of a Trial at
// generation gen with reason and message, as a pass at t0 sets it.
func reconcilingCondition(reason, message string, gen int64) metav1.Condition {
	return metav1.Condition{Type: crucible.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: reason, Message: message,
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(t0)}
}

// checkReconcilingAndStalled checks the conditions kstatus reads against
// the phase: Reconciling (reason: the phase, or StoreError while the
// artifacts cannot be listed) until the Trial ends, Stalled with the
// failure's reason and message once it failed, neither once it succeeded,
// and neither on a Trial with nothing recorded yet.
func checkReconcilingAndStalled(t *testing.T, s crucible.TrialStatus) {
	t.Helper()
	reconciling := meta.FindStatusCondition(s.Conditions, crucible.ReconcilingCondition)
	stalled := meta.FindStatusCondition(s.Conditions, crucible.StalledCondition)
	storeError := meta.FindStatusCondition(s.Conditions, crucible.TrialArtifactsRecordedCondition)
	if storeError != nil && storeError.Status != metav1.ConditionFalse {
		storeError = nil
	}
	var want *metav1.Condition
	switch {
	case s.Phase == crucible.TrialSucceeded:
	case s.Phase == crucible.TrialFailed:
		want = &metav1.Condition{Type: crucible.StalledCondition, Reason: s.Reason, Message: s.Message}
	case storeError != nil:
		want = &metav1.Condition{Type: crucible.ReconcilingCondition, Reason: crucible.ReasonStoreError, Message: storeError.Message}
	case s.Phase == crucible.TrialRunning:
		want = &metav1.Condition{Type: crucible.ReconcilingCondition, Reason: "Running", Message: "Job " + s.JobName + " runs the trainer"}
	case s.Phase == crucible.TrialPending:
		want = &metav1.Condition{Type: crucible.ReconcilingCondition, Reason: "Pending", Message: s.Message}
	}
	for _, c := range []*metav1.Condition{reconciling, stalled} {
		switch {
		case c == nil:
		case want == nil || c.Type != want.Type:
			t.Errorf("%s = %+v; want none with phase %q", c.Type, *c, s.Phase)
		case c.Status != metav1.ConditionTrue || c.Reason != want.Reason || c.Message != want.Message:
			t.Errorf("%s = %s, reason %q, message %q; want True, %q, %q", c.Type, c.Status, c.Reason, c.Message, want.Reason, want.Message)
		}
	}
	if want != nil && meta.FindStatusCondition(s.Conditions, want.Type) == nil {
		t.Errorf("no %s condition with phase %q; want one", want.Type, s.Phase)
	}
}

func TestSetReconcilingAndStalled(t *testing.T) {
	t1 := metav1.NewTime(t0.Add(time.Minute))
	cond := func(typ, reason, message string, at metav1.Time) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: message,
			ObservedGeneration: 3, LastTransitionTime: at}
	}
	succeeded := metav1.Condition{Type: crucible.TrialSucceededCondition, Status: metav1.ConditionTrue,
		Reason: crucible.ReasonMetricsRecorded, Message: "val_loss=0.25", ObservedGeneration: 3, LastTransitionTime: t1}
	storeError := metav1.Condition{Type: crucible.TrialArtifactsRecordedCondition, Status: metav1.ConditionFalse,
		Reason: crucible.ReasonStoreError, Message: "the run ended but its artifacts could not be listed: timeout",
		ObservedGeneration: 3, LastTransitionTime: t1}
	cases := []struct {
		name   string
		before crucible.TrialStatus
		want   []metav1.Condition
	}{
		{
			name:   "Pending: Reconciling with why it cannot start",
			before: crucible.TrialStatus{Phase: crucible.TrialPending, Reason: "Unschedulable", Message: "Pod p cannot be scheduled"},
			want:   []metav1.Condition{cond(crucible.ReconcilingCondition, "Pending", "Pod p cannot be scheduled", t1)},
		},
		{
			name: "Pending to Running: still True since it was, the reason and message follow",
			before: crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: "j", Conditions: []metav1.Condition{
				cond(crucible.ReconcilingCondition, "Pending", "Pod p cannot be scheduled", metav1.NewTime(t0))}},
			want: []metav1.Condition{cond(crucible.ReconcilingCondition, "Running", "Job j runs the trainer", metav1.NewTime(t0))},
		},
		{
			name: "the run ended, its artifacts not listed: Reconciling with the store's error",
			before: crucible.TrialStatus{Phase: crucible.TrialRunning, JobName: "j", Conditions: []metav1.Condition{
				cond(crucible.ReconcilingCondition, "Running", "Job j runs the trainer", metav1.NewTime(t0)), storeError}},
			want: []metav1.Condition{
				cond(crucible.ReconcilingCondition, crucible.ReasonStoreError, storeError.Message, metav1.NewTime(t0)), storeError},
		},
		{
			name: "Running to Succeeded: Reconciling goes",
			before: crucible.TrialStatus{Phase: crucible.TrialSucceeded, Conditions: []metav1.Condition{
				cond(crucible.ReconcilingCondition, "Running", "Job j runs the trainer", metav1.NewTime(t0)), succeeded}},
			want: []metav1.Condition{succeeded},
		},
		{
			name: "Running to Failed: Stalled with the failure's reason and message",
			before: crucible.TrialStatus{Phase: crucible.TrialFailed, Reason: crucible.ReasonOOMKilled, Message: "the trainer was killed",
				Conditions: []metav1.Condition{cond(crucible.ReconcilingCondition, "Running", "Job j runs the trainer", metav1.NewTime(t0))}},
			want: []metav1.Condition{cond(crucible.StalledCondition, crucible.ReasonOOMKilled, "the trainer was killed", t1)},
		},
		{
			name:   "Failed before it ran (JobRejected): Stalled",
			before: crucible.TrialStatus{Phase: crucible.TrialFailed, Reason: crucible.ReasonJobRejected, Message: "the API server refused the trial's Job"},
			want:   []metav1.Condition{cond(crucible.StalledCondition, crucible.ReasonJobRejected, "the API server refused the trial's Job", t1)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			trial := makeTrial(makeExperiment("e").Obj(), "e-0123456789ab").Generation(3).Status(tc.before).Obj()
			setReconcilingAndStalled(trial, t1)
			if diff := cmp.Diff(tc.want, trial.Status.Conditions); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}

// update rewrites the fixtures of internal/health from what the status
// functions compute now:
//
//	go test ./internal/controller/trial/ -run TestHealthFixtures -update
var update = flag.Bool("update", false, "rewrite internal/health/testdata/trial")

// TestHealthFixtures computes a Trial's status in every phase from its Job
// and Pod, as a pass of the reconciler does, and checks it against the
// fixtures that internal/health reads with kstatus and the Argo CD health
// check.
func TestHealthFixtures(t *testing.T) {
	exp := sweepExperiment().Obj()
	created := sweepTrial(exp)
	created.CreationTimestamp = metav1.NewTime(t0.Add(-time.Minute))
	job := func() *builder.JobWrapper {
		w := makeJob(created)
		w.CreationTimestamp = created.CreationTimestamp
		return w
	}
	end := t0.Add(10 * time.Minute)
	podName := created.Name + "-x7k2p"
	// pass computes the Trial's status from what a pass observed, and sets
	// observedGeneration as writeStatus does after a pass without errors.
	pass := func(trial *crucible.Trial, j *builder.JobWrapper, pod *builder.PodWrapper, now time.Time) *crucible.Trial {
		trial = trial.DeepCopy()
		obs := observed{job: j.Obj()}
		if pod != nil {
			obs.pods = pods(pod.Obj())
		}
		setStatusFromJob(trial, exp, obs, now)
		trial.Status.ObservedGeneration = trial.Generation
		return trial
	}

	fixtures := map[string]*crucible.Trial{"created": created}
	fixtures["pending"] = pass(created, job(),
		makePod(created, podName, t0).Unschedulable("0/20 nodes are available: 20 Insufficient nvidia.com/gpu."), t0)
	fixtures["pending-queued"] = pass(created, job().Suspended("Job suspended"), makePod(created, podName, t0), t0)
	kueue := func() *builder.JobWrapper {
		w := job()
		w.Labels[crucible.QueueNameLabel] = "team-a-gpus"
		return w.Suspended("Job suspended")
	}
	fixtures["pending-kueue"] = pass(created, kueue(), nil, t0)
	fixtures["running"] = pass(created, job(), makePod(created, podName, t0).Running(), t0.Add(time.Minute))
	// Kueue preempted the running trial: its Job is suspended again.
	fixtures["pending-preempted"] = pass(fixtures["running"], kueue(), nil, t0.Add(time.Hour))
	fixtures["succeeded"] = pass(fixtures["running"], job().Complete(end),
		makePod(created, podName, t0).Terminated(0, "Completed", `{"val_loss": 0.231, "accuracy": 0.912}`), end.Add(time.Second))
	fixtures["failed"] = pass(fixtures["running"], job().Failed(end, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
		makePod(created, podName, t0).Terminated(1, "Error", "RuntimeError: CUDA error: an illegal memory access was encountered"),
		end.Add(time.Second))
	// The run ended; what it wrote cannot be listed yet.
	s3 := exp.DeepCopy()
	s3.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
		Endpoint: "s3.example", Bucket: "ml", CredentialsSecret: crucible.SecretReference{Name: "s3"}}}
	unlisted := fixtures["running"].DeepCopy()
	setStatusFromJob(unlisted, s3, observed{job: job().Complete(end).Obj(),
		pods:    pods(makePod(created, podName, t0).Terminated(0, "Completed", `{"val_loss": 0.231}`).Obj()),
		listing: &listing{err: errors.New("list objects under s3://ml/ml/: dial tcp 10.0.0.1:443: connect: connection refused")}},
		end.Add(time.Second))
	fixtures["running-artifacts-not-listed"] = unlisted
	// The Job was deleted under the running trial (trial_controller.go).
	jobMissing := fixtures["running"].DeepCopy()
	setFailed(jobMissing, crucible.ReasonJobMissing,
		fmt.Sprintf("job %s was deleted before the run ended; a trial is never run twice", jobMissing.Status.JobName),
		metav1.NewTime(end))
	fixtures["failed-job-missing"] = jobMissing

	for name, trial := range fixtures {
		if err := health.Fixture(trial, name, *update); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
