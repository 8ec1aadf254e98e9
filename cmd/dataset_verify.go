package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/crucible-dev/crucible/internal/datasetdigest"
	"github.com/crucible-dev/crucible/internal/jobspec"
)

// datasetVerify is the verifier entry point of the operator's image,
//
//	/manager dataset verify [--report FILE] [--workers N] DIR
//
// run by an Experiment's verifier Job (jobspec.NewVerifier). It computes
// DIR's digest and writes a datasetdigest.Report to its termination message
// file, where the operator reads it; the operator, not the verifier,
// compares it with the pinned digest. It returns the exit code: 0 with a
// digest, jobspec.VerifierExitUnhashable when the tree cannot be hashed as
// it is (the Job fails at once), 1 for anything else (retried).
func datasetVerify(ctx context.Context, args []string, stderr io.Writer) int {
	fset := flag.NewFlagSet("dataset verify", flag.ContinueOnError)
	fset.SetOutput(stderr)
	report := fset.String("report", "/dev/termination-log", "File the report is written to: the container's termination message.")
	workers := fset.Int("workers", 0, "Files hashed at once; the number of CPUs when 0.")
	if err := fset.Parse(args); err != nil {
		return 1
	}
	if fset.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: manager dataset verify [--report FILE] [--workers N] DIR") //nolint:errcheck // nowhere left to report it
		return 1
	}
	res, err := datasetdigest.Digest(ctx, fset.Arg(0), datasetdigest.Options{Workers: *workers})
	msg, merr := datasetdigest.ReportOf(res, err).Marshal()
	if merr != nil {
		fmt.Fprintln(stderr, merr) //nolint:errcheck // nowhere left to report it
		return 1
	}
	if werr := os.WriteFile(*report, msg, 0o644); werr != nil { //nolint:gosec // the kubelet reads the termination message
		fmt.Fprintf(stderr, "writing the report: %v\n", werr) //nolint:errcheck // nowhere left to report it
		return 1
	}
	fmt.Fprintln(stderr, string(msg)) //nolint:errcheck // the log is only a copy
	switch {
	case err == nil:
		return 0
	case unhashable(err):
		return jobspec.VerifierExitUnhashable
	default:
		return 1
	}
}

// unhashable reports whether err says the tree cannot be hashed as it is,
// however often the verifier runs: a special file, a link out of the tree,
// a file or directory it may not read, a DIR that is not there.
func unhashable(err error) bool {
	return errors.Is(err, datasetdigest.ErrSpecialFile) || errors.Is(err, datasetdigest.ErrLink) ||
		errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist)
}
