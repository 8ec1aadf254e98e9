package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dataset makes a small tree: two files, a link and an empty directory.
func dataset(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p, data := range map[string]string{"train/part-0.csv": "a,b\n1,2\n", "labels.txt": "cat\ndog\n"} {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("train/part-0.csv", filepath.Join(dir, "latest.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// execute runs the command line and returns its exit code, stdout and
// stderr.
func execute(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// wantDigest is the tree's digest, computed with printf and sha256sum from
// the documented lines:
//
//	["labels.txt",8,"<sha256 of cat\ndog\n>"]
//	["latest.csv","symlink","train/part-0.csv"]
//	["train/part-0.csv",8,"<sha256 of a,b\n1,2\n>"]
const wantDigest = "sha256:25f220815b79cd6bda2749f18b1ff838d4c621e97e96692de234e7fe0b40e5f5"

func TestDatasetDigest(t *testing.T) {
	dir := dataset(t)

	code, stdout, stderr := execute(t, "dataset", "digest", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit code %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if want := wantDigest + "\n"; stdout != want {
		t.Errorf("stdout %q; want %q", stdout, want)
	}

	code, stdout, stderr = execute(t, "dataset", "digest", "-o", "json", "--workers", "1", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("-o json: exit code %d, stderr %q; want 0 and nothing", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("-o json: %v in %q", err, stdout)
	}
	want := map[string]any{"digest": wantDigest, "files": 2.0, "symlinks": 1.0, "bytes": 16.0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-o json mismatch (-want +got):\n%s", diff)
	}
}

func TestDatasetDigestErrors(t *testing.T) {
	dir := dataset(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "train", "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{
			name:    "missing directory",
			args:    []string{"dataset", "digest", filepath.Join(dir, "missing")},
			wantErr: "error: open " + filepath.Join(dir, "missing") + ": no such file or directory\n",
		},
		{
			name:    "special file",
			args:    []string{"dataset", "digest", dir},
			wantErr: "error: " + filepath.Join(dir, "train", "pipe") + " is a named pipe: only regular files, directories and symbolic links can be digested\n",
		},
		{
			name:    "no directory",
			args:    []string{"dataset", "digest"},
			wantErr: "error: want one directory, got 0 arguments: kubectl crucible dataset digest DIR\n",
		},
		{
			name:    "unknown output",
			args:    []string{"dataset", "digest", "-o", "yaml", filepath.Join(dir, "train")},
			wantErr: `error: --output "yaml": want "json", or no --output for the digest alone` + "\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := execute(t, tc.args...)
			if code == 0 {
				t.Errorf("exit code 0; want non-zero")
			}
			if stdout != "" {
				t.Errorf("stdout %q; want nothing", stdout)
			}
			if stderr != tc.wantErr {
				t.Errorf("stderr %q; want %q", stderr, tc.wantErr)
			}
			if strings.Contains(stderr, "Usage:") {
				t.Errorf("stderr has the usage; want the error alone")
			}
		})
	}
}
