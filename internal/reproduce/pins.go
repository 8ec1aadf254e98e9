package reproduce

import (
	"errors"
	"fmt"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

// CheckPins checks that a reproduction runs the inputs its
// spec.reproduces records: one point, one seed, and the trial-inputs
// digest of the original. The API server checks the image, dataset digest,
// seed and point (CEL can compare them, not hash); this checks the rest:
// command, args, env, resources, podTemplate, dataset and source. The error
// says what to look at.
func CheckPins(spec *crucible.ExperimentSpec) error {
	r := spec.Reproduces
	if r == nil {
		return errors.New("not a reproduction: spec.reproduces is not set")
	}
	point, err := Point(spec)
	if err != nil {
		return err
	}
	got, err := specdigest.TrialInputs(spec, point, spec.Seeds.Base)
	if err != nil {
		return err
	}
	if got != r.InputsDigest {
		return fmt.Errorf("the reproduction's inputs have digest %s, but the original trial %s/%s ran with %s: "+
			"its command, args, env, resources, podTemplate, dataset or source differ from the original's "+
			"(make the manifest again with kubectl crucible reproduce)", got, r.Trial.Namespace, r.Trial.Name, r.InputsDigest)
	}
	return nil
}

// Point is the one point a reproduction's search space has: each
// parameter's single value.
func Point(spec *crucible.ExperimentSpec) ([]crucible.ParameterAssignment, error) {
	var point []crucible.ParameterAssignment
	for _, p := range spec.Parameters {
		if len(p.Values) != 1 {
			return nil, fmt.Errorf("parameter %q of a reproduction must have exactly one value, the original's", p.Name)
		}
		point = append(point, crucible.ParameterAssignment{Name: p.Name, Value: p.Values[0]})
	}
	return point, nil
}
