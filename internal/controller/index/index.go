// Package index declares the cache indexes the controllers read through, so
// that a reconcile looks up an object's children in O(children) rather than
// scanning every object of the kind in the namespace.
package index

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

const (
	// TrialOwnerKey indexes Trials by the UID of the Experiment that
	// controls them.
	TrialOwnerKey = ".metadata.controller.uid"

	// PodJobKey indexes Pods by the UID of the Job that controls them. A
	// trial's outcome is read only from the Pods of its own Job: a Pod that
	// merely carries the crucible.dev/trial label (anyone who may create
	// Pods can set it) is not one of them.
	PodJobKey = ".metadata.controller.uid"

	// EventObjectKey indexes Events by the UID of the object they are
	// about; the cache holds only the Job controller's FailedCreate events.
	EventObjectKey = ".involvedObject.uid"

	// ModelVersionModelKey indexes ModelVersions by spec.model, the name of
	// their Model. The spec field, not the crucible.dev/model label: the
	// spec is immutable and the API server ties it to the version's name
	// (<model>-v<N>), while a label is optional (a version applied from a
	// manifest may lack it) and anyone who may edit the version can change
	// it, which would move a version out of its Model's sight.
	ModelVersionModelKey = ".spec.model"
)

// Setup registers every index with indexer: the manager's field indexer in
// production, a fake client builder's in tests.
func Setup(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &crucible.Trial{}, TrialOwnerKey, trialOwner); err != nil {
		return fmt.Errorf("indexing Trials by owner: %w", err)
	}
	if err := indexer.IndexField(ctx, &corev1.Pod{}, PodJobKey, PodJob); err != nil {
		return fmt.Errorf("indexing Pods by Job: %w", err)
	}
	if err := indexer.IndexField(ctx, &corev1.Event{}, EventObjectKey, eventObject); err != nil {
		return fmt.Errorf("indexing Events by object: %w", err)
	}
	if err := indexer.IndexField(ctx, &crucible.ModelVersion{}, ModelVersionModelKey, modelVersionModel); err != nil {
		return fmt.Errorf("indexing ModelVersions by Model: %w", err)
	}
	return nil
}

func trialOwner(obj client.Object) []string {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Experiment" || ref.APIVersion != crucible.GroupVersion.String() {
		return nil
	}
	return []string{string(ref.UID)}
}

// PodJob is the index function of PodJobKey: the UID of the Job that controls a
// Pod. The bench indexes its informer with it too.
func PodJob(obj client.Object) []string {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Job" || ref.APIVersion != "batch/v1" {
		return nil
	}
	return []string{string(ref.UID)}
}

func eventObject(obj client.Object) []string {
	if e, ok := obj.(*corev1.Event); ok && e.InvolvedObject.UID != "" {
		return []string{string(e.InvolvedObject.UID)}
	}
	return nil
}

func modelVersionModel(obj client.Object) []string {
	if v, ok := obj.(*crucible.ModelVersion); ok && v.Spec.Model != "" {
		return []string{v.Spec.Model}
	}
	return nil
}
