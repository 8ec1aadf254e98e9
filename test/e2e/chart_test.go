package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/leaderendpoint"
	"github.com/crucible-dev/crucible/internal/provenance"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/framework"
)

const (
	// chartRelease is the release the spec installs: its objects are
	// named crucible-e2e-..., apart from anything config/default installs.
	chartRelease = "crucible-e2e"
	// chartManager is the Deployment's and the ServiceAccount's name.
	chartManager = chartRelease + "-controller-manager"
	// chartStepMetricsAddr is where the chart's operator, run as a process,
	// serves step metrics: not the suite's operator's address.
	chartStepMetricsAddr = "127.0.0.1:18644"
	// chartPodIP plays the Pod's IP of the chart's operator.
	chartPodIP = "10.244.0.10"
	// signingKeySecret holds the provenance key the chart's values name.
	signingKeySecret = "crucible-provenance-signing-key"
	// helmTimeout bounds one helm command.
	helmTimeout = 2 * time.Minute
)

// The chart (charts/crucible) installed with bin/helm, and the operator run
// with its ServiceAccount's credentials: a rule the chart's RBAC lacks
// fails the sweep here, instead of a user's install.
var _ = Describe("The Helm chart", func() {
	It("installs, and its RBAC alone runs a verified, stored, signed sweep through a helm upgrade", SpecTimeout(8*time.Minute), func(ctx SpecContext) {
		helm := filepath.Join(framework.Root(), "bin", "helm")
		chart := filepath.Join(framework.Root(), "charts", "crucible")
		_, err := os.Stat(helm)
		Expect(err).NotTo(HaveOccurred(), "%s is missing: run make helm", helm)
		releaseNS := newNamespace(ctx)
		expNS := newNamespace(ctx)

		values := []string{
			// The e2e operator's settings (startManager): stores on
			// loopback over HTTP, a verifier image the KWOK Stage plays.
			"--set", "datasetVerifier.image=" + VerifierImage,
			"--set", "artifacts.endpoints={127.0.0.1}",
			"--set", "artifacts.allowInsecure=true",
			"--set", "artifacts.deletionTimeout=" + ArtifactDeletionTimeout.String(),
			"--set", "artifacts.credentialsNamespaces={" + expNS + "}",
			"--set", "provenance.signingKeySecret=" + signingKeySecret,
		}

		By("validating every object the chart renders, with every option on, by a server-side dry run")
		rendered := helmRun(ctx, helm, append([]string{"template", chartRelease, chart, "--namespace", releaseNS, "--include-crds",
			"-f", filepath.Join(chart, "ci", "all-on-values.yaml")}, values...)...)
		objs := decodeObjects(rendered)
		kinds := map[string]int{}
		for _, u := range objs {
			kinds[u.GetKind()]++
			u.SetManagedFields(nil)
			Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.DryRunAll,
				client.FieldOwner("crucible-e2e-chart"), client.ForceOwnership)).To(Succeed(),
				"%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
		}
		AddReportEntry("objects validated by a server-side dry run", fmt.Sprint(kinds))
		Expect(kinds).To(HaveKey("Deployment"))
		Expect(kinds).To(HaveKey("CustomResourceDefinition"))
		Expect(kinds).To(HaveKey("ValidatingAdmissionPolicyBinding"))

		By("installing the chart")
		// The suite applied the CRDs and the policies from config/ at the
		// start: Helm keeps CRDs that exist, and takes the policies over.
		// It deletes them with the release: put them back afterwards.
		DeferCleanup(func(ctx SpecContext) {
			Expect(framework.Install(ctx, k8sClient)).To(Succeed())
			waitForPolicy(ctx)
		})
		start := time.Now()
		helmRun(ctx, helm, append([]string{"install", chartRelease, chart, "--namespace", releaseNS, "--take-ownership"}, values...)...)
		DeferCleanup(func(ctx SpecContext) {
			helmRun(ctx, helm, "uninstall", chartRelease, "--namespace", releaseNS, "--wait")
		})
		dep := &appsv1.Deployment{}
		Eventually(ctx, func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(releaseNS, chartManager), dep)).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key(releaseNS, chartManager), &corev1.ServiceAccount{})).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key(releaseNS, chartManager+"-metrics-service"), &corev1.Service{})).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key("", chartRelease+"-manager-role"), &rbacv1.ClusterRole{})).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key("", chartRelease+"-manager-rolebinding"), &rbacv1.ClusterRoleBinding{})).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key(releaseNS, chartRelease+"-leader-election-role"), &rbacv1.Role{})).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key(releaseNS, chartRelease+"-provenance-key-reader"), &rbacv1.RoleBinding{})).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key(expNS, chartRelease+"-artifact-secrets"), &rbacv1.RoleBinding{})).To(Succeed())
			var policies admissionregistrationv1.ValidatingAdmissionPolicyList
			g.Expect(k8sClient.List(ctx, &policies)).To(Succeed())
			owned := 0
			for _, p := range policies.Items {
				if p.Annotations["meta.helm.sh/release-name"] == chartRelease {
					owned++
				}
			}
			g.Expect(owned).To(Equal(kinds["ValidatingAdmissionPolicy"]), "the release owns every policy")
		}, Timeout, Interval).Should(Succeed())
		AddReportEntry("helm install until every object exists", since(start))

		By("stopping the suite's operator: the chart's ServiceAccount runs the next one")
		m := manager
		manager = nil
		Expect(m.Stop(StopTimeout)).To(Succeed())
		logMark("stopped the operator for the chart spec, pid %d", m.Pid())
		DeferCleanup(startManager)

		By("requesting a token for the chart's ServiceAccount and writing its kubeconfig")
		saKubeconfig := serviceAccountKubeconfig(ctx, releaseNS, chartManager)
		saConfig, err := framework.Config(saKubeconfig)
		Expect(err).NotTo(HaveOccurred())
		saClient, err := client.New(saConfig, client.Options{Scheme: framework.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		err = saClient.List(ctx, &corev1.SecretList{}, client.InNamespace("default"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the ServiceAccount may not read Secrets outside its grants: %v", err)

		signingKey, _, err := provenance.GenerateKey()
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: signingKeySecret, Namespace: releaseNS},
			Data:       map[string][]byte{"signing-key.pem": signingKey},
		})).To(Succeed())

		chartLog := filepath.Join(framework.Root(), ".cluster", "e2e-chart-manager.log")
		Expect(os.WriteFile(chartLog, nil, 0o644)).To(Succeed())
		run := func(dep *appsv1.Deployment) *framework.Manager {
			GinkgoHelper()
			args := dep.Spec.Template.Spec.Containers[0].Args
			// The Deployment's flags, as the Pod would run them, with the
			// ports off: nothing scrapes a local process. Step metrics on
			// loopback with the suite's certificate (a local process has
			// none mounted), and a Pod's IP of its own, which the leader
			// points the chart's Service at (an EndpointSlice refuses
			// loopback; nothing reaches it on this cluster).
			pm, err := framework.StartManager(saKubeconfig, chartLog,
				append(slices.Clone(args), "--metrics-bind-address=0", "--health-probe-bind-address=0",
					"--step-metrics-bind-address="+chartStepMetricsAddr, "--step-metrics-cert-dir="+stepMetricsCertDir,
					"--step-metrics-pod-ip="+chartPodIP)...)
			Expect(err).NotTo(HaveOccurred())
			return pm
		}
		pm := run(dep)
		// A refused request fails the spec at once, not at a timeout.
		allowed := func() {
			if refused := forbiddenIn(chartLog, releaseNS, expNS); len(refused) > 0 {
				StopTrying("the chart's operator was refused a request; log: "+chartLog).
					Attach("refused", refused).Now()
			}
		}
		DeferCleanup(func() {
			if pm != nil {
				Expect(pm.Stop(StopTimeout)).To(Succeed(), "the chart's operator did not exit cleanly; log: %s", chartLog)
			}
		})

		By("holding the leader election Lease in the release's namespace")
		Eventually(ctx, func(g Gomega) {
			allowed()
			lease := &coordinationv1.Lease{}
			g.Expect(k8sClient.Get(ctx, key(releaseNS, "crucible.dev"), lease)).To(Succeed())
			g.Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).NotTo(BeEmpty())
		}, Timeout, Interval).Should(Succeed(), "log: %s", chartLog)

		By("pointing the step metrics Service at the leader, with the chart's RBAC")
		Eventually(ctx, func(g Gomega) {
			allowed()
			slice := &discoveryv1.EndpointSlice{}
			g.Expect(k8sClient.Get(ctx, key(releaseNS, leaderendpoint.SliceName(chartRelease+"-step-metrics")), slice)).To(Succeed())
			g.Expect(slice.Labels).To(HaveKeyWithValue(discoveryv1.LabelServiceName, chartRelease+"-step-metrics"))
			g.Expect(slice.Endpoints).To(HaveLen(1))
			g.Expect(slice.Endpoints[0].Addresses).To(Equal([]string{chartPodIP}))
			g.Expect(slice.Ports).To(HaveLen(1))
			g.Expect(slice.Ports[0].Name).To(HaveValue(Equal("https")))
			_, port, err := net.SplitHostPort(chartStepMetricsAddr)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(slice.Ports[0].Port).To(HaveValue(BeEquivalentTo(parseFloat(port))))
		}, Timeout, Interval).Should(Succeed(), "log: %s", chartLog)

		By("running a sweep with a verified dataset and an s3 store")
		createDataset(ctx, expNS, "datasets")
		store, _ := s3Store(ctx, expNS)
		exp := withPodAnnotations(builder.MakeExperiment("charted", expNS).Values("lr", "0.1", "0.01", "0.001", "0.0001").
			Parallelism(2).PVCDataset("datasets", "cifar10/2024-05-01", "/data").Obj(),
			map[string]string{durationAnnotation: "3s"})
		exp.Spec.Artifacts = store
		p := startPoller(expNS)
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		By("upgrading the release with other workers while a trial runs")
		Eventually(ctx, func(g Gomega) {
			allowed()
			got := &crucible.Experiment{}
			g.Expect(k8sClient.Get(ctx, key(expNS, exp.Name), got)).To(Succeed())
			g.Expect(got.Status.Trials.Active).To(BeNumerically(">", 0))
		}, Timeout, Interval).Should(Succeed(), "log: %s", chartLog)
		sa := &corev1.ServiceAccount{}
		Expect(k8sClient.Get(ctx, key(releaseNS, chartManager), sa)).To(Succeed())
		helmRun(ctx, helm, "upgrade", chartRelease, chart, "--namespace", releaseNS, "--reuse-values",
			"--set", "manager.trialWorkers=8", "--set", "manager.experimentWorkers=2")
		Expect(k8sClient.Get(ctx, key(releaseNS, chartManager), dep)).To(Succeed())
		Expect(dep.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--trial-workers=8", "--experiment-workers=2"))
		upgraded := &corev1.ServiceAccount{}
		Expect(k8sClient.Get(ctx, key(releaseNS, chartManager), upgraded)).To(Succeed())
		Expect(upgraded.UID).To(Equal(sa.UID), "the upgrade kept the ServiceAccount, and its token")

		// The rollout: the old Pod stops, the new one starts with the new args.
		old := pm
		pm = nil // Stop consumes the exit status: never Stop it twice
		Expect(old.Stop(StopTimeout)).To(Succeed(), "log: %s", chartLog)
		pm = run(dep)

		Eventually(ctx, func(g Gomega) {
			allowed()
			got := &crucible.Experiment{}
			g.Expect(k8sClient.Get(ctx, key(expNS, exp.Name), got)).To(Succeed())
			g.Expect(isTerminal(got.Status.Phase)).To(BeTrue())
		}, Timeout, Interval).Should(Succeed())
		exp = waitForEnd(ctx, key(expNS, exp.Name), crucible.ExperimentSucceeded, Timeout)
		expectEachTrialRanOnce(ctx, expNS, 4, exp.Spec.Parallelism, p)
		verified := false
		for _, c := range exp.Status.Conditions {
			if c.Type == crucible.ExperimentDatasetVerifiedCondition {
				verified = c.Status == metav1.ConditionTrue
			}
		}
		Expect(verified).To(BeTrue(), "the dataset was verified: %v", exp.Status.Conditions)
		for _, t := range trialsOf(ctx, expNS) {
			Expect(t.Status.Artifacts).NotTo(BeNil(), "Trial %s recorded its artifacts", t.Name)
			Expect(t.Status.Provenance).NotTo(BeNil(), "Trial %s has a provenance record", t.Name)
			Expect(t.Status.Provenance.KeyID).NotTo(BeEmpty(), "Trial %s's record is signed with the chart's key", t.Name)
			Expect(t.Status.Provenance.URI).To(HavePrefix("s3://"), "Trial %s's record is stored", t.Name)
		}

		By("deleting the Experiment, its artifacts with it, with the chart's RBAC")
		Expect(k8sClient.Delete(ctx, exp)).To(Succeed())
		Eventually(ctx, func(g Gomega) {
			allowed()
			err := k8sClient.Get(ctx, key(expNS, exp.Name), &crucible.Experiment{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the Experiment is still there: %v", err)
		}, Timeout, Interval).Should(Succeed())
		Expect(forbiddenIn(chartLog, releaseNS, expNS)).To(BeEmpty(), "the chart's operator was refused a request; log: %s", chartLog)
	})
})

