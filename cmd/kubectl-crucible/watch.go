package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// barWidth is how many characters the progress bar has.
const barWidth = 20

// rewatchDelay is how long watch waits before watching again after
// watches that delivered nothing.
const rewatchDelay = time.Second

type watchOptions struct {
	cluster *cluster
	timeout time.Duration
}

func newWatchCommand(cl *cluster) *cobra.Command {
	o := &watchOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:   "watch EXPERIMENT",
		Short: "Follow an Experiment to its end: phase, trials, best objective, a progress bar",
		Long: `Follow an Experiment as make demo does: a line each time its status
changes, with the time since the command started, the phase, the trials
that succeeded of the total, failed and active, the best objective, and a
progress bar of the trials that ended.

It ends when the Experiment has ended (Succeeded or Failed) and no trial is
active: exit status 0 if it Succeeded, 1 if it Failed or --timeout passed.`,
		Example: `  # Follow resnet-sweep to its end, for at most an hour
  kubectl crucible watch resnet-sweep -n ml --timeout 1h`,
		Args:              exactlyOne("an Experiment", "kubectl crucible watch EXPERIMENT"),
		ValidArgsFunction: cl.completeExperiments,
		PreRunE: func(*cobra.Command, []string) error {
			if o.timeout < 0 {
				return fmt.Errorf("--timeout %v: want a positive duration, or 0 for no limit", o.timeout)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "Stop watching after this long (0: until the Experiment ends).")
	return cmd
}

func (o *watchOptions) run(ctx context.Context, out io.Writer, name string) error {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return err
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	v := &watchView{out: out, start: o.cluster.now(), now: o.cluster.now}
	if _, err := fmt.Fprintf(out, "%-8s  %-10s  %-9s  %-6s  %-6s  %-12s  %s\n", "TIME", "PHASE", "SUCCEEDED", "FAILED", "ACTIVE", "BEST", "PROGRESS"); err != nil {
		return err
	}
	key := client.ObjectKey{Namespace: ns, Name: name}
	for empty := 0; ; {
		if empty > 1 {
			// Watches that end at once, again and again: a server or
			// proxy closing them. Read again at a human pace.
			select {
			case <-ctx.Done():
				return o.stopped(ctx, key, v, ctx.Err())
			case <-time.After(rewatchDelay):
			}
		}
		// Read it (again, when a watch ended): a watch can end at any
		// time, and what changed meanwhile is seen here.
		exp, err := getExperiment(ctx, cs.client, ns, name)
		if err != nil {
			return o.stopped(ctx, key, v, err)
		}
		if done, err := v.show(exp); done || err != nil {
			return err
		}
		w, err := cs.client.Watch(ctx, &crucible.ExperimentList{}, &client.ListOptions{
			Namespace:     ns,
			FieldSelector: fields.OneTermEqualSelector("metadata.name", name),
			Raw:           &metav1.ListOptions{ResourceVersion: exp.ResourceVersion},
		})
		if err != nil {
			return o.stopped(ctx, key, v, access{verb: "watch", resource: experimentsResource, namespace: ns}.explain(err))
		}
		events, done, err := v.follow(ctx, w, name)
		w.Stop()
		if done || err != nil {
			return o.stopped(ctx, key, v, err)
		}
		if events == 0 {
			empty++
		} else {
			empty = 0
		}
	}
}

// stopped is the error of a watch that ended early: the timeout's or the
// user's interrupt rather than the request's that it cut short.
func (o *watchOptions) stopped(ctx context.Context, key client.ObjectKey, v *watchView, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("experiment %s has not ended after %v: it is %s (it keeps running; watch it again to follow it)", key, o.timeout, orDash(v.phase))
	case ctx.Err() != nil:
		return fmt.Errorf("stopped watching experiment %s: %w", key, ctx.Err())
	}
	return err
}

// watchView prints an Experiment's status, a line per change.
type watchView struct {
	out   io.Writer
	start time.Time
	now   func() time.Time
	last  string
	phase string
}

// follow prints what w reports until the Experiment ends (done) or the
// watch does (not done, no error: read it again and watch anew). It
// counts the events the watch delivered.
func (v *watchView) follow(ctx context.Context, w watch.Interface, name string) (int, bool, error) {
	for events := 0; ; events++ {
		select {
		case <-ctx.Done():
			return events, false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return events, false, nil
			}
			switch ev.Type {
			case watch.Error:
				// Most often 410 Gone: the resource version is too old.
				return events, false, nil
			case watch.Deleted:
				if exp, ok := ev.Object.(*crucible.Experiment); ok && exp.Name == name {
					return events, false, fmt.Errorf("experiment %s/%s was deleted before it ended", exp.Namespace, name)
				}
			case watch.Added, watch.Modified:
				// The field selector names it; a server (or a fake)
				// that ignores it must not show another's.
				exp, ok := ev.Object.(*crucible.Experiment)
				if !ok || exp.Name != name {
					continue
				}
				if done, err := v.show(exp); done || err != nil {
					return events, done, err
				}
			}
		}
	}
}

// show prints exp's line if it changed, and reports whether exp has
// ended: a Failed Experiment is an error (exit status 1).
func (v *watchView) show(exp *crucible.Experiment) (bool, error) {
	s := &exp.Status
	phase := string(s.Phase)
	v.phase = phase
	best := "-"
	if s.BestTrial != nil {
		best = s.BestTrial.Objective
	}
	state := fmt.Sprintf("%-10s  %-9s  %-6d  %-6d  %-12s  %s", orDash(phase), fmt.Sprintf("%d/%d", s.Trials.Succeeded, s.Trials.Total),
		s.Trials.Failed, s.Trials.Active, best, bar(s.Trials))
	if state != v.last {
		elapsed := v.now().Sub(v.start).Round(time.Second)
		if _, err := fmt.Fprintf(v.out, "%-8s  %s\n", elapsed, state); err != nil {
			return true, err
		}
		v.last = state
	}
	ended := (s.Phase == crucible.ExperimentSucceeded || s.Phase == crucible.ExperimentFailed) && s.Trials.Active == 0
	if !ended {
		return false, nil
	}
	if s.Phase == crucible.ExperimentFailed {
		why := "it Failed"
		if c := apimeta.FindStatusCondition(s.Conditions, crucible.ExperimentFailedCondition); c != nil && c.Status == metav1.ConditionTrue {
			why += " (" + c.Reason + "): " + c.Message
		}
		return true, fmt.Errorf("experiment %s/%s ended: %s", exp.Namespace, exp.Name, why)
	}
	return true, nil
}

// bar draws the trials that ended of the total: "[#######.............]  35%".
func bar(c crucible.TrialCounts) string {
	ended := int(c.Succeeded + c.Failed)
	total := max(int(c.Total), 0)
	fill, pct := 0, 0
	if total > 0 {
		ended = min(ended, total)
		fill, pct = ended*barWidth/total, ended*100/total
	}
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", fill), strings.Repeat(".", barWidth-fill), pct)
}
