package modelversion

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/backoff"
	"github.com/crucible-dev/crucible/internal/controller/store"
)

// ControllerName names the controller in logs, metrics and events.
const ControllerName = "modelversion"

// Event reasons, emitted on transitions only, once the status that records
// them is written.
const (
	// EventReady: the version turned Ready (Normal); the note says how.
	EventReady = "Ready"
	// EventFailed: the version failed (Warning); the note says why.
	EventFailed = "Failed"
	// EventStoreError: Ready turned False with reason StoreError, the
	// store refusing the copy or the deletion of the copy. Not repeated on
	// the retries that fail the same way.
	EventStoreError = "StoreError"
	// EventArtifactsAbandoned: a deleted version goes without its copy,
	// left in the store after the artifact deletion timeout.
	EventArtifactsAbandoned = "ArtifactsAbandoned"
)

const (
	// staleReadRetry is how long after a status write refused as stale
	// (resourceVersion conflict) the version is looked at again.
	staleReadRetry = time.Second
	// resumeDelay is how soon a copy that the store's timeout cut short,
	// after it copied something, goes on.
	resumeDelay = 100 * time.Millisecond
	// workers is how many versions are reconciled at once. A pass that
	// copies holds its worker for up to the store's timeout (30 s by
	// default); a few workers keep a large copy from holding up the
	// promotions, and deletions, of other versions.
	workers = 4
)

// Reconciler reconciles ModelVersions.
type Reconciler struct {
	client   client.Client
	recorder events.EventRecorder
	// stores opens s3 artifact stores; store.None unless WithStores.
	stores store.Opener
	clock  clock.PassiveClock
	// deletionTimeout is how long after its deletion a version's copy is
	// tried to be deleted before the version goes without.
	deletionTimeout time.Duration
	// writes is the furthest phase this process wrote of each version.
	writes *statusWrites
}

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithClock sets the clock; the real one by default.
func WithClock(c clock.PassiveClock) Option { return func(r *Reconciler) { r.clock = c } }

// WithStores sets how stores are opened. A nil o leaves store.None.
func WithStores(o store.Opener) Option {
	return func(r *Reconciler) {
		if o != nil {
			r.stores = o
		}
	}
}

// WithArtifactDeletionTimeout sets how long after a version was deleted its
// copy is tried to be deleted before the version goes without. Zero or less
// leaves DefaultArtifactDeletionTimeout.
func WithArtifactDeletionTimeout(d time.Duration) Option {
	return func(r *Reconciler) {
		if d > 0 {
			r.deletionTimeout = d
		}
	}
}

// NewReconciler returns a ModelVersion reconciler.
func NewReconciler(c client.Client, recorder events.EventRecorder, opts ...Option) *Reconciler {
	r := &Reconciler{client: c, recorder: recorder, clock: clock.RealClock{}, stores: store.None,
		deletionTimeout: DefaultArtifactDeletionTimeout, writes: newStatusWrites()}
	for _, o := range opts {
		o(r)
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	return r
}

// +kubebuilder:rbac:groups=crucible.dev,resources=modelversions,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=crucible.dev,resources=modelversions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=crucible.dev,resources=modelversions/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the reconciler with mgr. Every change of a
// version brings a pass: its own status writes drive a promotion on.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&crucible.ModelVersion{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: backoff.RateLimiter()}).
		Complete(r)
}

