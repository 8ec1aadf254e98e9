package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	toolswatch "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/framework"
)

const (
	// Image is the trainer image of the benchmark sweeps; nothing pulls it.
	benchImage = "registry.example/train@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// experimentName names every benchmark Experiment (each in a namespace
	// of its own).
	experimentName = "sweep"

	annotationDuration = "crucible.dev/e2e-duration"
	annotationOutcome  = "crucible.dev/e2e-outcome"
)

type kind string

const (
	fanout     kind = "fan-out"
	completion kind = "completion"
	// steady is a sweep of trials that run -steady-duration,
	// -steady-parallelism at a time: trials end and start all the time, as
	// in a long sweep. Operator side only: it measures writes per trial.
	steady kind = "steady"
	// writeCostKind prices single writes (writecost.go).
	writeCostKind kind = "write-cost"
)

type side string

const (
	floorSide side = "floor"
	// trialFloorSide is the floor with Trials (trialFloor): completion
	// runs only.
	trialFloorSide side = "trial-floor"
	operatorSide   side = "operator"
)

// clusterInfo is what the report says about the cluster.
type clusterInfo struct {
	Version     string
	Nodes       int
	PodsPerNode string
	PodCapacity int64
	KCM         map[string]string
	Scheduler   map[string]string
	pids        map[string]int
}

// measurement is one timed run: one side, one kind, one sweep size.
type measurement struct {
	Kind kind
	Side side
	N    int
	// Round counts the floor-and-operator pairs of one kind and N, from 1
	// (-repeat).
	Round     int
	Namespace string

	// AllJobs is the time from the start until the N-th Job was seen;
	// AllJobsEnded until the N-th Job was complete (or failed).
	AllJobs      time.Duration
	AllJobsEnded time.Duration
	// Succeeded (operator, completion) is the time until the Experiment was
	// Succeeded.
	Succeeded time.Duration
	// TrialsCreated (operator) is the last Trial's creationTimestamp minus
	// the start: one second resolution.
	TrialsCreated time.Duration
	// FloorCreates (floor) is the time the floor program took for its
	// creates; FloorErrors its failed attempts.
	FloorCreates time.Duration
	FloorErrors  int

	Writes  reqCounts
	Manager *managerMetrics
	Events  map[string]int

	// Process is the manager (operator side) or the floor program.
	PeakRSS    int64
	CPUSeconds float64

	CPU                   cpuWindow
	LoadBefore, LoadAfter string
	Phase                 string
	Err                   string
}

type bench struct {
	c       config
	cfg     *rest.Config
	cl      client.WithWatch
	cs      *kubernetes.Clientset
	machine machineInfo
	cluster clusterInfo

	template *batchv1.Job
	// podMetaPruned is true when the API server dropped the Experiment's
	// spec.podTemplate.metadata (a CRD without embedded ObjectMeta in its
	// schema): the operator's pods then carry none of the run's
	// annotations, and neither do the floor's, so both sides run the same
	// pods.
	podMetaPruned bool
	logDir        string
	runID         string
}

func newBench(ctx context.Context, c config) (*bench, error) {
	cfg, err := framework.Config(c.kubeconfig)
	if err != nil {
		return nil, err
	}
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: framework.Scheme()})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	var id [3]byte
	_, _ = rand.Read(id[:])
	b := &bench{c: c, cfg: cfg, cl: cl, cs: cs, machine: readMachine(), runID: hex.EncodeToString(id[:])}
	b.logDir = filepath.Join(c.clusterDir, "bench", time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(b.logDir, 0o755); err != nil {
		return nil, err
	}
	if err := b.readCluster(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) readCluster(ctx context.Context) error {
	info := clusterInfo{pids: components(b.c.clusterDir)}
	if v, err := b.cs.Discovery().ServerVersion(); err == nil {
		info.Version = v.GitVersion
	}
	nodes, err := b.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	perNode := map[string]bool{}
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if !ready || n.Spec.Unschedulable {
			continue
		}
		info.Nodes++
		p := n.Status.Allocatable.Pods()
		info.PodCapacity += p.Value()
		perNode[p.String()] = true
	}
	for k := range perNode {
		info.PodsPerNode = strings.TrimSpace(info.PodsPerNode + " " + k)
	}
	if pid, ok := info.pids["kube-controller-manager"]; ok {
		info.KCM = processFlags(pid)
	}
	if pid, ok := info.pids["kube-scheduler"]; ok {
		info.Scheduler = processFlags(pid)
	}
	if len(info.pids) == 0 {
		logf("warning: no cluster processes found under %s: cluster CPU and kube-controller-manager settings are unknown", b.c.clusterDir)
	}
	b.cluster = info
	return nil
}

