package artifacts

import (
	"strings"
	"testing"
)

func TestPrefixes(t *testing.T) {
	cases := []struct {
		name           string
		prefix         string
		wantExperiment string
		wantTrial      string
	}{
		{name: "empty prefix", prefix: "", wantExperiment: "ns/exp/e-uid/", wantTrial: "ns/exp/e-uid/t1/t-uid/"},
		{name: "plain prefix", prefix: "crucible", wantExperiment: "crucible/ns/exp/e-uid/", wantTrial: "crucible/ns/exp/e-uid/t1/t-uid/"},
		{name: "slashes trimmed", prefix: "/crucible/", wantExperiment: "crucible/ns/exp/e-uid/", wantTrial: "crucible/ns/exp/e-uid/t1/t-uid/"},
		{name: "repeated slashes trimmed", prefix: "//crucible//", wantExperiment: "crucible/ns/exp/e-uid/", wantTrial: "crucible/ns/exp/e-uid/t1/t-uid/"},
		{name: "only slashes", prefix: "///", wantExperiment: "ns/exp/e-uid/", wantTrial: "ns/exp/e-uid/t1/t-uid/"},
		{name: "nested prefix", prefix: "teams/ml/runs", wantExperiment: "teams/ml/runs/ns/exp/e-uid/", wantTrial: "teams/ml/runs/ns/exp/e-uid/t1/t-uid/"},
		{name: "nested prefix with slashes", prefix: "/teams/ml/runs/", wantExperiment: "teams/ml/runs/ns/exp/e-uid/", wantTrial: "teams/ml/runs/ns/exp/e-uid/t1/t-uid/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExperimentPrefix(tc.prefix, "ns", "exp", "e-uid"); got != tc.wantExperiment {
				t.Errorf("ExperimentPrefix(%q, ns, exp, e-uid) = %q; want %q", tc.prefix, got, tc.wantExperiment)
			}
			if got := TrialPrefix(tc.prefix, "ns", "exp", "e-uid", "t1", "t-uid"); got != tc.wantTrial {
				t.Errorf("TrialPrefix(%q, ns, exp, e-uid, t1, t-uid) = %q; want %q", tc.prefix, got, tc.wantTrial)
			}
		})
	}
}

func TestTrialPrefixDoesNotContainSibling(t *testing.T) {
	// Listing is by prefix: trial "a" must not be a prefix of trial "ab",
	// nor experiment "e" of experiment "e2".
	a, ab := TrialPrefix("p", "ns", "e", "u", "a", "u1"), TrialPrefix("p", "ns", "e", "u", "ab", "u1")
	if strings.HasPrefix(ab, a) {
		t.Errorf("TrialPrefix of trial a, %q, is a prefix of trial ab's, %q", a, ab)
	}
	e, e2 := ExperimentPrefix("p", "ns", "e", "u"), ExperimentPrefix("p", "ns", "e2", "u")
	if strings.HasPrefix(e2, e) {
		t.Errorf("ExperimentPrefix of e, %q, is a prefix of e2's, %q", e, e2)
	}
}

// TestPrefixesOfRuns checks that a Trial created again under its old name,
// or an Experiment created again under its old name, writes under a prefix
// of its own, disjoint from the earlier run's.
func TestPrefixesOfRuns(t *testing.T) {
	first, again := TrialPrefix("p", "ns", "e", "u", "a", "run1"), TrialPrefix("p", "ns", "e", "u", "a", "run2")
	if strings.HasPrefix(first, again) || strings.HasPrefix(again, first) {
		t.Errorf("the two runs of trial a share a prefix: %q and %q", first, again)
	}
	old, recreated := ExperimentPrefix("p", "ns", "e", "uid1"), ExperimentPrefix("p", "ns", "e", "uid2")
	if strings.HasPrefix(old, recreated) || strings.HasPrefix(recreated, old) {
		t.Errorf("the two runs of experiment e share a prefix: %q and %q", old, recreated)
	}
}

func TestS3URI(t *testing.T) {
	cases := []struct {
		bucket, key, want string
	}{
		{bucket: "b", key: TrialPrefix("", "ns", "exp", "e-uid", "t1", "t-uid"), want: "s3://b/ns/exp/e-uid/t1/t-uid/"},
		{bucket: "artifacts", key: TrialPrefix("/runs/", "ns", "exp", "e-uid", "t1", "t-uid"), want: "s3://artifacts/runs/ns/exp/e-uid/t1/t-uid/"},
		{bucket: "b", key: "ns/exp/t1/model/weights.bin", want: "s3://b/ns/exp/t1/model/weights.bin"},
		{bucket: "b", key: "", want: "s3://b/"},
	}
	for _, tc := range cases {
		if got := S3URI(tc.bucket, tc.key); got != tc.want {
			t.Errorf("S3URI(%q, %q) = %q; want %q", tc.bucket, tc.key, got, tc.want)
		}
	}
}
