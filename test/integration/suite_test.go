// Package integration runs the operator's controllers against a real
// kube-apiserver and etcd (envtest). There is no Job controller or kubelet:
// the tests play them, writing Job and Pod status the way Job validation
// demands.
package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/test/builder"
)

const (
	// Timeout bounds every Eventually.
	Timeout = 30 * time.Second
	// Interval is how often Eventually and Consistently poll.
	Interval = 100 * time.Millisecond
	// ConsistentlyDuration is how long Consistently watches for something
	// that must not happen.
	ConsistentlyDuration = 2 * time.Second
)

var (
	cfg       *rest.Config
	k8sClient client.Client
	testEnv   *envtest.Environment
	scheme    = runtime.NewScheme()
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Integration Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(crucible.AddToScheme(scheme))

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "starting envtest: is KUBEBUILDER_ASSETS set? `make test-integration` sets it")
	cfg.QPS, cfg.Burst = -1, -1
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	installPolicy(filepath.Join("..", "..", "config", "policy", "experiment-pins.yaml"))
	installPolicy(filepath.Join("..", "..", "config", "policy", "experiment-permissions.yaml"))
	installPolicy(filepath.Join("..", "..", "config", "policy", "experiment-pod-security.yaml"))
	installPolicy(filepath.Join("..", "..", "config", "policy", "experiment-template.yaml"))
	installPolicy(filepath.Join("..", "..", "config", "policy", "trial-record.yaml"))
	installPolicy(filepath.Join("..", "..", "config", "policy", "modelversion-aliased.yaml"))
	installPolicy(filepath.Join("..", "..", "config", "policy", "modelversion-permissions.yaml"))
	waitForExperimentPolicy()
})

// installPolicy creates the admission policies and bindings of one file.
// The API server enforces them a moment later.
func installPolicy(path string) {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		if len(u.Object) == 0 {
			continue
		}
		Expect(k8sClient.Create(context.Background(), u)).To(Succeed())
	}
}

// waitForExperimentPolicy waits until the API server enforces
// crucible-experiment-pins, which most specs rely on.
func waitForExperimentPolicy() {
	probe := builder.MakeExperiment("policy-probe", "default").Obj()
	probe.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "sidecar", Image: "busybox:latest"}}}}
	Eventually(func() error {
		return k8sClient.Create(context.Background(), probe, client.DryRunAll)
	}, Timeout, Interval).Should(MatchError(ContainSubstring("must be pinned by digest")))
}

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// managerOptions are the controllers' options in most specs: a few workers,
// and the tests' S3 servers (versitygw on loopback, in plain HTTP) allowed.
// verifierImage is the operator's image as the tests' manager knows it.
const verifierImage = "registry.example.com/crucible/manager@sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"

func managerOptions() controller.Options {
	return controller.Options{ExperimentWorkers: 2, TrialWorkers: 4,
		ArtifactEndpoints: []string{"127.0.0.1"}, ArtifactAllowInsecure: true,
		DatasetVerifier: jobspec.Verifier{Image: verifierImage}}
}

// startManager starts a manager with the production wiring and
// managerOptions, and returns a function that stops it and waits until it
// has stopped.
func startManager() (stop func()) { return startManagerWith(managerOptions()) }

// startManagerWith starts a manager with the production wiring and o, and
// returns a function that stops it and waits until it has stopped.
func startManagerWith(o controller.Options) (stop func()) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controller.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Tests start several managers in one process, one after another.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	Expect(controller.Setup(ctx, mgr, o)).To(Succeed())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	return func() {
		cancel()
		Eventually(done, Timeout, Interval).Should(BeClosed())
	}
}

// newNamespace creates a namespace with a generated name.
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crucible-test-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}
