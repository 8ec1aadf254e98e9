package model

import (
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

const testNS = "ml"

// t0 is the fake clock's time when a test starts: whole seconds, as a
// metav1.Time reads back from the API.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// modelWrapper builds Models for tests.
type modelWrapper struct{ crucible.Model }

func makeModel(name string) *modelWrapper {
	return &modelWrapper{crucible.Model{
		TypeMeta:   metav1.TypeMeta{APIVersion: crucible.GroupVersion.String(), Kind: "Model"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, UID: types.UID("uid-" + name), Generation: 1},
	}}
}

func (w *modelWrapper) Obj() *crucible.Model { return w.DeepCopy() }

func (w *modelWrapper) alias(name string, version int32) *modelWrapper {
	if w.Spec.Aliases == nil {
		w.Spec.Aliases = map[string]int32{}
	}
	w.Spec.Aliases[name] = version
	return w
}

func (w *modelWrapper) generation(g int64) *modelWrapper {
	w.Generation = g
	return w
}

// resolved sets status.aliases as an earlier pass would have written it.
func (w *modelWrapper) resolved(alias string, r crucible.ResolvedAlias) *modelWrapper {
	if w.Status.Aliases == nil {
		w.Status.Aliases = map[string]crucible.ResolvedAlias{}
	}
	w.Status.Aliases[alias] = r
	return w
}

// versionWrapper builds ModelVersions for tests.
type versionWrapper struct{ crucible.ModelVersion }

func makeVersion(model string, n int32) *versionWrapper {
	name := versionName(model, n)
	return &versionWrapper{crucible.ModelVersion{
		TypeMeta:   metav1.TypeMeta{APIVersion: crucible.GroupVersion.String(), Kind: "ModelVersion"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: map[string]string{crucible.ModelLabel: model}},
		Spec: crucible.ModelVersionSpec{
			Model: model, Version: n,
			Source:    crucible.ModelVersionSource{Experiment: "sweep", Trial: "sweep-abc", TrialUID: "trial-uid"},
			Image:     "registry.example.com/train@sha256:" + sha('a'),
			Objective: crucible.ModelObjective{Metric: "val_loss", Value: "0.2"},
		},
	}}
}

func (w *versionWrapper) Obj() *crucible.ModelVersion { return w.DeepCopy() }

func (w *versionWrapper) objective(v string) *versionWrapper {
	w.Spec.Objective.Value = v
	return w
}

func (w *versionWrapper) namespace(ns string) *versionWrapper {
	w.Namespace = ns
	return w
}

// ready gives the version the status its controller writes once the copy
// is verified.
func (w *versionWrapper) ready(uri, digest string) *versionWrapper {
	w.Status.Phase = crucible.ModelVersionReady
	w.Status.Artifacts = &crucible.ModelVersionArtifacts{URI: uri, ManifestDigest: digest}
	w.Status.Conditions = []metav1.Condition{{Type: crucible.ModelVersionReadyCondition, Status: metav1.ConditionTrue,
		Reason: crucible.ReasonVerified, LastTransitionTime: metav1.NewTime(t0)}}
	return w
}

func (w *versionWrapper) failed(reason string) *versionWrapper {
	w.Status.Phase = crucible.ModelVersionFailed
	w.Status.Artifacts = &crucible.ModelVersionArtifacts{URI: "s3://bucket/corrupt/", ManifestDigest: "sha256:" + sha('f')}
	w.Status.Conditions = []metav1.Condition{{Type: crucible.ModelVersionReadyCondition, Status: metav1.ConditionFalse,
		Reason: reason, LastTransitionTime: metav1.NewTime(t0)}}
	return w
}

func (w *versionWrapper) deleting() *versionWrapper {
	now := metav1.NewTime(t0)
	w.DeletionTimestamp = &now
	w.Finalizers = []string{crucible.ModelArtifactsFinalizer}
	return w
}

func sha(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

// fields builds a FieldsV1 set as the API server writes it into
// managedFields: nested objects keyed "f:<field>", "." for the object
// itself.
func fields(v map[string]any) *metav1.FieldsV1 {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return metav1.NewFieldsV1(string(raw))
}

// aliasFields is the FieldsV1 of a manager that set these aliases (and
// perhaps the description): what kubectl apply and an Argo CD sync own.
func aliasFields(aliases ...string) *metav1.FieldsV1 {
	set := map[string]any{".": map[string]any{}}
	for _, a := range aliases {
		set["f:"+a] = map[string]any{}
	}
	return fields(map[string]any{"f:spec": map[string]any{".": map[string]any{}, "f:aliases": set, "f:description": map[string]any{}}})
}

// managed is one managedFields entry for the main resource.
func managed(manager string, op metav1.ManagedFieldsOperationType, at time.Time, f *metav1.FieldsV1) metav1.ManagedFieldsEntry {
	t := metav1.NewTime(at)
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: crucible.GroupVersion.String(),
		Time: &t, FieldsType: "FieldsV1", FieldsV1: f}
}

// statusManaged is the operator's own entry, for the status subresource.
func statusManaged(at time.Time) metav1.ManagedFieldsEntry {
	e := managed("crucible", metav1.ManagedFieldsOperationUpdate, at, fields(map[string]any{
		"f:status": map[string]any{".": map[string]any{}, "f:aliases": map[string]any{".": map[string]any{}, "f:champion": map[string]any{}}}}))
	e.Subresource = "status"
	return e
}
