package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/model/harmony"
)

const chatHelp = `Commands:
  /clear   forget the conversation (the system message stays)
  /bye     exit (so does end of input)
  /?       this help`

func chatCmd() *cobra.Command {
	var (
		modelPath, system, format, effort string
		tmplPath                          string
		n, topK, threads, ctxSize         int
		temp, topP, minP                  float32
		seed                              uint64
		greedy, stats                     bool
	)
	c := &cobra.Command{
		Use:   "chat -m MODEL",
		Short: "Chat with a model in the terminal, turn by turn (like ollama run)",
		Long: `Chat with a model: each line read from stdin is a user message, the
answer streams to stdout, and the conversation is kept from turn to turn
(rendered with the model's chat template, or harmony for gpt-oss, whose
reasoning goes to stderr). /clear forgets it, /bye or end of input exits.

` + chatHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return errors.New("chat: --model is required")
			}
			if n < 0 || temp < 0 || topP < 0 || topP > 1 || minP < 0 || minP > 1 || topK < 0 {
				return errors.New("chat: need -n >= 0, --temp >= 0, 0 <= --top-p <= 1, 0 <= --min-p <= 1, --top-k >= 0")
			}
			fm, ok := chatFormats[format]
			if !ok {
				return fmt.Errorf("chat: unknown --chat-format %q (auto, jinja, harmony)", format)
			}
			if effort != "" && !harmony.ValidEffort(effort) {
				return fmt.Errorf("chat: --reasoning-effort must be low, medium or high, got %q", effort)
			}
			src, err := readTemplate(tmplPath)
			if err != nil {
				return fmt.Errorf("chat: %w", err)
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
			f, err := chat.New(e, fm, src)
			if err != nil {
				return fmt.Errorf("chat: %w", err)
			}
			s := &session{e: e, f: f, effort: effort, n: n, seed: seed, stats: stats,
				out: cmd.OutOrStdout(), errw: cmd.ErrOrStderr()}
			if !greedy {
				s.base.Sampling.Temperature, s.base.Sampling.TopK, s.base.Sampling.TopP, s.base.Sampling.MinP = temp, topK, topP, minP
			}
			if system != "" {
				s.system = []chat.Message{{Role: "system", Content: system}}
			}
			in := cmd.InOrStdin()
			return s.loop(cmd.Context(), in, isTerminalReader(in))
		},
	}
	fl := c.Flags()
	fl.StringVarP(&modelPath, "model", "m", "", "GGUF model file, or a known name (engine models)")
	fl.StringVar(&system, "system", "", "a system message that starts the conversation")
	fl.StringVar(&format, "chat-format", "auto", "auto, jinja or harmony")
	fl.StringVar(&tmplPath, "chat-template", "", "a Jinja chat template `FILE` used instead of the GGUF's")
	fl.StringVar(&effort, "reasoning-effort", "", "low, medium or high (harmony's system message; a template variable otherwise)")
	fl.IntVarP(&n, "n-predict", "n", 0, "tokens per answer at most (0 = up to the end of the context)")
	fl.Float32Var(&temp, "temp", 0.8, "sampling temperature (0 = greedy)")
	fl.IntVar(&topK, "top-k", 40, "top-k sampling (0 = off)")
	fl.Float32Var(&topP, "top-p", 0.95, "top-p (nucleus) sampling (1 = off)")
	fl.Float32Var(&minP, "min-p", 0.05, "min-p sampling (0 = off)")
	fl.Uint64Var(&seed, "seed", 0, "random seed")
	fl.BoolVar(&greedy, "greedy", false, "greedy decoding (overrides the sampling flags)")
	fl.IntVarP(&threads, "threads", "t", 0, "CPU threads (0 = all)")
	fl.IntVarP(&ctxSize, "ctx-size", "c", 0, "context size in tokens (0 = model default)")
	fl.BoolVar(&stats, "stats", false, "print each turn's token counts and speed to stderr")
	deviceFlag(c)
	return c
}

// session is one terminal conversation.
type session struct {
	e         *engine.Engine
	f         *chat.Formatter
	system    []chat.Message
	msgs      []chat.Message // the turns so far, after the system message
	effort    string
	n         int
	seed      uint64
	base      engine.Request // the sampling options
	stats     bool
	out, errw io.Writer
}

func (s *session) loop(ctx context.Context, in io.Reader, prompt bool) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		if prompt {
			fmt.Fprint(s.out, ">>> ")
		}
		if !sc.Scan() {
			if prompt {
				fmt.Fprintln(s.out)
			}
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case line == "/bye":
			return nil
		case line == "/clear":
			s.msgs = nil
			fmt.Fprintln(s.errw, "Cleared the conversation.")
			continue
		case line == "/?" || line == "/help":
			fmt.Fprintln(s.errw, chatHelp)
			continue
		case strings.HasPrefix(line, "/") && !strings.Contains(line, " "):
			fmt.Fprintf(s.errw, "Unknown command %s; /? lists them.\n", line)
			continue
		}
		if err := s.turn(ctx, line); err != nil {
			if ctx.Err() != nil {
				return err
			}
			fmt.Fprintf(s.errw, "error: %s\n", oneLine(err.Error()))
		}
	}
}

// turn answers one user message; on an error the message is forgotten.
func (s *session) turn(ctx context.Context, text string) error {
	msgs := append(append(s.system[:len(s.system):len(s.system)], s.msgs...), chat.Message{Role: "user", Content: text})
	c, err := s.f.Render(ctx, s.e.Tokenizer(), &chat.Request{Messages: msgs, Effort: s.effort, Date: time.Now().UTC().Format(time.DateOnly)})
	if err != nil {
		return err
	}
	room := s.e.Context() - len(c.Prompt)
	if room < 1 {
		return fmt.Errorf("the conversation (%d tokens) fills the context of %d tokens; /clear starts again", len(c.Prompt), s.e.Context())
	}
	req := s.base
	req.Prompt, req.StopTokens, req.Seed, req.MaxTokens = c.Prompt, c.Stops, s.seed, room
	if s.n > 0 {
		req.MaxTokens = min(s.n, room)
	}
	var reply strings.Builder
	out := bufio.NewWriter(io.MultiWriter(s.out, &reply))
	emit := func(t string) error {
		fmt.Fprint(out, t)
		return out.Flush()
	}
	if c.Harmony {
		emit = harmonyPrinter(out, s.errw) // the answer only goes to reply
	}
	// Ctrl-C stops this answer, not the chat.
	gctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	start := time.Now()
	res, err := s.e.Generate(gctx, req, func(ev engine.Event) error { return emit(ev.Text) })
	if c.Harmony {
		emit("")
	}
	fmt.Fprintln(s.out)
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() == nil) {
		return err
	}
	if s.stats && res != nil {
		d := time.Since(start)
		gen := len(res.Samples[0].Tokens)
		fmt.Fprintf(s.errw, "%d prompt tokens, %d generated in %.2fs (%.1f tokens/s)\n", len(c.Prompt), gen, d.Seconds(), float64(gen)/d.Seconds())
	}
	s.msgs = append(msgs[len(s.system):], chat.Message{Role: "assistant", Content: strings.TrimSpace(reply.String())})
	return nil
}

// isTerminalReader tells whether r is a terminal (then the chat prompts).
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
