// Package stepbench measures the step metrics endpoint on the local cluster
// (make dev-cluster): 100 running trials each report 100 steps to a manager
// of its own, as fast as the endpoint allows, through pkg/trainer with the
// Pods' own ServiceAccount tokens (the test plays the kubelet and requests
// them). It reports the accepted reports per second, the latency of a
// report, the refusals to slow down (429), the manager's CPU and peak
// memory, the status writes the curves cost per trial, and the chunks of
// the full series written to the Experiment's s3 store (test/s3server);
// and it fails when a report is lost, or a trial's curve or series is
// written more often than once per write interval.
//
//	E2E_KUBECONFIG=.cluster/kubeconfig go test ./test/stepbench/ -run TestStepMetricsBench -count=1 -v
//
// It assumes it runs the only operator on the cluster: not beside make
// test-e2e.
package stepbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/steps"
	"github.com/crucible-dev/crucible/internal/stepmetrics"
	"github.com/crucible-dev/crucible/internal/stepmetrics/endpoint"
	"github.com/crucible-dev/crucible/pkg/trainer"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/framework"
	"github.com/crucible-dev/crucible/test/s3server"
)

const (
	// trials is how many trials report at once, each from a running Pod.
	trials = 100
	// stepsPerTrial is how many steps each trial reports.
	stepsPerTrial = 100
	// writeInterval is the manager's --step-metrics-write-interval: the
	// default.
	writeInterval = steps.DefaultInterval

	// podDuration keeps every trial Pod running for the whole benchmark
	// (the KWOK trainer Stage, test/e2e/stages).
	podDuration = 10 * time.Minute
	// durationAnnotation is the Pod annotation the KWOK trainer Stage reads.
	durationAnnotation = "crucible.dev/e2e-duration"

	// startTimeout bounds the manager's start and the trials' Pods' start.
	startTimeout = 3 * time.Minute
	// reportTimeout bounds one report, the waits it is told to make
	// included.
	reportTimeout = time.Minute
	// recordTimeout bounds how long after the last report every curve is
	// in its Trial's status: a write interval, and then some.
	recordTimeout = writeInterval + time.Minute
	// cleanupTimeout bounds the namespace's deletion.
	cleanupTimeout = 3 * time.Minute
	// pollInterval is how often waits look again.
	pollInterval = 500 * time.Millisecond
)

