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

func TestModelVersionPrefix(t *testing.T) {
	cases := []struct {
		prefix, namespace, model string
		version                  int32
		want                     string
	}{
		{prefix: "", namespace: "ns", model: "resnet", version: 1, want: "ns/models/resnet/v1/"},
		{prefix: "crucible", namespace: "ns", model: "resnet", version: 3, want: "crucible/ns/models/resnet/v3/"},
		{prefix: "/teams/ml/", namespace: "team-a", model: "resnet", version: 12, want: "teams/ml/team-a/models/resnet/v12/"},
		{prefix: "///", namespace: "ns", model: "m", version: 2147483647, want: "ns/models/m/v2147483647/"},
	}
	for _, tc := range cases {
		got := ModelVersionPrefix(tc.prefix, tc.namespace, tc.model, tc.version)
		if got != tc.want {
			t.Errorf("ModelVersionPrefix(%q, %q, %q, %d) = %q; want %q", tc.prefix, tc.namespace, tc.model, tc.version, got, tc.want)
		}
		if ns := NamespacePrefix(tc.prefix, tc.namespace); !strings.HasPrefix(got, ns) {
			t.Errorf("ModelVersionPrefix %q is not under NamespacePrefix %q", got, ns)
		}
	}
	// Neither version 1 takes in version 10's objects, nor model "m" those
	// of "m2", nor does a model's copy lie under an Experiment's prefix.
	v1, v10 := ModelVersionPrefix("p", "ns", "m", 1), ModelVersionPrefix("p", "ns", "m", 10)
	m, m2 := ModelVersionPrefix("p", "ns", "m", 1), ModelVersionPrefix("p", "ns", "m2", 1)
	if strings.HasPrefix(v10, v1) || strings.HasPrefix(m2, m) {
		t.Errorf("a model version's prefix holds another's: %q, %q, %q, %q", v1, v10, m, m2)
	}
	if exp := ExperimentPrefix("p", "ns", "models", "6a0f8e1c-3b1d-4c9e-9f0a-2d4e6b8c0a1f"); strings.HasPrefix(v1, exp) {
		t.Errorf("the Experiment named models, %q, holds the model's copy %q", exp, v1)
	}
}

func TestParseS3Prefix(t *testing.T) {
	cases := []struct {
		uri, bucket, prefix, wantErr string
	}{
		{uri: "s3://runs/ns/e/uid/t/uid/", bucket: "runs", prefix: "ns/e/uid/t/uid/"},
		{uri: S3URI("b", TrialPrefix("/p/", "ns", "e", "eu", "t", "tu")), bucket: "b", prefix: "p/ns/e/eu/t/tu/"},
		{uri: "s3://runs/a b/模型/", bucket: "runs", prefix: "a b/模型/"},
		{uri: "pvc://claim/ns/e/", wantErr: "is not an s3:// URI"},
		{uri: "S3://runs/p/", wantErr: "is not an s3:// URI"},
		{uri: "s3:///p/", wantErr: "names no bucket"},
		{uri: "s3://runs", wantErr: "names no key prefix"},
		{uri: "s3://runs/", wantErr: "names no key prefix"},
		{uri: "s3://runs/p/model.bin", wantErr: "does not end in /"},
	}
	for _, tc := range cases {
		bucket, prefix, err := ParseS3Prefix(tc.uri)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseS3Prefix(%q) = %q, %q, %v; want an error containing %q", tc.uri, bucket, prefix, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || bucket != tc.bucket || prefix != tc.prefix):
			t.Errorf("ParseS3Prefix(%q) = %q, %q, %v; want %q, %q", tc.uri, bucket, prefix, err, tc.bucket, tc.prefix)
		}
	}
}

func TestPartCount(t *testing.T) {
	for etag, want := range map[string]int{
		"9e107d9d372bb6826bd81d3542a419d6":       0,
		"9e107d9d372bb6826bd81d3542a419d6-2":     2,
		"4701903E788DE46695AF23F968069D16-10000": 10_000,
		"9e107d9d372bb6826bd81d3542a419d6-10001": 0,
		"9e107d9d372bb6826bd81d3542a419d6-0":     0,
		"9e107d9d372bb6826bd81d3542a419d6-x":     0,
		"9e107d9d372bb6826bd81d3542a419-2":       0,
		"zz107d9d372bb6826bd81d3542a419d6-2":     0,
		"":                                       0,
	} {
		if got := partCount(etag); got != want {
			t.Errorf("partCount(%q) = %d; want %d", etag, got, want)
		}
	}
}
