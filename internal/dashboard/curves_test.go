package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// curve is metric's curve: values reported at steps 0, 100, 200...
func curve(metric string, values ...string) crucible.StepSeries {
	s := crucible.StepSeries{Metric: metric, Reports: int64(len(values))}
	for i, v := range values {
		s.Points = append(s.Points, crucible.StepPoint{Step: int64(100 * i), Value: v})
	}
	return s
}

// stepMetrics is the status.stepMetrics of the curves, as many reports as
// the longest and its last step.
func stepMetrics(series ...crucible.StepSeries) *crucible.StepMetrics {
	sm := &crucible.StepMetrics{Series: series}
	for _, s := range series {
		sm.Reports = max(sm.Reports, s.Reports)
		if n := len(s.Points); n > 0 {
			sm.LastStep = max(sm.LastStep, s.Points[n-1].Step)
		}
	}
	return sm
}

// embeddedJSON is the JSON the page embeds in <script type="application/json"
// id="id">, decoded; the pattern also asserts it holds no "<".
func embeddedJSON(t *testing.T, body, id string) (curvesDoc, bool) {
	t.Helper()
	m := regexp.MustCompile(`<script type="application/json" id="` + id + `">([^<]*)</script>`).FindStringSubmatch(body)
	if m == nil {
		return curvesDoc{}, false
	}
	var doc curvesDoc
	if err := json.Unmarshal([]byte(m[1]), &doc); err != nil {
		t.Fatalf("the JSON of #%s: %v\n%s", id, err, m[1])
	}
	return doc, true
}

func TestTrialPageStepMetrics(t *testing.T) {
	exp := sweep()
	withSteps := sweepTrials(exp)[9]
	// The objective is listed after accuracy: the page puts it first.
	withSteps.Status.StepMetrics = stepMetrics(
		curve("accuracy", "0.5", "0.7", "0.8", "0.9"),
		curve("val_loss", "0.9", "0.4", "oops", "0.100"))
	withSteps.Status.StepMetrics.URI = "s3://runs/ml/sweep/uid/sweep-09/uid/metrics.jsonl"
	withSteps.Status.StepMetrics.StoredReports = ptr.To[int64](4)
	without := sweepTrials(exp)[0]
	s, _ := fixture{objs: []client.Object{exp, withSteps, without}}.serve(t)

	status, body := get(t, s, "/namespaces/ml/trials/sweep-09")
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, body)
	}
	doc, ok := embeddedJSON(t, body, "step-data")
	if !ok {
		t.Fatalf("page lacks the step metrics' JSON:\n%s", body)
	}
	want := curvesDoc{Metric: "val_loss", Goal: crucible.GoalMinimize, Series: []curveDoc{
		// A value that is not a number is a gap (null).
		{Name: "val_loss", Objective: true, Points: [][2]any{{0.0, 0.9}, {100.0, 0.4}, {200.0, nil}, {300.0, 0.1}}},
		{Name: "accuracy", Points: [][2]any{{0.0, 0.5}, {100.0, 0.7}, {200.0, 0.8}, {300.0, 0.9}}},
	}}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("step metrics' JSON (-want +got):\n%s", diff)
	}
	latest := `<table id="trial-step-latest" class="table small"><thead><tr><th>Metric</th><th>Latest</th><th>At step</th><th>Reports</th></tr></thead><tbody>
<tr data-step-metric="val_loss" class="objective"><th>val_loss</th><td class="num">0.100</td><td class="num">300</td><td class="num">4</td></tr>` +
		`<tr data-step-metric="accuracy"><th>accuracy</th><td class="num">0.9</td><td class="num">300</td><td class="num">4</td></tr>`
	for _, c := range []string{
		latest,
		`4 reports up to step 300.`,
		`Every report is in <code id="trial-series-uri">s3://runs/ml/sweep/uid/sweep-09/uid/metrics.jsonl</code> (4 reports).`,
		`<div id="step-chart" class="chart" data-series=""`,
		`<script src="/static/dashboard.js?v=`,
	} {
		if !strings.Contains(body, c) {
			t.Errorf("page lacks %q:\n%s", c, body)
		}
	}

	// A trial that reported no step metrics: no chart, no table, no script.
	status, body = get(t, s, "/namespaces/ml/trials/sweep-00")
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, body)
	}
	for _, c := range []string{`id="trial-steps"`, `id="step-chart"`, `id="step-data"`, `id="trial-step-latest"`, `<script`} {
		if strings.Contains(body, c) {
			t.Errorf("the page of a trial without step metrics has %q", c)
		}
	}
}

