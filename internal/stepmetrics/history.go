package stepmetrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/crucible-dev/crucible/internal/earlystop"
	"github.com/crucible-dev/crucible/internal/metrics"
)

const (
	// DefaultMaxPoints is HistoryLimits.MaxPoints when it is 0: 100 points
	// draw a curve at a glance and keep the steps of its start, its end and
	// every 1% in between.
	DefaultMaxPoints = 100
	// DefaultMaxSeries is HistoryLimits.MaxSeries when it is 0.
	DefaultMaxSeries = 16
	// MaxHistoryBytes bounds the JSON of Series() under the default limits,
	// whatever was reported: 16 series of 100 points, with the longest names
	// (128 bytes, each escaped to 6 by encoding/json), values (25
	// characters), steps (12 and 13 digits) and counts, take 105,853 bytes
	// (TestHistorySizeBound builds that case). Sixteen metrics with names of
	// 20 ASCII bytes, six-digit steps and nine-digit values take 40 to
	// 64 KiB, as thinning leaves 50 to 100 points. An etcd object may be
	// 1.5 MiB.
	MaxHistoryBytes = 108 << 10
)

// ErrStepConflict is what a *StepError is: a report that contradicts the
// recorded history.
var ErrStepConflict = errors.New("report conflicts with the recorded history")

// StepError is the error Add returns for a report that contradicts the
// recorded history: its step is before the last recorded step, or it gives a
// metric another value at a step already recorded for it.
type StepError struct {
	// Step is the report's step.
	Step int64
	// Last is the last recorded step.
	Last int64
	// Metric, when not empty, is the metric whose value at Step differs from
	// the recorded one.
	Metric string
	// Recorded and Reported are that metric's values.
	Recorded, Reported float64
}

// Error says what conflicts.
func (e *StepError) Error() string {
	if e.Metric == "" {
		return fmt.Sprintf("step %d is before step %d, the last recorded; steps must not decrease", e.Step, e.Last)
	}
	return fmt.Sprintf("metric %q at step %d is %s, but %s was recorded for it at that step; a step's values cannot change",
		e.Metric, e.Step, FormatValue(e.Reported), FormatValue(e.Recorded))
}

// Is reports whether target is ErrStepConflict.
func (e *StepError) Is(target error) bool { return target == ErrStepConflict }

// HistoryLimits bounds a History. The zero HistoryLimits is the defaults.
type HistoryLimits struct {
	// MaxPoints bounds the points kept per metric, at least 2 (the first
	// and the latest). 0 means DefaultMaxPoints.
	MaxPoints int
	// MaxSeries bounds how many metrics are kept. 0 means DefaultMaxSeries.
	MaxSeries int
}

// WithDefaults returns l with its zero (or negative) fields set to their
// defaults and MaxPoints raised to at least 2.
func (l HistoryLimits) WithDefaults() HistoryLimits {
	if l.MaxPoints <= 0 {
		l.MaxPoints = DefaultMaxPoints
	}
	l.MaxPoints = max(l.MaxPoints, 2)
	if l.MaxSeries <= 0 {
		l.MaxSeries = DefaultMaxSeries
	}
	return l
}

// Point is one kept value of a metric.
type Point struct {
	// Step is the step it was reported at.
	Step int64 `json:"step"`
	// Value is the value, as FormatValue spells it.
	Value string `json:"value"`
}

// Series is the recorded form of one metric's curve, as a Trial's status can
// hold it: Load reads back what Series returns.
type Series struct {
	// Metric is the metric's name.
	Metric string `json:"metric"`
	// Reports is how many values of the metric were recorded in all, at
	// least 1; it says which of them were kept.
	Reports int64 `json:"reports"`
	// Points are the kept values in ascending order of step: the first, the
	// latest, and those between them that thinning kept.
	Points []Point `json:"points"`
}

// History keeps, for each of at most MaxSeries metrics, a curve of at most
// MaxPoints of the values reported for it.
//
// The n-th value recorded for a metric (from 0) is kept while n is a
// multiple of the metric's stride, and so is the latest. The stride is the
// least power of two for which the multiples leave a point for the latest,
// so it doubles, dropping every other kept point, each time the kept points
// would overflow. The kept steps are therefore a pure function of the
// sequence of steps recorded for the metric, spread evenly over it, and
// always include the first and the latest.
//
// Steps never decrease. A report at the last recorded step adds the metrics
// it carries that were not yet recorded at that step, so a trainer may report
// training and evaluation metrics of one step separately; repeating a metric
// with the value recorded at that step changes nothing, so a retried report
// is harmless; another value is a conflict, and so is a step before the last.
// Add refuses a conflicting report whole, with a *StepError.
//
// Which metrics are kept is decided when each first appears: the reserved
// names given to NewHistory (the objective) always have a place; the others
// take the remaining places in the order they first appear, names of one
// report in ascending order; a metric that finds no place is not recorded.
//
// A History is not safe for concurrent use.
type History struct {
	limits   HistoryLimits
	reserved []string
	series   []*series // in ascending order of name
}

