package specdigest

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/canonjson"
)

// version is hashed before the encoding. It names the encoding, and changes
// only with a conscious decision to change every digest.
const version = "crucible.dev/spec-digest/v1\n"

// prefix starts every digest: the hash function.
const prefix = "sha256:"

// Defaults the CRD applies, which the digest fills in so that a manifest
// that spells them out and one that leaves them out have the same digest.
const (
	defaultMountPath = "/data"
	defaultStep      = 1
	defaultReplicas  = 1
	// defaultMaxConcurrent is searchspace.DefaultMaxConcurrent, TPE's
	// spec.search.maxConcurrent when unset (TestSearchDefaults holds them
	// together).
	defaultMaxConcurrent = 4
)

// Compute returns "sha256:<64 hex digits>" over every pinned input of an
// Experiment: image, command, args, env, resources, podTemplate, dataset,
// parameters, search, seeds and objective. It excludes what may change while
// an Experiment runs (parallelism, maxFailedTrials, suspend) and all of
// metadata and status.
//
// The digest is canonical and stable across operator versions; see the
// package documentation for the encoding.
func Compute(spec *crucible.ExperimentSpec) (string, error) {
	b, err := canonical(spec)
	if err != nil {
		return "", err
	}
	return Of(b), nil
}

// Canonical returns the canonical JSON encoding of spec's pinned fields:
// the bytes Compute hashes, which a provenance record carries so that its
// reader can check them against the digest with Of.
func Canonical(spec *crucible.ExperimentSpec) ([]byte, error) { return canonical(spec) }

// Of returns the digest of a canonical encoding Canonical returned.
func Of(canonical []byte) string { return digestOf(version, canonical) }

// digestOf hashes an encoding's version line and then its bytes.
func digestOf(version string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(version))
	h.Write(canonical)
	return prefix + hex.EncodeToString(h.Sum(nil))
}

// canonical returns the canonical JSON encoding of spec's pinned fields.
func canonical(spec *crucible.ExperimentSpec) ([]byte, error) {
	if spec == nil {
		return nil, errors.New("the Experiment has no spec")
	}
	p := pin(spec.DeepCopy())
	canonicalQuantities(reflect.ValueOf(p))
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding the Experiment's pinned fields: %w", err)
	}
	out, err := canonjson.ReencodePruned(raw)
	if err != nil {
		return nil, fmt.Errorf("encoding the Experiment's pinned fields: %w", err)
	}
	return out, nil
}