// TestStepMetricsEscaping: a metric's name and value are the trainer's,
// sent to the step metrics endpoint; markup in them stays text, in the
// table and in the embedded JSON, and the JSON still reads back as sent.
func TestStepMetricsEscaping(t *testing.T) {
	const evil = `</script><script>alert(1)</script>`
	exp := sweep()
	exp.Spec.Objective.Metric = evil
	tr := sweepTrials(exp)[9]
	tr.Status.StepMetrics = stepMetrics(curve(evil, "0.5", evil), curve("loss", evil))
	tr2 := builder.MakeTrial(exp, "sweep-20").Index(20).Obj()
	tr2.Status = crucible.TrialStatus{Phase: crucible.TrialRunning, StepMetrics: stepMetrics(curve(evil, "0.7"))}
	s, _ := fixture{objs: []client.Object{exp, tr, tr2}}.serve(t)

	for _, tt := range []struct {
		path, id string
		names    []string
	}{
		{path: "/namespaces/ml/trials/sweep-09", id: "step-data", names: []string{evil, "loss"}},
		{path: "/namespaces/ml/experiments/sweep", id: "curves-data", names: []string{"sweep-09", "sweep-20"}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			status, body := get(t, s, tt.path)
			if status != http.StatusOK {
				t.Fatalf("status %d:\n%s", status, body)
			}
			if strings.Contains(body, "<script>alert") || strings.Contains(body, evil) {
				t.Errorf("markup came through unescaped:\n%s", body)
			}
			if !strings.Contains(body, `\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e`) {
				t.Errorf("the JSON lacks the escaped string:\n%s", body)
			}
			if !strings.Contains(body, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("the page lacks the string as text:\n%s", body)
			}
			doc, ok := embeddedJSON(t, body, tt.id)
			if !ok {
				t.Fatalf("page lacks #%s:\n%s", tt.id, body)
			}
			if doc.Metric != evil {
				t.Errorf("metric %q, want %q", doc.Metric, evil)
			}
			var names []string
			for _, c := range doc.Series {
				names = append(names, c.Name)
			}
			if diff := cmp.Diff(tt.names, names); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExperimentPageCurves(t *testing.T) {
	exp := sweep()
	exp.Spec.EarlyStopping = &crucible.EarlyStoppingSpec{}
	exp.Status.Trials.Stopped = 1
	exp.Status.Trials.Succeeded = 9
	trials := sweepTrials(exp)
	trials[9].Status.StepMetrics = stepMetrics(curve("val_loss", "0.5", "0.100"), curve("accuracy", "0.9"))
	trials[10].Status = crucible.TrialStatus{Phase: crucible.TrialStopped, Reason: crucible.ReasonEarlyStopped,
		Message: "stopped at step 100", Objective: "0.8", Metrics: map[string]string{"val_loss": "0.8"},
		StepMetrics: stepMetrics(curve("val_loss", "0.9", "0.8"))}
	trials[11].Status.StepMetrics = stepMetrics(curve("val_loss", "0.7"))
	objs := []client.Object{exp}
	for _, tr := range trials {
		objs = append(objs, tr)
	}
	s, _ := fixture{objs: objs}.serve(t)

	status, body := get(t, s, "/namespaces/ml/experiments/sweep")
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, body)
	}
	doc, ok := embeddedJSON(t, body, "curves-data")
	if !ok {
		t.Fatalf("page lacks the curves' JSON:\n%s", body)
	}
	want := curvesDoc{Metric: "val_loss", Goal: crucible.GoalMinimize, Series: []curveDoc{
		{Name: "sweep-09", Phase: "Succeeded", Best: true, Points: [][2]any{{0.0, 0.5}, {100.0, 0.1}}},
		{Name: "sweep-10", Phase: "Stopped", Points: [][2]any{{0.0, 0.9}, {100.0, 0.8}}},
		{Name: "sweep-11", Phase: "Running", Points: [][2]any{{0.0, 0.7}}},
	}}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("curves' JSON (-want +got):\n%s", diff)
	}
	for _, c := range []string{
		`<h2>val_loss by step</h2>`,
		`The curves of the 3 trials that reported val_loss while they ran. 1 of them runs`,
		`<div id="curves" class="chart" data-trial-base="/namespaces/ml/trials/"`,
		// Stopped: in the summary, the progress and the filters.
		`<span id="count-stopped">1</span> stopped early`,
		`<progress id="progress" max="12" value="11">`,
		`<a href="/namespaces/ml/experiments/sweep?phase=Stopped" data-phase="Stopped">Stopped (1)</a>`,
		`<tr data-trial="sweep-10" data-rank="10" data-index="10" data-seed="1234" data-phase="Stopped" data-objective="0.8">`,
	} {
		if !strings.Contains(body, c) {
			t.Errorf("page lacks %q", c)
		}
	}

	// The Stopped filter keeps the stopped trial.
	_, body = get(t, s, "/namespaces/ml/experiments/sweep?phase=Stopped")
	if diff := cmp.Diff([]string{"sweep-10"}, trialRows(body)); diff != "" {
		t.Errorf("rows of ?phase=Stopped (-want +got):\n%s", diff)
	}
	if !strings.Contains(body, `data-phase="Stopped" class="active" aria-current="true">Stopped (1)</a>`) {
		t.Error("the Stopped filter is not marked active")
	}

	// The stopped trial's page says why it stopped.
	_, body = get(t, s, "/namespaces/ml/trials/sweep-10")
	for _, c := range []string{`<h2>Why it stopped</h2>`, `id="trial-reason">EarlyStopped<`, `class="phase phase-Stopped">Stopped<`} {
		if !strings.Contains(body, c) {
			t.Errorf("the stopped trial's page lacks %q", c)
		}
	}

	// Without step metrics nor early stopping: no curves, no stopped count.
	s, _ = sweepFixture().serve(t)
	_, body = get(t, s, "/namespaces/ml/experiments/sweep")
	for _, c := range []string{`id="curves"`, `id="curves-data"`, `id="count-stopped"`, `data-phase="Stopped"`} {
		if strings.Contains(body, c) {
			t.Errorf("page of a sweep without step metrics has %q", c)
		}
	}
}

