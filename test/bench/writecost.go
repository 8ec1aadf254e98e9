package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/searchspace"
	"github.com/crucible-dev/crucible/internal/specdigest"
	"github.com/crucible-dev/crucible/internal/trialspec"
)

// The write-cost run prices one write of each kind the operator adds to a
// sweep, in CPU of the API server and etcd, against a create of a
// built-in object of about the same size, with nothing else running: no
// manager, no Jobs. The sweep runs cannot tell a write's price from the
// work around it.

// writeOp is one kind of write the write-cost run times.
type writeOp string

const (
	// opConfigMapCreate is the baseline: a built-in object (protobuf, no
	// schema of its own) with the Trial's fields as its data.
	opConfigMapCreate writeOp = "ConfigMap create (built-in, baseline)"
	opTrialCreate     writeOp = "Trial create"
	opTrialRunning    writeOp = "Trial status: Running"
	opTrialEnd        writeOp = "Trial status: Succeeded"
)

var writeOps = []writeOp{opConfigMapCreate, opTrialCreate, opTrialRunning, opTrialEnd}

// writeCost is one timed batch of writes of one kind.
type writeCost struct {
	Op     writeOp
	Round  int
	N      int
	Wall   time.Duration
	API    float64 // kube-apiserver CPU seconds, net of its idle rate
	Etcd   float64 // etcd CPU seconds, net of its idle rate
	Errors int
}

func (w writeCost) apiMS() float64  { return 1000 * w.API / float64(w.N) }
func (w writeCost) etcdMS() float64 { return 1000 * w.Etcd / float64(w.N) }