// run installs the CRDs, captures the operator's Job template, and runs every
// measurement. It returns the report of what was measured, also on error.
func (b *bench) run(ctx context.Context) (*report, error) {
	rep := &report{
		Machine: b.machine, Cluster: b.cluster, Config: b.c, Started: time.Now(), LoadStart: loadAverage(),
		Command: commandLine(),
	}
	defer func() { rep.Finished, rep.LoadEnd = time.Now(), loadAverage() }()

	all := slices.Concat(b.c.fanoutN, b.c.rssN, b.c.steadyN)
	writeCost := slices.Contains(b.c.kinds, writeCostKind)
	if len(all) == 0 && !writeCost {
		return rep, errors.New("nothing to measure: -n, -rss-n and -steady-n are empty, and -kinds has no write-cost")
	}
	if need := int64(slices.Max(append(all, 0))); b.cluster.PodCapacity < need {
		return rep, fmt.Errorf("the cluster's nodes take %d pods, the largest sweep needs %d: start it with more KWOK_NODES or KWOK_NODE_PODS",
			b.cluster.PodCapacity, need)
	}
	logf("cluster %s: %d nodes, %d pods of capacity; kube-controller-manager qps %s burst %s concurrent-job-syncs %s; logs in %s",
		b.cluster.Version, b.cluster.Nodes, b.cluster.PodCapacity, b.cluster.KCM["kube-api-qps"], b.cluster.KCM["kube-api-burst"],
		b.cluster.KCM["concurrent-job-syncs"], b.logDir)
	if err := framework.Install(ctx, b.cl); err != nil {
		return rep, fmt.Errorf("installing the CRDs: %w", err)
	}
	if err := b.deleteLeftovers(ctx); err != nil {
		return rep, err
	}
	if writeCost {
		costs, err := b.measureWriteCost(ctx)
		rep.WriteCosts = costs
		if err != nil {
			return rep, fmt.Errorf("write cost: %w", err)
		}
	}
	if len(all) == 0 {
		return rep, nil
	}
	if err := b.captureTemplate(ctx, slices.Max(all)); err != nil {
		return rep, fmt.Errorf("capturing the operator's Job: %w", err)
	}
	rep.PodMetaPruned = b.podMetaPruned

	type step struct {
		k kind
		n int
	}
	var steps []step
	for _, n := range b.c.fanoutN {
		steps = append(steps, step{fanout, n}, step{completion, n})
	}
	for _, n := range b.c.rssN {
		if !slices.Contains(b.c.fanoutN, n) {
			steps = append(steps, step{completion, n})
		}
	}
	for _, n := range b.c.steadyN {
		steps = append(steps, step{steady, n})
	}
	for _, s := range steps {
		if !slices.Contains(b.c.kinds, s.k) {
			continue
		}
		rounds := 1
		if s.k != steady && slices.Contains(b.c.fanoutN, s.n) {
			rounds = b.c.repeat // the comparisons, not the footprint-only sizes
		}
		for round := 1; round <= rounds; round++ {
			for _, sd := range b.c.sides {
				if (s.k == steady && sd != operatorSide) || (s.k != completion && sd == trialFloorSide) {
					continue
				}
				m, err := b.measure(ctx, s.k, sd, s.n)
				m.Round = round
				rep.Measurements = append(rep.Measurements, m)
				if err != nil {
					return rep, fmt.Errorf("%s %s N=%d round %d: %w", sd, s.k, s.n, round, err)
				}
			}
		}
	}
	return rep, nil
}

