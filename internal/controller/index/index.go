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

	// PodTrialKey indexes Pods by the value of their crucible.dev/trial
	// label.
	PodTrialKey = ".metadata.labels.trial"
)

// Setup registers every index with indexer: the manager's field indexer in
// production, a fake client builder's in tests.
func Setup(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &crucible.Trial{}, TrialOwnerKey, trialOwner); err != nil {
		return fmt.Errorf("indexing Trials by owner: %w", err)
	}
	if err := indexer.IndexField(ctx, &corev1.Pod{}, PodTrialKey, podTrial); err != nil {
		return fmt.Errorf("indexing Pods by trial: %w", err)
	}
	return nil
}

// TrialOwner is the index function of TrialOwnerKey.
func trialOwner(obj client.Object) []string {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Experiment" || ref.APIVersion != crucible.GroupVersion.String() {
		return nil
	}
	return []string{string(ref.UID)}
}

func podTrial(obj client.Object) []string {
	if name, ok := obj.GetLabels()[crucible.TrialLabel]; ok && name != "" {
		return []string{name}
	}
	return nil
}

// Funcs returns the index functions by key, for a fake client builder's
// WithIndex.
func Funcs() map[string]client.IndexerFunc {
	return map[string]client.IndexerFunc{TrialOwnerKey: trialOwner, PodTrialKey: podTrial}
}
