package experiment

import (
	"context"
	"strings"
	"testing"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/reproduce"
	"github.com/crucible-dev/crucible/test/builder"
)

// reproductionOf is the reproduction of sweep()'s trial at index 3, whose
// metrics were val_loss 0.5 and accuracy 0.95.
func reproductionOf(t *testing.T, opts reproduce.Options) *crucible.Experiment {
	t.Helper()
	orig := stored(sweep().Obj())
	trial := builder.MakeTrial(orig, sweepTrialName(3)).Index(3).Seed(7).
		Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Metrics: map[string]string{"val_loss": "0.5", "accuracy": "0.95"}}).Obj()
	trial.Spec.Parameters = sweepParams(3)
	r, err := reproduce.FromTrial(orig, trial, opts)
	if err != nil {
		t.Fatal(err)
	}
	return stored(r)
}

// endTrial ends the reproduction's one trial with metrics, as the Trial
// controller would.
func (f *ctrlFixture) endTrial(t *testing.T, phase crucible.TrialPhase, metrics map[string]string) {
	t.Helper()
	trials := f.trials(t)
	if len(trials) != 1 {
		t.Fatalf("%d Trials; a reproduction has one", len(trials))
	}
	tr := trials[0]
	tr.Status.Phase, tr.Status.Metrics = phase, metrics
	if phase == crucible.TrialFailed {
		tr.Status.Reason, tr.Status.Message = crucible.ReasonExitCode, "the trainer exited with code 1"
	}
	if err := f.store.Status().Update(context.Background(), &tr); err != nil {
		t.Fatal(err)
	}
}

// TestReconcileReproduction: a reproduction runs its one trial and ends
// with the verdict in the same status write as its end.
func TestReconcileReproduction(t *testing.T) {
	tol := []crucible.MetricTolerance{{Metric: "val_loss", Absolute: "0.01"}}
	cases := []struct {
		name    string
		phase   crucible.TrialPhase
		metrics map[string]string
		verdict crucible.ReproductionVerdict
		reason  string
		message string
		event   string
	}{
		{"identical", crucible.TrialSucceeded, map[string]string{"val_loss": "0.5", "accuracy": "0.95"}, crucible.VerdictIdentical, "", "all 2 metrics equal", "Normal Reproduced Identical"},
		{"within tolerance", crucible.TrialSucceeded, map[string]string{"val_loss": "0.505", "accuracy": "0.95"}, crucible.VerdictWithinTolerance, "", "val_loss within tolerance: 0.505, original 0.5 (+0.005", "Normal Reproduced WithinTolerance"},
		{"differs", crucible.TrialSucceeded, map[string]string{"val_loss": "0.5", "accuracy": "0.9"}, crucible.VerdictDiffers, "", "accuracy differs: 0.9, original 0.95 (-0.05, no tolerance)", "Warning Reproduced Differs"},
		{"the trial failed", crucible.TrialFailed, nil, crucible.VerdictNotComparable, crucible.ReasonExitCode, "did not succeed (ExitCode)", "Warning Reproduced NotComparable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := reproductionOf(t, reproduce.Options{Tolerances: tol})
			f := newCtrlFixture(t, hooks{}, exp)
			f.mustReconcile(t, exp)
			if _, _, _, indices := f.writes(); len(indices) != 1 {
				t.Fatalf("created Trials %v; a reproduction runs one", indices)
			}
			f.events()
			f.endTrial(t, tc.phase, tc.metrics)
			f.mustReconcile(t, exp)
			if _, patches, _, _ := f.writes(); patches != 1 {
				t.Errorf("%d status patches at the end; want 1: the verdict is written with the end", patches)
			}
			got := f.experiment(t, exp)
			v := got.Status.Reproduction
			if got.Status.CompletionTime == nil || v == nil {
				t.Fatalf("completionTime %v, reproduction %+v; want both", got.Status.CompletionTime, v)
			}
			if v.Verdict != tc.verdict || v.Reason != tc.reason || !strings.Contains(v.Message, tc.message) || v.Trial != f.trials(t)[0].Name {
				t.Errorf("reproduction %+v; want %s (%q) with a message containing %q", v, tc.verdict, tc.reason, tc.message)
			}
			events := f.events()
			found := false
			for _, e := range events {
				found = found || strings.HasPrefix(e, tc.event)
			}
			if !found {
				t.Errorf("events %q; want one starting %q", events, tc.event)
			}
			// The verdict is final: a later pass writes nothing.
			f.mustReconcile(t, exp)
			if _, patches, _, _ := f.writes(); patches != 0 {
				t.Errorf("a pass after the verdict made %d status patches", patches)
			}
		})
	}
}

// TestReconcileReproductionPinsDiffer: a reproduction whose env is not the
// original's fails before any trial, NotComparable with the reason.
func TestReconcileReproductionPinsDiffer(t *testing.T) {
	exp := reproductionOf(t, reproduce.Options{})
	exp.Spec.Env = append(exp.Spec.Env, crucible.EnvVar{Name: "FAST", Value: "1"})
	f := newCtrlFixture(t, hooks{}, exp)
	f.mustReconcile(t, exp)
	if creates, _, _, _ := f.writes(); creates != 0 {
		t.Errorf("%d creates; want none", creates)
	}
	got := f.experiment(t, exp)
	c := condition(got.Status.Conditions, crucible.ExperimentFailedCondition)
	if got.Status.Phase != crucible.ExperimentFailed || c.Reason != crucible.ReasonReproductionPinsDiffer || !strings.Contains(c.Message, exp.Spec.Reproduces.InputsDigest) {
		t.Errorf("phase %s, Failed %s %q; want Failed with ReproductionPinsDiffer naming the recorded digest", got.Status.Phase, c.Reason, c.Message)
	}
	v := got.Status.Reproduction
	if v == nil || v.Verdict != crucible.VerdictNotComparable || v.Reason != crucible.ReasonReproductionPinsDiffer {
		t.Errorf("reproduction %+v; want NotComparable (ReproductionPinsDiffer)", v)
	}
}