func TestStepMetricsBench(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	root := framework.Root()
	kubeconfig := os.Getenv("E2E_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = filepath.Join(root, ".cluster", "kubeconfig")
	}
	if _, err := os.Stat(kubeconfig); err != nil {
		t.Fatalf("no kubeconfig at %s: start the cluster with make dev-cluster, or set E2E_KUBECONFIG: %v", kubeconfig, err)
	}
	cfg, err := framework.Config(kubeconfig)
	must(t, err)
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: framework.Scheme()})
	must(t, err)
	must(t, framework.Install(ctx, cl))

	mgr, metricsAddr, stepsAddr := startManager(ctx, t, kubeconfig)
	// Started before the namespace, so that it stops after the namespace
	// and its Experiment, whose artifacts are deleted, are gone.
	srv := s3server.StartT(t, t.TempDir())
	ns := newNamespace(ctx, t, cl)

	exp := builder.MakeExperiment("steps", ns).IntRange("depth", 1, trials, 1).Seeds(1234, 1).Parallelism(trials).Obj()
	var mc *minio.Client
	exp.Spec.Artifacts, mc = s3Store(ctx, t, cl, srv, ns)
	exp.Spec.PodTemplate = &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{durationAnnotation: podDuration.String()}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{}},
	}
	must(t, cl.Create(ctx, exp))
	// Before the namespace, whose deletion takes the store's credentials
	// Secret with it: the Experiment's artifacts are deleted while the
	// operator can still reach them.
	t.Cleanup(func() { deleteAndWait(t, cl, exp, &crucible.Experiment{}) })
	start := time.Now()
	pods := runningTrials(ctx, t, cl, ns)
	t.Logf("%d trials Running, their Pods too, in %s", len(pods), time.Since(start).Round(time.Millisecond))

	// The kubelet's part: a token for each Pod, of its trial's audience.
	tokenDir := t.TempDir()
	reporters := make([]*reporter, len(pods))
	stats := &roundTrips{}
	transport := stats.transport(t, filepath.Join(certDir(), "ca.crt"))
	errs := make([]error, len(pods))
	workqueue.ParallelizeUntil(ctx, 16, len(pods), func(i int) {
		reporters[i], errs[i] = newReporter(ctx, cl, &pods[i], "https://"+stepsAddr, tokenDir, transport)
	})
	must(t, errors.Join(errs...))

	writesBefore := scrapeCounter(ctx, t, metricsAddr, "crucible_step_metrics_writes_total")
	chunksBefore := scrapeCounter(ctx, t, metricsAddr, "crucible_step_metrics_chunks_total")
	statusWritesBefore := scrapeCounter(ctx, t, metricsAddr, "crucible_trial_status_writes_total")
	usageBefore, err := mgr.Usage()
	must(t, err)
	writes := watchCurveWrites(ctx, t, cl, ns)

	// Every trial reports its steps in order, as fast as it is let.
	fire := time.Now()
	var wg sync.WaitGroup
	for i, r := range reporters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.run(ctx)
		}()
	}
	wg.Wait()
	fired := time.Since(fire)
	must(t, errors.Join(errs...))
	usageFired, err := mgr.Usage()
	must(t, err)

	// Every report recorded, the last within a write interval.
	byName := map[string]*reporter{}
	for _, r := range reporters {
		byName[r.trial] = r
	}
	var lost []string
	err = wait.PollUntilContextTimeout(ctx, pollInterval, recordTimeout, true, func(ctx context.Context) (bool, error) {
		var list crucible.TrialList
		if err := cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, nil // a busy API server: look again
		}
		lost = lost[:0]
		for _, tr := range list.Items {
			sm := tr.Status.StepMetrics
			if sm == nil || sm.Reports != stepsPerTrial || sm.LastStep != stepsPerTrial-1 {
				lost = append(lost, fmt.Sprintf("%s: %s", tr.Name, describe(sm)))
			}
		}
		return len(list.Items) == trials && len(lost) == 0, nil
	})
	if err != nil {
		t.Fatalf("not every report reached its Trial's status within %s: %d trials short, e.g. %v", recordTimeout, len(lost), lost[:min(5, len(lost))])
	}
	recorded := time.Since(fire)
	// Every report in the store too, within a write interval.
	var chunks map[string]int
	var stored int
	err = wait.PollUntilContextTimeout(ctx, pollInterval, recordTimeout, true, func(ctx context.Context) (bool, error) {
		chunks, stored = storedSeries(ctx, mc, exp.Spec.Artifacts.S3)
		return stored == trials*stepsPerTrial, nil
	})
	if err != nil {
		t.Fatalf("%d of %d reports in the store's chunks within %s", stored, trials*stepsPerTrial, recordTimeout)
	}
	storedAll := time.Since(fire)
	usageAfter, err := mgr.Usage()
	must(t, err)
	// The watch may deliver the last writes a moment after a List shows
	// them.
	perTrial := writes.waitFor(ctx, t, trials)
	writesAfter := scrapeCounter(ctx, t, metricsAddr, "crucible_step_metrics_writes_total")
	statusWritesAfter := scrapeCounter(ctx, t, metricsAddr, "crucible_trial_status_writes_total")
	chunksAfter := scrapeCounter(ctx, t, metricsAddr, "crucible_step_metrics_chunks_total")

	accepted, tooMany, okLatency, limitedLatency := stats.result()
	counts := make([]int, 0, len(perTrial))
	for _, n := range perTrial {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	t.Logf("reports: %d accepted in %s: %.0f a second; %d answered 429 Retry-After",
		accepted, fired.Round(time.Millisecond), float64(accepted)/fired.Seconds(), tooMany)
	t.Logf("report latency (accepted, 204): p50 %s, p99 %s, max %s; refused 429: p50 %s",
		percentile(okLatency, 50), percentile(okLatency, 99), percentile(okLatency, 100), percentile(limitedLatency, 50))
	t.Logf("per trial: %d steps in %s at the slowest, %s at the fastest (the default limit, %d a second in bursts of %d, allows %s)",
		stepsPerTrial, slowest(reporters), fastest(reporters), stepmetrics.DefaultRate, stepmetrics.DefaultBurst,
		(time.Duration(stepsPerTrial-stepmetrics.DefaultBurst) * time.Second / stepmetrics.DefaultRate).String())
	t.Logf("every curve in its Trial's status %s after the first report", recorded.Round(time.Millisecond))
	t.Logf("manager: %.2f CPU seconds while reporting, %.2f until every curve was written; peak RSS %.1f MiB",
		usageFired.CPUSeconds-usageBefore.CPUSeconds, usageAfter.CPUSeconds-usageBefore.CPUSeconds,
		float64(usageAfter.PeakRSSBytes)/(1<<20))
	t.Logf("status writes of the curves: %.0f (crucible_step_metrics_writes_total), %.2f per trial; watched per trial: min %d, median %d, max %d, for %d reports each",
		writesAfter-writesBefore, (writesAfter-writesBefore)/trials, counts[0], counts[len(counts)/2], counts[len(counts)-1], stepsPerTrial)
	t.Logf("the Trial reconciler's own status writes meanwhile: %.0f", statusWritesAfter-statusWritesBefore)
	chunkCounts := slices.Sorted(maps.Values(chunks))
	t.Logf("store writes of the full series: %.0f chunks (crucible_step_metrics_chunks_total), %.2f per trial (min %d, median %d, max %d); every report stored %s after the first",
		chunksAfter-chunksBefore, (chunksAfter-chunksBefore)/trials, chunkCounts[0], chunkCounts[len(chunkCounts)/2], chunkCounts[len(chunkCounts)-1],
		storedAll.Round(time.Millisecond))

	// Bounded by the interval, not by the steps: the first report is
	// written at once, then at most one write per interval.
	bound := 1 + int(math.Ceil(float64(recorded)/float64(writeInterval)))
	for name, n := range perTrial {
		if n > bound {
			t.Errorf("trial %s: its curve was written %d times in %s; at most %d (once at the first report, then once per %s)",
				name, n, recorded.Round(time.Millisecond), bound, writeInterval)
		}
	}
	storeBound := 1 + int(math.Ceil(float64(storedAll)/float64(writeInterval)))
	for name, n := range chunks {
		if n > storeBound {
			t.Errorf("trial %s: %d chunks of its series in %s; at most %d (once per %s)", name, n, storedAll.Round(time.Millisecond), storeBound, writeInterval)
		}
	}
	if len(chunks) != trials {
		t.Errorf("chunks of %d trials; want %d", len(chunks), trials)
	}
	if got := writesAfter - writesBefore; got > float64(trials*bound) {
		t.Errorf("crucible_step_metrics_writes_total grew by %.0f; at most %d for %d trials", got, trials*bound, trials)
	}
	for _, r := range reporters {
		if r.accepted != stepsPerTrial {
			t.Errorf("trial %s: %d reports accepted, want %d", r.trial, r.accepted, stepsPerTrial)
		}
	}
}