// benchExperiment is the sweep of n trials: lr over five values times depth
// over n/5 integers (just depth when 5 does not divide n), one seed, all n
// trials at once, no dataset and no GPU, the trainer Stage's pod annotations.
func benchExperiment(ns string, n int, annotations map[string]string) *crucible.Experiment {
	lrs := []string{"0.1", "0.03", "0.01", "0.003", "0.001"}
	if n%len(lrs) != 0 {
		lrs = lrs[:1]
	}
	var params []crucible.ParameterSpec
	if len(lrs) > 1 {
		params = append(params, crucible.ParameterSpec{Name: "lr", Values: lrs})
	}
	params = append(params, crucible.ParameterSpec{Name: "depth", Int: &crucible.IntRange{Min: 1, Max: int64(n / len(lrs)), Step: 1}})
	return &crucible.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: experimentName, Namespace: ns},
		Spec: crucible.ExperimentSpec{
			Image:           benchImage,
			Command:         []string{"python", "train.py"},
			Args:            []string{"--lr=$(CRUCIBLE_PARAM_LR)", "--depth=$(CRUCIBLE_PARAM_DEPTH)", "--seed=$(CRUCIBLE_SEED)"},
			Parameters:      params,
			Search:          crucible.SearchSpec{Algorithm: crucible.SearchGrid},
			Seeds:           crucible.SeedSpec{Base: 1234, Replicas: 1},
			Objective:       crucible.ObjectiveSpec{Metric: "val_loss", Goal: crucible.GoalMinimize},
			Parallelism:     int32(n),
			MaxFailedTrials: int32(n),
			PodTemplate: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: crucible.TrainerContainerName}}},
			},
		},
	}
}

func (b *bench) annotations(k kind) map[string]string {
	switch k {
	case fanout:
		// No completing Stage matches: the pods run until deleted, so the
		// fan-out is not mixed with completions.
		return map[string]string{annotationOutcome: "hang"}
	case steady:
		return map[string]string{annotationDuration: b.c.steadyDuration}
	}
	return map[string]string{annotationDuration: b.c.duration}
}

// floorAnnotations are the floor pods' annotations: the operator's, or none
// when the operator's are pruned.
func (b *bench) floorAnnotations(k kind) map[string]string {
	if b.podMetaPruned {
		return nil
	}
	return b.annotations(k)
}

// captureTemplate has the operator build one Job of the largest sweep and
// keeps it as the template of the floor's Jobs.
func (b *bench) captureTemplate(ctx context.Context, n int) error {
	ns, err := b.newNamespace(ctx, "template")
	if err != nil {
		return err
	}
	defer func() { _ = b.deleteNamespace(context.WithoutCancel(ctx), ns) }()
	mgr, _, err := b.startManager(ctx, ns)
	if err != nil {
		return err
	}
	defer func() { _ = mgr.Stop(30 * time.Second) }()
	exp := benchExperiment(ns, n, b.annotations(fanout))
	exp.Spec.Parallelism = 1
	if err := b.cl.Create(ctx, exp); err != nil {
		return err
	}
	var job *batchv1.Job
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var jobs batchv1.JobList
		if err := b.cl.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		if len(jobs.Items) > 0 {
			job = &jobs.Items[0]
		}
		return job != nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the operator's first Job (manager log %s): %w", mgr.Log, err)
	}
	b.template = templateFromJob(job)
	if b.template.Spec.Template.Annotations[annotationOutcome] == "" {
		b.podMetaPruned = true
		logf("warning: the operator's Job has no pod annotations from spec.podTemplate.metadata: the API server pruned them " +
			"(the CRD's schema has no embedded ObjectMeta). Trial pods run the trainer Stage's default 2-4 s and fan-out pods complete, on both sides")
	}
	data, _ := json.MarshalIndent(b.template, "", "  ")
	_ = os.WriteFile(filepath.Join(b.logDir, "job-template.json"), data, 0o644)
	logf("captured the operator's Job %s as the floor's template", job.Name)
	return nil
}

