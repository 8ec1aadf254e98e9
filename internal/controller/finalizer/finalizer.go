// Package finalizer adds or removes one finalizer of an object, the way
// every reconciler here does it: a merge patch of metadata with an
// optimistic lock, sent only when the object has not got it as wanted.
package finalizer

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// Ensure makes obj carry finalizer when want, and not otherwise. It writes
// nothing when obj already is as wanted, and updates obj from the answer.
func Ensure(ctx context.Context, c client.Client, obj client.Object, finalizer string, want bool) error {
	if want == controllerutil.ContainsFinalizer(obj, finalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	if want {
		controllerutil.AddFinalizer(obj, finalizer)
	} else {
		controllerutil.RemoveFinalizer(obj, finalizer)
	}
	return c.Patch(ctx, obj, patch)
}
