package main

import (
	"context"
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/compare"
	"github.com/crucible-dev/crucible/test/builder"
)

// sweep is an Experiment of namespace ml with four trials: two
// succeeded, one failed, one running; and a trial of another Experiment.
func sweep() (*crucible.Experiment, []client.Object) {
	exp := builder.MakeExperiment("sweep", "ml").Values("lr", "0.1", "0.01").Values("depth", "4", "6").
		PVCDataset("datasets", "cifar/2024", "/data").Env("EPOCHS", "3").UID("sweep-uid").Obj()
	exp.CreationTimestamp = metav1.Time{Time: testNow.Add(-2 * time.Hour)}
	exp.Status = crucible.ExperimentStatus{
		Phase:      crucible.ExperimentRunning,
		Trials:     crucible.TrialCounts{Total: 4, Created: 4, Active: 1, Succeeded: 2, Failed: 1},
		BestTrial:  &crucible.BestTrial{Name: "sweep-111111111111", Index: 1, Objective: "0.3"},
		SpecDigest: "sha256:" + strings.Repeat("ee", 32),
	}
	mk := func(name string, i int64, lr, depth string, s crucible.TrialStatus) *crucible.Trial {
		t := builder.MakeTrial(exp, name).Index(i).Seed(100+i).Param("lr", lr).Param("depth", depth).Status(s).Obj()
		t.CreationTimestamp = metav1.Time{Time: testNow.Add(-time.Hour)}
		return t
	}
	objs := []client.Object{
		exp,
		mk("sweep-000000000000", 0, "0.1", "4", crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.5",
			Metrics: map[string]string{"val_loss": "0.5", "accuracy": "0.8"}}),
		mk("sweep-111111111111", 1, "0.1", "6", crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.3",
			Metrics: map[string]string{"val_loss": "0.3", "accuracy": "0.9"}}),
		mk("sweep-222222222222", 2, "0.01", "4", crucible.TrialStatus{Phase: crucible.TrialFailed, Reason: crucible.ReasonOOMKilled,
			Message: "the trainer ran out of memory"}),
		mk("sweep-333333333333", 3, "0.01", "6", crucible.TrialStatus{Phase: crucible.TrialRunning}),
	}
	other := builder.MakeExperiment("other", "ml").Obj()
	objs = append(objs, builder.MakeTrial(other, "other-000000000000").Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.01"}).Obj())
	return exp, objs
}

// withNote sets obj's note.
func withNote(obj client.Object, note string) client.Object {
	obj.SetAnnotations(map[string]string{crucible.NoteAnnotation: note})
	return obj
}

func TestExperiments(t *testing.T) {
	exp, _ := sweep()
	done := builder.MakeExperiment("done", "other").Obj()
	done.CreationTimestamp = metav1.Time{Time: testNow.Add(-72 * time.Hour)}
	done.Status = crucible.ExperimentStatus{Phase: crucible.ExperimentSucceeded, Trials: crucible.TrialCounts{Total: 1, Succeeded: 1},
		Reproduction: &crucible.ReproductionStatus{Verdict: crucible.VerdictIdentical}}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "table",
			args: []string{"experiments"},
			want: "NAME    PHASE     PROGRESS   BEST   REPRODUCTION   AGE\n" +
				"sweep   Running   3/4        0.3    -              120m\n",
		},
		{
			name: "-A",
			args: []string{"exp", "-A"},
			want: "NAMESPACE   NAME    PHASE       PROGRESS   BEST   REPRODUCTION   AGE\n" +
				"ml          sweep   Running     3/4        0.3    -              120m\n" +
				"other       done    Succeeded   1/1        -      Identical      3d\n",
		},
		{
			name: "wide, -n",
			args: []string{"list", "-n", "ml", "-o", "wide"},
			want: "NAME    PHASE     PROGRESS   BEST   REPRODUCTION   AGE    BEST TRIAL           DIGEST" + strings.Repeat(" ", 65) + "   NOTE\n" +
				"sweep   Running   3/4        0.3    -              120m   sweep-111111111111   sha256:" + strings.Repeat("ee", 32) + "   baseline\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient(t, nil, withNote(exp.DeepCopy(), "baseline"), done.DeepCopy())
			code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit code %d, stderr %q", code, stderr)
			}
			if diff := cmp.Diff(tc.want, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("json and yaml", func(t *testing.T) {
		for _, format := range []string{"json", "yaml"} {
			c := fakeClient(t, nil, exp.DeepCopy(), done.DeepCopy())
			code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "experiments", "-A", "-o", format)
			if code != 0 {
				t.Fatalf("-o %s: exit code %d, stderr %q", format, code, stderr)
			}
			var list crucible.ExperimentList
			if err := yaml.UnmarshalStrict([]byte(stdout), &list); err != nil {
				t.Fatalf("-o %s: %v\n%s", format, err, stdout)
			}
			if format == "json" && !json.Valid([]byte(stdout)) {
				t.Errorf("-o json is not JSON:\n%s", stdout)
			}
			if list.Kind != "List" || len(list.Items) != 2 || list.Items[0].Kind != "Experiment" || list.Items[0].Status.BestTrial == nil {
				t.Errorf("-o %s: %+v", format, list)
			}
		}
	})

	t.Run("none", func(t *testing.T) {
		code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil), nil, "ml"), "experiments")
		if code != 0 || stdout != "" || stderr != "No Experiments found in namespace ml.\n" {
			t.Errorf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		code, stdout, _ = runWith(t, fakeCluster(t, fakeClient(t, nil), nil, "ml"), "experiments", "-o", "json")
		if code != 0 || !json.Valid([]byte(stdout)) || !strings.Contains(stdout, `"items": []`) {
			t.Errorf("-o json of nothing: exit code %d, %q", code, stdout)
		}
	})
}

