// Package datasetdigest computes the content digest of a directory tree: the
// value of an Experiment's spec.dataset.digest, which pins a dataset by what
// its files hold rather than by where it is stored.
//
// # Digest
//
// The digest of a tree is "sha256:" followed by the lowercase hex SHA-256
// of one line per regular file and per symbolic link in it, at any depth:
//
//	["train/part-0001.csv",1048576,"<64 lowercase hex: the file's sha256>"]\n
//	["train/latest","symlink","part-0001.csv"]\n
//
// A regular file's line is a compact JSON array of its path relative to the
// tree's root (slash-separated, no leading "./"), its size in bytes (a
// decimal integer) and the lowercase hex SHA-256 of its content, followed by
// a newline. A symbolic link's line is the array of its relative path, the
// string "symlink", and the link's target as readlink(2) returns it,
// followed by a newline. The second element tells the two apart: a number
// for a file, a string for a link.
//
// Lines are in the order of their relative paths, compared as bytes, so
// "a-b" < "a.b" < "a/b" ('-', '.', '/' are 0x2d, 0x2e, 0x2f): the order of
// the full paths, not the order of a walk that finishes a directory before
// its next sibling. Sort the entries, not the lines: escaping and the
// closing quote reorder them. A tree with no files and no links gives the
// SHA-256 of the empty string, sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.
//
// Strings are written as in internal/artifacts' manifest (RFC 8785, which
// is what Python's json.dumps(..., separators=(",", ":"),
// ensure_ascii=False) and JavaScript's JSON.stringify write): '"' and '\' as
// \" and \\; U+0008, U+0009, U+000A, U+000C and U+000D as \b, \t, \n, \f
// and \r; the other characters below U+0020 as \u00xx (lowercase hex);
// every other character as itself in UTF-8, '/' and non-ASCII included.
// File names are bytes, not text: a byte that is not part of valid UTF-8 is
// written as \udcxx, xx its lowercase hex, the lone surrogate U+DC00+byte
// that Python's "surrogateescape" error handler decodes it to. No valid
// UTF-8 is ever written so, hence two different names always have
// different lines, and a UTF-8 name's line is plain JSON.
//
// What counts, and what does not:
//
//   - Regular files count by path, size and content. Their mode, owner and
//     times do not: a dataset copied with cp, rsync or an object store
//     keeps its digest.
//   - Directories do not count: an empty directory adds no line, and a tree
//     with one has the digest of the same tree without it. A dataset's
//     content is its files; git, S3 and every object store drop empty
//     directories, so a dataset uploaded and downloaded again keeps its
//     digest.
//   - A symbolic link is not followed: it counts as a link, by its target
//     text. Links are common in datasets (a "latest" alias, Hugging Face's
//     snapshots of blobs), and a read-only mount cannot be rewritten to
//     remove them. Its target must resolve, inside the tree, to a file or
//     directory of the tree, which is then digested under its own path(s):
//     so the digest pins every byte a reader of the tree can reach through
//     it. A link that is absolute, climbs out of the tree, dangles or loops
//     is refused with ErrLink and an error naming it. (Refusing is the
//     reversible choice: accepting such links later changes no digest.)
//   - Device files, named pipes, sockets and other special files are
//     refused with ErrSpecialFile and an error naming the path: they have
//     no content to pin, and opening a pipe can block forever.
//
// In Python (3.11 or later; it assumes a tree that Digest accepts, and does
// not check the links):
//
//	import hashlib, json, os, re, stat
//
//	def line(*entry):
//	    s = json.dumps([x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else x
//	                    for x in entry], separators=(",", ":"), ensure_ascii=False)
//	    return re.sub("[\udc80-\udcff]", lambda m: "\\u%x" % ord(m[0]), s) + "\n"
//
//	def digest(root):
//	    root, entries = os.fsencode(root), []
//	    for top, dirs, files in os.walk(root):
//	        for name in dirs + files:
//	            path = os.path.join(top, name)
//	            rel, st = os.path.relpath(path, root), os.lstat(path)
//	            if stat.S_ISLNK(st.st_mode):
//	                entries.append((rel, "symlink", os.readlink(path)))
//	            elif stat.S_ISREG(st.st_mode):
//	                with open(path, "rb") as f:
//	                    sha = hashlib.file_digest(f, "sha256").hexdigest()
//	                entries.append((rel, st.st_size, sha))
//	            elif not stat.S_ISDIR(st.st_mode):
//	                raise ValueError(f"{path}: a special file")
//	    data = "".join(line(*e) for e in sorted(entries))
//	    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()
//
// The format is frozen: a digest is written into an Experiment and checked
// later against the mounted dataset, perhaps by another version of the
// operator. TestDigestGolden guards it with digests this recipe computed,
// and TestPythonRecipe runs the recipe above, as written here, against
// trees the test builds.
//
// # Computing it
//
// Digest walks the tree first, holding one entry per file and link (its
// path), sorts them, hashes the files with Options.Workers goroutines, each
// streaming one file at a time through a buffer of its own, and then writes
// the lines in order: memory grows with the number of files, never with
// their size. The tree is opened as an os.Root, so nothing outside it is
// read, whatever its links say; files are opened without blocking and
// checked to be regular files after opening. The tree must not change
// while it is digested: a file whose size changes meanwhile is an error.
package datasetdigest
