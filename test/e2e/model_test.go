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
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/framework"
)

// trainDuration is how long each simulated trainer of the model spec runs
// once its Pod is Running: ample time for the spec to write the best
// trial's outputs under its prefix before the operator lists them.
const trainDuration = 15 * time.Second

// storedObjects lists the objects under key prefix of bucket: each key,
// relative to prefix, with its size and ETag.
func storedObjects(ctx context.Context, mc *minio.Client, bucket, prefix string) []artifacts.Object {
	GinkgoHelper()
	var objs []artifacts.Object
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		Expect(o.Err).NotTo(HaveOccurred())
		objs = append(objs, artifacts.Object{Key: strings.TrimPrefix(o.Key, prefix), Size: o.Size, ETag: strings.Trim(o.ETag, `"`)})
	}
	return objs
}

var _ = Describe("Models", func() {
	It("promotes the demo's best trial, prunes the Experiment's Trials with retention, and reads the champion's URI",
		SpecTimeout(5*time.Minute), func(ctx SpecContext) {
			ns := newNamespace(ctx)
			store, mc := s3Store(ctx, ns)
			bucket := store.S3.Bucket
			exp := withPodAnnotations(builder.MakeExperiment("sweep", ns).Values("lr", "0.1", "0.01").
				Seeds(baseSeed, 1).Parallelism(2).Obj(), map[string]string{durationAnnotation: trainDuration.String()})
			exp.Spec.Artifacts = store
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())

			By("writing the outputs of the trial that will be best while it trains, as a trainer does")
			// The simulated trainers write nothing. lr=0.01 is the best
			// point (stages/README.md); its outputs go under its
			// CRUCIBLE_ARTIFACT_URI before it ends, so the manifest the
			// operator records when it ends lists them.
			var best crucible.Trial
			Eventually(ctx, func(g Gomega) {
				var list crucible.TrialList
				g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
				for _, t := range list.Items {
					if parameterValue(t.Spec.Parameters, "lr") == "0.01" {
						best = t
					}
				}
				g.Expect(best.Name).NotTo(BeEmpty())
			}, Timeout, Interval).Should(Succeed())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), exp)).To(Succeed())
			trialPrefix := artifacts.TrialKeyPrefix(store.S3.Prefix, exp, &best)
			outputs := map[string]string{
				"model.safetensors":   strings.Repeat("w", 64<<10),
				"config.json":         `{"arch":"resnet50","classes":10}`,
				"tokenizer/vocab.txt": "cat\ndog\n",
			}
			var outputBytes int64
			for name, data := range outputs {
				_, err := mc.PutObject(ctx, bucket, trialPrefix+name, strings.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
				Expect(err).NotTo(HaveOccurred())
				outputBytes += int64(len(data))
			}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&best), &best)).To(Succeed())
			Expect(best.Status.Artifacts).To(BeNil(), "trial %s ended (%s) before its outputs were written: raise trainDuration",
				best.Name, best.Status.Phase)

			exp = waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)
			Expect(exp.Status.BestTrial).NotTo(BeNil())
			Expect(exp.Status.BestTrial.Name).To(Equal(best.Name))
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&best), &best)).To(Succeed())
			Expect(best.Status.Artifacts).NotTo(BeNil())
			Expect(best.Status.Artifacts.Objects).To(HaveValue(BeNumerically("==", len(outputs))))
			Expect(best.Status.Artifacts.Bytes).To(HaveValue(Equal(outputBytes)))
			recorded := best.Status.Artifacts.ManifestDigest
			Expect(recorded).To(Equal(artifacts.NewManifest(storedObjects(ctx, mc, bucket, trialPrefix)).Digest))

			By("promoting it with the user's command, as the champion of model resnet")
			start := time.Now()
			cli := exec.CommandContext(ctx, filepath.Join(framework.Root(), "bin", "kubectl-crucible"),
				"promote", "trial/"+best.Name, "--model", "resnet", "--alias", "champion",
				"--description", "the demo's best trial", "-n", ns)
			cli.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
			var out bytes.Buffer
			cli.Stdout, cli.Stderr = &out, &out
			Expect(cli.Run()).To(Succeed(), "kubectl crucible promote:\n%s", out.String())
			Expect(out.String()).To(Equal("model.crucible.dev/resnet created\n" +
				"modelversion.crucible.dev/resnet-v1 created\n" +
				"model.crucible.dev/resnet alias champion → v1\n"))

			mv := &crucible.ModelVersion{}
			Eventually(ctx, func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key(ns, "resnet-v1"), mv)).To(Succeed())
				g.Expect(mv.Status.Phase).To(Equal(crucible.ModelVersionReady), "conditions %+v", mv.Status.Conditions)
			}, Timeout, Interval).Should(Succeed())
			ready := meta.FindStatusCondition(mv.Status.Conditions, crucible.ModelVersionReadyCondition)
			Expect(ready).NotTo(BeNil())
			Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			Expect(ready.Reason).To(Equal(crucible.ReasonVerified))
			Expect(mv.Spec.Source.TrialUID).To(Equal(string(best.UID)))
			Expect(mv.Spec.Source.SpecDigest).To(Equal(exp.Status.SpecDigest))
			Expect(mv.Spec.Objective).To(Equal(crucible.ModelObjective{Metric: "val_loss", Value: best.Status.Objective}))
			Expect(mv.Spec.Artifacts.ManifestDigest).To(Equal(recorded))
			Expect(mv.Spec.Store).To(Equal(store.S3))
			modelPrefix := store.S3.Prefix + "/" + ns + "/models/resnet/v1/"
			Expect(mv.Status.Artifacts).NotTo(BeNil())
			Expect(mv.Status.Artifacts.URI).To(Equal(artifacts.S3URI(bucket, modelPrefix)))
			Expect(mv.Status.Artifacts.ManifestDigest).To(Equal(recorded), "the copy's digest is the trial's")

			model := &crucible.Model{}
			Eventually(ctx, func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key(ns, "resnet"), model)).To(Succeed())
				g.Expect(model.Status.Aliases).To(HaveKey("champion"))
				g.Expect(model.Status.Aliases["champion"].URI).NotTo(BeEmpty())
				g.Expect(meta.IsStatusConditionTrue(model.Status.Conditions, crucible.ModelReadyCondition)).To(BeTrue(),
					"conditions %+v", model.Status.Conditions)
			}, Timeout, Interval).Should(Succeed())
			AddReportEntry("promotion, from the command to a Ready champion", since(start))
			champion := model.Status.Aliases["champion"]
			Expect(champion).To(Equal(crucible.ResolvedAlias{Version: 1, ModelVersion: "resnet-v1", Ready: true,
				URI: artifacts.S3URI(bucket, modelPrefix), ManifestDigest: recorded, Objective: best.Status.Objective}))
			Expect(model.Spec.Description).To(Equal("the demo's best trial"))
			Expect(model.Status.LatestVersion).To(Equal(int32(1)))
			Expect(model.Status.History).To(HaveLen(1))
			move := model.Status.History[0]
			Expect(move.Alias).To(Equal("champion"))
			Expect(move.From).To(BeZero())
			Expect(move.To).To(Equal(int32(1)))
			Expect(move.Manager).To(Equal("kubectl-crucible"), "the field manager of promote's alias patch")

			By("pruning the Experiment's Trials and their artifacts with retention")
			patch := client.MergeFrom(exp.DeepCopy())
			exp.Spec.Retention = &crucible.RetentionSpec{
				Trials:    crucible.TrialRetention{KeepBest: ptr.To[int32](0), Failed: crucible.FailedDelete},
				Artifacts: crucible.ArtifactRetention{KeepBest: ptr.To[int32](0), Failed: crucible.FailedDelete},
			}
			Expect(k8sClient.Patch(ctx, exp, patch)).To(Succeed())
			Eventually(ctx, func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), exp)).To(Succeed())
				g.Expect(meta.IsStatusConditionTrue(exp.Status.Conditions, crucible.ExperimentCollectedCondition)).To(BeTrue(),
					"conditions %+v", exp.Status.Conditions)
				var list crucible.TrialList
				g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
				g.Expect(list.Items).To(BeEmpty())
			}, Timeout, Interval).Should(Succeed())
			Expect(storedObjects(ctx, mc, bucket, trialPrefix)).To(BeEmpty(), "retention deleted the trial's own copy")

			By("reading the champion's URI as a serving system would, and listing its objects")
			uri, stderr, code := kubectl(ctx, "get", "model", "resnet", "-n", ns, "-o", "jsonpath={.status.aliases.champion.uri}")
			Expect(code).To(BeZero(), stderr)
			Expect(uri).To(Equal(champion.URI))
			uriBucket, prefix, ok := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
			Expect(ok).To(BeTrue(), "uri %q", uri)
			Expect(uriBucket).To(Equal(bucket))
			copied := storedObjects(ctx, mc, bucket, prefix)
			sizes := map[string]int64{}
			for _, o := range copied {
				sizes[o.Key] = o.Size
			}
			want := map[string]int64{}
			for name, data := range outputs {
				want[name] = int64(len(data))
			}
			Expect(sizes).To(Equal(want))
			Expect(artifacts.NewManifest(copied).Digest).To(Equal(recorded))
			obj, err := mc.GetObject(ctx, bucket, prefix+"config.json", minio.GetObjectOptions{})
			Expect(err).NotTo(HaveOccurred())
			data, err := io.ReadAll(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(data)).To(Equal(outputs["config.json"]))

			By("listing models and versions the way the README does")
			models, stderr, code := kubectl(ctx, "get", "models", "-n", ns)
			Expect(code).To(BeZero(), stderr)
			Expect(models).To(MatchRegexp(`(?m)^resnet\s+1\s+1\s+True\s`))
			versions, stderr, code := kubectl(ctx, "get", "modelversions", "-n", ns, "-l", crucible.ModelLabel+"=resnet")
			Expect(code).To(BeZero(), stderr)
			Expect(versions).To(MatchRegexp(`(?m)^resnet-v1\s+resnet\s+1\s+Ready\s+` + strings.ReplaceAll(best.Status.Objective, ".", `\.`) + `\s`))

			By("refusing to delete the version the champion points at")
			_, stderr, code = kubectl(ctx, "delete", "modelversion", "resnet-v1", "-n", ns)
			Expect(code).NotTo(BeZero(), "deleting an aliased version was allowed")
			Expect(stderr).To(ContainSubstring("champion"))
			Expect(k8sClient.Get(ctx, key(ns, "resnet-v1"), mv)).To(Succeed())
			Expect(mv.DeletionTimestamp).To(BeNil())
		})
})