func TestLeaderboard(t *testing.T) {
	_, objs := sweep()
	objs[2] = withNote(objs[2], "the best so far\nbut slow")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "table",
			args: []string{"leaderboard", "sweep"},
			want: "experiment ml/sweep: minimize val_loss; 2 of 4 trials succeeded\n" +
				"RANK   TRIAL                VAL_LOSS   PARAMETERS       SEED\n" +
				"1      sweep-111111111111   0.3        lr=0.1 depth=6   101\n" +
				"2      sweep-000000000000   0.5        lr=0.1 depth=4   100\n",
		},
		{
			name: "--top 1, wide",
			args: []string{"leaderboard", "sweep", "--top", "1", "-o", "wide"},
			want: "experiment ml/sweep: minimize val_loss; 2 of 4 trials succeeded\n" +
				"RANK   TRIAL                VAL_LOSS   PARAMETERS       SEED   PHASE       METRICS                     NOTE\n" +
				"1      sweep-111111111111   0.3        lr=0.1 depth=6   101    Succeeded   accuracy=0.9 val_loss=0.3   the best so far but slow\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), nil, "ml"), tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit code %d, stderr %q", code, stderr)
			}
			if diff := cmp.Diff(tc.want, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("maximize, json", func(t *testing.T) {
		_, objs := sweep()
		objs[0].(*crucible.Experiment).Spec.Objective = crucible.ObjectiveSpec{Metric: "accuracy", Goal: crucible.GoalMaximize}
		code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), nil, "ml"), "leaderboard", "sweep", "-o", "json")
		if code != 0 {
			t.Fatalf("exit code %d, stderr %q", code, stderr)
		}
		var got leaderboardOutput
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		// The objective recorded on the trials is val_loss's: a
		// leaderboard ranks status.objective, as bestTrial does.
		if got.Trials != 4 || got.Succeeded != 2 || len(got.Rows) != 2 || got.Rows[0].Trial != "sweep-000000000000" ||
			got.Rows[0].Rank != 1 || got.Rows[0].Metrics["accuracy"] != "0.8" || got.Objective.Goal != crucible.GoalMaximize {
			t.Errorf("leaderboard %+v", got)
		}
	})

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no experiment", args: []string{"leaderboard"}, wantErr: "error: say which: kubectl crucible leaderboard EXPERIMENT\n"},
		{name: "--top 0", args: []string{"leaderboard", "sweep", "--top", "0"}, wantErr: "error: --top 0: want at least 1\n"},
		{name: "-o xml", args: []string{"leaderboard", "sweep", "-o", "xml"}, wantErr: `error: --output "xml": want one of table, wide, json, yaml` + "\n"},
		{name: "not found", args: []string{"leaderboard", "gone"}, wantErr: `error: experiments.crucible.dev gone not found in namespace "ml"` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), nil, "ml"), tc.args...)
			if code != 1 || stdout != "" || stderr != tc.wantErr {
				t.Errorf("exit code %d, stdout %q, stderr %q; want 1, nothing, %q", code, stdout, stderr, tc.wantErr)
			}
		})
	}
}

// pagedTrials serves n Trials of Experiment exp, namespace ml, in pages
// of the Limit asked for, made up as they are asked for, as an API
// server would from etcd; it records every List's options. Trial i has
// objective (i*7919 mod n) / n, so the best are scattered.
type pagedTrials struct {
	exp  *crucible.Experiment
	n    int
	mu   sync.Mutex
	asks []client.ListOptions
}

func (p *pagedTrials) objective(i int) string {
	return fmt.Sprintf("%.6f", float64(i*7919%p.n)/float64(p.n))
}

func (p *pagedTrials) funcs() *interceptor.Funcs {
	return &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		tl, ok := list.(*crucible.TrialList)
		if !ok {
			return c.List(ctx, list, opts...)
		}
		var o client.ListOptions
		o.ApplyOptions(opts)
		p.mu.Lock()
		p.asks = append(p.asks, o)
		p.mu.Unlock()
		start := 0
		if o.Continue != "" {
			if _, err := fmt.Sscanf(o.Continue, "from-%d", &start); err != nil {
				return apierrors.NewBadRequest("bad continue token " + o.Continue)
			}
		}
		limit := int(o.Limit)
		if limit <= 0 {
			limit = p.n
		}
		end := min(start+limit, p.n)
		tl.Items = make([]crucible.Trial, 0, end-start)
		for i := start; i < end; i++ {
			t := builder.MakeTrial(p.exp, fmt.Sprintf("sweep-%012d", i)).Index(int64(i)).Seed(int64(i)).Param("lr", "0.1").
				Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: p.objective(i)}).Obj()
			tl.Items = append(tl.Items, *t)
		}
		tl.Continue = ""
		if end < p.n {
			tl.Continue = fmt.Sprintf("from-%d", end)
		}
		return nil
	}}
}

// TestLeaderboardPages reads 3,000 trials page by page: every List asks
// for a page of 500 by the Experiment's label and follows the continue
// token of the one before.
func TestLeaderboardPages(t *testing.T) {
	exp, _ := sweep()
	p := &pagedTrials{exp: exp, n: 3000}
	c := fakeClient(t, p.funcs(), exp)
	code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "leaderboard", "sweep", "--top", "3", "-o", "json")
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	var got leaderboardOutput
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	// objective(i) = i*7919 mod 3000 / 3000: 0 at i=0, then 1/3000 where
	// i*7919 = 1 mod 3000, i.e. i = 7919^-1 mod 3000 = 1679; 2/3000 at 358.
	var names []string
	for _, r := range got.Rows {
		names = append(names, r.Trial)
	}
	if diff := cmp.Diff([]string{"sweep-000000000000", "sweep-000000001679", "sweep-000000000358"}, names); diff != "" {
		t.Errorf("leaderboard (-want +got):\n%s", diff)
	}
	if got.Trials != 3000 || got.Succeeded != 3000 {
		t.Errorf("read %d trials, ranked %d; want 3000 and 3000", got.Trials, got.Succeeded)
	}
	checkPaging(t, p.asks, 6)
}

