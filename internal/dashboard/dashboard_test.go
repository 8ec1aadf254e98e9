package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
	"github.com/crucible-dev/crucible/test/builder"
)

// experimentRE matches a row of the Experiments table.
var experimentRE = regexp.MustCompile(`<tr data-experiment="([^"]+)" data-namespace="([^"]+)"`)

func experimentRows(body string) []string {
	var out []string
	for _, m := range experimentRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[2]+"/"+m[1])
	}
	return out
}

func TestExperimentsPage(t *testing.T) {
	a := sweep()
	b := builder.MakeExperiment("other", "team-b").Obj()
	b.Status.Phase = crucible.ExperimentSucceeded
	b.Status.Reproduction = &crucible.ReproductionStatus{Verdict: crucible.VerdictIdentical}
	c := builder.MakeExperiment("third", "team-c").Obj()
	objs := []client.Object{a, b, c}

	// refuseClusterWide refuses a list in all namespaces, and in the
	// namespaces named.
	refuse := func(namespaces ...string) interceptor.Funcs {
		return interceptor.Funcs{List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			o := (&client.ListOptions{}).ApplyOptions(opts)
			if o.Namespace == "" || strings.Contains(strings.Join(namespaces, ","), o.Namespace) {
				return forbidden("crucible.dev", "experiments", "")
			}
			return cl.List(ctx, list, opts...)
		}}
	}
	tests := []struct {
		name       string
		path       string
		funcs      interceptor.Funcs
		namespaces []string
		wantStatus int
		want       []string
		contains   []string
	}{
		{name: "all namespaces", path: "/", wantStatus: 200,
			want:     []string{"ml/sweep", "team-b/other", "team-c/third"},
			contains: []string{`<progress max="12" value="11">`, `11/12`, `>0.100</a>`, `Identical`, `60m</td>`}},
		{name: "one namespace", path: "/?namespace=team-b", wantStatus: 200, want: []string{"team-b/other"},
			contains: []string{`id="compare-form" method="get" action="/namespaces/team-b/compare"`}},
		{name: "phase filter", path: "/?phase=Running", wantStatus: 200, want: []string{"ml/sweep"}},
		{name: "forbidden cluster-wide, falls back to the kubeconfig's namespaces", path: "/", wantStatus: 200,
			funcs: refuse(), namespaces: []string{"ml", "team-c"}, want: []string{"ml/sweep", "team-c/third"},
			contains: []string{`id="scope-notice"`, "lists ml, team-c only", "list experiments.crucible.dev in all namespaces"}},
		{name: "forbidden in one of them too", path: "/", wantStatus: 200,
			funcs: refuse("team-c"), namespaces: []string{"ml", "team-c"}, want: []string{"ml/sweep"},
			contains: []string{"list experiments.crucible.dev in namespace team-c"}},
		{name: "forbidden everywhere", path: "/", wantStatus: 403,
			funcs: refuse("ml"), namespaces: []string{"ml"},
			contains: []string{`id="missing-permission">list experiments.crucible.dev in namespace ml<`, "kubectl auth can-i list experiments.crucible.dev -n ml"}},
		{name: "forbidden with no namespace to fall back to", path: "/", wantStatus: 403, funcs: refuse(),
			contains: []string{"list experiments.crucible.dev in all namespaces", "--all-namespaces"}},
		{name: "forbidden in the namespace asked for", path: "/?namespace=ml", wantStatus: 403, funcs: refuse("ml"),
			contains: []string{"list experiments.crucible.dev in namespace ml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := fixture{objs: objs, funcs: tt.funcs, opts: Options{Namespaces: tt.namespaces}}.serve(t)
			status, body := get(t, s, tt.path)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d:\n%s", status, tt.wantStatus, body)
			}
			if diff := cmp.Diff(tt.want, experimentRows(body)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("page lacks %q:\n%s", c, body)
				}
			}
		})
	}
}

