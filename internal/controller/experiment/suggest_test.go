package experiment

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/test/builder"
)

// searchExperiment is a TPE search over a continuous log-scale lr and an int
// depth: 16 trials, at most 2 without each other's outcome, parallelism 4.
func searchExperiment(alg crucible.SearchAlgorithm) *crucible.Experiment {
	exp := builder.MakeExperiment("search", testNS).
		FloatRange("lr", "0.0001", "1", 0, crucible.ScaleLog).
		IntRange("depth", 1, 8, 1).
		Seeds(7, 1).Parallelism(4).Obj()
	exp.Spec.Search = crucible.SearchSpec{Algorithm: alg, MaxTrials: ptr.To[int32](16)}
	if alg == crucible.SearchTPE {
		exp.Spec.Search.MaxConcurrent = ptr.To[int32](2)
	}
	return stored(exp)
}

// objectiveOf is the simulated trainer's loss: lowest at lr=0.01, depth=4.
func objectiveOf(t *testing.T, tr crucible.Trial) string {
	t.Helper()
	var lr, depth float64
	for _, p := range tr.Spec.Parameters {
		v, err := strconv.ParseFloat(p.Value, 64)
		if err != nil {
			t.Fatalf("trial %s: parameter %s=%q: %v", tr.Name, p.Name, p.Value, err)
		}
		switch p.Name {
		case "lr":
			lr = v
		case "depth":
			depth = v
		}
	}
	l := math.Log10(lr) + 2
	return strconv.FormatFloat(l*l+0.1*(depth-4)*(depth-4), 'g', -1, 64)
}

// suggestedRun drives a search to its end, ending the active trials of each
// pass in the order end picks, and restarting the reconciler before every
// pass when restart is set. It returns the trials in index order and the
// most that were active at once.
func suggestedRun(t *testing.T, exp *crucible.Experiment, end func(active []crucible.Trial) []crucible.Trial, restart bool) ([]crucible.Trial, int) {
	t.Helper()
	f := newCtrlFixture(t, hooks{}, exp.DeepCopy())
	maxActive := 0
	for pass := 0; pass < 100; pass++ {
		if restart {
			f.r = NewReconciler(f.client, f.recorder, WithClock(f.clock), WithDatasetVerifier(jobspec.Verifier{Image: testVerifierImage}))
		}
		// Past the hold-back of counts-only status writes.
		f.clock.Step(time.Minute)
		if _, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)}); err != nil {
			t.Fatalf("pass %d: Reconcile: %v", pass, err)
		}
		got := f.experiment(t, exp)
		if got.Status.Phase == crucible.ExperimentSucceeded || got.Status.Phase == crucible.ExperimentFailed {
			if got.Status.Phase != crucible.ExperimentSucceeded {
				t.Fatalf("the search ended %s: %+v", got.Status.Phase, got.Status.Conditions)
			}
			return f.trials(t), maxActive
		}
		var active []crucible.Trial
		for _, tr := range f.trials(t) {
			if tr.Status.Phase != crucible.TrialSucceeded && tr.Status.Phase != crucible.TrialFailed {
				active = append(active, tr)
			}
		}
		maxActive = max(maxActive, len(active))
		if len(active) == 0 {
			t.Fatalf("pass %d: no trial active and the search has not ended: %+v", pass, got.Status)
		}
		// One trial ends per pass: the order of the ends is what the
		// runs differ in.
		tr := end(active)[0]
		f.setTrialStatus(t, tr.Spec.Index, crucible.TrialSucceeded, objectiveOf(t, tr))
	}
	t.Fatal("the search did not end in 100 passes")
	return nil, 0
}

// sequence is what two runs of a search must agree on: every trial's index,
// name and parameters.
func sequence(trials []crucible.Trial) []string {
	out := make([]string, len(trials))
	for i, tr := range trials {
		out[i] = fmt.Sprintf("%d %s %v", tr.Spec.Index, tr.Name, tr.Spec.Parameters)
	}
	return out
}

// TestReconcileTPEReplays checks that a TPE search proposes the same trials
// whatever order its trials end in, and across restarts of the operator,
// and that the window bounds the trials running at once.
func TestReconcileTPEReplays(t *testing.T) {
	exp := searchExperiment(crucible.SearchTPE)
	lowestFirst := func(a []crucible.Trial) []crucible.Trial { return a }
	highestFirst := func(a []crucible.Trial) []crucible.Trial {
		r := slices.Clone(a)
		slices.Reverse(r)
		return r
	}

	base, maxActive := suggestedRun(t, exp, lowestFirst, false)
	if len(base) != 16 {
		t.Fatalf("%d trials; want 16", len(base))
	}
	if maxActive > 2 {
		t.Errorf("%d trials active at once; maxConcurrent is 2", maxActive)
	}
	for name, run := range map[string]func() ([]crucible.Trial, int){
		"highest index ends first":            func() ([]crucible.Trial, int) { return suggestedRun(t, exp, highestFirst, false) },
		"operator restarted before each pass": func() ([]crucible.Trial, int) { return suggestedRun(t, exp, lowestFirst, true) },
	} {
		t.Run(name, func(t *testing.T) {
			got, _ := run()
			if d := cmpSequences(sequence(base), sequence(got)); d != "" {
				t.Errorf("the search proposed other trials:\n%s", d)
			}
		})
	}

	// TPE learned: its best beats the first 10 (random) suggestions' best.
	best := func(trials []crucible.Trial) float64 {
		b := math.Inf(1)
		for _, tr := range trials {
			v, _ := strconv.ParseFloat(tr.Status.Objective, 64)
			b = min(b, v)
		}
		return b
	}
	if startup, all := best(base[:10]), best(base); !(all < startup) {
		t.Errorf("best after 16 = %v, not better than after the 10 random startup trials (%v)", all, startup)
	}
}

// cmpSequences returns a line per index where two sequences differ.
func cmpSequences(want, got []string) string {
	var d string
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			d += fmt.Sprintf("- %s\n+ %s\n", w, g)
		}
	}
	return d
}

// TestReconcileRandomRepeats checks that suggestions repeating a point run
// no second Trial and still count against the budget.
func TestReconcileRandomRepeats(t *testing.T) {
	exp := stored(builder.MakeExperiment("tiny", testNS).
		Values("optimizer", "adam", "sgd").Values("depth", "2", "3").
		Seeds(7, 1).Parallelism(10).Obj())
	exp.Spec.Search = crucible.SearchSpec{Algorithm: crucible.SearchRandom, MaxTrials: ptr.To[int32](10)}

	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			f := newCtrlFixture(t, hooks{}, exp.DeepCopy())
			f.mustReconcile(t, exp)
			trials := f.trials(t)
			if len(trials) > 4 {
				t.Fatalf("%d Trials of a 4-point space", len(trials))
			}
			for _, tr := range trials {
				f.setTrialStatus(t, tr.Spec.Index, crucible.TrialSucceeded, "0.5")
			}
			if restart {
				f.r = NewReconciler(f.client, f.recorder, WithClock(f.clock), WithDatasetVerifier(jobspec.Verifier{Image: testVerifierImage}))
			}
			f.mustReconcile(t, exp)
			got := f.experiment(t, exp)
			if got.Status.Phase != crucible.ExperimentSucceeded {
				t.Fatalf("phase %s; want Succeeded: %+v", got.Status.Phase, got.Status.Trials)
			}
			c := got.Status.Trials
			if c.Total != 10 || c.Created != int32(len(trials)) || c.Repeated != 10-c.Created {
				t.Errorf("counts %+v; want total 10, created %d, repeated %d", c, len(trials), 10-len(trials))
			}
		})
	}
}
