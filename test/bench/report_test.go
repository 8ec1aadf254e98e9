package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// rounds builds one floor-and-operator pair per operator time, the floor
// always taking 10 s.
func rounds(k kind, n int, operatorSeconds ...float64) *report {
	r := &report{}
	for i, sec := range operatorSeconds {
		floor := measurement{Kind: k, Side: floorSide, N: n, Round: i + 1, AllJobs: 10 * time.Second, AllJobsEnded: 10 * time.Second}
		op := measurement{Kind: k, Side: operatorSide, N: n, Round: i + 1,
			AllJobs: time.Duration(sec * float64(time.Second)), Succeeded: time.Duration(sec * float64(time.Second))}
		r.Measurements = append(r.Measurements, floor, op)
	}
	return r
}

func TestPickMedianRound(t *testing.T) {
	cases := []struct {
		name      string
		k         kind
		seconds   []float64
		wantRound int
		wantRatio []float64
	}{
		{name: "completion, one round", k: completion, seconds: []float64{12}, wantRound: 1, wantRatio: []float64{1.2}},
		{name: "completion, the middle of three", k: completion, seconds: []float64{15, 11, 13}, wantRound: 3, wantRatio: []float64{1.5, 1.1, 1.3}},
		{name: "completion, of two the slower", k: completion, seconds: []float64{11, 13}, wantRound: 2, wantRatio: []float64{1.1, 1.3}},
		{name: "fan-out, the middle of three", k: fanout, seconds: []float64{40, 20, 25}, wantRound: 3, wantRatio: []float64{0.25, 0.5, 0.4}},
		{name: "fan-out, of two the slower", k: fanout, seconds: []float64{20, 40}, wantRound: 2, wantRatio: []float64{0.5, 0.25}},
	}
	for _, tc := range cases {
		f, o, ratios := rounds(tc.k, 1000, tc.seconds...).pick(tc.k, 1000)
		if f == nil || o == nil {
			t.Fatalf("%s: no pair picked", tc.name)
		}
		if f.Round != tc.wantRound || o.Round != tc.wantRound {
			t.Errorf("%s: picked floor round %d and operator round %d; want %d", tc.name, f.Round, o.Round, tc.wantRound)
		}
		if !slices.EqualFunc(ratios, tc.wantRatio, near) {
			t.Errorf("%s: ratios %v; want %v", tc.name, ratios, tc.wantRatio)
		}
	}
}

func TestPickSkipsFailedRoundsAndLoneSides(t *testing.T) {
	r := rounds(completion, 1000, 12, 30)
	r.Measurements[3].Err = "timed out" // round 2's operator
	f, o, ratios := r.pick(completion, 1000)
	if f == nil || o == nil || o.Round != 1 || len(ratios) != 1 {
		t.Errorf("picked %+v and %+v, ratios %v; want round 1 alone", f, o, ratios)
	}

	lone := &report{Measurements: []measurement{{Kind: completion, Side: operatorSide, N: 10000, Round: 1, Succeeded: time.Minute}}}
	f, o, ratios = lone.pick(completion, 10000)
	if f != nil || o == nil || ratios != nil {
		t.Errorf("operator-only run: picked %v and %v, ratios %v; want the operator alone", f, o, ratios)
	}
}

func TestMedianWriteCost(t *testing.T) {
	// cost is one round of op: 1000 writes that took apiSeconds of API
	// server CPU, so apiSeconds ms per write.
	cost := func(op writeOp, round int, apiSeconds float64, errors int) writeCost {
		return writeCost{Op: op, Round: round, N: 1000, Wall: time.Second, API: apiSeconds, Errors: errors}
	}
	cases := []struct {
		name      string
		costs     []writeCost
		op        writeOp
		wantOK    bool
		wantRound int
		wantAll   []float64
	}{
		{name: "the middle of three", op: opTrialCreate, wantOK: true, wantRound: 1, wantAll: []float64{2, 3, 1},
			costs: []writeCost{cost(opTrialCreate, 1, 2, 0), cost(opTrialCreate, 2, 3, 0), cost(opTrialCreate, 3, 1, 0)}},
		{name: "of two the dearer", op: opTrialEnd, wantOK: true, wantRound: 1, wantAll: []float64{4, 3},
			costs: []writeCost{cost(opTrialEnd, 1, 4, 0), cost(opTrialEnd, 2, 3, 0)}},
		{name: "other writes and failed rounds left out", op: opTrialRunning, wantOK: true, wantRound: 3, wantAll: []float64{2.5},
			costs: []writeCost{cost(opTrialCreate, 1, 9, 0), cost(opTrialRunning, 2, 1, 5), cost(opTrialRunning, 3, 2.5, 0)}},
		{name: "none", op: opConfigMapCreate, costs: []writeCost{cost(opTrialCreate, 1, 2, 0)}},
	}
	for _, tc := range cases {
		got, all, ok := medianWriteCost(tc.costs, tc.op)
		if ok != tc.wantOK {
			t.Fatalf("%s: ok %v; want %v", tc.name, ok, tc.wantOK)
		}
		if !ok {
			continue
		}
		if got.Round != tc.wantRound || got.Op != tc.op {
			t.Errorf("%s: picked round %d of %q; want round %d of %q", tc.name, got.Round, got.Op, tc.wantRound, tc.op)
		}
		if !slices.EqualFunc(all, tc.wantAll, func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }) {
			t.Errorf("%s: every round %v; want %v", tc.name, all, tc.wantAll)
		}
	}
}