// checkPaging checks Lists asked for pages of 500 of the Experiment's
// trials, following each continue token.
func checkPaging(t *testing.T, asks []client.ListOptions, wantPages int) {
	t.Helper()
	if len(asks) != wantPages {
		t.Fatalf("%d Lists; want %d pages of 500", len(asks), wantPages)
	}
	for i, o := range asks {
		if o.Limit != pageSize || o.Namespace != "ml" || o.LabelSelector == nil || o.LabelSelector.String() != crucible.ExperimentLabel+"=sweep" {
			t.Errorf("List %d: limit %d, namespace %q, selector %v; want 500, ml, %s=sweep", i, o.Limit, o.Namespace, o.LabelSelector, crucible.ExperimentLabel)
		}
		want := ""
		if i > 0 {
			want = fmt.Sprintf("from-%d", i*pageSize)
		}
		if o.Continue != want {
			t.Errorf("List %d: continue %q; want %q", i, o.Continue, want)
		}
	}
}

// BenchmarkLeaderboard ranks 100,000 trials served in pages of 500, and
// reports the most heap in use after any page: it stays near one page's
// worth, however many trials there are.
func BenchmarkLeaderboard(b *testing.B) {
	t := &testing.T{}
	exp, _ := sweep()
	var peak uint64
	for b.Loop() {
		p := &pagedTrials{exp: exp, n: 100_000}
		funcs := p.funcs()
		list := funcs.List
		funcs.List = func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
			var m goruntime.MemStats
			goruntime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			return list(ctx, c, l, opts...)
		}
		c := fakeClient(t, funcs, exp.DeepCopy())
		var out, errOut strings.Builder
		cmd := newRootCommandFor(fakeCluster(t, c, nil, "ml"))
		cmd.SetArgs([]string{"leaderboard", "sweep"})
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

func TestTrials(t *testing.T) {
	_, objs := sweep()
	objs[3] = withNote(objs[3], "retry with more memory")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "table",
			args: []string{"trials", "sweep"},
			want: "NAME                 PHASE       OBJECTIVE   PARAMETERS        SEED   AGE\n" +
				"sweep-000000000000   Succeeded   0.5         lr=0.1 depth=4    100    60m\n" +
				"sweep-111111111111   Succeeded   0.3         lr=0.1 depth=6    101    60m\n" +
				"sweep-222222222222   Failed      -           lr=0.01 depth=4   102    60m\n" +
				"sweep-333333333333   Running     -           lr=0.01 depth=6   103    60m\n",
		},
		{
			name: "--phase, any case",
			args: []string{"trials", "sweep", "--phase", "succeeded"},
			want: "NAME                 PHASE       OBJECTIVE   PARAMETERS       SEED   AGE\n" +
				"sweep-000000000000   Succeeded   0.5         lr=0.1 depth=4   100    60m\n" +
				"sweep-111111111111   Succeeded   0.3         lr=0.1 depth=6   101    60m\n",
		},
		{
			name: "--param, by number, twice",
			args: []string{"trials", "sweep", "--param", "lr=1e-2", "--param", "depth=4"},
			want: "NAME                 PHASE    OBJECTIVE   PARAMETERS        SEED   AGE\n" +
				"sweep-222222222222   Failed   -           lr=0.01 depth=4   102    60m\n",
		},
		{
			name: "wide",
			args: []string{"trials", "sweep", "--phase", "Failed", "-o", "wide"},
			want: "NAME                 INDEX   PHASE    OBJECTIVE   PARAMETERS        SEED   REASON      AGE   METRICS   NOTE\n" +
				"sweep-222222222222   2       Failed   -           lr=0.01 depth=4   102    OOMKilled   60m   -         retry with more memory\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), nil, "ml"), tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit code %d, stderr %q", code, stderr)
			}
			if diff := cmp.Diff(tc.want, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("json and yaml", func(t *testing.T) {
		for _, format := range []string{"json", "yaml"} {
			code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), nil, "ml"), "trials", "sweep", "--param", "lr=0.1", "-o", format)
			if code != 0 {
				t.Fatalf("-o %s: exit code %d, stderr %q", format, code, stderr)
			}
			var list crucible.TrialList
			if err := yaml.UnmarshalStrict([]byte(stdout), &list); err != nil {
				t.Fatalf("-o %s: %v\n%s", format, err, stdout)
			}
			var names []string
			for _, tr := range list.Items {
				names = append(names, tr.Name)
				if tr.Kind != "Trial" || tr.Status.Objective == "" {
					t.Errorf("-o %s: item %+v", format, tr)
				}
			}
			if diff := cmp.Diff([]string{"sweep-000000000000", "sweep-111111111111"}, names); diff != "" {
				t.Errorf("-o %s: items (-want +got):\n%s", format, diff)
			}
		}
	})

	t.Run("nothing matches", func(t *testing.T) {
		code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), nil, "ml"), "trials", "sweep", "--param", "lr=7")
		if code != 0 || stdout != "" || stderr != "None of the 4 trials of experiment sweep matched.\n" {
			t.Errorf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "unknown phase", args: []string{"trials", "sweep", "--phase", "Done"}, wantErr: `--phase "Done": want Pending, Running, Succeeded or Failed`},
		{name: "param without =", args: []string{"trials", "sweep", "--param", "lr"}, wantErr: `--param "lr": want NAME=VALUE`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runWith(t, fakeCluster(t, nil, nil, "ml"), tc.args...)
			if code != 1 || stderr != "error: "+tc.wantErr+"\n" {
				t.Errorf("exit code %d, stderr %q; want 1 and %q", code, stderr, tc.wantErr)
			}
		})
	}
}

// TestTrialsStreams checks trials prints each page before it asks for
// the next, a page at a time, and lines up the columns across pages.
func TestTrialsStreams(t *testing.T) {
	exp, _ := sweep()
	p := &pagedTrials{exp: exp, n: 1200}
	var out strings.Builder
	var linesBefore []int
	funcs := p.funcs()
	list := funcs.List
	funcs.List = func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
		linesBefore = append(linesBefore, strings.Count(out.String(), "\n"))
		return list(ctx, c, l, opts...)
	}
	cmd := newRootCommandFor(fakeCluster(t, fakeClient(t, funcs, exp), nil, "ml"))
	cmd.SetArgs([]string{"trials", "sweep"})
	cmd.SetOut(&out)
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The header and the first page of 500 were out before the second
	// List, and the second page before the third.
	if diff := cmp.Diff([]int{0, 501, 1001}, linesBefore); diff != "" {
		t.Errorf("lines printed before each List (-want +got):\n%s", diff)
	}
	checkPaging(t, p.asks, 3)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1201 {
		t.Fatalf("%d lines; want a header and 1200 trials", len(lines))
	}
	col := strings.Index(lines[0], "PHASE")
	for _, l := range []string{lines[1], lines[600], lines[1200]} {
		if strings.Index(l, "Succeeded") != col {
			t.Errorf("the phase is not under PHASE (column %d):\n%s\n%s", col, lines[0], l)
		}
	}
}

