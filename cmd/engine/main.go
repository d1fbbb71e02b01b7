// Command engine runs GGUF language models: generate text, inspect a model
// file, tokenize text.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the CLI with args and returns the exit status; every error
// becomes one line on stderr.
func execute(args []string, stdout, stderr io.Writer) int {
	return executeIn(args, os.Stdin, stdout, stderr)
}

// executeIn is execute reading stdin from in.
func executeIn(args []string, in io.Reader, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "engine",
		Short:         "A GGUF inference engine built for test-time scaling",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(runCmd(), chatCmd(), infoCmd(), tokenizeCmd(), serveCmd(), modelsCmd(), pullCmd())
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "engine: "+oneLine(err.Error()))
		return 1
	}
	return 0
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
