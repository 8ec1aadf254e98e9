// Command searchquality prints the quality benchmark of package search as
// the markdown table of docs/search.md: for each sampler and test function,
// the median and quartiles over 30 seeds of the best value after 25, 50 and
// 100 evaluations.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/crucible-dev/crucible/internal/search/quality"
)

func main() {
	seeds := flag.Int("seeds", quality.Seeds, "number of seeds, 0 to seeds-1")
	flag.Parse()
	if err := run(*seeds); err != nil {
		fmt.Fprintln(os.Stderr, "searchquality:", err)
		os.Exit(1)
	}
}

// run prints the table for seeds seeds.
func run(seeds int) error {
	if seeds < 1 {
		return fmt.Errorf("-seeds is %d, want at least 1", seeds)
	}
	rows, err := quality.Table(quality.Problems(), quality.Samplers(), seeds, quality.Checkpoints)
	if err != nil {
		return err
	}
	return quality.Markdown(os.Stdout, rows)
}