// series is one metric's kept curve.
type series struct {
	name    string
	reports int64
	// kept are the values of the ordinals 0, stride, 2×stride, ... up to
	// reports−1, for the stride of reports.
	kept   []point
	latest point
}

type point struct {
	step  int64
	value float64
}

// NewHistory returns an empty History. reserved names metrics that are kept
// whenever they appear, even after others have taken the other places; names
// beyond limits.MaxSeries are ignored.
func NewHistory(limits HistoryLimits, reserved ...string) *History {
	limits = limits.WithDefaults()
	var r []string
	for _, name := range reserved {
		if len(r) < limits.MaxSeries && !slices.Contains(r, name) {
			r = append(r, name)
		}
	}
	return &History{limits: limits, reserved: r}
}

// Load replaces what h holds with recorded, as Series returned it under the
// same limits. It refuses, and leaves h as it was, a record that Series
// could not have returned: too many series or points, names out of order or
// invalid, values that are not decimal strings, steps out of order, or a
// number of points that does not match Reports.
func (h *History) Load(recorded []Series) error {
	if len(recorded) > h.limits.MaxSeries {
		return fmt.Errorf("history has %d metrics; at most %d are kept", len(recorded), h.limits.MaxSeries)
	}
	loaded := make([]*series, 0, len(recorded))
	for i, rec := range recorded {
		if rec.Metric == "" || len(rec.Metric) > metrics.MaxNameLength {
			return fmt.Errorf("history has a metric name of %d bytes; names must be 1 to %d bytes", len(rec.Metric), metrics.MaxNameLength)
		}
		if i > 0 && rec.Metric <= recorded[i-1].Metric {
			return fmt.Errorf("history lists metric %q after %q; metrics must be in ascending order, each once", rec.Metric, recorded[i-1].Metric)
		}
		s, err := h.loadSeries(rec)
		if err != nil {
			return fmt.Errorf("metric %q: %w", rec.Metric, err)
		}
		loaded = append(loaded, s)
	}
	h.series = loaded
	return nil
}

func (h *History) loadSeries(rec Series) (*series, error) {
	if rec.Reports < 1 {
		return nil, fmt.Errorf("%d reports; a recorded metric has at least 1", rec.Reports)
	}
	stride := h.stride(rec.Reports)
	last := rec.Reports - 1
	want := last/stride + 1
	if last%stride != 0 {
		want++
	}
	if int64(len(rec.Points)) != want {
		return nil, fmt.Errorf("%d points; %d reports keep %d at most %d points", len(rec.Points), rec.Reports, want, h.limits.MaxPoints)
	}
	s := &series{name: rec.Metric, reports: rec.Reports}
	for i, p := range rec.Points {
		v, err := metrics.Value(p.Value)
		if err != nil {
			return nil, err
		}
		if p.Step < 0 || p.Step > MaxStep || (i > 0 && p.Step <= rec.Points[i-1].Step) {
			return nil, fmt.Errorf("step %d is out of order or out of 0 to %d", p.Step, MaxStep)
		}
		pt := point{step: p.Step, value: v}
		if i < len(rec.Points)-1 || last%stride == 0 {
			s.kept = append(s.kept, pt)
		}
		s.latest = pt
	}
	return s, nil
}

// stride returns the stride of a metric with reports values recorded: the
// least power of two s for which the ordinals 0, s, 2s, ... up to
// reports−1 number at most MaxPoints−1, leaving a point for the latest.
func (h *History) stride(reports int64) int64 {
	keep := int64(h.limits.MaxPoints - 1)
	s := int64(1)
	for (reports-1)/s+1 > keep {
		s *= 2
	}
	return s
}

// LastStep returns the greatest step recorded, and false if none is.
func (h *History) LastStep() (int64, bool) {
	var last int64
	found := false
	for _, s := range h.series {
		if !found || s.latest.step > last {
			last, found = s.latest.step, true
		}
	}
	return last, found
}

