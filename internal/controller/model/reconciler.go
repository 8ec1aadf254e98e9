package model

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/index"
)

// ControllerName names the controller in logs, metrics and events.
const ControllerName = "model"

// Event reasons, emitted once the status that records them is written.
const (
	// EventAliasMoved: an alias points at another version, is new or was
	// removed: "champion: v3 → v2 (by kubectl-client-side-apply)".
	EventAliasMoved = "AliasMoved"
	// EventAliasUnresolved: Ready turned False; the note names the aliases
	// and why.
	EventAliasUnresolved = "AliasUnresolved"
	// EventAliasesResolved: Ready turned True again.
	EventAliasesResolved = "AliasesResolved"
)

// staleReadRetry is how long after a status write refused as stale
// (resourceVersion conflict) the Model is looked at again: a change of its
// metadata alone brings no event (only generation changes pass).
const staleReadRetry = time.Second

// Reconciler reconciles Models.
type Reconciler struct {
	client client.Client
	// reader reads a Model's managedFields from the API server when an
	// alias moved: the manager's cache drops managedFields from every
	// object (controller.CacheOptions). The manager's API reader unless
	// WithAPIReader; without either, the Model as read.
	reader   client.Reader
	recorder events.EventRecorder
	clock    clock.PassiveClock
}

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithClock sets the clock; the real one by default.
func WithClock(c clock.PassiveClock) Option { return func(r *Reconciler) { r.clock = c } }

// WithAPIReader sets where a Model's managedFields are read when an alias
// moved; SetupWithManager sets the manager's API reader otherwise.
func WithAPIReader(reader client.Reader) Option { return func(r *Reconciler) { r.reader = reader } }

// NewReconciler returns a Model reconciler.
func NewReconciler(c client.Client, recorder events.EventRecorder, opts ...Option) *Reconciler {
	r := &Reconciler{client: c, recorder: recorder, clock: clock.RealClock{}}
	for _, o := range opts {
		o(r)
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	return r
}

// +kubebuilder:rbac:groups=crucible.dev,resources=models,verbs=get;list;watch
// +kubebuilder:rbac:groups=crucible.dev,resources=models/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=crucible.dev,resources=modelversions,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the reconciler with mgr. The indexes of package
// index must be registered first.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.reader == nil {
		r.reader = mgr.GetAPIReader()
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		// Its own status writes change no generation: they bring no pass.
		For(&crucible.Model{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&crucible.ModelVersion{}, handler.EnqueueRequestsFromMapFunc(modelOf),
			builder.WithPredicates(versionChanged)).
		Complete(r)
}

// modelOf maps a ModelVersion to its Model.
func modelOf(_ context.Context, obj client.Object) []reconcile.Request {
	v, ok := obj.(*crucible.ModelVersion)
	if !ok || v.Spec.Model == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: v.Namespace, Name: v.Spec.Model}}}
}

// versionChanged passes a version's creation and deletion, and the updates
// that change how an alias resolves to it: its phase, its Ready reason, its
// artifacts, the start of its deletion. Its spec never changes.
var versionChanged = predicate.Funcs{
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*crucible.ModelVersion)
		after, ok2 := e.ObjectNew.(*crucible.ModelVersion)
		return ok1 && ok2 && (before.Status.Phase != after.Status.Phase ||
			readyReason(before) != readyReason(after) ||
			before.DeletionTimestamp.IsZero() != after.DeletionTimestamp.IsZero() ||
			!equality.Semantic.DeepEqual(before.Status.Artifacts, after.Status.Artifacts))
	},
}

// Reconcile resolves a Model's aliases and records their moves.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := &crucible.Model{}
	if err := r.client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !m.DeletionTimestamp.IsZero() {
		// Nothing to refuse and nothing to clean up: the versions are not
		// the Model's children (no owner reference) and stay, each with
		// its own copy of the artifacts; once the Model is gone, the
		// admission policy no longer holds them for its aliases.
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("model", klog.KObj(m))
	ctx = ctrl.LoggerInto(ctx, log)

	// Every input first, then the status is computed once.
	versions, err := r.versions(ctx, m)
	if err != nil {
		return ctrl.Result{}, err
	}
	moves := aliasMoves(m.Status.Aliases, m.Spec.Aliases)
	if len(moves) > 0 {
		fields, current, err := r.managedFields(ctx, m)
		if err != nil || !current {
			return ctrl.Result{}, err
		}
		for i := range moves {
			moves[i].Manager = aliasManager(fields, moves[i].Alias)
		}
	}
	log.V(2).Info("resolving aliases", "versions", len(versions), "aliases", len(m.Spec.Aliases), "moves", len(moves))

	before := m.DeepCopy()
	setStatus(m, versions, moves, metav1.NewTime(r.clock.Now()))
	return r.writeStatus(ctx, before, m, moves)
}

