package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/tokenizer"
)

func tokenizeCmd() *cobra.Command {
	var (
		modelPath   string
		asJSON, raw bool
		noSpecial   bool
	)
	c := &cobra.Command{
		Use:   "tokenize -m MODEL TEXT",
		Short: "Print the token ids of TEXT (with BOS as the model's metadata says)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if modelPath == "" {
				return errors.New("tokenize: --model is required")
			}
			modelPath, err := resolveModel(cmd.Context(), modelPath, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			f, err := gguf.Open(modelPath)
			if err != nil {
				return err
			}
			defer f.Close()
			tok, err := tokenizer.FromGGUF(f)
			if err != nil {
				return err
			}
			ids := tok.Encode(strings.Join(args, " "), tokenizer.AddSpecial.If(!raw), tokenizer.ParseSpecial.If(!noSpecial))
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(ids)
			}
			for _, id := range ids {
				fmt.Fprintf(cmd.OutOrStdout(), "%6d %q\n", id, tok.Piece(id))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&modelPath, "model", "m", "", "GGUF model file, or a known name (engine models)")
	f.BoolVar(&asJSON, "json", false, "print a JSON array of ids")
	f.BoolVar(&raw, "no-bos", false, "do not add BOS/EOS")
	f.BoolVar(&noSpecial, "no-parse-special", false, "treat special-token text as plain text")
	return c
}
