package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/tokenizer"
)

func infoCmd() *cobra.Command {
	var all, devices bool
	c := &cobra.Command{
		Use:   "info MODEL | info --devices",
		Long:  "Print a model's metadata; MODEL is a GGUF file or a known name (engine models), fetched when not cached.",
		Short: "Print a model's architecture, hyperparameters, tensors and tokenizer, or the GPUs",
		Args: func(cmd *cobra.Command, args []string) error {
			if devices {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if devices {
				return printDevices(cmd.OutOrStdout())
			}
			path, err := resolveModel(cmd.Context(), args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			f, err := gguf.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "file\t%s\n", f.Path)
			fmt.Fprintf(w, "gguf version\t%d\n", f.Version)
			fmt.Fprintf(w, "architecture\t%s\n", f.Arch())
			if name, ok := f.String("general.name"); ok {
				fmt.Fprintf(w, "name\t%s\n", name)
			}
			prefix := f.Arch() + "."
			for _, kv := range f.KVs {
				if strings.HasPrefix(kv.Key, prefix) || (all && !strings.HasPrefix(kv.Key, "tokenizer.ggml.")) {
					fmt.Fprintf(w, "%s\t%s\n", kv.Key, show(kv.Value))
				}
			}
			w.Flush()

			fmt.Fprintln(cmd.OutOrStdout(), "\ntokenizer")
			w = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			tm, _ := f.String("tokenizer.ggml.model")
			pre, _ := f.String("tokenizer.ggml.pre")
			fmt.Fprintf(w, "model\t%s\n", tm)
			fmt.Fprintf(w, "pre\t%s\n", pre)
			tok, terr := tokenizer.FromGGUF(f)
			if terr != nil {
				fmt.Fprintf(w, "error\t%s\n", oneLine(terr.Error()))
			} else {
				fmt.Fprintf(w, "vocab\t%d\n", tok.VocabSize())
				fmt.Fprintf(w, "bos\t%s\n", special(tok, tok.BOS()))
				fmt.Fprintf(w, "eos\t%s\n", special(tok, tok.EOS()))
				fmt.Fprintf(w, "add bos / eos\t%v / %v\n", tok.AddBOS(), tok.AddEOS())
			}
			_, hasTmpl := f.String("tokenizer.chat_template")
			fmt.Fprintf(w, "chat template\t%v\n", hasTmpl)
			w.Flush()

			fmt.Fprintln(cmd.OutOrStdout(), "\ntensors")
			w = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "name\ttype\tshape\tbytes\t")
			var total int64
			for _, t := range f.Tensors {
				fmt.Fprintf(w, "%s\t%s\t%v\t%d\t\n", t.Name, t.Type, t.Shape, t.Size)
				total += t.Size
			}
			fmt.Fprintf(w, "%d tensors\t\t\t%d\t\n", len(f.Tensors), total)
			w.Flush()
			if terr != nil {
				return errors.New("tokenizer: " + terr.Error())
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "print every metadata key (except the vocabulary arrays)")
	c.Flags().BoolVar(&devices, "devices", false, "print the NVIDIA GPUs (NVML: name, memory, utilisation, temperature, driver and CUDA version) instead of a model")
	return c
}

func special(t *tokenizer.Tokenizer, id int32) string {
	if id < 0 {
		return "none"
	}
	return fmt.Sprintf("%d %q", id, t.Piece(id))
}

// show prints a metadata value, abbreviating long arrays.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
