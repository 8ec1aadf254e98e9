package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Targets of the benchmark issue.
const (
	targetFanoutRatio     = 0.5 // operator trials/s over floor jobs/s, at least
	targetCompletionRatio = 1.2 // operator time over floor time, at most
	targetWritesPerTrial  = 4.0 // the manager's API writes per trial, at most
	targetRSSMiB          = 300 // the manager's peak RSS at 10,000 Trials, below
	targetRSSN            = 10000
)

type report struct {
	Machine      machineInfo
	Cluster      clusterInfo
	Config       config
	Command      string
	Started      time.Time
	Finished     time.Time
	LoadStart    string
	LoadEnd      string
	Measurements []measurement
	WriteCosts   []writeCost
	// PodMetaPruned: the Experiment's pod annotations did not reach the
	// pods (see bench.podMetaPruned).
	PodMetaPruned bool
}

func (r *report) find(k kind, sd side, n int) *measurement {
	for i := range r.Measurements {
		m := &r.Measurements[i]
		if m.Kind == k && m.Side == sd && m.N == n && m.Err == "" {
			return m
		}
	}
	return nil
}

// fanoutRatio is the operator's trials/s over the floor's jobs/s.
func fanoutRatio(f, o *measurement) float64 {
	return rate(o.N, o.AllJobs) / rate(f.N, f.AllJobs)
}

// completionRatio is the operator's time to Succeeded over the floor's
// time until every Job ended.
func completionRatio(f, o *measurement) float64 {
	return o.Succeeded.Seconds() / f.AllJobsEnded.Seconds()
}

// pair is a floor and an operator measurement of the same kind, size and
// round, and the operator's ratio to the floor (fan-out: trials/s over
// jobs/s; completion: time over time).
type pair struct {
	f, o  *measurement
	ratio float64
}

// pairs returns every round of kind k and size n in which both sides ran
// without error, in round order.
func (r *report) pairs(k kind, n int) []pair {
	var out []pair
	for i := range r.Measurements {
		o := &r.Measurements[i]
		if o.Kind != k || o.N != n || o.Side != operatorSide || o.Err != "" {
			continue
		}
		for j := range r.Measurements {
			f := &r.Measurements[j]
			if f.Kind == k && f.N == n && f.Side == floorSide && f.Round == o.Round && f.Err == "" {
				ratio := completionRatio(f, o)
				if k == fanout {
					ratio = fanoutRatio(f, o)
				}
				out = append(out, pair{f, o, ratio})
			}
		}
	}
	return out
}

// pick returns the floor and operator measurements of kind k and size n to
// report, and the ratio of every round in which both sides ran, in round
// order. With several rounds it picks the round of the median ratio; of
// an even number, the one of the two middle rounds worse for the operator
// (lower fan-out, higher completion ratio). Without a complete round it
// returns what there is of either side.
func (r *report) pick(k kind, n int) (f, o *measurement, ratios []float64) {
	pairs := r.pairs(k, n)
	if len(pairs) == 0 {
		return r.find(k, floorSide, n), r.find(k, operatorSide, n), nil
	}
	for _, p := range pairs {
		ratios = append(ratios, p.ratio)
	}
	// Of two middle rounds, the worse for the operator: the higher
	// completion ratio, the lower fan-out ratio.
	p := median(pairs, func(p pair) float64 { return p.ratio }, k != fanout)
	return p.f, p.o, ratios
}

