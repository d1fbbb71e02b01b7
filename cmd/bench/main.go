// Command bench runs the engine's throughput suites.
//
//	bench speed -m MODEL [-t 2] [--prompt 128] [--gen 128] [--reps 3]
//
// prints one JSON line with prefill and decode tokens/s (best of the runs).
//
//	bench tts -m MODEL --tasks FILE.jsonl|gen:KIND:LEVEL [--n 1,2,4] [--out DIR]
//
// measures accuracy against compute for the test-time strategies.
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
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/registry"
)

func main() {
	root := &cobra.Command{Use: "bench", Short: "Throughput suites for the engine", SilenceUsage: true, SilenceErrors: true,
		PersistentPreRunE: resolveModelFlag}
	root.AddCommand(speedCmd(), parallelCmd(), serveCmd())
	root.AddCommand(moeCmd())
	root.AddCommand(ttsCmd(), tasksCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

// resolveModelFlag lets every suite's -m take a known name (engine
// models), fetched into the cache when missing, as well as a path.
func resolveModelFlag(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags().Lookup("model")
	if fl == nil || fl.Value.String() == "" {
		return nil
	}
	p, err := registry.Resolve(cmd.Context(), fl.Value.String(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	return fl.Value.Set(p)
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
			e, err := engine.Open(model, engine.WithThreads(threads), engine.WithContext(prompt+gen+16), engine.WithPrefixCache(false), withDevice())
			if err != nil {
				return err
			}
			defer e.Close()
			g0, gpu := gpuStats(e)
			s, err := bench.Measure(context.Background(), e, prompt, gen, reps)
			if err != nil {
				return err
			}
			if gpu {
				g1, _ := gpuStats(e)
				printGPU(cmd.ErrOrStderr(), e.Backend().Name(), g0, g1)
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
	deviceFlag(c)
	return c
}

func parallelCmd() *cobra.Command {
	var (
		model, plotPath            string
		threads, prompt, gen, seed int
		ns                         []int
		temp                       float32
	)
	c := &cobra.Command{
		Use:   "parallel -m MODEL",
		Short: "Aggregate tokens/s and KV bytes per sample for N samples of one prompt, shared vs separate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" {
				return errors.New("parallel: --model is required")
			}
			maxN := 0
			for _, n := range ns {
				if n < 1 {
					return fmt.Errorf("parallel: bad N %d", n)
				}
				maxN = max(maxN, n)
			}
			ctxLen := prompt + gen + 16
			// Room for maxN unshared sequences, so separate runs never preempt.
			blocks := maxN * ((ctxLen+15)/16 + 1)
			e, err := engine.Open(model, engine.WithThreads(threads), engine.WithContext(ctxLen),
				engine.WithPrefixCache(false), engine.WithKVBlocks(blocks), withDevice())
			if err != nil {
				return err
			}
			defer e.Close()
			pts, err := bench.Parallel(context.Background(), e, bench.ParallelConfig{
				Prompt: prompt, Gen: gen, Ns: ns,
				Sampling: sample.Params{Temperature: temp, TopK: 40, TopP: 0.95},
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "| N | shared tok/s | separate tok/s | shared / separate | shared vs N=1 | KV bytes/sample shared | KV bytes/sample separate |\n")
			fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- | --- |\n")
			for _, p := range pts {
				fmt.Fprintf(w, "| %d | %.1f | %.1f | %.2f | %.2f | %d | %d |\n", p.N, p.SharedTPS, p.SeparateTPS,
					p.SharedTPS/p.SeparateTPS, p.SharedTPS/pts[0].SharedTPS, p.SharedKVBytes, p.SeparateKVBytes)
			}
			if plotPath != "" {
				title := fmt.Sprintf("%s, %d threads, %d-token prompt, %d new tokens", filepath.Base(model), threads, prompt, gen)
				if err := bench.PlotParallel(pts, title, plotPath); err != nil {
					return err
				}
			}
			return json.NewEncoder(cmd.ErrOrStderr()).Encode(pts)
		},
	}
	f := c.Flags()
	f.StringVarP(&model, "model", "m", "", "GGUF model file")
	f.IntVarP(&threads, "threads", "t", 2, "CPU threads")
	f.IntVar(&prompt, "prompt", 256, "prompt tokens")
	f.IntVar(&gen, "gen", 128, "new tokens per sample")
	f.IntSliceVar(&ns, "n", []int{1, 4, 16, 64}, "sample counts")
	f.Float32Var(&temp, "temp", 0.8, "sampling temperature")
	f.IntVar(&seed, "seed", 0, "seed")
	f.StringVar(&plotPath, "plot", "", "write a PNG plot here")
	deviceFlag(c)
	return c
}
