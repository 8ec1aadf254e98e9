package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-dev/crucible/internal/provenance"
)

func newProvenanceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "provenance",
		Short: "Verify trials' provenance records, and make the key that signs them",
	}
	cmd.AddCommand(newProvenanceVerifyCommand(), newProvenanceKeygenCommand())
	return cmd
}

// verifyOptions are the flags of provenance verify.
type verifyOptions struct {
	key           string
	allowUnsigned bool
	output        string
}

func newProvenanceVerifyCommand() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a trial's provenance record against the operator's public key, and print what it says",
		Long: `Check the signature of a trial's provenance record, the first line of FILE
(a .intoto.jsonl file beside the trial's artifacts, named by the Trial's
status.provenance.uri), against the operator's ed25519 public key, and print
the inputs it records: the Experiment's spec digest, the image, the dataset
and how it was verified, the source, the trial's parameters and seed, and
its outputs: metrics and artifacts. The record must hold together as well:
the spec against its digest, the metrics against theirs.

Without --key the command refuses, unless --allow-unsigned says to read the
record without checking any signature (an operator without a signing key
writes unsigned records).`,
		Example: `  # Check a record with the operator's public key
  kubectl crucible provenance verify --key crucible.pub resnet-sweep-0a1b2c3d4e5f.provenance.intoto.jsonl

  # The same, as JSON
  kubectl crucible provenance verify --key crucible.pub -o json trial.provenance.intoto.jsonl

  # Read an unsigned record, checking no signature
  kubectl crucible provenance verify --allow-unsigned trial.provenance.intoto.jsonl`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one file, got %d arguments: kubectl crucible provenance verify FILE --key PUB.pem", len(args))
			}
			return nil
		},
		PreRunE: func(*cobra.Command, []string) error {
			if o.output != "" && o.output != "json" {
				return fmt.Errorf(`--output %q: want "json", or no --output for a summary`, o.output)
			}
			if o.key == "" && !o.allowUnsigned {
				return errors.New("pass --key PUB.pem, the operator's public key, to check the record's signature (or --allow-unsigned to read it without checking)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0])
		},
	}
	cmd.Flags().StringVar(&o.key, "key", "", "The operator's ed25519 public key, PEM (PKIX \"PUBLIC KEY\"), to check the signature with.")
	cmd.Flags().BoolVar(&o.allowUnsigned, "allow-unsigned", false, "Without --key: read the record without checking any signature.")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", `Output format: "json"; a summary if unset.`)
	return cmd
}

func (o verifyOptions) run(ctx context.Context, out, errOut io.Writer, file string) error {
	r, err := readRecord(ctx, file, o.key, errOut)
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(newRecordOutput(r))
	}
	return printRecord(out, r)
}

// readRecord reads the record in the first line of file: its signature
// checked with the public key in keyFile, or, when keyFile is empty (the
// caller made sure --allow-unsigned was given), read unchecked with a
// warning on errOut.
func readRecord(ctx context.Context, file, keyFile string, errOut io.Writer) (*provenance.Record, error) {
	line, err := firstLine(file)
	if err != nil {
		return nil, err
	}
	if keyFile == "" {
		r, err := provenance.Read(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		fmt.Fprintln(errOut, "WARNING: signature NOT CHECKED (--allow-unsigned): anyone could have written this record") //nolint:errcheck // a warning; the output follows
		return r, nil
	}
	pub, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the public key: %w", err)
	}
	r, err := provenance.Verify(ctx, line, pub)
	if err != nil {
		if _, ok := errors.AsType[*provenance.KeyError](err); ok {
			return nil, fmt.Errorf("%s: %w", keyFile, err)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return r, nil
}

// firstLine reads the first line of a file, at most
// provenance.MaxEnvelopeSize bytes of it.
func firstLine(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read only
	line, err := bufio.NewReader(io.LimitReader(f, provenance.MaxEnvelopeSize+1)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(line) > provenance.MaxEnvelopeSize {
		return nil, fmt.Errorf("%s: the first line is longer than the %d bytes a record may have", file, provenance.MaxEnvelopeSize)
	}
	if len(line) == 0 {
		return nil, fmt.Errorf("%s is empty", file)
	}
	return line, nil
}

// printRecord writes a summary of a record, one line per input.
func printRecord(out io.Writer, r *provenance.Record) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s:\t%s\n", name, value) //nolint:errcheck // Flush reports it
		}
	}
	row("signature", signature(r))
	row("provenance", r.PayloadDigest)
	row("experiment", fmt.Sprintf("%s/%s%s", r.Experiment.Namespace, r.Experiment.Name, uid(r.Experiment.UID)))
	row("spec digest", r.SpecDigest)
	row("trial", fmt.Sprintf("%s%s, index %d", r.Trial.Name, uid(r.Trial.UID), r.Index))
	row("phase", phase(r.Outcome))
	row("image", r.Image)
	if d := r.Dataset; d != nil {
		row("dataset", fmt.Sprintf("%s version %s, %s, from %s", d.Name, d.Version, d.Digest, d.URI))
		row("verification", verification(d.Verification))
	}
	if s := r.Source; s != nil {
		row("source", s.Repository+" at "+s.Commit)
	}
	params := make([]string, len(r.Parameters))
	for i, p := range r.Parameters {
		params[i] = p.Name + "=" + p.Value
	}
	row("parameters", strings.Join(params, " "))
	row("seed", strconv.FormatInt(r.Seed, 10))
	metrics := make([]string, 0, len(r.Metrics))
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		metrics = append(metrics, k+"="+r.Metrics[k])
	}
	row("metrics", strings.Join(metrics, " "))
	if a := r.Artifacts; a != nil {
		row("artifacts", a.URI)
		details := []string{}
		if a.ManifestDigest != "" {
			details = append(details, a.ManifestDigest)
		}
		if a.Objects != nil {
			details = append(details, fmt.Sprintf("%d objects", *a.Objects))
		}
		if a.Bytes != nil {
			details = append(details, fmt.Sprintf("%d bytes", *a.Bytes))
		}
		row("manifest", strings.Join(details, ", "))
	}
	row("builder", strings.TrimSpace(r.Builder.ID+" "+r.Builder.Version))
	row("node", node(r.Run))
	if r.Run.ExitCode != nil {
		row("exit code", strconv.Itoa(int(*r.Run.ExitCode)))
	}
	row("started", rfc3339(r.StartedOn))
	row("finished", rfc3339(r.FinishedOn))
	if !r.Verified {
		row("signature", signature(r))
	}
	return w.Flush()
}