// startManager starts bin/manager with the step metrics endpoint on a free
// port, its certificate in certDir, and its
// metrics on another, and waits until its controllers and the endpoint
// run. The manager stops when the test ends.
func startManager(ctx context.Context, t *testing.T, kubeconfig string) (m *framework.Manager, metricsAddr, stepsAddr string) {
	t.Helper()
	must(t, framework.WriteSelfSignedCert(certDir()))
	metricsAddr, stepsAddr = freeAddr(t), freeAddr(t)
	logPath := filepath.Join(framework.Root(), ".cluster", "stepbench-manager.log")
	must(t, os.WriteFile(logPath, nil, 0o644))
	m, err := framework.StartManager(kubeconfig, logPath,
		"--metrics-bind-address="+metricsAddr, "--metrics-secure=false",
		"--step-metrics-bind-address="+stepsAddr, "--step-metrics-url=https://"+stepsAddr,
		"--step-metrics-cert-dir="+certDir(), "--step-metrics-write-interval="+writeInterval.String(),
		// The s3 store runs on loopback, over plain HTTP (test/s3server).
		"--artifact-endpoints=127.0.0.1", "--artifact-allow-insecure")
	must(t, err)
	t.Cleanup(func() {
		if err := m.Stop(30 * time.Second); err != nil {
			t.Errorf("the manager did not exit cleanly: %v; log %s", err, logPath)
		}
	})
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, startTimeout, true, func(context.Context) (bool, error) {
		if err := syscall.Kill(m.Pid(), 0); err != nil {
			return false, fmt.Errorf("the manager exited; log %s", logPath)
		}
		data, _ := os.ReadFile(logPath)
		return strings.Count(string(data), `"Starting workers"`) >= 2 && strings.Contains(string(data), `"serving step metrics"`), nil
	})
	if err != nil {
		t.Fatalf("waiting for the manager: %v", err)
	}
	t.Logf("manager pid %d, log %s", m.Pid(), logPath)
	return m, metricsAddr, stepsAddr
}

