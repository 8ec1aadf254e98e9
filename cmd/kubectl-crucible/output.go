package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

// Output formats of the listing and showing verbs.
const (
	outputTable = "table"
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

var outputFormats = []string{outputTable, outputWide, outputJSON, outputYAML}

// addOutputFlag adds -o/--output to cmd, table by default.
func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", outputTable, "Output format: table, wide (more columns), json or yaml.")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
}

// checkOutput refuses an unknown -o.
func checkOutput(output string) error {
	if !slices.Contains(outputFormats, output) {
		return fmt.Errorf("--output %q: want one of %s", output, strings.Join(outputFormats, ", "))
	}
	return nil
}

// printObject writes v as indented JSON or as YAML.
func printObject(out io.Writer, format string, v any) error {
	var (
		b   []byte
		err error
	)
	if format == outputJSON {
		b, err = json.MarshalIndent(v, "", "    ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	_, err = out.Write(b)
	return err
}

// listWriter writes a kind: List of objects as kubectl get -o json|yaml
// does, one object at a time, so a list of 100,000 trials is never in
// memory at once.
type listWriter struct {
	out    io.Writer
	format string
	n      int
}

// add writes one item of the list.
func (w *listWriter) add(v any) error {
	if w.format == outputJSON {
		b, err := json.MarshalIndent(v, "        ", "    ")
		if err != nil {
			return fmt.Errorf("encoding the output: %w", err)
		}
		sep := ",\n        "
		if w.n == 0 {
			sep = "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"List\",\n    \"items\": [\n        "
		}
		w.n++
		_, err = fmt.Fprintf(w.out, "%s%s", sep, b)
		return err
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	var buf bytes.Buffer
	if w.n == 0 {
		buf.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	}
	w.n++
	for i, line := range strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n") {
		if i == 0 {
			buf.WriteString("- ")
		} else {
			buf.WriteString("  ")
		}
		buf.WriteString(line)
	}
	buf.WriteString("\n")
	_, err = w.out.Write(buf.Bytes())
	return err
}

// close ends the list.
func (w *listWriter) close() error {
	var end string
	switch {
	case w.format == outputJSON && w.n == 0:
		end = "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"List\",\n    \"items\": []\n}\n"
	case w.format == outputJSON:
		end = "\n    ]\n}\n"
	case w.n == 0:
		end = "apiVersion: v1\nkind: List\nitems: []\n"
	}
	_, err := io.WriteString(w.out, end)
	return err
}

// columns prints a table a page of rows at a time with the columns lined
// up across pages: a column is as wide as its widest cell so far, and
// only ever grows. The last column is not padded.
type columns struct {
	out    io.Writer
	header []string
	widths []int
	// printed is whether the header is out.
	printed bool
}

func newColumns(out io.Writer, header ...string) *columns {
	return &columns{out: out, header: header, widths: make([]int, len(header))}
}

// page prints rows, with the header before the first page.
func (c *columns) page(rows [][]string) error {
	for _, r := range append([][]string{c.header}, rows...) {
		for i, cell := range r {
			c.widths[i] = max(c.widths[i], len(cell))
		}
	}
	var buf bytes.Buffer
	if !c.printed {
		c.line(&buf, c.header)
		c.printed = true
	}
	for _, r := range rows {
		c.line(&buf, r)
	}
	_, err := c.out.Write(buf.Bytes())
	return err
}

func (c *columns) line(buf *bytes.Buffer, cells []string) {
	for i, cell := range cells {
		buf.WriteString(cell)
		if i < len(cells)-1 {
			buf.WriteString(strings.Repeat(" ", c.widths[i]-len(cell)+3))
		}
	}
	buf.WriteString("\n")
}

// age is how long ago t was, as kubectl get writes it; "<unknown>" for
// no time.
func age(now time.Time, t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// oneLine puts a note on one line and cuts it at n characters, for a
// table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}
