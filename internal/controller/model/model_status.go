package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// maxMessageLength bounds the Ready condition's message: 32 aliases that
// each fail to resolve fit in it with their reasons.
const maxMessageLength = 4096

// versionName is the name of version v of model: "<model>-v<N>", at most
// 50 + 2 + 10 characters (crucible.MaxModelNameLength).
func versionName(model string, v int32) string {
	return fmt.Sprintf("%s-v%d", model, v)
}

// versionsByNumber keys a Model's versions by their version number.
func versionsByNumber(versions []crucible.ModelVersion) map[int32]*crucible.ModelVersion {
	byNumber := make(map[int32]*crucible.ModelVersion, len(versions))
	for i := range versions {
		byNumber[versions[i].Spec.Version] = &versions[i]
	}
	return byNumber
}

// setStatus recomputes a Model's status from its versions and the alias
// moves of this pass (aliasMoves, with their managers filled in): counts,
// resolved aliases, the Ready condition and the history, at the Model's
// generation. It is the only place status is computed; it is called only
// once every input was read without error.
func setStatus(m *crucible.Model, versions []crucible.ModelVersion, moves []crucible.AliasMove, now metav1.Time) {
	byNumber := versionsByNumber(versions)
	m.Status.ObservedGeneration = m.Generation
	setCounts(&m.Status, versions)
	m.Status.Aliases = resolveAliases(m.Name, m.Spec.Aliases, byNumber)
	setReadyCondition(m, byNumber, now)
	setReconcilingAndStalled(m, byNumber, now)
	m.Status.History = appendHistory(m.Status.History, moves, now, crucible.MaxAliasHistory)
}

// setCounts records how many versions the Model has and the highest
// version number it has had: a high-water mark, kept when the highest
// version is deleted, so that promotion never gives a number twice (an
// alias history naming v3 means one version). A version being deleted
// counts until it is gone.
func setCounts(status *crucible.ModelStatus, versions []crucible.ModelVersion) {
	status.Versions = int32(len(versions))
	for i := range versions {
		status.LatestVersion = max(status.LatestVersion, versions[i].Spec.Version)
	}
}

// resolveAliases resolves every alias of spec to the version it names. An
// alias whose version does not exist resolves with ready false and the
// name the version would have. uri and manifestDigest are set only for a
// Ready version: a serving system that reads .status.aliases.<alias>.uri
// never gets the artifacts of a copy that failed its digest check.
func resolveAliases(model string, aliases map[string]int32, versions map[int32]*crucible.ModelVersion) map[string]crucible.ResolvedAlias {
	if len(aliases) == 0 {
		return nil
	}
	resolved := make(map[string]crucible.ResolvedAlias, len(aliases))
	for alias, n := range aliases {
		r := crucible.ResolvedAlias{Version: n, ModelVersion: versionName(model, n)}
		if v := versions[n]; v != nil {
			r.Objective = v.Spec.Objective.Value
			if versionProblem(v) == "" {
				r.Ready = true
				if a := v.Status.Artifacts; a != nil {
					r.URI, r.ManifestDigest = a.URI, a.ManifestDigest
				}
			}
		}
		resolved[alias] = r
	}
	return resolved
}

// versionProblem says why an existing version is not one an alias may
// resolve to; empty when it is Ready.
func versionProblem(v *crucible.ModelVersion) string {
	switch {
	case !v.DeletionTimestamp.IsZero():
		return "the version is being deleted"
	case v.Status.Phase == crucible.ModelVersionReady:
		return ""
	case v.Status.Phase == "":
		return "the version is not Ready (no phase yet)"
	}
	msg := fmt.Sprintf("the version is not Ready (phase %s", v.Status.Phase)
	if reason := readyReason(v); reason != "" {
		msg += ", reason " + reason
	}
	return msg + ")"
}