// s3Store makes a bucket on srv, puts its credentials in a Secret of ns,
// and returns the artifacts spec that names it and a client of srv.
func s3Store(ctx context.Context, t *testing.T, cl client.Client, srv *s3server.Server, ns string) (*crucible.ArtifactsSpec, *minio.Client) {
	t.Helper()
	mc, err := srv.Client()
	must(t, err)
	const bucket, secret = "runs", "store-credentials"
	must(t, mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: srv.Region}))
	must(t, cl.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: ns},
		StringData: map[string]string{
			crucible.SecretKeyAccessKeyID:     srv.AccessKey,
			crucible.SecretKeySecretAccessKey: srv.SecretKey,
		},
	}))
	return &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
		Endpoint: srv.Host(), Bucket: bucket, Prefix: "bench", Region: srv.Region, Insecure: true,
		CredentialsSecret: crucible.SecretReference{Name: secret},
	}}, mc
}

// storedSeries lists the chunks of the trials' series in the store: how
// many each trial has, by the trial's directory, and how many reports they
// hold in all.
func storedSeries(ctx context.Context, mc *minio.Client, s3 *crucible.S3ArtifactStore) (chunks map[string]int, reports int) {
	chunks = map[string]int{}
	for o := range mc.ListObjects(ctx, s3.Bucket, minio.ListObjectsOptions{Prefix: s3.Prefix + "/", Recursive: true}) {
		if o.Err != nil {
			return chunks, -1
		}
		dir, _, ok := strings.Cut(o.Key, ".steps/")
		if !ok {
			continue
		}
		chunks[dir]++
		obj, err := mc.GetObject(ctx, s3.Bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			return chunks, -1
		}
		data, err := io.ReadAll(obj)
		_ = obj.Close()
		if err != nil {
			return chunks, -1
		}
		reports += bytes.Count(data, []byte{'\n'})
	}
	return chunks, reports
}

// certDir holds the endpoint's certificate, and ca.crt.
func certDir() string {
	return filepath.Join(framework.Root(), ".cluster", "step-metrics-bench-certs")
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	must(t, ln.Close())
	return addr
}

// newNamespace creates a namespace for the benchmark and waits for its
// default ServiceAccount; it is deleted, and waited for, when the test ends,
// before the manager stops (an Experiment's finalizer needs it).
func newNamespace(ctx context.Context, t *testing.T, cl client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "step-bench-"}}
	must(t, cl.Create(ctx, ns))
	t.Cleanup(func() { deleteAndWait(t, cl, ns, &corev1.Namespace{}) })
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, startTimeout, true, func(ctx context.Context) (bool, error) {
		err := cl.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("namespace %s has no default ServiceAccount: %v", ns.Name, err)
	}
	return ns.Name
}