func TestForbidden(t *testing.T) {
	exp, objs := sweep()
	refuse := func(verb, resource string) *interceptor.Funcs {
		gr := schema.GroupResource{Group: "crucible.dev", Resource: resource}
		return &interceptor.Funcs{
			List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				if _, ok := list.(*crucible.TrialList); ok && verb == "list" && resource == "trials" {
					return apierrors.NewForbidden(gr, "", fmt.Errorf(`User "alice" cannot list resource "trials"`))
				}
				if _, ok := list.(*crucible.ExperimentList); ok && verb == "list" && resource == "experiments" {
					return apierrors.NewForbidden(gr, "", fmt.Errorf(`User "alice" cannot list resource "experiments"`))
				}
				return c.List(ctx, list, opts...)
			},
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if verb == "get" {
					return apierrors.NewForbidden(gr, key.Name, fmt.Errorf(`User "alice" cannot get resource %q`, resource))
				}
				return c.Get(ctx, key, obj, opts...)
			},
			Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
				return apierrors.NewForbidden(gr, "x", fmt.Errorf(`User "alice" cannot patch resource %q`, resource))
			},
		}
	}
	tests := []struct {
		name     string
		args     []string
		verb     string
		resource string
		want     string
	}{
		{
			name: "leaderboard, no get", args: []string{"leaderboard", "sweep", "-n", "team-a"}, verb: "get", resource: "experiments",
			want: `error: you may not get experiments.crucible.dev "sweep" in namespace "team-a": your RBAC needs the verb get on experiments.crucible.dev (kubectl auth can-i get experiments.crucible.dev -n team-a)`,
		},
		{
			name: "leaderboard, no list", args: []string{"leaderboard", "sweep"}, verb: "list", resource: "trials",
			want: `error: you may not list trials.crucible.dev in namespace "ml": your RBAC needs the verb list on trials.crucible.dev (kubectl auth can-i list trials.crucible.dev -n ml)`,
		},
		{
			name: "trials", args: []string{"trials", "sweep"}, verb: "list", resource: "trials",
			want: `error: you may not list trials.crucible.dev in namespace "ml"`,
		},
		{
			name: "experiments -A", args: []string{"experiments", "-A"}, verb: "list", resource: "experiments",
			want: `error: you may not list experiments.crucible.dev in all namespaces: your RBAC needs the verb list on experiments.crucible.dev (kubectl auth can-i list experiments.crucible.dev -A)`,
		},
		{
			name: "note", args: []string{"note", "experiment/sweep", "hi"}, verb: "patch", resource: "experiments",
			want: `error: you may not patch experiments.crucible.dev "sweep" in namespace "ml": your RBAC needs the verb patch on experiments.crucible.dev`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient(t, refuse(tc.verb, tc.resource), append(slices.Clone(objs), exp.DeepCopy())[1:]...)
			code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), tc.args...)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, tc.want) {
				t.Errorf("exit code %d, stdout %q, stderr %q; want 1, nothing and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// describeLine is a line of describe's: key, a colon, and value after the
// padding that lines the values up. hasText finds it.
func describeLine(key, value string) string {
	return "line:" + key + ":\x00" + value
}

// hasText reports whether out has want: a describeLine, or text.
func hasText(out, want string) bool {
	line, ok := strings.CutPrefix(want, "line:")
	if !ok {
		return strings.Contains(out, want)
	}
	key, value, _ := strings.Cut(line, "\x00")
	for l := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), key)
		if ok && strings.HasPrefix(rest, " ") && strings.TrimLeft(rest, " ") == value {
			return true
		}
	}
	return false
}

