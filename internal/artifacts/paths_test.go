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
		{name: "empty prefix", prefix: "", wantExperiment: "ns/exp/", wantTrial: "ns/exp/t1/"},
		{name: "plain prefix", prefix: "crucible", wantExperiment: "crucible/ns/exp/", wantTrial: "crucible/ns/exp/t1/"},
		{name: "slashes trimmed", prefix: "/crucible/", wantExperiment: "crucible/ns/exp/", wantTrial: "crucible/ns/exp/t1/"},
		{name: "repeated slashes trimmed", prefix: "//crucible//", wantExperiment: "crucible/ns/exp/", wantTrial: "crucible/ns/exp/t1/"},
		{name: "only slashes", prefix: "///", wantExperiment: "ns/exp/", wantTrial: "ns/exp/t1/"},
		{name: "nested prefix", prefix: "teams/ml/runs", wantExperiment: "teams/ml/runs/ns/exp/", wantTrial: "teams/ml/runs/ns/exp/t1/"},
		{name: "nested prefix with slashes", prefix: "/teams/ml/runs/", wantExperiment: "teams/ml/runs/ns/exp/", wantTrial: "teams/ml/runs/ns/exp/t1/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExperimentPrefix(tc.prefix, "ns", "exp"); got != tc.wantExperiment {
				t.Errorf("ExperimentPrefix(%q, ns, exp) = %q; want %q", tc.prefix, got, tc.wantExperiment)
			}
			if got := TrialPrefix(tc.prefix, "ns", "exp", "t1"); got != tc.wantTrial {
				t.Errorf("TrialPrefix(%q, ns, exp, t1) = %q; want %q", tc.prefix, got, tc.wantTrial)
			}
		})
	}
}

func TestTrialPrefixDoesNotContainSibling(t *testing.T) {
	// Listing is by prefix: trial "a" must not be a prefix of trial "ab",
	// nor experiment "e" of experiment "e2".
	a, ab := TrialPrefix("p", "ns", "e", "a"), TrialPrefix("p", "ns", "e", "ab")
	if strings.HasPrefix(ab, a) {
		t.Errorf("TrialPrefix of trial a, %q, is a prefix of trial ab's, %q", a, ab)
	}
	e, e2 := ExperimentPrefix("p", "ns", "e"), ExperimentPrefix("p", "ns", "e2")
	if strings.HasPrefix(e2, e) {
		t.Errorf("ExperimentPrefix of e, %q, is a prefix of e2's, %q", e, e2)
	}
}

func TestS3URI(t *testing.T) {
	cases := []struct {
		bucket, key, want string
	}{
		{bucket: "b", key: TrialPrefix("", "ns", "exp", "t1"), want: "s3://b/ns/exp/t1/"},
		{bucket: "artifacts", key: TrialPrefix("/runs/", "ns", "exp", "t1"), want: "s3://artifacts/runs/ns/exp/t1/"},
		{bucket: "b", key: "ns/exp/t1/model/weights.bin", want: "s3://b/ns/exp/t1/model/weights.bin"},
		{bucket: "b", key: "", want: "s3://b/"},
	}
	for _, tc := range cases {
		if got := S3URI(tc.bucket, tc.key); got != tc.want {
			t.Errorf("S3URI(%q, %q) = %q; want %q", tc.bucket, tc.key, got, tc.want)
		}
	}
}
