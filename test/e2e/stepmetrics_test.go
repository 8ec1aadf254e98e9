package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	trialcontroller "github.com/crucible-dev/crucible/internal/controller/trial"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/internal/stepmetrics"
	"github.com/crucible-dev/crucible/internal/stepmetrics/endpoint"
	"github.com/crucible-dev/crucible/pkg/trainer"
	"github.com/crucible-dev/crucible/test/builder"
)

const (
	// ReportTimeout bounds one report, a wait the endpoint asks for (429)
	// included.
	ReportTimeout = 30 * time.Second
	// StepPace is how often a played trainer of the early-stopping spec
	// reports a step: 100 steps in 35 s, within the 45 s its Pod runs.
	StepPace = 350 * time.Millisecond
	// ashaPodDuration is how long a trial Pod of the early-stopping spec
	// runs unless it is stopped.
	ashaPodDuration = 45 * time.Second
	// ashaSteps is how many steps a played trainer reports.
	ashaSteps = 100
)

var _ = Describe("Step metrics", func() {
	It("a trainer's reports become the Trial's curve, and others are refused", SpecTimeout(4*time.Minute), func(ctx SpecContext) {
		ns := newNamespace(ctx)
		// Two trials that run long enough to report and be refused, and
		// then end on their own: the report after the end is refused too.
		exp := withPodAnnotations(builder.MakeExperiment("curves", ns).
			Values("lr", "0.01", "0.1").Seeds(baseSeed, 1).Parallelism(2).Obj(),
			map[string]string{durationAnnotation: "40s"})
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		By("waiting for both trial Pods to run")
		pods := map[string]corev1.Pod{}
		for _, p := range waitForRunningTrialPods(ctx, ns, 2) {
			pods[p.Labels[crucible.TrialLabel]] = p
		}
		Expect(pods).To(HaveLen(2))
		var names []string
		for _, t := range trialsOf(ctx, ns) {
			names = append(names, t.Name)
		}
		slices.Sort(names)
		a, b := names[0], names[1]
		podA, podB := pods[a], pods[b]

		By("giving the trainer the endpoint's URL, its CA and a token for its own trial")
		url := expectStepMetricsWiring(ctx, ns, a, &podA)

		By("reporting steps 0 to 20 with pkg/trainer and the Pod's token")
		tokenA := requestTrialToken(ctx, &podA, endpoint.Audience(ns, a))
		reporter := newReporter(url, writeToken(a, tokenA))
		lossAt := func(step int64) float64 { return 2 - 0.05*float64(step) }
		accuracyAt := func(step int64) float64 { return 0.04 * float64(step) }
		start := time.Now()
		for step := range int64(21) {
			Expect(report(ctx, reporter, step, map[string]float64{"val_loss": lossAt(step), "accuracy": accuracyAt(step)})).
				To(Succeed(), "step %d", step)
		}
		AddReportEntry("21 reports accepted", since(start))

		By("writing the curve to the Trial's status.stepMetrics")
		trial := &crucible.Trial{}
		Eventually(ctx, func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, a), trial)).To(Succeed())
			sm := trial.Status.StepMetrics
			g.Expect(sm).NotTo(BeNil())
			g.Expect(sm.Reports).To(Equal(int64(21)))
			g.Expect(sm.LastStep).To(Equal(int64(20)))
		}, Timeout, Interval).Should(Succeed())
		expectCurve(trial.Status.StepMetrics, "val_loss", 21, lossAt)
		expectCurve(trial.Status.StepMetrics, "accuracy", 21, accuracyAt)
		out, _, code := kubectl(ctx, "get", "trial", a, "-n", ns, "-o", "yaml")
		Expect(code).To(BeZero())
		Expect(out).To(ContainSubstring("stepMetrics:"))
		Expect(out).To(MatchRegexp(`(?m)^\s+lastStep: 20$`))
		Expect(out).To(MatchRegexp(`(?m)^\s+- metric: accuracy$`))
		Expect(out).To(MatchRegexp(`(?m)^\s+- metric: val_loss$`))

		By("refusing a report that contradicts the recorded curve")
		var se *trainer.StatusError
		err := report(ctx, reporter, 5, map[string]float64{"val_loss": 1})
		Expect(errors.As(err, &se)).To(BeTrue(), "%v", err)
		Expect(se.StatusCode).To(Equal(http.StatusConflict))
		Expect(se.Reason).To(Equal(endpoint.ReasonStepConflict))
		Expect(se.Message).To(ContainSubstring("step 5"))

		By("refusing a report without a token, or with a token that is not valid: 401")
		r := postRaw(ctx, url, "")
		Expect(r.status).To(Equal(http.StatusUnauthorized))
		Expect(r.header.Get("WWW-Authenticate")).To(HavePrefix("Bearer "))
		Expect(r.body.Reason).To(Equal(endpoint.ReasonUnauthenticated))
		Expect(r.body.Error).To(ContainSubstring("no bearer token"))
		r = postRaw(ctx, url, "not-a-token")
		Expect(r.status).To(Equal(http.StatusUnauthorized))
		Expect(r.header.Get("WWW-Authenticate")).To(ContainSubstring(`error="invalid_token"`))
		Expect(r.body.Reason).To(Equal(endpoint.ReasonUnauthenticated))
		Expect(r.body.Error).To(ContainSubstring(endpoint.ErrUnauthenticated.Error()))

		By("refusing the token of another trial: 403, naming its audience")
		tokenB := requestTrialToken(ctx, &podB, endpoint.Audience(ns, b))
		r = postRaw(ctx, url, tokenB)
		Expect(r.status).To(Equal(http.StatusForbidden))
		Expect(r.body.Reason).To(Equal(endpoint.ReasonForbidden))
		Expect(r.body.Error).To(ContainSubstring(fmt.Sprintf("%q", endpoint.Audience(ns, b))))
		Expect(r.body.Error).To(ContainSubstring(fmt.Sprintf("%q", endpoint.Audience(ns, a))))

		By("refusing a token for the API server's audience: 403, as for any other audience")
		const apiAudience = "https://kubernetes.default.svc"
		r = postRaw(ctx, url, requestTrialToken(ctx, &podA, apiAudience))
		Expect(r.status).To(Equal(http.StatusForbidden))
		Expect(r.body.Reason).To(Equal(endpoint.ReasonForbidden))
		Expect(r.body.Error).To(ContainSubstring(fmt.Sprintf("%q", apiAudience)))

		By("refusing a token of the trial's audience bound to another trial's Pod: 403")
		r = postRaw(ctx, url, requestTrialToken(ctx, &podB, endpoint.Audience(ns, a)))
		Expect(r.status).To(Equal(http.StatusForbidden))
		Expect(r.body.Reason).To(Equal(endpoint.ReasonForbidden))
		Expect(r.body.Error).To(ContainSubstring(fmt.Sprintf("the token's Pod %s belongs to Job %s", podB.Name, b)))

		By("answering 404 for a trial that does not exist, to a token for it")
		const missing = "no-such-trial"
		r = postRaw(ctx, "https://"+StepMetricsAddr+endpoint.Path(ns, missing), requestTrialToken(ctx, &podA, endpoint.Audience(ns, missing)))
		Expect(r.status).To(Equal(http.StatusNotFound))
		Expect(r.body.Reason).To(Equal(endpoint.ReasonNotFound))
		Expect(r.body.Error).To(ContainSubstring(missing))

		By("keeping the curve as the trainer reported it")
		Expect(k8sClient.Get(ctx, key(ns, a), trial)).To(Succeed())
		Expect(trial.Status.StepMetrics.Reports).To(Equal(int64(21)))
		Expect(trial.Status.StepMetrics.LastStep).To(Equal(int64(20)))

		By("refusing a report after the trial ended: 409")
		Eventually(ctx, func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, a), trial)).To(Succeed())
			g.Expect(trial.Status.Phase).To(Equal(crucible.TrialSucceeded))
		}, Timeout, Interval).Should(Succeed())
		err = report(ctx, reporter, 21, map[string]float64{"val_loss": lossAt(21)})
		Expect(errors.As(err, &se)).To(BeTrue(), "%v", err)
		Expect(se.StatusCode).To(Equal(http.StatusConflict))
		Expect(se.Reason).To(Equal(endpoint.ReasonTrialEnded))
		Expect(se.Message).To(ContainSubstring("has ended"))

		By("ending with the trainer's final metrics and the curve it reported")
		waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)
		Expect(k8sClient.Get(ctx, key(ns, a), trial)).To(Succeed())
		Expect(parseFloat(trial.Status.Objective)).To(BeNumerically("~", valLoss(0.01, 4, baseSeed), 1e-9))
		Expect(trial.Status.StepMetrics).NotTo(BeNil())
		Expect(trial.Status.StepMetrics.Reports).To(Equal(int64(21)))
		expectCurve(trial.Status.StepMetrics, "val_loss", 21, lossAt)
	})

	It("ASHA early stopping keeps the best trial and spends under half the GPU-seconds", SpecTimeout(4*time.Minute), func(ctx SpecContext) {
		// Two sweeps of the same 9 trials at once, one with ASHA (rungs at
		// steps 1, 3, 9, 27 and 81), one without. Each trial's played
		// trainer reports a curve that ranks the trials at every step as
		// their final val_loss does.
		nsES, nsAll := newNamespace(ctx), newNamespace(ctx)
		ashaSweep := func(ns string, es *crucible.EarlyStoppingSpec) *crucible.Experiment {
			exp := builder.MakeExperiment("asha", ns).
				Values("lr", "0.003", "0.01", "0.1").Values("depth", "3", "4", "6").
				Seeds(baseSeed, 1).Parallelism(9).Obj()
			exp.Spec.EarlyStopping = es
			return withPodAnnotations(exp, map[string]string{durationAnnotation: ashaPodDuration.String()})
		}
		withES := ashaSweep(nsES, &crucible.EarlyStoppingSpec{ASHA: &crucible.ASHASpec{
			GracePeriod: 1, ReductionFactor: 3, MaxResource: 81}})
		without := ashaSweep(nsAll, nil)
		// Both with an s3 store: a trial's end then waits for its series
		// and its artifacts to be written and listed, in both sweeps.
		var mcES *minio.Client
		withES.Spec.Artifacts, mcES = s3Store(ctx, nsES)
		without.Spec.Artifacts, _ = s3Store(ctx, nsAll)
		Expect(k8sClient.Create(ctx, withES)).To(Succeed())
		Expect(k8sClient.Create(ctx, without)).To(Succeed())

		By("playing the 18 trainers as their Pods run")
		watchES := watchPodsGone(nsES)
		var wg sync.WaitGroup
		resultsES := playTrainers(ctx, nsES, 9, &wg)
		resultsAll := playTrainers(ctx, nsAll, 9, &wg)

		By("running both sweeps to Succeeded")
		withES = waitForEnd(ctx, key(nsES, withES.Name), crucible.ExperimentSucceeded, Timeout)
		without = waitForEnd(ctx, key(nsAll, without.Name), crucible.ExperimentSucceeded, Timeout)
		wg.Wait()
		podGone := watchES.result(ctx)

		By("stopping trials at a rung, and only those: the best trial runs to its end")
		best, bestLoss := "", 0.0
		trials := trialsOf(ctx, nsES)
		Expect(trials).To(HaveLen(9))
		for _, t := range trials {
			loss := valLoss(parseFloat(parameterValue(t.Spec.Parameters, "lr")), parseFloat(parameterValue(t.Spec.Parameters, "depth")), t.Spec.Seed)
			if best == "" || loss < bestLoss {
				best, bestLoss = t.Name, loss
			}
		}
		rungMessage := regexp.MustCompile(`^stopped at step (1|3|9|27|81): value \S+ at rung \d+ is worse than `)
		stopped := 0
		refusals := map[int]int{}
		rungs := map[string]int{}
		for _, t := range trials {
			res := resultsES[t.Name]
			Expect(res.err).NotTo(HaveOccurred(), "the trainer of %s", t.Name)
			// Every report the endpoint accepted, stopped or not, is in
			// the trial's metrics.jsonl, and no other.
			a := withES.Spec.Artifacts.S3
			Expect(t.Status.StepMetrics).NotTo(BeNil(), "Trial %s", t.Name)
			Expect(t.Status.StepMetrics.StoredReports).To(HaveValue(Equal(int64(res.accepted))), "Trial %s", t.Name)
			var steps []int64
			for _, l := range readSeries(ctx, mcES, a.Bucket, artifacts.StepMetricsKey(a.Prefix, withES, &t)) {
				steps = append(steps, l.Step)
			}
			Expect(steps).To(HaveLen(res.accepted), "Trial %s", t.Name)
			for i, step := range steps {
				Expect(step).To(Equal(int64(i+1)), "Trial %s", t.Name)
			}
			if t.Name == best {
				Expect(t.Status.Phase).To(Equal(crucible.TrialSucceeded), "the best trial %s: %s %s", t.Name, t.Status.Reason, t.Status.Message)
				Expect(parseFloat(t.Status.Objective)).To(BeNumerically("~", bestLoss, 1e-9))
				continue
			}
			if t.Status.Phase != crucible.TrialStopped {
				Expect(t.Status.Phase).To(Equal(crucible.TrialSucceeded), "Trial %s: %s %s", t.Name, t.Status.Reason, t.Status.Message)
				continue
			}
			stopped++
			Expect(t.Status.Reason).To(Equal(crucible.ReasonEarlyStopped))
			Expect(t.Status.Message).To(MatchRegexp(rungMessage.String()), "Trial %s", t.Name)
			rungs[rungMessage.FindStringSubmatch(t.Status.Message)[1]]++
			Expect(t.Status.CompletionTime).NotTo(BeNil())
			Expect(t.Status.Metrics).To(HaveKey("val_loss"))
			Expect(t.Status.Objective).To(Equal(t.Status.Metrics["val_loss"]))
			// 409 while the stopped trial's Pod exists. KWOK removes a
			// deleted Pod at once, without a grace period, and then its
			// token is refused first (the endpoint checks the Pod before
			// the Trial): 403, or 401 once the API server reviews the
			// token of a Pod that is gone.
			Expect(res.refusal).To(HaveOccurred(), "the trainer of stopped trial %s was never refused", t.Name)
			Expect(*res.refusal).To(Or(
				And(HaveField("StatusCode", http.StatusConflict), HaveField("Reason", endpoint.ReasonTrialEnded)),
				And(HaveField("StatusCode", http.StatusForbidden), HaveField("Message", ContainSubstring("no longer exists"))),
				And(HaveField("StatusCode", http.StatusUnauthorized), HaveField("Reason", endpoint.ReasonUnauthenticated)),
			), "the trainer of stopped trial %s", t.Name)
			refusals[res.refusal.StatusCode]++
		}
		AddReportEntry("how the trainers of stopped trials were refused", fmt.Sprintf("%v (status: trainers)", refusals))
		AddReportEntry("trials stopped at each rung", fmt.Sprintf("%v (rung: trials)", rungs))
		Expect(withES.Status.BestTrial).NotTo(BeNil())
		Expect(withES.Status.BestTrial.Name).To(Equal(best))
		Expect(withES.Status.Trials.Stopped).To(Equal(int32(stopped)))
		for _, t := range trialsOf(ctx, nsAll) {
			Expect(t.Status.Phase).To(Equal(crucible.TrialSucceeded), "without early stopping, Trial %s: %s %s", t.Name, t.Status.Reason, t.Status.Message)
			Expect(resultsAll[t.Name].err).NotTo(HaveOccurred(), "the trainer of %s", t.Name)
		}
		Expect(without.Status.BestTrial).NotTo(BeNil())
		Expect(without.Status.BestTrial.Parameters).To(Equal(withES.Status.BestTrial.Parameters))

		By("spending under half the GPU-seconds of the same sweep without early stopping")
		gpuES, gpuAll := gpuSeconds(trialsOf(ctx, nsES)), gpuSeconds(trialsOf(ctx, nsAll))
		GinkgoWriter.Printf("GPU-seconds: %.1f with ASHA (%d of 9 trials stopped), %.1f without; ratio %.2f\n",
			gpuES, stopped, gpuAll, gpuES/gpuAll)
		AddReportEntry("GPU-seconds with ASHA", fmt.Sprintf("%.1f (%d of 9 trials stopped)", gpuES, stopped))
		AddReportEntry("GPU-seconds without early stopping", fmt.Sprintf("%.1f", gpuAll))
		Expect(gpuES).To(BeNumerically("<", 0.5*gpuAll))

		By("deleting a stopped trial's Pod soon after the decision")
		// The decision's time to the microsecond is its Event's; the
		// Trial's completionTime is whole seconds.
		decided := stopEventTimes(ctx, nsES, stopped)
		var fromEvent, fromCompletion []time.Duration
		for _, t := range trials {
			if t.Status.Phase != crucible.TrialStopped {
				continue
			}
			gone, ok := podGone[t.Name]
			Expect(ok).To(BeTrue(), "the Pod of stopped trial %s was not seen deleted", t.Name)
			fromEvent = append(fromEvent, gone.Sub(decided[t.Name]))
			fromCompletion = append(fromCompletion, gone.Sub(t.Status.CompletionTime.Time))
		}
		Expect(fromEvent).NotTo(BeEmpty())
		GinkgoWriter.Printf("stop decision to Pod gone (polled every %s): from the EarlyStopped Event median %s, max %s; from completionTime (whole seconds) median %s, max %s\n",
			PollInterval, median(fromEvent), slices.Max(fromEvent), median(fromCompletion), slices.Max(fromCompletion))
		AddReportEntry("stop decision (EarlyStopped Event) to Pod gone", fmt.Sprintf("median %s, max %s over %d stopped trials, polled every %s",
			median(fromEvent).Round(time.Millisecond), slices.Max(fromEvent).Round(time.Millisecond), len(fromEvent), PollInterval))
		AddReportEntry("stop decision (completionTime, whole seconds) to Pod gone", fmt.Sprintf("median %s, max %s",
			median(fromCompletion).Round(time.Millisecond), slices.Max(fromCompletion).Round(time.Millisecond)))
	})
})

