package datasetdigest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// pythonRecipe is the Python of the package documentation, as written
// there: the comment lines of doc.go from its first import to the end of
// that code block, with the comment markers removed.
func pythonRecipe(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for l := range strings.Lines(string(src)) {
		l = strings.TrimSuffix(l, "\n")
		switch {
		case code == nil && l == "//\timport hashlib, json, os, re, stat":
			code = append(code, strings.TrimPrefix(l, "//\t"))
		case code != nil && strings.HasPrefix(l, "//\t"):
			code = append(code, strings.TrimPrefix(l, "//\t"))
		case code != nil && l == "//":
			code = append(code, "")
		case code != nil:
			return strings.Join(code, "\n")
		}
	}
	t.Fatal("doc.go has no Python recipe")
	return ""
}

// TestPythonRecipe runs the documentation's Python on every golden tree and
// compares its digest with Digest's: the recipe users copy is the format.
func TestPythonRecipe(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	program := pythonRecipe(t) + "\n\nimport sys\nprint(digest(sys.argv[1]))\n"
	for _, tc := range goldenTrees {
		t.Run(tc.name, func(t *testing.T) {
			root := build(t, tc.items...)
			var stderr bytes.Buffer
			cmd := exec.CommandContext(t.Context(), python, "-c", program, root)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("python3: %v\n%s", err, stderr.String())
			}
			got, err := Digest(t.Context(), root, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if py := strings.TrimSpace(string(out)); py != got.Digest {
				t.Errorf("the Python recipe gives %s; Digest %s", py, got.Digest)
			}
		})
	}
}
