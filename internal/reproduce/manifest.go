package reproduce

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/provenance"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

// ReproducesLabel is set on a reproduction to the original trial's name,
// so that `kubectl get exp -l crucible.dev/reproduces=<trial>` finds it.
const ReproducesLabel = "crucible.dev/reproduces"

// Options shape a reproduction's manifest.
type Options struct {
	// Name of the reproduction; empty for "<experiment>-repro-<4 hex>",
	// the hex from the original trial's UID.
	Name string
	// Namespace of the reproduction; empty for the original's.
	Namespace string
	// Tolerances, per metric; none means every metric must be equal.
	Tolerances []crucible.MetricTolerance
}

// original is what a reproduction needs of the trial it reproduces,
// whether read from the cluster or from a provenance record.
type original struct {
	namespace, experiment, name, uid string
	spec                             *crucible.ExperimentSpec
	parameters                       []crucible.ParameterAssignment
	seed                             int64
	metrics                          map[string]string
	provenanceDigest                 string
	manifestDigest                   string
}

// FromTrial makes the reproduction of a trial that still exists: trial
// must have succeeded, and exp must be its Experiment. The reproduction
// keeps the original's artifact store, so that it writes its artifacts and
// its own provenance record beside the original's.
func FromTrial(exp *crucible.Experiment, trial *crucible.Trial, opts Options) (*crucible.Experiment, error) {
	if !isOwnedBy(trial, exp) {
		return nil, fmt.Errorf("trial %s/%s is not a trial of Experiment %s/%s", trial.Namespace, trial.Name, exp.Namespace, exp.Name)
	}
	if trial.Status.Phase != crucible.TrialSucceeded {
		return nil, fmt.Errorf("trial %s/%s is %s: only a trial that succeeded has a result to reproduce",
			trial.Namespace, trial.Name, phaseOrPending(trial.Status.Phase))
	}
	o := original{
		namespace:  trial.Namespace,
		experiment: exp.Name,
		name:       trial.Name,
		uid:        string(trial.UID),
		spec:       &exp.Spec,
		parameters: trial.Spec.Parameters,
		seed:       trial.Spec.Seed,
		metrics:    trial.Status.Metrics,
	}
	if p := trial.Status.Provenance; p != nil {
		o.provenanceDigest = p.Digest
	}
	if a := trial.Status.Artifacts; a != nil {
		o.manifestDigest = a.ManifestDigest
	}
	r, err := build(o, opts)
	if err != nil {
		return nil, err
	}
	r.Spec.Artifacts = exp.Spec.Artifacts.DeepCopy()
	return r, nil
}

// FromRecord makes the reproduction of a trial from its provenance record
// alone, when its Experiment and Trial may be long gone. The record keeps
// the pinned spec, not where artifacts went: the reproduction has no
// artifact store unless the user adds one.
func FromRecord(rec *provenance.Record, opts Options) (*crucible.Experiment, error) {
	if rec.Outcome.Phase != crucible.TrialSucceeded {
		return nil, fmt.Errorf("the record's trial %s/%s ended %s: only a trial that succeeded has a result to reproduce",
			rec.Trial.Namespace, rec.Trial.Name, phaseOrPending(rec.Outcome.Phase))
	}
	o := original{
		namespace:        rec.Trial.Namespace,
		experiment:       rec.Experiment.Name,
		name:             rec.Trial.Name,
		uid:              rec.Trial.UID,
		spec:             rec.Spec,
		parameters:       rec.Parameters,
		seed:             rec.Seed,
		metrics:          rec.Metrics,
		provenanceDigest: rec.PayloadDigest,
	}
	if rec.Artifacts != nil {
		o.manifestDigest = rec.Artifacts.ManifestDigest
	}
	return build(o, opts)
}

// build writes the reproduction's manifest.
func build(o original, opts Options) (*crucible.Experiment, error) {
	if o.spec == nil {
		return nil, errors.New("the original has no spec")
	}
	if len(o.metrics) == 0 {
		return nil, fmt.Errorf("trial %s/%s recorded no metrics: there is nothing to compare a reproduction with", o.namespace, o.name)
	}
	for _, t := range opts.Tolerances {
		if _, ok := o.metrics[t.Metric]; !ok {
			return nil, fmt.Errorf("a tolerance for %q, which the original did not report (it reported %s)",
				t.Metric, strings.Join(slices.Sorted(maps.Keys(o.metrics)), ", "))
		}
	}
	inputs, err := specdigest.TrialInputs(o.spec, o.parameters, o.seed)
	if err != nil {
		return nil, err
	}
	spec := crucible.ExperimentSpec{
		Image:       o.spec.Image,
		Command:     slices.Clone(o.spec.Command),
		Args:        slices.Clone(o.spec.Args),
		Env:         slices.Clone(o.spec.Env),
		Resources:   o.spec.Resources.DeepCopy(),
		PodTemplate: o.spec.PodTemplate.DeepCopy(),
		Dataset:     o.spec.Dataset.DeepCopy(),
		Source:      o.spec.Source.DeepCopy(),
		Search:      o.spec.Search,
		Seeds:       crucible.SeedSpec{Base: o.seed, Replicas: 1},
		Objective:   o.spec.Objective,
		Parallelism: 1,
		Reproduces: &crucible.ReproductionSpec{
			Trial:            crucible.ReproducedTrial{Namespace: o.namespace, Experiment: o.experiment, Name: o.name, UID: o.uid},
			ProvenanceDigest: o.provenanceDigest,
			InputsDigest:     inputs,
			Image:            o.spec.Image,
			Seed:             o.seed,
			Parameters:       slices.Clone(o.parameters),
			Metrics:          maps.Clone(o.metrics),
			ManifestDigest:   o.manifestDigest,
			Tolerances:       slices.Clone(opts.Tolerances),
		},
	}
	if d := o.spec.Dataset; d != nil {
		spec.Reproduces.DatasetDigest = d.Digest
	}
	for _, p := range o.parameters {
		spec.Parameters = append(spec.Parameters, crucible.ParameterSpec{Name: p.Name, Values: []string{p.Value}})
	}
	name := opts.Name
	if name == "" {
		name = Name(o.experiment, o.uid)
	}
	ns := opts.Namespace
	if ns == "" {
		ns = o.namespace
	}
	return &crucible.Experiment{
		TypeMeta: metav1.TypeMeta{APIVersion: crucible.GroupVersion.String(), Kind: "Experiment"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ns,
			Labels:    map[string]string{ReproducesLabel: o.name},
		},
		Spec: spec,
	}, nil
}

// Name is the default name of a reproduction: the original Experiment's
// name, cut to fit, "-repro-" and 4 hex digits of the trial's UID, at most
// crucible.MaxExperimentNameLength characters.
func Name(experiment, trialUID string) string {
	sum := sha256.Sum256([]byte(trialUID))
	suffix := "-repro-" + hex.EncodeToString(sum[:2])
	base := experiment
	if n := crucible.MaxExperimentNameLength - len(suffix); len(base) > n {
		base = strings.TrimRight(base[:n], "-")
	}
	return base + suffix
}

func isOwnedBy(trial *crucible.Trial, exp *crucible.Experiment) bool {
	if trial.Namespace != exp.Namespace {
		return false
	}
	for _, ref := range trial.OwnerReferences {
		if ref.UID == exp.UID && ref.Kind == "Experiment" {
			return true
		}
	}
	return false
}

func phaseOrPending(p crucible.TrialPhase) string {
	if p == "" {
		return string(crucible.TrialPending)
	}
	return string(p)
}