// versions lists the Model's versions from the cache, by the spec.model
// index. They belong to the cache: read only.
func (r *Reconciler) versions(ctx context.Context, m *crucible.Model) ([]crucible.ModelVersion, error) {
	var list crucible.ModelVersionList
	if err := r.client.List(ctx, &list, client.InNamespace(m.Namespace),
		client.MatchingFields{index.ModelVersionModelKey: m.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing ModelVersions: %w", err)
	}
	return list.Items, nil
}

// managedFields reads the Model's managedFields from the API server, its
// metadata only. current is false when the API server holds another
// generation (or another Model of the name) than the one this pass read
// from the cache: the managers are then not those of this spec, and the
// update event that brings the newer one runs the pass again.
func (r *Reconciler) managedFields(ctx context.Context, m *crucible.Model) (fields []metav1.ManagedFieldsEntry, current bool, err error) {
	if r.reader == nil {
		return m.ManagedFields, true, nil
	}
	live := &metav1.PartialObjectMetadata{}
	live.SetGroupVersionKind(crucible.GroupVersion.WithKind("Model"))
	if err := r.reader.Get(ctx, client.ObjectKeyFromObject(m), live); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("reading the Model's managedFields: %w", err)
	}
	if live.UID != m.UID || live.Generation != m.Generation {
		ctrl.LoggerFrom(ctx).V(1).Info("the cache is behind the API server; waiting for the newer Model",
			"cached", m.Generation, "current", live.Generation)
		return nil, false, nil
	}
	return live.ManagedFields, true, nil
}

// writeStatus patches the status when it changed, then emits the events of
// what it recorded. The patch carries the resourceVersion the pass read: a
// status computed from a spec that has changed since is refused, and
// recomputed by the next pass.
func (r *Reconciler) writeStatus(ctx context.Context, before, m *crucible.Model, moves []crucible.AliasMove) (ctrl.Result, error) {
	if equality.Semantic.DeepEqual(before.Status, m.Status) {
		return ctrl.Result{}, nil
	}
	base := m.DeepCopy()
	base.Status = *before.Status.DeepCopy()
	err := r.client.Status().Patch(ctx, m, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsConflict(err):
		ctrl.LoggerFrom(ctx).V(1).Info("status not written: the Model changed since it was read; will retry", "after", staleReadRetry)
		return ctrl.Result{RequeueAfter: staleReadRetry}, nil
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("writing the Model's status: %w", err)
	}
	r.emitEvents(before, m, moves)
	return ctrl.Result{}, nil
}

// emitEvents announces every alias move of the pass, and the Ready
// condition when it turned.
func (r *Reconciler) emitEvents(before, m *crucible.Model, moves []crucible.AliasMove) {
	for _, mv := range moves {
		r.recorder.Eventf(m, nil, corev1.EventTypeNormal, EventAliasMoved, "MoveAlias", "%s", describeMove(mv))
	}
	was := meta.FindStatusCondition(before.Status.Conditions, crucible.ModelReadyCondition)
	now := meta.FindStatusCondition(m.Status.Conditions, crucible.ModelReadyCondition)
	if now == nil || was != nil && was.Status == now.Status {
		return
	}
	switch {
	case now.Status == metav1.ConditionFalse:
		r.recorder.Eventf(m, nil, corev1.EventTypeWarning, EventAliasUnresolved, "ResolveAliases", "%s", now.Message)
	case was != nil:
		r.recorder.Eventf(m, nil, corev1.EventTypeNormal, EventAliasesResolved, "ResolveAliases", "%s", now.Message)
	}
}
