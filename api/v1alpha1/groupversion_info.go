// Package v1alpha1 contains the Crucible API: Experiment, the pinned
// description of a hyperparameter sweep, and Trial, the frozen record of one
// run of it.
//
// +kubebuilder:object:generate=true
// +groupName=crucible.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every object in this package.
	GroupVersion = schema.GroupVersion{Group: "crucible.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the package's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the package's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
