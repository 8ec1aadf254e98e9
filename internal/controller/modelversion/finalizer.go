package modelversion

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/finalizer"
)

// DefaultArtifactDeletionTimeout is how long after a version was deleted
// the operator keeps trying to delete its copy before it lets the version
// go without: the value, and the reasons, of the Experiment reconciler's
// experiment.DefaultArtifactDeletionTimeout, which the manager's
// --artifact-deletion-timeout sets for both (a test checks they agree;
// controllers do not import each other). Deletion must always finish: a
// namespace being deleted removes the credentials Secret too.
const DefaultArtifactDeletionTimeout = 10 * time.Minute

// ensureFinalizer adds the finalizer to a version with a store, and
// removes it from one without, which has no copy to delete.
func (r *Reconciler) ensureFinalizer(ctx context.Context, mv *crucible.ModelVersion) error {
	if err := finalizer.Ensure(ctx, r.client, mv, crucible.ModelArtifactsFinalizer, mv.Spec.Store != nil); err != nil {
		return fmt.Errorf("updating the model artifacts finalizer: %w", err)
	}
	return nil
}

// finalize deletes the model's copy of a deleted version's artifacts and
// then lets it go. Reconcile calls it only while the finalizer is there.
//
// A store that refuses (it is down, the credentials Secret or the bucket is
// gone, the keys may not delete) keeps the finalizer, with Ready False,
// reason StoreError (a Warning event when it first refuses), and the pass
// is retried with backoff, until deletionTimeout has passed since the
// deletionTimestamp. Then the copy is left in the store, the finalizer is
// removed and a Warning event says where the copy is.
func (r *Reconciler) finalize(ctx context.Context, mv *crucible.ModelVersion, now metav1.Time) error {
	if mv.Spec.Store == nil {
		return r.releaseFinalizer(ctx, mv)
	}
	where := artifacts.S3URI(mv.Spec.Store.Bucket, copyPrefix(mv))
	objects, err := r.deleteCopy(ctx, mv)
	if err == nil {
		ctrl.LoggerFrom(ctx).Info("deleted the model's copy of the deleted version", "uri", where, "objects", objects)
		return r.releaseFinalizer(ctx, mv)
	}
	deadline := mv.DeletionTimestamp.Add(r.deletionTimeout)
	if now.Time.Before(deadline) {
		setStoreError(mv, fmt.Sprintf(
			"deleting the model's copy under %s: %v; retried until %s, then the version is deleted and the copy left in the store",
			where, err, deadline.UTC().Format(time.RFC3339)), now)
		return err
	}
	if err := r.releaseFinalizer(ctx, mv); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("leaving the model's copy of the deleted version in the store", "uri", where, "error", err.Error())
	r.recorder.Eventf(mv, nil, corev1.EventTypeWarning, EventArtifactsAbandoned, "Delete",
		"the model's copy under %s is left in the store: deleting it still failed %s after the version was deleted: %v",
		where, r.deletionTimeout, err)
	return nil
}

// deleteCopy deletes everything under the model's prefix of mv.
func (r *Reconciler) deleteCopy(ctx context.Context, mv *crucible.ModelVersion) (int64, error) {
	st, err := r.stores.OpenS3(ctx, mv.Namespace, mv.Spec.Store)
	if err != nil {
		return 0, err
	}
	objects, _, err := st.DeletePrefix(ctx, copyPrefix(mv))
	return objects, err
}

// releaseFinalizer removes the finalizer; the version goes.
func (r *Reconciler) releaseFinalizer(ctx context.Context, mv *crucible.ModelVersion) error {
	patch := client.MergeFromWithOptions(mv.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(mv, crucible.ModelArtifactsFinalizer)
	if err := r.client.Patch(ctx, mv, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}
