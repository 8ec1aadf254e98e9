package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/crucible-dev/crucible/internal/dashboard"
)

// defaultDashboardAddress is loopback only: the dashboard reads the
// cluster with the user's own credentials.
const defaultDashboardAddress = "127.0.0.1:8080"

// newDashboardCommand is `kubectl crucible dashboard`: the web dashboard on
// localhost, reading the cluster with the kubeconfig's credentials.
func newDashboardCommand(flags *genericclioptions.ConfigFlags) *cobra.Command {
	var address string
	var open bool
	cmd := &cobra.Command{
		Use:   "dashboard [--address HOST:PORT] [--open]",
		Short: "Serve the web dashboard of Experiments and trials, with your kubeconfig's credentials",
		Long: `Serve the web dashboard: Experiments across the namespaces you may list, each
with its leaderboard, plots of parameters against the objective and live
progress; a page per trial; a comparison of selected trials. It reads the
cluster with your kubeconfig's credentials, so it shows what your RBAC lets
you read, and serves until interrupted.

It listens on 127.0.0.1 and answers only requests for localhost. With
--address on another interface, anyone who reaches it reads the cluster as
you: put it behind a proxy that authenticates, or deploy config/dashboard.`,
		Example: `  # Serve on http://127.0.0.1:8080/ and print the URL
  kubectl crucible dashboard

  # Another port, and open the desktop's browser on it
  kubectl crucible dashboard --address 127.0.0.1:9090 --open`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.ToRESTConfig()
			if err != nil {
				return err
			}
			// The namespace to list when the user may not list in all of
			// them: -n, or the kubeconfig context's.
			ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ctx := cmd.Context()
			return dashboard.Serve(ctx, cfg, dashboard.Options{
				Address:      address,
				Namespaces:   []string{ns},
				AllowedHosts: dashboard.LoopbackHosts(address),
				Listening: func(url string) {
					fmt.Fprintf(out, "Dashboard: %s\n", url) //nolint:errcheck // nowhere left to report it
					if dashboard.LoopbackHosts(address) == nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is not loopback: whoever reaches it reads the cluster with your credentials\n", address) //nolint:errcheck // nowhere left to report it
					}
					if open {
						openBrowser(ctx, url)
					}
				},
			})
		},
	}
	cmd.Flags().StringVar(&address, "address", defaultDashboardAddress, "Address to listen on, host:port (port 0 picks a free one).")
	cmd.Flags().BoolVar(&open, "open", false, "Open the dashboard in the desktop's default browser.")
	return cmd
}

// openBrowser opens url in the desktop's browser, if there is one; the URL
// is printed either way.
func openBrowser(ctx context.Context, url string) {
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	default:
		name = "xdg-open"
	}
	c := exec.CommandContext(ctx, name, append(args, url)...)
	if c.Start() == nil {
		go func() { _ = c.Wait() }()
	}
}