// deleteAndWait deletes obj and waits, up to cleanupTimeout, until it is
// gone; into reads it back meanwhile.
func deleteAndWait(t *testing.T, cl client.Client, obj, into client.Object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	kind := fmt.Sprintf("%T", into)
	if err := cl.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		t.Errorf("deleting %s %s: %v", kind, obj.GetName(), err)
		return
	}
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(cl.Get(ctx, client.ObjectKeyFromObject(obj), into)), nil
	})
	if err != nil {
		t.Errorf("%s %s was not deleted within %s", kind, obj.GetName(), cleanupTimeout)
	}
}

// runningTrials waits until every Trial of ns is recorded Running and its
// Pod runs, and returns the Pods.
func runningTrials(ctx context.Context, t *testing.T, cl client.Client, ns string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	var summary string
	err := wait.PollUntilContextTimeout(ctx, pollInterval, startTimeout, true, func(ctx context.Context) (bool, error) {
		var list crucible.TrialList
		if err := cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, nil
		}
		if err := cl.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel}); err != nil {
			return false, nil
		}
		trialsRunning, podsRunning := 0, 0
		for _, tr := range list.Items {
			if tr.Status.Phase == crucible.TrialRunning {
				trialsRunning++
			}
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				podsRunning++
			}
		}
		summary = fmt.Sprintf("%d of %d Trials Running, %d of %d Pods", trialsRunning, len(list.Items), podsRunning, len(pods.Items))
		return trialsRunning == trials && podsRunning == trials && len(pods.Items) == trials, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d running trials: %s", trials, summary)
	}
	return pods.Items
}

// reporter plays one trial's trainer.
type reporter struct {
	trial  string
	client *trainer.Client
	// accepted is how many reports were accepted; took how long they took.
	accepted int
	took     time.Duration
}

// newReporter requests pod's token for its trial's audience, as the
// kubelet does for the projected volume, and returns the trial's reporter.
func newReporter(ctx context.Context, cl client.Client, pod *corev1.Pod, baseURL, tokenDir string, transport http.RoundTripper) (*reporter, error) {
	trial := pod.Labels[crucible.TrialLabel]
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{endpoint.Audience(pod.Namespace, trial)},
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		ExpirationSeconds: ptr.To[int64](3600),
	}}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: sa}}
	if err := cl.SubResource("token").Create(ctx, account, tr); err != nil {
		return nil, fmt.Errorf("requesting the token of Pod %s: %w", pod.Name, err)
	}
	tokenFile := filepath.Join(tokenDir, trial)
	if err := os.WriteFile(tokenFile, []byte(tr.Status.Token), 0o600); err != nil {
		return nil, err
	}
	c, err := trainer.New(trainer.Config{URL: baseURL + endpoint.Path(pod.Namespace, trial), TokenFile: tokenFile,
		HTTPClient: &http.Client{Transport: transport, Timeout: reportTimeout}})
	if err != nil {
		return nil, err
	}
	return &reporter{trial: trial, client: c}, nil
}

// run reports steps 0 to stepsPerTrial-1 in order, each as soon as the
// endpoint takes it: told to slow down (429), pkg/trainer waits as long as
// it is asked and tries once more, and run does the same until the step is
// taken.
func (r *reporter) run(ctx context.Context) error {
	start := time.Now()
	for step := int64(0); step < stepsPerTrial; step++ {
		loss := 2 - 1.5*float64(step)/stepsPerTrial
		for {
			rctx, cancel := context.WithTimeout(ctx, reportTimeout)
			err := r.client.Report(rctx, step, map[string]float64{"val_loss": loss, "accuracy": 1 - loss/2})
			cancel()
			var se *trainer.StatusError
			if errors.As(err, &se) && se.StatusCode == http.StatusTooManyRequests {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(se.RetryAfter):
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("trial %s, step %d: %w", r.trial, step, err)
			}
			break
		}
		r.accepted++
	}
	r.took = time.Since(start)
	return nil
}

func slowest(rs []*reporter) time.Duration {
	var d time.Duration
	for _, r := range rs {
		d = max(d, r.took)
	}
	return d.Round(time.Millisecond)
}

