package specdigest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/canonjson"
)

// trialInputsVersion is hashed before the trial-inputs encoding, as version
// is before the spec's.
const trialInputsVersion = "crucible.dev/trial-inputs/v1\n"

// TrialInputs returns "sha256:<64 hex digits>" over every input one trial
// of spec runs with: the Experiment's pinned image, command, args, env,
// resources, podTemplate, dataset and source, and the trial's own
// parameters and seed in place of the search space, the search algorithm
// and the seeds. The objective is left out: it ranks a run, it does not
// change it.
//
// An original trial and its reproduction have the same trial-inputs digest:
// the reproduction's one point and one seed are the original's, although
// its search space and seeds are written differently. It is encoded as the
// spec digest is (canonical JSON, defaults filled in, quantities and floats
// by value), under its own version line; parameters are sorted by name,
// since a trial's environment does not depend on their order.
func TrialInputs(spec *crucible.ExperimentSpec, params []crucible.ParameterAssignment, seed int64) (string, error) {
	if spec == nil {
		return "", fmt.Errorf("the Experiment has no spec")
	}
	p := pin(spec.DeepCopy())
	canonicalQuantities(reflect.ValueOf(p))
	in := trialInputs{
		Image:       p.Image,
		Command:     p.Command,
		Args:        p.Args,
		Env:         p.Env,
		Resources:   p.Resources,
		PodTemplate: p.PodTemplate,
		Dataset:     p.Dataset,
		Source:      p.Source,
		Seed:        seed,
	}
	for _, a := range params {
		in.Parameters = append(in.Parameters, assignment{Name: a.Name, Value: a.Value})
	}
	slices.SortFunc(in.Parameters, func(a, b assignment) int { return cmp.Compare(a.Name, b.Name) })
	raw, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("encoding the trial's inputs: %w", err)
	}
	b, err := canonjson.ReencodePruned(raw)
	if err != nil {
		return "", fmt.Errorf("encoding the trial's inputs: %w", err)
	}
	return digestOf(trialInputsVersion, b), nil
}

// trialInputs lists what TrialInputs covers, by explicit JSON names.
type trialInputs struct {
	Image       string                       `json:"image"`
	Command     []string                     `json:"command,omitempty"`
	Args        []string                     `json:"args,omitempty"`
	Env         []envVar                     `json:"env,omitempty"`
	Resources   *corev1.ResourceRequirements `json:"resources,omitempty"`
	PodTemplate *corev1.PodTemplateSpec      `json:"podTemplate,omitempty"`
	Dataset     *dataset                     `json:"dataset,omitempty"`
	Source      *source                      `json:"source,omitempty"`
	Parameters  []assignment                 `json:"parameters,omitempty"`
	Seed        int64                        `json:"seed"`
}

type assignment struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
