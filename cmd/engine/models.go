package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/registry"
	"github.com/tscale/engine/model/tokenizer"
)

// resolveModel turns -m's argument into a GGUF path: a path stays, a
// known name (engine models) is fetched into the cache when missing, with
// progress on stderr.
func resolveModel(ctx context.Context, arg string, stderr io.Writer) (string, error) {
	return registry.Resolve(ctx, arg, stderr)
}

// checkModel does the part of loading that fails on a wrong file, fast:
// the GGUF header and tensor table, the tokenizer, and the model built
// over a CPU backend, which checks every tensor's presence, type and shape
// against the metadata while using the mapped bytes in place (only 1-D
// tensors are read). The device backend is not opened: that is the load.
func checkModel(path string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := tokenizer.FromGGUF(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := model.Load(f, cpu.New(1)); err != nil {
		return err
	}
	return nil
}

func modelsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "models",
		Short: "List the models known by name (for -m NAME), their sizes and which are in the cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := registry.CacheDir()
			if err != nil {
				return err
			}
			f := &registry.Fetcher{Dir: dir}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSIZE\tCACHED\tABOUT")
			for _, m := range registry.Known() {
				cached := "no"
				if f.Cached(&m) {
					cached = f.Path(&m)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.Name, megabytes(m.Size()), cached, m.About)
			}
			w.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "\ncache: %s ($ENGINE_CACHE/models); -m NAME downloads a model not yet cached\n", dir)
			return nil
		},
	}
}

func pullCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pull NAME",
		Short: "Download a known model into the cache (sha256-checked) and print its path",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := registry.Lookup(args[0])
			if err != nil {
				return err
			}
			f, err := registry.New(cmd.ErrOrStderr(), registry.IsTerminal(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			p, err := f.Fetch(ctx, m)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), p)
			return nil
		},
	}
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