func TestObjectiveCurves(t *testing.T) {
	// trials are finished trials whose curve ends at 0.001*i (done-0000
	// the lowest) and running ones whose curve is i+1 points long; the
	// chart draws the finished first, best first, then the running,
	// furthest along first.
	trials := func(exp *crucible.Experiment, finished, running int) []crucible.Trial {
		var out []crucible.Trial
		for i := range finished {
			tr := builder.MakeTrial(exp, fmt.Sprintf("done-%04d", i)).Index(int64(i)).Obj()
			tr.Status = crucible.TrialStatus{Phase: crucible.TrialSucceeded,
				StepMetrics: stepMetrics(curve("val_loss", "1", fmt.Sprintf("%.3f", 0.001*float64(i))))}
			out = append(out, *tr)
		}
		for i := range running {
			tr := builder.MakeTrial(exp, fmt.Sprintf("run-%04d", i)).Index(int64(finished + i)).Obj()
			values := make([]string, i+1)
			for j := range values {
				values[j] = "9"
			}
			tr.Status = crucible.TrialStatus{Phase: crucible.TrialRunning, StepMetrics: stepMetrics(curve("val_loss", values...))}
			out = append(out, *tr)
		}
		// One without the objective's curve, one without step metrics.
		other := builder.MakeTrial(exp, "other").Index(9999).Obj()
		other.Status.StepMetrics = stepMetrics(curve("accuracy", "0.5"))
		return append(out, *other, *builder.MakeTrial(exp, "none").Index(9998).Obj())
	}
	names := func(v *curvesView) []string {
		if v == nil {
			return nil
		}
		var out []string
		for _, s := range v.Chart.Series {
			out = append(out, s.Name)
		}
		return out
	}
	seq := func(prefix string, from, to, step int) []string {
		var out []string
		for i := from; i != to; i += step {
			out = append(out, fmt.Sprintf("%s-%04d", prefix, i))
		}
		return out
	}
	tests := []struct {
		name          string
		goal          crucible.Goal
		best          string
		finished, run int
		want          []string
		shown, with   int
		running       int
	}{
		{name: "none", goal: crucible.GoalMinimize},
		{name: "few: all of them", goal: crucible.GoalMinimize, finished: 3, run: 2,
			want: []string{"done-0000", "done-0001", "done-0002", "run-0001", "run-0000"}, shown: 5, with: 5, running: 2},
		{name: "capped: 25 running, furthest first, then the best, minimizing", goal: crucible.GoalMinimize, finished: 60, run: 30,
			want: append(seq("done", 0, 25, 1), seq("run", 29, 4, -1)...), shown: 50, with: 90, running: 25},
		{name: "maximizing, the best trial first", goal: crucible.GoalMaximize, best: "done-0003", finished: 60,
			want: append([]string{"done-0003"}, seq("done", 59, 10, -1)...), shown: 50, with: 60},
		{name: "running trials left out compete by value", goal: crucible.GoalMaximize, finished: 10, run: 60,
			// The others by value (the 9s of the running trials left out
			// beat the finished trials', ties to the lower index), then
			// the 25 furthest along.
			want: append(seq("run", 0, 25, 1), seq("run", 59, 34, -1)...), shown: 50, with: 70, running: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := builder.MakeExperiment("e", testNS).Obj()
			exp.Spec.Objective.Goal = tt.goal
			if tt.best != "" {
				exp.Status.BestTrial = &crucible.BestTrial{Name: tt.best}
			}
			v := objectiveCurves(exp, trials(exp, tt.finished, tt.run))
			if tt.want == nil {
				if v != nil {
					t.Fatalf("curves %v, want none", names(v))
				}
				return
			}
			if v == nil {
				t.Fatal("no curves")
			}
			if diff := cmp.Diff(tt.want, names(v)); diff != "" {
				t.Errorf("curves (-want +got):\n%s", diff)
			}
			if v.Shown != tt.shown || v.With != tt.with || v.Running != tt.running || v.Capped != (tt.shown < tt.with) {
				t.Errorf("shown %d of %d, %d running, capped %v; want %d of %d, %d running", v.Shown, v.With, v.Running, v.Capped,
					tt.shown, tt.with, tt.running)
			}
		})
	}
}