// expectStepMetricsWiring checks that the Job of trial, and its Pod, give
// the trainer the three variables, the endpoint's CA and a projected token
// for the trial's audience; it returns the URL the trainer reports to.
func expectStepMetricsWiring(ctx context.Context, ns, trial string, pod *corev1.Pod) string {
	GinkgoHelper()
	job := &batchv1.Job{}
	Expect(k8sClient.Get(ctx, key(ns, trial), job)).To(Succeed())
	url := "https://" + StepMetricsAddr + endpoint.Path(ns, trial)
	ca, err := os.ReadFile(filepath.Join(stepMetricsCertDir, "ca.crt"))
	Expect(err).NotTo(HaveOccurred())
	for what, spec := range map[string]*corev1.PodTemplateSpec{
		"the Job's template": &job.Spec.Template,
		"the Pod":            {ObjectMeta: pod.ObjectMeta, Spec: pod.Spec},
	} {
		Expect(spec.Annotations).To(HaveKeyWithValue(jobspec.StepMetricsCAAnnotation, string(ca)), what)
		var env map[string]string
		var mounts []corev1.VolumeMount
		for _, c := range spec.Spec.Containers {
			if c.Name == crucible.TrainerContainerName {
				env = map[string]string{}
				for _, e := range c.Env {
					env[e.Name] = e.Value
				}
				mounts = c.VolumeMounts
			}
		}
		Expect(env).NotTo(BeNil(), "%s has no trainer container", what)
		Expect(env).To(HaveKeyWithValue(trainer.EnvURL, url), what)
		Expect(env).To(HaveKeyWithValue(trainer.EnvCA, "/var/run/crucible/step-metrics/ca.crt"), what)
		Expect(env).To(HaveKeyWithValue(trainer.EnvTokenFile, "/var/run/crucible/step-metrics/token"), what)
		Expect(mounts).To(ContainElement(And(HaveField("MountPath", "/var/run/crucible/step-metrics"), HaveField("ReadOnly", true))), what)

		var token *corev1.ServiceAccountTokenProjection
		for _, v := range spec.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					token = s.ServiceAccountToken
				}
			}
		}
		Expect(token).NotTo(BeNil(), "%s has no projected ServiceAccount token", what)
		Expect(token.Audience).To(Equal(endpoint.Audience(ns, trial)), what)
		Expect(token.Path).To(Equal("token"), what)
	}
	return url
}

