package compare

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

func TestTrials(t *testing.T) {
	exp := builder.MakeExperiment("sweep", "ml").Values("lr", "0.1", "0.01").Values("depth", "4", "6").
		Env("DATA_ROOT", "/data").PVCDataset("datasets", "cifar", "/data").Obj()
	a := builder.MakeTrial(exp, "sweep-a").Seed(1).Param("lr", "0.1").Param("depth", "4").
		Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.5", Metrics: map[string]string{"val_loss": "0.5", "accuracy": "0.9"}}).Obj()
	b := builder.MakeTrial(exp, "sweep-b").Seed(1).Param("lr", "0.01").Param("depth", "4").
		Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "5e-1", Metrics: map[string]string{"val_loss": "5e-1", "f1": "0.7"}}).Obj()

	rows := Trials([]Run{{Trial: a, Experiment: exp}, {Trial: b}})
	got := map[string]Row{}
	var order []string
	for _, r := range rows {
		got[r.Section+"/"+r.Field] = r
		order = append(order, r.Section+"/"+r.Field)
	}
	want := map[string]struct {
		values  []string
		differs bool
	}{
		"pins/image":         {[]string{exp.Spec.Image, exp.Spec.Image}, false},
		"pins/seed":          {[]string{"1", "1"}, false},
		"pins/env.DATA_ROOT": {[]string{"/data", ""}, true}, // b's Experiment is gone
		"parameters/lr":      {[]string{"0.1", "0.01"}, true},
		"parameters/depth":   {[]string{"4", "4"}, false},
		"metrics/val_loss":   {[]string{"0.5", "5e-1"}, false}, // the same number
		"metrics/accuracy":   {[]string{"0.9", ""}, true},
		"metrics/f1":         {[]string{"", "0.7"}, true},
		"outcome/objective":  {[]string{"0.5", "5e-1"}, true}, // an outcome is compared as written
		"outcome/phase":      {[]string{"Succeeded", "Succeeded"}, false},
	}
	for k, w := range want {
		r, ok := got[k]
		if !ok {
			t.Errorf("no row %s", k)
			continue
		}
		if diff := cmp.Diff(w.values, r.Values); diff != "" || r.Differs != w.differs {
			t.Errorf("%s: values (-want +got) %s; differs %v, want %v", k, diff, r.Differs, w.differs)
		}
	}
	// Sections in order: pins, parameters, metrics, outcome.
	rank := map[string]int{SectionPins: 0, SectionParameters: 1, SectionMetrics: 2, SectionOutcome: 3}
	for i := 1; i < len(rows); i++ {
		if rank[rows[i].Section] < rank[rows[i-1].Section] {
			t.Errorf("row %s after %s: sections out of order (%v)", order[i], order[i-1], order)
		}
	}

	only := Differing(rows)
	for _, r := range only {
		if !r.Differs {
			t.Errorf("Differing kept %s/%s", r.Section, r.Field)
		}
	}
	if len(only) == 0 || len(only) == len(rows) {
		t.Errorf("Differing kept %d of %d rows", len(only), len(rows))
	}
}

func TestExperiments(t *testing.T) {
	a := builder.MakeExperiment("a", "ml").Values("lr", "0.1", "0.01").IntRange("depth", 2, 8, 2).Obj()
	b := builder.MakeExperiment("b", "ml").Values("lr", "0.1", "0.01").IntRange("depth", 2, 8, 0).Obj()
	b.Spec.Image = a.Spec.Image[:len(a.Spec.Image)-1] + "0"
	b.Status.BestTrial = &crucible.BestTrial{Name: "b-1", Objective: "0.4"}
	rows := Experiments([]*crucible.Experiment{a, b})
	differing := map[string]bool{}
	for _, r := range Differing(rows) {
		differing[r.Section+"/"+r.Field] = true
	}
	for _, k := range []string{"pins/image", "parameters/depth", "outcome/bestTrial", "metrics/best val_loss"} {
		if !differing[k] {
			t.Errorf("%s does not differ; differing: %v", k, differing)
		}
	}
	if differing["parameters/lr"] || differing["pins/command"] {
		t.Errorf("equal fields reported as differing: %v", differing)
	}
}