func TestDescribeTrial(t *testing.T) {
	exp, objs := sweep()
	trial := objs[3].(*crucible.Trial) // failed
	trial.Status.StartTime = &metav1.Time{Time: testNow.Add(-50 * time.Minute)}
	trial.Status.Artifacts = &crucible.TrialArtifacts{URI: "s3://runs/ml/sweep/t/", Objects: ptr.To[int64](3), Bytes: ptr.To[int64](1234),
		ManifestDigest: "sha256:" + strings.Repeat("12", 32)}
	trial.Status.Provenance = &crucible.TrialProvenance{Digest: "sha256:" + strings.Repeat("34", 32), URI: "s3://runs/t.provenance.intoto.jsonl", KeyID: "key-1"}
	withNote(trial, "ran out of memory at epoch 3")
	pod := builder.MakePod(trial, "sweep-222222222222-abcde", testNow.Add(-50*time.Minute)).Obj()
	older := builder.MakePod(trial, "sweep-222222222222-older", testNow.Add(-55*time.Minute)).Obj()
	event := func(name string, uid string, reason string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "ml"},
			InvolvedObject: corev1.ObjectReference{Kind: "Trial", Name: trial.Name, UID: types.UID(uid)},
			Type:           corev1.EventTypeWarning, Reason: reason, Message: "the trainer was OOMKilled", Count: 1,
			LastTimestamp: metav1.Time{Time: testNow.Add(-40 * time.Minute)},
		}
	}
	kube := kubefake.NewClientset(pod, older, event("e1", string(trial.UID), "TrialFailed"), event("e2", "someone-else", "NotMine"))
	asked := logReactor(kube, "epoch 1 loss 0.9\nepoch 2\tloss 0.7\nKilled\n")
	c := fakeClient(t, nil, objs...)

	code, stdout, stderr := runWith(t, fakeCluster(t, c, kube, "ml"), "describe", "trial/"+trial.Name)
	if code != 0 || stderr != "" {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		describeLine("Name", "sweep-222222222222"),
		describeLine("Experiment", "sweep"),
		describeLine("Phase", "Failed"),
		describeLine("Seed", "102"),
		describeLine("  lr", "0.01"),
		describeLine("  depth", "4"),
		describeLine("Objective", "- (minimize val_loss)"),
		describeLine("Reason", "OOMKilled"),
		describeLine("Message", "the trainer ran out of memory"),
		describeLine("  Image", ""+exp.Spec.Image+""),
		describeLine("  Experiment digest", "sha256:"+strings.Repeat("cd", 32)+""),
		describeLine("  Dataset digest", ""+exp.Spec.Dataset.Digest+""),
		describeLine("  Dataset source", "persistentVolumeClaim datasets subPath \"cifar/2024\""),
		describeLine("  Command", "[\"python\",\"train.py\"]"),
		describeLine("  Env", "EPOCHS=3"),
		describeLine("  URI", "s3://runs/ml/sweep/t/"),
		describeLine("  Objects", "3"),
		describeLine("  Manifest digest", "sha256:"+strings.Repeat("12", 32)+""),
		describeLine("  Key ID", "key-1"),
		describeLine("Note", "ran out of memory at epoch 3"),
		"TrialFailed",
		"Logs (the last 20 lines of pod sweep-222222222222-abcde, container trainer):\n  epoch 1 loss 0.9\n  epoch 2    loss 0.7\n  Killed\n",
	} {
		if !hasText(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "NotMine") {
		t.Errorf("another object's event is shown:\n%s", stdout)
	}
	// The log was asked of the trainer, its last 20 lines.
	if diff := cmp.Diff([]corev1.PodLogOptions{{Container: "trainer", TailLines: ptr.To[int64](20)}}, *asked); diff != "" {
		t.Errorf("log requests (-want +got):\n%s", diff)
	}

	t.Run("no Pod, no Experiment", func(t *testing.T) {
		gone := slices.Clone(objs[1:]) // not the Experiment
		code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, gone...), kubefake.NewClientset(), "ml"), "describe", "sweep-000000000000")
		if code != 0 || stderr != "" {
			t.Fatalf("exit code %d, stderr %q", code, stderr)
		}
		for _, want := range []string{
			describeLine("Objective", "0.5"),
			describeLine("  Experiment", `not read: experiments.crucible.dev sweep not found in namespace "ml"; the pins above are the ones the Trial records`),
			describeLine("Events", "<none>"),
			describeLine("Logs", "no Pod: the trial has not started, or its Job and Pod were removed (retention, or the Job's TTL)"),
			describeLine("Artifacts", "none recorded"),
		} {
			if !hasText(stdout, want) {
				t.Errorf("no %q in\n%s", want, stdout)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		code, stdout, _ := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), kube, "ml"), "describe", "trial/"+trial.Name, "-o", "json")
		var got crucible.Trial
		if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil || got.Name != trial.Name || got.Kind != "Trial" || got.Status.Reason != crucible.ReasonOOMKilled {
			t.Errorf("exit code %d, -o json %s", code, stdout)
		}
	})

	t.Run("not found", func(t *testing.T) {
		code, _, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), kube, "ml"), "describe", "trial/missing")
		if want := "error: trials.crucible.dev missing not found in namespace \"ml\"\n"; code != 1 || stderr != want {
			t.Errorf("exit code %d, stderr %q; want 1, %q", code, stderr, want)
		}
	})

	t.Run("another kind", func(t *testing.T) {
		code, _, stderr := runWith(t, fakeCluster(t, nil, nil, "ml"), "describe", "job/x")
		if want := "error: \"job/x\": want trial/NAME or experiment/NAME\n"; code != 1 || stderr != want {
			t.Errorf("exit code %d, stderr %q; want 1, %q", code, stderr, want)
		}
	})
}

// logReactor makes kube serve lines as a Pod's log, and record the
// options every log request asked with.
func logReactor(kube *kubefake.Clientset, lines string) *[]corev1.PodLogOptions {
	var asked []corev1.PodLogOptions
	kube.PrependReactor("get", "pods/log", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if o, ok := a.(clienttesting.GenericAction).GetValue().(*corev1.PodLogOptions); ok {
			asked = append(asked, *o)
		}
		return true, &runtime.Unknown{Raw: []byte(lines)}, nil
	})
	return &asked
}

func TestDescribeExperiment(t *testing.T) {
	exp, objs := sweep() // objs[0] is exp
	exp.Status.Reproduction = &crucible.ReproductionStatus{Verdict: crucible.VerdictWithinTolerance, Message: "loss within tolerance", Trial: "repro-1",
		Metrics: []crucible.MetricComparison{{Name: "val_loss", Original: "0.3", Reproduced: "0.30001", Difference: "+1e-05", Outcome: crucible.MetricWithinTolerance}}}
	withNote(exp, "the baseline")
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ml"}, InvolvedObject: corev1.ObjectReference{UID: exp.UID},
		Type: corev1.EventTypeNormal, Reason: "TrialsCreated", Message: "created 4 trials", LastTimestamp: metav1.Time{Time: testNow.Add(-90 * time.Minute)}}
	code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), kubefake.NewClientset(ev), "ml"), "describe", "experiment/sweep")
	if code != 0 || stderr != "" {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		describeLine("Phase", "Running"),
		describeLine("Trials", "4 total: 4 created, 1 active, 2 succeeded, 1 failed"),
		describeLine("  Name", "sweep-111111111111"),
		describeLine("Objective", "minimize val_loss"),
		describeLine("  lr", "0.1, 0.01"),
		describeLine("  Dataset", "cifar10 2024-05-01"),
		describeLine("  Verdict", "WithinTolerance"),
		describeLine("  val_loss", "WithinTolerance: original 0.3, reproduced 0.30001, difference +1e-05"),
		describeLine("Note", "the baseline"),
		"Normal  TrialsCreated  1      created 4 trials\n",
	} {
		if !hasText(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "Logs") {
		t.Errorf("an Experiment has no log:\n%s", stdout)
	}
}

