package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/crucible-dev/crucible/internal/datasetdigest"
)

func newDatasetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Work with datasets",
	}
	cmd.AddCommand(newDatasetDigestCommand())
	return cmd
}

// digestOptions are the flags of dataset digest.
type digestOptions struct {
	output  string
	workers int
}

// digestOutput is what -o json prints.
type digestOutput struct {
	Digest   string `json:"digest"`
	Files    int64  `json:"files"`
	Symlinks int64  `json:"symlinks"`
	Bytes    int64  `json:"bytes"`
}

func newDatasetDigestCommand() *cobra.Command {
	var o digestOptions
	cmd := &cobra.Command{
		Use:   "digest DIR",
		Short: "Print the content digest of a directory tree, for an Experiment's spec.dataset.digest",
		Long: `Print the content digest of the directory tree DIR: sha256 over the path,
size and sha256 of every regular file and the target of every symbolic link,
in the order of their paths. File modes, times and empty directories do not
count. Special files (devices, pipes, sockets), and links that lead outside
DIR or nowhere, are refused. The package documentation of
internal/datasetdigest defines it byte for byte.`,
		Example: `  # The digest to pin in spec.dataset.digest
  kubectl crucible dataset digest /mnt/datasets/cifar10/2024-05-01

  # With the number of files and bytes it covers
  kubectl crucible dataset digest -o json ./cifar10`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one directory, got %d arguments: kubectl crucible dataset digest DIR", len(args))
			}
			return nil
		},
		PreRunE: func(*cobra.Command, []string) error {
			if o.output != "" && o.output != "json" {
				return fmt.Errorf(`--output %q: want "json", or no --output for the digest alone`, o.output)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", `Output format: "json" for the digest, files, symlinks and bytes; the digest alone if unset.`)
	cmd.Flags().IntVar(&o.workers, "workers", 0, "Files hashed at once (0: one per CPU).")
	return cmd
}

func (o digestOptions) run(ctx context.Context, out io.Writer, dir string) error {
	r, err := datasetdigest.Digest(ctx, dir, datasetdigest.Options{Workers: o.workers})
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(digestOutput{Digest: r.Digest, Files: r.Files, Symlinks: r.Symlinks, Bytes: r.Bytes})
	}
	_, err = fmt.Fprintln(out, r.Digest)
	return err
}
