// Command synth writes the synthetic test models of package synth (Specs
// and MoESpecs) into a folder, one NAME.gguf per spec, and prints their
// paths.
//
//	go run ./model/synth/cmd/synth -out DIR [-vocab ../shared/models/stories260K.gguf]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tscale/engine/model/synth"
)

func main() {
	out := flag.String("out", "", "folder to write the models to (created if missing)")
	vocab := flag.String("vocab", "../shared/models/stories260K.gguf", "GGUF file whose tokenizer.ggml.* keys the models borrow")
	flag.Parse()
	if err := run(*out, *vocab); err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
}

func run(out, vocab string) error {
	if out == "" {
		return fmt.Errorf("-out DIR is required")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, s := range append(synth.Specs(), synth.MoESpecs()...) {
		p := filepath.Join(out, s.Name+".gguf")
		if err := synth.Write(p, vocab, s); err != nil {
			return err
		}
		fmt.Println(p)
	}
	return nil
}
