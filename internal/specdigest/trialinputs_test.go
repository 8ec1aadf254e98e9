package specdigest

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// fullPoint is one point of fullYAML's space, in its order.
var fullPoint = []crucible.ParameterAssignment{
	{Name: "optimizer", Value: "adam"},
	{Name: "batch", Value: "64"},
	{Name: "layers", Value: "3"},
	{Name: "lr", Value: "0.001"},
	{Name: "dropout", Value: "0.1"},
}

// goldenTrialInputs is TrialInputs(fullYAML, fullPoint, 43). Like
// goldenDigest it must never change: reproductions carry it.
const goldenTrialInputs = "sha256:303435b9735db6a47175610483ee234bc3bfb0a29f27dc364fc6dbdc0dfd6e1a"

func inputsOf(t *testing.T, spec *crucible.ExperimentSpec, params []crucible.ParameterAssignment, seed int64) string {
	t.Helper()
	d, err := TrialInputs(spec, params, seed)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// reproductionOf is spec written as a reproduction of one point and seed.
func reproductionOf(spec *crucible.ExperimentSpec, params []crucible.ParameterAssignment, seed int64) *crucible.ExperimentSpec {
	r := spec.DeepCopy()
	r.Parameters = nil
	for _, a := range params {
		r.Parameters = append(r.Parameters, crucible.ParameterSpec{Name: a.Name, Values: []string{a.Value}})
	}
	r.Seeds = crucible.SeedSpec{Base: seed, Replicas: 1}
	r.Parallelism, r.MaxFailedTrials = 1, 0
	return r
}

func TestTrialInputsGolden(t *testing.T) {
	if d := inputsOf(t, decode(t, fullYAML), fullPoint, 43); d != goldenTrialInputs {
		t.Errorf("TrialInputs(fullYAML) = %q, want %q: reproductions carry this digest, it must never change", d, goldenTrialInputs)
	}
}

func TestTrialInputsOfAReproduction(t *testing.T) {
	orig := decode(t, fullYAML)
	want := inputsOf(t, orig, fullPoint, 43)
	repro := reproductionOf(orig, fullPoint, 43)
	if d := inputsOf(t, repro, fullPoint, 43); d != want {
		t.Errorf("the reproduction's trial inputs %s differ from the original's %s", d, want)
	}
	if compute(t, repro) == compute(t, orig) {
		t.Error("the reproduction has the original's spec digest; its space and seeds differ")
	}

	same := map[string]func(s *crucible.ExperimentSpec){
		"objective":         func(s *crucible.ExperimentSpec) { s.Objective.Goal = crucible.GoalMaximize },
		"search algorithm":  func(s *crucible.ExperimentSpec) { s.Search.Algorithm = "" },
		"seeds":             func(s *crucible.ExperimentSpec) { s.Seeds.Replicas = 7 },
		"dataset verify":    func(s *crucible.ExperimentSpec) { s.Dataset.Verify = crucible.DatasetVerifyNever },
		"quantity spelling": func(s *crucible.ExperimentSpec) { s.Resources.Requests["memory"] = resource.MustParse("1024Mi") },
		"reproduces":        func(s *crucible.ExperimentSpec) { s.Reproduces = &crucible.ReproductionSpec{Image: s.Image} },
	}
	for name, change := range same {
		s := repro.DeepCopy()
		change(s)
		if d := inputsOf(t, s, fullPoint, 43); d != want {
			t.Errorf("%s changed the trial inputs: it does not change a run", name)
		}
	}
	reversed := []crucible.ParameterAssignment{fullPoint[4], fullPoint[3], fullPoint[2], fullPoint[1], fullPoint[0]}
	if d := inputsOf(t, repro, reversed, 43); d != want {
		t.Error("the parameters' order changed the trial inputs")
	}

	differ := map[string]func(s *crucible.ExperimentSpec){
		"image":        func(s *crucible.ExperimentSpec) { s.Image = s.Image[:len(s.Image)-1] + "0" },
		"command":      func(s *crucible.ExperimentSpec) { s.Command = append(s.Command, "--fast") },
		"args":         func(s *crucible.ExperimentSpec) { s.Args = nil },
		"env":          func(s *crucible.ExperimentSpec) { s.Env[0].Value = "/data/val" },
		"resources":    func(s *crucible.ExperimentSpec) { s.Resources.Limits["memory"] = resource.MustParse("16Gi") },
		"podTemplate":  func(s *crucible.ExperimentSpec) { s.PodTemplate.Spec.NodeSelector["accelerator"] = "h100" },
		"dataset":      func(s *crucible.ExperimentSpec) { s.Dataset.Version = "2013" },
		"dataset path": func(s *crucible.ExperimentSpec) { s.Dataset.MountPath = "/datasets" },
		"source": func(s *crucible.ExperimentSpec) {
			s.Source = &crucible.SourceSpec{Repository: "https://git.example/r", Commit: "0123456789abcdef0123456789abcdef01234567"}
		},
	}
	for name, change := range differ {
		s := repro.DeepCopy()
		change(s)
		if d := inputsOf(t, s, fullPoint, 43); d == want {
			t.Errorf("a changed %s left the trial inputs as they were", name)
		}
	}
	other := []crucible.ParameterAssignment{fullPoint[0], fullPoint[1], fullPoint[2], fullPoint[3], {Name: "dropout", Value: "0.2"}}
	if d := inputsOf(t, repro, other, 43); d == want {
		t.Error("another point left the trial inputs as they were")
	}
	if d := inputsOf(t, repro, fullPoint, 44); d == want {
		t.Error("another seed left the trial inputs as they were")
	}
	if _, err := TrialInputs(nil, nil, 0); err == nil {
		t.Error("TrialInputs(nil): no error")
	}
}