// requestTrialToken plays the kubelet: it requests a token of pod's
// ServiceAccount for audience, bound to the Pod, as a projected token is.
func requestTrialToken(ctx context.Context, pod *corev1.Pod, audience string) string {
	GinkgoHelper()
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{audience},
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		ExpirationSeconds: ptr.To[int64](3600),
	}}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: sa}}
	Expect(k8sClient.SubResource("token").Create(ctx, account, tr)).To(Succeed())
	Expect(tr.Status.Token).NotTo(BeEmpty())
	return tr.Status.Token
}

// writeToken writes token to a file of the spec's, for a trainer.Client.
func writeToken(name, token string) string {
	GinkgoHelper()
	path := filepath.Join(GinkgoT().TempDir(), name+".token")
	Expect(os.WriteFile(path, []byte(token), 0o600)).To(Succeed())
	return path
}

// newReporter is pkg/trainer's client for url, trusting the endpoint's CA.
func newReporter(url, tokenFile string) *trainer.Client {
	GinkgoHelper()
	c, err := trainer.New(trainer.Config{URL: url, CAFile: filepath.Join(stepMetricsCertDir, "ca.crt"), TokenFile: tokenFile})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// report sends one report, bounded by ReportTimeout.
func report(ctx context.Context, c *trainer.Client, step int64, metrics map[string]float64) error {
	ctx, cancel := context.WithTimeout(ctx, ReportTimeout)
	defer cancel()
	return c.Report(ctx, step, metrics)
}

// rawAnswer is the endpoint's answer to postRaw.
type rawAnswer struct {
	status int
	header http.Header
	// body is the JSON body of a refusal.
	body struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
}

// postRaw posts a report of step 1 to url with net/http, with token as the
// bearer token unless it is empty, and reads the JSON body of the answer.
func postRaw(ctx context.Context, url, token string) rawAnswer {
	GinkgoHelper()
	ca, err := os.ReadFile(filepath.Join(stepMetricsCertDir, "ca.crt"))
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM(ca)).To(BeTrue())
	hc := &http.Client{Timeout: ReportTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(`{"step": 1, "metrics": {"val_loss": 1}}`)))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	a := rawAnswer{status: resp.StatusCode, header: resp.Header}
	Expect(resp.Header.Get("Content-Type")).To(HavePrefix("application/json"), "body %q", data)
	Expect(json.Unmarshal(data, &a.body)).To(Succeed(), "body %q", data)
	GinkgoWriter.Printf("POST %s: %d %s\n", url, a.status, bytes.TrimSpace(data))
	return a
}

