// Command bench measures Crucible's sweep throughput and footprint on a local
// cluster (make dev-cluster) against a plain client-go program doing the bare
// minimum on the same API server in the same run (the floor):
//
//   - fan-out: an Experiment of N trials with parallelism N, time until every
//     Job exists; the floor creates N equivalent Jobs as fast as it can;
//   - completion: the same sweep with trial pods completing through the KWOK
//     trainer Stage, time from apply to Experiment Succeeded; the floor
//     creates N Jobs and waits until all are complete;
//   - API writes per trial (kube-apiserver's apiserver_request_total, diffed
//     around each completion run, by verb and resource), the manager's own
//     writes (its client-go metrics), Events, and the manager's peak RSS and
//     CPU seconds;
//   - steady state: N trials of 10 s, 100 at a time (operator only), for the
//     writes per trial of a long sweep, where every trial runs long enough
//     to be recorded Running and trials end one after another;
//   - write cost: the API server's and etcd's CPU per write of each kind the
//     operator adds (Trial create, its Running and end status writes),
//     against a create of a built-in object, with nothing else running.
//
// Every measurement gets a fresh namespace and, on the operator side, a
// fresh manager process; floor and operator alternate (floor first) and the
// namespace is deleted, and its deletion waited for, before the next one.
//
// With -repeat K, each fan-out and completion comparison runs K alternating
// floor-and-operator pairs and the report gives the median pair.
//
//	go run ./test/bench -kubeconfig .cluster-bench/kubeconfig -n 1000,5000 -rss-n 5000,10000 -repeat 3 -out docs/benchmarks.md
//
// make bench runs it on a cluster of its own (CLUSTER_NAME=crucible-bench).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