// helmRun runs bin/helm against the e2e cluster and returns its stdout.
func helmRun(ctx context.Context, helm string, args ...string) []byte {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(ctx, helmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, helm, append(args, "--kubeconfig", kubeconfig)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "helm %s: %s", strings.Join(args, " "), stderr.String())
	return out
}

// serviceAccountKubeconfig writes a kubeconfig for the cluster of the
// suite's that authenticates as ServiceAccount ns/name, with a token from
// the TokenRequest API, and returns its path.
func serviceAccountKubeconfig(ctx context.Context, ns, name string) string {
	GinkgoHelper()
	cfg, err := framework.Config(kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		ca, err = os.ReadFile(cfg.CAFile)
		Expect(err).NotTo(HaveOccurred())
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: ca,
		InsecureSkipTLSVerify: cfg.Insecure, TLSServerName: cfg.ServerName}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: name, Namespace: ns}
	kc.CurrentContext = "e2e"
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
	return path
}

// forbiddenIn returns the lines of a log that tell of a request the API
// server refused for want of a permission, but for those about another
// spec's namespace than the spec's own namespaces: the operator reconciles
// every namespace, also those a failed spec kept, whose Secrets the chart's
// RBAC rightly does not let it read.
func forbiddenIn(logPath string, namespaces ...string) []string {
	GinkgoHelper()
	data, err := os.ReadFile(logPath)
	Expect(err).NotTo(HaveOccurred())
	var lines []string
	for l := range strings.SplitSeq(string(data), "\n") {
		if !strings.Contains(l, "forbidden") {
			continue
		}
		other := slices.ContainsFunc(e2eNamespace.FindAllString(l, -1), func(ns string) bool {
			return !slices.Contains(namespaces, ns)
		})
		if !other {
			lines = append(lines, l)
		}
	}
	return lines
}

// e2eNamespace matches the names newNamespace generates.
var e2eNamespace = regexp.MustCompile(`\bcrucible-e2e-[a-z0-9]{5}\b`)

// waitForPolicy waits until the API server enforces the admission policies
// again, as the suite does at its start.
func waitForPolicy(ctx context.Context) {
	GinkgoHelper()
	probe := builder.MakeExperiment("policy-probe", "default").Obj()
	probe.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "sidecar", Image: "busybox:latest"}}}}
	Eventually(ctx, func() error {
		return k8sClient.Create(ctx, probe.DeepCopy(), client.DryRunAll)
	}, Timeout, Interval).Should(MatchError(ContainSubstring("must be pinned by digest")))
}

// decodeObjects reads the objects of a stream of YAML documents.
func decodeObjects(data []byte) []*unstructured.Unstructured {
	GinkgoHelper()
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		Expect(err).NotTo(HaveOccurred())
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}
