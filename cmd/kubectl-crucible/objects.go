package main

import (
	"fmt"
	"slices"
	"strings"
)

// Kinds of the objects the verbs take as KIND/NAME.
const (
	kindTrial      = "trial"
	kindExperiment = "experiment"
)

// experimentKinds are the ways to say "an Experiment" before the slash, as
// kubectl takes them: kind, resource and short name, bare or with the
// group.
var experimentKinds = []string{"experiment", "experiments", "exp", "experiment.crucible.dev", "experiments.crucible.dev"}

// objectRef names a Trial or an Experiment.
type objectRef struct {
	kind string // kindTrial or kindExperiment
	name string
}

func (r objectRef) String() string { return r.kind + "/" + r.name }

// resource is the RBAC resource of the object's kind.
func (r objectRef) resource() string {
	if r.kind == kindExperiment {
		return experimentsResource
	}
	return trialsResource
}

// parseRef reads trial/NAME or experiment/NAME (and the other spellings
// of trialKinds and experimentKinds); a bare NAME is a trial. kinds are
// the kinds the verb takes.
func parseRef(arg string, kinds ...string) (objectRef, error) {
	want := make([]string, len(kinds))
	for i, k := range kinds {
		want[i] = k + "/NAME"
	}
	kind, name, ok := strings.Cut(arg, "/")
	ref := objectRef{kind: kindTrial, name: name}
	switch {
	case !ok:
		ref.name = arg
	case slices.Contains(trialKinds, kind):
	case slices.Contains(experimentKinds, kind):
		ref.kind = kindExperiment
	default:
		return objectRef{}, fmt.Errorf("%q: want %s", arg, strings.Join(want, " or "))
	}
	if !slices.Contains(kinds, ref.kind) {
		return objectRef{}, fmt.Errorf("%q: want %s", arg, strings.Join(want, " or "))
	}
	if ref.name == "" || strings.Contains(ref.name, "/") {
		return objectRef{}, fmt.Errorf("%q: want %s with the object's name", arg, strings.Join(want, " or "))
	}
	return ref, nil
}
