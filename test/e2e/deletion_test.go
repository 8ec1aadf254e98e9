package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

var _ = Describe("Deleting an Experiment", func() {
	It("removes its Trials, Jobs and running Pods", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		// Pods that never end on their own, so that there are running
		// Pods to remove.
		exp := withPodAnnotations(builder.MakeExperiment("doomed", ns).
			Values("lr", "0.1", "0.01", "0.001", "0.0001").Parallelism(3).Obj(),
			map[string]string{outcomeAnnotation: "hang"})
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		By("waiting for three running trial Pods")
		Eventually(ctx, func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel})).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(3))
			for _, p := range pods.Items {
				g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "Pod %s", p.Name)
			}
			var trials crucible.TrialList
			g.Expect(k8sClient.List(ctx, &trials, client.InNamespace(ns))).To(Succeed())
			g.Expect(trials.Items).To(HaveLen(3))
			for _, t := range trials.Items {
				g.Expect(t.Status.Phase).To(Equal(crucible.TrialRunning), "Trial %s", t.Name)
			}
		}, Timeout, Interval).Should(Succeed())

		By("deleting the Experiment the way kubectl delete does")
		start := time.Now()
		Expect(k8sClient.Delete(ctx, exp)).To(Succeed())
		Eventually(ctx, func(g Gomega) {
			var exps crucible.ExperimentList
			g.Expect(k8sClient.List(ctx, &exps, client.InNamespace(ns))).To(Succeed())
			g.Expect(exps.Items).To(BeEmpty(), "Experiments")
			var trials crucible.TrialList
			g.Expect(k8sClient.List(ctx, &trials, client.InNamespace(ns))).To(Succeed())
			g.Expect(trials.Items).To(BeEmpty(), "Trials")
			var jobs batchv1.JobList
			g.Expect(k8sClient.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
			g.Expect(jobs.Items).To(BeEmpty(), "Jobs")
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty(), "Pods")
		}, Timeout, Interval).Should(Succeed())
		AddReportEntry("everything gone after", since(start))
	}, SpecTimeout(5*time.Minute))
})
