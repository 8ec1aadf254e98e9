package steps

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/stepmetrics"
	"github.com/crucible-dev/crucible/test/builder"
)

// TestRecorderWritesAtMostEveryInterval checks the bound the issue asks
// for: the writes per trial depend on the time it runs, not on its steps,
// and nothing reported is lost.
func TestRecorderWritesAtMostEveryInterval(t *testing.T) {
	exp := builder.MakeExperiment("resnet", "ml").Obj()
	trial := builder.MakeTrial(exp, "resnet-0123456789ab").Obj()
	trial.UID = "trial-uid"
	var patches atomic.Int32
	c := interceptor.NewClient(builder.NewClientBuilder(trial).Build(), interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			patches.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	r := NewRecorder(c, nil, clk, 10*time.Second, logr.Discard())
	ctx := context.Background()
	report := func(step int64) {
		t.Helper()
		if err := r.Record(ctx, "ml", trial.Name, string(trial.UID), stepmetrics.Report{Step: step, Metrics: map[string]float64{"val_loss": 1 / float64(step+1)}}); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}

	// 1,000 steps in 30 s: the first is written at once, then one write
	// per 10 s at most, by the flusher.
	for step := int64(0); step < 1000; step++ {
		report(step)
		if step%100 == 99 {
			clk.Step(3 * time.Second)
			r.flush(ctx, false)
		}
	}
	r.flush(ctx, true)
	if n := patches.Load(); n > 5 {
		t.Errorf("%d status writes for 1,000 steps in 30 s; want at most 5 (one per 10 s, the first and the last)", n)
	}
	got := &crucible.Trial{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(trial), got); err != nil {
		t.Fatal(err)
	}
	sm := got.Status.StepMetrics
	if sm == nil || sm.Reports != 1000 || sm.LastStep != 999 {
		t.Fatalf("stepMetrics %+v; want 1000 reports up to step 999", sm)
	}
	if s := sm.Series[0]; len(s.Points) > 100 || s.Points[len(s.Points)-1].Step != 999 {
		t.Errorf("series of %d points ending at %d; want at most 100, the latest kept", len(s.Points), s.Points[len(s.Points)-1].Step)
	}
	select {
	case e := <-r.Events():
		if e.Object.GetName() != trial.Name {
			t.Errorf("event for %s", e.Object.GetName())
		}
	default:
		t.Error("no event for the Trial reconciler after a write")
	}

	// A new Recorder (a restarted manager) reads the curve back and goes on.
	r2 := NewRecorder(c, nil, clk, 10*time.Second, logr.Discard())
	if err := r2.Record(ctx, "ml", trial.Name, string(trial.UID), stepmetrics.Report{Step: 1000, Metrics: map[string]float64{"val_loss": 0.0001}}); err != nil {
		t.Fatal(err)
	}
	if err := r2.Record(ctx, "ml", trial.Name, string(trial.UID), stepmetrics.Report{Step: 5, Metrics: map[string]float64{"val_loss": 0.5}}); !errors.Is(err, stepmetrics.ErrStepConflict) {
		t.Errorf("a step that goes back after a restart: %v; want ErrStepConflict", err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(trial), got); err != nil {
		t.Fatal(err)
	}
	if sm := got.Status.StepMetrics; sm.Reports != 1001 || sm.LastStep != 1000 {
		t.Errorf("after a restart: %d reports up to step %d; want 1001 up to 1000", sm.Reports, sm.LastStep)
	}

	// Another UID under the same name (a Trial deleted and made again) is
	// not this one.
	if err := r2.Record(ctx, "ml", trial.Name, "other-uid", stepmetrics.Report{Step: 1, Metrics: map[string]float64{"val_loss": 1}}); err == nil {
		t.Error("a report for another UID was recorded")
	}
}
