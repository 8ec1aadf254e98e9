package modelversion

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
)

// maxMessageLength bounds the Ready condition's message.
const maxMessageLength = 1024

// emptyDigest is the manifest digest of no objects.
var emptyDigest = artifacts.NewManifest(nil).Digest

// copyPlan is where a version's artifacts are copied from and to, within
// the bucket of its store.
type copyPlan struct {
	bucket string
	// src is the trial's key prefix; dst the model's.
	src, dst string
}

func (p copyPlan) srcURI() string { return artifacts.S3URI(p.bucket, p.src) }
func (p copyPlan) dstURI() string { return artifacts.S3URI(p.bucket, p.dst) }

// planCopy says where the artifacts of mv, a version with a store, are
// copied from and to, or why they cannot be: a version copies an s3
// prefix of its store's bucket, under its own namespace's part of the
// store's prefix (where its namespace's trials write), to its model's
// prefix.
func planCopy(mv *crucible.ModelVersion) (copyPlan, error) {
	st, a := mv.Spec.Store, mv.Spec.Artifacts
	p := copyPlan{bucket: st.Bucket, dst: copyPrefix(mv)}
	if a == nil {
		return p, errors.New("the version records no artifacts (spec.artifacts) to copy into spec.store")
	}
	bucket, src, err := artifacts.ParseS3Prefix(a.URI)
	if err != nil {
		return p, fmt.Errorf("spec.artifacts.uri: %w", err)
	}
	if bucket != st.Bucket {
		return p, fmt.Errorf("spec.artifacts.uri %s is in the bucket %q, not in spec.store's %q: the copy is made within the store's bucket",
			a.URI, bucket, st.Bucket)
	}
	// The namespace's part of the store: what its trials write under.
	root := artifacts.NamespacePrefix(st.Prefix, mv.Namespace)
	if !strings.HasPrefix(src, root) {
		return p, fmt.Errorf("spec.artifacts.uri %s is not under %s: a version copies artifacts of its own namespace only",
			a.URI, artifacts.S3URI(st.Bucket, root))
	}
	if strings.HasPrefix(src, p.dst) || strings.HasPrefix(p.dst, src) {
		return p, fmt.Errorf("spec.artifacts.uri %s and the model's prefix %s are one under the other", a.URI, p.dstURI())
	}
	p.src = src
	return p, nil
}

// copyPrefix is the key prefix of the model's copy of mv's artifacts.
func copyPrefix(mv *crucible.ModelVersion) string {
	return artifacts.ModelVersionPrefix(mv.Spec.Store.Prefix, mv.Namespace, mv.Spec.Model, mv.Spec.Version)
}

// isFinal reports whether mv's status is final: its spec never changes.
func isFinal(mv *crucible.ModelVersion) bool {
	return mv.Status.Phase == crucible.ModelVersionReady || mv.Status.Phase == crucible.ModelVersionFailed
}

// setReady sets the Ready condition, once the phase is set, and with it
// the conditions kstatus reads: Reconciling while the version is not Ready
// and has not failed (the copy is under way, or the store refuses), Stalled
// once it Failed, both with Ready's reason and message; neither once it is
// Ready.
func setReady(mv *crucible.ModelVersion, status metav1.ConditionStatus, reason, message string, now metav1.Time) {
	conds := &mv.Status.Conditions
	set := func(t string, status metav1.ConditionStatus) {
		meta.SetStatusCondition(conds, metav1.Condition{
			Type:               t,
			Status:             status,
			Reason:             reason,
			Message:            truncate(message),
			ObservedGeneration: mv.Generation,
			LastTransitionTime: now,
		})
	}
	set(crucible.ModelVersionReadyCondition, status)
	switch mv.Status.Phase {
	case crucible.ModelVersionReady:
		meta.RemoveStatusCondition(conds, crucible.ReconcilingCondition)
		meta.RemoveStatusCondition(conds, crucible.StalledCondition)
	case crucible.ModelVersionFailed:
		meta.RemoveStatusCondition(conds, crucible.ReconcilingCondition)
		set(crucible.StalledCondition, metav1.ConditionTrue)
	default:
		meta.RemoveStatusCondition(conds, crucible.StalledCondition)
		set(crucible.ReconcilingCondition, metav1.ConditionTrue)
	}
}

// setNoStore records a version without a store: Ready, with the trial's
// own URI, which nothing keeps.
func setNoStore(mv *crucible.ModelVersion, now metav1.Time) {
	mv.Status.Phase = crucible.ModelVersionReady
	mv.Status.Artifacts = mv.Spec.Artifacts.DeepCopy()
	msg := "the version has no store (spec.store) to copy the trial's artifacts into, and records none"
	if a := mv.Spec.Artifacts; a != nil {
		msg = fmt.Sprintf("the version has no store (spec.store) to copy the trial's artifacts into: they stay at %s, "+
			"which the Experiment's retention or deletion may delete", a.URI)
	}
	setReady(mv, metav1.ConditionTrue, crucible.ReasonNoStore, msg, now)
}

// setInvalidSource fails a version whose artifacts cannot be copied.
func setInvalidSource(mv *crucible.ModelVersion, err error, now metav1.Time) {
	mv.Status.Phase = crucible.ModelVersionFailed
	setReady(mv, metav1.ConditionFalse, crucible.ReasonInvalidSource, err.Error(), now)
}

