package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStripPodKeepsOnlyTheConditionsTheTrialReads(t *testing.T) {
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/4 nodes are available"}
	evicted := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting"}
	cases := []struct {
		name       string
		conditions []corev1.PodCondition
		want       []corev1.PodCondition
	}{
		{name: "scheduled and ready", conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
		{name: "unschedulable", conditions: []corev1.PodCondition{
			{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}, unschedulable,
		}, want: []corev1.PodCondition{unschedulable}},
		{name: "evicted", conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionFalse}, evicted,
		}, want: []corev1.PodCondition{evicted}},
	}
	for _, tc := range cases {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "trainer", Image: "x"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodPending, Conditions: tc.conditions},
		}
		out, err := stripPod(pod)
		if err != nil {
			t.Fatal(err)
		}
		got := out.(*corev1.Pod)
		if diff := cmp.Diff(tc.want, got.Status.Conditions, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: conditions kept (-want +got):\n%s", tc.name, diff)
		}
		if got.ManagedFields != nil || len(got.Spec.Containers) != 0 {
			t.Errorf("%s: managedFields %v and containers %v kept; want both dropped", tc.name, got.ManagedFields, got.Spec.Containers)
		}
	}
}
