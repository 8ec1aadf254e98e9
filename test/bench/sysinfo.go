package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-dev/crucible/test/framework"
)

// machineInfo says what the benchmark ran on.
type machineInfo struct {
	Cores    int
	MemGiB   float64
	CPUModel string
	Kernel   string
	Go       string
}

func readMachine() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				m.MemGiB = kb / (1 << 20)
			}
		}
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

// loadAverage is the 1-minute load average.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}

// components finds the cluster's processes (kwokctl's binary runtime keeps
// their pids under <cluster-dir>/kwok/clusters/<name>/pids), by component
// name. Only processes whose command line names clusterDir count, so that
// another cluster on the machine is never mistaken for this one.
func components(clusterDir string) map[string]int {
	out := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(clusterDir, "kwok", "clusters", "*", "pids", "*.pid"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte(clusterDir)) {
			continue
		}
		out[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
	}
	return out
}

// processFlags returns the --key=value and --key value flags of pid.
func processFlags(pid int) map[string]string {
	out := map[string]string{}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return out
	}
	args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	for i := 0; i < len(args); i++ {
		a, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(a, "="); ok {
			out[k] = v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out[a] = args[i+1]
			i++
		} else {
			out[a] = "true"
		}
	}
	return out
}

// cpuSnapshot is the machine's CPU time and that of the processes the bench
// knows, at one moment.
type cpuSnapshot struct {
	at    time.Time
	busy  float64 // seconds of CPU time spent not idle, all cores
	procs map[string]float64
}

// machineBusySeconds reads the non-idle CPU time of the whole machine.
func machineBusySeconds() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseFloat(f[i], 64)
		busy += v
	}
	return busy / 100 // USER_HZ
}

func takeCPU(pids map[string]int) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), busy: machineBusySeconds(), procs: map[string]float64{}}
	for name, pid := range pids {
		if u, err := framework.ProcessUsage(pid); err == nil {
			s.procs[name] = u.CPUSeconds
		}
	}
	return s
}

// cpuWindow is what the machine did between two snapshots.
type cpuWindow struct {
	Wall  time.Duration
	Busy  float64            // CPU seconds, all processes
	Procs map[string]float64 // CPU seconds by known process
	// Other is the CPU time of processes the bench does not know: other
	// people's work on a shared machine.
	Other float64
}

func (a cpuSnapshot) until(b cpuSnapshot, extra map[string]float64) cpuWindow {
	w := cpuWindow{Wall: b.at.Sub(a.at), Busy: b.busy - a.busy, Procs: map[string]float64{}}
	known := 0.0
	for name, v := range b.procs {
		if before, ok := a.procs[name]; ok {
			w.Procs[name] = v - before
			known += v - before
		}
	}
	for name, v := range extra {
		w.Procs[name] += v
		known += v
	}
	w.Other = max(0, w.Busy-known)
	return w
}

// utilisation is busy CPU seconds over what the cores could have given.
func (w cpuWindow) utilisation(cores int, v float64) float64 {
	if w.Wall <= 0 || cores == 0 {
		return 0
	}
	return v / (w.Wall.Seconds() * float64(cores))
}
