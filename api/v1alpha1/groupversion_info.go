// Package v1alpha1 contains the Crucible API: Experiment, the pinned
// description of a hyperparameter sweep, and Trial, the frozen record of one
// run of it.
//
// +kubebuilder:object:generate=true
// +groupName=crucible.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every object in this package.
	GroupVersion = schema.GroupVersion{Group: "crucible.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the package's types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the package's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the package's types. The API package imports
// only apimachinery, so that clients can import it cheaply.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Experiment{}, &ExperimentList{}, &Trial{}, &TrialList{},
		&Model{}, &ModelList{}, &ModelVersion{}, &ModelVersionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