// measure runs one measurement in a fresh namespace and cleans up after it.
func (b *bench) measure(ctx context.Context, k kind, sd side, n int) (m measurement, retErr error) {
	m = measurement{Kind: k, Side: sd, N: n}
	defer func() {
		if retErr != nil {
			m.Err = retErr.Error()
		}
	}()
	short := map[kind]string{fanout: "fo", completion: "co", steady: "st"}[k]
	ns, err := b.newNamespace(ctx, fmt.Sprintf("%s-%s-%d", short, sd, n))
	if err != nil {
		return m, err
	}
	m.Namespace = ns
	defer func() {
		if err := b.deleteNamespace(context.WithoutCancel(ctx), ns); err != nil && retErr == nil {
			retErr = err
		}
	}()
	logf("%s %s N=%d in namespace %s", sd, k, n, ns)

	exp := benchExperiment(ns, n, b.annotations(k))
	if k == steady {
		exp.Spec.Parallelism = int32(min(n, b.c.steadyParallelism))
	}
	tracker, err := startTracker(ctx, b.cs, ns, n)
	if err != nil {
		return m, err
	}
	defer tracker.stop()

	pids := map[string]int{"bench": os.Getpid()}
	for name, pid := range b.cluster.pids {
		pids[name] = pid
	}

	// Prepare the side: a fresh manager with synced caches, or a floor
	// program with its Jobs built and its connection up.
	var (
		mgr         *framework.Manager
		metricsAddr string
		floor       *floorProc
	)
	switch sd {
	case operatorSide:
		mgr, metricsAddr, err = b.startManager(ctx, ns)
		if err != nil {
			return m, err
		}
		defer func() { _ = mgr.Stop(30 * time.Second) }()
		pids["manager"] = mgr.Pid()
	case floorSide, trialFloorSide:
		if sd == trialFloorSide {
			// The Trials' owner, created before the clock starts; no
			// manager runs to act on it.
			if err := b.cl.Create(ctx, exp); err != nil {
				return m, fmt.Errorf("creating the Experiment: %w", err)
			}
		}
		floor, err = b.startFloor(ctx, ns, exp, sd == trialFloorSide)
		if err != nil {
			return m, err
		}
		defer floor.kill()
		pids["floor"] = floor.cmd.Process.Pid
	}

	metricsBefore, err := b.apiserverMetrics(ctx)
	if err != nil {
		return m, err
	}
	m.LoadBefore = loadAverage()
	cpuBefore := takeCPU(pids)

	start := time.Now()
	tracker.setStart(start)
	switch sd {
	case operatorSide:
		if err := b.cl.Create(ctx, exp); err != nil {
			return m, fmt.Errorf("creating the Experiment: %w", err)
		}
	case floorSide, trialFloorSide:
		if err := floor.start(); err != nil {
			return m, err
		}
	}

	timeout := b.c.fanoutTimeout
	if k != fanout {
		timeout = b.c.completionTimeout
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := tracker.allSeen
	if k != fanout {
		done = tracker.allEnd
	}
	var succeeded <-chan time.Time
	if k != fanout && sd == operatorSide {
		succeeded = b.waitSucceeded(waitCtx, ns)
	}
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for done != nil || succeeded != nil {
		select {
		case <-done:
			done = nil
		case at, ok := <-succeeded:
			succeeded = nil
			if !ok {
				switch {
				case ctx.Err() != nil:
					return m, fmt.Errorf("interrupted after %s before the Experiment succeeded", time.Since(start).Round(time.Second))
				case waitCtx.Err() != nil:
					return m, fmt.Errorf("timed out after %s before the Experiment succeeded", timeout)
				}
				return m, errors.New("the Experiment failed")
			}
			m.Succeeded = at.Sub(start)
		case <-tick.C:
			seen, complete, failed := tracker.progress()
			logf("  %s: %d Jobs, %d complete, %d failed", time.Since(start).Round(time.Second), seen, complete, failed)
		case <-waitCtx.Done():
			seen, complete, failed := tracker.progress()
			if ctx.Err() != nil {
				return m, fmt.Errorf("interrupted after %s with %d Jobs, %d complete, %d failed",
					time.Since(start).Round(time.Second), seen, complete, failed)
			}
			return m, fmt.Errorf("timed out after %s with %d Jobs, %d complete, %d failed", timeout, seen, complete, failed)
		}
	}
	m.AllJobs = tracker.allSeenAfter()
	m.AllJobsEnded = tracker.allEndedAfter()
	if floor != nil {
		res, err := floor.wait()
		if err != nil {
			return m, err
		}
		m.FloorCreates = time.Duration(res.Seconds * float64(time.Second))
		m.FloorErrors = res.Errors
		if sd == trialFloorSide {
			// Its seconds run from its start until every Trial's end
			// was written.
			m.Succeeded = m.FloorCreates
		}
	}
	if k != fanout {
		// Trailing writes of the run (the Experiment's last event) land
		// before the metrics are read.
		select {
		case <-time.After(b.c.settle):
		case <-ctx.Done():
			return m, ctx.Err()
		}
	}

	extra := map[string]float64{}
	if sd == operatorSide {
		text, err := httpGet(ctx, "http://"+metricsAddr+"/metrics")
		var mm managerMetrics
		if err == nil {
			mm, err = parseManagerMetrics(text)
		}
		if err == nil {
			m.Manager = &mm
		} else {
			logf("warning: reading the manager's metrics: %v", err)
		}
		u, err := mgr.Usage()
		if err != nil {
			return m, err
		}
		m.PeakRSS, m.CPUSeconds = u.PeakRSSBytes, u.CPUSeconds
	} else {
		m.PeakRSS, m.CPUSeconds = floor.usage()
		extra["floor"] = m.CPUSeconds - cpuBefore.procs["floor"]
		delete(cpuBefore.procs, "floor")
	}
	cpuAfter := takeCPU(pids)
	m.LoadAfter = loadAverage()
	m.CPU = cpuBefore.until(cpuAfter, extra)
	metricsAfter, err := b.apiserverMetrics(ctx)
	if err != nil {
		return m, err
	}
	m.Writes = metricsAfter.minus(metricsBefore)

	if m.Events, err = b.countEvents(ctx, ns); err != nil {
		return m, err
	}
	switch sd {
	case operatorSide:
		m.TrialsCreated, m.Phase, err = b.trialsCreated(ctx, ns, start)
		if err != nil {
			return m, err
		}
	case trialFloorSide:
		if err := b.checkTrialsEnded(ctx, ns, n); err != nil {
			return m, err
		}
	}
	logf("  done: all Jobs %s, all ended %s, Succeeded %s; peak RSS %.0f MiB, CPU %.1fs",
		m.AllJobs.Round(time.Millisecond), m.AllJobsEnded.Round(time.Millisecond), m.Succeeded.Round(time.Millisecond),
		float64(m.PeakRSS)/(1<<20), m.CPUSeconds)
	return m, nil
}

// waitSucceeded watches the Experiment and sends the time it was first seen
// Succeeded; the channel is closed without a value when ctx ends first or
// the Experiment Failed. A watch, not a poll: a GET goes to etcd, and ten a
// second for the length of a sweep would be charged to the operator.
func (b *bench) waitSucceeded(ctx context.Context, ns string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	name := fields.OneTermEqualSelector("metadata.name", experimentName).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = name
			list := &crucible.ExperimentList{}
			return list, b.cl.List(ctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &o})
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = name
			return b.cl.Watch(ctx, &crucible.ExperimentList{}, client.InNamespace(ns), &client.ListOptions{Raw: &o})
		},
	}
	go func() {
		defer close(ch)
		_, err := toolswatch.UntilWithSync(ctx, lw, &crucible.Experiment{}, nil, func(ev watch.Event) (bool, error) {
			exp, ok := ev.Object.(*crucible.Experiment)
			if !ok {
				return false, nil
			}
			switch exp.Status.Phase {
			case crucible.ExperimentSucceeded:
				ch <- time.Now()
				return true, nil
			case crucible.ExperimentFailed:
				logf("the Experiment failed: %+v", exp.Status.Conditions)
				return true, nil
			}
			return false, nil
		})
		if err != nil && ctx.Err() == nil {
			logf("watching the Experiment: %v", err)
		}
	}()
	return ch
}

