package stepmetrics

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crucible-dev/crucible/internal/earlystop"
)

// report is a Report of step with name, value pairs.
func report(step int64, pairs ...any) Report {
	r := Report{Step: step, Metrics: map[string]float64{}}
	for i := 0; i < len(pairs); i += 2 {
		r.Metrics[pairs[i].(string)] = pairs[i+1].(float64)
	}
	return r
}

func keptSteps(h *History, metric string) []int64 {
	var steps []int64
	for _, p := range h.Curve(metric) {
		steps = append(steps, p.Step)
	}
	return steps
}

// TestHistoryThinning follows a metric reported at steps 0, 10, 20, ...
// with MaxPoints 4: at most 3 points for ordinals 0, s, 2s, ... and one for
// the latest.
func TestHistoryThinning(t *testing.T) {
	want := [][]int64{
		{0},              // 1 report, stride 1
		{0, 10},          // 2
		{0, 10, 20},      // 3
		{0, 20, 30},      // 4: stride 2 keeps ordinals 0, 2; 3 is the latest
		{0, 20, 40},      // 5
		{0, 20, 40, 50},  // 6
		{0, 40, 60},      // 7: stride 4 keeps 0, 4
		{0, 40, 70},      // 8
		{0, 40, 80},      // 9: ordinal 8 is a multiple of 4
		{0, 40, 80, 90},  // 10
		{0, 40, 80, 100}, // 11
		{0, 40, 80, 110}, // 12
		{0, 80, 120},     // 13: stride 8
	}
	h := NewHistory(HistoryLimits{MaxPoints: 4})
	for i, w := range want {
		if _, err := h.Add(report(int64(i*10), "loss", float64(i))); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, keptSteps(h, "loss")); diff != "" {
			t.Errorf("after %d reports, kept steps (-want +got):\n%s", i+1, diff)
		}
	}
}

// TestHistoryPure feeds random step sequences, with a save and reload at
// random moments, and checks the bounds, that the first and latest points
// are kept, that the kept steps do not depend on the values, and that a
// reload changes nothing.
func TestHistoryPure(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for c := range 100 {
		limits := HistoryLimits{MaxPoints: 2 + rng.IntN(10), MaxSeries: 3}
		a, b, c2 := NewHistory(limits), NewHistory(limits), NewHistory(limits)
		step := int64(rng.IntN(5))
		var first int64 = -1
		n := rng.IntN(300)
		for i := range n {
			r := report(step, "loss", float64(i))
			if _, err := a.Add(r); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Add(report(step, "loss", float64(-i*i))); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(10) == 0 { // save and reload c2
				reloaded := NewHistory(limits)
				if err := reloaded.Load(c2.Series()); err != nil {
					t.Fatalf("case %d: Load(Series()): %v", c, err)
				}
				c2 = reloaded
			}
			if _, err := c2.Add(r); err != nil {
				t.Fatal(err)
			}
			if first < 0 {
				first = step
			}
			steps := keptSteps(a, "loss")
			if len(steps) > limits.MaxPoints || steps[0] != first || steps[len(steps)-1] != step {
				t.Fatalf("case %d: after %d reports, kept steps %v: want at most %d from %d to %d", c, i+1, steps, limits.MaxPoints, first, step)
			}
			step += 1 + int64(rng.IntN(3))
		}
		if diff := cmp.Diff(keptSteps(a, "loss"), keptSteps(b, "loss")); diff != "" {
			t.Errorf("case %d: kept steps depend on the values (-a +b):\n%s", c, diff)
		}
		if diff := cmp.Diff(a.Series(), c2.Series()); diff != "" {
			t.Errorf("case %d: reloading changed the history (-never reloaded +reloaded):\n%s", c, diff)
		}
	}
}

