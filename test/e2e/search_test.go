package e2e

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

const (
	// searchName is the name of every Experiment of these specs: a Trial's
	// name is a hash of it, the parameters and the seed, so two runs of
	// the same search in two namespaces name their Trials alike.
	searchName = "search"
	// searchSeed is the samplers' seed (spec.search.seed).
	searchSeed = 7
	// searchParallelism is spec.parallelism: TPE's maxConcurrent, lower,
	// is what bounds a TPE search.
	searchParallelism = 4
)

// searchExperiment is a search of maxTrials trials over lr, continuous on
// a Log scale from 1e-4 to 1 (lowest loss at 0.01), and depth 1 to 8
// (lowest at 4), every trial with seed baseSeed, minimising val_loss with
// no failure allowed.
func searchExperiment(ns string, alg crucible.SearchAlgorithm, maxTrials int32) *crucible.Experiment {
	exp := builder.MakeExperiment(searchName, ns).
		FloatRange("lr", "0.0001", "1", 0, crucible.ScaleLog).
		IntRange("depth", 1, 8, 1).
		Seeds(baseSeed, 1).
		Objective("val_loss", crucible.GoalMinimize).
		MaxFailedTrials(0).
		Parallelism(searchParallelism).Obj()
	exp.Spec.Search = crucible.SearchSpec{Algorithm: alg, MaxTrials: ptr.To(maxTrials), Seed: ptr.To[int64](searchSeed)}
	return exp
}

// tpeExperiment is searchExperiment with TPE and maxConcurrent.
func tpeExperiment(ns string, maxTrials, maxConcurrent int32) *crucible.Experiment {
	exp := searchExperiment(ns, crucible.SearchTPE, maxTrials)
	exp.Spec.Search.MaxConcurrent = ptr.To(maxConcurrent)
	return exp
}

// searchedTrial is what two runs of the same search must agree on.
type searchedTrial struct {
	Index      int64
	Name       string
	Parameters []crucible.ParameterAssignment
}

// searchedTrials lists the Trials of ns by index.
func searchedTrials(ctx context.Context, ns string) []searchedTrial {
	GinkgoHelper()
	var out []searchedTrial
	for _, t := range trialsOf(ctx, ns) {
		out = append(out, searchedTrial{Index: t.Spec.Index, Name: t.Name, Parameters: t.Spec.Parameters})
	}
	slices.SortFunc(out, func(a, b searchedTrial) int { return int(a.Index - b.Index) })
	return out
}

// expectSearchEnded checks a search of maxTrials that succeeded: every
// suggestion a Trial or a repeat, every Trial succeeded once, with one
// Job, never more than limit Jobs unfinished at once; and its best trial's
// objective is the trainer's loss at its parameters. It returns the best
// objective and how long the search ran, by its status (to the second).
func expectSearchEnded(ctx context.Context, exp *crucible.Experiment, maxTrials, limit int32, p *poller) (float64, time.Duration) {
	GinkgoHelper()
	st := exp.Status
	Expect(st.Trials.Total).To(Equal(maxTrials))
	Expect(st.Trials.Created+st.Trials.Repeated).To(Equal(maxTrials), "every suggestion is a Trial or a repeat")
	Expect(st.Trials.Succeeded).To(Equal(st.Trials.Created))
	Expect(st.Trials.Failed).To(BeZero())
	maxUnfinished := expectEachTrialRanOnce(ctx, exp.Namespace, int(st.Trials.Created), exp.Spec.Parallelism, p)
	Expect(maxUnfinished).To(BeNumerically("<=", limit), "more Jobs ran at once than the search allows")

	Expect(st.BestTrial).NotTo(BeNil())
	best := parseFloat(st.BestTrial.Objective)
	want := valLoss(parseFloat(parameterValue(st.BestTrial.Parameters, "lr")),
		parseFloat(parameterValue(st.BestTrial.Parameters, "depth")), st.BestTrial.Seed)
	Expect(best).To(BeNumerically("~", want, 1e-9), "the best objective is the trainer's loss at %v", st.BestTrial.Parameters)
	for _, t := range trialsOf(ctx, exp.Namespace) {
		Expect(parseFloat(t.Status.Objective)).To(BeNumerically(">=", best), "Trial %s beats the best trial", t.Name)
	}
	Expect(st.StartTime).NotTo(BeNil())
	Expect(st.CompletionTime).NotTo(BeNil())
	return best, st.CompletionTime.Sub(st.StartTime.Time)
}