// signature says whether the record's signature was checked.
func signature(r *provenance.Record) string {
	switch {
	case r.Verified:
		return "verified, key " + r.KeyID
	case r.Signed:
		return "NOT CHECKED (signed by key " + r.KeyID + "; pass --key to check it)"
	}
	return "NOT CHECKED (the record is unsigned)"
}

func uid(u string) string {
	if u == "" {
		return ""
	}
	return " (uid " + u + ")"
}

func phase(o provenance.Outcome) string {
	s := string(o.Phase)
	switch {
	case o.Reason != "" && o.Message != "":
		s += " (" + o.Reason + ": " + o.Message + ")"
	case o.Reason != "":
		s += " (" + o.Reason + ")"
	}
	return s
}

func verification(v provenance.Verification) string {
	s := string(v.Policy)
	if v.Status != "" {
		s += ", " + v.Status
	}
	if v.Time != nil {
		s += " at " + rfc3339(v.Time)
	}
	if v.Message != "" {
		s += ": " + v.Message
	}
	return s
}

func node(r provenance.Run) string {
	var details []string
	for _, d := range []string{r.InstanceType, r.GPU} {
		if d != "" {
			details = append(details, d)
		}
	}
	if len(details) == 0 {
		return r.NodeName
	}
	return strings.TrimSpace(r.NodeName + " (" + strings.Join(details, ", ") + ")")
}

