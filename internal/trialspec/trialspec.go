// Package trialspec builds the Trial that runs one point of an
// Experiment's search space: a pure function of the Experiment, the point
// and the Experiment's spec digest, shared by the Experiment reconciler and
// the bench.
package trialspec

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/naming"
	"github.com/crucible-dev/crucible/internal/searchspace"
)

// New builds the Trial that runs point t of exp's search space. It is a
// pure function: the same Experiment and point always give the same Trial,
// with the same name.
func New(exp *crucible.Experiment, t searchspace.Trial, specDigest string) *crucible.Trial {
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
			Assignment:       assignment(t.Parameters),
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

// maxAssignmentLength bounds TrialSpec.Assignment.
const maxAssignmentLength = 256

// assignment spells params as one line for kubectl: "lr=0.01 depth=4".
func assignment(params []crucible.ParameterAssignment) string {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	s := b.String()
	if len(s) > maxAssignmentLength {
		s = strings.ToValidUTF8(s[:maxAssignmentLength-3], "") + "..."
	}
	return s
}