func TestDiff(t *testing.T) {
	exp, objs := sweep()
	twin := objs[2].(*crucible.Trial).DeepCopy() // sweep-111111111111
	twin.Name, twin.ResourceVersion = "sweep-twin", ""
	other := exp.DeepCopy()
	other.Name, other.ResourceVersion = "sweep-b", ""
	other.Spec.Image = strings.TrimSuffix(exp.Spec.Image, "f") + "0"
	all := append(slices.Clone(objs), twin, other)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // stdout
		wantErr  string
	}{
		{
			name: "two trials", args: []string{"diff", "trial/sweep-000000000000", "sweep-111111111111"}, wantCode: 1,
			want: "SECTION      FIELD       sweep-000000000000   sweep-111111111111\n" +
				"pins         seed        100                  101\n" +
				"parameters   depth       4                    6\n" +
				"metrics      accuracy    0.8                  0.9\n" +
				"metrics      val_loss    0.5                  0.3\n" +
				"outcome      objective   0.5                  0.3\n",
		},
		{name: "the same", args: []string{"diff", "sweep-000000000000", "trials/sweep-000000000000"}, wantCode: 0},
		{name: "twins", args: []string{"diff", "sweep-111111111111", "sweep-twin"}, wantCode: 0},
		{
			name: "two Experiments", args: []string{"diff", "experiment/sweep", "exp/sweep-b"}, wantCode: 1,
			want: fmt.Sprintf("SECTION   FIELD   %-*s   sweep-b\n", len(exp.Spec.Image), "sweep") +
				"pins      image   " + exp.Spec.Image + "   " + other.Spec.Image + "\n",
		},
		{name: "one of each", args: []string{"diff", "experiment/sweep", "trial/sweep-twin"}, wantCode: 2,
			wantErr: "error: experiment/sweep and trial/sweep-twin: compare two trials or two Experiments, not one of each\n"},
		{name: "missing", args: []string{"diff", "sweep-twin", "nope"}, wantCode: 2,
			wantErr: "error: trials.crucible.dev nope not found in namespace \"ml\"\n"},
		{name: "one argument", args: []string{"diff", "sweep-twin"}, wantCode: 2,
			wantErr: "error: want two objects, got 1 arguments: kubectl crucible diff A B\n"},
		{name: "bad output", args: []string{"diff", "a", "b", "-o", "xml"}, wantCode: 2,
			wantErr: "error: --output \"xml\": want one of table, wide, json, yaml\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, all...), nil, "ml"), tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d; want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			// A difference is no error: nothing on stderr.
			if stderr != tc.wantErr {
				t.Errorf("stderr %q; want %q", stderr, tc.wantErr)
			}
			if tc.want != "" || tc.wantCode == 0 {
				if diff := cmp.Diff(tc.want, stdout); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			}
		})
	}

	t.Run("--all, json", func(t *testing.T) {
		code, stdout, _ := runWith(t, fakeCluster(t, fakeClient(t, nil, all...), nil, "ml"), "diff", "sweep-000000000000", "sweep-111111111111", "--all", "-o", "json")
		var got diffOutput
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		differing := len(compare.Differing(got.Rows))
		if code != 1 || !got.Differs || differing != 5 || len(got.Rows) <= differing || got.A != "trial/sweep-000000000000" {
			t.Errorf("exit code %d, %d rows, %d differing: %+v", code, len(got.Rows), differing, got)
		}
	})
	t.Run("--all marks the differing rows", func(t *testing.T) {
		_, stdout, _ := runWith(t, fakeCluster(t, fakeClient(t, nil, all...), nil, "ml"), "diff", "sweep-000000000000", "sweep-111111111111", "--all")
		for _, want := range []string{"*   parameters   depth ", "    parameters   lr    ", "    pins         image "} {
			if !strings.Contains(stdout, want) {
				t.Errorf("no %q in\n%s", want, stdout)
			}
		}
	})
}

