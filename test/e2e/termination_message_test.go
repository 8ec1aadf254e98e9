package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

var _ = Describe("A trainer's termination message", func() {
	// Each entry runs one trial whose trainer ends with exactly the message
	// and exit code it chose (the Stage in trainer-message.yaml reads them
	// from the pod's annotations), and checks what the Trial records.
	DescribeTable("is recorded as the trainer wrote it",
		func(ctx SpecContext, message, exitCode string, want crucible.TrialPhase, wantJob batchv1.JobConditionType, check func(Gomega, *crucible.Trial)) {
			ns := newNamespace(ctx)
			annotations := map[string]string{messageAnnotation: message, durationAnnotation: "1s"}
			if exitCode != "" {
				annotations[exitCodeAnnotation] = exitCode
			}
			wantPhase := crucible.ExperimentSucceeded
			if want == crucible.TrialFailed {
				wantPhase = crucible.ExperimentFailed
			}
			exp := withPodAnnotations(builder.MakeExperiment("reported", ns).Values("lr", "0.01").Obj(), annotations)
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			waitForEnd(ctx, key(ns, "reported"), wantPhase, Timeout)

			trials := trialsOf(ctx, ns)
			Expect(trials).To(HaveLen(1))
			t := &trials[0]
			Expect(t.Status.Phase).To(Equal(want), "Trial %s: %s %s", t.Name, t.Status.Reason, t.Status.Message)
			check(Default, t)
			jobs := jobsOf(ctx, ns)
			Expect(jobs).To(HaveLen(1))
			Expect(jobCondition(&jobs[0], wantJob)).To(BeTrue(), "Job %s ended %s", jobs[0].Name, wantJob)
		},
		Entry("metrics of its own, spelled its own way", SpecTimeout(2*time.Minute),
			`{"val_loss": 2.5e-1, "accuracy": 0.9125}`, "", crucible.TrialSucceeded, batchv1.JobComplete,
			func(g Gomega, t *crucible.Trial) {
				g.Expect(t.Status.Metrics).To(Equal(map[string]string{"val_loss": "0.25", "accuracy": "0.9125"}))
				g.Expect(t.Status.Objective).To(Equal("0.25"))
			}),
		Entry("a metric too large for a float64", SpecTimeout(2*time.Minute),
			`{"val_loss": 1e700}`, "0", crucible.TrialFailed, batchv1.JobComplete,
			func(g Gomega, t *crucible.Trial) {
				g.Expect(t.Status.Reason).To(Equal(crucible.ReasonMetricsMalformed))
				g.Expect(t.Status.Message).To(ContainSubstring("1e700"))
				g.Expect(t.Status.Message).To(ContainSubstring("too large for a 64-bit float"))
			}),
		Entry("no objective metric", SpecTimeout(2*time.Minute),
			`{"accuracy": 0.5}`, "", crucible.TrialFailed, batchv1.JobComplete,
			func(g Gomega, t *crucible.Trial) {
				g.Expect(t.Status.Reason).To(Equal(crucible.ReasonMetricsMissing))
				g.Expect(t.Status.Message).To(ContainSubstring(`"val_loss"`))
			}),
		Entry("a non-zero exit code with the last output", SpecTimeout(2*time.Minute),
			"CUDA error: out of memory\nexiting", "3", crucible.TrialFailed, batchv1.JobFailed,
			func(g Gomega, t *crucible.Trial) {
				g.Expect(t.Status.Reason).To(Equal(crucible.ReasonExitCode))
				g.Expect(t.Status.Message).To(ContainSubstring("exited with code 3"))
				g.Expect(t.Status.Message).To(ContainSubstring(`CUDA error: out of memory\nexiting`))
			}),
	)
})
