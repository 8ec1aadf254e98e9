package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/crucible-dev/crucible/internal/controller"
	"github.com/crucible-dev/crucible/internal/leaderendpoint"
)

// stepMetricsOptions reads the step metrics endpoint's flags: off without
// an address; otherwise its URL and a certificate directory are required.
// The directory holds tls.crt and tls.key, the server's certificate, and
// ca.crt, the authority trainers check it against (the chart makes it a
// Secret that outlives the manager's restarts, so that running trials keep
// trusting it).
func stepMetricsOptions(o options) (*controller.StepMetricsOptions, error) {
	if o.stepMetricsAddr == "" || o.stepMetricsAddr == "0" {
		return nil, nil
	}
	if o.stepMetricsURL == "" {
		return nil, errors.New("--step-metrics-url is required with --step-metrics-bind-address: it is the address trainers reach the endpoint at")
	}
	if o.stepMetricsCertDir == "" {
		return nil, errors.New("--step-metrics-cert-dir is required with --step-metrics-bind-address: tls.crt, tls.key and ca.crt")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(o.stepMetricsCertDir, "tls.crt"), filepath.Join(o.stepMetricsCertDir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("loading the step metrics certificate: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(o.stepMetricsCertDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("reading the step metrics CA: %w", err)
	}
	sm := &controller.StepMetricsOptions{
		Addr: o.stepMetricsAddr,
		URL:  o.stepMetricsURL,
		CA:   ca,
		TLS:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},

		Interval: o.stepMetricsInterval,
	}
	if o.stepMetricsService != "" {
		if sm.Leader, err = leaderEndpoint(o); err != nil {
			return nil, err
		}
	}
	return sm, nil
}

// leaderEndpoint reads --step-metrics-service and --step-metrics-pod-ip:
// the Service the leader points at itself, on the port it listens on.
func leaderEndpoint(o options) (*leaderendpoint.Publisher, error) {
	ns, name, ok := strings.Cut(o.stepMetricsService, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("--step-metrics-service=%q: want <namespace>/<name>", o.stepMetricsService)
	}
	_, portText, err := net.SplitHostPort(o.stepMetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--step-metrics-bind-address=%q: %w", o.stepMetricsAddr, err)
	}
	port, err := strconv.ParseInt(portText, 10, 32)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("--step-metrics-bind-address=%q: --step-metrics-service needs a fixed port", o.stepMetricsAddr)
	}
	p := &leaderendpoint.Publisher{Service: types.NamespacedName{Namespace: ns, Name: name}, PortName: "https",
		Port: int32(port), Address: o.stepMetricsPodIP, PodName: os.Getenv("POD_NAME")}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("--step-metrics-service, --step-metrics-pod-ip: %w", err)
	}
	return p, nil
}