// pinned lists the fields of an ExperimentSpec that the digest covers, with
// their JSON names spelled out here so that the digest does not depend on
// the API types' tags. Optional fields are omitempty, so a field added later
// and left unset leaves old digests unchanged.
type pinned struct {
	Image       string                       `json:"image"`
	Command     []string                     `json:"command,omitempty"`
	Args        []string                     `json:"args,omitempty"`
	Env         []envVar                     `json:"env,omitempty"`
	Resources   *corev1.ResourceRequirements `json:"resources,omitempty"`
	PodTemplate *corev1.PodTemplateSpec      `json:"podTemplate,omitempty"`
	Dataset     *dataset                     `json:"dataset,omitempty"`
	Source      *source                      `json:"source,omitempty"`
	Parameters  []parameter                  `json:"parameters,omitempty"`
	Search      search                       `json:"search"`
	Seeds       seeds                        `json:"seeds"`
	Objective   objective                    `json:"objective"`
	// EarlyStopping decides which trials run to their end: part of what
	// the results are.
	EarlyStopping *earlyStopping `json:"earlyStopping,omitempty"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

type dataset struct {
	Name      string        `json:"name"`
	Version   string        `json:"version"`
	Digest    string        `json:"digest"`
	Source    datasetSource `json:"source"`
	MountPath string        `json:"mountPath"`
}

type source struct {
	Repository string `json:"repository"`
	Commit     string `json:"commit"`
}

type datasetSource struct {
	PersistentVolumeClaim *pvcSource   `json:"persistentVolumeClaim,omitempty"`
	Image                 *imageSource `json:"image,omitempty"`
}

type pvcSource struct {
	ClaimName string `json:"claimName"`
	SubPath   string `json:"subPath,omitempty"`
}

type imageSource struct {
	Reference string `json:"reference"`
}

type parameter struct {
	Name   string      `json:"name"`
	Values []string    `json:"values,omitempty"`
	Int    *intRange   `json:"int,omitempty"`
	Float  *floatRange `json:"float,omitempty"`
}

type intRange struct {
	Min  int64 `json:"min"`
	Max  int64 `json:"max"`
	Step int64 `json:"step"`
}

type floatRange struct {
	Min   string `json:"min"`
	Max   string `json:"max"`
	Steps int32  `json:"steps"`
	Scale string `json:"scale"`
}

// search is spec.search. The fields of Random, Sobol and TPE are left out
// of a Grid's digest, which they cannot be part of, so that a grid's digest
// is the one it always was; for the others the CRD's defaults are filled in.
type search struct {
	Algorithm     string `json:"algorithm"`
	MaxTrials     int32  `json:"maxTrials,omitempty"`
	Seed          *int64 `json:"seed,omitempty"`
	Scramble      *bool  `json:"scramble,omitempty"`
	MaxConcurrent int32  `json:"maxConcurrent,omitempty"`
}

// earlyStopping is spec.earlyStopping with the CRD's defaults filled in.
type earlyStopping struct {
	MedianStop *medianStop `json:"medianStop,omitempty"`
	ASHA       *asha       `json:"asha,omitempty"`
}

type medianStop struct {
	MinTrials int32 `json:"minTrials"`
	StartStep int64 `json:"startStep"`
}

type asha struct {
	GracePeriod     int64 `json:"gracePeriod"`
	ReductionFactor int64 `json:"reductionFactor"`
	MaxResource     int64 `json:"maxResource,omitempty"`
}

type seeds struct {
	Base     int64 `json:"base"`
	Replicas int32 `json:"replicas"`
}

type objective struct {
	Metric string `json:"metric"`
	Goal   string `json:"goal"`
}

// pin lists spec's pinned fields, filling in the CRD's defaults and
// spelling float bounds canonically. The result shares spec's lists.
func pin(spec *crucible.ExperimentSpec) *pinned {
	p := &pinned{
		Image:       spec.Image,
		Command:     spec.Command,
		Args:        spec.Args,
		Resources:   spec.Resources,
		PodTemplate: spec.PodTemplate,
		Search:      search{Algorithm: string(spec.Search.Algorithm)},
		Seeds:       seeds{Base: spec.Seeds.Base, Replicas: spec.Seeds.Replicas},
		Objective:   objective{Metric: spec.Objective.Metric, Goal: string(spec.Objective.Goal)},
	}
	for _, e := range spec.Env {
		p.Env = append(p.Env, envVar{Name: e.Name, Value: e.Value})
	}
	if p.Search.Algorithm == "" {
		p.Search.Algorithm = string(crucible.SearchGrid)
	}
	if p.Search.Algorithm != string(crucible.SearchGrid) {
		pinSearch(&p.Search, spec)
	}
	if e := spec.EarlyStopping; e != nil {
		p.EarlyStopping = &earlyStopping{}
		if m := e.MedianStop; m != nil {
			p.EarlyStopping.MedianStop = &medianStop{MinTrials: cmp.Or(m.MinTrials, 3), StartStep: m.StartStep}
		}
		if a := e.ASHA; a != nil {
			p.EarlyStopping.ASHA = &asha{GracePeriod: cmp.Or(a.GracePeriod, 1), ReductionFactor: cmp.Or(a.ReductionFactor, 3), MaxResource: a.MaxResource}
		}
	}
	if p.Seeds.Replicas == 0 {
		p.Seeds.Replicas = defaultReplicas
	}
	if d := spec.Dataset; d != nil {
		p.Dataset = &dataset{Name: d.Name, Version: d.Version, Digest: d.Digest, MountPath: d.MountPath}
		if p.Dataset.MountPath == "" {
			p.Dataset.MountPath = defaultMountPath
		}
		if s := d.Source.PersistentVolumeClaim; s != nil {
			p.Dataset.Source.PersistentVolumeClaim = &pvcSource{ClaimName: s.ClaimName, SubPath: s.SubPath}
		}
		if s := d.Source.Image; s != nil {
			p.Dataset.Source.Image = &imageSource{Reference: s.Reference}
		}
	}
	if s := spec.Source; s != nil {
		p.Source = &source{Repository: s.Repository, Commit: s.Commit}
	}
	for _, sp := range spec.Parameters {
		q := parameter{Name: sp.Name, Values: sp.Values}
		if r := sp.Int; r != nil {
			q.Int = &intRange{Min: r.Min, Max: r.Max, Step: r.Step}
			if q.Int.Step == 0 {
				q.Int.Step = defaultStep
			}
		}
		if r := sp.Float; r != nil {
			q.Float = &floatRange{Min: canonicalDecimal(r.Min), Max: canonicalDecimal(r.Max), Steps: r.Steps, Scale: string(r.Scale)}
			if q.Float.Scale == "" {
				q.Float.Scale = string(crucible.ScaleLinear)
			}
		}
		p.Parameters = append(p.Parameters, q)
	}
	return p
}

// pinSearch fills in the fields of a Random, Sobol or TPE search, with the
// defaults the operator applies: the sampler's seed is seeds.base, Sobol
// scrambles, TPE leaves 4 trials pending.
func pinSearch(p *search, spec *crucible.ExperimentSpec) {
	if m := spec.Search.MaxTrials; m != nil {
		p.MaxTrials = *m
	}
	seed := spec.Seeds.Base
	if s := spec.Search.Seed; s != nil {
		seed = *s
	}
	p.Seed = &seed
	switch crucible.SearchAlgorithm(p.Algorithm) {
	case crucible.SearchSobol:
		scramble := spec.Search.Scramble == nil || *spec.Search.Scramble
		p.Scramble = &scramble
	case crucible.SearchTPE:
		p.MaxConcurrent = defaultMaxConcurrent
		if m := spec.Search.MaxConcurrent; m != nil {
			p.MaxConcurrent = *m
		}
	}
}