func TestHistoryAdd(t *testing.T) {
	type add struct {
		report  Report
		changed bool
		err     string
	}
	tests := []struct {
		name     string
		limits   HistoryLimits
		reserved []string
		adds     []add
		want     []Series
	}{
		{
			name: "latest values and points",
			adds: []add{
				{report: report(0, "loss", 1.0, "acc", 0.5), changed: true},
				{report: report(5, "loss", 0.25), changed: true},
			},
			want: []Series{
				{Metric: "acc", Reports: 1, Points: []Point{{Step: 0, Value: "0.5"}}},
				{Metric: "loss", Reports: 2, Points: []Point{{Step: 0, Value: "1"}, {Step: 5, Value: "0.25"}}},
			},
		},
		{
			name: "a retry changes nothing",
			adds: []add{
				{report: report(3, "loss", 1.0, "acc", 0.5), changed: true},
				{report: report(3, "loss", 1.0, "acc", 0.5), changed: false},
				{report: report(3, "acc", 0.5), changed: false},
			},
			want: []Series{
				{Metric: "acc", Reports: 1, Points: []Point{{Step: 3, Value: "0.5"}}},
				{Metric: "loss", Reports: 1, Points: []Point{{Step: 3, Value: "1"}}},
			},
		},
		{
			name: "a step reported in two parts",
			adds: []add{
				{report: report(3, "loss", 1.0), changed: true},
				{report: report(3, "loss", 1.0, "val_loss", 2.0), changed: true},
			},
			want: []Series{
				{Metric: "loss", Reports: 1, Points: []Point{{Step: 3, Value: "1"}}},
				{Metric: "val_loss", Reports: 1, Points: []Point{{Step: 3, Value: "2"}}},
			},
		},
		{
			name: "a step back is refused",
			adds: []add{
				{report: report(3, "loss", 1.0), changed: true},
				{report: report(2, "acc", 1.0), err: "step 2 is before step 3, the last recorded; steps must not decrease"},
			},
			want: []Series{{Metric: "loss", Reports: 1, Points: []Point{{Step: 3, Value: "1"}}}},
		},
		{
			name: "another value at a recorded step is refused whole",
			adds: []add{
				{report: report(3, "loss", 1.0), changed: true},
				{report: report(3, "acc", 0.5, "loss", 1.5),
					err: `metric "loss" at step 3 is 1.5, but 1 was recorded for it at that step; a step's values cannot change`},
			},
			want: []Series{{Metric: "loss", Reports: 1, Points: []Point{{Step: 3, Value: "1"}}}},
		},
		{
			name:   "metrics beyond MaxSeries are not recorded, in name order",
			limits: HistoryLimits{MaxSeries: 2},
			adds: []add{
				{report: report(0, "c", 1.0, "b", 1.0, "a", 1.0), changed: true},
				{report: report(1, "c", 2.0), changed: false},
				{report: report(2, "c", 2.0, "a", 3.0), changed: true},
			},
			want: []Series{
				{Metric: "a", Reports: 2, Points: []Point{{Step: 0, Value: "1"}, {Step: 2, Value: "3"}}},
				{Metric: "b", Reports: 1, Points: []Point{{Step: 0, Value: "1"}}},
			},
		},
		{
			name:     "a reserved metric keeps its place",
			limits:   HistoryLimits{MaxSeries: 2},
			reserved: []string{"val_loss"},
			adds: []add{
				{report: report(0, "c", 1.0, "b", 1.0, "a", 1.0), changed: true},
				{report: report(1, "val_loss", 2.0, "d", 1.0), changed: true},
			},
			want: []Series{
				{Metric: "a", Reports: 1, Points: []Point{{Step: 0, Value: "1"}}},
				{Metric: "val_loss", Reports: 1, Points: []Point{{Step: 1, Value: "2"}}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistory(tc.limits, tc.reserved...)
			for i, a := range tc.adds {
				changed, err := h.Add(a.report)
				got := ""
				if err != nil {
					got = err.Error()
					if !errors.Is(err, ErrStepConflict) {
						t.Errorf("add %d: %v is not ErrStepConflict", i, err)
					}
				}
				if got != a.err || changed != a.changed {
					t.Errorf("add %d: Add = %v, %q; want %v, %q", i, changed, got, a.changed, a.err)
				}
			}
			if diff := cmp.Diff(tc.want, h.Series()); diff != "" {
				t.Errorf("Series (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistoryAddRefusesInvalidReports(t *testing.T) {
	tests := []struct {
		report Report
		want   string
	}{
		{report: report(-1, "a", 1.0), want: "step -1 is not from 0 to 1000000000000"},
		{report: report(MaxStep+1, "a", 1.0), want: "step 1000000000001 is not from 0 to 1000000000000"},
		{report: report(1, "", 1.0), want: "a metric name is 0 bytes; names must be 1 to 128 bytes"},
		{report: report(1, "a", math.Inf(1)), want: `metric "a" is +Inf; metrics must be finite`},
	}
	for _, tc := range tests {
		h := NewHistory(HistoryLimits{})
		changed, err := h.Add(tc.report)
		if changed || err == nil || err.Error() != tc.want || errors.Is(err, ErrStepConflict) {
			t.Errorf("Add(%+v) = %v, %v; want false, %q", tc.report, changed, err, tc.want)
		}
		if len(h.Series()) != 0 {
			t.Errorf("Add(%+v) recorded something", tc.report)
		}
	}
}

func TestHistoryLatestAndCurve(t *testing.T) {
	h := NewHistory(HistoryLimits{})
	for _, r := range []Report{report(0, "loss", 1.0, "acc", 0.1), report(1, "loss", 0.5), report(2, "loss", 0.25)} {
		if _, err := h.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(map[string]Point{"loss": {Step: 2, Value: "0.25"}, "acc": {Step: 0, Value: "0.1"}}, h.Latest()); diff != "" {
		t.Errorf("Latest (-want +got):\n%s", diff)
	}
	want := []earlystop.Sample{{Step: 0, Value: 1}, {Step: 1, Value: 0.5}, {Step: 2, Value: 0.25}}
	if diff := cmp.Diff(want, h.Curve("loss")); diff != "" {
		t.Errorf("Curve (-want +got):\n%s", diff)
	}
	if got := h.Curve("nope"); got != nil {
		t.Errorf("Curve of an unknown metric = %v", got)
	}
	if last, ok := h.LastStep(); last != 2 || !ok {
		t.Errorf("LastStep = %d, %v", last, ok)
	}
}

func TestHistoryLoadRefuses(t *testing.T) {
	pts := func(steps ...int64) []Point {
		var p []Point
		for _, s := range steps {
			p = append(p, Point{Step: s, Value: "1"})
		}
		return p
	}
	limits := HistoryLimits{MaxPoints: 4, MaxSeries: 2}
	tests := []struct {
		name   string
		series []Series
		want   string
	}{
		{name: "too many series", series: []Series{{Metric: "a"}, {Metric: "b"}, {Metric: "c"}},
			want: "history has 3 metrics; at most 2 are kept"},
		{name: "names out of order", series: []Series{{Metric: "b", Reports: 1, Points: pts(0)}, {Metric: "a", Reports: 1, Points: pts(0)}},
			want: `history lists metric "a" after "b"; metrics must be in ascending order, each once`},
		{name: "empty name", series: []Series{{Reports: 1, Points: pts(0)}},
			want: "history has a metric name of 0 bytes; names must be 1 to 128 bytes"},
		{name: "no reports", series: []Series{{Metric: "a", Points: pts(0)}},
			want: `metric "a": 0 reports; a recorded metric has at least 1`},
		{name: "points do not match reports", series: []Series{{Metric: "a", Reports: 4, Points: pts(0, 1, 2, 3)}},
			want: `metric "a": 4 points; 4 reports keep 3 at most 4 points`},
		{name: "steps out of order", series: []Series{{Metric: "a", Reports: 2, Points: pts(1, 1)}},
			want: `metric "a": step 1 is out of order or out of 0 to 1000000000000`},
		{name: "bad value", series: []Series{{Metric: "a", Reports: 1, Points: []Point{{Step: 0, Value: "NaN"}}}},
			want: `metric "a": metric value "NaN" is not a decimal number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistory(limits)
			if _, err := h.Add(report(7, "z", 1.0)); err != nil {
				t.Fatal(err)
			}
			before := h.Series()
			err := h.Load(tc.series)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Load = %v, want %q", err, tc.want)
			}
			if diff := cmp.Diff(before, h.Series()); diff != "" {
				t.Errorf("a refused Load changed the history (-before +after):\n%s", diff)
			}
		})
	}
}

// TestHistorySizeBound builds the largest history the default limits allow
// and checks MaxHistoryBytes bounds its JSON, and by little.
func TestHistorySizeBound(t *testing.T) {
	// The longest value FormatValue writes: a sign, "0.00000" and 17
	// significant digits. (Exponent notation takes at most 24 characters,
	// integers below 1e21 at most 22.)
	const longestValue = "-0.0000012345678901234567"
	limits := HistoryLimits{}.WithDefaults()
	h := NewHistory(limits)
	// The most reports that keep MaxPoints points with steps up to MaxStep:
	// stride 2^33 keeps ordinals 0 to 98 × 2^33, and the latest is one
	// more. Each report at the largest step it can have.
	const stride = 1 << 33
	const reports = 98*stride + 2
	if h.stride(reports) != stride {
		t.Fatalf("stride(%d) = %d, want %d", int64(reports), h.stride(reports), int64(stride))
	}
	step := func(ordinal int64) int64 { return MaxStep - (reports - 1 - ordinal) }
	var recorded []Series
	for i := range limits.MaxSeries {
		// Names of the longest, of characters encoding/json escapes to six
		// bytes each (\u003c, \u0001).
		name := strings.Repeat("<", 127) + string(rune(1+i))
		s := Series{Metric: name, Reports: reports}
		for ordinal := int64(0); ordinal < reports; ordinal += stride {
			s.Points = append(s.Points, Point{Step: step(ordinal), Value: longestValue})
		}
		s.Points = append(s.Points, Point{Step: step(reports - 1), Value: longestValue})
		recorded = append(recorded, s)
	}
	if err := h.Load(recorded); err != nil {
		t.Fatalf("the worst case is not a valid history: %v", err)
	}
	if got := len(h.Series()[0].Points); got != limits.MaxPoints {
		t.Fatalf("the worst case keeps %d points per metric, want %d", got, limits.MaxPoints)
	}
	data, err := json.Marshal(h.Series())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("worst case: %d bytes", len(data))
	if len(data) > MaxHistoryBytes || len(data) < MaxHistoryBytes*95/100 {
		t.Errorf("the worst case takes %d bytes; MaxHistoryBytes, %d, should bound it within 5%%", len(data), MaxHistoryBytes)
	}
}