type config struct {
	kubeconfig string
	clusterDir string
	out        string

	fanoutN []int
	rssN    []int
	steadyN []int
	kinds   []kind
	sides   []side

	repeat            int
	writeCostN        int
	writeCostRounds   int
	writeCostWorkers  int
	floorWorkers      int
	experimentWorkers int
	trialWorkers      int
	managerArgs       []string

	duration          string
	steadyDuration    string
	steadyParallelism int
	fanoutTimeout     time.Duration
	completionTimeout time.Duration
	cleanupTimeout    time.Duration
	settle            time.Duration
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == floorCommand {
		if err := runFloorProcess(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		return
	}

	var (
		c                config
		nList, rssList   string
		steadyList       string
		managerArgs      string
		kindList         string
		sideList         string
		defaultKubecfg   = os.Getenv("KUBECONFIG")
		defaultOutput    = ""
		defaultClusterNm = ""
	)
	flag.StringVar(&c.kubeconfig, "kubeconfig", defaultKubecfg, "kubeconfig of the benchmark cluster (make dev-cluster CLUSTER_DIR=...)")
	flag.StringVar(&c.clusterDir, "cluster-dir", defaultClusterNm, "the cluster's CLUSTER_DIR, to find its processes and to keep logs; the kubeconfig's directory when empty")
	flag.StringVar(&c.out, "out", defaultOutput, "markdown file to write the results into (between the bench markers; created when missing); none when empty")
	flag.StringVar(&nList, "n", "1000,5000", "sweep sizes of the fan-out and completion comparisons, comma-separated; empty for none")
	flag.StringVar(&rssList, "rss-n", "5000,10000", "sweep sizes of the footprint runs (API writes, RSS, CPU); a size also in -n reuses its completion runs")
	flag.StringVar(&steadyList, "steady-n", "1000", "sweep sizes of the steady-state runs (operator only: trials of -steady-duration, -steady-parallelism at a time, for the writes per trial of a long sweep); empty for none")
	flag.IntVar(&c.steadyParallelism, "steady-parallelism", 100, "parallelism of the steady-state runs")
	flag.StringVar(&c.steadyDuration, "steady-duration", "10s", "how long a trial pod runs in the steady-state runs: longer than the 5 s after which a Trial records Running")
	flag.StringVar(&kindList, "kinds", "write-cost,fan-out,completion,steady", "which measurements to run, for trying things out: write-cost, fan-out, completion, steady")
	flag.IntVar(&c.writeCostN, "write-cost-n", 3000, "writes of each kind per write-cost round")
	flag.IntVar(&c.writeCostRounds, "write-cost-rounds", 3, "write-cost rounds; the report gives the median round of each kind of write")
	flag.IntVar(&c.writeCostWorkers, "write-cost-workers", 64, "concurrent writes in the write-cost run")
	flag.StringVar(&sideList, "sides", "floor,trial-floor,operator", "which sides to run: floor, trial-floor (the floor with Trials, completion runs only), operator")
	flag.IntVar(&c.repeat, "repeat", 1, "floor-and-operator pairs per fan-out and completion measurement of the -n sizes (-rss-n sizes and steady runs run once); the report gives the median pair's figures and every pair's ratio")
	flag.IntVar(&c.floorWorkers, "floor-workers", 256, "concurrent creates of the floor program (on a loaded 2-core machine the API server's throughput grows with concurrency up to about 128-512)")
	flag.IntVar(&c.experimentWorkers, "experiment-workers", 4, "the manager's --experiment-workers")
	flag.IntVar(&c.trialWorkers, "trial-workers", 16, "the manager's --trial-workers")
	flag.StringVar(&managerArgs, "manager-args", "", "more manager flags, space-separated")
	flag.StringVar(&c.duration, "duration", "1s", "how long a trial pod runs in the completion runs (annotation crucible.dev/e2e-duration)")
	flag.DurationVar(&c.fanoutTimeout, "fanout-timeout", 15*time.Minute, "limit of one fan-out measurement")
	flag.DurationVar(&c.completionTimeout, "completion-timeout", 40*time.Minute, "limit of one completion measurement")
	flag.DurationVar(&c.cleanupTimeout, "cleanup-timeout", 30*time.Minute, "limit of deleting one measurement's namespace")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "wait after a completion run before the metrics are read, for trailing writes (events)")
	flag.Parse()

	var err error
	if c.fanoutN, err = parseSizes(nList); err == nil {
		c.rssN, err = parseSizes(rssList)
	}
	if err == nil {
		c.steadyN, err = parseSizes(steadyList)
	}
	if err != nil {
		fatal(err)
	}
	for _, k := range strings.Split(kindList, ",") {
		switch k := kind(strings.TrimSpace(k)); k {
		case writeCostKind, fanout, completion, steady:
			c.kinds = append(c.kinds, k)
		case "":
		default:
			fatal(fmt.Errorf("-kinds: unknown %q", k))
		}
	}
	for _, sd := range strings.Split(sideList, ",") {
		switch sd := side(strings.TrimSpace(sd)); sd {
		case floorSide, trialFloorSide, operatorSide:
			c.sides = append(c.sides, sd)
		case "":
		default:
			fatal(fmt.Errorf("-sides: unknown %q", sd))
		}
	}
	if c.repeat < 1 {
		fatal(fmt.Errorf("-repeat must be at least 1"))
	}
	if c.writeCostN < 1 || c.writeCostRounds < 1 || c.writeCostWorkers < 1 {
		fatal(fmt.Errorf("-write-cost-n, -write-cost-rounds and -write-cost-workers must be at least 1"))
	}
	if c.kubeconfig == "" {
		fatal(fmt.Errorf("-kubeconfig is required"))
	}
	if c.kubeconfig, err = filepath.Abs(c.kubeconfig); err != nil {
		fatal(err)
	}
	if c.clusterDir == "" {
		c.clusterDir = filepath.Dir(c.kubeconfig)
	}
	if managerArgs != "" {
		c.managerArgs = strings.Fields(managerArgs)
	}

	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(ctx, c)
	if err != nil {
		fatal(err)
	}
	rep, err := b.run(ctx)
	if rep != nil {
		text := rep.markdown()
		fmt.Println(text)
		if c.out != "" {
			if werr := writeReport(c.out, text); werr != nil {
				fmt.Fprintln(os.Stderr, "bench: writing", c.out+":", werr)
				if err == nil {
					err = werr
				}
			} else {
				logf("wrote %s", c.out)
			}
		}
	}
	if err != nil {
		fatal(err)
	}
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 || n > 100000 {
			return nil, fmt.Errorf("bad sweep size %q: want 1..100000", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