// expectCurve checks the recorded series of metric: n reports, every one
// kept, each value the one reported (want at its step), the last at step
// n-1.
func expectCurve(sm *crucible.StepMetrics, metric string, n int, want func(step int64) float64) {
	GinkgoHelper()
	var series *crucible.StepSeries
	for i := range sm.Series {
		if sm.Series[i].Metric == metric {
			series = &sm.Series[i]
		}
	}
	Expect(series).NotTo(BeNil(), "no series %s", metric)
	Expect(series.Reports).To(Equal(int64(n)))
	Expect(series.Points).To(HaveLen(n))
	for i, p := range series.Points {
		Expect(p.Step).To(Equal(int64(i)))
		Expect(p.Value).To(Equal(stepmetrics.FormatValue(want(p.Step))), "%s at step %d", metric, p.Step)
	}
}

// trainerResult is how a played trainer ended.
type trainerResult struct {
	// accepted is how many of its reports were accepted.
	accepted int
	// refusal is the refusal that ended it, nil if it reported every step.
	refusal *trainer.StatusError
	// err is any other error.
	err error
}

// playTrainers waits until the n trial Pods of ns run, then plays their
// trainers in the background, one goroutine each (counted by wg): steps 1 to
// ashaSteps every StepPace, val_loss falling linearly by 2 to the final
// value the KWOK trainer reports, until the endpoint refuses one (409 once
// the trial ended or was stopped). The results are complete once wg is
// done.
func playTrainers(ctx context.Context, ns string, n int, wg *sync.WaitGroup) map[string]*trainerResult {
	GinkgoHelper()
	results := map[string]*trainerResult{}
	for _, pod := range waitForRunningTrialPods(ctx, ns, n) {
		name := pod.Labels[crucible.TrialLabel]
		trial := &crucible.Trial{}
		Expect(k8sClient.Get(ctx, key(ns, name), trial)).To(Succeed())
		final := valLoss(parseFloat(parameterValue(trial.Spec.Parameters, "lr")),
			parseFloat(parameterValue(trial.Spec.Parameters, "depth")), trial.Spec.Seed)
		c := newReporter("https://"+StepMetricsAddr+endpoint.Path(ns, name),
			writeToken(ns+"-"+name, requestTrialToken(ctx, &pod, endpoint.Audience(ns, name))))
		res := &trainerResult{}
		results[name] = res
		wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			tick := time.NewTicker(StepPace)
			defer tick.Stop()
			for step := int64(1); step <= ashaSteps; step++ {
				loss := final + 2.0*float64(ashaSteps-step)/ashaSteps
				err := report(ctx, c, step, map[string]float64{"val_loss": loss})
				var se *trainer.StatusError
				switch {
				case errors.As(err, &se):
					res.refusal = se
					return
				case err != nil:
					res.err = fmt.Errorf("step %d: %w", step, err)
					return
				}
				res.accepted++
				select {
				case <-ctx.Done():
					res.err = context.Cause(ctx)
					return
				case <-tick.C:
				}
			}
		}()
	}
	return results
}