func TestExperimentPage(t *testing.T) {
	s, _ := sweepFixture().serve(t)
	status, body := get(t, s, "/namespaces/ml/experiments/sweep")
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, body)
	}
	rows := trialRows(body)
	if len(rows) != 12 {
		t.Fatalf("%d rows, want 12: %v", len(rows), rows)
	}
	// Best first (minimize), the failed and the running trial (no
	// objective) last, by index.
	want := []string{"sweep-09", "sweep-02", "sweep-07", "sweep-00", "sweep-05", "sweep-10", "sweep-08",
		"sweep-01", "sweep-06", "sweep-04", "sweep-03", "sweep-11"}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	for _, c := range []string{
		`<tr data-trial="sweep-09" data-rank="1" data-index="9" data-seed="1234" data-phase="Succeeded" data-objective="0.100" class="best">`,
		`data-phase="Failed" data-objective=""`,
		`<td class="num" data-param="lr">0.001</td>`,
		`<th data-param="depth">depth</th>`,
		`<th data-metric="accuracy">accuracy</th>`,
		`data-src="/namespaces/ml/experiments/sweep/trials.json" data-trial-base="/namespaces/ml/trials/"`,
		`data-visible="12"`,
		`<form id="compare-form" method="get" action="/namespaces/ml/compare">`,
		`<input type="checkbox" name="trial" value="sweep-09"`,
		`data-events="/namespaces/ml/experiments/sweep/events"`,
		`<progress id="progress" max="12" value="11">`,
		`id="spec-digest">sha256:cdcd`,
		`<a id="best-trial" href="/namespaces/ml/trials/sweep-09">sweep-09</a>`,
		`href="/namespaces/ml/experiments/sweep?phase=Failed"`,
		`/static/dashboard.js?v=`,
	} {
		if !strings.Contains(body, c) {
			t.Errorf("page lacks %q", c)
		}
	}
	if strings.Contains(body, `id="next"`) {
		t.Error("12 trials have a next page")
	}
}

// manyTrials is an Experiment with n succeeded trials whose objective
// grows with the index.
func manyTrials(n int) fixture {
	exp := builder.MakeExperiment("big", testNS).Values("lr", "0.1", "0.01").Obj()
	objs := []client.Object{exp}
	for i := range n {
		tr := builder.MakeTrial(exp, fmt.Sprintf("big-%05d", i)).Index(int64(i)).Seed(int64(i)).Param("lr", "0.1").Obj()
		phase := crucible.TrialSucceeded
		if i%10 == 9 {
			phase = crucible.TrialFailed
		}
		tr.Status = crucible.TrialStatus{Phase: phase}
		if phase == crucible.TrialSucceeded {
			tr.Status.Objective = fmt.Sprintf("%d.5", i)
		}
		objs = append(objs, tr)
	}
	return fixture{objs: objs}
}

func TestExperimentPagePages(t *testing.T) {
	s, _ := manyTrials(500).serve(t)
	tests := []struct {
		query     string
		rows      int
		first     string
		next      string // the next link's query, "" for none
		prev      string
		countText string
	}{
		{query: "", rows: 100, first: "big-00000", next: "page=2", countText: "Trials 1–100 of 500."},
		{query: "?page=2", rows: 100, first: "big-00111", next: "page=3", prev: "page=1"},
		{query: "?page=5", rows: 100, first: "big-00444", prev: "page=4", countText: "Trials 401–500 of 500."},
		{query: "?page=99", rows: 100, first: "big-00444", prev: "page=4"}, // past the end: the last page
		{query: "?limit=200&page=3", rows: 100, prev: "limit=200&amp;page=2"},
		{query: "?limit=100000", rows: maxLimit, next: "limit=100000&amp;page=2"},
		{query: "?sort=index&page=2", rows: 100, first: "big-00100", next: "page=3&amp;sort=index", prev: "page=1&amp;sort=index"},
		{query: "?phase=Failed", rows: 50, first: "big-00009", countText: "Trials 1–50 of 50 (of 500 in all)."},
		{query: "?phase=Succeeded&page=5", rows: 50, prev: "page=4&amp;phase=Succeeded", countText: "Trials 401–450 of 450 (of 500 in all)."},
		{query: "?phase=Failed&phase=Succeeded&limit=200", rows: 200, next: "limit=200&amp;page=2&amp;phase=Failed&amp;phase=Succeeded"},
		{query: "?phase=Running", rows: 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body := get(t, s, "/namespaces/ml/experiments/big"+tt.query)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			rows := trialRows(body)
			if len(rows) != tt.rows {
				t.Fatalf("%d rows, want %d", len(rows), tt.rows)
			}
			if tt.first != "" && rows[0] != tt.first {
				t.Errorf("first row %s, want %s", rows[0], tt.first)
			}
			checkLink(t, body, "next", tt.next)
			checkLink(t, body, "prev", tt.prev)
			if tt.countText != "" && !strings.Contains(body, tt.countText) {
				t.Errorf("page lacks %q", tt.countText)
			}
		})
	}
}

