package retention

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

func TestNext(t *testing.T) {
	ended := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// trials holds, by index: a 0.3, b failed, c 0.1, d 0.2, e active.
	trials := []Candidate{
		succeeded("a", 0, "0.3"),
		failed("b", 1),
		succeeded("c", 2, "0.1"),
		succeeded("d", 3, "0.2"),
		active("e", 4),
	}
	artifacts := func(keepBest *int32, failed crucible.FailedPolicy, ttl int32) crucible.ArtifactRetention {
		return crucible.ArtifactRetention{KeepBest: keepBest, Failed: failed, TTLSecondsAfterFinished: ttl}
	}
	spec := func(trials crucible.TrialRetention, artifacts crucible.ArtifactRetention) *crucible.RetentionSpec {
		return &crucible.RetentionSpec{Trials: trials, Artifacts: artifacts}
	}
	keepBest1 := crucible.TrialRetention{KeepBest: ptr.To[int32](1)}
	cases := []struct {
		name string
		in   Input
		want Plan
	}{
		{
			name: "no policy",
			in:   Input{S3: true, Ended: ended, Now: ended, Candidates: trials},
			want: Plan{Action: Nothing},
		},
		{
			name: "a policy that keeps everything",
			in: Input{Policy: spec(crucible.TrialRetention{Failed: crucible.FailedKeep}, artifacts(nil, crucible.FailedKeep, 0)),
				S3: true, Ended: ended, Now: ended, Candidates: trials},
			want: Plan{Action: Nothing},
		},
		{
			name: "an artifacts policy without an s3 store collects nothing",
			in:   Input{Policy: spec(crucible.TrialRetention{}, artifacts(ptr.To[int32](1), "", 0)), Ended: ended, Now: ended, Candidates: trials},
			want: Plan{Action: Nothing},
		},
		{
			name: "artifacts wait for their TTL",
			in: Input{Policy: spec(crucible.TrialRetention{}, artifacts(ptr.To[int32](1), "", 60)), S3: true,
				Ended: ended, Now: ended.Add(59 * time.Second), Candidates: trials},
			want: Plan{Action: Wait, Due: ended.Add(time.Minute)},
		},
		{
			name: "artifacts first, once the TTL passed: every one removed is counted",
			in: Input{Policy: spec(keepBest1, artifacts(ptr.To[int32](1), crucible.FailedDelete, 60)), S3: true,
				Ended: ended, Now: ended.Add(time.Minute), Candidates: trials, Minimize: true},
			want: Plan{Action: DeleteArtifacts, Remove: []string{"a", "b", "d"}, Count: []string{"a", "b", "d"}},
		},
		{
			name: "artifacts kept: the step only records the policy, then the Trials",
			in: Input{Policy: spec(keepBest1, artifacts(nil, crucible.FailedKeep, 0)), S3: true,
				Ended: ended, Now: ended, Candidates: trials, Minimize: true},
			want: Plan{Action: DeleteArtifacts, Remove: []string{}, Count: []string{}},
		},
		{
			name: "no s3 store: the artifacts step records, without waiting for the TTL",
			in: Input{Policy: spec(keepBest1, artifacts(ptr.To[int32](0), "", 3600)),
				Ended: ended, Now: ended, Candidates: trials, Minimize: true},
			want: Plan{Action: DeleteArtifacts, Remove: []string{}, Count: []string{}},
		},
		{
			name: "artifacts applied: the Trials are counted",
			in: Input{Policy: spec(keepBest1, artifacts(ptr.To[int32](2), "", 0)),
				Applied: spec(crucible.TrialRetention{}, artifacts(ptr.To[int32](2), "", 0)), S3: true,
				Ended: ended, Now: ended, Candidates: trials, Minimize: true},
			want: Plan{Action: CountTrials, Remove: []string{"a", "d"}, Count: []string{"a", "d"}},
		},
		{
			name: "both applied: the Trials are deleted, nothing more is counted",
			in: Input{Policy: spec(keepBest1, artifacts(ptr.To[int32](2), "", 0)),
				Applied: spec(keepBest1, artifacts(ptr.To[int32](2), "", 0)), S3: true,
				Ended: ended, Now: ended, Candidates: trials, Minimize: true},
			want: Plan{Action: DeleteTrials, Remove: []string{"a", "d"}, Count: []string{}},
		},
		{
			name: "a changed TTL alone is the same selection: nothing is deleted again",
			in: Input{Policy: spec(keepBest1, artifacts(ptr.To[int32](2), "", 0)),
				Applied: spec(keepBest1, artifacts(ptr.To[int32](2), crucible.FailedKeep, 3600)), S3: true,
				Ended: ended, Now: ended, Candidates: trials, Minimize: true},
			want: Plan{Action: DeleteTrials, Remove: []string{"a", "d"}, Count: []string{}},
		},
		{
			name: "a narrower artifacts policy counts only what it adds",
			in: Input{Policy: spec(keepBest1, artifacts(ptr.To[int32](1), "", 0)),
				Applied: spec(keepBest1, artifacts(ptr.To[int32](2), "", 0)), S3: true,
				Ended: ended, Now: ended, Candidates: trials, Minimize: true},
			want: Plan{Action: DeleteArtifacts, Remove: []string{"a", "d"}, Count: []string{"d"}},
		},
		{
			name: "a narrower Trials policy counts only what it adds, on the Trials left",
			in: Input{Policy: spec(crucible.TrialRetention{KeepBest: ptr.To[int32](1), Failed: crucible.FailedDelete}, artifacts(nil, "", 0)),
				Applied: spec(keepBest1, artifacts(nil, "", 0)), S3: true,
				Ended: ended, Now: ended, Candidates: []Candidate{failed("b", 1), succeeded("c", 2, "0.1"), active("e", 4)}, Minimize: true},
			want: Plan{Action: CountTrials, Remove: []string{"b"}, Count: []string{"b"}},
		},
		{
			name: "maximize keeps the highest",
			in: Input{Policy: spec(keepBest1, artifacts(ptr.To[int32](1), "", 0)), S3: true,
				Ended: ended, Now: ended, Candidates: trials},
			want: Plan{Action: DeleteArtifacts, Remove: []string{"c", "d"}, Count: []string{"c", "d"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Next(tc.in)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Next (-want +got):\n%s", diff)
			}
			if got.Action == DeleteArtifacts || got.Action == CountTrials || got.Action == DeleteTrials {
				if got.Remove == nil || got.Count == nil {
					t.Errorf("Next returned nil Remove or Count for %s; want empty lists", got.Action)
				}
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	trial := func(name string, index int64, phase crucible.TrialPhase, objective string) crucible.Trial {
		return crucible.Trial{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: crucible.TrialSpec{Index: index},
			Status: crucible.TrialStatus{Phase: phase, Objective: objective}}
	}
	got := Candidates([]crucible.Trial{
		trial("a", 0, crucible.TrialSucceeded, "0.1"),
		trial("b", 1, crucible.TrialFailed, ""),
		trial("c", 2, crucible.TrialRunning, ""),
		trial("d", 3, "", ""),
	})
	want := []Candidate{succeeded("a", 0, "0.1"), failed("b", 1), active("c", 2), active("d", 3)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Candidates (-want +got):\n%s", diff)
	}
}