// trialsCreated returns when the last Trial was created (1 s resolution:
// creationTimestamp) relative to start, and the Experiment's phase.
func (b *bench) trialsCreated(ctx context.Context, ns string, start time.Time) (time.Duration, string, error) {
	var last time.Time
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(crucible.GroupVersion.WithKind("TrialList"))
	cont := ""
	for {
		if err := b.cl.List(ctx, list, client.InNamespace(ns), client.Limit(1000), client.Continue(cont)); err != nil {
			return 0, "", err
		}
		for _, t := range list.Items {
			if ts := t.CreationTimestamp.Time; ts.After(last) {
				last = ts
			}
		}
		if cont = list.Continue; cont == "" {
			break
		}
	}
	exp := &crucible.Experiment{}
	if err := b.cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: experimentName}, exp); err != nil {
		return 0, "", err
	}
	if last.IsZero() {
		return 0, string(exp.Status.Phase), nil
	}
	// creationTimestamp has whole seconds: round start down the same way.
	return last.Sub(start.Truncate(time.Second)), string(exp.Status.Phase), nil
}

// checkTrialsEnded fails unless all n Trials of the namespace Succeeded with
// an objective: a floor with Trials that recorded less did less than the
// operator.
func (b *bench) checkTrialsEnded(ctx context.Context, ns string, n int) error {
	list := &crucible.TrialList{}
	if err := b.cl.List(ctx, list, client.InNamespace(ns)); err != nil {
		return err
	}
	ok := 0
	for _, t := range list.Items {
		if t.Status.Phase == crucible.TrialSucceeded && t.Status.Objective != "" && len(t.Status.Conditions) == 1 {
			ok++
		}
	}
	if ok != n {
		return fmt.Errorf("the floor with Trials recorded %d of %d Trials Succeeded with an objective (%d Trials)", ok, n, len(list.Items))
	}
	return nil
}