// setCopying records that the copy is under way: the model's prefix is
// empty and the next pass copies.
func setCopying(mv *crucible.ModelVersion, p copyPlan, now metav1.Time) {
	mv.Status.Phase = crucible.ModelVersionPending
	setReady(mv, metav1.ConditionFalse, crucible.ReasonCopying,
		fmt.Sprintf("copying the artifacts from %s to %s", p.srcURI(), p.dstURI()), now)
}

// setCopyProgress records a copy that the store's timeout cut short after
// objects and bytes: the next pass goes on from there.
func setCopyProgress(mv *crucible.ModelVersion, p copyPlan, objects, bytes int64, now metav1.Time) {
	mv.Status.Phase = crucible.ModelVersionPending
	setReady(mv, metav1.ConditionFalse, crucible.ReasonCopying, fmt.Sprintf(
		"copying the artifacts from %s to %s: the last call copied %d objects (%s) before the operator's store timeout; the next goes on from there",
		p.srcURI(), p.dstURI(), objects, byteCount(bytes)), now)
}

// setStoreError records that the store could not be reached or refused,
// leaving the phase as it is: the pass is retried.
func setStoreError(mv *crucible.ModelVersion, message string, now metav1.Time) {
	setReady(mv, metav1.ConditionFalse, crucible.ReasonStoreError, message, now)
}

// setTooMany fails a version with more objects than the operator counts.
func setTooMany(mv *crucible.ModelVersion, p copyPlan, err error, now metav1.Time) {
	mv.Status.Phase = crucible.ModelVersionFailed
	setReady(mv, metav1.ConditionFalse, crucible.ReasonArtifactsTooMany, fmt.Sprintf(
		"the artifacts under %s are more than the operator copies and verifies (--artifact-max-objects-per-trial): %v",
		p.srcURI(), err), now)
}

// setCopied is the verdict on the copy, whose manifest is m: Ready if its
// digest is the one the trial recorded (Verified), or the trial recorded
// none (Unverified); Failed if the trial's artifacts are gone
// (SourceMissing) or differ from what it recorded (DigestMismatch).
func setCopied(mv *crucible.ModelVersion, p copyPlan, m artifacts.Manifest, now metav1.Time) {
	rec := mv.Spec.Artifacts
	copied := fmt.Sprintf("%d objects (%s)", m.Objects, byteCount(m.Bytes))
	recorded := "an unknown number of objects"
	if rec.Objects != nil {
		recorded = fmt.Sprintf("%d objects", *rec.Objects)
	}
	ready := func(reason, message string) {
		mv.Status.Phase = crucible.ModelVersionReady
		mv.Status.Artifacts = &crucible.ModelVersionArtifacts{
			URI: p.dstURI(), ManifestDigest: m.Digest, Objects: ptr.To(m.Objects), Bytes: ptr.To(m.Bytes),
		}
		setReady(mv, metav1.ConditionTrue, reason, message, now)
	}
	failed := func(reason, message string) {
		mv.Status.Phase = crucible.ModelVersionFailed
		setReady(mv, metav1.ConditionFalse, reason, message, now)
	}
	switch {
	case m.Objects == 0 && (ptr.Deref(rec.Objects, 0) > 0 || rec.ManifestDigest != "" && rec.ManifestDigest != emptyDigest):
		failed(crucible.ReasonSourceMissing, fmt.Sprintf(
			"there are no objects under %s: the trial's artifacts (%s, manifest digest %s) are gone from the store, "+
				"deleted by the Experiment's retention or deletion, or by hand", p.srcURI(), recorded, orNone(rec.ManifestDigest)))
	case rec.ManifestDigest == "":
		ready(crucible.ReasonUnverified, fmt.Sprintf(
			"copied %s to %s; the trial recorded no manifest digest to verify them against: the copy's is %s",
			copied, p.dstURI(), m.Digest))
	case m.Digest == rec.ManifestDigest:
		ready(crucible.ReasonVerified, fmt.Sprintf(
			"copied %s to %s; their manifest digest is the trial's, %s", copied, p.dstURI(), m.Digest))
	default:
		failed(crucible.ReasonDigestMismatch, fmt.Sprintf(
			"the copy at %s has the manifest digest %s (%s), not the trial's %s (%s): the artifacts under %s changed after the trial recorded them",
			p.dstURI(), m.Digest, copied, rec.ManifestDigest, recorded, p.srcURI()))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// byteCount is n in bytes, with its binary multiple: "1073741824 bytes,
// 1.0 GiB".
func byteCount(n int64) string {
	s := strconv.FormatInt(n, 10) + " bytes"
	if n < 1<<10 {
		return s
	}
	const units = "KMGTPE"
	v, i := float64(n)/(1<<10), 0
	for v >= 1<<10 && i < len(units)-1 {
		v /= 1 << 10
		i++
	}
	return fmt.Sprintf("%s, %.1f %ciB", s, v, units[i])
}

func truncate(s string) string {
	if len(s) <= maxMessageLength {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessageLength-3], "") + "..."
}
