// Command engine runs GGUF language models: generate text, inspect a model
// file, tokenize text.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "engine",
		Short:         "A GGUF inference engine built for test-time scaling",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(runCmd(), infoCmd(), tokenizeCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "engine: "+oneLine(err.Error()))
		os.Exit(1)
	}
}

// oneLine keeps every error to a single line of output.
func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
