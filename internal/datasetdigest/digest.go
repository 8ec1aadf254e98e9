package datasetdigest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/crucible-dev/crucible/internal/canonjson"
)

// ErrSpecialFile is the error (wrapped, with the path) for a device file,
// named pipe, socket or other file that is neither a regular file, a
// directory nor a symbolic link.
var ErrSpecialFile = errors.New("only regular files, directories and symbolic links can be digested")

// ErrLink is the error (wrapped, with the path and target) for a symbolic
// link that does not resolve to a file or directory inside the tree.
var ErrLink = errors.New("a symbolic link must resolve to a file or directory inside the tree")

// bufferSize is each worker's read buffer. One worker on 256 MiB in the
// page cache hashed 1.02, 1.10 and 1.02 GB/s with 32 KiB, 256 KiB and 1 MiB:
// the size hardly matters, and 256 KiB per worker costs nothing.
const bufferSize = 256 << 10

// Options tune how a digest is computed; none changes its value.
type Options struct {
	// Workers is how many files are hashed at once; 0 or less means
	// runtime.GOMAXPROCS(0).
	Workers int
}

// Result is the digest of a tree and what it counted.
type Result struct {
	// Digest is "sha256:<64 hex>", as the package documentation defines it.
	Digest string
	// Files is the number of regular files.
	Files int64
	// Symlinks is the number of symbolic links.
	Symlinks int64
	// Bytes is the total size of the regular files.
	Bytes int64
}

// entry is one line of the digest: a regular file or a symbolic link.
type entry struct {
	path   string // relative, slash-separated
	link   bool
	target string   // a link's target
	size   int64    // a file's size, once hashed
	sum    [32]byte // a file's sha256, once hashed
}

// Digest computes the digest of the directory tree at root, as the package
// documentation defines it. Errors name the offending path under root; it
// stops at the first one, or when ctx is done.
func Digest(ctx context.Context, root string, opts Options) (Result, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return Result{}, &fs.PathError{Op: "open", Path: root, Err: unwrapPath(err)}
	}
	defer r.Close() //nolint:errcheck // read-only; nothing to flush
	t := tree{root: r, name: root}

	var entries []entry
	if err := t.walk(ctx, ".", &entries); err != nil {
		return Result{}, err
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.path, b.path) })

	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if err := t.hashFiles(ctx, entries, workers); err != nil {
		return Result{}, err
	}
	return digestOf(entries), nil
}

// tree is an open tree; name is its root as the caller gave it, for errors.
type tree struct {
	root *os.Root
	name string
}

// display is p as a path the user can find: under the root they named.
func (t tree) display(p string) string {
	return filepath.Join(t.name, filepath.FromSlash(p))
}

// pathError is err, from op on p, naming p as display does.
func (t tree) pathError(op, p string, err error) error {
	return &fs.PathError{Op: op, Path: t.display(p), Err: unwrapPath(err)}
}

// walk appends the files and links under dir to entries, in no particular
// order, and refuses special files and links that leave the tree.
func (t tree) walk(ctx context.Context, dir string, entries *[]entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := t.root.Open(dir)
	if err != nil {
		return t.pathError("open", dir, err)
	}
	des, err := f.ReadDir(-1)
	f.Close() //nolint:errcheck // a directory opened for reading
	if err != nil {
		return t.pathError("read directory", dir, err)
	}
	for _, d := range des {
		p := d.Name()
		if dir != "." {
			p = dir + "/" + p
		}
		switch mode := d.Type(); {
		case mode.IsDir():
			if err := t.walk(ctx, p, entries); err != nil {
				return err
			}
		case mode.IsRegular():
			*entries = append(*entries, entry{path: p})
		case mode&fs.ModeSymlink != 0:
			target, err := t.root.Readlink(p)
			if err != nil {
				return t.pathError("readlink", p, err)
			}
			// os.Root follows the link as the kernel would, and fails if
			// that leaves the root (absolute targets included).
			fi, err := t.root.Stat(p)
			if err == nil && !fi.IsDir() && !fi.Mode().IsRegular() {
				err = fmt.Errorf("it leads to a %s", modeName(fi.Mode()))
			}
			if err != nil {
				return fmt.Errorf("%s -> %s: %w (%w)", t.display(p), target, ErrLink, unwrapPath(err))
			}
			*entries = append(*entries, entry{path: p, link: true, target: target})
		default:
			return fmt.Errorf("%s is a %s: %w", t.display(p), modeName(mode), ErrSpecialFile)
		}
	}
	return nil
}

// unwrapPath drops a *fs.PathError's operation and path (the error already
// names the link), keeping the reason.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

func modeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	default:
		return "special file (" + m.String() + ")"
	}
}

// hashFiles hashes every file of entries with the given number of workers,
// filling in its size and sum. It returns the first error a worker met, or
// ctx's.
func (t tree) hashFiles(ctx context.Context, entries []entry, workers int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobs := make(chan *entry)
	var wg sync.WaitGroup
	for range min(workers, len(entries)) {
		wg.Go(func() {
			buf := make([]byte, bufferSize)
			for e := range jobs {
				if err := t.hashFile(ctx, e, buf); err != nil {
					cancel(err) // the first cause sticks
					return
				}
			}
		})
	}
dispatch:
	for i := range entries {
		if entries[i].link {
			continue
		}
		select {
		case jobs <- &entries[i]:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	return context.Cause(ctx)
}

// hashFile streams e's file through sha256 with buf.
func (t tree) hashFile(ctx context.Context, e *entry, buf []byte) error {
	// O_NONBLOCK: should a pipe have taken the file's place since the walk,
	// opening it does not wait for a writer, and it is refused below.
	f, err := t.root.OpenFile(e.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return t.pathError("open", e.path, err)
	}
	defer f.Close() //nolint:errcheck // opened for reading
	fi, err := f.Stat()
	if err != nil {
		return t.pathError("stat", e.path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is a %s: %w", t.display(e.path), modeName(fi.Mode()), ErrSpecialFile)
	}
	h := sha256.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := f.Read(buf)
		h.Write(buf[:m]) // never fails
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return t.pathError("read", e.path, err)
		}
	}
	if n != fi.Size() {
		return fmt.Errorf("%s changed while it was digested: %d bytes read, %d expected", t.display(e.path), n, fi.Size())
	}
	e.size = n
	h.Sum(e.sum[:0])
	return nil
}

// digestOf writes the lines of entries, sorted by path and hashed, and
// hashes them.
func digestOf(entries []entry) Result {
	var r Result
	h := sha256.New()
	var line []byte
	for i := range entries {
		e := &entries[i]
		line = append(line[:0], '[')
		line = canonjson.AppendString(line, e.path)
		if e.link {
			r.Symlinks++
			line = append(line, `,"symlink",`...)
			line = canonjson.AppendString(line, e.target)
		} else {
			r.Files++
			r.Bytes += e.size
			line = append(line, ',')
			line = strconv.AppendInt(line, e.size, 10)
			line = append(line, ',', '"')
			line = hex.AppendEncode(line, e.sum[:])
			line = append(line, '"')
		}
		line = append(line, "]\n"...)
		h.Write(line) // never fails
	}
	r.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return r
}
