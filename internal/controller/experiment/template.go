package experiment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/internal/searchspace"
	"github.com/crucible-dev/crucible/internal/trialspec"
)

// checkTemplate asks the API server, by a server-side dry run, whether it
// would create the Job of the Experiment's first trial, before any Trial is
// created. A template it refuses (a volume mount without its volume, a
// label value it does not allow, an admission policy of the cluster) would
// otherwise fail every trial, one by one, far from the user who wrote it:
// the Experiment fails at once with reason InvalidTemplate and the API
// server's words, and no Trial is created. Every trial's Job is built from
// the same template by the same pure function, so the first one speaks for
// all.
//
// It runs once per generation: the TemplateValid condition records the
// generation checked, so neither the next pass nor a restarted operator
// repeats it. An error that is not a refusal (a timeout, a 5xx, a conflict)
// is returned, and the pass creates no Trial; the check is retried with
// backoff.
func (r *Reconciler) checkTemplate(ctx context.Context, exp *crucible.Experiment, space *searchspace.Space,
	obs *observation, now metav1.Time) error {
	if isTerminal(&exp.Status) || obs.created > 0 {
		return nil
	}
	if c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentTemplateValidCondition); c != nil &&
		c.ObservedGeneration == exp.Generation {
		return nil
	}
	point, err := space.Trial(0)
	if err != nil {
		return err
	}
	job := jobspec.New(exp, trialspec.New(exp, point, exp.Status.SpecDigest), jobspec.WithStepMetrics(r.stepMetrics))
	// The Trial that will own the Job does not exist yet: an owner
	// reference without a UID would be refused for that alone.
	job.OwnerReferences = nil
	err = r.client.Create(ctx, job, client.DryRunAll)
	switch {
	case err == nil || apierrors.IsAlreadyExists(err):
		// AlreadyExists comes after validation and admission: the Job of a
		// Trial an earlier pass created passed them.
		setTemplateCondition(exp, metav1.ConditionTrue, crucible.ReasonDryRunAccepted,
			"the API server accepted a server-side dry run of the first trial's Job", now)
		return nil
	case refusesTemplate(err):
		msg := "the API server refuses the trials' Job: " + err.Error()
		setTemplateCondition(exp, metav1.ConditionFalse, crucible.ReasonInvalidTemplate, msg, now)
		setFailedFor(exp, crucible.ReasonInvalidTemplate, msg, now)
		ctrl.LoggerFrom(ctx).Info("the API server refuses the trials' Job", "error", err.Error())
		return nil
	default:
		return fmt.Errorf("dry-running the first trial's Job: %w", err)
	}
}

// refusesTemplate reports whether err, from a dry-run create of a Job,
// is the API server refusing that Job, rather than failing to answer: the
// Job is invalid (422), malformed (400), or forbidden by admission (403
// from a policy, a webhook, a LimitRange). A 403 from authorization (the
// operator may not create Jobs there), from a ResourceQuota that is full
// (it frees up) or from a namespace being deleted says nothing of the
// template. Anything else (timeouts, 5xx, conflicts, throttling) is
// transient.
func refusesTemplate(err error) bool {
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return true
	case !apierrors.IsForbidden(err):
		return false
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	// Authorization refuses a create before the request has an object: its
	// 403 names no object. Admission refuses the object, by name.
	if d := status.Status().Details; d == nil || d.Name == "" {
		return false
	}
	return !strings.Contains(status.Status().Message, "exceeded quota")
}
