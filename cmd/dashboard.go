package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/crucible-dev/crucible/internal/dashboard"
)

// dashboardMain is the image's dashboard entry point,
//
//	/manager dashboard [--address :8080] [--namespaces a,b]
//
// run by the Deployment of config/dashboard with a read-only
// ServiceAccount: the shared, in-cluster twin of `kubectl crucible
// dashboard`. It serves until ctx ends and returns the exit code.
func dashboardMain(ctx context.Context, args []string, stderr io.Writer) int {
	fset := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fset.SetOutput(stderr)
	address := fset.String("address", ":8080", "Address to listen on, host:port.")
	namespaces := fset.String("namespaces", "", "Comma-separated namespaces to list when the ServiceAccount may not list Experiments in all namespaces.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fset)
	if err := fset.Parse(args); err != nil {
		return 1
	}
	if fset.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: manager dashboard [--address HOST:PORT] [--namespaces NS,...]") //nolint:errcheck // nowhere left to report it
		return 1
	}
	log := zap.New(zap.UseFlagOptions(&zapOpts)).WithName("dashboard")
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading the cluster's config")
		return 1
	}
	opts := dashboard.Options{
		Address: *address,
		Log:     log,
		Listening: func(url string) {
			log.Info("serving the dashboard", "address", *address, "url", url)
		},
	}
	for ns := range strings.SplitSeq(*namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			opts.Namespaces = append(opts.Namespaces, ns)
		}
	}
	if err := dashboard.Serve(ctx, cfg, opts); err != nil {
		log.Error(err, "dashboard stopped")
		return 1
	}
	return 0
}
