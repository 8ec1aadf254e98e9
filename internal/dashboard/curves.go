package dashboard

import (
	"cmp"
	"slices"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
)

// Bounds of the Experiment page's objective curves. A curve is at most 100
// points of about 17 bytes of JSON, so 50 curves add at most 85 KB to the
// page; the curves of a sweep of 10,000 trials would be 17 MB.
const (
	maxCurves = 50
	// maxRunningCurves of them at most are of running trials, so that the
	// best finished curves stay to compare them against.
	maxRunningCurves = 25
)

// stepsView is what the trial page shows of the curve the trainer reported
// while it ran (status.stepMetrics).
type stepsView struct {
	Reports  int64
	LastStep int64
	// SeriesURI is where the full series was written; Stored is how many
	// reports it holds, when StoredKnown.
	SeriesURI   string
	Stored      int64
	StoredKnown bool
	// Latest is each metric's latest value, the objective's first.
	Latest []latestRow
	// Chart is the chart's data, embedded in the page as JSON.
	Chart curvesDoc
}

// latestRow is a metric's latest value.
type latestRow struct {
	Metric    string
	Value     string
	Step      int64
	Reports   int64
	Objective bool
}

// curvesDoc is the JSON a line chart of step curves draws: one series per
// metric on the trial page, per trial on the Experiment page. html/template
// writes it into a <script type="application/json"> element as JSON with
// <, > and & escaped, so no name or value can end the element.
type curvesDoc struct {
	// Metric is the objective metric, when known.
	Metric string        `json:"metric,omitempty"`
	Goal   crucible.Goal `json:"goal,omitempty"`
	Series []curveDoc    `json:"series"`
}

// curveDoc is one line.
type curveDoc struct {
	// Name is the metric's name, or the trial's.
	Name string `json:"name"`
	// Objective marks the objective metric's curve on the trial page.
	Objective bool `json:"objective,omitempty"`
	// Phase and Best are the trial's, on the Experiment page.
	Phase string `json:"phase,omitempty"`
	Best  bool   `json:"best,omitempty"`
	// Points are [step, value] pairs, value a number or null when the
	// recorded string is not one.
	Points [][2]any `json:"points"`
}

// stepsOf is the trial page's view of t's step metrics, the objective
// metric's first; nil when t has none.
func stepsOf(t *crucible.Trial, objective string, goal crucible.Goal) *stepsView {
	sm := t.Status.StepMetrics
	if sm == nil || len(sm.Series) == 0 {
		return nil
	}
	series := slices.Clone(sm.Series)
	slices.SortStableFunc(series, func(a, b crucible.StepSeries) int {
		return cmp.Or(-cmp.Compare(boolInt(a.Metric == objective), boolInt(b.Metric == objective)), cmp.Compare(a.Metric, b.Metric))
	})
	v := &stepsView{Reports: sm.Reports, LastStep: sm.LastStep, SeriesURI: sm.URI, Chart: curvesDoc{Metric: objective, Goal: goal}}
	if sm.StoredReports != nil {
		v.Stored, v.StoredKnown = *sm.StoredReports, true
	}
	for _, s := range series {
		obj := objective != "" && s.Metric == objective
		row := latestRow{Metric: s.Metric, Reports: s.Reports, Objective: obj}
		if n := len(s.Points); n > 0 {
			row.Value, row.Step = s.Points[n-1].Value, s.Points[n-1].Step
		}
		v.Latest = append(v.Latest, row)
		v.Chart.Series = append(v.Chart.Series, curveDoc{Name: s.Metric, Objective: obj, Points: pointsOf(s.Points)})
	}
	return v
}

// curvesView is the Experiment page's chart of the objective's curve per
// trial.
type curvesView struct {
	// Shown is how many curves the chart draws, of With trials that
	// reported the objective by step; Running of them are running.
	Shown, With, Running int
	// Capped says the chart leaves out some of the curves.
	Capped bool
	Chart  curvesDoc
}

// objectiveCurves picks the objective curves the Experiment page draws: of
// the trials whose step metrics have the objective, those running, at most
// maxRunningCurves, the furthest along first; then the best trial and the
// best of the others by the latest value of their curve, up to maxCurves.
// Nil when no trial has such a curve.
func objectiveCurves(exp *crucible.Experiment, trials []crucible.Trial) *curvesView {
	objective, goal := exp.Spec.Objective.Metric, exp.Spec.Objective.Goal
	best := ""
	if b := exp.Status.BestTrial; b != nil {
		best = b.Name
	}
	type candidate struct {
		t      *crucible.Trial
		points []crucible.StepPoint
		last   objectiveValue
	}
	var running, others []candidate
	for i := range trials {
		t := &trials[i]
		if t.Status.StepMetrics == nil {
			continue
		}
		for _, s := range t.Status.StepMetrics.Series {
			if s.Metric != objective || len(s.Points) == 0 {
				continue
			}
			v, err := metrics.Value(s.Points[len(s.Points)-1].Value)
			c := candidate{t: t, points: s.Points, last: objectiveValue{v: v, ok: err == nil}}
			if t.Status.Phase == crucible.TrialRunning {
				running = append(running, c)
			} else {
				others = append(others, c)
			}
			break
		}
	}
	with := len(running) + len(others)
	if with == 0 {
		return nil
	}
	byIndex := func(a, b candidate) int { return cmp.Compare(a.t.Spec.Index, b.t.Spec.Index) }
	slices.SortFunc(running, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.t.Status.StepMetrics.LastStep, a.t.Status.StepMetrics.LastStep), byIndex(a, b))
	})
	if len(running) > maxRunningCurves {
		// Those left out compete with the others by their value.
		others = append(others, running[maxRunningCurves:]...)
		running = running[:maxRunningCurves]
	}
	minimize := goal != crucible.GoalMaximize
	slices.SortFunc(others, func(a, b candidate) int {
		return cmp.Or(-cmp.Compare(boolInt(a.t.Name == best), boolInt(b.t.Name == best)),
			a.last.compare(b.last, minimize), byIndex(a, b))
	})
	picked := slices.Concat(others[:min(len(others), maxCurves-len(running))], running)
	v := &curvesView{Shown: len(picked), With: with, Capped: len(picked) < with,
		Chart: curvesDoc{Metric: objective, Goal: goal}}
	for _, c := range picked {
		phase := phaseOf(c.t)
		if phase == string(crucible.TrialRunning) {
			v.Running++
		}
		v.Chart.Series = append(v.Chart.Series, curveDoc{Name: c.t.Name, Phase: phase, Best: c.t.Name == best, Points: pointsOf(c.points)})
	}
	return v
}

// pointsOf is a curve as [step, value] pairs.
func pointsOf(points []crucible.StepPoint) [][2]any {
	out := make([][2]any, 0, len(points))
	for _, p := range points {
		out = append(out, [2]any{p.Step, number(p.Value)})
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