func checkLink(t *testing.T, body, id, query string) {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `" rel="` + id + `" href="([^"]*)"`).FindStringSubmatch(body)
	switch {
	case query == "" && m != nil:
		t.Errorf("%s link %s, want none", id, m[1])
	case query != "" && m == nil:
		t.Errorf("no %s link, want ?%s", id, query)
	case query != "" && m[1] != "/namespaces/ml/experiments/big?"+query:
		t.Errorf("%s link %s, want ?%s", id, m[1], query)
	}
}

func TestRankTrials(t *testing.T) {
	mk := func(name string, index int64, objective, lr string) *crucible.Trial {
		return &crucible.Trial{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: crucible.TrialSpec{Index: index,
			Parameters: []crucible.ParameterAssignment{{Name: "lr", Value: lr}}}, Status: crucible.TrialStatus{Objective: objective}}
	}
	params := []crucible.ParameterSpec{{Name: "lr"}}
	tests := []struct {
		name string
		key  string
		goal crucible.Goal
		want []string
	}{
		{name: "minimize, ties to the lower index, no objective last", key: sortObjective, goal: crucible.GoalMinimize,
			want: []string{"c", "a", "e", "b", "d"}},
		{name: "maximize", key: sortObjective, goal: crucible.GoalMaximize, want: []string{"b", "a", "e", "c", "d"}},
		{name: "unknown key sorts by objective", key: "nope", goal: crucible.GoalMinimize, want: []string{"c", "a", "e", "b", "d"}},
		{name: "index", key: sortIndex, goal: crucible.GoalMinimize, want: []string{"a", "b", "c", "d", "e"}},
		{name: "parameter, as numbers", key: "lr", goal: crucible.GoalMinimize, want: []string{"d", "e", "c", "b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trials := []*crucible.Trial{
				mk("e", 4, "0.50", "0.001"), mk("b", 1, "0.9", "0.01"), mk("d", 3, "", "1e-4"),
				mk("a", 0, "5e-1", "10"), mk("c", 2, "0.1", "0.005"),
			}
			rankTrials(trials, tt.key, tt.goal, params)
			var got []string
			for _, tr := range trials {
				got = append(got, tr.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrialsJSON(t *testing.T) {
	exp := builder.MakeExperiment("space", testNS).Values("opt", "adam", "sgd").IntRange("depth", 2, 4, 2).
		FloatRange("wd", "1e-5", "1e-1", 5, crucible.ScaleLog).Obj()
	exp.Status.BestTrial = &crucible.BestTrial{Name: "space-1", Objective: "0.25"}
	t0 := builder.MakeTrial(exp, "space-0").Index(0).Seed(7).Param("opt", "adam").Param("depth", "2").Param("wd", "0.00001").
		Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.5"}).Obj()
	t1 := builder.MakeTrial(exp, "space-1").Index(1).Seed(7).Param("opt", "sgd").Param("depth", "4").Param("wd", "1e-1").
		Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.25"}).Obj()
	t2 := builder.MakeTrial(exp, "space-2").Index(2).Seed(8).Param("opt", "sgd").Param("depth", "2").Param("wd", "0.001").Obj()
	other := builder.MakeTrial(builder.MakeExperiment("other", testNS).Obj(), "other-0").Obj()
	s, _ := fixture{objs: []client.Object{exp, t2, t0, t1, other}}.serve(t)

	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/namespaces/ml/experiments/space/trials.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"objective": map[string]any{"metric": "val_loss", "goal": "Minimize"},
		"best":      "space-1",
		"parameters": []any{
			map[string]any{"name": "opt", "kind": "values", "values": []any{"adam", "sgd"}},
			map[string]any{"name": "depth", "kind": "int"},
			map[string]any{"name": "wd", "kind": "float", "scale": "Log"},
		},
		"fields": []any{"name", "index", "seed", "phase", "objective", "opt", "depth", "wd"},
		"trials": []any{
			[]any{"space-0", 0.0, 7.0, "Succeeded", 0.5, "adam", 2.0, 0.00001},
			[]any{"space-1", 1.0, 7.0, "Succeeded", 0.25, "sgd", 4.0, 0.1},
			[]any{"space-2", 2.0, 8.0, "Waiting", nil, "sgd", 2.0, 0.001},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trials.json (-want +got):\n%s", diff)
	}

	status, _ := get(t, s, "/namespaces/ml/experiments/missing/trials.json")
	if status != http.StatusNotFound {
		t.Errorf("missing Experiment: status %d, want 404", status)
	}
}

func TestTrialPage(t *testing.T) {
	exp := sweep()
	exp.Spec.Env = []crucible.EnvVar{{Name: "EPOCHS", Value: "3"}}
	tr := sweepTrials(exp)[9]
	tr.Annotations = map[string]string{crucible.NoteAnnotation: "promising: rerun with\nmore epochs"}
	tr.Spec.DatasetDigest = builder.DatasetDigest
	tr.Status.Artifacts = &crucible.TrialArtifacts{URI: "s3://bucket/ml/sweep/", Objects: ptr.To[int64](3), Bytes: ptr.To[int64](2048),
		ManifestDigest: "sha256:" + strings.Repeat("ef", 32)}
	tr.Status.Provenance = &crucible.TrialProvenance{Digest: "sha256:" + strings.Repeat("12", 32), URI: "s3://bucket/x.intoto.jsonl", KeyID: "key-1"}
	pod := builder.MakePod(tr, "sweep-09-abcde", builder.T0).Running().Obj()
	oldPod := builder.MakePod(tr, "sweep-09-older", builder.T0.Add(-1)).Obj()
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e1", Namespace: testNS},
		InvolvedObject: corev1.ObjectReference{Kind: "Trial", Name: tr.Name, UID: tr.UID},
		Type:           corev1.EventTypeNormal, Reason: "MetricsRecorded", Message: "val_loss 0.100", Count: 1,
		LastTimestamp: metav1.NewTime(builder.T0),
	}
	otherEvent := event.DeepCopy()
	otherEvent.Name, otherEvent.InvolvedObject.UID, otherEvent.Reason = "e2", "someone-else", "NotMine"

	s, _ := fixture{objs: []client.Object{exp, tr}, kube: []runtime.Object{pod, oldPod, event, otherEvent}}.serve(t)
	status, body := get(t, s, "/namespaces/ml/trials/sweep-09")
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, body)
	}
	for _, c := range []string{
		`<span id="trial-seed" class="num">1234</span>`,
		`<code id="trial-digest">sha256:cdcd`,
		`<code id="trial-image">` + builder.Image + `</code>`,
		`<code id="trial-dataset-digest">` + builder.DatasetDigest,
		`<tr data-pin="dataset"><th>dataset</th><td><code>cifar10 2024-05-01</code>`,
		`<tr data-pin="env.EPOCHS"><th>env.EPOCHS</th><td><code>3</code>`,
		`<tr data-pin="command"><th>command</th><td><code>[&#34;python&#34;,&#34;train.py&#34;]</code>`,
		`<tr data-metric="val_loss" class="objective"><th>val_loss</th><td class="num">0.100</td>`,
		`<tr data-metric="accuracy"><th>accuracy</th><td class="num">0.9</td>`,
		`<tr data-param="lr"><th>lr</th><td class="num">0.001</td>`,
		`<p id="trial-note" class="note-text">promising: rerun with` + "\n" + `more epochs</p>`,
		`<code id="trial-provenance-digest">sha256:1212`,
		`<code id="trial-provenance-key">key-1</code>`,
		`<code id="trial-manifest-digest">sha256:efef`,
		`2048 (2.0 KiB)`,
		`MetricsRecorded`,
		`Log of Pod <code>sweep-09-abcde</code>`,
		`<pre id="trial-logs" class="logs">fake logs</pre>`,
		`href="/namespaces/ml/experiments/sweep"`,
	} {
		if !strings.Contains(body, c) {
			t.Errorf("page lacks %q", c)
		}
	}
	if strings.Contains(body, "NotMine") {
		t.Error("page lists another object's event")
	}

	// A trial without a Pod (its Job deleted) whose Experiment is gone.
	lone := sweepTrials(exp)[3]
	s, _ = fixture{objs: []client.Object{lone}}.serve(t)
	status, body = get(t, s, "/namespaces/ml/trials/sweep-03")
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, body)
	}
	for _, c := range []string{`id="trial-logs-missing"`, `Experiment sweep does not exist`, `id="trial-reason">ExitCode<`, `exit code 1`} {
		if !strings.Contains(body, c) {
			t.Errorf("page of a lone trial lacks %q", c)
		}
	}
}

