// Package compare lines up what decided two or more runs (their pins,
// parameters and seed) and what came of them (metrics, outcome, artifacts,
// provenance), field by field, and says which fields differ. The kubectl
// plugin's diff and the dashboard's compare view both print its rows.
package compare

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
)

// Sections of a comparison, in the order rows are listed.
const (
	SectionPins       = "pins"
	SectionParameters = "parameters"
	SectionMetrics    = "metrics"
	SectionOutcome    = "outcome"
)

// Row is one field of the compared objects.
type Row struct {
	// Section is one of the Section constants.
	Section string `json:"section"`
	// Field names the field: "image", "env.DATA_ROOT", "lr".
	Field string `json:"field"`
	// Values holds the field's value in each object, in the order they
	// were given; "" where an object has no such field.
	Values []string `json:"values"`
	// Differs is whether the values are not all the same. Metrics are
	// compared as numbers when they are ("0.5" and "5e-1" are the same).
	Differs bool `json:"differs"`
}

// Run is a trial with its Experiment, which may be nil when it is gone:
// then only the pins the Trial itself records are compared.
type Run struct {
	Trial      *crucible.Trial
	Experiment *crucible.Experiment
}

// Trials compares runs field by field: every field any of them has, in a
// fixed order within each section (pins, parameters, metrics, outcome).
func Trials(runs []Run) []Row {
	var t table
	t.n = len(runs)
	for i, r := range runs {
		tr := r.Trial
		t.set(SectionPins, "image", i, tr.Spec.Image)
		t.set(SectionPins, "experimentDigest", i, tr.Spec.ExperimentDigest)
		t.set(SectionPins, "dataset.digest", i, tr.Spec.DatasetDigest)
		t.set(SectionPins, "seed", i, strconv.FormatInt(tr.Spec.Seed, 10))
		if e := r.Experiment; e != nil {
			runPins(&t, i, &e.Spec)
		}
		for _, p := range tr.Spec.Parameters {
			t.set(SectionParameters, p.Name, i, p.Value)
		}
		for _, name := range slices.Sorted(maps.Keys(tr.Status.Metrics)) {
			t.set(SectionMetrics, name, i, tr.Status.Metrics[name])
		}
		s := &tr.Status
		t.set(SectionOutcome, "phase", i, string(s.Phase))
		t.set(SectionOutcome, "objective", i, s.Objective)
		t.set(SectionOutcome, "reason", i, s.Reason)
		if a := s.Artifacts; a != nil {
			t.set(SectionOutcome, "artifacts.manifestDigest", i, a.ManifestDigest)
		}
		if p := s.Provenance; p != nil {
			t.set(SectionOutcome, "provenance.digest", i, p.Digest)
		}
	}
	return t.rows()
}

// Experiments compares Experiments: their pins, their search spaces and
// seeds, and how they came out.
func Experiments(exps []*crucible.Experiment) []Row {
	var t table
	t.n = len(exps)
	for i, e := range exps {
		t.set(SectionPins, "image", i, e.Spec.Image)
		runPins(&t, i, &e.Spec)
		t.set(SectionPins, "search.algorithm", i, string(e.Spec.Search.Algorithm))
		t.set(SectionPins, "seeds", i, fmt.Sprintf("base %d, %d replicas", e.Spec.Seeds.Base, e.Spec.Seeds.Replicas))
		t.set(SectionPins, "objective", i, fmt.Sprintf("%s %s", e.Spec.Objective.Goal, e.Spec.Objective.Metric))
		for _, p := range e.Spec.Parameters {
			t.set(SectionParameters, p.Name, i, space(p))
		}
		s := &e.Status
		t.set(SectionOutcome, "specDigest", i, s.SpecDigest)
		t.set(SectionOutcome, "phase", i, string(s.Phase))
		t.set(SectionOutcome, "trials", i, fmt.Sprintf("%d succeeded, %d failed of %d", s.Trials.Succeeded, s.Trials.Failed, s.Trials.Total))
		if b := s.BestTrial; b != nil {
			t.set(SectionOutcome, "bestTrial", i, b.Name)
			t.set(SectionMetrics, "best "+e.Spec.Objective.Metric, i, b.Objective)
		}
	}
	return t.rows()
}

// Differing keeps the rows whose values differ.
func Differing(rows []Row) []Row {
	var out []Row
	for _, r := range rows {
		if r.Differs {
			out = append(out, r)
		}
	}
	return out
}

// runPins sets the pins every trial of spec runs with.
func runPins(t *table, i int, spec *crucible.ExperimentSpec) {
	t.set(SectionPins, "command", i, jsonOf(spec.Command))
	t.set(SectionPins, "args", i, jsonOf(spec.Args))
	for _, e := range spec.Env {
		t.set(SectionPins, "env."+e.Name, i, e.Value)
	}
	if spec.Resources != nil {
		t.set(SectionPins, "resources", i, jsonOf(spec.Resources))
	}
	if spec.PodTemplate != nil {
		t.set(SectionPins, "podTemplate", i, jsonOf(spec.PodTemplate))
	}
	if d := spec.Dataset; d != nil {
		t.set(SectionPins, "dataset", i, d.Name+" "+d.Version)
		t.set(SectionPins, "dataset.digest", i, d.Digest)
		t.set(SectionPins, "dataset.source", i, jsonOf(d.Source))
	}
	if s := spec.Source; s != nil {
		t.set(SectionPins, "source", i, s.Repository+"@"+s.Commit)
	}
}

// space writes a parameter's range in one line.
func space(p crucible.ParameterSpec) string {
	switch {
	case p.Int != nil:
		return fmt.Sprintf("int %d..%d step %d", p.Int.Min, p.Int.Max, max(p.Int.Step, 1))
	case p.Float != nil:
		return fmt.Sprintf("float %s..%s, %d steps, %s", p.Float.Min, p.Float.Max, p.Float.Steps, p.Float.Scale)
	default:
		return jsonOf(p.Values)
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return ""
	}
	return string(b)
}

// table collects rows by section and field, in the order fields are first
// seen.
type table struct {
	n     int
	order []key
	rowOf map[key]*Row
}

type key struct{ section, field string }

func (t *table) set(section, field string, i int, value string) {
	if t.rowOf == nil {
		t.rowOf = map[key]*Row{}
	}
	k := key{section, field}
	r, ok := t.rowOf[k]
	if !ok {
		r = &Row{Section: section, Field: field, Values: make([]string, t.n)}
		t.rowOf[k] = r
		t.order = append(t.order, k)
	}
	r.Values[i] = value
}

func (t *table) rows() []Row {
	sections := []string{SectionPins, SectionParameters, SectionMetrics, SectionOutcome}
	var out []Row
	for _, s := range sections {
		for _, k := range t.order {
			if k.section != s {
				continue
			}
			r := *t.rowOf[k]
			r.Differs = differs(r.Section, r.Values)
			out = append(out, r)
		}
	}
	return out
}

// differs reports whether values are not all the same; metrics that are
// numbers are compared by value.
func differs(section string, values []string) bool {
	for _, v := range values[1:] {
		if !same(section, values[0], v) {
			return true
		}
	}
	return false
}

func same(section, a, b string) bool {
	if a == b {
		return true
	}
	if section != SectionMetrics {
		return false
	}
	x, errA := metrics.Value(a)
	y, errB := metrics.Value(b)
	return errA == nil && errB == nil && x == y
}