// countEvents counts the namespace's Events by reporting controller and
// reason.
func (b *bench) countEvents(ctx context.Context, ns string) (map[string]int, error) {
	out := map[string]int{}
	cont := ""
	for {
		list, err := b.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{Limit: 1000, Continue: cont})
		if err != nil {
			return nil, err
		}
		for _, e := range list.Items {
			who := e.ReportingController
			if who == "" {
				who = e.Source.Component
			}
			out[who+" "+e.Reason]++
		}
		if cont = list.Continue; cont == "" {
			return out, nil
		}
	}
}

func (b *bench) apiserverMetrics(ctx context.Context) (reqCounts, error) {
	raw, err := b.cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading kube-apiserver's /metrics: %w", err)
	}
	return apiserverWrites(string(raw))
}

// newNamespace creates a namespace and waits for its default ServiceAccount
// (pods are refused without it).
func (b *bench) newNamespace(ctx context.Context, what string) (string, error) {
	name := fmt.Sprintf("bench-%s-%s", what, b.runID)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"crucible.dev/bench": b.runID}}}
	if err := b.cl.Create(ctx, ns); err != nil {
		return "", fmt.Errorf("creating namespace %s: %w", name, err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		err := b.cl.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client.IgnoreNotFound(err)
	})
	if err != nil {
		return "", fmt.Errorf("waiting for the default ServiceAccount of %s: %w", name, err)
	}
	return name, nil
}