// Reconcile copies and verifies a version's artifacts and, once it is
// deleted, deletes the copy.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	mv := &crucible.ModelVersion{}
	if err := r.client.Get(ctx, req.NamespacedName, mv); err != nil {
		if apierrors.IsNotFound(err) {
			r.writes.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("modelversion", klog.KObj(mv)))
	deleting := !mv.DeletionTimestamp.IsZero()
	if deleting && !controllerutil.ContainsFinalizer(mv, crucible.ModelArtifactsFinalizer) {
		r.writes.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	now := metav1.NewTime(r.clock.Now())
	if !deleting && r.writes.behind(req.NamespacedName, mv, now.Time) {
		ctrl.LoggerFrom(ctx).V(2).Info("the cache does not show the last status written yet", "phase", mv.Status.Phase)
		return ctrl.Result{RequeueAfter: staleReadRetry}, nil
	}

	before := mv.DeepCopy()
	defer func() {
		wait, err := r.writeStatus(ctx, before, mv, now)
		retErr = errors.Join(retErr, err)
		if wait > 0 && (res.RequeueAfter == 0 || wait < res.RequeueAfter) {
			res.RequeueAfter = wait
		}
	}()
	if deleting {
		return ctrl.Result{}, r.finalize(ctx, mv, now)
	}
	if err := r.ensureFinalizer(ctx, mv); err != nil {
		return ctrl.Result{}, err
	}
	return r.promote(ctx, mv, now)
}

// promote runs the step of the promotion mv is at, changing its status in
// memory only: without a store, Ready; else, at first, empty the model's
// prefix and go Pending; then copy, verify, and go Ready or Failed. It
// returns how long to wait before a pass that no event brings.
func (r *Reconciler) promote(ctx context.Context, mv *crucible.ModelVersion, now metav1.Time) (ctrl.Result, error) {
	if isFinal(mv) {
		return ctrl.Result{}, nil
	}
	if mv.Spec.Store == nil {
		setNoStore(mv, now)
		return ctrl.Result{}, nil
	}
	p, err := planCopy(mv)
	if err != nil {
		setInvalidSource(mv, err, now)
		return ctrl.Result{}, nil
	}
	st, err := r.stores.OpenS3(ctx, mv.Namespace, mv.Spec.Store)
	if err != nil {
		setStoreError(mv, fmt.Sprintf("opening the store to copy %s: %v", p.srcURI(), err), now)
		return ctrl.Result{}, err
	}
	if mv.Status.Phase == "" {
		// The prefix is this version's, by its name; what is there was
		// left by an earlier version of the name, whose deletion gave up
		// on a store that was down, and would be taken for part of the
		// copy. Pending means the copy starts from an empty prefix.
		if _, _, err := st.DeletePrefix(ctx, p.dst); err != nil {
			setStoreError(mv, fmt.Sprintf("emptying the model's prefix %s before the copy: %v", p.dstURI(), err), now)
			return ctrl.Result{}, err
		}
		setCopying(mv, p, now)
		return ctrl.Result{}, nil // the status write brings the next pass
	}
	return r.copyAndVerify(ctx, mv, st, p, now)
}

// copyAndVerify copies the trial's artifacts to the model's prefix, where
// the objects of an earlier, cut-short call are not copied again, and
// compares the copy's manifest digest with the trial's.
func (r *Reconciler) copyAndVerify(ctx context.Context, mv *crucible.ModelVersion, st artifacts.Store, p copyPlan,
	now metav1.Time) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	began := r.clock.Now()
	objects, bytes, err := st.Copy(ctx, p.src, p.dst)
	switch {
	case errors.Is(err, artifacts.ErrTooManyObjects):
		setTooMany(mv, p, err, now)
		return ctrl.Result{}, nil
	case err != nil && objects > 0 && errors.Is(err, context.DeadlineExceeded):
		log.Info("copy cut short by the store's timeout; going on", "from", p.srcURI(), "to", p.dstURI(),
			"objects", objects, "bytes", bytes)
		setCopyProgress(mv, p, objects, bytes, now)
		return ctrl.Result{RequeueAfter: resumeDelay}, nil
	case err != nil:
		setStoreError(mv, fmt.Sprintf("copying %s to %s: %v", p.srcURI(), p.dstURI(), err), now)
		return ctrl.Result{}, err
	}
	m, err := st.Manifest(ctx, p.dst)
	switch {
	case errors.Is(err, artifacts.ErrTooManyObjects):
		setTooMany(mv, p, err, now)
		return ctrl.Result{}, nil
	case err != nil:
		setStoreError(mv, fmt.Sprintf("listing the copy at %s: %v", p.dstURI(), err), now)
		return ctrl.Result{}, err
	}
	setCopied(mv, p, m, now)
	log.Info("copied the trial's artifacts", "from", p.srcURI(), "to", p.dstURI(), "copied", objects, "copiedBytes", bytes,
		"objects", m.Objects, "bytes", m.Bytes, "digest", m.Digest, "phase", mv.Status.Phase, "took", r.clock.Since(began))
	return ctrl.Result{}, nil
}

// writeStatus writes mv's status if it changed since before, with the
// resourceVersion this pass last saw, and emits the events of the change
// once it is written.
func (r *Reconciler) writeStatus(ctx context.Context, before, mv *crucible.ModelVersion, now metav1.Time) (time.Duration, error) {
	if equality.Semantic.DeepEqual(before.Status, mv.Status) {
		return 0, nil
	}
	// A pass that read the version from a cache behind an earlier write is
	// refused, rather than writing (and announcing) a status that write
	// went past; the next pass recomputes it.
	base := mv.DeepCopy()
	base.Status = *before.Status.DeepCopy()
	err := r.client.Status().Patch(ctx, mv, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsConflict(err):
		ctrl.LoggerFrom(ctx).V(1).Info("status not written: the version changed since it was read; will retry", "after", staleReadRetry)
		return staleReadRetry, nil
	case err != nil:
		return 0, client.IgnoreNotFound(err)
	}
	r.writes.wrote(client.ObjectKeyFromObject(mv), mv, now.Time)
	r.emitEvents(before, mv)
	return 0, nil
}

// emitEvents announces what changed from before to mv.
func (r *Reconciler) emitEvents(before, mv *crucible.ModelVersion) {
	cond := meta.FindStatusCondition(mv.Status.Conditions, crucible.ModelVersionReadyCondition)
	if cond == nil {
		return
	}
	if before.Status.Phase != mv.Status.Phase {
		switch mv.Status.Phase {
		case crucible.ModelVersionReady:
			r.recorder.Eventf(mv, nil, corev1.EventTypeNormal, EventReady, "Promote", "%s: %s", cond.Reason, cond.Message)
		case crucible.ModelVersionFailed:
			r.recorder.Eventf(mv, nil, corev1.EventTypeWarning, EventFailed, "Promote", "%s: %s", cond.Reason, cond.Message)
		}
	}
	if prev := meta.FindStatusCondition(before.Status.Conditions, crucible.ModelVersionReadyCondition); cond.Reason == crucible.ReasonStoreError &&
		(prev == nil || prev.Reason != crucible.ReasonStoreError) {
		action := "Copy"
		if !mv.DeletionTimestamp.IsZero() {
			action = "Delete"
		}
		r.recorder.Eventf(mv, nil, corev1.EventTypeWarning, EventStoreError, action, "%s", cond.Message)
	}
}