// readyReason is the reason of a version's Ready condition; empty without
// one.
func readyReason(v *crucible.ModelVersion) string {
	if c := meta.FindStatusCondition(v.Status.Conditions, crucible.ModelVersionReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

// aliasProblem is why an alias does not resolve.
type aliasProblem struct {
	// message names the alias, its version and why.
	message string
	// stuck is true when the version will not be Ready until someone acts:
	// there is no such version, it is being deleted, or it Failed; false
	// while its copy is under way.
	stuck bool
}

// aliasStates describes every alias of m, by alias: how each that resolves
// does ("champion → v3"), and why each that does not resolve does not.
func aliasStates(m *crucible.Model, versions map[int32]*crucible.ModelVersion) (resolved []string, problems []aliasProblem) {
	for _, alias := range slices.Sorted(maps.Keys(m.Spec.Aliases)) {
		n := m.Spec.Aliases[alias]
		why, stuck := "no such version", true
		if v := versions[n]; v != nil {
			why = versionProblem(v)
			stuck = !v.DeletionTimestamp.IsZero() || v.Status.Phase == crucible.ModelVersionFailed
		}
		if why == "" {
			resolved = append(resolved, fmt.Sprintf("%s → v%d", alias, n))
			continue
		}
		problems = append(problems, aliasProblem{
			message: fmt.Sprintf("alias %q points at v%d (%s): %s", alias, n, versionName(m.Name, n), why),
			stuck:   stuck,
		})
	}
	return resolved, problems
}

// setReadyCondition sets Ready: True when every alias resolves to a Ready
// version, else False naming each alias that does not and why.
func setReadyCondition(m *crucible.Model, versions map[int32]*crucible.ModelVersion, now metav1.Time) {
	cond := metav1.Condition{
		Type:               crucible.ModelReadyCondition,
		Status:             metav1.ConditionTrue,
		Reason:             crucible.ReasonAliasesResolved,
		ObservedGeneration: m.Generation,
		LastTransitionTime: now,
	}
	resolved, problems := aliasStates(m, versions)
	switch {
	case len(problems) > 0:
		cond.Status = metav1.ConditionFalse
		cond.Reason = crucible.ReasonAliasUnresolved
		cond.Message = joinProblems(problems, func(aliasProblem) bool { return true })
	case len(m.Spec.Aliases) == 0:
		cond.Message = "the Model has no aliases"
	default:
		cond.Message = "every alias resolves to a Ready version: " + strings.Join(resolved, ", ")
	}
	cond.Message = truncate(cond.Message)
	meta.SetStatusCondition(&m.Status.Conditions, cond)
}

// setReconcilingAndStalled sets the conditions kstatus reads: Stalled
// (ReasonAliasUnresolved) while an alias names a version that will not be
// Ready until someone acts, naming those aliases; else Reconciling
// (ReasonVersionNotReady) while an alias names a version whose copy is
// under way; neither when every alias resolves. A Model whose alias moved
// in git to a version that was never promoted is Failed for kstatus and
// Degraded for Argo CD, not waited for.
func setReconcilingAndStalled(m *crucible.Model, versions map[int32]*crucible.ModelVersion, now metav1.Time) {
	conds := &m.Status.Conditions
	set := func(t, reason, message string) {
		meta.SetStatusCondition(conds, metav1.Condition{
			Type:               t,
			Status:             metav1.ConditionTrue,
			Reason:             reason,
			Message:            truncate(message),
			ObservedGeneration: m.Generation,
			LastTransitionTime: now,
		})
	}
	_, problems := aliasStates(m, versions)
	stuck := func(p aliasProblem) bool { return p.stuck }
	switch {
	case slices.ContainsFunc(problems, stuck):
		meta.RemoveStatusCondition(conds, crucible.ReconcilingCondition)
		set(crucible.StalledCondition, crucible.ReasonAliasUnresolved, joinProblems(problems, stuck))
	case len(problems) > 0:
		meta.RemoveStatusCondition(conds, crucible.StalledCondition)
		set(crucible.ReconcilingCondition, crucible.ReasonVersionNotReady, joinProblems(problems, func(aliasProblem) bool { return true }))
	default:
		meta.RemoveStatusCondition(conds, crucible.ReconcilingCondition)
		meta.RemoveStatusCondition(conds, crucible.StalledCondition)
	}
}

// joinProblems joins the messages of the problems keep keeps.
func joinProblems(problems []aliasProblem, keep func(aliasProblem) bool) string {
	var msgs []string
	for _, p := range problems {
		if keep(p) {
			msgs = append(msgs, p.message)
		}
	}
	return strings.Join(msgs, "; ")
}

// aliasMoves lists the aliases whose version in spec differs from the one
// the previous status resolved, sorted by alias: a new alias moves from 0,
// a removed one to 0. Manager and Time are left for the caller.
func aliasMoves(previous map[string]crucible.ResolvedAlias, aliases map[string]int32) []crucible.AliasMove {
	var moves []crucible.AliasMove
	for alias, to := range aliases {
		if was, ok := previous[alias]; !ok || was.Version != to {
			moves = append(moves, crucible.AliasMove{Alias: alias, From: previous[alias].Version, To: to})
		}
	}
	for alias, was := range previous {
		if _, ok := aliases[alias]; !ok {
			moves = append(moves, crucible.AliasMove{Alias: alias, From: was.Version})
		}
	}
	slices.SortFunc(moves, func(a, b crucible.AliasMove) int { return strings.Compare(a.Alias, b.Alias) })
	return moves
}

// appendHistory appends moves, stamped now, to history, oldest first, and
// keeps the newest limit entries. It returns a new slice: history is not
// changed.
func appendHistory(history, moves []crucible.AliasMove, now metav1.Time, limit int) []crucible.AliasMove {
	if len(moves) == 0 {
		return history
	}
	out := slices.Clone(history)
	for _, mv := range moves {
		mv.Time = now
		out = append(out, mv)
	}
	if len(out) > limit {
		out = slices.Clone(out[len(out)-limit:])
	}
	return out
}

// aliasManager returns the field manager that owns spec.aliases[alias] in
// managedFields, as the API server records it: the entry whose fieldsV1
// holds f:spec → f:aliases → f:<alias>. When several own it (two appliers
// of the same value) the most recent by time wins, the later entry on a
// tie. Empty when none does: a removed alias is owned by nobody.
func aliasManager(entries []metav1.ManagedFieldsEntry, alias string) string {
	var owner *metav1.ManagedFieldsEntry
	for i := range entries {
		e := &entries[i]
		if e.Subresource != "" || e.FieldsType != "FieldsV1" || e.FieldsV1 == nil || !ownsAlias(e.FieldsV1.GetRawBytes(), alias) {
			continue
		}
		if owner == nil || e.Time != nil && (owner.Time == nil || !e.Time.Before(owner.Time)) {
			owner = e
		}
	}
	if owner == nil {
		return ""
	}
	return owner.Manager
}

// ownsAlias says whether a FieldsV1 set holds spec.aliases[alias].
func ownsAlias(raw []byte, alias string) bool {
	var set map[string]json.RawMessage
	for _, key := range []string{"f:spec", "f:aliases"} {
		if json.Unmarshal(raw, &set) != nil {
			return false
		}
		var ok bool
		if raw, ok = set[key]; !ok {
			return false
		}
		set = nil
	}
	if json.Unmarshal(raw, &set) != nil {
		return false
	}
	_, ok := set["f:"+alias]
	return ok
}

// describeMove is how a move reads in an event:
// "champion: v3 → v2 (by kubectl-client-side-apply)".
func describeMove(mv crucible.AliasMove) string {
	version := func(n int32) string {
		if n == 0 {
			return "none"
		}
		return fmt.Sprintf("v%d", n)
	}
	by := mv.Manager
	if by == "" {
		by = "an unknown manager"
	}
	return fmt.Sprintf("%s: %s → %s (by %s)", mv.Alias, version(mv.From), version(mv.To), by)
}

func truncate(s string) string {
	if len(s) <= maxMessageLength {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessageLength-3], "") + "..."
}
