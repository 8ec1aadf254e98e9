package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crucible-dev/crucible/internal/controller"
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
	return &controller.StepMetricsOptions{
		Addr: o.stepMetricsAddr,
		URL:  o.stepMetricsURL,
		CA:   ca,
		TLS:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},

		Interval: o.stepMetricsInterval,
	}, nil
}
