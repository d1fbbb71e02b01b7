package chat_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/engine/chat/toolcall"
	"github.com/tscale/engine/engine/sample"
)

// A tool call without the server: render the conversation with the
// model's template, hold the reply to a call of the tool (so even the
// tiny stories260K makes one), and read the call back. (Needs
// ../shared/models/stories260K.gguf beside the repository.)
func ExampleFormatter_Render() {
	e, err := engine.Open("../../../shared/models/stories260K.gguf", engine.WithContext(1024))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	f, err := chat.New(e, chat.FormatAuto, "") // the GGUF's template; stories260K has none: the fallback
	if err != nil {
		fmt.Println(err)
		return
	}
	tools := []chat.Tool{{Name: "get_weather", Description: "Weather in a city.",
		Parameters: json.RawMessage(`{"type": "object", "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["unit"]}`)}}
	c, err := f.Render(context.Background(), e.Tokenizer(), &chat.Request{
		Messages: []chat.Message{{Role: "user", Content: "Weather in Paris?"}}, Tools: tools})
	if err != nil {
		fmt.Println(err)
		return
	}
	cons, err := chat.CallConstraint(e.Tokenizer(), c.Tools, tools, "get_weather", false)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := e.Generate(context.Background(), engine.Request{Prompt: c.Prompt, MaxTokens: 200, Seed: 1,
		Sampling: sample.Params{Temperature: 0.8}, StopTokens: c.Stops, Constraint: cons}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, calls := toolcall.Parse(c.Tools, res.Samples[0].Text)
	if len(calls) != 1 {
		fmt.Printf("no call in %q\n", res.Samples[0].Text)
		return
	}
	var args struct{ Unit string }
	err = json.Unmarshal([]byte(calls[0].Arguments), &args)
	fmt.Println(c.Tools, calls[0].Name, err == nil && (args.Unit == "celsius" || args.Unit == "fahrenheit"))
	// Output: hermes get_weather true
}
