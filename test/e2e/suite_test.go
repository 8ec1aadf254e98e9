// Package e2e runs the operator the way a user meets it: bin/manager as a
// process of its own against a whole local cluster (make dev-cluster), with
// the real scheduler and Job controller, and KWOK Stages that play the
// trainer (test/e2e/stages). The operator can be killed and started again.
//
//	make test-e2e
//
// runs it; E2E_KUBECONFIG names another cluster's kubeconfig. The suite
// assumes it runs the only operator on that cluster, and its specs one at a
// time (no ginkgo -p: they share the one operator process).
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/framework"
)

const (
	// Timeout bounds every Eventually but the long sweep's: generous, for a
	// loaded two-core machine.
	Timeout = 2 * time.Minute
	// SweepTimeout bounds a 200-trial sweep.
	SweepTimeout = 3 * time.Minute
	// Interval is how often Eventually and Consistently poll.
	Interval = 200 * time.Millisecond
	// PollInterval is how often the background pollers sample Jobs and
	// Trials.
	PollInterval = 200 * time.Millisecond
	// PollTimeout bounds one sample of the pollers.
	PollTimeout = 10 * time.Second
	// ConsistentlyDuration is how long Consistently watches for something
	// that must not happen.
	ConsistentlyDuration = 3 * time.Second
	// StopTimeout is how long the operator has to exit on SIGTERM.
	StopTimeout = 30 * time.Second

	// e2eLabel marks the namespaces the suite creates.
	e2eLabel = "crucible.dev/e2e"
)

var (
	kubeconfig string
	managerLog string
	k8sClient  client.Client
	// manager is the running operator; nil while it is down.
	manager *framework.Manager
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End-to-end Suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	root := framework.Root()
	kubeconfig = os.Getenv("E2E_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = filepath.Join(root, ".cluster", "kubeconfig")
	}
	_, err := os.Stat(kubeconfig)
	Expect(err).NotTo(HaveOccurred(), "no kubeconfig at %s: start the cluster with make dev-cluster, or set E2E_KUBECONFIG", kubeconfig)
	cfg, err := framework.Config(kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	// Strict, as kubectl is: a field the API server would drop fails the
	// request instead of changing what the test asked for.
	k8sClient, err = client.New(cfg, client.Options{Scheme: framework.Scheme(),
		FieldValidation: metav1.FieldValidationStrict})
	Expect(err).NotTo(HaveOccurred())

	By("finding Ready nodes")
	Eventually(ctx, func(g Gomega) {
		var nodes corev1.NodeList
		g.Expect(k8sClient.List(ctx, &nodes)).To(Succeed())
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		g.Expect(ready).To(BeNumerically(">", 0), "no Ready node: is %s a make dev-cluster cluster?", kubeconfig)
	}, Timeout, Interval).Should(Succeed())

	By("installing the CRDs and the admission policy")
	Expect(framework.Install(ctx, k8sClient)).To(Succeed())
	// The API server enforces a new policy only once its informer has it.
	probe := builder.MakeExperiment("policy-probe", "default").Obj()
	probe.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "sidecar", Image: "busybox:latest"}}}}
	Eventually(ctx, func() error {
		return k8sClient.Create(ctx, probe.DeepCopy(), client.DryRunAll)
	}, Timeout, Interval).Should(MatchError(ContainSubstring("must be pinned by digest")))

	By("writing the step metrics endpoint's certificate")
	stepMetricsCertDir = filepath.Join(root, ".cluster", "step-metrics-certs")
	Expect(framework.WriteSelfSignedCert(stepMetricsCertDir)).To(Succeed())

	By("starting the operator")
	managerLog = filepath.Join(root, ".cluster", "e2e-manager.log")
	Expect(os.MkdirAll(filepath.Dir(managerLog), 0o755)).To(Succeed())
	Expect(os.WriteFile(managerLog, nil, 0o644)).To(Succeed()) // this run's log only
	startManager()
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func() {
	if manager != nil {
		Expect(manager.Stop(StopTimeout)).To(Succeed(), "the operator did not exit cleanly; log: %s", managerLog)
		manager = nil
	}
})

// The operator must still be running after every spec: a crash is a bug.
var _ = AfterEach(func() {
	if manager != nil {
		Expect(syscall.Kill(manager.Pid(), 0)).To(Succeed(), "the operator exited during the spec; log: %s", managerLog)
	}
})

// StepMetricsAddr is where the e2e operator serves step metrics.
const StepMetricsAddr = "127.0.0.1:18643"

// stepMetricsCertDir holds the endpoint's certificate, and ca.crt.
var stepMetricsCertDir string

// VerifierImage is the operator's image as the e2e operator knows it.
const VerifierImage = "registry.example.com/crucible/manager@sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"

// startManager starts the operator; the suite's manager must be down.
func startManager() {
	GinkgoHelper()
	Expect(manager).To(BeNil(), "the operator is already running")
	m, err := framework.StartManager(kubeconfig, managerLog,
		// The s3 stores of the specs run on loopback, over plain HTTP
		// (test/s3server); a deleted Experiment whose store refuses goes
		// after ArtifactDeletionTimeout.
		"--artifact-endpoints=127.0.0.1", "--artifact-allow-insecure",
		"--artifact-deletion-timeout="+ArtifactDeletionTimeout.String(),
		// Never pulled: the KWOK Stage dataset-verifier.yaml plays it.
		"--dataset-verifier-image="+VerifierImage,
		// The step metrics endpoint on loopback: the specs play the
		// trainers. Written every second, not every 10 s, so that early
		// stopping decides within a short spec.
		"--step-metrics-bind-address="+StepMetricsAddr, "--step-metrics-url=https://"+StepMetricsAddr,
		"--step-metrics-cert-dir="+stepMetricsCertDir, "--step-metrics-write-interval=1s")
	Expect(err).NotTo(HaveOccurred())
	manager = m
	logMark("started the operator, pid %d", m.Pid())
}

// killManager ends the operator with SIGKILL, as a node failure would.
func killManager() {
	GinkgoHelper()
	Expect(manager).NotTo(BeNil(), "the operator is not running")
	m := manager
	manager = nil // Kill consumes the exit status: never Stop it afterwards
	Expect(m.Kill()).To(Succeed())
	logMark("killed the operator (SIGKILL), pid %d", m.Pid())
}

// logMark appends a line to the operator's log, so that a reader can tell
// the processes apart.
func logMark(format string, args ...any) {
	f, err := os.OpenFile(managerLog, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	_, _ = fmt.Fprintf(f, "--- e2e %s: %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}

// newNamespace creates a namespace with a generated name and waits for its
// default ServiceAccount, without which no Pod is admitted. The namespace is
// deleted after a spec that passed and kept after one that failed.
func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crucible-e2e-",
		Labels: map[string]string{e2eLabel: "true"}}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	Eventually(ctx, func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{})
	}, Timeout, Interval).Should(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		if CurrentSpecReport().Failed() {
			AddReportEntry("kept namespace for debugging", ns.Name)
			return
		}
		if err := k8sClient.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			Fail(fmt.Sprintf("deleting namespace %s: %v", ns.Name, err))
		}
	})
	return ns.Name
}

// key is the object key of the Experiment name in ns.
func key(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// isTerminal reports whether phase is an end state.
func isTerminal(phase crucible.ExperimentPhase) bool {
	return phase == crucible.ExperimentSucceeded || phase == crucible.ExperimentFailed
}
