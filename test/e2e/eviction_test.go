package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

var _ = Describe("An evicted trainer", func() {
	It("runs again with the same seed, counts an attempt and no failure", SpecTimeout(3*time.Minute), func(ctx SpecContext) {
		ns := newNamespace(ctx)
		// No failure allowed: an eviction counted as one would fail the
		// Experiment.
		exp := withPodAnnotations(builder.MakeExperiment("drain", ns).Values("lr", "0.01").Seeds(baseSeed, 1).MaxFailedTrials(0).Obj(),
			map[string]string{durationAnnotation: "15s"})
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		By("evicting the running trainer, as a node drain does")
		var first corev1.Pod
		Eventually(ctx, func(g Gomega) {
			pods := podsOf(ctx, ns)
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].Status.Phase).To(Equal(corev1.PodRunning))
			first = pods[0]
		}, Timeout, Interval).Should(Succeed())
		eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: first.Name, Namespace: ns}}
		Expect(k8sClient.SubResource("eviction").Create(ctx, &first, eviction)).To(Succeed())

		exp = waitForEnd(ctx, key(ns, "drain"), crucible.ExperimentSucceeded, Timeout)
		Expect(exp.Status.Trials).To(Equal(crucible.TrialCounts{Total: 1, Created: 1, Succeeded: 1}))
		trials := trialsOf(ctx, ns)
		Expect(trials).To(HaveLen(1))
		t := trials[0]
		Expect(t.Status.Phase).To(Equal(crucible.TrialSucceeded), "%s: %s", t.Status.Reason, t.Status.Message)
		Expect(t.Status.Attempts).To(BeNumerically("==", 2), "the evicted start and the rerun")
		Expect(t.Status.Objective).To(Equal("0.5"), "the rerun's metrics, with the same seed")
		Expect(jobsOf(ctx, ns)).To(HaveLen(1), "one Job: the Job controller started the second Pod")
	})
})
