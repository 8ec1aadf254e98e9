package trial

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/earlystop"
)

// withCurve gives a Trial a recorded curve of val_loss and of accuracy.
func withCurve(name string, index int64, phase crucible.TrialPhase, points map[int64]float64) crucible.Trial {
	exp := makeExperiment("resnet").Obj()
	t := *makeTrial(exp, name).Index(index).Obj()
	t.UID = types.UID(name)
	t.Status.Phase = phase
	var loss, acc []crucible.StepPoint
	for step := int64(0); step <= 100; step++ {
		v, ok := points[step]
		if !ok {
			continue
		}
		loss = append(loss, crucible.StepPoint{Step: step, Value: strconv.FormatFloat(v, 'g', -1, 64)})
		acc = append(acc, crucible.StepPoint{Step: step, Value: strconv.FormatFloat(1-v, 'g', -1, 64)})
	}
	t.Status.StepMetrics = &crucible.StepMetrics{Reports: int64(len(loss)), Series: []crucible.StepSeries{
		{Metric: "val_loss", Reports: int64(len(loss)), Points: loss},
		{Metric: "accuracy", Reports: int64(len(acc)), Points: acc},
	}}
	return t
}

func TestDecideEarlyStopASHA(t *testing.T) {
	exp := makeExperiment("resnet").Obj()
	exp.Spec.Objective = crucible.ObjectiveSpec{Metric: "val_loss", Goal: crucible.GoalMinimize}
	exp.Spec.EarlyStopping = &crucible.EarlyStoppingSpec{ASHA: &crucible.ASHASpec{GracePeriod: 1, ReductionFactor: 3}}
	// Three trials reached rung 3 with 0.3, 0.5, 0.7: the best third's
	// cutoff is below 0.5.
	siblings := []crucible.Trial{
		withCurve("a", 0, crucible.TrialSucceeded, map[int64]float64{1: 0.4, 3: 0.3, 9: 0.2}),
		withCurve("b", 1, crucible.TrialSucceeded, map[int64]float64{1: 0.6, 3: 0.5, 9: 0.45}),
		withCurve("c", 2, crucible.TrialRunning, map[int64]float64{1: 0.8, 3: 0.7}),
	}
	for _, tc := range []struct {
		name     string
		at3      float64
		wantStop bool
	}{
		{"worse than the best third at rung 3: stopped", 0.9, true},
		{"better than all at rung 3: goes on", 0.1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trial := withCurve("d", 3, crucible.TrialRunning, map[int64]float64{1: 0.5, 3: tc.at3})
			all := append([]crucible.Trial{trial}, siblings...)
			d := decideEarlyStop(exp, &trial, all)
			if d.Stop != tc.wantStop {
				t.Fatalf("Stop = %v; want %v (%s)", d.Stop, tc.wantStop, d.Message)
			}
			if tc.wantStop && d.Step != 3 {
				t.Errorf("judged at step %d; want the rung 3", d.Step)
			}
		})
	}

	t.Run("no rule, or no curve: nothing decided", func(t *testing.T) {
		trial := withCurve("d", 3, crucible.TrialRunning, map[int64]float64{1: 0.5, 3: 0.9})
		noRule := exp.DeepCopy()
		noRule.Spec.EarlyStopping = nil
		if d := decideEarlyStop(noRule, &trial, siblings); d.Stop {
			t.Error("stopped without a rule")
		}
		bare := *makeTrial(exp, "e").Obj()
		if d := decideEarlyStop(exp, &bare, siblings); d.Stop {
			t.Error("stopped a trial without a curve")
		}
	})
}

func TestSetStopped(t *testing.T) {
	trial := withCurve("d", 3, crucible.TrialRunning, map[int64]float64{1: 0.5, 3: 0.9})
	now := metav1.NewTime(t0.Add(time.Minute))
	setStopped(&trial, "val_loss", earlystopDecision(3, "0.9 is not in the best third at rung 3"), now)
	s := trial.Status
	if s.Phase != crucible.TrialStopped || s.Reason != crucible.ReasonEarlyStopped || !isFinished(&s) {
		t.Fatalf("phase %s reason %s; want Stopped, EarlyStopped, finished", s.Phase, s.Reason)
	}
	if s.Objective != "0.9" || s.Metrics["accuracy"] != "0.09999999999999998" {
		t.Errorf("objective %q metrics %v; want the latest step's", s.Objective, s.Metrics)
	}
	if !strings.Contains(s.Message, "stopped at step 3") || s.CompletionTime == nil {
		t.Errorf("message %q completion %v", s.Message, s.CompletionTime)
	}
	if meta.FindStatusCondition(s.Conditions, crucible.ReconcilingCondition) != nil ||
		meta.FindStatusCondition(s.Conditions, crucible.StalledCondition) != nil {
		t.Errorf("a stopped trial is neither Reconciling nor Stalled: %v", s.Conditions)
	}
}

func earlystopDecision(step int64, msg string) earlystop.Decision {
	return earlystop.Decision{Stop: true, Step: step, Message: msg}
}
