// Command kubectl-crucible is Crucible's command line for users. On PATH it
// is also the kubectl plugin "kubectl crucible". Every verb takes kubectl's
// connection flags (--kubeconfig, --context, -n/--namespace, --as, ...).
// Its verbs:
//
//	kubectl crucible experiments [-A] [-o table|wide|json|yaml]
//	kubectl crucible leaderboard EXPERIMENT [--top K] [-o table|wide|json|yaml]
//	kubectl crucible trials EXPERIMENT [--phase P] [--param NAME=VALUE ...] [-o table|wide|json|yaml]
//	kubectl crucible describe (trial/NAME | experiment/NAME) [-o table|json|yaml]
//	kubectl crucible diff A B [--all] [-o table|json|yaml]   (exit status 0 same, 1 differ, 2 trouble)
//	kubectl crucible watch EXPERIMENT [--timeout D]
//	kubectl crucible logs trial/NAME [-f] [--tail N]
//	kubectl crucible note (trial/NAME | experiment/NAME) ("TEXT" | --clear)
//	kubectl crucible completion (bash | zsh | fish | powershell)
//	kubectl crucible dataset digest DIR [-o json]
//	kubectl crucible provenance verify FILE --key PUB.pem [-o json]
//	kubectl crucible provenance verify FILE --allow-unsigned [-o json]
//	kubectl crucible provenance keygen --private FILE --public FILE
//	kubectl crucible reproduce trial/NAME [-n NAMESPACE] [--apply [--wait]]
//	kubectl crucible reproduce --from FILE --key PUB.pem [--apply [--wait]]
//	kubectl crucible promote trial/NAME --model MODEL [--alias ALIAS] [--description TEXT] [-o yaml|json] [--dry-run]
//
// It only parses flags, reads and creates objects in the cluster, and calls
// the packages under internal/ that do the work (internal/compare,
// internal/datasetdigest, internal/leaderboard, internal/provenance,
// internal/reproduce).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args, writing results to stdout and an error,
// if any, to stderr, and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runCommand(ctx, newRootCommand(), args, stdout, stderr)
}

// runCommand runs cmd with args. The exit code is 0 on success, an
// exitError's code (diff's 1 and 2), or 1 for any other error.
func runCommand(ctx context.Context, cmd *cobra.Command, args []string, stdout, stderr io.Writer) int {
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	code, err := exitCode(cmd.ExecuteContext(ctx))
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err) //nolint:errcheck // nowhere left to report it
	}
	return code
}

// newRootCommand is the command tree, reaching the cluster the kubeconfig
// and kubectl's flags name.
func newRootCommand() *cobra.Command {
	return newRootCommandFor(newCluster(genericclioptions.NewConfigFlags(true)))
}

// newRootCommandFor is the command tree, reaching the cluster through cl.
// Tests pass a cluster of fakes.
func newRootCommandFor(cl *cluster) *cobra.Command {
	// kubectl's connection flags, on every verb.
	flags := cl.flags
	cmd := &cobra.Command{
		Use:   "kubectl-crucible",
		Short: "Crucible's command line: reproducible ML training runs on Kubernetes",
		Annotations: map[string]string{
			// Usage and help say "kubectl crucible", as the user runs it.
			cobra.CommandDisplayNameAnnotation: "kubectl crucible",
		},
		// run prints the error once; usage only on --help.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	flags.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newExperimentsCommand(cl),
		newLeaderboardCommand(cl),
		newTrialsCommand(cl),
		newDescribeCommand(cl),
		newDiffCommand(cl),
		newWatchCommand(cl),
		newLogsCommand(cl),
		newNoteCommand(cl),
		newDashboardCommand(cl.flags),
		newReproduceCommand(newReproduceOptions(cl)),
		newPromoteCommand(cl),
		newDatasetCommand(),
		newProvenanceCommand(),
	)
	return cmd
}
