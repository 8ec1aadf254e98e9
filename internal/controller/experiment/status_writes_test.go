package experiment

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

func TestCountsOnly(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	running := crucible.ExperimentStatus{
		Phase:     crucible.ExperimentRunning,
		StartTime: &t0,
		Trials:    crucible.TrialCounts{Total: 10, Created: 4, Active: 4},
		Conditions: []metav1.Condition{{Type: crucible.ExperimentSucceededCondition, Status: metav1.ConditionFalse,
			Reason: crucible.ReasonTrialsRemaining, Message: "0 of 10 trials ended, 4 active", LastTransitionTime: t0}},
	}
	change := func(f func(s *crucible.ExperimentStatus)) *crucible.ExperimentStatus {
		s := running.DeepCopy()
		f(s)
		return s
	}
	cases := []struct {
		name  string
		after *crucible.ExperimentStatus
		want  bool
	}{
		{name: "a trial ended, the next created", want: true, after: change(func(s *crucible.ExperimentStatus) {
			s.Trials.Created, s.Trials.Succeeded = 5, 1
			s.BestTrial = &crucible.BestTrial{Name: "t-1", Objective: "0.5"}
			s.Conditions[0].Message = "1 of 10 trials ended, 4 active"
		})},
		{name: "the phase", want: false, after: change(func(s *crucible.ExperimentStatus) { s.Phase = crucible.ExperimentSucceeded })},
		{name: "a condition's status", want: false, after: change(func(s *crucible.ExperimentStatus) {
			s.Conditions[0].Status = metav1.ConditionTrue
		})},
		{name: "a new condition", want: false, after: change(func(s *crucible.ExperimentStatus) {
			s.Conditions = append(s.Conditions, metav1.Condition{Type: crucible.ExperimentFailedCondition, Status: metav1.ConditionFalse})
		})},
		{name: "completion", want: false, after: change(func(s *crucible.ExperimentStatus) { s.CompletionTime = &t0 })},
		{name: "observedGeneration", want: false, after: change(func(s *crucible.ExperimentStatus) { s.ObservedGeneration = 2 })},
		{name: "retention", want: false, after: change(func(s *crucible.ExperimentStatus) { s.Retention = &crucible.RetentionStatus{TrialsDeleted: 1} })},
	}
	for _, tc := range cases {
		if got := countsOnly(&running, tc.after); got != tc.want {
			t.Errorf("%s: countsOnly = %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestStatusWritesHoldBack(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "sweep"}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	before := &crucible.ExperimentStatus{Phase: crucible.ExperimentRunning, Trials: crucible.TrialCounts{Total: 10, Created: 4}}
	counts := before.DeepCopy()
	counts.Trials.Created = 5
	phase := before.DeepCopy()
	phase.Phase = crucible.ExperimentSucceeded

	w := newStatusWrites()
	if got := w.holdBack(key, before, counts, now); got != 0 {
		t.Errorf("never written: holdBack = %v; want 0", got)
	}
	w.wrote(key, now)
	if got := w.holdBack(key, before, counts, now.Add(2*time.Second)); got != 3*time.Second {
		t.Errorf("counts 2s after a write: holdBack = %v; want 3s", got)
	}
	if got := w.holdBack(key, before, phase, now.Add(2*time.Second)); got != 0 {
		t.Errorf("a phase 2s after a write: holdBack = %v; want 0", got)
	}
	if got := w.holdBack(key, before, counts, now.Add(countsWriteInterval)); got != 0 {
		t.Errorf("counts %v after a write: holdBack = %v; want 0", countsWriteInterval, got)
	}
	w.forget(key)
	if got := w.holdBack(key, before, counts, now.Add(time.Second)); got != 0 {
		t.Errorf("forgotten: holdBack = %v; want 0", got)
	}
}
