package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/s3server"
)

// Pod annotations the trainer Stages read (test/e2e/stages/README.md).
const (
	// durationAnnotation is how long a trial pod runs, a Go duration;
	// 2 to 4 s when absent.
	durationAnnotation = "crucible.dev/e2e-duration"
	// outcomeAnnotation makes a trial pod fail, be OOM-killed, report
	// malformed metrics or hang; it succeeds when absent.
	outcomeAnnotation = "crucible.dev/e2e-outcome"
	// messageAnnotation is the trainer's termination message, copied as
	// is; without an outcome it selects the Stage that reports it
	// (trainer-message.yaml).
	messageAnnotation = "crucible.dev/e2e-message"
	// exitCodeAnnotation is the exit code that goes with messageAnnotation;
	// 0 when absent.
	exitCodeAnnotation = "crucible.dev/e2e-exit-code"

	// baseSeed is the seed the simulated trainer's loss is lowest at.
	baseSeed = 1234
)

// withPodAnnotations gives exp's trial pods annotations, through a pod
// template without containers of its own.
func withPodAnnotations(exp *crucible.Experiment, annotations map[string]string) *crucible.Experiment {
	exp.Spec.PodTemplate = &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{}},
	}
	return exp
}

// valLoss is the loss the simulated trainer reports (trainer.yaml).
func valLoss(lr, depth float64, seed int64) float64 {
	r := (lr - 0.01) / (lr + 0.01)
	return r*r + 0.1*(depth-4)*(depth-4) + 0.01*float64(seed-baseSeed) + 0.5
}

// waitForEnd waits until the Experiment reaches phase with no trial active,
// and fails at once if it ends in the other phase.
func waitForEnd(ctx context.Context, k client.ObjectKey, phase crucible.ExperimentPhase, timeout time.Duration) *crucible.Experiment {
	GinkgoHelper()
	exp := &crucible.Experiment{}
	Eventually(ctx, func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, k, exp)).To(Succeed())
		if isTerminal(exp.Status.Phase) && exp.Status.Phase != phase {
			StopTrying(fmt.Sprintf("Experiment %s ended %s, not %s", k, exp.Status.Phase, phase)).
				Attach("status", exp.Status).Now()
		}
		g.Expect(exp.Status.Phase).To(Equal(phase))
		g.Expect(exp.Status.Trials.Active).To(BeZero())
		g.Expect(exp.Status.CompletionTime).NotTo(BeNil())
	}, timeout, Interval).Should(Succeed())
	return exp
}

func trialsOf(ctx context.Context, ns string) []crucible.Trial {
	GinkgoHelper()
	var list crucible.TrialList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

// jobsOf lists the trials' Jobs of ns, not a dataset verifier's.
func jobsOf(ctx context.Context, ns string) []batchv1.Job {
	GinkgoHelper()
	var list batchv1.JobList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel})).To(Succeed())
	return list.Items
}

// podsOf lists the trials' Pods of ns, not a dataset verifier's.
func podsOf(ctx context.Context, ns string) []corev1.Pod {
	GinkgoHelper()
	var list corev1.PodList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel})).To(Succeed())
	return list.Items
}

// jobCondition reports whether the Job has condition t set True.
func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// isFinished reports whether the Job has a terminal condition.
func isFinished(job *batchv1.Job) bool {
	return jobCondition(job, batchv1.JobComplete) || jobCondition(job, batchv1.JobFailed)
}

// comparableStatus drops what differs between two runs of the same sweep:
// times and the generation.
func comparableStatus(s crucible.ExperimentStatus) crucible.ExperimentStatus {
	s = *s.DeepCopy()
	s.StartTime, s.CompletionTime = nil, nil
	s.ObservedGeneration = 0
	return s
}

var ignoreConditionTimes = cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime", "ObservedGeneration")

// poller samples a namespace's Jobs and Trials every PollInterval in the
// background and remembers what it saw: the most Jobs unfinished at once,
// and the UID every Job and Trial had when first seen, so that one deleted
// and created again, or gone, is caught.
type poller struct {
	ns   string
	quit chan struct{}
	done chan struct{}
	once sync.Once

	mu            sync.Mutex
	polls, errors int
	maxUnfinished int
	jobUIDs       map[string]types.UID
	trialUIDs     map[string]types.UID
	problems      []string
}

