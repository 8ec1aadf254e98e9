package e2e

import (
	"fmt"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// killPoints are how many Trials exist when the operator is killed: spread
// over the sweep, the same on every run.
var killPoints = []int{30, 80, 140, 185}

// downWhileRunsEnd is the kill point after which the operator stays down
// until every running trial has ended, so that it comes back to runs that
// ended without it.
const downWhileRunsEnd = 80

// restartParallelism is how many of restartSweep's trials run at once.
const restartParallelism = 20

// restartSweep is 5 lr values x 10 depths x 4 seeds = 200 trials of 1 s
// each, 20 at a time.
func restartSweep(ns string) *crucible.Experiment {
	return withPodAnnotations(builder.MakeExperiment("sweep", ns).
		Values("lr", "0.1", "0.03", "0.01", "0.003", "0.001").
		IntRange("depth", 1, 10, 1).
		Seeds(baseSeed, 4).
		Parallelism(restartParallelism).Obj(),
		map[string]string{durationAnnotation: "1s"})
}

var _ = Describe("The operator killed mid-sweep", Serial, func() {
	It("runs no trial twice and ends with the status of an undisturbed run", func(ctx SpecContext) {
		const total = 200
		// Whatever happens, later specs need a running operator.
		DeferCleanup(func() {
			if manager == nil {
				startManager()
			}
		})

		By("running the sweep undisturbed in one namespace")
		quiet := newNamespace(ctx)
		qp := startPoller(quiet)
		start := time.Now()
		Expect(k8sClient.Create(ctx, restartSweep(quiet))).To(Succeed())
		undisturbed := waitForEnd(ctx, key(quiet, "sweep"), crucible.ExperimentSucceeded, SweepTimeout)
		AddReportEntry("undisturbed sweep ran", since(start))
		maxQuiet := expectEachTrialRanOnce(ctx, quiet, total, restartParallelism, qp)
		Expect(undisturbed.Status.BestTrial).NotTo(BeNil())
		Expect(undisturbed.Status.BestTrial.Parameters).To(Equal([]crucible.ParameterAssignment{
			{Name: "lr", Value: "0.01"}, {Name: "depth", Value: "4"}}))
		Expect(undisturbed.Status.BestTrial.Seed).To(Equal(int64(baseSeed)))
		Expect(undisturbed.Status.BestTrial.Objective).To(Equal("0.5"))

		By(fmt.Sprintf("running it again in another namespace, killing the operator when %v Trials exist", killPoints))
		ns := newNamespace(ctx)
		p := startPoller(ns)
		start = time.Now()
		Expect(k8sClient.Create(ctx, restartSweep(ns))).To(Succeed())
		kills := killAtTrialCounts(ctx, ns, killPoints, downWhileRunsEnd, SweepTimeout, start)
		AddReportEntry("operator killed (SIGKILL) at", kills)
		disturbed := waitForEnd(ctx, key(ns, "sweep"), crucible.ExperimentSucceeded, SweepTimeout)
		AddReportEntry("disturbed sweep ran", since(start))

		By("running every Trial once: one Job each, never replaced, within parallelism")
		maxDisturbed := expectEachTrialRanOnce(ctx, ns, total, restartParallelism, p)
		AddReportEntry("Jobs unfinished at once (most seen)", fmt.Sprintf("undisturbed %d, disturbed %d, parallelism %d", maxQuiet, maxDisturbed, restartParallelism))

		By("ending with the undisturbed run's status")
		Expect(disturbed.Status.Trials).To(Equal(crucible.TrialCounts{Total: total, Created: total, Active: 0, Succeeded: total, Failed: 0}))
		Expect(disturbed.Status.SpecDigest).To(Equal(undisturbed.Status.SpecDigest))
		Expect(cmp.Diff(comparableStatus(undisturbed.Status), comparableStatus(disturbed.Status), ignoreConditionTimes)).To(BeEmpty())
	}, SpecTimeout(10*time.Minute))
})