func TestTrialPageSecondaryForbidden(t *testing.T) {
	exp := sweep()
	tr := sweepTrials(exp)[0]
	kube := kubefake.NewClientset()
	kube.PrependReactor("list", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, forbidden("", "events", "")
	})
	kube.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, forbidden("", "pods", "")
	})
	c := builder.NewClientBuilder(exp, tr).Build()
	s, err := New(c, kube, Options{})
	if err != nil {
		t.Fatal(err)
	}
	status, body := get(t, s, "/namespaces/ml/trials/sweep-00")
	if status != http.StatusOK {
		t.Fatalf("status %d, want the page with notices", status)
	}
	for _, c := range []string{"list events in namespace ml", "list pods in namespace ml", "kubectl auth can-i list pods -n ml"} {
		if !strings.Contains(body, c) {
			t.Errorf("page lacks %q", c)
		}
	}
}

var compareRowRE = regexp.MustCompile(`<tr data-section="([^"]+)" data-field="([^"]+)" data-differs="(true|false)"`)

func TestComparePage(t *testing.T) {
	f := sweepFixture()
	other := builder.MakeExperiment("other", testNS).Values("lr", "0.1").Obj()
	other.Spec.Image = strings.TrimSuffix(other.Spec.Image, "f") + "0"
	f.objs = append(f.objs, other)
	s, _ := f.serve(t)
	tests := []struct {
		name     string
		query    string
		status   int
		rows     []string // section/field of every row, in order; nil: not checked
		contains []string
	}{
		{name: "differences only", query: "?trial=sweep-00&trial=sweep-01&diff=1", status: 200,
			rows: []string{"parameters/depth true", "metrics/val_loss true", "outcome/objective true"},
			contains: []string{
				`<a id="diff-only" href="/namespaces/ml/compare?trial=sweep-00&amp;trial=sweep-01" role="switch" aria-checked="true"`,
				`3 of `,
				`<th data-column="sweep-00"><a href="/namespaces/ml/trials/sweep-00">sweep-00</a></th>`,
				`class="differs"`,
			}},
		{name: "everything", query: "?trial=sweep-00&trial=sweep-01", status: 200,
			contains: []string{
				`<a id="diff-only" href="/namespaces/ml/compare?diff=1&amp;trial=sweep-00&amp;trial=sweep-01" role="switch" aria-checked="false"`,
				`data-section="pins" data-field="image" data-differs="false"`,
				`data-section="parameters" data-field="lr" data-differs="false"`,
				`data-section="parameters" data-field="depth" data-differs="true" class="differs"`,
			}},
		{name: "experiments", query: "?experiment=sweep&experiment=other&diff=1", status: 200,
			contains: []string{`data-field="image" data-differs="true"`, `Compare 2 experiments`}},
		{name: "nothing", query: "", status: 400},
		{name: "both kinds", query: "?trial=sweep-00&experiment=sweep", status: 400},
		{name: "a missing trial", query: "?trial=sweep-00&trial=nope", status: 404, contains: []string{"Trial ml/nope does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, s, "/namespaces/ml/compare"+tt.query)
			if status != tt.status {
				t.Fatalf("status %d, want %d:\n%s", status, tt.status, body)
			}
			if tt.rows != nil {
				var got []string
				for _, m := range compareRowRE.FindAllStringSubmatch(body, -1) {
					got = append(got, m[1]+"/"+m[2]+" "+m[3])
				}
				if diff := cmp.Diff(tt.rows, got); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("page lacks %q", c)
				}
			}
		})
	}
}