// startPoller starts sampling ns; it stops at the end of the spec at the
// latest.
func startPoller(ns string) *poller {
	p := &poller{ns: ns, quit: make(chan struct{}), done: make(chan struct{}),
		jobUIDs: map[string]types.UID{}, trialUIDs: map[string]types.UID{}}
	go func() {
		defer GinkgoRecover()
		defer close(p.done)
		tick := time.NewTicker(PollInterval)
		defer tick.Stop()
		for {
			p.poll()
			select {
			case <-p.quit:
				return
			case <-tick.C:
			}
		}
	}()
	DeferCleanup(p.stop)
	return p
}

// stop ends the sampling, after the sample in flight and one more.
func (p *poller) stop() {
	p.once.Do(func() {
		close(p.quit)
		<-p.done
		p.poll()
	})
}

func (p *poller) poll() {
	ctx, cancel := context.WithTimeout(context.Background(), PollTimeout)
	defer cancel()
	var jobs batchv1.JobList
	var trials crucible.TrialList
	err := k8sClient.List(ctx, &jobs, client.InNamespace(p.ns), client.HasLabels{crucible.TrialLabel})
	if err == nil {
		err = k8sClient.List(ctx, &trials, client.InNamespace(p.ns))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.errors++ // a busy API server: the next sample counts
		return
	}
	p.polls++
	unfinished := 0
	seen := map[string]bool{}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		seen[j.Name] = true
		if !isFinished(j) {
			unfinished++
		}
		p.remember(p.jobUIDs, "Job", j.Name, j.UID)
	}
	p.maxUnfinished = max(p.maxUnfinished, unfinished)
	for name := range p.jobUIDs {
		if !seen[name] {
			p.problems = append(p.problems, fmt.Sprintf("Job %s disappeared", name))
		}
	}
	for i := range trials.Items {
		t := &trials.Items[i]
		p.remember(p.trialUIDs, "Trial", t.Name, t.UID)
	}
}

func (p *poller) remember(uids map[string]types.UID, kind, name string, uid types.UID) {
	if first, ok := uids[name]; ok && first != uid {
		p.problems = append(p.problems, fmt.Sprintf("%s %s was created again: UID %s, first %s", kind, name, uid, first))
		return
	}
	uids[name] = uid
}

// result stops the poller and returns what it saw.
func (p *poller) result() (maxUnfinished int, jobUIDs map[string]types.UID, problems []string) {
	p.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	AddReportEntry(fmt.Sprintf("poller %s", p.ns),
		fmt.Sprintf("%d samples (%d failed), %d Jobs and %d Trials seen, at most %d Jobs unfinished at once",
			p.polls, p.errors, len(p.jobUIDs), len(p.trialUIDs), p.maxUnfinished))
	return p.maxUnfinished, p.jobUIDs, p.problems
}

// expectEachTrialRanOnce checks a finished sweep in ns of n trials, all
// succeeded: exactly one Job per Trial, controlled by it, with the UID the
// poller first saw; every Job Complete with one succeeded and no failed
// Pod; one Pod per Trial; never more than parallelism Jobs unfinished at
// once. It returns the most Jobs the poller saw unfinished at once.
func expectEachTrialRanOnce(ctx context.Context, ns string, n int, parallelism int32, p *poller) int {
	GinkgoHelper()
	maxUnfinished, jobUIDs, problems := p.result()
	Expect(problems).To(BeEmpty(), "the poller saw Jobs or Trials come and go")
	Expect(maxUnfinished).To(BeNumerically("<=", parallelism), "more Jobs ran at once than parallelism allows")

	trials := trialsOf(ctx, ns)
	Expect(trials).To(HaveLen(n))
	trialUIDs := map[string]types.UID{}
	for _, t := range trials {
		trialUIDs[t.Name] = t.UID
		Expect(t.Status.Phase).To(Equal(crucible.TrialSucceeded), "Trial %s: %s %s", t.Name, t.Status.Reason, t.Status.Message)
		Expect(t.Status.JobName).To(Equal(t.Name))
	}

	jobs := jobsOf(ctx, ns)
	Expect(jobs).To(HaveLen(n), "one Job per Trial")
	for i := range jobs {
		j := &jobs[i]
		owner := metav1.GetControllerOf(j)
		Expect(owner).NotTo(BeNil(), "Job %s has no controller", j.Name)
		Expect(owner.Kind).To(Equal("Trial"))
		Expect(owner.Name).To(Equal(j.Name), "Job %s is named after its Trial", j.Name)
		Expect(owner.UID).To(Equal(trialUIDs[j.Name]), "Job %s belongs to the Trial of that name", j.Name)
		Expect(j.Labels).To(HaveKeyWithValue(crucible.TrialLabel, j.Name))
		Expect(jobUIDs).To(HaveKeyWithValue(j.Name, j.UID), "Job %s kept the UID it was first seen with", j.Name)
		Expect(jobCondition(j, batchv1.JobComplete)).To(BeTrue(), "Job %s is Complete", j.Name)
		Expect(j.Status.Succeeded).To(Equal(int32(1)), "Job %s ran one Pod to success", j.Name)
		Expect(j.Status.Failed).To(BeZero(), "Job %s had a failed Pod", j.Name)
	}

	podsPerTrial := map[string]int{}
	for _, pod := range podsOf(ctx, ns) {
		podsPerTrial[pod.Labels[crucible.TrialLabel]]++
	}
	Expect(podsPerTrial).To(HaveLen(n))
	for name, count := range podsPerTrial {
		Expect(count).To(Equal(1), "Trial %s ran %d Pods", name, count)
	}
	return maxUnfinished
}