// podWatch samples a namespace's trial Pods every PollInterval and
// remembers when it first saw each one gone.
type podWatch struct {
	ns   string
	quit chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	podOf   map[string]string    // trial -> its Pod
	podGone map[string]time.Time // by trial
}

// watchPodsGone starts sampling ns until result is called, or the spec
// ends.
func watchPodsGone(ns string) *podWatch {
	w := &podWatch{ns: ns, quit: make(chan struct{}), done: make(chan struct{}),
		podOf: map[string]string{}, podGone: map[string]time.Time{}}
	go func() {
		defer GinkgoRecover()
		defer close(w.done)
		tick := time.NewTicker(PollInterval)
		defer tick.Stop()
		for {
			w.poll()
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	DeferCleanup(w.stop)
	return w
}

func (w *podWatch) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}

func (w *podWatch) poll() {
	ctx, cancel := context.WithTimeout(context.Background(), PollTimeout)
	defer cancel()
	var pods corev1.PodList
	if err := k8sClient.List(ctx, &pods, client.InNamespace(w.ns), client.HasLabels{crucible.TrialLabel}); err != nil {
		return // a busy API server: the next sample counts
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	present := map[string]bool{}
	for _, p := range pods.Items {
		present[p.Name] = true
		if _, ok := w.podOf[p.Labels[crucible.TrialLabel]]; !ok {
			w.podOf[p.Labels[crucible.TrialLabel]] = p.Name
		}
	}
	for trial, pod := range w.podOf {
		if _, ok := w.podGone[trial]; !ok && !present[pod] {
			w.podGone[trial] = now
		}
	}
}

// result waits until the Pod of every stopped Trial of the namespace is
// gone, stops the sampling and returns when each trial's Pod was first
// seen gone.
func (w *podWatch) result(ctx context.Context) map[string]time.Time {
	GinkgoHelper()
	Eventually(ctx, func(g Gomega) {
		var trials crucible.TrialList
		g.Expect(k8sClient.List(ctx, &trials, client.InNamespace(w.ns))).To(Succeed())
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, t := range trials.Items {
			if t.Status.Phase == crucible.TrialStopped {
				g.Expect(w.podGone).To(HaveKey(t.Name), "the Pod of stopped trial %s", t.Name)
			}
		}
	}, Timeout, Interval).Should(Succeed())
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.podGone)
}

// stopEventTimes waits for the EarlyStopped Events of the n stopped
// trials of ns and returns their times, by trial.
func stopEventTimes(ctx context.Context, ns string, n int) map[string]time.Time {
	GinkgoHelper()
	times := map[string]time.Time{}
	Eventually(ctx, func(g Gomega) {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, e := range list.Items {
			if e.Reason == trialcontroller.EventStopped && e.Regarding.Kind == "Trial" && !e.EventTime.IsZero() {
				times[e.Regarding.Name] = e.EventTime.Time
			}
		}
		g.Expect(times).To(HaveLen(n))
	}, Timeout, Interval).Should(Succeed())
	return times
}

// gpuSeconds is what the trials held their Pods for: the sum of
// completionTime − startTime.
func gpuSeconds(trials []crucible.Trial) float64 {
	GinkgoHelper()
	var total float64
	for _, t := range trials {
		Expect(t.Status.StartTime).NotTo(BeNil(), "Trial %s", t.Name)
		Expect(t.Status.CompletionTime).NotTo(BeNil(), "Trial %s", t.Name)
		total += t.Status.CompletionTime.Sub(t.Status.StartTime.Time).Seconds()
	}
	return total
}

// median is the middle of ds (the upper one of two), 0 when empty.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