func TestErrorPages(t *testing.T) {
	f := sweepFixture()
	f.funcs = interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if key.Namespace == "secret" {
				if _, ok := obj.(*crucible.Trial); ok {
					return forbidden("crucible.dev", "trials", key.Name)
				}
				return forbidden("crucible.dev", "experiments", key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*crucible.TrialList); ok && (&client.ListOptions{}).ApplyOptions(opts).Namespace == "ml" {
				if _, isSweep := (&client.ListOptions{}).ApplyOptions(opts).LabelSelector.RequiresExactMatch(crucible.ExperimentLabel); isSweep {
					return forbidden("crucible.dev", "trials", "")
				}
			}
			return c.List(ctx, list, opts...)
		},
	}
	s, _ := f.serve(t)
	tests := []struct {
		path     string
		status   int
		contains []string
	}{
		{"/namespaces/ml/experiments/nope", 404, []string{"Experiment ml/nope does not exist"}},
		{"/namespaces/ml/trials/nope", 404, []string{"Trial ml/nope does not exist"}},
		{"/no/such/page", 404, []string{"There is no page at /no/such/page."}},
		{"/namespaces/secret/experiments/x", 403, []string{`id="missing-permission">get experiments.crucible.dev in namespace secret<`,
			"kubectl auth can-i get experiments.crucible.dev -n secret"}},
		{"/namespaces/secret/trials/x", 403, []string{"get trials.crucible.dev in namespace secret"}},
		{"/namespaces/secret/compare?trial=x&trial=y", 403, []string{"get trials.crucible.dev in namespace secret"}},
		// The Experiment is readable, its trials are not.
		{"/namespaces/ml/experiments/sweep", 403, []string{"list trials.crucible.dev in namespace ml"}},
		{"/namespaces/secret/experiments/x/events", 403, []string{`"permission":"get experiments.crucible.dev in namespace secret"`}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := get(t, s, tt.path)
			if status != tt.status {
				t.Fatalf("status %d, want %d:\n%s", status, tt.status, body)
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("page lacks %q:\n%s", c, body)
				}
			}
		})
	}
}