// parameterValue returns the value of the named parameter of a Trial.
func parameterValue(params []crucible.ParameterAssignment, name string) string {
	for _, p := range params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// parseFloat parses a decimal string the test itself made or read.
func parseFloat(s string) float64 {
	GinkgoHelper()
	f, err := strconv.ParseFloat(s, 64)
	Expect(err).NotTo(HaveOccurred())
	return f
}

// since reports how long a step took, rounded for reading.
func since(start time.Time) string { return time.Since(start).Round(100 * time.Millisecond).String() }

// s3Store starts an S3 gateway for one spec, with a bucket and the
// credentials Secret in ns, and returns the artifacts spec that names it.
func s3Store(ctx context.Context, ns string) (*crucible.ArtifactsSpec, *minio.Client) {
	GinkgoHelper()
	srv, err := s3server.Start(ctx, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(srv.Stop()).To(Succeed()) })
	mc, err := srv.Client()
	Expect(err).NotTo(HaveOccurred())
	const bucket, secret = "runs", "store-credentials"
	Expect(mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})).To(Succeed())
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: ns},
		StringData: map[string]string{
			crucible.SecretKeyAccessKeyID:     srv.AccessKey,
			crucible.SecretKeySecretAccessKey: srv.SecretKey,
		},
	})).To(Succeed())
	return &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
		Endpoint: srv.Host(), Bucket: bucket, Prefix: "sweeps", Region: srv.Region, Insecure: true,
		CredentialsSecret: crucible.SecretReference{Name: secret},
	}}, mc
}

// killAtTrialCounts kills the operator with SIGKILL each time ns has at
// least the next of killPoints Trials (waiting up to timeout), and starts
// it again; after the kill at downAt it stays down until every trial Job
// has ended, so that it comes back to runs that ended without it. It
// returns what each kill saw, since start, for the spec's report.
func killAtTrialCounts(ctx context.Context, ns string, killPoints []int, downAt int, timeout time.Duration, start time.Time) []string {
	GinkgoHelper()
	var kills []string
	for _, at := range killPoints {
		var existing int
		Eventually(ctx, func(g Gomega) int {
			var trials crucible.TrialList
			g.Expect(k8sClient.List(ctx, &trials, client.InNamespace(ns))).To(Succeed())
			existing = len(trials.Items)
			return existing
		}, timeout, Interval).Should(BeNumerically(">=", at), "waiting for %d Trials to kill the operator at", at)
		killManager()
		kill := fmt.Sprintf("%d Trials (after %s)", existing, since(start))
		if at == downAt {
			Eventually(ctx, func(g Gomega) {
				var jobs batchv1.JobList
				g.Expect(k8sClient.List(ctx, &jobs, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel})).To(Succeed())
				for _, j := range jobs.Items {
					g.Expect(isFinished(&j)).To(BeTrue(), "Job %s has not ended", j.Name)
				}
			}, Timeout, Interval).Should(Succeed())
			kill += fmt.Sprintf(", down until every run ended (%d Trials then)", len(trialsOf(ctx, ns)))
		}
		kills = append(kills, kill)
		startManager()
	}
	return kills
}
