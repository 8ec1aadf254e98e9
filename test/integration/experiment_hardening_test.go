package integration

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// ShortDeletionTimeout is the artifact deletion timeout of the manager
// these specs start: long enough to see the deleted Experiment wait, short
// enough for a test.
const ShortDeletionTimeout = 8 * time.Second

// DeletionTimeout bounds how long a deleted Experiment may take to go once
// ShortDeletionTimeout has passed: the failed passes before it are retried
// with backoff, so the first pass after it can come as late again.
const DeletionTimeout = 2*ShortDeletionTimeout + Timeout

// eventsOf returns the events.k8s.io Events about the named object of ns
// with reason.
func eventsOf(ctx context.Context, ns, name, reason string) []eventsv1.Event {
	var list eventsv1.EventList
	ExpectWithOffset(1, k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

var _ = Describe("Experiment hardening", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("fails an Experiment whose Job the API server refuses, with its words, before any Trial", func() {
		DeferCleanup(startManager())
		exp := sweep("no-volume", ns, 4)
		// The trainer mounts a volume the template forgot: the CRD and the
		// admission policies let it through, Job validation does not.
		exp.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:         crucible.TrainerContainerName,
			VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
		}}}}
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		Eventually(func(g Gomega) {
			got := getExperiment(ctx, ns, "no-volume")
			g.Expect(got.Status.Phase).To(Equal(crucible.ExperimentFailed))
			failed := meta.FindStatusCondition(got.Status.Conditions, crucible.ExperimentFailedCondition)
			g.Expect(failed).NotTo(BeNil())
			g.Expect(failed.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(failed.Reason).To(Equal(crucible.ReasonInvalidTemplate))
			g.Expect(failed.Message).To(ContainSubstring(`volumeMounts[0].name: Not found: "scratch"`))
			succeeded := meta.FindStatusCondition(got.Status.Conditions, crucible.ExperimentSucceededCondition)
			g.Expect(succeeded).NotTo(BeNil())
			g.Expect(succeeded.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(succeeded.Reason).To(Equal(crucible.ReasonInvalidTemplate))
			g.Expect(got.Status.CompletionTime).NotTo(BeNil())
			tv := meta.FindStatusCondition(got.Status.Conditions, crucible.ExperimentTemplateValidCondition)
			g.Expect(tv).NotTo(BeNil())
			g.Expect(tv.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(tv.ObservedGeneration).To(Equal(got.Generation))
		}, Timeout, Interval).Should(Succeed())
		Consistently(func() []crucible.Trial { return trialsOf(ctx, ns) }, ConsistentlyDuration, Interval).Should(BeEmpty())
		var all batchv1.JobList
		Expect(k8sClient.List(ctx, &all, client.InNamespace(ns))).To(Succeed())
		Expect(all.Items).To(BeEmpty(), "a dry run creates nothing, and no dataset is verified for a template that cannot run")
	})

	It("records the dry run of a template the API server accepts, and runs the sweep", func() {
		DeferCleanup(startManager())
		Expect(k8sClient.Create(ctx, sweep("fine", ns, 2))).To(Succeed())
		Eventually(func(g Gomega) {
			verifyDatasets(ctx, ns, "")
			g.Expect(trialsOf(ctx, ns)).To(HaveLen(2))
			tv := meta.FindStatusCondition(getExperiment(ctx, ns, "fine").Status.Conditions, crucible.ExperimentTemplateValidCondition)
			g.Expect(tv).NotTo(BeNil())
			g.Expect(tv.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(tv.Reason).To(Equal(crucible.ReasonDryRunAccepted))
		}, Timeout, Interval).Should(Succeed())
	})

	It("lets a deleted Experiment go after the deletion timeout when its credentials Secret is gone, leaving its artifacts", func() {
		s := newStore(ctx, ns)
		o := managerOptions()
		o.ArtifactDeletionTimeout = ShortDeletionTimeout
		DeferCleanup(startManagerWith(o))
		exp := artifactSweep("orphan", ns, s)
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		c := newCluster(ns)
		c.runUntil(ctx, "orphan", crucible.ExperimentSucceeded, func(job *batchv1.Job) outcome {
			s.write(ctx, job, 1)
			return trainer(job)
		})
		Expect(controllerutil.ContainsFinalizer(getExperiment(ctx, ns, "orphan"), crucible.ArtifactsFinalizer)).To(BeTrue())
		Expect(s.trialsWithArtifacts(ctx, ns, "orphan")).To(HaveLen(6))

		By("deleting the Secret, then the Experiment, as kubectl delete -f of a file with both may")
		Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: storeSecret, Namespace: ns}})).To(Succeed())
		Expect(k8sClient.Delete(ctx, getExperiment(ctx, ns, "orphan"))).To(Succeed())
		deletedAt := time.Now()

		By("keeping it, with Collected=False StoreError saying why, and one Warning event")
		Eventually(func(g Gomega) {
			got := &crucible.Experiment{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orphan"}, got)).To(Succeed())
			cond := meta.FindStatusCondition(got.Status.Conditions, crucible.ExperimentCollectedCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(crucible.ReasonStoreError))
			g.Expect(cond.Message).To(ContainSubstring("the credentials Secret " + ns + "/" + storeSecret))
			g.Expect(got.Finalizers).To(ContainElement(crucible.ArtifactsFinalizer))
		}, ShortDeletionTimeout/2, Interval).Should(Succeed())

		By("letting it go once the timeout has passed")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orphan"}, &crucible.Experiment{}))
		}, DeletionTimeout, Interval).Should(BeTrue())
		Expect(time.Since(deletedAt)).To(BeNumerically(">=", ShortDeletionTimeout-time.Second),
			"the Experiment went before the deletion timeout")
		Expect(s.trialsWithArtifacts(ctx, ns, "orphan")).To(HaveLen(6), "the artifacts are left in the store")

		By("having said so in Warning events, the store error once")
		Eventually(func(g Gomega) {
			storeErrors := eventsOf(ctx, ns, "orphan", "StoreError")
			g.Expect(storeErrors).To(HaveLen(1))
			g.Expect(storeErrors[0].Type).To(Equal(corev1.EventTypeWarning))
			g.Expect(storeErrors[0].Series).To(BeNil(), "the event was emitted again on a retry")
			abandoned := eventsOf(ctx, ns, "orphan", "ArtifactsAbandoned")
			g.Expect(abandoned).To(HaveLen(1))
			g.Expect(abandoned[0].Type).To(Equal(corev1.EventTypeWarning))
			g.Expect(abandoned[0].Note).To(ContainSubstring("are left in the store"))
		}, Timeout, Interval).Should(Succeed())
	})
})