// TestEscaping puts markup everywhere a tenant writes a string the pages
// show: it must come out as text.
func TestEscaping(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	exp := sweep()
	exp.Annotations = map[string]string{crucible.NoteAnnotation: evil}
	exp.Spec.Objective.Metric = evil
	exp.Spec.Parameters[0].Values = []string{evil}
	exp.Spec.Env = []crucible.EnvVar{{Name: "X", Value: evil}}
	exp.Status.Conditions = []metav1.Condition{{Type: "Failed", Status: metav1.ConditionTrue, Reason: "X", Message: evil}}
	tr := sweepTrials(exp)[0]
	tr.Annotations = map[string]string{crucible.NoteAnnotation: evil}
	tr.Spec.Parameters[0].Value = evil
	tr.Status.Metrics = map[string]string{evil: evil}
	tr.Status.Message = evil
	tr2 := sweepTrials(exp)[1]
	tr2.Spec.Parameters[0].Value = `"><img src=x onerror=alert(1)>`
	s, _ := fixture{objs: []client.Object{exp, tr, tr2}}.serve(t)
	for _, path := range []string{
		"/namespaces/ml/experiments/sweep",
		"/namespaces/ml/trials/sweep-00",
		"/namespaces/ml/compare?trial=sweep-00&trial=sweep-01",
		"/namespaces/ml/compare?trial=" + evil,
		"/" + evil,
	} {
		t.Run(path, func(t *testing.T) {
			_, body := get(t, s, path)
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
				t.Errorf("markup came through unescaped:\n%s", body)
			}
			if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") && !strings.Contains(body, "&lt;img") {
				t.Errorf("the string is not on the page at all:\n%s", body)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	s, _ := fixture{}.serve(t)
	tests := []struct {
		path   string
		status int
		ctype  string
	}{
		{"/static/dashboard.js", 200, "text/javascript; charset=utf-8"},
		{"/static/dashboard.css", 200, "text/css; charset=utf-8"},
		{"/static/vendor/echarts.lock", 200, "text/plain; charset=utf-8"},
		{"/static/vendor/", 404, ""},
		{"/static/", 404, ""},
		{"/static/nope.js", 404, ""},
		{"/static/vendor", 404, ""},
	}
	if s.charts {
		tests = append(tests,
			struct {
				path   string
				status int
				ctype  string
			}{"/static/vendor/echarts.min.js?v=x", 200, "text/javascript; charset=utf-8"},
			struct {
				path   string
				status int
				ctype  string
			}{"/static/vendor/LICENSE", 200, "text/plain; charset=utf-8"})
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.ctype != "" && rec.Header().Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.ctype)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
		})
	}
}

