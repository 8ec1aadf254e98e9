package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/crucible-dev/crucible/internal/datasetdigest"
	"github.com/crucible-dev/crucible/internal/jobspec"
)

func TestDatasetVerify(t *testing.T) {
	good := t.TempDir()
	if err := os.WriteFile(filepath.Join(good, "a.csv"), []byte("1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := datasetdigest.Digest(t.Context(), good, datasetdigest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	withFifo := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(withFifo, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		dir      string
		wantCode int
		check    func(t *testing.T, r datasetdigest.Report)
	}{
		{name: "a tree it can hash", dir: good, wantCode: 0, check: func(t *testing.T, r datasetdigest.Report) {
			if r.Digest != want.Digest || r.Files != 1 || r.Bytes != 4 {
				t.Errorf("report = %+v, want digest %s of 1 file, 4 bytes", r, want.Digest)
			}
		}},
		{name: "a special file: the Job fails at once", dir: withFifo, wantCode: jobspec.VerifierExitUnhashable, check: func(t *testing.T, r datasetdigest.Report) {
			if !strings.Contains(r.Error, "pipe") {
				t.Errorf("report error %q does not name the file", r.Error)
			}
		}},
		{name: "no such directory", dir: filepath.Join(good, "missing"), wantCode: jobspec.VerifierExitUnhashable, check: func(t *testing.T, r datasetdigest.Report) {
			if r.Error == "" {
				t.Error("report has no error")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "termination-log")
			var stderr bytes.Buffer
			code := datasetVerify(t.Context(), []string{"--report", report, tc.dir}, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, tc.wantCode, stderr.String())
			}
			msg, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			r, err := datasetdigest.ParseReport(msg)
			if err != nil {
				t.Fatalf("the operator cannot read the report %q: %v", msg, err)
			}
			tc.check(t, r)
		})
	}
}