// deleteNamespace deletes ns and waits until it is gone, so that the next
// measurement does not share the cluster with its garbage collection.
// deleteLeftovers deletes the namespaces an interrupted earlier run left
// on the cluster: their Experiments would otherwise run beside this run's,
// in its manager, and count in its figures.
func (b *bench) deleteLeftovers(ctx context.Context) error {
	var nss corev1.NamespaceList
	if err := b.cl.List(ctx, &nss); err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	for _, ns := range nss.Items {
		if !strings.HasPrefix(ns.Name, "bench-") {
			continue
		}
		logf("deleting namespace %s, left by an earlier run", ns.Name)
		if err := b.deleteNamespace(ctx, ns.Name); err != nil {
			return fmt.Errorf("deleting the leftover namespace %s: %w", ns.Name, err)
		}
	}
	return nil
}

func (b *bench) deleteNamespace(ctx context.Context, name string) error {
	start := time.Now()
	// The Jobs go first. Namespace deletion deletes Pods first and waits
	// for them to be gone before it deletes anything else (ordered namespace
	// deletion), but a deleted Pod of a running Job keeps the Job
	// controller's tracking finalizer until it is terminal, and a KWOK pod
	// that is deleted never becomes terminal: the fan-out's Pods would stay
	// forever. A Pod whose Job is gone loses the finalizer.
	// One by one: a delete-collection of thousands of Jobs outlives the API
	// server's request timeout on a busy machine.
	if err := b.deleteJobs(ctx, name); err != nil {
		return err
	}
	err := b.cl.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}},
		client.PropagationPolicy(metav1.DeletePropagationBackground))
	if client.IgnoreNotFound(err) != nil {
		return err
	}
	last := time.Now()
	err = wait.PollUntilContextTimeout(ctx, time.Second, b.c.cleanupTimeout, true, func(ctx context.Context) (bool, error) {
		err := b.cl.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if time.Since(last) > 30*time.Second {
			last = time.Now()
			var pods metav1.PartialObjectMetadataList
			pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
			_ = b.cl.List(ctx, &pods, client.InNamespace(name))
			logf("  deleting %s: %s, %d pods left", name, time.Since(start).Round(time.Second), len(pods.Items))
		}
		return false, client.IgnoreNotFound(err)
	})
	if err != nil {
		return fmt.Errorf("waiting for namespace %s to be deleted: %w", name, err)
	}
	logf("  deleted namespace %s in %s", name, time.Since(start).Round(time.Second))
	return nil
}

// deleteJobs deletes every Job of ns, background propagation, 32 at a time.
func (b *bench) deleteJobs(ctx context.Context, ns string) error {
	var jobs metav1.PartialObjectMetadataList
	jobs.SetGroupVersionKind(batchv1.SchemeGroupVersion.WithKind("JobList"))
	if err := b.cl.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		return client.IgnoreNotFound(err)
	}
	errs := make([]error, len(jobs.Items))
	workqueue.ParallelizeUntil(ctx, 32, len(jobs.Items), func(i int) {
		err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 6},
			func(ctx context.Context) (bool, error) {
				err := b.cl.Delete(ctx, &jobs.Items[i], client.PropagationPolicy(metav1.DeletePropagationBackground))
				return client.IgnoreNotFound(err) == nil, nil
			})
		if err != nil {
			errs[i] = fmt.Errorf("deleting Job %s/%s: %w", ns, jobs.Items[i].Name, err)
		}
	})
	return errors.Join(errs...)
}

