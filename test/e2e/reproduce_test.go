package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/reproduce"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/framework"
)

// noiseAnnotation makes the simulated trainer add noise to val_loss
// (stages/trainer.yaml): a trainer that is not deterministic.
const noiseAnnotation = "crucible.dev/e2e-noise"

// reproduceTrial creates the reproduction of trial, as `kubectl crucible
// reproduce trial/NAME --apply` does, and waits for its verdict.
func reproduceTrial(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial, opts reproduce.Options) *crucible.Experiment {
	GinkgoHelper()
	r, err := reproduce.FromTrial(exp, trial, opts)
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, r)).To(Succeed())
	return waitForVerdict(ctx, key(r.Namespace, r.Name))
}

// waitForVerdict waits until a reproduction has ended with its verdict.
func waitForVerdict(ctx context.Context, k client.ObjectKey) *crucible.Experiment {
	GinkgoHelper()
	exp := &crucible.Experiment{}
	Eventually(ctx, func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, k, exp)).To(Succeed())
		g.Expect(exp.Status.Reproduction).NotTo(BeNil(), "phase %s", exp.Status.Phase)
	}, Timeout, Interval).Should(Succeed())
	return exp
}

func metricOutcomes(st *crucible.ReproductionStatus) map[string]crucible.MetricOutcome {
	out := map[string]crucible.MetricOutcome{}
	for _, m := range st.Metrics {
		out[m.Name] = m.Outcome
	}
	return out
}

var _ = Describe("Reproducing a trial", func() {
	It("reproduces a sweep's best trial Identical, and again from its provenance file once the Experiment is gone",
		SpecTimeout(5*time.Minute), func(ctx SpecContext) {
			ns := newNamespace(ctx)
			store, mc := s3Store(ctx, ns)
			exp := builder.MakeExperiment("sweep", ns).Values("lr", "0.1", "0.01").Values("depth", "4", "6").
				Seeds(baseSeed, 1).Parallelism(4).Obj()
			exp.Spec.Artifacts = store
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			exp = waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)
			Expect(exp.Status.BestTrial).NotTo(BeNil())
			best := &crucible.Trial{}
			Expect(k8sClient.Get(ctx, key(ns, exp.Status.BestTrial.Name), best)).To(Succeed())
			Expect(best.Spec.Parameters).To(Equal([]crucible.ParameterAssignment{{Name: "lr", Value: "0.01"}, {Name: "depth", Value: "4"}}))
			Expect(best.Status.Provenance).NotTo(BeNil())

			By("reproducing the trial that still exists")
			got := reproduceTrial(ctx, exp, best, reproduce.Options{})
			v := got.Status.Reproduction
			Expect(v.Verdict).To(Equal(crucible.VerdictIdentical), "%+v", v)
			Expect(metricOutcomes(v)).To(Equal(map[string]crucible.MetricOutcome{"val_loss": crucible.MetricEqual, "accuracy": crucible.MetricEqual}))
			Expect(got.Status.Phase).To(Equal(crucible.ExperimentSucceeded))
			Expect(got.Status.Trials.Total).To(Equal(int32(1)))
			repro := &crucible.Trial{}
			Expect(k8sClient.Get(ctx, key(ns, v.Trial), repro)).To(Succeed())
			Expect(repro.Spec.Seed).To(Equal(best.Spec.Seed))
			Expect(repro.Status.Provenance).NotTo(BeNil(), "a reproduction has its own provenance record")

			By("keeping the original's provenance record, then deleting its Experiment")
			record := filepath.Join(GinkgoT().TempDir(), "provenance.intoto.jsonl")
			obj, err := mc.GetObject(ctx, store.S3.Bucket, artifacts.ProvenanceKey(store.S3.Prefix, exp, best), minio.GetObjectOptions{})
			Expect(err).NotTo(HaveOccurred())
			data, err := io.ReadAll(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(record, data, 0o600)).To(Succeed())
			Expect(k8sClient.Delete(ctx, exp, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
			Eventually(ctx, func() error {
				return k8sClient.Get(ctx, key(ns, best.Name), &crucible.Trial{})
			}, Timeout, Interval).Should(Satisfy(apierrors.IsNotFound), "the original Trial is gone")

			By("reproducing it from the file alone, with the user's command")
			cli := exec.CommandContext(ctx, filepath.Join(framework.Root(), "bin", "kubectl-crucible"),
				"reproduce", "--from", record, "--allow-unsigned", "--apply", "--wait", "--timeout=2m",
				"--name", "from-record", "-n", ns)
			cli.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
			var out bytes.Buffer
			cli.Stdout, cli.Stderr = &out, &out
			Expect(cli.Run()).To(Succeed(), "kubectl crucible reproduce --from:\n%s", out.String())
			Expect(out.String()).To(ContainSubstring("reproduction from-record: Identical"))
			fromRecord := waitForVerdict(ctx, key(ns, "from-record"))
			Expect(fromRecord.Status.Reproduction.Verdict).To(Equal(crucible.VerdictIdentical))
			Expect(fromRecord.Spec.Reproduces.ProvenanceDigest).To(Equal(best.Status.Provenance.Digest))
			Expect(fromRecord.Spec.Reproduces.Trial.UID).To(Equal(string(best.UID)))
		})

	It("says Differs for a trainer that adds noise, naming the metric, and WithinTolerance when a tolerance covers it",
		SpecTimeout(4*time.Minute), func(ctx SpecContext) {
			ns := newNamespace(ctx)
			const amplitude = "0.01"
			exp := withPodAnnotations(builder.MakeExperiment("noisy", ns).Values("lr", "0.01").Values("depth", "4").
				Seeds(baseSeed, 1).Obj(), map[string]string{noiseAnnotation: amplitude})
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			exp = waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)
			trials := trialsOf(ctx, ns)
			Expect(trials).To(HaveLen(1))
			orig := &trials[0]
			Expect(parseFloat(orig.Status.Metrics["val_loss"])).To(BeNumerically(">", valLoss(0.01, 4, baseSeed)), "the trainer added noise")

			By("reproducing it exactly")
			v := reproduceTrial(ctx, exp, orig, reproduce.Options{Name: "noisy-exact"}).Status.Reproduction
			Expect(v.Verdict).To(Equal(crucible.VerdictDiffers), "%+v", v)
			Expect(metricOutcomes(v)).To(HaveKeyWithValue("val_loss", crucible.MetricDiffers))
			Expect(v.Message).To(And(ContainSubstring("val_loss differs: "), ContainSubstring("original "+orig.Status.Metrics["val_loss"])))

			By("reproducing it with tolerances that cover the noise")
			tol := []crucible.MetricTolerance{{Metric: "val_loss", Absolute: amplitude}, {Metric: "accuracy", Absolute: "0.001"}}
			v = reproduceTrial(ctx, exp, orig, reproduce.Options{Name: "noisy-tolerant", Tolerances: tol}).Status.Reproduction
			Expect(v.Verdict).To(Equal(crucible.VerdictWithinTolerance), "%+v", v)
			Expect(metricOutcomes(v)).To(Equal(map[string]crucible.MetricOutcome{
				"val_loss": crucible.MetricWithinTolerance, "accuracy": crucible.MetricWithinTolerance}))
			Expect(strings.Count(v.Message, "within tolerance")).To(Equal(2))
		})
})
