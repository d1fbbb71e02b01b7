// Command synth writes the synthetic test models of package synth (Specs
// and MoESpecs) into a folder, one NAME.gguf per spec, and prints their
// paths; with -gpt-oss-tokenizer also GPTOSSVocabSpec with gpt-oss's
// vocabulary.
//
//	go run ./model/synth/cmd/synth -out DIR [-vocab ../shared/models/stories260K.gguf] [-gpt-oss-tokenizer tokenizer.json]
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
	oss := flag.String("gpt-oss-tokenizer", "", "gpt-oss's tokenizer.json (scripts/fetch-model.sh gpt-oss-vocab): also write "+synth.GPTOSSVocabSpec().Name)
	flag.Parse()
	if err := run(*out, *vocab, *oss); err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
}

func run(out, vocab, oss string) error {
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
	if oss == "" {
		return nil
	}
	v, err := synth.GPTOSSVocab(oss)
	if err != nil {
		return err
	}
	s := synth.GPTOSSVocabSpec()
	w, err := synth.Build(s, v)
	if err != nil {
		return err
	}
	p := filepath.Join(out, s.Name+".gguf")
	if err := w.WriteFile(p); err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}