var _ = Describe("Searching with a sampler", func() {
	It("a 40-trial TPE sweep finds a better best objective than a 40-trial Random sweep with the same seed",
		SpecTimeout(3*time.Minute), func(ctx SpecContext) {
			const maxTrials, maxConcurrent = 40, 4
			tpeNS, randomNS := newNamespace(ctx), newNamespace(ctx)
			tp, rp := startPoller(tpeNS), startPoller(randomNS)

			By("running both searches at once, in two namespaces")
			Expect(k8sClient.Create(ctx, tpeExperiment(tpeNS, maxTrials, maxConcurrent))).To(Succeed())
			Expect(k8sClient.Create(ctx, searchExperiment(randomNS, crucible.SearchRandom, maxTrials))).To(Succeed())
			tpe := waitForEnd(ctx, key(tpeNS, searchName), crucible.ExperimentSucceeded, Timeout)
			random := waitForEnd(ctx, key(randomNS, searchName), crucible.ExperimentSucceeded, Timeout)

			By("running every suggestion once, TPE never more than maxConcurrent at once")
			tpeBest, tpeTook := expectSearchEnded(ctx, tpe, maxTrials, maxConcurrent, tp)
			randomBest, randomTook := expectSearchEnded(ctx, random, maxTrials, searchParallelism, rp)

			summary := func(exp *crucible.Experiment, took time.Duration) string {
				b := exp.Status.BestTrial
				return fmt.Sprintf("best objective %s (trial %d, %v), ran %s, %d Trials, %d repeats",
					b.Objective, b.Index, b.Parameters, took, exp.Status.Trials.Created, exp.Status.Trials.Repeated)
			}
			GinkgoWriter.Printf("TPE (maxConcurrent %d): %s\n", maxConcurrent, summary(tpe, tpeTook))
			GinkgoWriter.Printf("Random: %s\n", summary(random, randomTook))
			AddReportEntry("TPE search", summary(tpe, tpeTook))
			AddReportEntry("Random search", summary(random, randomTook))

			By("finding a lower val_loss with TPE than with Random")
			// Deterministic: each suggestion is a function of the seed and
			// of the record (for TPE, of the outcomes of trials 0..i-4), never
			// of which trial ended first.
			Expect(tpeBest).To(BeNumerically("<", randomBest), "TPE %s, Random %s", summary(tpe, tpeTook), summary(random, randomTook))
		})

	It("a TPE sweep interrupted by SIGKILLs of the operator ends with exactly the same Trials as an undisturbed one",
		Serial, SpecTimeout(3*time.Minute), func(ctx SpecContext) {
			const maxTrials, maxConcurrent = 16, 2
			// killPoints are how many Trials exist when the operator is
			// killed; after downWhileRunsEnd it stays down until every
			// running trial has ended, so that it comes back to outcomes
			// it did not see arrive.
			killPoints := []int{4, 8, 12}
			const downWhileRunsEnd = 8
			// Whatever happens, later specs need a running operator.
			DeferCleanup(func() {
				if manager == nil {
					startManager()
				}
			})

			By("running the search undisturbed in one namespace")
			quiet := newNamespace(ctx)
			qp := startPoller(quiet)
			start := time.Now()
			Expect(k8sClient.Create(ctx, tpeExperiment(quiet, maxTrials, maxConcurrent))).To(Succeed())
			undisturbed := waitForEnd(ctx, key(quiet, searchName), crucible.ExperimentSucceeded, Timeout)
			AddReportEntry("undisturbed TPE search ran", since(start))
			expectSearchEnded(ctx, undisturbed, maxTrials, maxConcurrent, qp)

			By(fmt.Sprintf("running it again in another namespace, killing the operator when %v Trials exist", killPoints))
			ns := newNamespace(ctx)
			p := startPoller(ns)
			start = time.Now()
			Expect(k8sClient.Create(ctx, tpeExperiment(ns, maxTrials, maxConcurrent))).To(Succeed())
			kills := killAtTrialCounts(ctx, ns, killPoints, downWhileRunsEnd, Timeout, start)
			AddReportEntry("operator killed (SIGKILL) at", kills)
			disturbed := waitForEnd(ctx, key(ns, searchName), crucible.ExperimentSucceeded, Timeout)
			AddReportEntry("disturbed TPE search ran", since(start))

			By("running every Trial once: one Job each, never more than maxConcurrent at once")
			expectSearchEnded(ctx, disturbed, maxTrials, maxConcurrent, p)

			By("proposing the same Trials, at the same indices, as the undisturbed run")
			want := searchedTrials(ctx, quiet)
			Expect(want).To(HaveLen(int(undisturbed.Status.Trials.Created)))
			Expect(cmp.Diff(want, searchedTrials(ctx, ns))).To(BeEmpty())
			Expect(cmp.Diff(comparableStatus(undisturbed.Status), comparableStatus(disturbed.Status), ignoreConditionTimes)).To(BeEmpty())
		})
})