// cpuRows are the rows of the CPU-per-trial table: a name and the
// processes it adds up.
var cpuRows = []struct {
	name  string
	procs []string
}{
	{"kube-apiserver", []string{"kube-apiserver"}},
	{"etcd", []string{"etcd"}},
	{"kube-controller-manager", []string{"kube-controller-manager"}},
	{"kube-scheduler", []string{"kube-scheduler"}},
	{"kwok", []string{"kwok-controller"}},
	{"manager / floor program", []string{"manager", "floor"}},
	{"bench", []string{"bench"}},
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// cpuRowNames are the names of cpuRows, in order.
func cpuRowNames() []string {
	names := make([]string, len(cpuRows))
	for i, row := range cpuRows {
		names[i] = row.name
	}
	return names
}

// cpuRowOther and cpuRowMachine are the table's last two rows: processes
// the bench does not know, and every process.
const (
	cpuRowOther   = "other"
	cpuRowMachine = "machine"
)

// cpuPerTrial is the mean over pairs of the CPU milliseconds per trial of
// every row of cpuRows, of cpuRowOther and of cpuRowMachine, for the floor
// and for the operator.
func cpuPerTrial(pairs []pair) (floor, operator map[string]float64) {
	var fs, os []*measurement
	for _, p := range pairs {
		fs, os = append(fs, p.f), append(os, p.o)
	}
	return cpuMean(fs), cpuMean(os)
}

// cpuMean is the mean over ms of the CPU milliseconds per trial of every
// row of cpuRows, of cpuRowOther and of cpuRowMachine.
func cpuMean(ms []*measurement) map[string]float64 {
	out := map[string]float64{}
	for _, m := range ms {
		per := 1000 / float64(m.N) / float64(len(ms))
		for _, row := range cpuRows {
			for _, proc := range row.procs {
				out[row.name] += m.CPU.Procs[proc] * per
			}
		}
		out[cpuRowOther] += m.CPU.Other * per
		out[cpuRowMachine] += m.CPU.Busy * per
	}
	return out
}

// triple is a completion round's floor, floor with Trials and operator
// measurements, and the ratios that compare them.
type triple struct {
	f, t, o *measurement
	// trials is the floor with Trials' time over the floor's: the price
	// of the Trial object; operator is the operator's time over the floor
	// with Trials': what the operator adds to it.
	trials, operator float64
}

// triples returns every completion round of size n in which all three
// sides ran without error, in round order.
func (r *report) triples(n int) []triple {
	var out []triple
	for _, p := range r.pairs(completion, n) {
		t := r.findRound(completion, trialFloorSide, n, p.o.Round)
		if t == nil {
			continue
		}
		out = append(out, triple{f: p.f, t: t, o: p.o,
			trials: t.Succeeded.Seconds() / p.f.AllJobsEnded.Seconds(), operator: p.o.Succeeded.Seconds() / t.Succeeded.Seconds()})
	}
	return out
}

// findRound is find, of one round.
func (r *report) findRound(k kind, sd side, n, round int) *measurement {
	for i := range r.Measurements {
		m := &r.Measurements[i]
		if m.Kind == k && m.Side == sd && m.N == n && m.Round == round && m.Err == "" {
			return m
		}
	}
	return nil
}

// median is the element of xs with the median key; of an even number, the
// upper of the two middle ones when upper is set, else the lower.
func median[T any](xs []T, key func(T) float64, upper bool) T {
	sorted := slices.Clone(xs)
	slices.SortStableFunc(sorted, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	if upper {
		return sorted[len(sorted)/2]
	}
	return sorted[(len(sorted)-1)/2]
}

// roundWords spells every round's ratio when there was more than one.
func roundWords(ratios []float64, format string) string {
	if len(ratios) < 2 {
		return ""
	}
	parts := make([]string, len(ratios))
	for i, v := range ratios {
		parts[i] = fmt.Sprintf(format, v)
	}
	return strings.Join(parts, ", ")
}

func (r *report) sizes(k kind) []int {
	var out []int
	for _, m := range r.Measurements {
		if m.Kind == k && !slices.Contains(out, m.N) {
			out = append(out, m.N)
		}
	}
	sort.Ints(out)
	return out
}

func secs(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.Cluster
	cfg := r.Config

	w("## Results of %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	w("Command: `%s` (%s)\n\n", r.Command, r.Finished.Sub(r.Started).Round(time.Second))
	w("- Machine: %d cores (%s), %.1f GiB, Linux %s, %s. Load average (1 min): %s at the start, %s at the end.\n",
		r.Machine.Cores, r.Machine.CPUModel, r.Machine.MemGiB, r.Machine.Kernel, r.Machine.Go, r.LoadStart, r.LoadEnd)
	if other, peak, ok := r.otherCPU(); ok {
		w("- Other processes (not this cluster, the manager, the floor or the bench) used %.0f%% of the machine's CPU during the measurements on average, %.0f%% at most: %s.\n",
			100*other, 100*peak, busyWords(peak))
	}
	w("- Cluster: Kubernetes %s (kwokctl, binary runtime), %d KWOK nodes × %s pods; kube-controller-manager --kube-api-qps=%s --kube-api-burst=%s --concurrent-job-syncs=%s; kube-scheduler --kube-api-qps=%s --kube-api-burst=%s.\n",
		c.Version, c.Nodes, c.PodsPerNode, flagOr(c.KCM, "kube-api-qps"), flagOr(c.KCM, "kube-api-burst"), flagOr(c.KCM, "concurrent-job-syncs"),
		flagOr(c.Scheduler, "kube-api-qps"), flagOr(c.Scheduler, "kube-api-burst"))
	w("- Operator: `bin/manager --kube-api-qps=-1 --experiment-workers=%d --trial-workers=%d%s`, a fresh process per measurement.\n",
		cfg.experimentWorkers, cfg.trialWorkers, strings.Join(append([]string{""}, cfg.managerArgs...), " "))
	w("- Floor: a plain client-go program (no rate limit) creating the same Jobs (copied from one the operator built: names, labels, env, pod template) with %d concurrent creates.\n",
		cfg.floorWorkers)
	if r.PodMetaPruned {
		w("- Sweep: lr × depth grid of N trials, parallelism N, no dataset, no GPU. **The API server pruned the Experiment's `spec.podTemplate.metadata`** ")
		w("(the CRD's schema has no embedded ObjectMeta), so the pods of both sides carried no `crucible.dev/e2e-*` annotation: ")
		w("they ran the trainer Stage's default 2–4 s, in the fan-out runs as well (instead of %s, and of never completing).\n\n", cfg.duration)
	} else {
		w("- Sweep: lr × depth grid of N trials, parallelism N, no dataset, no GPU. Fan-out pods never complete (`%s: hang`); completion pods run %s (`%s`).\n\n",
			annotationOutcome, cfg.duration, annotationDuration)
	}

	r.writeCostMarkdown(w)

	if ns := r.sizes(fanout); len(ns) > 0 {
		w("### Fan-out: time until every Job exists\n\n")
		w("| N | floor: all Jobs | floor jobs/s | operator: all Trials¹ | operator: all Jobs | operator trials/s | operator / floor | target ≥ %.0f%% | every round² |\n", 100*targetFanoutRatio)
		w("|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
		for _, n := range ns {
			f, o, ratios := r.pick(fanout, n)
			if f == nil || o == nil {
				w("| %d | %s | | | | | | not measured | |\n", n, errOf(r, fanout, n))
				continue
			}
			fr, or := rate(n, f.AllJobs), rate(n, o.AllJobs)
			pct := make([]float64, len(ratios))
			for i, v := range ratios {
				pct[i] = 100 * v
			}
			w("| %d | %s | %.0f | %s | %s | %.0f | %.0f%% | %s | %s |\n", n, secs(f.AllJobs), fr, secs(o.TrialsCreated), secs(o.AllJobs), or,
				100*or/fr, verdict(or/fr >= targetFanoutRatio), roundWords(pct, "%.0f%%"))
		}
		w("\n¹ from the last Trial's creationTimestamp: whole seconds.\n")
		w("² with -repeat, the ratio of each floor-and-operator pair in the order they ran; the row shows the median pair (of two middle ones, the worse).\n\n")
	}

	if ns := r.sizes(completion); len(ns) > 0 {
		w("### Completion: time until every trial ended\n\n")
		w("| N | floor: all Jobs complete | operator: Experiment Succeeded | ratio | target ≤ %.1f× | operator: all Jobs exist | operator: all Jobs complete | floor: all Jobs exist | every round |\n", targetCompletionRatio)
		w("|---:|---:|---:|---:|---|---:|---:|---:|---|\n")
		for _, n := range ns {
			f, o, ratios := r.pick(completion, n)
			if f == nil || o == nil {
				w("| %d | %s | | | not measured | | | | |\n", n, errOf(r, completion, n))
				continue
			}
			ratio := completionRatio(f, o)
			w("| %d | %s | %s | %.2f× | %s | %s | %s | %s | %s |\n", n, secs(f.AllJobsEnded), secs(o.Succeeded), ratio,
				verdict(ratio <= targetCompletionRatio), secs(o.AllJobs), secs(o.AllJobsEnded), secs(f.AllJobs), roundWords(ratios, "%.2f×"))
		}
		w("\nThe tables below are of the median completion round.\n\n")
		r.trialFloorMarkdown(w, ns)

		w("### API writes per trial (completion runs, whole sweep)\n\n")
		w("The manager's own writes are counted by its client (client-go's `rest_client_requests_total`, POST/PUT/PATCH/DELETE); ")
		w("the API server's `apiserver_request_total` (diffed around each run) counts every client's writes, so the floor run's column is what the cluster itself writes for N Jobs.\n\n")
		w("| N | manager's writes / trial | by method | target ≤ %.0f | API server, operator run / trial | API server, floor run / trial | difference |\n", targetWritesPerTrial)
		w("|---:|---:|---|---|---:|---:|---:|\n")
		for _, n := range ns {
			f, o, _ := r.pick(completion, n)
			if o == nil || o.Manager == nil {
				continue
			}
			mw := o.Manager.writes() / float64(n)
			ot := o.Writes.total(nil) / float64(n)
			floorCols := "| |"
			if f != nil {
				ft := f.Writes.total(nil) / float64(n)
				floorCols = fmt.Sprintf("%.2f | %+.2f |", ft, ot-ft)
			}
			w("| %d | %.2f | %s | %s | %.2f | %s\n", n, mw, methods(o.Manager, n), verdict(mw <= targetWritesPerTrial), ot, floorCols)
		}
		w("\n")
		for _, n := range ns {
			f, o, _ := r.pick(completion, n)
			if f == nil || o == nil {
				continue
			}
			w("<details><summary>N=%d: API server writes per trial by verb and resource</summary>\n\n", n)
			w("| verb resource | floor run | operator run | difference |\n|---|---:|---:|---:|\n")
			keys := reqCounts{}
			for k := range f.Writes {
				keys[k] = 1
			}
			for k := range o.Writes {
				keys[k] = 1
			}
			small := reqCounts{}
			for _, k := range keys.keys() {
				fv, ov := f.Writes[k]/float64(n), o.Writes[k]/float64(n)
				if fv < 0.01 && ov < 0.01 {
					small[k] = 1
					continue
				}
				w("| %s | %.3f | %.3f | %+.3f |\n", k, fv, ov, ov-fv)
			}
			if len(small) > 0 {
				fv := f.Writes.total(func(k reqKey) bool { return small[k] != 0 }) / float64(n)
				ov := o.Writes.total(func(k reqKey) bool { return small[k] != 0 }) / float64(n)
				w("| %d others (leases, ...) | %.3f | %.3f | %+.3f |\n", len(small), fv, ov, ov-fv)
			}
			w("\n</details>\n\n")
		}

		w("### Manager footprint (completion runs)\n\n")
		w("| N | peak RSS | CPU | CPU / trial | reconciles / trial: trial, experiment | mean reconcile: trial, experiment | mean queue wait: trial, experiment | target RSS < %d MiB at %d |\n", targetRSSMiB, targetRSSN)
		w("|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, n := range ns {
			_, o, _ := r.pick(completion, n)
			if o == nil {
				continue
			}
			rss := float64(o.PeakRSS) / (1 << 20)
			v := "–"
			if n == targetRSSN {
				v = verdict(rss < targetRSSMiB)
			}
			recon, mean, queue := "–", "–", "–"
			if mm := o.Manager; mm != nil {
				recon = fmt.Sprintf("%.2f, %.2f", mm.Reconciles["trial"]/float64(n), mm.Reconciles["experiment"]/float64(n))
				mean = fmt.Sprintf("%s, %s", ms(mm.ReconcileSeconds["trial"], mm.Reconciles["trial"]), ms(mm.ReconcileSeconds["experiment"], mm.Reconciles["experiment"]))
				queue = fmt.Sprintf("%s, %s", ms(mm.QueueWaitSeconds["trial"], mm.QueueWaitCount["trial"]), ms(mm.QueueWaitSeconds["experiment"], mm.QueueWaitCount["experiment"]))
			}
			w("| %d | %.0f MiB | %.1f s | %.2f ms | %s | %s | %s | %s |\n", n, rss, o.CPUSeconds, 1000*o.CPUSeconds/float64(n), recon, mean, queue, v)
		}
		w("\n")

		w("### Events (completion runs)\n\n| N | side | reporting controller and reason: count |\n|---:|---|---|\n")
		for _, n := range ns {
			f, o, _ := r.pick(completion, n)
			for _, m := range []*measurement{f, o} {
				if m != nil {
					w("| %d | %s | %s |\n", n, m.Side, eventWords(m.Events))
				}
			}
		}
		w("\n")
	}

	if ns := r.sizes(steady); len(ns) > 0 {
		w("### Steady state: writes per trial of a long sweep\n\n")
		w("Trials run %s, %d at a time, so that trials end and start all the time and each runs past the 5 s after which its Trial records `Running`: ", r.Config.steadyDuration, r.Config.steadyParallelism)
		w("the writes of a long sweep, without the burst of the runs above. Operator only.\n\n")
		w("| N | Experiment Succeeded | manager's writes / trial | by method | target ≤ %.0f | Experiment status writes / trial (API server) | API server writes / trial, all clients |\n", targetWritesPerTrial)
		w("|---:|---:|---:|---|---|---:|---:|\n")
		for _, n := range ns {
			m := r.find(steady, operatorSide, n)
			if m == nil || m.Manager == nil {
				continue
			}
			mw := m.Manager.writes() / float64(n)
			expWrites := m.Writes.total(func(k reqKey) bool { return k.Resource == "experiments" && k.Subresource == "status" }) / float64(n)
			w("| %d | %s | %.2f | %s | %s | %.3f | %.2f |\n", n, secs(m.Succeeded), mw, methods(m.Manager, n),
				verdict(mw <= targetWritesPerTrial), expWrites, m.Writes.total(nil)/float64(n))
		}
		w("\n")
	}

	if ns := r.sizes(completion); len(ns) > 0 {
		w("### CPU per trial (completion runs): where the operator's time goes\n\n")
		w("CPU milliseconds per trial by process over the whole measurement, the mean of every floor-and-operator pair. ")
		w("Where the machine is busy throughout both runs (the last table), time follows CPU: within %.1f× of the floor's time, the operator may add about %.0f%% of the floor's CPU per trial.\n\n",
			targetCompletionRatio, 100*(targetCompletionRatio-1))
		for _, n := range ns {
			pairs := r.pairs(completion, n)
			if len(pairs) == 0 {
				continue
			}
			fl, op := cpuPerTrial(pairs)
			// Columns: the floor, the floor with Trials when it ran, the
			// operator; then each side's difference from the floor.
			type column struct {
				name string
				cpu  map[string]float64
			}
			cols, diffs := []column{{"floor", fl}}, []column{{"operator − floor", op}}
			var tms []*measurement
			for _, t := range r.triples(n) {
				tms = append(tms, t.t)
			}
			var tf map[string]float64
			if len(tms) > 0 {
				tf = cpuMean(tms)
				cols = append(cols, column{fmt.Sprintf("floor with Trials (%d)", len(tms)), tf})
				diffs = append(diffs, column{"floor with Trials − floor", tf})
			}
			cols = append(cols, column{"operator", op})
			if len(tms) == 0 {
				diffs[0].name = "difference"
			}
			w("| N=%d, %s |", n, plural(len(pairs), "pair"))
			for _, c := range append(cols, diffs...) {
				w(" %s |", c.name)
			}
			w("\n|---|%s\n", strings.Repeat("---:|", len(cols)+len(diffs)))
			for _, name := range append(cpuRowNames(), cpuRowOther, cpuRowMachine) {
				w("| %s |", name)
				for _, c := range cols {
					w(" %.1f ms |", c.cpu[name])
				}
				for _, c := range diffs {
					w(" %+.1f ms |", c.cpu[name]-fl[name])
				}
				w("\n")
			}
			if tf != nil {
				w("\nThe floor with Trials added %.1f ms of machine CPU per trial to the floor's; the operator, %.1f ms more than the floor with Trials.",
					tf[cpuRowMachine]-fl[cpuRowMachine], op[cpuRowMachine]-tf[cpuRowMachine])
			}
			w("\nAt N=%d the operator added %.1f ms of machine CPU per trial; %.1f× allows %.1f ms.\n\n",
				n, op[cpuRowMachine]-fl[cpuRowMachine], targetCompletionRatio, (targetCompletionRatio-1)*fl[cpuRowMachine])
		}
	}

	if len(r.Measurements) == 0 {
		return b.String()
	}
	w("### CPU during each measurement\n\n")
	w("CPU seconds by process over the measurement (from the start until its end condition); `other` is everything else on the machine.\n\n")
	w("| measurement | wall | machine busy | other | kube-apiserver | etcd | kube-controller-manager | kube-scheduler | kwok | manager / floor | bench | load before → after |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, m := range r.Measurements {
		cw := m.CPU
		who := cw.Procs["manager"] + cw.Procs["floor"]
		status := ""
		if m.Err != "" {
			status = " (failed: " + m.Err + ")"
		}
		round := ""
		if r.Config.repeat > 1 {
			round = fmt.Sprintf(" round %d", m.Round)
		}
		w("| %s %s N=%d%s%s | %.1f s | %.0f%% | %.0f%% | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s → %s |\n",
			m.Side, m.Kind, m.N, round, status, cw.Wall.Seconds(), 100*cw.utilisation(r.Machine.Cores, cw.Busy), 100*cw.utilisation(r.Machine.Cores, cw.Other),
			cw.Procs["kube-apiserver"], cw.Procs["etcd"], cw.Procs["kube-controller-manager"], cw.Procs["kube-scheduler"], cw.Procs["kwok-controller"],
			who, cw.Procs["bench"], m.LoadBefore, m.LoadAfter)
	}
	w("\n")
	return b.String()
}

// trialFloorMarkdown writes the comparison of the three completion sides,
// when the floor with Trials ran.
func (r *report) trialFloorMarkdown(w func(format string, args ...any), ns []int) {
	var rows []string
	for _, n := range ns {
		ts := r.triples(n)
		if len(ts) == 0 {
			continue
		}
		var tr, or []float64
		for _, t := range ts {
			tr, or = append(tr, t.trials), append(or, t.operator)
		}
		m := median(ts, func(t triple) float64 { return t.trials }, true)
		rows = append(rows, fmt.Sprintf("| %d | %s | %s | %.2f× | %s | %.2f× | %s | %s |", n, secs(m.f.AllJobsEnded), secs(m.t.Succeeded), m.trials,
			secs(m.o.Succeeded), m.operator, roundWords(tr, "%.2f×"), roundWords(or, "%.2f×")))
	}
	if len(rows) == 0 {
		return
	}
	w("### Completion: the floor with Trials\n\n")
	w("The floor with Trials is the least any program must do to keep a sweep's results on Trials: it creates every Trial, then every Job, ")
	w("controlled by its Trial; watches the Jobs and their Pods; and writes each Trial's end once, as the operator writes it (phase, times, metrics, objective, condition). ")
	w("It writes no `Running`, no Experiment status and no Event. Its time over the floor's is the price of the Trial object; ")
	w("the operator's time over the floor with Trials' is what the operator adds to that price.\n\n")
	w("| N | floor: all Jobs complete | floor with Trials: all Trials ended | floor with Trials / floor | operator: Experiment Succeeded | operator / floor with Trials | every round: with Trials / floor | every round: operator / with Trials |\n")
	w("|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, row := range rows {
		w("%s\n", row)
	}
	w("\nThe row is the round of the median floor-with-Trials ratio (of two middle ones, the higher).\n\n")
}

// otherCPU is the mean and peak share of the machine other processes used
// during the measurements, weighted by wall time.
func (r *report) otherCPU() (mean, peak float64, ok bool) {
	var wall, other float64
	for _, m := range r.Measurements {
		if m.CPU.Wall <= 0 {
			continue
		}
		wall += m.CPU.Wall.Seconds()
		other += m.CPU.Other
		peak = max(peak, m.CPU.utilisation(r.Machine.Cores, m.CPU.Other))
	}
	if wall == 0 {
		return 0, 0, false
	}
	return other / (wall * float64(r.Machine.Cores)), peak, true
}

func busyWords(peak float64) string {
	switch {
	case peak < 0.05:
		return "the machine was quiet"
	case peak < 0.2:
		return "the machine was mostly quiet"
	default:
		return "**the machine was busy with other work: the figures are pessimistic; re-run on a quiet machine**"
	}
}

func flagOr(flags map[string]string, k string) string {
	if v, ok := flags[k]; ok {
		return v
	}
	return "(default)"
}

func ms(sum, count float64) string {
	if count == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f ms", 1000*sum/count)
}

func methods(m *managerMetrics, n int) string {
	var parts []string
	for _, k := range []string{"POST", "PATCH", "PUT", "DELETE"} {
		if v := m.Requests[k]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, v/float64(n)))
		}
	}
	var failed []string
	for k, v := range m.FailedRequests {
		failed = append(failed, fmt.Sprintf("%s: %.0f", k, v))
	}
	sort.Strings(failed)
	s := strings.Join(parts, ", ")
	if len(failed) > 0 {
		s += "; not 2xx: " + strings.Join(failed, ", ")
	}
	var status []string
	for _, phase := range []string{"Pending", "Running", "Succeeded", "Failed", ""} {
		if v := m.StatusWrites[phase]; v > 0 {
			status = append(status, fmt.Sprintf("%s %.2f", cmp.Or(phase, "no phase"), v/float64(n)))
		}
	}
	if len(status) > 0 {
		s += "; Trial status writes by phase: " + strings.Join(status, ", ")
	}
	return s
}

func eventWords(ev map[string]int) string {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, ev[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func errOf(r *report, k kind, n int) string {
	for _, m := range r.Measurements {
		if m.Kind == k && m.N == n && m.Err != "" {
			return "failed: " + m.Err
		}
	}
	return ""
}

const (
	beginMarker = "<!-- bench:begin (written by test/bench; edit outside the markers) -->"
	endMarker   = "<!-- bench:end -->"
)

// writeReport puts text between the markers of path, keeping what is
// outside them; a missing file is created with a short header.
func writeReport(path, text string) error {
	block := beginMarker + "\n" + text + endMarker + "\n"
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	switch {
	case i >= 0 && j > i:
		s = s[:i] + block + strings.TrimPrefix(s[j+len(endMarker):], "\n")
	case len(s) > 0:
		s = strings.TrimRight(s, "\n") + "\n\n" + block
	default:
		s = "# Benchmarks\n\nWritten by `make bench` (test/bench).\n\n" + block
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// writeCostMarkdown is the write-cost table: the median round of each kind
// of write, and its ratio to the built-in create.
func (r *report) writeCostMarkdown(w func(format string, args ...any)) {
	if len(r.WriteCosts) == 0 {
		return
	}
	base, _, ok := medianWriteCost(r.WriteCosts, opConfigMapCreate)
	if !ok || base.apiMS() <= 0 {
		return
	}
	w("### Write cost: API server CPU per write\n\n")
	w("%d writes of each kind, %d at once, in a namespace of their own, with no manager and no Jobs running; ", base.N, r.Config.writeCostWorkers)
	w("CPU of kube-apiserver and etcd over the batch, less their idle rate just before. The Trial writes are the operator's: the same object and the same merge patches of the status subresource. ")
	w("Each row is the median of %d rounds; the last column lists every round.\n\n", r.Config.writeCostRounds)
	w("| write | wall | writes/s | API server CPU / write | × built-in create | etcd CPU / write | every round (API server) |\n")
	w("|---|---:|---:|---:|---:|---:|---|\n")
	var trial float64
	for _, op := range writeOps {
		c, all, ok := medianWriteCost(r.WriteCosts, op)
		if !ok {
			w("| %s | failed | | | | | |\n", op)
			continue
		}
		w("| %s | %s | %.0f | %.2f ms | %.2f | %.2f ms | %s |\n", op, secs(c.Wall), rate(c.N, c.Wall), c.apiMS(), c.apiMS()/base.apiMS(), c.etcdMS(), roundWords(all, "%.2f ms"))
		if op != opConfigMapCreate {
			trial += c.apiMS()
		}
	}
	w("\nA trial whose trainer runs longer than 5 s costs the three Trial writes, %.1f ms of API server CPU, %.1f times a built-in create; a shorter one costs the create and the end.\n\n",
		trial, trial/base.apiMS())
}