func fastest(rs []*reporter) time.Duration {
	d := time.Duration(math.MaxInt64)
	for _, r := range rs {
		d = min(d, r.took)
	}
	return d.Round(time.Millisecond)
}

// roundTrips counts the reports' answers and times them.
type roundTrips struct {
	mu       sync.Mutex
	accepted int
	tooMany  int
	ok       []time.Duration
	limited  []time.Duration
}

// transport returns a RoundTripper that trusts the CA in caFile and records
// every request's answer in s.
func (s *roundTrips) transport(t *testing.T, caFile string) http.RoundTripper {
	t.Helper()
	// As pkg/trainer builds it from the CA file, but shared by the 100
	// reporters, with a connection each, and timing each request.
	pem, err := os.ReadFile(caFile)
	must(t, err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	base.MaxIdleConnsPerHost = trials
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := base.RoundTrip(req)
		took := time.Since(start)
		if err != nil {
			return resp, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch resp.StatusCode {
		case http.StatusNoContent:
			s.accepted++
			s.ok = append(s.ok, took)
		case http.StatusTooManyRequests:
			s.tooMany++
			s.limited = append(s.limited, took)
		}
		return resp, nil
	})
}

func (s *roundTrips) result() (accepted, tooMany int, ok, limited []time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.tooMany, slices.Clone(s.ok), slices.Clone(s.limited)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// percentile returns the p-th percentile of ds (nearest rank), 0 when
// empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))].Round(10 * time.Microsecond)
}

// curveWrites counts, per Trial, the watched changes of status.stepMetrics:
// each is one write of the curve.
type curveWrites struct {
	mu     sync.Mutex
	last   map[string]int64 // reports last seen, by trial
	writes map[string]int
	done   map[string]bool
}

// watchCurveWrites watches the Trials of ns until the test ends.
func watchCurveWrites(ctx context.Context, t *testing.T, cl client.WithWatch, ns string) *curveWrites {
	t.Helper()
	var list crucible.TrialList
	must(t, cl.List(ctx, &list, client.InNamespace(ns)))
	w := &curveWrites{last: map[string]int64{}, writes: map[string]int{}, done: map[string]bool{}}
	for _, tr := range list.Items {
		if sm := tr.Status.StepMetrics; sm != nil {
			w.last[tr.Name] = sm.Reports
		}
	}
	watcher, err := cl.Watch(ctx, &crucible.TrialList{}, client.InNamespace(ns),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	must(t, err)
	t.Cleanup(watcher.Stop)
	go func() {
		for ev := range watcher.ResultChan() {
			tr, ok := ev.Object.(*crucible.Trial)
			if !ok || ev.Type != watch.Modified || tr.Status.StepMetrics == nil {
				continue
			}
			w.mu.Lock()
			if n := tr.Status.StepMetrics.Reports; n != w.last[tr.Name] {
				w.last[tr.Name] = n
				w.writes[tr.Name]++
				if n == stepsPerTrial {
					w.done[tr.Name] = true
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// waitFor waits until the watch saw the complete curve of n trials and
// returns the writes it counted per trial.
func (w *curveWrites) waitFor(ctx context.Context, t *testing.T, n int) map[string]int {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, recordTimeout, true, func(context.Context) (bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.done) == n, nil
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		t.Fatalf("the watch saw %d complete curves of %d (was it closed?)", len(w.done), n)
	}
	out := make(map[string]int, len(w.writes))
	for k, v := range w.writes {
		out[k] = v
	}
	return out
}

// scrapeCounter reads the sum of a counter's samples from the manager's
// metrics.
func scrapeCounter(ctx context.Context, t *testing.T, addr, name string) float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	must(t, err)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", addr, resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		must(t, err)
		sum += v
	}
	must(t, sc.Err())
	return sum
}

// describe says where a trial's recorded curve is.
func describe(sm *crucible.StepMetrics) string {
	if sm == nil {
		return "no step metrics"
	}
	return fmt.Sprintf("%d reports, last step %d", sm.Reports, sm.LastStep)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