func TestCPUPerTrial(t *testing.T) {
	// Two rounds of 1,000 trials: the floor's machine CPU 40 s and 44 s,
	// the operator's 50 s and 58 s.
	r := rounds(completion, 1000, 12, 13)
	cpu := []cpuWindow{
		{Busy: 40, Other: 1, Procs: map[string]float64{"kube-apiserver": 20, "etcd": 4, "floor": 0.5, "bench": 1}},
		{Busy: 50, Other: 1, Procs: map[string]float64{"kube-apiserver": 26, "etcd": 5, "manager": 4, "bench": 1}},
		{Busy: 44, Other: 3, Procs: map[string]float64{"kube-apiserver": 22, "etcd": 4, "floor": 0.7, "bench": 1}},
		{Busy: 58, Other: 3, Procs: map[string]float64{"kube-apiserver": 30, "etcd": 5, "manager": 5, "bench": 1}},
	}
	for i := range r.Measurements {
		r.Measurements[i].CPU = cpu[i]
	}
	floor, operator := cpuPerTrial(r.pairs(completion, 1000))
	for _, tc := range []struct {
		row             string
		floor, operator float64
	}{
		{"kube-apiserver", 21, 28},
		{"etcd", 4, 5},
		{"manager / floor program", 0.6, 4.5},
		{"bench", 1, 1},
		{"kube-scheduler", 0, 0},
		{cpuRowOther, 2, 2},
		{cpuRowMachine, 42, 54},
	} {
		if !near(floor[tc.row], tc.floor) || !near(operator[tc.row], tc.operator) {
			t.Errorf("%s: floor %.3f ms, operator %.3f ms per trial; want %.3f, %.3f", tc.row, floor[tc.row], operator[tc.row], tc.floor, tc.operator)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestTriples(t *testing.T) {
	// Three rounds of floor (10 s) and operator; the floor with Trials ran
	// in rounds 1 and 3 only, and failed in round 2.
	r := rounds(completion, 1000, 14, 15, 13)
	withTrials := func(round int, sec float64, failed string) measurement {
		return measurement{Kind: completion, Side: trialFloorSide, N: 1000, Round: round,
			Succeeded: time.Duration(sec * float64(time.Second)), Err: failed}
	}
	r.Measurements = append(r.Measurements, withTrials(1, 11, ""), withTrials(2, 12, "timed out"), withTrials(3, 13, ""),
		withTrials(1, 99, "")) // another size's
	r.Measurements[len(r.Measurements)-1].N = 5000

	ts := r.triples(1000)
	if len(ts) != 2 {
		t.Fatalf("got %d triples; want rounds 1 and 3", len(ts))
	}
	for i, want := range []struct {
		round            int
		trials, operator float64
	}{{1, 1.1, 14.0 / 11}, {3, 1.3, 1}} {
		got := ts[i]
		if got.f.Round != want.round || got.t.Round != want.round || got.o.Round != want.round {
			t.Errorf("triple %d: rounds %d, %d, %d; want all %d", i, got.f.Round, got.t.Round, got.o.Round, want.round)
		}
		if !near(got.trials, want.trials) || !near(got.operator, want.operator) {
			t.Errorf("round %d: ratios %.4f, %.4f; want %.4f, %.4f", want.round, got.trials, got.operator, want.trials, want.operator)
		}
	}

	var text strings.Builder
	r.trialFloorMarkdown(func(format string, args ...any) { fmt.Fprintf(&text, format, args...) }, []int{1000})
	// Of two rounds the higher ratio: round 3, 13 s.
	if !strings.Contains(text.String(), "| 1000 | 10.0 s | 13.0 s | 1.30× | 13.0 s | 1.00× | 1.10×, 1.30× | 1.27×, 1.00× |") {
		t.Errorf("floor-with-Trials table:\n%s", text.String())
	}
	if rounds(completion, 1000, 12).triples(1000) != nil {
		t.Error("triples without a floor with Trials")
	}
}
