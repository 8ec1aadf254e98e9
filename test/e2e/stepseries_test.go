package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/stepmetrics/endpoint"
	"github.com/crucible-dev/crucible/test/builder"
)

// seriesLine is a line of metrics.jsonl as the README documents it.
type seriesLine struct {
	Step    int64              `json:"step"`
	Metrics map[string]float64 `json:"metrics"`
}

var _ = Describe("The full series of step metrics", func() {
	It("goes to metrics.jsonl under the trial's prefix, every report once, across a SIGKILL of the operator", SpecTimeout(4*time.Minute), func(ctx SpecContext) {
		ns := newNamespace(ctx)
		store, mc := s3Store(ctx, ns)
		exp := withPodAnnotations(builder.MakeExperiment("series", ns).
			Values("lr", "0.01").Seeds(baseSeed, 1).Parallelism(1).Obj(),
			map[string]string{durationAnnotation: "60s"})
		exp.Spec.Artifacts = store
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		Expect(k8sClient.Get(ctx, key(ns, exp.Name), exp)).To(Succeed())

		By("reporting steps 0 to 149 as the trial's trainer")
		pod := waitForRunningTrialPods(ctx, ns, 1)[0]
		name := pod.Labels[crucible.TrialLabel]
		trial := &crucible.Trial{}
		Expect(k8sClient.Get(ctx, key(ns, name), trial)).To(Succeed())
		url := expectStepMetricsWiring(ctx, ns, name, &pod)
		reporter := newReporter(url, writeToken(name, requestTrialToken(ctx, &pod, endpoint.Audience(ns, name))))
		lossAt := func(step int64) float64 { return 1 / (1 + 0.01*float64(step)) }
		metricsAt := func(step int64) map[string]float64 {
			return map[string]float64{"val_loss": lossAt(step), "lr": 0.01 * float64(step%7)}
		}
		start := time.Now()
		for step := range int64(150) {
			Expect(report(ctx, reporter, step, metricsAt(step))).To(Succeed(), "step %d", step)
		}
		AddReportEntry("150 reports accepted", since(start))

		By("writing them in chunks beside the trial's prefix, outside its artifacts, and to the curve, while it runs")
		chunks := artifacts.StepChunksPrefix(store.S3.Prefix, exp, trial)
		Eventually(ctx, func(g Gomega) {
			g.Expect(seriesSteps(ctx, g, mc, store.S3.Bucket, chunks)).To(HaveLen(150))
			// The curve too, so that the kill loses nothing: each is
			// written within an interval of its own, and a kill loses
			// what either has not written yet.
			g.Expect(k8sClient.Get(ctx, key(ns, name), trial)).To(Succeed())
			g.Expect(trial.Status.StepMetrics).NotTo(BeNil())
			g.Expect(trial.Status.StepMetrics.Reports).To(Equal(int64(150)))
		}, Timeout, Interval).Should(Succeed())
		var objects int
		for o := range mc.ListObjects(ctx, store.S3.Bucket, minio.ListObjectsOptions{Prefix: artifacts.TrialKeyPrefix(store.S3.Prefix, exp, trial), Recursive: true}) {
			Expect(o.Err).NotTo(HaveOccurred())
			objects++
		}
		Expect(objects).To(BeZero(), "objects under the trial's prefix while it runs")

		By("killing the operator with SIGKILL and starting it again")
		killManager()
		startManager()

		By("reporting steps 150 to 199 to the new operator")
		Eventually(ctx, func() error { return report(ctx, reporter, 150, metricsAt(150)) }, Timeout, Interval).Should(Succeed())
		for step := int64(151); step < 200; step++ {
			Expect(report(ctx, reporter, step, metricsAt(step))).To(Succeed(), "step %d", step)
		}

		By("joining the chunks into metrics.jsonl when the trial ends, before its manifest")
		waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)
		Expect(k8sClient.Get(ctx, key(ns, name), trial)).To(Succeed())
		sm := trial.Status.StepMetrics
		Expect(sm).NotTo(BeNil())
		dst := artifacts.StepMetricsKey(store.S3.Prefix, exp, trial)
		Expect(sm.URI).To(Equal(artifacts.S3URI(store.S3.Bucket, dst)))
		Expect(sm.Reports).To(Equal(int64(200)))
		Expect(sm.StoredReports).To(HaveValue(Equal(int64(200))))

		lines := readSeries(ctx, mc, store.S3.Bucket, dst)
		Expect(lines).To(HaveLen(200))
		for i, l := range lines {
			Expect(l.Step).To(Equal(int64(i)), "line %d", i)
			Expect(l.Metrics).To(Equal(metricsAt(l.Step)), "step %d", l.Step)
		}
		Expect(seriesSteps(ctx, Default, mc, store.S3.Bucket, chunks)).To(BeEmpty(), "chunks left after the join")

		By("counting metrics.jsonl among the trial's artifacts, in its manifest")
		a := trial.Status.Artifacts
		Expect(a).NotTo(BeNil())
		Expect(a.Objects).To(HaveValue(Equal(int64(1))))
		info, err := mc.StatObject(ctx, store.S3.Bucket, dst, minio.StatObjectOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Bytes).To(HaveValue(Equal(info.Size)))
		Expect(a.ManifestDigest).To(Equal(artifacts.NewManifest([]artifacts.Object{
			{Key: artifacts.StepMetricsFile, Size: info.Size, ETag: info.ETag}}).Digest))
		AddReportEntry("metrics.jsonl", fmt.Sprintf("200 lines, %d bytes", info.Size))

		out, _, code := kubectl(ctx, "get", "trial", name, "-n", ns, "-o", "yaml")
		Expect(code).To(BeZero())
		Expect(out).To(ContainSubstring("uri: " + sm.URI))
		Expect(out).To(MatchRegexp(`(?m)^\s+storedReports: 200$`))
	})
})

// seriesSteps lists the chunks under prefix and returns the steps of their
// lines, in the order of their keys.
func seriesSteps(ctx context.Context, g Gomega, mc *minio.Client, bucket, prefix string) []int64 {
	var steps []int64
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		g.Expect(o.Err).NotTo(HaveOccurred())
		g.Expect(o.Key).To(MatchRegexp(`/\d{13}\.jsonl$`))
		for _, l := range readSeries(ctx, mc, bucket, o.Key) {
			steps = append(steps, l.Step)
		}
	}
	return steps
}

// readSeries reads the lines of a series object, each a whole line of the
// documented shape.
func readSeries(ctx context.Context, mc *minio.Client, bucket, key string) []seriesLine {
	GinkgoHelper()
	obj, err := mc.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	Expect(err).NotTo(HaveOccurred())
	data, err := io.ReadAll(obj)
	Expect(err).NotTo(HaveOccurred())
	Expect(obj.Close()).To(Succeed())
	var lines []seriesLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var l seriesLine
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		Expect(dec.Decode(&l)).To(Succeed(), "line %q of %s", sc.Text(), key)
		lines = append(lines, l)
	}
	Expect(sc.Err()).NotTo(HaveOccurred())
	Expect(data).To(Or(BeEmpty(), HaveSuffix("\n")))
	return lines
}
