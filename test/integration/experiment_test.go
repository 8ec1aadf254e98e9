package integration

import (
	"context"
	"fmt"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
	"github.com/crucible-dev/crucible/test/builder"
)

const baseSeed = 1234

// sweep is the 3×2 grid with 2 seed replicas: 12 trials.
func sweep(name, ns string, parallelism int32) *crucible.Experiment {
	return builder.MakeExperiment(name, ns).
		Values("lr", "0.1", "0.01", "0.001").
		IntRange("depth", 2, 4, 2).
		Seeds(baseSeed, 2).
		Parallelism(parallelism).
		PVCDataset("datasets", "cifar10/2024-05-01", "/data").
		Obj()
}

// trainer reports val_loss from the trial's parameters and seed.
func trainer(job *batchv1.Job) outcome {
	return succeeded(fmt.Sprintf(`{"val_loss": %v, "accuracy": 0.9}`, valLoss(envOf(job), baseSeed)))
}

// cluster plays the Job controller and kubelet for one namespace and
// remembers what it saw, so tests can check that nothing ran twice.
type cluster struct {
	ns        string
	maxActive int
	jobUIDs   map[string]types.UID
	finished  map[string]int
}

func newCluster(ns string) *cluster {
	return &cluster{ns: ns, jobUIDs: map[string]types.UID{}, finished: map[string]int{}}
}

// step finishes up to n unfinished Jobs with decide, after recording how
// many were running at once. It returns how many it finished.
func (c *cluster) step(ctx context.Context, n int, decide func(*batchv1.Job) outcome) int {
	verifyDatasets(ctx, c.ns, "")
	jobs := unfinishedJobs(ctx, c.ns)
	c.maxActive = max(c.maxActive, len(jobs))
	done := 0
	for i := range jobs {
		if done == n {
			break
		}
		job := &jobs[i]
		if uid, seen := c.jobUIDs[job.Name]; seen && uid != job.UID {
			Fail(fmt.Sprintf("Job %s was created a second time", job.Name))
		}
		c.jobUIDs[job.Name] = job.UID
		finishJob(ctx, job, decide(job))
		c.finished[job.Name]++
		done++
	}
	return done
}

// runUntil finishes Jobs as they appear until the Experiment reaches phase.
func (c *cluster) runUntil(ctx context.Context, name string, phase crucible.ExperimentPhase, decide func(*batchv1.Job) outcome) *crucible.Experiment {
	exp := &crucible.Experiment{}
	Eventually(func(g Gomega) {
		c.step(ctx, -1, decide)
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: c.ns, Name: name}, exp)).To(Succeed())
		g.Expect(exp.Status.Phase).To(Equal(phase))
		g.Expect(exp.Status.Trials.Active).To(BeZero())
		g.Expect(exp.Status.CompletionTime).NotTo(BeNil())
	}, Timeout, Interval).Should(Succeed())
	return exp
}

