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
	"github.com/tscale/engine/model/synth"
)

// moeCmd: bench moe [--arch llama|gpt-oss] [--synth DIR] [--hist-model M] [-t 2] [--n 1,4,16,64] [--plot PNG]
//
// times decode of synth.MoEBenchSpec (or GPTOSSBenchSpec) at each batch
// (the model is written to --synth on first use) and prints the
// expert-load histogram of a real MoE over bench.MoEPrompts.
func moeCmd() *cobra.Command {
	var (
		dir, vocab, hist, plotPath, arch string
		threads, prompt, gen, hgen       int
		ns                               []int
	)
	c := &cobra.Command{
		Use:   "moe",
		Short: "MoE decode tokens/s at several batch sizes on a synthetic MoE, and a real MoE's expert-load histogram",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			maxN := 0
			for _, n := range ns {
				if n < 1 {
					return fmt.Errorf("moe: bad N %d", n)
				}
				maxN = max(maxN, n)
			}
			if prompt < 1 || gen < 2 || hgen < 1 {
				return errors.New("moe: need --prompt >= 1, --gen >= 2, --hist-gen >= 1")
			}
			w := cmd.OutOrStdout()
			specs := map[string]synth.Spec{"llama": synth.MoEBenchSpec(), "gpt-oss": synth.GPTOSSBenchSpec()}
			spec, ok := specs[arch]
			if !ok {
				return fmt.Errorf("moe: unknown --arch %q (llama, gpt-oss)", arch)
			}
			path := filepath.Join(dir, spec.Name+".gguf")
			if _, err := os.Stat(path); err != nil {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("moe: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "writing %s\n", path)
				if err := synth.Write(path, vocab, spec); err != nil {
					return fmt.Errorf("moe: %w", err)
				}
			}
			ctxLen := prompt + gen + 16
			e, err := engine.Open(path, engine.WithThreads(threads), engine.WithContext(ctxLen),
				engine.WithPrefixCache(false), engine.WithKVBlocks(maxN*((ctxLen+15)/16+1)))
			if err != nil {
				return err
			}
			pts, err := bench.MoEDecode(context.Background(), e, prompt, gen, ns)
			e.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s, %d threads, %d-token prompt, %d new tokens per sample\n\n", path, threads, prompt, gen)
			fmt.Fprintf(w, "| batch N | decode tok/s (all samples) | per sample | vs N=1 |\n| --- | --- | --- | --- |\n")
			for _, p := range pts {
				fmt.Fprintf(w, "| %d | %.1f | %.2f | %.2f |\n", p.N, p.DecodeTPS, p.DecodeTPS/float64(p.N), p.DecodeTPS/pts[0].DecodeTPS)
			}

			e, err = engine.Open(hist, engine.WithThreads(threads), engine.WithPrefixCache(false))
			if err != nil {
				return err
			}
			defer e.Close()
			load, err := bench.Experts(context.Background(), e, bench.MoEPrompts, hgen)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\n%s: %d prompts, %d tokens, %d experts used per token; share of routed tokens (%%)\n\n",
				filepath.Base(hist), load.Prompts, load.Tokens, load.Used)
			fmt.Fprintf(w, "| layer |")
			for ex := range load.Counts[0] {
				fmt.Fprintf(w, " expert %d |", ex)
			}
			fmt.Fprintf(w, "\n| --- |")
			for range load.Counts[0] {
				fmt.Fprintf(w, " --- |")
			}
			fmt.Fprintln(w)
			for il, row := range load.Counts {
				fmt.Fprintf(w, "| %d |", il)
				for ex, n := range row {
					fmt.Fprintf(w, " %d (%.1f) |", n, 100*load.Share(il, ex))
				}
				fmt.Fprintln(w)
			}
			if plotPath != "" {
				title := fmt.Sprintf("%s: expert load over %d prompts (%d tokens)", filepath.Base(hist), load.Prompts, load.Tokens)
				if err := bench.PlotExperts(load, title, plotPath); err != nil {
					return err
				}
			}
			return json.NewEncoder(cmd.ErrOrStderr()).Encode(struct {
				Decode []bench.MoEPoint `json:"decode"`
				Load   bench.ExpertLoad `json:"expert_load"`
			}{pts, load})
		},
	}
	f := c.Flags()
	f.StringVar(&arch, "arch", "llama", "synthetic MoE to time: llama (Mixtral-style, Q4_0) or gpt-oss (MXFP4 experts)")
	f.StringVar(&dir, "synth", filepath.Join(os.TempDir(), "engine-synth"), "folder for the synthetic MoE (written there if missing)")
	f.StringVar(&vocab, "vocab", "../shared/models/stories260K.gguf", "GGUF file whose tokenizer the synthetic MoE borrows")
	f.StringVar(&hist, "hist-model", "../shared/models/stories260K-moe4x.gguf", "real MoE for the expert-load histogram")
	f.IntVarP(&threads, "threads", "t", 2, "CPU threads")
	f.IntVar(&prompt, "prompt", 32, "prompt tokens")
	f.IntVar(&gen, "gen", 64, "new tokens per sample")
	f.IntVar(&hgen, "hist-gen", 64, "tokens generated per histogram prompt")
	f.IntSliceVar(&ns, "n", []int{1, 4, 16, 64}, "batch sizes (samples decoded together)")
	f.StringVar(&plotPath, "plot", "", "write the expert-load bar chart (PNG) here")
	return c
}
