package datasetdigest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// item is one thing in a test tree: a regular file with its content, a
// symbolic link with its target, or a directory.
type item struct {
	path   string // slash-separated, relative
	data   string
	link   string
	dir    bool
	mode   os.FileMode // a file's or directory's mode; 0 for the default
	create func(t testing.TB, path string)
}

func file(p, data string) item   { return item{path: p, data: data} }
func link(p, target string) item { return item{path: p, link: target} }
func dir(p string) item          { return item{path: p, dir: true} }

// special is an item made by create (a pipe, a socket).
func special(p string, create func(t testing.TB, path string)) item {
	return item{path: p, create: create}
}

// build makes the items under a new temporary directory and returns it.
func build(t testing.TB, items ...item) string {
	t.Helper()
	root := t.TempDir()
	buildIn(t, root, items...)
	return root
}

// buildIn makes the items under root.
func buildIn(t testing.TB, root string, items ...item) {
	t.Helper()
	for _, it := range items {
		p := filepath.Join(root, filepath.FromSlash(it.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case it.dir:
			err = os.MkdirAll(p, 0o755)
		case it.link != "":
			err = os.Symlink(it.link, p)
		case it.create != nil:
			it.create(t, p)
		default:
			err = os.WriteFile(p, []byte(it.data), 0o644)
		}
		if err == nil && it.mode != 0 {
			err = os.Chmod(p, it.mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func fifo(t testing.TB, path string) {
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

func socket(t testing.TB, path string) {
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() }) //nolint:errcheck // test cleanup
}

// pattern is n bytes of a fixed pattern that repeats every 251 bytes, so
// that a file longer than the read buffer is not uniform.
func pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return string(b)
}

// goldenTrees exercise every rule of the format. TestDigestGolden and
// TestPythonRecipe share them.
var goldenTrees = []struct {
	name  string
	items []item
	want  string // computed by the Python recipe of doc.go, not by this package
}{
	{
		name: "empty tree",
		want: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	},
	{
		name:  "only empty directories",
		items: []item{dir("a"), dir("b/c/d")},
		want:  "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	},
	{
		name:  "one empty file",
		items: []item{file("empty", "")},
		want:  "sha256:061312e538dcff75d195c853516c5c30b5318b4c0e86b19f15e48622eb5528d3",
	},
	{
		// A walk yields a/a, a/b, a-b, a.b, ab; byte order of the full paths
		// is a-b, a.b, a/a, a/b, ab.
		name:  "order of full paths",
		items: []item{file("a/b", "b"), file("a/a", ""), file("a.b", "dot"), file("a-b", "dash"), file("ab", "ab")},
		want:  "sha256:35ee6973cf86e273688510caa00480530f8a04c927b6605b1f796394a39b6959",
	},
	{
		name: "escaping and nesting",
		items: []item{
			file(`quote" back\slash`, "q"),
			file("tab\tnew\nline\r\x01\x1f.txt", "c"),
			file("模型/权重 é.bin", "w"),
			file("d/e/f/g.txt", "deep"),
			file("big.bin", pattern(600<<10+7)), // more than two read buffers
			dir("d/empty"),
		},
		want: "sha256:c54f71daa2fa94e66d25f57ae954dda6a8f559b8aa1456669eb2fc8dada16b17",
	},
	{
		name: "symlinks",
		items: []item{
			file("data/v1/train.csv", "1,2\n"),
			link("data/latest", "v1"),                     // to a directory
			link("data/train.csv", "latest/train.csv"),    // through another link
			link("data/self", "."),                        // to a directory of the tree
			link("top", "data/../data/v1/train.csv"),      // with "..", inside
			link("data/v1/up", "../../data/v1/train.csv"), // up and back in
		},
		want: "sha256:899976d4dfdb82a06694cb3cc37ad96e9ba8021c4d37edd5fd23d6f0d23ac697",
	},
	{
		name: "not UTF-8",
		items: []item{
			file("caf\xe9.txt", "latin-1"),
			file("café.txt", "utf-8"),
			file("\xff\xfe", "ff fe"),
			file("\xed\xa0\x80 surrogate", "s"),
			file("trunc\xe6\xa8/x", "a truncated 模"),
			file(`a\udcff`, "the escape, as text"),
			link("l\xe9", "caf\xe9.txt"),
		},
		want: "sha256:f73f4e4dcf810a612204b6df2ecb9b513646a95dcc0098ceb5d2e7a155931c22",
	},
}

// TestDigestGolden pins the format: users recompute digests independently
// and operators of later versions check recorded ones. The hex was computed
// by the Python recipe of the package documentation, not by this package.
// If this test fails, the format changed: do not update the hex.
func TestDigestGolden(t *testing.T) {
	for _, tc := range goldenTrees {
		t.Run(tc.name, func(t *testing.T) {
			root := build(t, tc.items...)
			got, err := Digest(t.Context(), root, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != tc.want {
				t.Errorf("Digest = %s; want %s", got.Digest, tc.want)
			}
		})
	}
}

// TestDigestLines checks the lines themselves, written out by hand from the
// documented format.
func TestDigestLines(t *testing.T) {
	root := build(t, file("a/b", ""), file("a.b", "x"), link("l", "a.b"), dir("z"))
	lines := `["a.b",1,"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"]` + "\n" +
		`["a/b",0,"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]` + "\n" +
		`["l","symlink","a.b"]` + "\n"
	sum := sha256.Sum256([]byte(lines))
	want := Result{Digest: "sha256:" + hex.EncodeToString(sum[:]), Files: 2, Symlinks: 1, Bytes: 1}

	got, err := Digest(t.Context(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Digest mismatch (-want +got):\n%s", diff)
	}
}

// TestDigestIgnores: modes, empty directories and where the tree is do not
// change the digest; content, names and link targets do.
func TestDigestIgnores(t *testing.T) {
	base := []item{file("a/x", "x"), file("b", "b"), link("c", "b")}
	digest := func(items ...item) string {
		t.Helper()
		r, err := Digest(t.Context(), build(t, items...), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Digest
	}
	want := digest(base...)

	same := map[string][]item{
		"modes":             {{path: "a/x", data: "x", mode: 0o700}, {path: "b", data: "b", mode: 0o400}, link("c", "b")},
		"empty directories": append([]item{dir("e"), dir("a/e/f")}, base...),
	}
	for name, items := range same {
		if got := digest(items...); got != want {
			t.Errorf("%s: digest %s; want %s, as without", name, got, want)
		}
	}
	different := map[string][]item{
		"content":     {file("a/x", "y"), file("b", "b"), link("c", "b")},
		"name":        {file("a/y", "x"), file("b", "b"), link("c", "b")},
		"link target": {file("a/x", "x"), file("b", "b"), link("c", "a/x")},
		"link, file":  {file("a/x", "x"), file("b", "b"), file("c", "b")},
		"more":        append([]item{file("d", "")}, base...),
	}
	for name, items := range different {
		if got := digest(items...); got == want {
			t.Errorf("%s: digest %s, as before the change", name, got)
		}
	}
}

func TestDigestWorkers(t *testing.T) {
	var items []item
	for i := range 50 {
		items = append(items, file(strings.Repeat("d/", i%4)+"f"+string(rune('a'+i%26))+string(rune('0'+i/26)), pattern(i*13_001)))
	}
	items = append(items, link("d/l", "../fa0"))
	root := build(t, items...)

	want, err := Digest(t.Context(), root, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want.Files != 50 || want.Symlinks != 1 {
		t.Errorf("Digest counted %d files, %d links; want 50, 1", want.Files, want.Symlinks)
	}
	for _, w := range []int{0, 2, 3, 7, 64} {
		got, err := Digest(t.Context(), root, Options{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Workers %d: Digest differs from Workers 1 (-want +got):\n%s", w, diff)
		}
	}
}

func TestDigestErrors(t *testing.T) {
	tests := []struct {
		name    string
		items   []item
		root    string // under the tree; "" for the tree
		wantErr error  // errors.Is
		wantMsg string // in the message, with <root> for the tree's path
	}{
		{
			name:    "named pipe",
			items:   []item{file("a", "a"), special("sub/pipe", fifo)},
			wantErr: ErrSpecialFile,
			wantMsg: "<root>/sub/pipe is a named pipe: only regular files",
		},
		{
			name:    "socket",
			items:   []item{special("s", socket)},
			wantErr: ErrSpecialFile,
			wantMsg: "<root>/s is a socket",
		},
		{
			name:    "absolute link",
			items:   []item{link("etc", "/etc/hostname")},
			wantErr: ErrLink,
			wantMsg: "<root>/etc -> /etc/hostname: a symbolic link must resolve to a file or directory inside the tree (path escapes from parent)",
		},
		{
			name:    "link out of the tree",
			items:   []item{file("../outside", "o"), link("d/out", "../../outside")},
			wantErr: ErrLink,
			wantMsg: "<root>/d/out -> ../../outside",
		},
		{
			// Lexically s/b/.. is s, inside; the kernel goes to the root's
			// parent, as os.Root does.
			name:    "link out of the tree through a link",
			items:   []item{link("s/b", ".."), link("a", "s/b/..")},
			wantErr: ErrLink,
			wantMsg: "<root>/a -> s/b/..",
		},
		{
			name:    "dangling link",
			items:   []item{link("gone", "missing")},
			wantErr: ErrLink,
			wantMsg: "<root>/gone -> missing: a symbolic link must resolve to a file or directory inside the tree (no such file or directory)",
		},
		{
			name:    "link loop",
			items:   []item{link("a", "b"), link("b", "a")},
			wantErr: ErrLink,
			wantMsg: "too many levels of symbolic links",
		},
		{
			name:    "missing root",
			root:    "missing",
			wantErr: fs.ErrNotExist,
			wantMsg: "open <root>/missing: no such file or directory",
		},
		{
			name:    "root is a file",
			items:   []item{file("f", "")},
			root:    "f",
			wantMsg: "open <root>/f: not a directory",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The tree is a directory of its own, so that a link can point
			// out of it to a file that exists.
			tree := filepath.Join(t.TempDir(), "tree")
			if err := os.Mkdir(tree, 0o755); err != nil {
				t.Fatal(err)
			}
			buildIn(t, tree, tc.items...)
			_, err := Digest(t.Context(), filepath.Join(tree, tc.root), Options{})
			if err == nil {
				t.Fatal("Digest succeeded; want an error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Digest error %q is not %q", err, tc.wantErr)
			}
			if msg := strings.ReplaceAll(tc.wantMsg, "<root>", tree); !strings.Contains(err.Error(), msg) {
				t.Errorf("Digest error %q does not contain %q", err, msg)
			}
		})
	}
}

func TestDigestCanceled(t *testing.T) {
	root := build(t, file("a", "a"), file("b/c", "c"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Digest(ctx, root, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Digest with a canceled context: error %v; want context.Canceled", err)
	}
}