func rfc3339(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// recordOutput is what -o json prints.
type recordOutput struct {
	Signature        signatureOutput   `json:"signature"`
	ProvenanceDigest string            `json:"provenanceDigest"`
	Experiment       objectOutput      `json:"experiment"`
	SpecDigest       string            `json:"specDigest"`
	Trial            trialOutput       `json:"trial"`
	Image            string            `json:"image"`
	Dataset          *datasetOutput    `json:"dataset,omitempty"`
	Source           *sourceOutput     `json:"source,omitempty"`
	Metrics          map[string]string `json:"metrics"`
	Artifacts        *artifactsOutput  `json:"artifacts,omitempty"`
	Builder          builderOutput     `json:"builder"`
	Run              runOutput         `json:"run"`
	StartedOn        string            `json:"startedOn,omitempty"`
	FinishedOn       string            `json:"finishedOn,omitempty"`
}

type signatureOutput struct {
	// Checked is true when the signature was verified with --key.
	Checked bool   `json:"checked"`
	Signed  bool   `json:"signed"`
	KeyID   string `json:"keyID,omitempty"`
}

type objectOutput struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

type trialOutput struct {
	Name       string            `json:"name"`
	UID        string            `json:"uid,omitempty"`
	Index      int64             `json:"index"`
	Seed       int64             `json:"seed"`
	Parameters []parameterOutput `json:"parameters"`
	Phase      string            `json:"phase,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Message    string            `json:"message,omitempty"`
}

type parameterOutput struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type datasetOutput struct {
	Name         string             `json:"name"`
	Version      string             `json:"version"`
	URI          string             `json:"uri"`
	Digest       string             `json:"digest"`
	MountPath    string             `json:"mountPath,omitempty"`
	Verification verificationOutput `json:"verification"`
}

type verificationOutput struct {
	Policy  string `json:"policy"`
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Time    string `json:"time,omitempty"`
}

type sourceOutput struct {
	Repository string `json:"repository"`
	Commit     string `json:"commit"`
}

type artifactsOutput struct {
	URI            string `json:"uri"`
	ManifestDigest string `json:"manifestDigest,omitempty"`
	Objects        *int64 `json:"objects,omitempty"`
	Bytes          *int64 `json:"bytes,omitempty"`
}

type builderOutput struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
}

type runOutput struct {
	Node         string `json:"node,omitempty"`
	GPU          string `json:"gpu,omitempty"`
	InstanceType string `json:"instanceType,omitempty"`
	JobUID       string `json:"jobUID,omitempty"`
	PodUID       string `json:"podUID,omitempty"`
	ExitCode     *int32 `json:"exitCode,omitempty"`
}

func newRecordOutput(r *provenance.Record) recordOutput {
	o := recordOutput{
		Signature:        signatureOutput{Checked: r.Verified, Signed: r.Signed, KeyID: r.KeyID},
		ProvenanceDigest: r.PayloadDigest,
		Experiment:       objectOutput(r.Experiment),
		SpecDigest:       r.SpecDigest,
		Trial: trialOutput{
			Name:       r.Trial.Name,
			UID:        r.Trial.UID,
			Index:      r.Index,
			Seed:       r.Seed,
			Parameters: []parameterOutput{},
			Phase:      string(r.Outcome.Phase),
			Reason:     r.Outcome.Reason,
			Message:    r.Outcome.Message,
		},
		Image:      r.Image,
		Metrics:    r.Metrics,
		Builder:    builderOutput(r.Builder),
		Run:        runOutput{Node: r.Run.NodeName, GPU: r.Run.GPU, InstanceType: r.Run.InstanceType, JobUID: r.Run.JobUID, PodUID: r.Run.PodUID, ExitCode: r.Run.ExitCode},
		StartedOn:  rfc3339(r.StartedOn),
		FinishedOn: rfc3339(r.FinishedOn),
	}
	for _, p := range r.Parameters {
		o.Trial.Parameters = append(o.Trial.Parameters, parameterOutput(p))
	}
	if d := r.Dataset; d != nil {
		o.Dataset = &datasetOutput{
			Name: d.Name, Version: d.Version, URI: d.URI, Digest: d.Digest, MountPath: d.MountPath,
			Verification: verificationOutput{
				Policy:  string(d.Verification.Policy),
				Status:  d.Verification.Status,
				Message: d.Verification.Message,
				Time:    rfc3339(d.Verification.Time),
			},
		}
	}
	if s := r.Source; s != nil {
		o.Source = &sourceOutput{Repository: s.Repository, Commit: s.Commit}
	}
	if a := r.Artifacts; a != nil {
		o.Artifacts = &artifactsOutput{URI: a.URI, ManifestDigest: a.ManifestDigest, Objects: a.Objects, Bytes: a.Bytes}
	}
	return o
}

// keygenOptions are the flags of provenance keygen.
type keygenOptions struct {
	private string
	public  string
}

func newProvenanceKeygenCommand() *cobra.Command {
	var o keygenOptions
	cmd := &cobra.Command{
		Use:   "keygen --private FILE --public FILE",
		Short: "Make an ed25519 key pair to sign trials' provenance with",
		Long: `Make a new ed25519 key pair, as PEM: the private key (PKCS #8, mode 0600),
which the operator signs trials' provenance with, and the public key (PKIX),
which "provenance verify --key" checks records with. Existing files are never
overwritten. The same keys as "openssl genpkey -algorithm ed25519" and
"openssl pkey -pubout".`,
		Example: `  kubectl crucible provenance keygen --private crucible.key --public crucible.pub`,
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if o.private == "" || o.public == "" {
				return errors.New("pass --private FILE and --public FILE: where to write the two keys")
			}
			if filepath.Clean(o.private) == filepath.Clean(o.public) {
				return errors.New("--private and --public name the same file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.private, "private", "", "Where to write the private key (mode 0600). Must not exist.")
	cmd.Flags().StringVar(&o.public, "public", "", "Where to write the public key. Must not exist.")
	return cmd
}

func (o keygenOptions) run(out io.Writer) error {
	privPEM, pubPEM, err := provenance.GenerateKey()
	if err != nil {
		return err
	}
	signer, err := provenance.LoadSigner(privPEM)
	if err != nil {
		return err
	}
	// Create both files before writing either, so that a refusal leaves
	// nothing behind.
	priv, err := os.OpenFile(o.private, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w: keygen never overwrites a key", err)
	}
	pub, err := os.OpenFile(o.public, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		priv.Close()         //nolint:errcheck // removed next
		os.Remove(o.private) //nolint:errcheck // best effort: it is empty
		return fmt.Errorf("%w: keygen never overwrites a key", err)
	}
	if err := errors.Join(writeClose(priv, privPEM), writeClose(pub, pubPEM)); err != nil {
		os.Remove(o.private) //nolint:errcheck // best effort, after a failed write
		os.Remove(o.public)  //nolint:errcheck // best effort, after a failed write
		return fmt.Errorf("writing the keys: %w", err)
	}
	_, err = fmt.Fprintf(out, "private key: %s (keep it secret)\npublic key:  %s\nkey ID:      %s\n", o.private, o.public, signer.KeyID())
	return err
}

func writeClose(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		f.Close() //nolint:errcheck // the write error is the one to report
		return err
	}
	return f.Close()
}