func TestWatch(t *testing.T) {
	exp, _ := sweep()
	exp.Status = crucible.ExperimentStatus{Phase: crucible.ExperimentRunning, Trials: crucible.TrialCounts{Total: 4, Active: 2}}
	step := func(c client.Client, phase crucible.ExperimentPhase, ok, failed, active int32, best string) {
		t.Helper()
		e := &crucible.Experiment{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(exp), e); err != nil {
			t.Error(err)
			return
		}
		e.Status.Phase = phase
		e.Status.Trials = crucible.TrialCounts{Total: 4, Succeeded: ok, Failed: failed, Active: active}
		if best != "" {
			e.Status.BestTrial = &crucible.BestTrial{Name: "b", Objective: best}
		}
		if phase == crucible.ExperimentFailed {
			e.Status.Conditions = []metav1.Condition{{Type: crucible.ExperimentFailedCondition, Status: metav1.ConditionTrue,
				Reason: crucible.ReasonMaxFailedTrialsExceeded, Message: "3 trials failed, more than maxFailedTrials 2"}}
		}
		if err := c.Update(context.Background(), e); err != nil {
			t.Error(err)
		}
	}
	const header = "TIME      PHASE       SUCCEEDED  FAILED  ACTIVE  BEST          PROGRESS\n"
	tests := []struct {
		name     string
		closeAt  int // the first watch ends after this many updates; 0: never
		steps    func(c client.Client)
		wantCode int
		want     string
		wantErr  string
	}{
		{
			name: "to success",
			steps: func(c client.Client) {
				step(c, crucible.ExperimentRunning, 1, 0, 2, "0.5")
				step(c, crucible.ExperimentRunning, 1, 0, 2, "0.5") // no change, no line
				step(c, crucible.ExperimentRunning, 3, 0, 1, "0.3")
				step(c, crucible.ExperimentSucceeded, 4, 0, 1, "0.3") // still a trial active
				step(c, crucible.ExperimentSucceeded, 4, 0, 0, "0.3")
			},
			want: header +
				"0s        Running     0/4        0       2       -             [....................]   0%\n" +
				"0s        Running     1/4        0       2       0.5           [#####...............]  25%\n" +
				"0s        Running     3/4        0       1       0.3           [###############.....]  75%\n" +
				"0s        Succeeded   4/4        0       1       0.3           [####################] 100%\n" +
				"0s        Succeeded   4/4        0       0       0.3           [####################] 100%\n",
		},
		{
			name: "to failure",
			steps: func(c client.Client) {
				step(c, crucible.ExperimentFailed, 0, 3, 0, "")
			},
			wantCode: 1,
			want: header +
				"0s        Running     0/4        0       2       -             [....................]   0%\n" +
				"0s        Failed      0/4        3       0       -             [###############.....]  75%\n",
			wantErr: "error: experiment ml/sweep ended: it Failed (MaxFailedTrialsExceeded): 3 trials failed, more than maxFailedTrials 2\n",
		},
		{
			name:    "the watch ends: read again",
			closeAt: 1,
			steps: func(c client.Client) {
				step(c, crucible.ExperimentSucceeded, 4, 0, 0, "0.3")
			},
			want: header +
				"0s        Running     0/4        0       2       -             [....................]   0%\n" +
				"0s        Running     2/4        0       2       0.4           [##########..........]  50%\n" +
				"0s        Succeeded   4/4        0       0       0.3           [####################] 100%\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			watching := make(chan struct{}, 4)
			var watches int
			// The first watch of "the watch ends" is one the test drives
			// and ends, as a server ends a watch; later ones are the
			// fake's.
			first := watch.NewFake()
			c := fakeClient(t, &interceptor.Funcs{
				Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
					var o client.ListOptions
					o.ApplyOptions(opts)
					if o.FieldSelector == nil || o.FieldSelector.String() != "metadata.name=sweep" || o.Namespace != "ml" {
						t.Errorf("watch in %q by %v; want ml and metadata.name=sweep", o.Namespace, o.FieldSelector)
					}
					watches++
					defer func() { watching <- struct{}{} }()
					if tc.closeAt > 0 && watches == 1 {
						return first, nil
					}
					return c.Watch(ctx, list, opts...)
				},
			}, exp.DeepCopy())
			type result struct {
				code           int
				stdout, stderr string
			}
			done := make(chan result, 1)
			go func() {
				code, stdout, stderr := runWith(t, fakeCluster(t, c, nil, "ml"), "watch", "sweep", "--timeout", "20s")
				done <- result{code, stdout, stderr}
			}()
			<-watching
			if tc.closeAt > 0 {
				step(c, crucible.ExperimentRunning, 2, 0, 2, "0.4")
				seen := &crucible.Experiment{}
				if err := c.Get(t.Context(), client.ObjectKeyFromObject(exp), seen); err != nil {
					t.Fatal(err)
				}
				first.Modify(seen) // returns once watch has it
				first.Stop()
				<-watching
			}
			tc.steps(c)
			r := <-done
			if r.code != tc.wantCode || r.stderr != tc.wantErr {
				t.Errorf("exit code %d, stderr %q; want %d, %q", r.code, r.stderr, tc.wantCode, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, r.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if tc.closeAt > 0 && watches != 2 {
				t.Errorf("%d watches; want 2, the second after the first ended", watches)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		code, _, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, exp.DeepCopy()), nil, "ml"), "watch", "sweep", "--timeout", "50ms")
		want := "error: experiment ml/sweep has not ended after 50ms: it is Running (it keeps running; watch it again to follow it)\n"
		if code != 1 || stderr != want {
			t.Errorf("exit code %d, stderr %q; want 1, %q", code, stderr, want)
		}
	})
	t.Run("already ended", func(t *testing.T) {
		ended := exp.DeepCopy()
		ended.Status = crucible.ExperimentStatus{Phase: crucible.ExperimentSucceeded, Trials: crucible.TrialCounts{Total: 4, Succeeded: 4}}
		code, stdout, _ := runWith(t, fakeCluster(t, fakeClient(t, nil, ended), nil, "ml"), "watch", "sweep")
		if code != 0 || strings.Count(stdout, "\n") != 2 {
			t.Errorf("exit code %d, stdout %q; want 0 and one line", code, stdout)
		}
	})
}

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		counts crucible.TrialCounts
		want   string
	}{
		{crucible.TrialCounts{}, "[....................]   0%"},
		{crucible.TrialCounts{Total: 3, Succeeded: 1}, "[######..............]  33%"},
		{crucible.TrialCounts{Total: 100000, Succeeded: 99999}, "[###################.]  99%"},
		{crucible.TrialCounts{Total: 2, Succeeded: 2, Failed: 1}, "[####################] 100%"},
	} {
		if got := bar(tc.counts); got != tc.want {
			t.Errorf("bar(%+v) = %q; want %q", tc.counts, got, tc.want)
		}
	}
}

func TestLogs(t *testing.T) {
	_, objs := sweep()
	trial := objs[2].(*crucible.Trial)
	pod := builder.MakePod(trial, trial.Name+"-x", testNow).Obj()
	kube := kubefake.NewClientset(pod)
	asked := logReactor(kube, "line 1\nline 2\n")
	code, stdout, stderr := runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), kube, "ml"), "logs", "trial/"+trial.Name, "--tail", "5", "-f")
	if code != 0 || stdout != "line 1\nline 2\n" || stderr != "" {
		t.Errorf("exit code %d, stdout %q, stderr %q; want 0, the log", code, stdout, stderr)
	}
	if diff := cmp.Diff([]corev1.PodLogOptions{{Container: "trainer", Follow: true, TailLines: ptr.To[int64](5)}}, *asked); diff != "" {
		t.Errorf("log requests (-want +got):\n%s", diff)
	}
	var got []string
	for _, a := range kube.Actions() {
		got = append(got, a.GetVerb()+" "+a.GetResource().Resource+"/"+a.GetSubresource())
	}
	if diff := cmp.Diff([]string{"list pods/", "get pods/log"}, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	code, _, stderr = runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), kube, "ml"), "logs", "trial/sweep-000000000000")
	if want := "error: trial ml/sweep-000000000000 has no Pod: it has not started, or its Job and Pod were removed (retention, or the Job's TTL)\n"; code != 1 || stderr != want {
		t.Errorf("no Pod: exit code %d, stderr %q; want 1, %q", code, stderr, want)
	}
	code, _, stderr = runWith(t, fakeCluster(t, fakeClient(t, nil, objs...), kube, "ml"), "logs", "trial/nope")
	if want := "error: trials.crucible.dev nope not found in namespace \"ml\"\n"; code != 1 || stderr != want {
		t.Errorf("no trial: exit code %d, stderr %q; want 1, %q", code, stderr, want)
	}
	code, _, stderr = runWith(t, fakeCluster(t, nil, kube, "ml"), "logs", "experiment/sweep")
	if want := "error: \"experiment/sweep\": want trial/NAME\n"; code != 1 || stderr != want {
		t.Errorf("an Experiment: exit code %d, stderr %q; want 1, %q", code, stderr, want)
	}
}

