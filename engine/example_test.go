package engine_test

import (
	"context"
	"fmt"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/tokenizer"
)

// Four samples of one prompt: the prompt is prefilled once and the samples
// share its KV blocks; sample i draws with seed Seed+i, so the output is
// reproducible. (Needs ../shared/models/stories260K.gguf beside the
// repository.)
func ExampleEngine_Generate() {
	e, err := engine.Open("../../shared/models/stories260K.gguf", engine.WithContext(256))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	req := engine.Request{
		Prompt:    e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial),
		N:         4,
		MaxTokens: 12,
		Sampling:  sample.Params{Temperature: 0.8, TopK: 40},
		Seed:      42,
	}
	res, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, s := range res.Samples {
		fmt.Printf("%d: %q (%s)\n", i, s.Text, s.Finish)
	}
	// Output:
	// 0: ", there was a terrible little gir" (length)
	// 1: ", there was a little girl named Lily. She" (length)
	// 2: ", there was a brave kid. The" (length)
	// 3: " there was a little girl named Lily. She lo" (length)
}
