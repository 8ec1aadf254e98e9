package trial

import (
	"context"
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/provenance"
)

// Node labels a trial's provenance records of the node its Pod ran on.
const (
	labelGPUProduct   = "nvidia.com/gpu.product"
	labelInstanceType = "node.kubernetes.io/instance-type"
)

// DefaultBuilderID names the operator in provenance records.
const DefaultBuilderID = "https://crucible.dev/operator"

// provenanceContentType is the media type a record is stored with: JSON
// Lines, one DSSE envelope per line.
const provenanceContentType = "application/jsonl"

// Provenance says how the reconciler writes trials' provenance records.
type Provenance struct {
	// Builder names the operator; DefaultBuilderID and version "dev" when
	// its ID is empty.
	Builder provenance.Builder
	// Signer signs the records; they are unsigned, and say so, when nil.
	Signer *provenance.Signer
}

// WithProvenance sets the builder and the signing key of provenance
// records.
func WithProvenance(p Provenance) Option {
	return func(r *Reconciler) {
		if p.Builder.ID == "" {
			p.Builder = provenance.Builder{ID: DefaultBuilderID, Version: "dev"}
		}
		r.provenance = p
	}
}

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// recordProvenance builds the provenance record of a Trial whose end this
// pass recorded, or an earlier pass recorded without one, and sets its
// status.provenance: the Statement's digest and, with an s3 store, where
// the envelope was put, beside the trial's artifacts. It costs no write to
// the API server of its own: the status carries it with the end, or, when
// the store refused the record at the end, with the pass that stores it.
// What it reads (the Experiment, the Job, its Pods, the node's labels)
// comes from the cache.
func (r *Reconciler) recordProvenance(ctx context.Context, trial *crucible.Trial) error {
	exp, err := r.experiment(ctx, trial)
	if exp == nil || err != nil {
		return err
	}
	run, err := r.observeRun(ctx, trial)
	if err != nil {
		return err
	}
	status := trial.DeepCopy()
	status.Status.Provenance = nil
	payload, err := provenance.Payload(provenance.Inputs{Experiment: exp, Trial: status, Builder: r.provenance.Builder, Run: run})
	if err != nil {
		// The Trial and its Experiment disagree (a Trial made by an
		// operator whose spec digest differed): no retry can mend that, so
		// the Trial goes without, and the log says why.
		ctrl.LoggerFrom(ctx).Error(err, "the trial's provenance cannot be built; it goes without")
		return nil
	}
	rec := &crucible.TrialProvenance{Digest: provenance.Digest(payload)}
	if s := r.provenance.Signer; s != nil {
		rec.KeyID = s.KeyID()
	}
	if a := exp.Spec.Artifacts; a != nil && a.S3 != nil {
		line, err := provenance.Envelope(ctx, r.provenance.Signer, payload)
		if err != nil {
			return fmt.Errorf("signing the trial's provenance: %w", err)
		}
		st, err := r.stores.Open(ctx, exp)
		if err != nil {
			return fmt.Errorf("storing the trial's provenance: %w", err)
		}
		key := artifacts.ProvenanceKey(a.S3.Prefix, exp, trial)
		if err := st.Put(ctx, key, line, provenanceContentType); err != nil {
			return fmt.Errorf("storing the trial's provenance: %w", err)
		}
		rec.URI = artifacts.S3URI(a.S3.Bucket, key)
	}
	trial.Status.Provenance = rec
	return nil
}

// observeRun gathers what the provenance records of where the trial ran:
// its Job's UID, the Pod that ran the trainer last, its node and the
// node's GPU and instance type, and the trainer's exit code. Whatever is
// gone (a Job collected, a node removed) is left out.
func (r *Reconciler) observeRun(ctx context.Context, trial *crucible.Trial) (provenance.Run, error) {
	var run provenance.Run
	job := &batchv1.Job{}
	if err := r.client.Get(ctx, client.ObjectKeyFromObject(trial), job); err != nil {
		return run, client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(job, trial) {
		return run, nil
	}
	run.JobUID = string(job.UID)
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.InNamespace(trial.Namespace),
		client.MatchingFields{index.PodJobKey: string(job.UID)}); err != nil {
		return run, fmt.Errorf("listing Pods: %w", err)
	}
	pod := lastTrainerPod(pods.Items)
	if pod == nil {
		return run, nil
	}
	run.PodUID = string(pod.UID)
	run.NodeName = pod.Spec.NodeName
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == crucible.TrainerContainerName && cs.State.Terminated != nil {
			run.ExitCode = &cs.State.Terminated.ExitCode
		}
	}
	if run.NodeName == "" {
		return run, nil
	}
	node := &metav1.PartialObjectMetadata{}
	node.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	switch err := r.client.Get(ctx, client.ObjectKey{Name: run.NodeName}, node); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return run, fmt.Errorf("reading node %s: %w", run.NodeName, err)
	default:
		run.GPU = node.Labels[labelGPUProduct]
		run.InstanceType = node.Labels[labelInstanceType]
	}
	return run, nil
}

// lastTrainerPod returns the Pod created last among those whose trainer
// ran, nil when none did.
func lastTrainerPod(pods []corev1.Pod) *corev1.Pod {
	var last *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if !slices.ContainsFunc(p.Status.ContainerStatuses, func(cs corev1.ContainerStatus) bool {
			return cs.Name == crucible.TrainerContainerName && (cs.State.Terminated != nil || cs.State.Running != nil)
		}) {
			continue
		}
		if last == nil || last.CreationTimestamp.Before(&p.CreationTimestamp) {
			last = p
		}
	}
	return last
}
