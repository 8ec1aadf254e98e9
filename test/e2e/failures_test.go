package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

var _ = Describe("Failing trials", func() {
	DescribeTable("count against maxFailedTrials: the Experiment fails and starts no more",
		func(ctx SpecContext, outcome, wantReason string, wantJob batchv1.JobConditionType, wantMessage ...string) {
			ns := newNamespace(ctx)
			// Six points, one at a time, one failure allowed: the second
			// failure ends the Experiment with four points never started.
			exp := withPodAnnotations(builder.MakeExperiment("budget", ns).
				Values("lr", "0.1", "0.03", "0.01", "0.003", "0.001", "0.0003").
				Parallelism(1).MaxFailedTrials(1).Obj(),
				map[string]string{outcomeAnnotation: outcome, durationAnnotation: "1s"})
			start := time.Now()
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			exp = waitForEnd(ctx, key(ns, "budget"), crucible.ExperimentFailed, Timeout)
			AddReportEntry("failed after", since(start))

			cond := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentFailedCondition)
			Expect(cond).NotTo(BeNil())
			Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			Expect(cond.Reason).To(Equal(crucible.ReasonMaxFailedTrialsExceeded))
			Expect(exp.Status.Trials).To(Equal(crucible.TrialCounts{Total: 6, Created: 2, Active: 0, Succeeded: 0, Failed: 2}))
			Expect(exp.Status.BestTrial).To(BeNil())

			By("starting no more trials")
			Consistently(ctx, func(g Gomega) {
				g.Expect(trialsOf(ctx, ns)).To(HaveLen(2))
				g.Expect(jobsOf(ctx, ns)).To(HaveLen(2))
			}, ConsistentlyDuration, Interval).Should(Succeed())

			By("recording why each trial failed")
			indices := map[int64]bool{}
			for _, t := range trialsOf(ctx, ns) {
				indices[t.Spec.Index] = true
				Expect(t.Status.Phase).To(Equal(crucible.TrialFailed), "Trial %s", t.Name)
				Expect(t.Status.Reason).To(Equal(wantReason), "Trial %s: %s", t.Name, t.Status.Message)
				for _, m := range wantMessage {
					Expect(t.Status.Message).To(ContainSubstring(m), "Trial %s", t.Name)
				}
				Expect(t.Status.CompletionTime).NotTo(BeNil())
			}
			Expect(indices).To(Equal(map[int64]bool{0: true, 1: true}), "the first two points ran, in order")
			for _, j := range jobsOf(ctx, ns) {
				Expect(jobCondition(&j, wantJob)).To(BeTrue(), "Job %s ended %s", j.Name, wantJob)
			}
		},
		Entry("a trainer that exits 1", SpecTimeout(3*time.Minute), "fail", crucible.ReasonExitCode, batchv1.JobFailed,
			"exited with code 1", "Traceback: boom"),
		Entry("a trainer killed for its memory", SpecTimeout(3*time.Minute), "oom", crucible.ReasonOOMKilled, batchv1.JobFailed,
			"exceeding its memory limit", "137"),
		Entry("a trainer that exits 0 with malformed metrics", SpecTimeout(3*time.Minute), "malformed", crucible.ReasonMetricsMalformed, batchv1.JobComplete,
			"val_loss=0.3"),
	)
})
