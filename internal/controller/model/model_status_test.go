package model

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/health"
)

var ignoreTransitionTime = cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")

func TestResolveAliases(t *testing.T) {
	v1 := makeVersion("resnet", 1).objective("0.31").ready("s3://b/p/ml/models/resnet/v1/", "sha256:"+sha('1')).Obj()
	v2 := makeVersion("resnet", 2).objective("0.25").Obj()
	v3 := makeVersion("resnet", 3).objective("0.22").failed(crucible.ReasonDigestMismatch).Obj()
	v4 := makeVersion("resnet", 4).ready("s3://b/p/ml/models/resnet/v4/", "sha256:"+sha('4')).deleting().Obj()
	versions := versionsByNumber([]crucible.ModelVersion{*v1, *v2, *v3, *v4})

	cases := []struct {
		name    string
		aliases map[string]int32
		want    map[string]crucible.ResolvedAlias
	}{
		{name: "no aliases", want: nil},
		{
			name:    "a Ready version: its URI, digest and objective",
			aliases: map[string]int32{"champion": 1},
			want: map[string]crucible.ResolvedAlias{"champion": {Version: 1, ModelVersion: "resnet-v1", Ready: true,
				URI: "s3://b/p/ml/models/resnet/v1/", ManifestDigest: "sha256:" + sha('1'), Objective: "0.31"}},
		},
		{
			name:    "a missing version: not ready, the name it would have",
			aliases: map[string]int32{"staging": 9},
			want:    map[string]crucible.ResolvedAlias{"staging": {Version: 9, ModelVersion: "resnet-v9"}},
		},
		{
			name:    "a version without a phase yet: its objective, no URI",
			aliases: map[string]int32{"staging": 2},
			want:    map[string]crucible.ResolvedAlias{"staging": {Version: 2, ModelVersion: "resnet-v2", Objective: "0.25"}},
		},
		{
			name:    "a Failed version: never the URI of a copy that failed its check",
			aliases: map[string]int32{"canary": 3},
			want:    map[string]crucible.ResolvedAlias{"canary": {Version: 3, ModelVersion: "resnet-v3", Objective: "0.22"}},
		},
		{
			name:    "a Ready version being deleted is not ready",
			aliases: map[string]int32{"old": 4},
			want:    map[string]crucible.ResolvedAlias{"old": {Version: 4, ModelVersion: "resnet-v4", Objective: "0.2"}},
		},
		{
			name:    "two aliases on one version",
			aliases: map[string]int32{"champion": 1, "stable": 1},
			want: map[string]crucible.ResolvedAlias{
				"champion": {Version: 1, ModelVersion: "resnet-v1", Ready: true, URI: "s3://b/p/ml/models/resnet/v1/", ManifestDigest: "sha256:" + sha('1'), Objective: "0.31"},
				"stable":   {Version: 1, ModelVersion: "resnet-v1", Ready: true, URI: "s3://b/p/ml/models/resnet/v1/", ManifestDigest: "sha256:" + sha('1'), Objective: "0.31"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := resolveAliases("resnet", tc.aliases, versions)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("resolveAliases (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetReadyCondition(t *testing.T) {
	ready := makeVersion("resnet", 1).ready("s3://b/v1/", "sha256:"+sha('1')).Obj()
	pending := makeVersion("resnet", 2).Obj()
	pending.Status.Phase = crucible.ModelVersionPending
	failed := makeVersion("resnet", 3).failed(crucible.ReasonDigestMismatch).Obj()
	fresh := makeVersion("resnet", 5).Obj()
	deleting := makeVersion("resnet", 4).ready("s3://b/v4/", "").deleting().Obj()
	versions := versionsByNumber([]crucible.ModelVersion{*ready, *pending, *failed, *deleting, *fresh})

	cases := []struct {
		name  string
		model *crucible.Model
		want  metav1.Condition
	}{
		{
			name:  "no aliases: True, saying so",
			model: makeModel("resnet").Obj(),
			want: metav1.Condition{Type: crucible.ModelReadyCondition, Status: metav1.ConditionTrue, Reason: crucible.ReasonAliasesResolved,
				Message: "the Model has no aliases", ObservedGeneration: 1},
		},
		{
			name:  "every alias on a Ready version",
			model: makeModel("resnet").alias("champion", 1).alias("stable", 1).generation(3).Obj(),
			want: metav1.Condition{Type: crucible.ModelReadyCondition, Status: metav1.ConditionTrue, Reason: crucible.ReasonAliasesResolved,
				Message: "every alias resolves to a Ready version: champion → v1, stable → v1", ObservedGeneration: 3},
		},
		{
			name:  "a missing version",
			model: makeModel("resnet").alias("champion", 1).alias("staging", 9).Obj(),
			want: metav1.Condition{Type: crucible.ModelReadyCondition, Status: metav1.ConditionFalse, Reason: crucible.ReasonAliasUnresolved,
				Message: `alias "staging" points at v9 (resnet-v9): no such version`, ObservedGeneration: 1},
		},
		{
			name: "each unresolved alias, sorted, with why",
			model: makeModel("resnet").alias("champion", 1).alias("staging", 2).alias("canary", 3).alias("old", 4).
				alias("next", 5).Obj(),
			want: metav1.Condition{Type: crucible.ModelReadyCondition, Status: metav1.ConditionFalse, Reason: crucible.ReasonAliasUnresolved,
				Message: `alias "canary" points at v3 (resnet-v3): the version is not Ready (phase Failed, reason DigestMismatch); ` +
					`alias "next" points at v5 (resnet-v5): the version is not Ready (no phase yet); ` +
					`alias "old" points at v4 (resnet-v4): the version is being deleted; ` +
					`alias "staging" points at v2 (resnet-v2): the version is not Ready (phase Pending)`,
				ObservedGeneration: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setReadyCondition(tc.model, versions, metav1.NewTime(t0))
			if len(tc.model.Status.Conditions) != 1 {
				t.Fatalf("conditions: got %d, want 1", len(tc.model.Status.Conditions))
			}
			if diff := cmp.Diff(tc.want, tc.model.Status.Conditions[0], ignoreTransitionTime); diff != "" {
				t.Errorf("Ready (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("the message is bounded", func(t *testing.T) {
		m := makeModel("resnet").Obj()
		for i := range 32 {
			m = (&modelWrapper{*m}).alias(fmt.Sprintf("alias-%02d-%s", i, strings.Repeat("x", 50)), int32(100+i)).Obj()
		}
		setReadyCondition(m, versions, metav1.NewTime(t0))
		if got := len(m.Status.Conditions[0].Message); got > maxMessageLength {
			t.Errorf("message: %d bytes, want at most %d", got, maxMessageLength)
		}
	})
}

func TestSetReconcilingAndStalled(t *testing.T) {
	ready := makeVersion("resnet", 1).ready("s3://b/v1/", "sha256:"+sha('1')).Obj()
	pending := makeVersion("resnet", 2).Obj()
	pending.Status.Phase = crucible.ModelVersionPending
	failed := makeVersion("resnet", 3).failed(crucible.ReasonDigestMismatch).Obj()
	deleting := makeVersion("resnet", 4).ready("s3://b/v4/", "").deleting().Obj()
	fresh := makeVersion("resnet", 5).Obj()
	versions := versionsByNumber([]crucible.ModelVersion{*ready, *pending, *failed, *deleting, *fresh})
	t1 := metav1.NewTime(t0.Add(time.Minute))
	cond := func(typ, reason, message string, at metav1.Time) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: message,
			ObservedGeneration: 1, LastTransitionTime: at}
	}
	const (
		onPending = `alias "staging" points at v2 (resnet-v2): the version is not Ready (phase Pending)`
		onFresh   = `alias "next" points at v5 (resnet-v5): the version is not Ready (no phase yet)`
		onFailed  = `alias "canary" points at v3 (resnet-v3): the version is not Ready (phase Failed, reason DigestMismatch)`
	)
	cases := []struct {
		name   string
		model  *crucible.Model
		before []metav1.Condition
		want   []metav1.Condition
	}{
		{name: "no aliases: neither", model: makeModel("resnet").Obj()},
		{name: "every alias resolves: neither", model: makeModel("resnet").alias("champion", 1).Obj()},
		{
			name:  "aliases on versions being copied, or not seen yet: Reconciling naming them",
			model: makeModel("resnet").alias("champion", 1).alias("staging", 2).alias("next", 5).Obj(),
			want:  []metav1.Condition{cond(crucible.ReconcilingCondition, crucible.ReasonVersionNotReady, onFresh+"; "+onPending, t1)},
		},
		{
			name:  "a Failed version: Stalled naming it alone, not the one being copied",
			model: makeModel("resnet").alias("staging", 2).alias("canary", 3).Obj(),
			before: []metav1.Condition{
				cond(crucible.ReconcilingCondition, crucible.ReasonVersionNotReady, onPending, metav1.NewTime(t0))},
			want: []metav1.Condition{cond(crucible.StalledCondition, crucible.ReasonAliasUnresolved, onFailed, t1)},
		},
		{
			name:  "no such version: Stalled",
			model: makeModel("resnet").alias("champion", 9).Obj(),
			want: []metav1.Condition{cond(crucible.StalledCondition, crucible.ReasonAliasUnresolved,
				`alias "champion" points at v9 (resnet-v9): no such version`, t1)},
		},
		{
			name:  "a version being deleted: Stalled",
			model: makeModel("resnet").alias("old", 4).Obj(),
			want: []metav1.Condition{cond(crucible.StalledCondition, crucible.ReasonAliasUnresolved,
				`alias "old" points at v4 (resnet-v4): the version is being deleted`, t1)},
		},
		{
			name:   "the alias moved back to a Ready version: Stalled goes",
			model:  makeModel("resnet").alias("canary", 1).Obj(),
			before: []metav1.Condition{cond(crucible.StalledCondition, crucible.ReasonAliasUnresolved, onFailed, metav1.NewTime(t0))},
		},
		{
			name:   "still copying: the transition time stays",
			model:  makeModel("resnet").alias("staging", 2).Obj(),
			before: []metav1.Condition{cond(crucible.ReconcilingCondition, crucible.ReasonVersionNotReady, onPending, metav1.NewTime(t0))},
			want:   []metav1.Condition{cond(crucible.ReconcilingCondition, crucible.ReasonVersionNotReady, onPending, metav1.NewTime(t0))},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.model.Status.Conditions = tc.before
			setReconcilingAndStalled(tc.model, versions, t1)
			if diff := cmp.Diff(tc.want, tc.model.Status.Conditions, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAliasMoves(t *testing.T) {
	at := func(v int32) crucible.ResolvedAlias {
		return crucible.ResolvedAlias{Version: v, ModelVersion: versionName("resnet", v)}
	}
	cases := []struct {
		name     string
		previous map[string]crucible.ResolvedAlias
		aliases  map[string]int32
		want     []crucible.AliasMove
	}{
		{name: "nothing before, nothing now"},
		{
			name:     "unchanged: no move",
			previous: map[string]crucible.ResolvedAlias{"champion": at(3)},
			aliases:  map[string]int32{"champion": 3},
		},
		{
			name:    "a new alias moves from 0",
			aliases: map[string]int32{"champion": 1},
			want:    []crucible.AliasMove{{Alias: "champion", From: 0, To: 1}},
		},
		{
			name:     "a rollback",
			previous: map[string]crucible.ResolvedAlias{"champion": at(3)},
			aliases:  map[string]int32{"champion": 2},
			want:     []crucible.AliasMove{{Alias: "champion", From: 3, To: 2}},
		},
		{
			name:     "a removed alias moves to 0",
			previous: map[string]crucible.ResolvedAlias{"champion": at(3), "staging": at(4)},
			aliases:  map[string]int32{"champion": 3},
			want:     []crucible.AliasMove{{Alias: "staging", From: 4, To: 0}},
		},
		{
			name:     "several at once, sorted by alias",
			previous: map[string]crucible.ResolvedAlias{"staging": at(4), "old": at(1), "champion": at(3)},
			aliases:  map[string]int32{"staging": 5, "champion": 3, "canary": 5},
			want: []crucible.AliasMove{
				{Alias: "canary", To: 5},
				{Alias: "old", From: 1},
				{Alias: "staging", From: 4, To: 5},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := aliasMoves(tc.previous, tc.aliases)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("aliasMoves (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendHistory(t *testing.T) {
	earlier, now := metav1.NewTime(t0.Add(-time.Hour)), metav1.NewTime(t0)
	move := func(alias string, from, to int32, at metav1.Time) crucible.AliasMove {
		return crucible.AliasMove{Alias: alias, From: from, To: to, Manager: "kubectl", Time: at}
	}
	// full is a history of limit moves: champion 1→2, 2→3, ..., limit→limit+1.
	full := func(limit int) []crucible.AliasMove {
		var h []crucible.AliasMove
		for i := range limit {
			h = append(h, move("champion", int32(i+1), int32(i+2), earlier))
		}
		return h
	}
	cases := []struct {
		name    string
		history []crucible.AliasMove
		moves   []crucible.AliasMove
		limit   int
		want    []crucible.AliasMove
	}{
		{name: "no moves, no history", limit: 3},
		{
			name:    "no moves: unchanged",
			history: []crucible.AliasMove{move("champion", 0, 1, earlier)},
			limit:   3,
			want:    []crucible.AliasMove{move("champion", 0, 1, earlier)},
		},
		{
			name:    "appended after, stamped now",
			history: []crucible.AliasMove{move("champion", 0, 1, earlier)},
			moves:   []crucible.AliasMove{{Alias: "champion", From: 1, To: 2, Manager: "argocd-controller"}},
			limit:   3,
			want: []crucible.AliasMove{move("champion", 0, 1, earlier),
				{Alias: "champion", From: 1, To: 2, Manager: "argocd-controller", Time: now}},
		},
		{
			name:    "full: the oldest dropped",
			history: full(3),
			moves:   []crucible.AliasMove{{Alias: "champion", From: 4, To: 1, Manager: "kubectl"}},
			limit:   3,
			want:    []crucible.AliasMove{move("champion", 2, 3, earlier), move("champion", 3, 4, earlier), move("champion", 4, 1, now)},
		},
		{
			name:  "more moves than the limit: the last ones",
			moves: []crucible.AliasMove{{Alias: "a", To: 1}, {Alias: "b", To: 1}, {Alias: "c", To: 1}},
			limit: 2,
			want:  []crucible.AliasMove{{Alias: "b", To: 1, Time: now}, {Alias: "c", To: 1, Time: now}},
		},
		{
			name:    "at the API's limit",
			history: full(crucible.MaxAliasHistory),
			moves:   []crucible.AliasMove{{Alias: "champion", From: 51, To: 1, Manager: "kubectl"}},
			limit:   crucible.MaxAliasHistory,
			want:    append(full(crucible.MaxAliasHistory)[1:], move("champion", 51, 1, now)),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]crucible.AliasMove(nil), tc.history...)
			got := appendHistory(tc.history, tc.moves, now, tc.limit)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("appendHistory (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.history); diff != "" {
				t.Errorf("appendHistory changed its argument (-before +after):\n%s", diff)
			}
		})
	}
}

func TestAliasManager(t *testing.T) {
	update, apply := metav1.ManagedFieldsOperationUpdate, metav1.ManagedFieldsOperationApply
	created := t0.Add(-time.Hour)
	cases := []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		alias   string
		want    string
	}{
		{name: "no managedFields", alias: "champion", want: ""},
		{
			name: "kubectl client-side apply (an Update) owns it",
			entries: []metav1.ManagedFieldsEntry{
				managed("kubectl-client-side-apply", update, created, aliasFields("champion", "staging")),
				statusManaged(t0),
			},
			alias: "champion",
			want:  "kubectl-client-side-apply",
		},
		{
			name: "moved by a server-side apply: the applier owns the key, the creator the rest",
			entries: []metav1.ManagedFieldsEntry{
				managed("kubectl-create", update, created, aliasFields("staging")),
				managed("argocd-controller", apply, t0, fields(map[string]any{
					"f:spec": map[string]any{"f:aliases": map[string]any{"f:champion": map[string]any{}}}})),
				statusManaged(t0),
			},
			alias: "champion",
			want:  "argocd-controller",
		},
		{
			name: "owned by two appliers of the same value: the most recent",
			entries: []metav1.ManagedFieldsEntry{
				managed("flux", apply, t0, aliasFields("champion")),
				managed("argocd-controller", apply, created, aliasFields("champion")),
			},
			alias: "champion",
			want:  "flux",
		},
		{
			name: "an entry without a time loses to one with",
			entries: []metav1.ManagedFieldsEntry{
				{Manager: "old", Operation: update, FieldsType: "FieldsV1", FieldsV1: aliasFields("champion")},
				managed("kubectl-edit", update, created, aliasFields("champion")),
			},
			alias: "champion",
			want:  "kubectl-edit",
		},
		{
			name: "a removed alias: owned by nobody",
			entries: []metav1.ManagedFieldsEntry{
				managed("kubectl-client-side-apply", update, t0, aliasFields("staging")),
			},
			alias: "champion",
			want:  "",
		},
		{
			name: "an alias named like another field is not that field",
			entries: []metav1.ManagedFieldsEntry{
				managed("kubectl", update, t0, fields(map[string]any{"f:spec": map[string]any{"f:description": map[string]any{}}})),
				managed("labeller", update, t0, fields(map[string]any{"f:metadata": map[string]any{"f:labels": map[string]any{"f:champion": map[string]any{}}}})),
			},
			alias: "description",
			want:  "",
		},
		{
			name: "the status subresource's entries are not the spec's",
			entries: []metav1.ManagedFieldsEntry{
				func() metav1.ManagedFieldsEntry {
					e := managed("crucible", update, t0, aliasFields("champion"))
					e.Subresource = "status"
					return e
				}(),
			},
			alias: "champion",
			want:  "",
		},
		{
			name: "malformed fieldsV1 is skipped",
			entries: []metav1.ManagedFieldsEntry{
				managed("broken", update, t0, metav1.NewFieldsV1(`{"f:spec":`)),
				managed("kubectl", update, created, aliasFields("champion")),
			},
			alias: "champion",
			want:  "kubectl",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := aliasManager(tc.entries, tc.alias); got != tc.want {
				t.Errorf("aliasManager(%q) = %q, want %q", tc.alias, got, tc.want)
			}
		})
	}
}

func TestDescribeMove(t *testing.T) {
	cases := []struct {
		move crucible.AliasMove
		want string
	}{
		{crucible.AliasMove{Alias: "champion", From: 3, To: 2, Manager: "kubectl-client-side-apply"}, "champion: v3 → v2 (by kubectl-client-side-apply)"},
		{crucible.AliasMove{Alias: "staging", To: 1, Manager: "argocd-controller"}, "staging: none → v1 (by argocd-controller)"},
		{crucible.AliasMove{Alias: "old", From: 4}, "old: v4 → none (by an unknown manager)"},
	}
	for _, tc := range cases {
		if got := describeMove(tc.move); got != tc.want {
			t.Errorf("describeMove(%+v) = %q, want %q", tc.move, got, tc.want)
		}
	}
}

func TestSetStatus(t *testing.T) {
	m := makeModel("resnet").alias("champion", 2).generation(4).
		resolved("champion", crucible.ResolvedAlias{Version: 1, ModelVersion: "resnet-v1", Ready: true}).Obj()
	versions := []crucible.ModelVersion{
		*makeVersion("resnet", 1).ready("s3://b/v1/", "sha256:"+sha('1')).Obj(),
		*makeVersion("resnet", 3).Obj(),
		*makeVersion("resnet", 2).objective("0.19").ready("s3://b/v2/", "sha256:"+sha('2')).Obj(),
	}
	moves := []crucible.AliasMove{{Alias: "champion", From: 1, To: 2, Manager: "argocd-controller"}}
	setStatus(m, versions, moves, metav1.NewTime(t0))

	want := crucible.ModelStatus{
		ObservedGeneration: 4,
		Conditions: []metav1.Condition{{Type: crucible.ModelReadyCondition, Status: metav1.ConditionTrue,
			Reason: crucible.ReasonAliasesResolved, Message: "every alias resolves to a Ready version: champion → v2", ObservedGeneration: 4}},
		LatestVersion: 3,
		Versions:      3,
		Aliases: map[string]crucible.ResolvedAlias{"champion": {Version: 2, ModelVersion: "resnet-v2", Ready: true,
			URI: "s3://b/v2/", ManifestDigest: "sha256:" + sha('2'), Objective: "0.19"}},
		History: []crucible.AliasMove{{Alias: "champion", From: 1, To: 2, Manager: "argocd-controller", Time: metav1.NewTime(t0)}},
	}
	if diff := cmp.Diff(want, m.Status, ignoreTransitionTime); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

// TestLatestVersionIsAHighWaterMark: deleting the highest version keeps its
// number, so promotion does not give it again.
func TestLatestVersionIsAHighWaterMark(t *testing.T) {
	m := makeModel("resnet").Obj()
	setStatus(m, []crucible.ModelVersion{*makeVersion("resnet", 1).Obj(), *makeVersion("resnet", 3).Obj()}, nil, metav1.NewTime(t0))
	if m.Status.LatestVersion != 3 || m.Status.Versions != 2 {
		t.Fatalf("latest %d, versions %d; want 3 and 2", m.Status.LatestVersion, m.Status.Versions)
	}
	setStatus(m, []crucible.ModelVersion{*makeVersion("resnet", 1).Obj()}, nil, metav1.NewTime(t0))
	if m.Status.LatestVersion != 3 || m.Status.Versions != 1 {
		t.Errorf("after v3 was deleted: latest %d, versions %d; want 3 and 1", m.Status.LatestVersion, m.Status.Versions)
	}
}

// update rewrites the fixtures of internal/health from what the status
// functions compute now:
//
//	go test ./internal/controller/model/ -run TestHealthFixtures -update
var update = flag.Bool("update", false, "rewrite internal/health/testdata/model")

// TestHealthFixtures computes a Model's status with its aliases on
// versions in every phase, as a pass of the reconciler does, and checks it
// against the fixtures that internal/health reads with kstatus and the
// Argo CD health check.
func TestHealthFixtures(t *testing.T) {
	now := metav1.NewTime(t0)
	v1 := *makeVersion("resnet", 1).objective("0.31").ready("s3://runs/sweeps/ml/models/resnet/v1/", "sha256:"+sha('1')).Obj()
	v2 := *makeVersion("resnet", 2).objective("0.27").ready("s3://runs/sweeps/ml/models/resnet/v2/", "sha256:"+sha('2')).Obj()
	copying := *makeVersion("resnet", 3).objective("0.25").Obj()
	copying.Status.Phase = crucible.ModelVersionPending
	copying.Status.Conditions = []metav1.Condition{{Type: crucible.ModelVersionReadyCondition, Status: metav1.ConditionFalse,
		Reason: crucible.ReasonCopying, LastTransitionTime: now}}
	failed := *makeVersion("resnet", 3).objective("0.25").failed(crucible.ReasonDigestMismatch).Obj()
	// model is resnet with aliases, its status computed from versions as a
	// pass does, the moves made by an Argo CD sync.
	model := func(aliases map[string]int32, versions ...crucible.ModelVersion) *crucible.Model {
		w := makeModel("resnet")
		w.CreationTimestamp = metav1.NewTime(t0.Add(-time.Hour))
		w.Spec.Description = "ResNet-50 on CIFAR-10"
		for alias, n := range aliases {
			w.alias(alias, n)
		}
		m := w.Obj()
		moves := aliasMoves(nil, m.Spec.Aliases)
		for i := range moves {
			moves[i].Manager = "argocd-controller"
		}
		setStatus(m, versions, moves, now)
		return m
	}

	fixtures := map[string]*crucible.Model{}
	fixtures["created"] = makeModel("resnet").alias("champion", 2).Obj()
	fixtures["no-aliases"] = model(nil, v1)
	fixtures["ready"] = model(map[string]int32{"champion": 2, "previous": 1}, v1, v2)
	// champion moved to v3 in git; the operator has not seen it yet.
	moved := fixtures["ready"].DeepCopy()
	moved.Generation = 2
	moved.Spec.Aliases["champion"] = 3
	fixtures["alias-moved-not-observed"] = moved
	fixtures["alias-on-copying-version"] = model(map[string]int32{"champion": 3, "previous": 2}, v1, v2, copying)
	fixtures["alias-on-failed-version"] = model(map[string]int32{"champion": 3, "previous": 2}, v1, v2, failed)
	fixtures["alias-on-missing-version"] = model(map[string]int32{"champion": 4, "previous": 2}, v1, v2)

	for name, m := range fixtures {
		if err := health.Fixture(m, name, *update); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