// TestChartLibrary: without the chart library (a fresh clone before make
// dashboard-assets) the page says how to get it and loads no script of
// it; with it, it loads it.
func TestChartLibrary(t *testing.T) {
	files := fstest.MapFS{
		"dashboard.js":          {Data: []byte("// js")},
		"dashboard.css":         {Data: []byte("/* css */")},
		"vendor/echarts.lock":   {Data: []byte("version=0\n")},
		"vendor/echarts.min.js": {Data: []byte("var echarts = {};")},
	}
	for _, present := range []bool{false, true} {
		t.Run(fmt.Sprint("present=", present), func(t *testing.T) {
			fs := fstest.MapFS{}
			for k, v := range files {
				if k != chartLibrary || present {
					fs[k] = v
				}
			}
			f := sweepFixture()
			c := builder.NewClientBuilder(f.objs...).Build()
			s, err := newServer(c, kubefake.NewClientset(), Options{}, fs)
			if err != nil {
				t.Fatal(err)
			}
			_, body := get(t, s, "/namespaces/ml/experiments/sweep")
			notice := strings.Contains(body, `id="charts-missing"`) && strings.Contains(body, "Plots need the chart library: run make dashboard-assets")
			script := strings.Contains(body, `<script src="/static/vendor/echarts.min.js?v=`)
			if notice == present || script != present {
				t.Errorf("notice shown %v, library loaded %v; want %v, %v", notice, script, !present, present)
			}
			// One scatter per parameter, when they can be drawn.
			scatters := strings.Contains(body, `id="scatter-0" data-param="lr"`) && strings.Contains(body, `id="scatter-1" data-param="depth"`)
			if scatters != present {
				t.Errorf("scatter containers %v, want %v", scatters, present)
			}
			// The table works either way.
			if n := len(trialRows(body)); n != 12 {
				t.Errorf("%d rows, want 12", n)
			}
		})
	}
}

func TestAllowedHosts(t *testing.T) {
	s, _ := fixture{opts: Options{AllowedHosts: []string{"localhost", "127.0.0.1", "::1"}}}.serve(t)
	for host, want := range map[string]int{
		"localhost:8080": 200, "127.0.0.1:8080": 200, "[::1]:8080": 200, "127.0.0.1": 200,
		"evil.example:8080": 403, "evil.example": 403,
	} {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: status %d, want %d", host, rec.Code, want)
		}
	}
}

// TestListPages: lists go through the API server 500 at a time, following
// continue tokens.
func TestListPages(t *testing.T) {
	f := manyTrials(1200)
	var calls []string
	f.funcs = interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		o := (&client.ListOptions{}).ApplyOptions(opts)
		tl, ok := list.(*crucible.TrialList)
		if !ok {
			return c.List(ctx, list, opts...)
		}
		calls = append(calls, fmt.Sprintf("limit=%d continue=%q", o.Limit, o.Continue))
		all := &crucible.TrialList{}
		if err := c.List(ctx, all, client.InNamespace(o.Namespace), client.MatchingLabelsSelector{Selector: o.LabelSelector}); err != nil {
			return err
		}
		from := 0
		if o.Continue != "" {
			if _, err := fmt.Sscan(o.Continue, &from); err != nil {
				return err
			}
		}
		to := min(from+int(o.Limit), len(all.Items))
		tl.Items = all.Items[from:to]
		if to < len(all.Items) {
			tl.Continue = fmt.Sprint(to)
		}
		return nil
	}}
	s, _ := f.serve(t)
	status, body := get(t, s, "/namespaces/ml/experiments/big?sort=index&page=12")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	want := []string{`limit=500 continue=""`, `limit=500 continue="500"`, `limit=500 continue="1000"`}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("list calls (-want +got):\n%s", diff)
	}
	if rows := trialRows(body); len(rows) != 100 || rows[99] != "big-01199" {
		t.Errorf("last page: %d rows ending %v, want 100 ending big-01199", len(rows), rows[len(rows)-1:])
	}
}

// TestObjectiveOrder: the leaderboard's order is metrics.Better's.
func TestObjectiveOrder(t *testing.T) {
	values := []string{"0.5", "5e-1", "-3", "1e10", "", "NaN", "abc", "0", "-0", "2.5e-09"}
	for _, minimize := range []bool{true, false} {
		for _, a := range values {
			for _, b := range values {
				va, errA := metrics.Value(a)
				vb, errB := metrics.Value(b)
				got := objectiveValue{va, errA == nil}.compare(objectiveValue{vb, errB == nil}, minimize)
				if (got < 0) != metrics.Better(a, b, minimize) || (got > 0) != metrics.Better(b, a, minimize) {
					t.Errorf("minimize=%v: compare(%q, %q) = %d, metrics.Better says %v/%v", minimize, a, b, got,
						metrics.Better(a, b, minimize), metrics.Better(b, a, minimize))
				}
			}
		}
	}
}
