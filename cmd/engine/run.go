package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/tokenizer"
	"github.com/tscale/engine/server"
)

func runCmd() *cobra.Command {
	var (
		modelPath, prompt string
		n, topK, threads  int
		ctxSize           int
		temp, topP, minP  float32
		seed              uint64
		greedy, stats     bool
		st                strategyFlags
		ch                chatFlags
	)
	c := &cobra.Command{
		Use:   "run -m MODEL -p PROMPT",
		Short: "Generate text from a prompt, streaming tokens to stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return errors.New("run: --model is required")
			}
			if n < 0 {
				return fmt.Errorf("run: -n must be >= 0, got %d", n)
			}
			if temp < 0 || topP < 0 || topP > 1 || minP < 0 || minP > 1 || topK < 0 {
				return errors.New("run: need --temp >= 0, 0 <= --top-p <= 1, 0 <= --min-p <= 1, --top-k >= 0")
			}
			if err := st.check(cmd); err != nil {
				return err
			}
			if err := ch.check(); err != nil {
				return err
			}
			path, err := resolveModel(cmd.Context(), modelPath, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			e, err := openEngine(path, threads, ctxSize)
			if err != nil {
				return err
			}
			defer e.Close()
			ids := e.Tokenizer().Encode(prompt, tokenizer.AddSpecial, tokenizer.ParseSpecial)
			var chat *server.Chat
			if ch.on {
				if chat, err = ch.render(e, prompt); err != nil {
					return err
				}
				ids, prompt = chat.Prompt, "" // print the reply only
			}
			req := engine.Request{Prompt: ids, MaxTokens: n, Seed: seed}
			if chat != nil {
				req.StopTokens = chat.Stops
			}
			if !greedy {
				req.Sampling.Temperature, req.Sampling.TopK, req.Sampling.TopP, req.Sampling.MinP = temp, topK, topP, minP
			}
			if n == 0 || len(ids)+n > e.Context() {
				req.MaxTokens = e.Context() - len(ids)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			out := bufio.NewWriter(cmd.OutOrStdout())
			if st.samples > 1 || st.strategy != "" {
				defer out.Flush()
				return st.run(ctx, out, e, prompt, req, threads, ctxSize)
			}
			start := time.Now()
			fmt.Fprint(out, prompt)
			out.Flush()
			emit := func(text string) error {
				fmt.Fprint(out, text)
				return out.Flush()
			}
			if chat != nil && chat.Harmony {
				emit = harmonyPrinter(out, cmd.ErrOrStderr())
			}
			res, err := e.Generate(ctx, req, func(ev engine.Event) error { return emit(ev.Text) })
			if chat != nil && chat.Harmony {
				emit("") // flush what the parser held back
			}
			var gen []int32
			if res != nil {
				gen = res.Samples[0].Tokens
			}
			fmt.Fprintln(out)
			out.Flush()
			if stats {
				d := time.Since(start)
				fmt.Fprintf(cmd.ErrOrStderr(), "%d prompt tokens, %d generated in %.2fs (%.1f tokens/s)\n",
					len(ids), len(gen), d.Seconds(), float64(len(gen))/d.Seconds())
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVarP(&modelPath, "model", "m", "", "GGUF model file, or a known name (engine models)")
	f.StringVarP(&prompt, "prompt", "p", "", "prompt text")
	f.IntVarP(&n, "n-predict", "n", 128, "maximum tokens to generate")
	f.Float32Var(&temp, "temp", 0.8, "sampling temperature (0 = greedy)")
	f.IntVar(&topK, "top-k", 40, "top-k sampling (0 = off)")
	f.Float32Var(&topP, "top-p", 0.95, "top-p (nucleus) sampling (1 = off)")
	f.Float32Var(&minP, "min-p", 0.05, "min-p sampling (0 = off)")
	f.Uint64Var(&seed, "seed", 0, "random seed")
	f.BoolVar(&greedy, "greedy", false, "greedy decoding (overrides the sampling flags)")
	f.IntVarP(&threads, "threads", "t", 0, "CPU threads (0 = all)")
	f.IntVarP(&ctxSize, "ctx-size", "c", 0, "context size in tokens (0 = the model's trained length, or the most the KV budget holds)")
	f.BoolVar(&stats, "stats", false, "print timing to stderr")
	st.flags(c)
	ch.flags(c)
	deviceFlag(c)
	return c
}

// openEngine loads a model, with a progress bar on a terminal for big files.
func openEngine(path string, threads, ctxSize int) (*engine.Engine, error) {
	opts := []engine.Option{engine.WithThreads(threads), engine.WithContext(ctxSize), withDevice()}
	if st, err := os.Stat(path); err == nil && st.Size() > 64<<20 && term.IsTerminal(int(os.Stderr.Fd())) {
		bar := progressbar.DefaultBytes(st.Size(), "loading")
		opts = append(opts, engine.WithProgress(func(done, total int64) {
			bar.ChangeMax64(total)
			bar.Set64(done)
		}))
		defer bar.Finish()
	}
	return engine.Open(path, opts...)
}
