package datasetdigest

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The tree BenchmarkDigest builds: 64 files of 16 MiB, 1 GiB, by default.
var (
	benchFiles   = flag.Int("digest.files", 64, "BenchmarkDigest: number of files in the tree")
	benchFileMiB = flag.Int("digest.file-mib", 16, "BenchmarkDigest: size of each file, in MiB")
)

// BenchmarkDigest measures Digest against sha256sum (coreutils) over the
// same files in the same run: Digest with w workers against w sha256sum
// processes, each given every w-th file. The tree is read once before the
// first measurement, so that all of them read from the page cache (when it
// holds the tree) rather than the first paying for the disk.
//
//	make bench-digest
//	go test ./internal/datasetdigest/ -run '^$' -bench '^BenchmarkDigest$' -benchtime 3x -args -digest.files=16 -digest.file-mib=8
func BenchmarkDigest(b *testing.B) {
	sha256sum, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Skip("sha256sum is not on PATH")
	}
	root, paths, total := buildBenchTree(b, *benchFiles, *benchFileMiB<<20)
	if err := exec.CommandContext(b.Context(), sha256sum, paths...).Run(); err != nil { // warm the page cache
		b.Fatal(err)
	}

	gbps := map[string]float64{}
	measure := func(name string, run func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				run(b)
			}
			gbps[name] = float64(total) * float64(b.N) / b.Elapsed().Seconds() / 1e9
		})
	}
	for _, w := range []int{1, 2} {
		measure(fmt.Sprintf("sha256sum/procs=%d", w), func(b *testing.B) {
			cmds := make([]*exec.Cmd, w)
			for i := range cmds {
				var share []string
				for j := i; j < len(paths); j += w {
					share = append(share, paths[j])
				}
				cmds[i] = exec.CommandContext(b.Context(), sha256sum, share...)
				cmds[i].Stdout = io.Discard
				if err := cmds[i].Start(); err != nil {
					b.Fatal(err)
				}
			}
			for _, c := range cmds {
				if err := c.Wait(); err != nil {
					b.Fatal(err)
				}
			}
		})
		measure(fmt.Sprintf("digest/workers=%d", w), func(b *testing.B) {
			if _, err := Digest(b.Context(), root, Options{Workers: w}); err != nil {
				b.Fatal(err)
			}
		})
	}

	// Printed, not logged: a parent benchmark's log is not shown.
	fmt.Printf("BenchmarkDigest: %d files of %d MiB, %.2f GB\n", *benchFiles, *benchFileMiB, float64(total)/1e9)
	for _, w := range []int{1, 2} {
		g, s := gbps[fmt.Sprintf("digest/workers=%d", w)], gbps[fmt.Sprintf("sha256sum/procs=%d", w)]
		if g > 0 && s > 0 {
			fmt.Printf("BenchmarkDigest: workers=%d: Digest %.2f GB/s, sha256sum ×%d %.2f GB/s, ratio %.2f\n", w, g, w, s, g/s)
		}
	}
}

// buildBenchTree writes n files of size bytes each under a new temporary
// directory (two levels deep, as datasets are) and returns it, their paths
// and their total size.
func buildBenchTree(b *testing.B, n, size int) (root string, paths []string, total int64) {
	b.Helper()
	root = b.TempDir()
	chunk := []byte(pattern(1 << 20))
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("shard-%02d", i%8), fmt.Sprintf("part-%04d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		chunk[0] = byte(i) // no two files alike
		for left := size; left > 0; left -= len(chunk) {
			if _, err := f.Write(chunk[:min(left, len(chunk))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
		total += int64(size)
	}
	return root, paths, total
}
