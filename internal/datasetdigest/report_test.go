package datasetdigest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReport(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		msg     string
		want    Report
		wantErr string
	}{
		{name: "a digest", msg: `{"digest":"` + digest + `","files":3,"bytes":12}`, want: Report{Digest: digest, Files: 3, Bytes: 12}},
		{name: "an error", msg: `{"error":"special file: data/fifo"}`, want: Report{Error: "special file: data/fifo"}},
		{name: "a trailing newline", msg: `{"digest":"` + digest + `"}` + "\n", want: Report{Digest: digest}},
		{name: "empty", msg: ``, wantErr: "not a JSON object"},
		{name: "log lines instead", msg: "hashing /dataset\npanic: boom", wantErr: "not a JSON object"},
		{name: "an unknown field", msg: `{"digest":"` + digest + `","match":true}`, wantErr: "not a JSON object"},
		{name: "two values", msg: `{"digest":"` + digest + `"} {"digest":"` + digest + `"}`, wantErr: "more than one"},
		{name: "an upper-case digest", msg: `{"digest":"sha256:` + strings.Repeat("AB", 32) + `"}`, wantErr: "no digest of the form"},
		{name: "no digest nor error", msg: `{"files":1}`, wantErr: "no digest of the form"},
		{name: "both", msg: `{"digest":"` + digest + `","error":"x"}`, wantErr: "both"},
		{name: "negative counts", msg: `{"digest":"` + digest + `","bytes":-1}`, wantErr: "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReport([]byte(tc.msg))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseReport(%q) error = %v, want one containing %q", tc.msg, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseReport(%q) (-want +got):\n%s", tc.msg, diff)
			}
		})
	}
}

func TestReportOfRoundTrips(t *testing.T) {
	root := build(t, file("a.txt", "hello"), file("b/c.txt", "world"))
	res, err := Digest(t.Context(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ReportOf(res, nil).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReport(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != res.Digest || got.Files != 2 || got.Bytes != 10 {
		t.Errorf("round trip = %+v, want the digest %s of 2 files and 10 bytes", got, res.Digest)
	}

	long := ReportOf(Result{}, errors.New(strings.Repeat("x", 10000)))
	msg, err = long.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) > 4096 {
		t.Errorf("an error report is %d bytes: more than a termination message holds", len(msg))
	}
	if _, err := ParseReport(msg); err != nil {
		t.Errorf("a long error's report does not parse: %v", err)
	}
}