// startManager starts a fresh manager with its metrics on a local port and
// waits until both controllers run their workers.
func (b *bench) startManager(ctx context.Context, ns string) (*framework.Manager, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	args := []string{
		"--metrics-bind-address=" + addr, "--metrics-secure=false",
		fmt.Sprintf("--experiment-workers=%d", b.c.experimentWorkers),
		fmt.Sprintf("--trial-workers=%d", b.c.trialWorkers),
	}
	args = append(args, b.c.managerArgs...)
	logPath := filepath.Join(b.logDir, ns+".manager.log")
	mgr, err := framework.StartManager(b.c.kubeconfig, logPath, args...)
	if err != nil {
		return nil, "", err
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		if err := syscall.Kill(mgr.Pid(), 0); err != nil {
			return false, fmt.Errorf("the manager exited (log %s)", logPath)
		}
		data, _ := os.ReadFile(logPath)
		return strings.Count(string(data), `"Starting workers"`) >= 2, nil
	})
	if err != nil {
		_ = mgr.Stop(10 * time.Second)
		return nil, "", fmt.Errorf("waiting for the manager's workers: %w", err)
	}
	return mgr, addr, nil
}

// floorProc is a running floor program.
type floorProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	last   string
}

func (b *bench) startFloor(ctx context.Context, ns string, exp *crucible.Experiment, trials bool) (*floorProc, error) {
	spec := floorSpec{Template: b.template, Experiment: exp, Annotations: b.floorAnnotations(kindOf(exp)), Namespace: ns,
		Workers: b.c.floorWorkers, Trials: trials}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	specPath := filepath.Join(b.logDir, ns+".floor.json")
	if err := os.WriteFile(specPath, data, 0o644); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, floorCommand, "-kubeconfig", b.c.kubeconfig, "-spec", specPath,
		"-timeout", b.c.completionTimeout.String())
	logFile, err := os.Create(filepath.Join(b.logDir, ns+".floor.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	p := &floorProc{cmd: cmd}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.stdout = bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := p.stdout.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		p.kill()
		return nil, fmt.Errorf("the floor program did not get ready (%q, %v; log %s)", line, err, logFile.Name())
	}
	return p, nil
}

// kindOf tells the run's kind from the Experiment's pod annotations.
func kindOf(exp *crucible.Experiment) kind {
	if _, ok := exp.Spec.PodTemplate.Annotations[annotationOutcome]; ok {
		return fanout
	}
	return completion
}

func (p *floorProc) start() error {
	_, err := io.WriteString(p.stdin, "go\n")
	return err
}

func (p *floorProc) wait() (floorResult, error) {
	var res floorResult
	for {
		line, err := p.stdout.ReadString('\n')
		if strings.HasPrefix(line, "{") {
			p.last = line
		}
		if err != nil {
			break
		}
	}
	if err := p.cmd.Wait(); err != nil {
		return res, fmt.Errorf("the floor program: %w", err)
	}
	if err := json.Unmarshal([]byte(p.last), &res); err != nil {
		return res, fmt.Errorf("reading the floor program's result %q: %w", p.last, err)
	}
	return res, nil
}

// usage is the exited floor program's peak RSS and CPU seconds.
func (p *floorProc) usage() (int64, float64) {
	st := p.cmd.ProcessState
	if st == nil {
		return 0, 0
	}
	var rss int64
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024
	}
	return rss, (st.UserTime() + st.SystemTime()).Seconds()
}

func (p *floorProc) kill() {
	if p.cmd.ProcessState == nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }() // a read error is reported below
	data, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(data), err
}

func commandLine() string {
	args := []string{"go run ./test/bench"}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \t'\"") {
			a = "'" + a + "'"
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}
