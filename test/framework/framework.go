// Package framework runs the operator the way a user meets it, for the
// end-to-end suite and the benchmarks: against a whole cluster (make
// dev-cluster), with the manager as a separate process that can be killed.
package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Root is the repository's root directory.
func Root() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "api", "v1alpha1")); err == nil {
				return d
			}
		}
	}
	return dir
}

// Scheme knows the core, batch and Crucible types and CRDs.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(crucible.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	return s
}

// Config loads the kubeconfig at path, with client-side rate limiting off.
func Config(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	cfg.QPS, cfg.Burst = -1, -1
	return cfg, nil
}

// Install applies the CRDs and the admission policies from config/ with
// server-side apply, and waits until the CRDs are established.
func Install(ctx context.Context, c client.Client) error {
	root := Root()
	files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		return err
	}
	// Every policy of config/policy, as make install applies them.
	policies, err := filepath.Glob(filepath.Join(root, "config", "policy", "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range policies {
		if filepath.Base(f) != "kustomization.yaml" {
			files = append(files, f)
		}
	}
	return InstallFiles(ctx, c, files...)
}

// InstallFiles applies the objects of files with server-side apply, and
// waits until the CRDs among them are established.
func InstallFiles(ctx context.Context, c client.Client, files ...string) error {
	var crds []string
	for _, f := range files {
		objs, err := readObjects(f)
		if err != nil {
			return err
		}
		for _, u := range objs {
			u.SetManagedFields(nil)
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("crucible-e2e"), client.ForceOwnership); err != nil {
				return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
			}
			if u.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, u.GetName())
			}
		}
	}
	for _, name := range crds {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s: %w", name, err)
		}
	}
	return nil
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// Manager is the operator running as a process of its own.
type Manager struct {
	cmd  *exec.Cmd
	done chan error
	// Log is the path of the process's combined output.
	Log string
}

// StartManager starts bin/manager against kubeconfig, its output appended to
// logPath, with metrics and probes off unless args say otherwise.
func StartManager(kubeconfig, logPath string, args ...string) (*Manager, error) {
	defaults := []string{"--metrics-bind-address=0", "--health-probe-bind-address=0", "--kube-api-qps=-1"}
	return StartProcess("manager", "make build", kubeconfig, logPath, append(defaults, args...)...)
}

// StartProcess starts bin/<name> with args against kubeconfig, its output
// appended to logPath; build is the command that builds it, for the error
// when it is missing.
func StartProcess(name, build, kubeconfig, logPath string, args ...string) (*Manager, error) {
	bin := filepath.Join(Root(), "bin", name)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s is missing: run %s: %w", bin, build, err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	m := &Manager{cmd: cmd, done: make(chan error, 1), Log: logPath}
	go func() {
		m.done <- cmd.Wait()
		_ = logFile.Close()
	}()
	return m, nil
}

// Pid is the process id.
func (m *Manager) Pid() int { return m.cmd.Process.Pid }

// Kill ends the process with SIGKILL, as a node failure or an OOM kill
// would, and waits for it to be gone.
func (m *Manager) Kill() error {
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if err := <-m.done; err != nil && !isKilled(err) {
		return err
	}
	return nil
}

// isKilled reports whether err is the exit of a process killed by a signal.
func isKilled(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// Stop ends the process with SIGTERM and waits up to timeout for a clean
// exit, then kills it.
func (m *Manager) Stop(timeout time.Duration) error {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		return err
	case <-time.After(timeout):
		return m.Kill()
	}
}

// Usage is what the process used so far: its peak resident memory and its
// CPU time.
type Usage struct {
	PeakRSSBytes int64
	CPUSeconds   float64
}

// Usage reads /proc for the running process.
func (m *Manager) Usage() (Usage, error) {
	return ProcessUsage(m.Pid())
}

// ProcessUsage reads the peak RSS (VmHWM) and user+system CPU time of pid
// from /proc.
func ProcessUsage(pid int) (Usage, error) {
	var u Usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return u, fmt.Errorf("reading VmHWM %q: %w", rest, err)
			}
			u.PeakRSSBytes = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: utime and stime are fields 14 and 15 of the line.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return u, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, err
	}
	const clockTicks = 100 // USER_HZ on Linux
	u.CPUSeconds = (utime + stime) / clockTicks
	return u, nil
}