func trialsOf(ctx context.Context, ns string) []crucible.Trial {
	var list crucible.TrialList
	ExpectWithOffset(1, k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

// jobsOf lists the trials' Jobs of ns: not the dataset verifier's.
func jobsOf(ctx context.Context, ns string) []batchv1.Job {
	var list batchv1.JobList
	ExpectWithOffset(1, k8sClient.List(ctx, &list, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel})).To(Succeed())
	return list.Items
}

// comparableStatus drops what differs between two runs of the same sweep:
// times and condition timestamps.
func comparableStatus(s crucible.ExperimentStatus) crucible.ExperimentStatus {
	s = *s.DeepCopy()
	s.StartTime, s.CompletionTime = nil, nil
	s.ObservedGeneration = 0
	return s
}

var ignoreConditionTimes = cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime", "ObservedGeneration")

var _ = Describe("Experiment", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	When("the operator runs without interruption", func() {
		BeforeEach(func() { DeferCleanup(startManager()) })

		It("runs a 3×2 grid with 2 seeds to Succeeded within parallelism and records the best trial", func() {
			exp := sweep("grid", ns, 3)
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())

			c := newCluster(ns)
			exp = c.runUntil(ctx, "grid", crucible.ExperimentSucceeded, trainer)

			By("never running more than parallelism trials at once")
			Expect(c.maxActive).To(BeNumerically("<=", 3))
			Expect(c.maxActive).To(BeNumerically(">=", 2), "the sweep should have run trials side by side")

			By("creating 12 Trials and 12 Jobs, one Job per Trial, each finished once")
			trials := trialsOf(ctx, ns)
			Expect(trials).To(HaveLen(12))
			Expect(jobsOf(ctx, ns)).To(HaveLen(12))
			for name, n := range c.finished {
				Expect(n).To(Equal(1), "Job %s ran %d times", name, n)
			}

			By("recording every trial's metrics and objective")
			indices := map[int64]bool{}
			for _, t := range trials {
				indices[t.Spec.Index] = true
				Expect(t.Status.Phase).To(Equal(crucible.TrialSucceeded), "trial %s", t.Name)
				Expect(t.Status.JobName).To(Equal(t.Name))
				Expect(t.Status.Metrics).To(HaveKeyWithValue("accuracy", "0.9"))
				Expect(t.Status.Objective).To(Equal(t.Status.Metrics["val_loss"]))
				got, err := metrics.Value(t.Status.Objective)
				Expect(err).NotTo(HaveOccurred())
				env := map[string]string{"CRUCIBLE_SEED": fmt.Sprint(t.Spec.Seed)}
				for _, p := range t.Spec.Parameters {
					env["CRUCIBLE_PARAM_"+map[string]string{"lr": "LR", "depth": "DEPTH"}[p.Name]] = p.Value
				}
				Expect(got).To(BeNumerically("~", valLoss(env, baseSeed), 1e-9))
				Expect(t.Spec.Image).To(Equal(builder.Image))
				Expect(t.Spec.DatasetDigest).To(Equal(builder.DatasetDigest))
				Expect(t.Spec.ExperimentDigest).To(Equal(exp.Status.SpecDigest))
			}
			Expect(indices).To(HaveLen(12))

			By("naming the known best trial and counting right")
			Expect(exp.Status.BestTrial).NotTo(BeNil())
			Expect(exp.Status.BestTrial.Parameters).To(Equal([]crucible.ParameterAssignment{
				{Name: "lr", Value: "0.01"}, {Name: "depth", Value: "4"}}))
			Expect(exp.Status.BestTrial.Seed).To(Equal(int64(baseSeed)))
			Expect(exp.Status.BestTrial.Objective).To(Equal("0.5"))
			Expect(exp.Status.Trials).To(Equal(crucible.TrialCounts{Total: 12, Created: 12, Active: 0, Succeeded: 12, Failed: 0}))
			Expect(meta.IsStatusConditionTrue(exp.Status.Conditions, crucible.ExperimentSucceededCondition)).To(BeTrue())
			Expect(exp.Status.SpecDigest).To(MatchRegexp(`^sha256:[a-f0-9]{64}$`))
			Expect(exp.Status.ObservedGeneration).To(Equal(exp.Generation))
		})

		It("fails once more trials fail than maxFailedTrials allows, and creates no more", func() {
			exp := builder.MakeExperiment("budget", ns).Values("lr", "1", "2", "3", "4", "5", "6").
				Parallelism(1).MaxFailedTrials(1).Obj()
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())

			c := newCluster(ns)
			exp = c.runUntil(ctx, "budget", crucible.ExperimentFailed, func(*batchv1.Job) outcome { return exited(3) })
			cond := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentFailedCondition)
			Expect(cond).NotTo(BeNil())
			Expect(cond.Reason).To(Equal(crucible.ReasonMaxFailedTrialsExceeded))
			Expect(exp.Status.Trials).To(Equal(crucible.TrialCounts{Total: 6, Created: 2, Active: 0, Succeeded: 0, Failed: 2}))

			Consistently(func(g Gomega) {
				g.Expect(trialsOf(ctx, ns)).To(HaveLen(2))
			}, ConsistentlyDuration, Interval).Should(Succeed())

			By("recording why each trial failed")
			for _, t := range trialsOf(ctx, ns) {
				Expect(t.Status.Phase).To(Equal(crucible.TrialFailed))
				Expect(t.Status.Reason).To(Equal(crucible.ReasonExitCode))
				Expect(t.Status.Message).To(ContainSubstring("exited with code 3"))
			}
		})

		It("starts nothing while suspended, resumes, and follows a raised parallelism", func() {
			exp := builder.MakeExperiment("pause", ns).Values("lr", "1", "2", "3", "4", "5", "6", "7", "8").
				Parallelism(1).Suspend(true).Obj()
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			key := client.ObjectKeyFromObject(exp)

			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key, exp)).To(Succeed())
				g.Expect(exp.Status.Phase).To(Equal(crucible.ExperimentSuspended))
			}, Timeout, Interval).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(trialsOf(ctx, ns)).To(BeEmpty())
			}, ConsistentlyDuration, Interval).Should(Succeed())

			By("resuming")
			patch := client.MergeFrom(exp.DeepCopy())
			exp.Spec.Suspend = false
			Expect(k8sClient.Patch(ctx, exp, patch)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(unfinishedJobs(ctx, ns)).To(HaveLen(1))
			}, Timeout, Interval).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(trialsOf(ctx, ns)).To(HaveLen(1))
			}, ConsistentlyDuration, Interval).Should(Succeed())

			By("suspending again: the running trial keeps running, no new one starts")
			Expect(k8sClient.Get(ctx, key, exp)).To(Succeed())
			patch = client.MergeFrom(exp.DeepCopy())
			exp.Spec.Suspend = true
			Expect(k8sClient.Patch(ctx, exp, patch)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key, exp)).To(Succeed())
				g.Expect(exp.Status.Phase).To(Equal(crucible.ExperimentSuspended))
			}, Timeout, Interval).Should(Succeed())
			c := newCluster(ns)
			Expect(c.step(ctx, -1, trainer)).To(Equal(1))
			Consistently(func(g Gomega) {
				g.Expect(trialsOf(ctx, ns)).To(HaveLen(1))
			}, ConsistentlyDuration, Interval).Should(Succeed())

			By("resuming with parallelism raised to 3")
			Expect(k8sClient.Get(ctx, key, exp)).To(Succeed())
			patch = client.MergeFrom(exp.DeepCopy())
			exp.Spec.Suspend = false
			exp.Spec.Parallelism = 3
			Expect(k8sClient.Patch(ctx, exp, patch)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(unfinishedJobs(ctx, ns)).To(HaveLen(3))
			}, Timeout, Interval).Should(Succeed())

			exp = c.runUntil(ctx, "pause", crucible.ExperimentSucceeded, func(*batchv1.Job) outcome { return succeeded(`{"val_loss": 1}`) })
			Expect(c.maxActive).To(Equal(3))
			Expect(exp.Status.Trials.Succeeded).To(Equal(int32(8)))
			Expect(meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentSuspendedCondition).Reason).To(Equal(crucible.ReasonResumed))
		})

		It("fails a trial whose run exits 0 without the objective or with malformed metrics", func() {
			exp := builder.MakeExperiment("metrics", ns).Values("case", "missing", "malformed", "ok").
				Parallelism(3).MaxFailedTrials(5).Obj()
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			c := newCluster(ns)
			exp = c.runUntil(ctx, "metrics", crucible.ExperimentSucceeded, func(job *batchv1.Job) outcome {
				switch envOf(job)["CRUCIBLE_PARAM_CASE"] {
				case "missing":
					return succeeded(`{"accuracy": 0.5}`)
				case "malformed":
					return succeeded(`val_loss=0.3`)
				}
				return succeeded(`{"val_loss": 0.25}`)
			})
			Expect(exp.Status.Trials).To(Equal(crucible.TrialCounts{Total: 3, Created: 3, Succeeded: 1, Failed: 2}))
			Expect(exp.Status.BestTrial.Objective).To(Equal("0.25"))
			reasons := map[string]string{}
			for _, t := range trialsOf(ctx, ns) {
				reasons[t.Spec.Parameters[0].Value] = t.Status.Reason + ": " + t.Status.Message
			}
			Expect(reasons["missing"]).To(And(HavePrefix(crucible.ReasonMetricsMissing), ContainSubstring(`"val_loss"`), ContainSubstring("accuracy")))
			Expect(reasons["malformed"]).To(And(HavePrefix(crucible.ReasonMetricsMalformed), ContainSubstring("val_loss=0.3")))
		})
	})

	It("survives an operator restart mid-sweep: no duplicate Job, no trial run twice, the same final status", func() {
		By("running the sweep undisturbed in one namespace")
		stop := startManager()
		Expect(k8sClient.Create(ctx, sweep("restart", ns, 2))).To(Succeed())
		undisturbed := newCluster(ns).runUntil(ctx, "restart", crucible.ExperimentSucceeded, trainer)
		stop()

		By("running it again in another namespace, stopping the operator twice on the way")
		other := newNamespace(ctx)
		c := newCluster(other)
		stop = startManager()
		Expect(k8sClient.Create(ctx, sweep("restart", other, 2))).To(Succeed())
		for finished := 0; finished < 3; {
			finished += c.step(ctx, 1, trainer)
		}
		stop()
		// Runs end while the operator is down.
		c.step(ctx, -1, trainer)
		stop = startManager()
		for finished := 0; finished < 3; {
			finished += c.step(ctx, 1, trainer)
		}
		stop()
		stop = startManager()
		DeferCleanup(stop)
		disturbed := c.runUntil(ctx, "restart", crucible.ExperimentSucceeded, trainer)

		Expect(c.maxActive).To(BeNumerically("<=", 2))
		jobs := jobsOf(ctx, other)
		Expect(jobs).To(HaveLen(12))
		perTrial := map[string]int{}
		for _, j := range jobs {
			perTrial[j.Labels[crucible.TrialLabel]]++
		}
		Expect(perTrial).To(HaveLen(12))
		for name, n := range c.finished {
			Expect(n).To(Equal(1), "Job %s ran %d times", name, n)
		}
		Expect(trialsOf(ctx, other)).To(HaveLen(12))
		Expect(cmp.Diff(comparableStatus(undisturbed.Status), comparableStatus(disturbed.Status), ignoreConditionTimes)).To(BeEmpty())
	})
})
