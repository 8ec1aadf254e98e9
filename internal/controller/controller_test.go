package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStripPodKeepsOnlyAFailedPodScheduled(t *testing.T) {
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/4 nodes are available"}
	cases := []struct {
		name       string
		conditions []corev1.PodCondition
		want       int
	}{
		{name: "scheduled and ready", conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}, want: 0},
		{name: "unschedulable", conditions: []corev1.PodCondition{
			{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}, unschedulable,
		}, want: 1},
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
		if len(got.Status.Conditions) != tc.want {
			t.Errorf("%s: kept %v; want %d conditions", tc.name, got.Status.Conditions, tc.want)
		}
		if tc.want == 1 && got.Status.Conditions[0] != unschedulable {
			t.Errorf("%s: kept %+v; want %+v", tc.name, got.Status.Conditions[0], unschedulable)
		}
		if got.ManagedFields != nil || len(got.Spec.Containers) != 0 {
			t.Errorf("%s: managedFields %v and containers %v kept; want both dropped", tc.name, got.ManagedFields, got.Spec.Containers)
		}
	}
}
