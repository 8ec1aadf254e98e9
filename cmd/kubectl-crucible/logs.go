package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

type logsOptions struct {
	cluster *cluster
	follow  bool
	tail    int64
}

func newLogsCommand(cl *cluster) *cobra.Command {
	o := &logsOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:   "logs trial/NAME",
		Short: "The trainer's log of a trial",
		Long: `Print the log of the trainer container of a trial's Pod (the newest, when
its Job made several), found by the Pod's crucible.dev/trial label. With -f
it follows the log until the trainer ends.`,
		Example: `  # The last 100 lines, then follow
  kubectl crucible logs trial/resnet-sweep-0a1b2c3d4e5f --tail 100 -f`,
		Args:              exactlyOne("one trial", "kubectl crucible logs trial/NAME"),
		ValidArgsFunction: cl.completeRefs(kindTrial),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0], kindTrial)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), cmd.OutOrStdout(), ref.name)
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "Follow the log until the trainer ends.")
	cmd.Flags().Int64Var(&o.tail, "tail", -1, "How many of the last lines to print; -1 for all.")
	return cmd
}

func (o *logsOptions) run(ctx context.Context, out io.Writer, trial string) error {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return err
	}
	pod, err := trialPod(ctx, cs.kube, ns, trial)
	if err != nil {
		return err
	}
	if pod == nil {
		// Tell a trial that is not there from one whose Pod is gone.
		if _, err := readTrial(ctx, cs.client, ns, trial); err != nil {
			return err
		}
		return fmt.Errorf("trial %s/%s has no Pod: it has not started, or its Job and Pod were removed (retention, or the Job's TTL)", ns, trial)
	}
	opts := &corev1.PodLogOptions{Container: crucible.TrainerContainerName, Follow: o.follow}
	if o.tail >= 0 {
		opts.TailLines = &o.tail
	}
	stream, err := cs.kube.CoreV1().Pods(ns).GetLogs(pod.Name, opts).Stream(ctx)
	if err != nil {
		return access{verb: "get", resource: podLogsResource, namespace: ns, name: pod.Name}.explain(err)
	}
	defer stream.Close() //nolint:errcheck // read-only
	if _, err := io.Copy(out, stream); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the log of pod %s/%s: %w", ns, pod.Name, err)
	}
	return nil
}