// measureWriteCost runs -write-cost-rounds rounds of -write-cost-n writes
// of each kind, each round in a namespace of its own.
func (b *bench) measureWriteCost(ctx context.Context) ([]writeCost, error) {
	var out []writeCost
	for round := 1; round <= b.c.writeCostRounds; round++ {
		costs, err := b.writeCostRound(ctx, round)
		out = append(out, costs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (b *bench) writeCostRound(ctx context.Context, round int) (out []writeCost, retErr error) {
	n, workers := b.c.writeCostN, b.c.writeCostWorkers
	ns, err := b.newNamespace(ctx, fmt.Sprintf("wc-%d", round))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := b.deleteNamespace(context.WithoutCancel(ctx), ns); err != nil && retErr == nil {
			retErr = err
		}
	}()
	// The Trials' owner, so that the garbage collector keeps them; it is
	// suspended, and no manager runs.
	exp := benchExperiment(ns, n, nil)
	exp.Spec.Suspend = true
	if err := b.cl.Create(ctx, exp); err != nil {
		return nil, fmt.Errorf("creating the Trials' Experiment: %w", err)
	}
	trials, err := sweepTrials(exp, n)
	if err != nil {
		return nil, fmt.Errorf("building the Trials: %w", err)
	}
	logf("write cost round %d: %d writes of each kind, %d at once, in namespace %s", round, n, workers, ns)

	pids := map[string]int{"kube-apiserver": b.cluster.pids["kube-apiserver"], "etcd": b.cluster.pids["etcd"]}
	for _, op := range writeOps {
		// The API server's own background work (leases, the controllers'
		// resyncs), measured just before, is taken out.
		idle := takeCPU(pids)
		time.Sleep(2 * time.Second)
		start := takeCPU(pids)
		idleAPI := (start.procs["kube-apiserver"] - idle.procs["kube-apiserver"]) / start.at.Sub(idle.at).Seconds()
		idleEtcd := (start.procs["etcd"] - idle.procs["etcd"]) / start.at.Sub(idle.at).Seconds()

		var (
			mu    sync.Mutex
			errs  int
			first error
		)
		workqueue.ParallelizeUntil(ctx, workers, n, func(i int) {
			if err := b.writeOnce(ctx, op, ns, trials[i], i); err != nil {
				mu.Lock()
				errs++
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
		end := takeCPU(pids)
		wall := end.at.Sub(start.at)
		c := writeCost{
			Op: op, Round: round, N: n, Wall: wall, Errors: errs,
			API:  max(0, end.procs["kube-apiserver"]-start.procs["kube-apiserver"]-idleAPI*wall.Seconds()),
			Etcd: max(0, end.procs["etcd"]-start.procs["etcd"]-idleEtcd*wall.Seconds()),
		}
		out = append(out, c)
		logf("  %s: %s, API server %.2f ms per write, etcd %.2f ms", op, wall.Round(time.Millisecond), c.apiMS(), c.etcdMS())
		if first != nil {
			return out, fmt.Errorf("%s: %d of %d writes failed, the first: %w", op, errs, n, first)
		}
	}
	return out, nil
}

// writeOnce makes write i of kind op. The Trial writes are the operator's:
// the same object, the same merge patches of the status subresource.
func (b *bench) writeOnce(ctx context.Context, op writeOp, ns string, trial *crucible.Trial, i int) error {
	switch op {
	case opConfigMapCreate:
		s := trial.Spec
		data := map[string]string{
			"index": strconv.FormatInt(s.Index, 10), "seed": strconv.FormatInt(s.Seed, 10), "assignment": s.Assignment,
			"image": s.Image, "experimentDigest": s.ExperimentDigest,
		}
		for _, p := range s.Parameters {
			data[p.Name] = p.Value
		}
		return b.cl.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: trial.Name, Namespace: ns, Labels: trial.Labels, OwnerReferences: trial.OwnerReferences,
			},
			Data: data,
		})
	case opTrialCreate:
		return b.cl.Create(ctx, trial)
	case opTrialRunning:
		before := trial.DeepCopy()
		start := metav1.NewTime(time.Now().Truncate(time.Second))
		trial.Status.Phase = crucible.TrialRunning
		trial.Status.JobName = trial.Name
		trial.Status.StartTime = &start
		return b.cl.Status().Patch(ctx, trial, client.MergeFrom(before))
	case opTrialEnd:
		before := trial.DeepCopy()
		end := metav1.NewTime(time.Now().Truncate(time.Second))
		objective := strconv.FormatFloat(0.5+float64(i%97)/1000, 'g', -1, 64)
		trial.Status.Phase = crucible.TrialSucceeded
		trial.Status.CompletionTime = &end
		trial.Status.Objective = objective
		trial.Status.Metrics = map[string]string{"val_loss": objective, "accuracy": "0.91"}
		meta.SetStatusCondition(&trial.Status.Conditions, metav1.Condition{
			Type: crucible.TrialSucceededCondition, Status: metav1.ConditionTrue, Reason: crucible.ReasonMetricsRecorded,
			Message: "val_loss=" + objective, LastTransitionTime: end, ObservedGeneration: trial.Generation,
		})
		return b.cl.Status().Patch(ctx, trial, client.MergeFrom(before))
	}
	return fmt.Errorf("unknown write %q", op)
}

// sweepTrials are the Trials the Experiment reconciler builds
// (trialspec.New) for the first n points of exp's search space.
func sweepTrials(exp *crucible.Experiment, n int) ([]*crucible.Trial, error) {
	space, err := searchspace.New(&exp.Spec)
	if err != nil {
		return nil, err
	}
	digest, err := specdigest.Compute(&exp.Spec)
	if err != nil {
		return nil, err
	}
	trials := make([]*crucible.Trial, n)
	for i := range trials {
		point, err := space.Trial(int64(i))
		if err != nil {
			return nil, err
		}
		trials[i] = trialspec.New(exp, point, digest)
	}
	return trials, nil
}

// medianWriteCost is the round of op with the median API server CPU per
// write (of two middle ones, the dearer), and every round's figure in the
// order they ran.
func medianWriteCost(costs []writeCost, op writeOp) (writeCost, []float64, bool) {
	var rounds []writeCost
	var all []float64
	for _, c := range costs {
		if c.Op == op && c.Errors == 0 {
			rounds = append(rounds, c)
			all = append(all, c.apiMS())
		}
	}
	if len(rounds) == 0 {
		return writeCost{}, nil, false
	}
	return median(rounds, writeCost.apiMS, true), all, true
}
