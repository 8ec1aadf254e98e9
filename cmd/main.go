// Command manager runs the Crucible operator: the Experiment and Trial
// controllers, their cache, metrics and health probes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller"
	"github.com/crucible-dev/crucible/internal/controller/experiment"
	"github.com/crucible-dev/crucible/internal/controller/steps"
	"github.com/crucible-dev/crucible/internal/controller/store"
	"github.com/crucible-dev/crucible/internal/controller/trial"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/internal/provenance"

	// Mozilla's root CAs, compiled in and used only when the system has
	// none: the image (make image) is built from scratch with no CA bundle,
	// so TLS to S3 stores verifies against these, pinned by go.sum and the
	// same on every build machine. A bundle mounted at /etc/ssl/certs, or
	// named by SSL_CERT_FILE, takes precedence.
	_ "golang.org/x/crypto/x509roots/fallback"
)

var scheme = runtime.NewScheme()

// verifierImageEnv names the variable the manager's Deployment sets to its
// own image (config/manager), the default of --dataset-verifier-image.
const verifierImageEnv = "CRUCIBLE_DATASET_VERIFIER_IMAGE"

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(crucible.AddToScheme(scheme))
}

type options struct {
	metricsAddr          string
	secureMetrics        bool
	probeAddr            string
	pprofAddr            string
	leaderElect          bool
	experimentWorkers    int
	trialWorkers         int
	kubeAPIQPS           float64
	kubeAPIBurst         int
	leaderElectionNSName string
	artifactDeletion     time.Duration
	artifactEndpoints    []string
	artifactInsecure     bool
	artifactTimeout      time.Duration
	artifactMaxObjects   int64
	verifierImage        string
	verifierDeadline     time.Duration
	provenanceKey        string
	stepMetricsAddr      string
	stepMetricsURL       string
	stepMetricsCertDir   string
	stepMetricsInterval  time.Duration
	stepMetricsService   string
	stepMetricsPodIP     string
}

// version is the operator's version, set at build time
// (-ldflags "-X main.version=..."); trials' provenance records name it.
var version = "dev"