// Add records r, as the type's documentation says, and reports whether it
// changed anything: false for a report that repeats recorded values or
// carries only metrics that find no place. It returns a *StepError, and
// records nothing, for a report that conflicts with what is recorded, and
// another error for one ParseReport would have refused (a step out of
// range, a bad name, a value that is not finite).
func (h *History) Add(r Report) (bool, error) {
	if err := check(r); err != nil {
		return false, err
	}
	if last, ok := h.LastStep(); ok && r.Step < last {
		return false, &StepError{Step: r.Step, Last: last}
	}
	names := make([]string, 0, len(r.Metrics))
	for name := range r.Metrics {
		names = append(names, name)
	}
	slices.Sort(names)

	// Check every metric before changing anything.
	var add []string
	for _, name := range names {
		s := h.find(name)
		if s == nil {
			add = append(add, name)
			continue
		}
		switch v := r.Metrics[name]; {
		case s.latest.step < r.Step:
			add = append(add, name)
		case v != s.latest.value:
			return false, &StepError{Step: r.Step, Last: s.latest.step, Metric: name, Recorded: s.latest.value, Reported: v}
		}
	}

	changed := false
	for _, name := range add {
		s := h.find(name)
		if s == nil {
			if s = h.track(name); s == nil {
				continue
			}
		}
		h.appendPoint(s, point{step: r.Step, value: r.Metrics[name]})
		changed = true
	}
	return changed, nil
}

// check refuses a report ParseReport would not return, so that what Add
// records can be loaded back.
func check(r Report) error {
	if r.Step < 0 || r.Step > MaxStep {
		return fmt.Errorf("step %d is not from 0 to %d", r.Step, MaxStep)
	}
	for name, v := range r.Metrics {
		if name == "" || len(name) > metrics.MaxNameLength {
			return fmt.Errorf("a metric name is %d bytes; names must be 1 to %d bytes", len(name), metrics.MaxNameLength)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("metric %q is %v; metrics must be finite", name, v)
		}
	}
	return nil
}

// find returns the series of name, or nil.
func (h *History) find(name string) *series {
	i, ok := slices.BinarySearchFunc(h.series, name, func(s *series, name string) int { return strings.Compare(s.name, name) })
	if !ok {
		return nil
	}
	return h.series[i]
}

// track starts a series for name if it has a place, and returns it, or nil.
func (h *History) track(name string) *series {
	free := h.limits.MaxSeries - len(h.series)
	if !slices.Contains(h.reserved, name) {
		for _, r := range h.reserved {
			if h.find(r) == nil {
				free-- // keep its place
			}
		}
	}
	if free <= 0 {
		return nil
	}
	s := &series{name: name}
	i, _ := slices.BinarySearchFunc(h.series, name, func(s *series, name string) int { return strings.Compare(s.name, name) })
	h.series = slices.Insert(h.series, i, s)
	return s
}

// appendPoint records p as the next value of s, thinning its kept points
// when they would overflow.
func (h *History) appendPoint(s *series, p point) {
	ordinal := s.reports
	s.reports++
	stride := h.stride(s.reports)
	if old := h.stride(s.reports - 1); stride != old && s.reports > 1 {
		// The stride doubled: keep every other point, those whose ordinal
		// is a multiple of the new stride.
		kept := s.kept[:0]
		for i, k := range s.kept {
			if int64(i)*old%stride == 0 {
				kept = append(kept, k)
			}
		}
		s.kept = kept
	}
	if ordinal%stride == 0 {
		s.kept = append(s.kept, p)
	}
	s.latest = p
}

// Series returns the recorded form of every kept metric, in ascending order
// of name.
func (h *History) Series() []Series {
	out := make([]Series, 0, len(h.series))
	for _, s := range h.series {
		rec := Series{Metric: s.name, Reports: s.reports}
		for _, p := range s.points() {
			rec.Points = append(rec.Points, Point{Step: p.step, Value: FormatValue(p.value)})
		}
		out = append(out, rec)
	}
	return out
}

// points returns the kept points of s with the latest, in order.
func (s *series) points() []point {
	// Steps of one metric strictly increase, so the latest is kept iff it
	// is the last kept point.
	if len(s.kept) > 0 && s.kept[len(s.kept)-1].step == s.latest.step {
		return s.kept
	}
	return append(slices.Clip(s.kept), s.latest)
}

// Latest returns every kept metric's latest value, with the step it was
// reported at.
func (h *History) Latest() map[string]Point {
	out := make(map[string]Point, len(h.series))
	for _, s := range h.series {
		out[s.name] = Point{Step: s.latest.step, Value: FormatValue(s.latest.value)}
	}
	return out
}

// Curve returns the kept points of metric as samples for package earlystop,
// or nil if it is not kept.
func (h *History) Curve(metric string) []earlystop.Sample {
	s := h.find(metric)
	if s == nil {
		return nil
	}
	var out []earlystop.Sample
	for _, p := range s.points() {
		out = append(out, earlystop.Sample{Step: p.step, Value: p.value})
	}
	return out
}
