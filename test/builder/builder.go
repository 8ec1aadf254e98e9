// Package builder makes test objects with a fluent API:
// MakeExperiment("e", ns).Parallelism(2).Obj().
package builder

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Image is a digest-pinned image for tests.
const Image = "registry.example/train@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// DatasetDigest is a dataset digest for tests.
var DatasetDigest = "sha256:" + strings.Repeat("ab", 32)

// ExperimentWrapper builds an Experiment.
type ExperimentWrapper struct{ crucible.Experiment }

// MakeExperiment returns a valid Experiment minimising val_loss with no
// parameters, one seed and parallelism 1.
func MakeExperiment(name, ns string) *ExperimentWrapper {
	return &ExperimentWrapper{crucible.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: crucible.ExperimentSpec{
			Image:       Image,
			Command:     []string{"python", "train.py"},
			Objective:   crucible.ObjectiveSpec{Metric: "val_loss", Goal: crucible.GoalMinimize},
			Parallelism: 1,
			Seeds:       crucible.SeedSpec{Base: 0, Replicas: 1},
			Search:      crucible.SearchSpec{Algorithm: crucible.SearchGrid},
		},
	}}
}

// Obj returns the built Experiment.
func (w *ExperimentWrapper) Obj() *crucible.Experiment { return w.DeepCopy() }

// Values adds a parameter that takes the listed values.
func (w *ExperimentWrapper) Values(name string, values ...string) *ExperimentWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterSpec{Name: name, Values: values})
	return w
}

// IntRange adds an integer parameter.
func (w *ExperimentWrapper) IntRange(name string, minV, maxV, step int64) *ExperimentWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterSpec{Name: name, Int: &crucible.IntRange{Min: minV, Max: maxV, Step: step}})
	return w
}

// FloatRange adds a decimal parameter.
func (w *ExperimentWrapper) FloatRange(name, minV, maxV string, steps int32, scale crucible.Scale) *ExperimentWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, crucible.ParameterSpec{Name: name,
		Float: &crucible.FloatRange{Min: minV, Max: maxV, Steps: steps, Scale: scale}})
	return w
}

// Seeds sets the seed base and replicas.
func (w *ExperimentWrapper) Seeds(base int64, replicas int32) *ExperimentWrapper {
	w.Spec.Seeds = crucible.SeedSpec{Base: base, Replicas: replicas}
	return w
}

// Parallelism sets spec.parallelism.
func (w *ExperimentWrapper) Parallelism(n int32) *ExperimentWrapper {
	w.Spec.Parallelism = n
	return w
}

// MaxFailedTrials sets spec.maxFailedTrials.
func (w *ExperimentWrapper) MaxFailedTrials(n int32) *ExperimentWrapper {
	w.Spec.MaxFailedTrials = n
	return w
}

// Suspend sets spec.suspend.
func (w *ExperimentWrapper) Suspend(s bool) *ExperimentWrapper {
	w.Spec.Suspend = s
	return w
}

// Objective sets the objective.
func (w *ExperimentWrapper) Objective(metric string, goal crucible.Goal) *ExperimentWrapper {
	w.Spec.Objective = crucible.ObjectiveSpec{Metric: metric, Goal: goal}
	return w
}

// PVCDataset sets a dataset mounted from a PersistentVolumeClaim.
func (w *ExperimentWrapper) PVCDataset(claim, subPath string) *ExperimentWrapper {
	w.Spec.Dataset = &crucible.DatasetSpec{
		Name: "cifar10", Version: "2024-05-01", Digest: DatasetDigest, MountPath: "/data",
		Source: crucible.DatasetSource{PersistentVolumeClaim: &crucible.PVCDatasetSource{ClaimName: claim, SubPath: subPath}},
	}
	return w
}
