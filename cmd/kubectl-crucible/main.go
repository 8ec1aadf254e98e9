// Command kubectl-crucible is Crucible's command line for users. On PATH it
// is also the kubectl plugin "kubectl crucible". Its verbs:
//
//	kubectl crucible dataset digest DIR [-o json]
//	kubectl crucible provenance verify FILE --key PUB.pem [-o json]
//	kubectl crucible provenance verify FILE --allow-unsigned [-o json]
//	kubectl crucible provenance keygen --private FILE --public FILE
//	kubectl crucible reproduce trial/NAME [-n NAMESPACE] [--apply [--wait]]
//	kubectl crucible reproduce --from FILE --key PUB.pem [--apply [--wait]]
//
// It only parses flags, reads and creates objects in the cluster, and calls
// the packages under internal/ that do the work (internal/datasetdigest,
// internal/provenance, internal/reproduce).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
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
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err) //nolint:errcheck // nowhere left to report it
		return 1
	}
	return 0
}

// newRootCommand is the command tree.
func newRootCommand() *cobra.Command {
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
	cmd.AddCommand(newDatasetCommand(), newProvenanceCommand(), newReproduceCommand(newReproduceOptions()))
	return cmd
}
