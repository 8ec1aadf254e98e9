package experiment

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/naming"
	"github.com/crucible-dev/crucible/internal/searchspace"
)

// newTrial builds the Trial that runs point t of exp's search space. It is a
// pure function: the same Experiment and point always give the same Trial,
// with the same name.
func newTrial(exp *crucible.Experiment, t searchspace.Trial, specDigest string) *crucible.Trial {
	trial := &crucible.Trial{
		ObjectMeta: metav1.ObjectMeta{
			Name:      naming.TrialName(exp.Name, t.Parameters, t.Seed),
			Namespace: exp.Namespace,
			Labels:    map[string]string{crucible.ExperimentLabel: exp.Name},
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(exp, crucible.GroupVersion.WithKind("Experiment")),
			},
		},
		Spec: crucible.TrialSpec{
			Index:            t.Index,
			Parameters:       t.Parameters,
			Seed:             t.Seed,
			Replica:          t.Replica,
			Image:            exp.Spec.Image,
			ExperimentDigest: specDigest,
		},
	}
	if exp.Spec.Dataset != nil {
		trial.Spec.DatasetDigest = exp.Spec.Dataset.Digest
	}
	return trial
}