func main() {
	// The image's second entry point: the dataset verifier, which runs in
	// an Experiment's namespace, not as the operator.
	if len(os.Args) > 2 && os.Args[1] == "dataset" && os.Args[2] == "verify" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := datasetVerify(ctx, os.Args[3:], os.Stderr)
		stop()
		os.Exit(code)
	}
	// The third: the dashboard (config/dashboard), with its own
	// read-only ServiceAccount.
	if len(os.Args) > 1 && os.Args[1] == "dashboard" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := dashboardMain(ctx, os.Args[2:], os.Stderr)
		stop()
		os.Exit(code)
	}
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", "Address of the metrics endpoint; \"0\" turns it off.")
	flag.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the health probes.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "Address of Go's pprof endpoints, for profiling; \"0\" turns them off.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	flag.StringVar(&o.leaderElectionNSName, "leader-election-namespace", "", "Namespace of the leader election lease; the in-cluster namespace when empty.")
	flag.IntVar(&o.experimentWorkers, "experiment-workers", 4, "Experiments reconciled at once.")
	flag.IntVar(&o.trialWorkers, "trial-workers", 32, "Trials reconciled at once.")
	flag.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 50, "Queries per second to the API server; a negative value turns client rate limiting off.")
	flag.IntVar(&o.kubeAPIBurst, "kube-api-burst", 100, "Burst of queries to the API server.")
	flag.Func(store.FlagEndpoints, "Comma-separated s3 endpoints Experiments may name: host (any port), host:port, "+
		"*.domain[:port] (its subdomains), or * (any). None when unset.", func(s string) error {
		for e := range strings.SplitSeq(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				o.artifactEndpoints = append(o.artifactEndpoints, e)
			}
		}
		return nil
	})
	flag.BoolVar(&o.artifactInsecure, store.FlagAllowInsecure, false, "Allow s3 stores over plain HTTP (spec.artifacts.s3.insecure).")
	flag.DurationVar(&o.artifactTimeout, "artifact-store-timeout", artifacts.DefaultTimeout,
		"Bound on each call to an artifact store (one trial's listing, one deletion), retries included.")
	flag.Int64Var(&o.artifactMaxObjects, "artifact-max-objects-per-trial", artifacts.DefaultMaxObjects,
		"Most objects a trial's artifact manifest counts; a trial with more fails.")
	flag.DurationVar(&o.artifactDeletion, "artifact-deletion-timeout", experiment.DefaultArtifactDeletionTimeout,
		"How long after an Experiment was deleted its artifacts are tried to be deleted; past it the Experiment goes and they are left in the store.")
	flag.StringVar(&o.verifierImage, "dataset-verifier-image", os.Getenv(verifierImageEnv),
		"Image of the Job that verifies an Experiment's dataset: the operator's own, which runs it as /manager dataset verify. "+
			"Defaults to $"+verifierImageEnv+"; without it, Experiments that verify a dataset fail.")
	flag.DurationVar(&o.verifierDeadline, "dataset-verifier-deadline", experiment.DefaultVerifierDeadline,
		"How long a dataset verifier Job may run before verification fails.")
	flag.StringVar(&o.provenanceKey, "provenance-signing-key", "",
		"Secret <namespace>/<name> whose key "+provenanceKeyField+" holds the ed25519 private key (PKCS#8 PEM) that signs trials' "+
			"provenance records; they are unsigned, and say so, when empty.")
	flag.StringVar(&o.stepMetricsAddr, "step-metrics-bind-address", "0",
		"Address of the HTTPS endpoint trainers report step metrics to; \"0\" turns it off.")
	flag.StringVar(&o.stepMetricsURL, "step-metrics-url", "",
		"Base URL trainers reach the step metrics endpoint at (CRUCIBLE_METRICS_URL), such as https://crucible-step-metrics.crucible-system.svc:9443.")
	flag.StringVar(&o.stepMetricsCertDir, "step-metrics-cert-dir", "",
		"Directory with the step metrics endpoint's tls.crt and tls.key, and ca.crt, the authority trainers check it against.")
	flag.DurationVar(&o.stepMetricsInterval, "step-metrics-write-interval", steps.DefaultInterval,
		"Least time between two writes of a trial's step metrics to its status.")
	flag.StringVar(&o.stepMetricsService, "step-metrics-service", "",
		"Service <namespace>/<name>, without a selector, that the leader points at itself with an EndpointSlice (port https), "+
			"so that trainers reach the replica that serves step metrics; none when empty.")
	flag.StringVar(&o.stepMetricsPodIP, "step-metrics-pod-ip", os.Getenv("POD_IP"),
		"This Pod's IP, which --step-metrics-service points at; defaults to $POD_IP.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS = float32(o.kubeAPIQPS)
	cfg.Burst = o.kubeAPIBurst

	signer, err := loadSigner(ctx, cfg, o.provenanceKey)
	if err != nil {
		return err
	}
	stepMetrics, err := stepMetricsOptions(o)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controller.CacheOptions(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "crucible.dev",
		LeaderElectionNamespace: o.leaderElectionNSName,
		// Every reconcile is idempotent, so a new leader may start at once.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := controller.Setup(ctx, mgr, controller.Options{
		ExperimentWorkers: o.experimentWorkers,
		TrialWorkers:      o.trialWorkers,

		ArtifactDeletionTimeout: o.artifactDeletion,

		ArtifactEndpoints:          o.artifactEndpoints,
		ArtifactAllowInsecure:      o.artifactInsecure,
		ArtifactStoreTimeout:       o.artifactTimeout,
		ArtifactMaxObjectsPerTrial: o.artifactMaxObjects,

		DatasetVerifier: jobspec.Verifier{Image: o.verifierImage, Deadline: metav1.Duration{Duration: o.verifierDeadline}},
		Provenance: trial.Provenance{
			Builder: provenance.Builder{ID: trial.DefaultBuilderID, Version: version},
			Signer:  signer,
		},
		StepMetrics: stepMetrics,
	}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	ctrl.Log.Info("starting manager")
	return mgr.Start(ctx)
}

func metricsOptions(o options) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics}
	if o.secureMetrics {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

// provenanceKeyField is the key of the signing key's Secret that holds it.
const provenanceKeyField = "signing-key.pem"

// loadSigner reads the provenance signing key from the Secret ref names,
// "<namespace>/<name>"; nil without one. The Secret is read once, at
// start: a rotated key takes a restart.
func loadSigner(ctx context.Context, cfg *rest.Config, ref string) (*provenance.Signer, error) {
	if ref == "" {
		return nil, nil
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("--provenance-signing-key %q: want <namespace>/<name> of a Secret", ref)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("reading the provenance signing key: %w", err)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, secret); err != nil {
		return nil, fmt.Errorf("reading the provenance signing key from Secret %s: %w", ref, err)
	}
	key, ok := secret.Data[provenanceKeyField]
	if !ok {
		return nil, fmt.Errorf("secret %s has no key %s with the signing key", ref, provenanceKeyField)
	}
	signer, err := provenance.LoadSigner(key)
	if err != nil {
		return nil, fmt.Errorf("the provenance signing key in Secret %s: %w", ref, err)
	}
	ctrl.Log.Info("provenance records are signed", "keyID", signer.KeyID())
	return signer, nil
}
