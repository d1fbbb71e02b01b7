// Command bench runs the engine's throughput suites.
//
//	bench speed -m MODEL [-t 2] [--prompt 128] [--gen 128] [--reps 3]
//
// prints one JSON line with prefill and decode tokens/s (best of the runs).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/bench"
	"github.com/tscale/engine/engine"
)

func main() {
	root := &cobra.Command{Use: "bench", Short: "Throughput suites for the engine", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(speedCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

func speedCmd() *cobra.Command {
	var (
		model                      string
		threads, prompt, gen, reps int
	)
	c := &cobra.Command{
		Use:   "speed -m MODEL",
		Short: "Prefill and decode tokens/s of one sequence (compare: scripts/ref/bench.mjs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" {
				return errors.New("speed: --model is required")
			}
			if prompt < 1 || gen < 2 || reps < 1 {
				return errors.New("speed: need --prompt >= 1, --gen >= 2, --reps >= 1")
			}
			e, err := engine.Open(model, engine.WithThreads(threads), engine.WithContext(prompt+gen+16), engine.WithPrefixCache(false))
			if err != nil {
				return err
			}
			defer e.Close()
			s, err := bench.Measure(context.Background(), e, prompt, gen, reps)
			if err != nil {
				return err
			}
			s.Model, s.Threads = filepath.Base(model), threads
			return json.NewEncoder(cmd.OutOrStdout()).Encode(s)
		},
	}
	f := c.Flags()
	f.StringVarP(&model, "model", "m", "", "GGUF model file")
	f.IntVarP(&threads, "threads", "t", 2, "CPU threads")
	f.IntVar(&prompt, "prompt", 128, "prompt tokens (one prefill batch)")
	f.IntVar(&gen, "gen", 128, "generated tokens")
	f.IntVar(&reps, "reps", 3, "measured runs (after one warm-up)")
	return c
}
