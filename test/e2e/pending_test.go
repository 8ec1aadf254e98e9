package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

var _ = Describe("A trial whose Pod cannot start", func() {
	It("is Pending with the scheduler's reason, and costs one status write", SpecTimeout(2*time.Minute), func(ctx SpecContext) {
		ns := newNamespace(ctx)
		// Every node has 8 GPUs: a trainer asking for 64 fits none.
		exp := builder.MakeExperiment("too-big", ns).Values("lr", "0.01").Obj()
		exp.Spec.PodTemplate = &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{durationAnnotation: "1s"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: crucible.TrainerContainerName,
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("64")},
				},
			}}},
		}
		start := time.Now()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		var trial crucible.Trial
		Eventually(ctx, func(g Gomega) {
			trials := trialsOf(ctx, ns)
			g.Expect(trials).To(HaveLen(1))
			trial = trials[0]
			g.Expect(trial.Status.Phase).To(Equal(crucible.TrialPending))
		}, time.Minute, Interval).Should(Succeed())
		AddReportEntry("Pending after", since(start))
		Expect(trial.Status.Reason).To(Equal(corev1.PodReasonUnschedulable))
		Expect(trial.Status.Message).To(ContainSubstring("Insufficient nvidia.com/gpu"))
		Expect(trial.Status.JobName).To(Equal(trial.Name))

		By("writing nothing more while nothing changes")
		rv := trial.ResourceVersion
		Consistently(ctx, func(g Gomega) {
			trials := trialsOf(ctx, ns)
			g.Expect(trials).To(HaveLen(1))
			g.Expect(trials[0].ResourceVersion).To(Equal(rv))
		}, ConsistentlyDuration, Interval).Should(Succeed())
	})
})
