package trial

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

func TestJobEnded(t *testing.T) {
	running := &batchv1.Job{Status: batchv1.JobStatus{Active: 1}}
	ready := running.DeepCopy()
	ready.Status.Ready = new(int32(1))
	withCondition := func(j *batchv1.Job, c batchv1.JobConditionType) *batchv1.Job {
		j = j.DeepCopy()
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: c, Status: corev1.ConditionTrue})
		return j
	}
	criteriaMet := withCondition(running, batchv1.JobSuccessCriteriaMet)
	complete := withCondition(criteriaMet, batchv1.JobComplete)
	failureTarget := withCondition(running, batchv1.JobFailureTarget)
	failed := withCondition(failureTarget, batchv1.JobFailed)
	suspended := withCondition(running, batchv1.JobSuspended)
	resumed := suspended.DeepCopy()
	resumed.Status.Conditions[0].Status = corev1.ConditionFalse
	deleting := running.DeepCopy()
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	cases := []struct {
		name          string
		before, after *batchv1.Job
		want          bool
	}{
		{name: "counts only", before: running, after: ready, want: false},
		{name: "success criteria met, not yet Complete", before: running, after: criteriaMet, want: false},
		{name: "Complete", before: criteriaMet, after: complete, want: true},
		{name: "failure target, not yet Failed", before: running, after: failureTarget, want: false},
		{name: "Failed", before: failureTarget, after: failed, want: true},
		{name: "suspended", before: running, after: suspended, want: true},
		{name: "resumed", before: suspended, after: resumed, want: true},
		{name: "being deleted", before: running, after: deleting, want: true},
	}
	for _, tc := range cases {
		if got := jobEnded.Update(event.UpdateEvent{ObjectOld: tc.before, ObjectNew: tc.after}); got != tc.want {
			t.Errorf("%s: jobEnded = %v, want %v", tc.name, got, tc.want)
		}
	}
	checkDropsCreatePassesDelete(t, "jobEnded", jobEnded, running)
}

// checkDropsCreatePassesDelete checks that p drops obj's creation, which
// tells a Trial nothing, and passes its deletion.
func checkDropsCreatePassesDelete(t *testing.T, name string, p predicate.Funcs, obj client.Object) {
	t.Helper()
	if p.Create(event.CreateEvent{Object: obj}) {
		t.Errorf("%s passes a creation; want it dropped", name)
	}
	if !p.Delete(event.DeleteEvent{Object: obj}) {
		t.Errorf("%s drops a deletion; want it passed", name)
	}
}

func TestPodProgressed(t *testing.T) {
	pending := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
	scheduled := pending.DeepCopy()
	scheduled.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	running := pending.DeepCopy()
	running.Status.Phase = corev1.PodRunning
	ended := running.DeepCopy()
	ended.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: crucible.TrainerContainerName,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	unschedulable := pending.DeepCopy()
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/4 nodes are available"}}
	stillUnschedulable := unschedulable.DeepCopy()
	stillUnschedulable.Status.Conditions[0].Message = "0/5 nodes are available"
	creating := scheduled.DeepCopy()
	creating.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: crucible.TrainerContainerName,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	backOff := creating.DeepCopy()
	backOff.Status.ContainerStatuses[0].State.Waiting.Reason = "ImagePullBackOff"
	cases := []struct {
		name          string
		before, after *corev1.Pod
		want          bool
	}{
		{name: "scheduled, still Pending", before: pending, after: scheduled, want: false},
		{name: "cannot be scheduled", before: pending, after: unschedulable, want: true},
		{name: "still cannot be scheduled, another message", before: unschedulable, after: stillUnschedulable, want: false},
		{name: "its container is being created", before: scheduled, after: creating, want: false},
		{name: "its image cannot be pulled", before: creating, after: backOff, want: true},
		{name: "starts running", before: pending, after: running, want: true},
		{name: "trainer ends before the phase changes", before: running, after: ended, want: true},
	}
	for _, tc := range cases {
		if got := podProgressed.Update(event.UpdateEvent{ObjectOld: tc.before, ObjectNew: tc.after}); got != tc.want {
			t.Errorf("%s: podProgressed = %v, want %v", tc.name, got, tc.want)
		}
	}
	checkDropsCreatePassesDelete(t, "podProgressed", podProgressed, pending)
}