func TestNote(t *testing.T) {
	_, objs := sweep()
	c := fakeClient(t, nil, objs...)
	cl := fakeCluster(t, c, kubefake.NewClientset(), "ml")
	note := func(obj client.Object) string {
		t.Helper()
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		return obj.GetAnnotations()[crucible.NoteAnnotation]
	}
	trial := &crucible.Trial{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "sweep-111111111111"}}
	before := objs[2].(*crucible.Trial)

	code, stdout, stderr := runWith(t, cl, "note", "trial/sweep-111111111111", "the best: try it with 3 seeds")
	if code != 0 || stdout != "trial.crucible.dev/sweep-111111111111 annotated\n" {
		t.Fatalf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got := note(trial); got != "the best: try it with 3 seeds" {
		t.Errorf("note %q", got)
	}
	// Only the note changed: labels, spec and status are as they were.
	if diff := cmp.Diff(before.Spec, trial.Spec); diff != "" || trial.Labels[crucible.ExperimentLabel] != "sweep" || trial.Status.Objective != "0.3" {
		t.Errorf("the trial changed beyond its note: spec (-before +after) %s, labels %v, status %+v", diff, trial.Labels, trial.Status)
	}
	_, stdout, _ = runWith(t, cl, "describe", "trial/sweep-111111111111")
	if !hasText(stdout, describeLine("Note", "the best: try it with 3 seeds")) {
		t.Errorf("describe does not show the note:\n%s", stdout)
	}
	_, stdout, _ = runWith(t, cl, "trials", "sweep", "-o", "wide", "--phase", "Succeeded")
	if !strings.Contains(stdout, "the best: try it with 3 seeds\n") {
		t.Errorf("trials -o wide does not show the note:\n%s", stdout)
	}

	if code, stdout, _ = runWith(t, cl, "note", "trial/sweep-111111111111", "--clear"); code != 0 || stdout != "trial.crucible.dev/sweep-111111111111 note removed\n" {
		t.Errorf("--clear: exit code %d, stdout %q", code, stdout)
	}
	if got := note(trial); got != "" {
		t.Errorf("note %q after --clear", got)
	}
	if _, has := trial.Annotations[crucible.NoteAnnotation]; has {
		t.Errorf("annotations %v: --clear leaves the key", trial.Annotations)
	}

	exp := &crucible.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "sweep"}}
	if code, _, stderr = runWith(t, cl, "note", "experiment/sweep", "baseline"); code != 0 || note(exp) != "baseline" {
		t.Errorf("experiment note: exit code %d, stderr %q, note %q", code, stderr, note(exp))
	}

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "empty", args: []string{"note", "trial/x", ""}, wantErr: "an empty note: to remove the note, pass --clear"},
		{name: "no text", args: []string{"note", "trial/x"}, wantErr: `want an object and a note, got 1 arguments: kubectl crucible note trial/NAME "TEXT" (or --clear)`},
		{name: "--clear and text", args: []string{"note", "trial/x", "y", "--clear"}, wantErr: "--clear removes the note of one object: kubectl crucible note trial/NAME --clear (got 2 arguments)"},
		{name: "too long", args: []string{"note", "trial/x", strings.Repeat("é", 4097)}, wantErr: "the note has 4097 characters; at most 4096 fit (keep reports with the trial's artifacts)"},
		{name: "missing", args: []string{"note", "trial/missing", "x"}, wantErr: `trials.crucible.dev missing not found in namespace "ml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runWith(t, cl, tc.args...)
			if code != 1 || stderr != "error: "+tc.wantErr+"\n" {
				t.Errorf("exit code %d, stderr %q; want 1, %q", code, stderr, tc.wantErr)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	_, objs := sweep()
	cl := fakeCluster(t, fakeClient(t, nil, objs...), nil, "ml")

	code, stdout, _ := runWith(t, cl, "completion", "bash")
	if code != 0 || !strings.Contains(stdout, "bash completion") || !strings.Contains(stdout, "__start_kubectl-crucible") {
		t.Errorf("completion bash: exit code %d, %d bytes, no bash completion script", code, len(stdout))
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "experiments", args: []string{"leaderboard", ""}, want: []string{"sweep"}},
		{name: "experiments by prefix", args: []string{"watch", "sw"}, want: []string{"sweep"}},
		{name: "kinds", args: []string{"describe", ""}, want: []string{"trial/", "experiment/"}},
		{name: "trials", args: []string{"describe", "trial/sweep-1"}, want: []string{"trial/sweep-111111111111"}},
		{name: "experiments after the slash", args: []string{"note", "experiment/"}, want: []string{"experiment/sweep"}},
		{name: "diff's second", args: []string{"diff", "trial/sweep-000000000000", "trial/sweep-00"}, want: []string{"trial/sweep-000000000000"}},
		{name: "logs takes trials only", args: []string{"logs", "exp"}, want: nil},
		{name: "phases", args: []string{"trials", "sweep", "--phase", ""}, want: []string{"Pending", "Running", "Succeeded", "Failed", "Stopped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(t, cl, append([]string{"__complete"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit code %d, stderr %q", code, stderr)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
				if !strings.HasPrefix(l, ":") {
					got = append(got, l)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
		})
	}
}
