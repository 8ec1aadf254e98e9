package datasetdigest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// Report is what the in-cluster verifier writes to its termination message
// and the operator reads back: the digest it found, or why it found none.
// It is one JSON object, far below the kubelet's 4 KiB bound on a
// termination message.
type Report struct {
	// Digest is "sha256:<64 hex>", empty when Error is set.
	Digest string `json:"digest,omitempty"`
	// Files, Symlinks and Bytes count what was hashed.
	Files    int64 `json:"files,omitempty"`
	Symlinks int64 `json:"symlinks,omitempty"`
	Bytes    int64 `json:"bytes,omitempty"`
	// Error says why the tree could not be hashed.
	Error string `json:"error,omitempty"`
}

// maxReportError bounds Error, so that a Report always fits a termination
// message.
const maxReportError = 2048

// ReportOf is the Report of a Digest call's result.
func ReportOf(r Result, err error) Report {
	if err != nil {
		msg := err.Error()
		if len(msg) > maxReportError {
			msg = msg[:maxReportError] + "…"
		}
		return Report{Error: msg}
	}
	return Report{Digest: r.Digest, Files: r.Files, Symlinks: r.Symlinks, Bytes: r.Bytes}
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ParseReport reads a Report from a verifier's termination message. The
// message comes from a Pod, which anyone able to run one in the namespace
// can imitate: a Report must be exactly one JSON object with either a
// well-formed digest or an error.
func ParseReport(msg []byte) (Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("the verifier's report is not a JSON object of digest, files, symlinks, bytes and error: %w", err)
	}
	if dec.More() {
		return Report{}, errors.New("the verifier's report has more than one JSON value")
	}
	switch {
	case r.Error != "" && r.Digest != "":
		return Report{}, errors.New("the verifier's report has both a digest and an error")
	case r.Error == "" && !digestPattern.MatchString(r.Digest):
		return Report{}, fmt.Errorf("the verifier's report has no digest of the form sha256:<64 hex digits>: %q", r.Digest)
	case r.Files < 0 || r.Symlinks < 0 || r.Bytes < 0:
		return Report{}, errors.New("the verifier's report has negative counts")
	}
	return r, nil
}

// Marshal encodes the Report as the verifier writes it.
func (r Report) Marshal() ([]byte, error) { return json.Marshal(r) }
