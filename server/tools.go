package server

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/engine/chat/toolcall"
	"github.com/tscale/engine/model/harmony"
	"github.com/tscale/engine/model/tokenizer"
)

// Tool calling in chat completions (OpenAI's shapes):
//
//	"tools": [{"type": "function", "function": {"name": "f", "description": "...", "parameters": {JSON Schema}}}]
//	"tool_choice": "auto" | "none" | "required" | {"type": "function", "function": {"name": "f"}}
//	"parallel_tool_calls": true
//
// Tools render through the model's chat template (its tools variable);
// calls are read back from the reply in the model's format (package
// toolcall) into message.tool_calls, finish_reason "tool_calls". With
// "required" or a named function a grammar holds every sample to a call of
// the format, so even a small model emits one with valid arguments.

// Tool choices.
const (
	choiceAuto     = "auto"
	choiceNone     = "none"
	choiceRequired = "required"
	choiceFunction = "function" // the one named in toolUse.Name
)

// toolUse is what a chat request asks of tools.
type toolUse struct {
	Choice   string
	Name     string // the function tool_choice names
	Parallel bool   // more than one call per reply allowed (default true)
}

type rawTool struct {
	Type     *string `json:"type"`
	Function *struct {
		Name        *string         `json:"name"`
		Description *string         `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
}

var (
	toolFields     = fields{ok: fieldSet([]string{"type", "function"})}
	functionFields = fields{ok: fieldSet([]string{"name", "description", "parameters", "strict"})}
	callFields     = fields{ok: fieldSet([]string{"id", "type", "function"})}
	callFnFields   = fields{ok: fieldSet([]string{"name", "arguments"})}
	// OpenAI's rule for function names.
	functionName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

const maxTools = 128

// decodeTools reads tools, tool_choice and parallel_tool_calls.
func decodeTools(rawTools, rawChoice json.RawMessage, parallel *bool) ([]chat.Tool, toolUse, *apiError) {
	use := toolUse{Choice: choiceAuto, Parallel: parallel == nil || *parallel}
	var tools []chat.Tool
	if len(rawTools) > 0 && string(rawTools) != "null" {
		var items []json.RawMessage
		if json.Unmarshal(rawTools, &items) != nil {
			return nil, use, badParam("tools", "'tools' must be an array of tools")
		}
		if len(items) > maxTools {
			return nil, use, badParam("tools", "at most %d tools, got %d", maxTools, len(items))
		}
		seen := map[string]bool{}
		for i, it := range items {
			param := fmt.Sprintf("tools[%d]", i)
			var t rawTool
			if e := decodeObject(it, &t, param, toolFields); e != nil {
				return nil, use, e
			}
			if t.Type == nil || *t.Type != "function" {
				return nil, use, badParam(param+".type", "only tools of type \"function\" are supported")
			}
			if t.Function == nil {
				return nil, use, missing(param + ".function")
			}
			var fobj map[string]json.RawMessage
			_ = json.Unmarshal(it, &struct {
				F *map[string]json.RawMessage `json:"function"`
			}{&fobj})
			if e := functionFields.check(fobj, param+".function."); e != nil {
				return nil, use, e
			}
			f := t.Function
			if f.Name == nil {
				return nil, use, missing(param + ".function.name")
			}
			if !functionName.MatchString(*f.Name) {
				return nil, use, badParam(param+".function.name", "function names are 1 to 64 letters, digits, _ and -, got %q", *f.Name)
			}
			if seen[*f.Name] {
				return nil, use, badParam(param+".function.name", "function %q is defined twice", *f.Name)
			}
			seen[*f.Name] = true
			tool := chat.Tool{Name: *f.Name}
			if f.Description != nil {
				tool.Description = *f.Description
			}
			if len(f.Parameters) > 0 && string(f.Parameters) != "null" {
				var obj map[string]json.RawMessage
				if json.Unmarshal(f.Parameters, &obj) != nil || obj == nil {
					return nil, use, badParam(param+".function.parameters", "'parameters' must be a JSON Schema object")
				}
				tool.Parameters = f.Parameters
			}
			tools = append(tools, tool)
		}
	}
	if len(rawChoice) == 0 || string(rawChoice) == "null" {
		if len(tools) == 0 {
			use.Choice = choiceNone
		}
		return tools, use, nil
	}
	var s string
	if json.Unmarshal(rawChoice, &s) == nil {
		switch s {
		case choiceAuto, choiceNone, choiceRequired:
			use.Choice = s
		default:
			return nil, use, badParam("tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or a function, got %q", s)
		}
	} else {
		var c struct {
			Type     *string `json:"type"`
			Function *struct {
				Name *string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(rawChoice, &c) != nil || c.Type == nil || *c.Type != "function" || c.Function == nil || c.Function.Name == nil {
			return nil, use, badParam("tool_choice", `'tool_choice' must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}`)
		}
		if !seen(tools, *c.Function.Name) {
			return nil, use, badParam("tool_choice", "tool_choice names function %q, which is not in 'tools'", *c.Function.Name)
		}
		use.Choice, use.Name = choiceFunction, *c.Function.Name
	}
	if use.Choice != choiceNone && len(tools) == 0 {
		return nil, use, badParam("tool_choice", "'tool_choice' %q needs 'tools'", use.Choice)
	}
	return tools, use, nil
}

// called is the function every reply must call: the named one, or the
// only tool with "required"; "" when the model may choose.
func (u toolUse) called(tools []chat.Tool) string {
	switch {
	case u.Choice == choiceFunction:
		return u.Name
	case u.Choice == choiceRequired && len(tools) == 1:
		return tools[0].Name
	}
	return ""
}

func seen(tools []chat.Tool, name string) bool {
	for _, t := range tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

type rawToolCall struct {
	ID       *string `json:"id"`
	Type     *string `json:"type"`
	Function *struct {
		Name      *string `json:"name"`
		Arguments *string `json:"arguments"`
	} `json:"function"`
}

// decodeToolCalls reads an assistant message's tool_calls.
func decodeToolCalls(raw json.RawMessage, param string) ([]chat.ToolCall, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, badParam(param, "'tool_calls' must be an array")
	}
	var out []chat.ToolCall
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", param, i)
		var c rawToolCall
		if e := decodeObject(it, &c, p, callFields); e != nil {
			return nil, e
		}
		if c.Type != nil && *c.Type != "function" {
			return nil, badParam(p+".type", "only tool calls of type \"function\" are supported")
		}
		if c.Function == nil || c.Function.Name == nil {
			return nil, missing(p + ".function.name")
		}
		var fobj map[string]json.RawMessage
		_ = json.Unmarshal(it, &struct {
			F *map[string]json.RawMessage `json:"function"`
		}{&fobj})
		if e := callFnFields.check(fobj, p+".function."); e != nil {
			return nil, e
		}
		tc := chat.ToolCall{Name: *c.Function.Name, Arguments: "{}"}
		if c.ID != nil {
			tc.ID = *c.ID
		}
		if c.Function.Arguments != nil {
			tc.Arguments = *c.Function.Arguments
		}
		out = append(out, tc)
	}
	return out, nil
}

// toolCallJSON is a call in a response message, and (with Index) in a
// stream's delta.
type toolCallJSON struct {
	Index    *int       `json:"index,omitempty"`
	ID       string     `json:"id"`
	Type     string     `json:"type"`
	Function functionJS `json:"function"`
}

type functionJS struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

func callJSON(c toolcall.Call) toolCallJSON {
	return toolCallJSON{ID: "call_" + randomID()[:24], Type: "function", Function: functionJS{Name: c.Name, Arguments: c.Arguments}}
}

// parsesCalls reports whether the job's replies are read for calls.
func (j *job) parsesCalls() bool { return j.tools != nil && j.tools.Choice != choiceNone }

// replyCalls splits a whole reply into its content and calls.
func (j *job) replyCalls(text string) (string, []toolCallJSON) {
	content, calls := toolcall.Parse(j.toolFormat, text)
	return content, j.callsJSON(calls, 0)
}

// harmonyCalls are the calls among a harmony reply's messages.
func (j *job) harmonyCalls(msgs []harmony.Message, from int) []toolCallJSON {
	var calls []toolcall.Call
	for _, m := range msgs {
		if c, ok := toolcall.FromHarmony(m); ok {
			calls = append(calls, c)
		}
	}
	return j.callsJSON(calls, from)
}

// callsJSON numbers calls from from; without parallel_tool_calls only the
// first call of a reply is kept.
func (j *job) callsJSON(calls []toolcall.Call, from int) []toolCallJSON {
	var out []toolCallJSON
	for k, c := range calls {
		if !j.tools.Parallel && from+k > 0 {
			break
		}
		out = append(out, callJSON(c))
	}
	return out
}

// toolFinish is a choice's finish_reason: "tool_calls" when a reply that
// stopped by itself made calls.
func toolFinish(f *string, calls int) *string {
	if calls > 0 && f != nil && *f == "stop" {
		s := "tool_calls"
		return &s
	}
	return f
}

// toolStreams parse each choice's streamed reply.
type toolStreams struct {
	streams []*toolcall.Stream
	calls   []int // calls sent per choice
	msgs    []int // harmony messages read per choice
}

func newToolStreams(f toolcall.Format, n int) *toolStreams {
	t := &toolStreams{streams: make([]*toolcall.Stream, n), calls: make([]int, n)}
	for i := range t.streams {
		t.streams[i] = toolcall.NewStream(f)
	}
	return t
}

// add parses choice i's next text (and the end, when end): the content to
// send and the calls completed, numbered for deltas.
func (t *toolStreams) add(j *job, i int, text string, end bool) (string, []toolCallJSON) {
	content, calls := t.streams[i].Add(text)
	if end {
		c, k := t.streams[i].Close()
		content += c
		calls = append(calls, k...)
	}
	out := j.callsJSON(calls, t.calls[i])
	for k := range out {
		idx := t.calls[i] + k
		out[k].Index = &idx
	}
	t.calls[i] += len(out)
	return content, out
}

// harmony returns the calls among choice i's harmony messages completed
// since the last call, numbered for deltas.
func (t *toolStreams) harmony(j *job, i int, p *harmony.Parser) []toolCallJSON {
	msgs := p.Messages()
	if t.msgs == nil {
		t.msgs = make([]int, len(t.streams))
	}
	out := j.harmonyCalls(msgs[t.msgs[i]:], t.calls[i])
	t.msgs[i] = len(msgs)
	for k := range out {
		idx := t.calls[i] + k
		out[k].Index = &idx
	}
	t.calls[i] += len(out)
	return out
}

// toolChunk streams one event of a chat whose reply is read for calls:
// content as it comes, less what may be a call; each call as one delta
// (id, name and all its arguments) once it is complete.
func (o *responder) toolChunk(i int, ev engine.Event, lp *tokenLP, dead error) error {
	content, calls := o.calls.add(o.j, i, ev.Text, ev.Finish != "")
	if content == "" && len(calls) == 0 && lp == nil && ev.Finish == "" {
		return nil
	}
	c := chatChoice{Index: i, Delta: &chatDelta{ToolCalls: calls}, Error: deadError(dead),
		FinishReason: toolFinish(finishReason(ev.Finish), o.calls.calls[i])}
	if content != "" || lp != nil {
		c.Delta.Content = &content
	}
	if lp != nil {
		c.Logprobs = o.chatLogprobs([]tokenLP{*lp})
	}
	return o.send(o.chunkOf([]chatChoice{c}))
}

// useTools sets the job up for the request's tools: the format calls are
// read in, and for tool_choice required or a named function the grammar
// that holds every sample to a call.
func (j *job) useTools(tok *tokenizer.Tokenizer, req *chatRequest, c *chat.Chat) *apiError {
	if len(req.Tools) == 0 {
		return nil
	}
	u := req.ToolUse
	j.tools, j.toolFormat = &u, c.Tools
	if u.Choice != choiceRequired && u.Choice != choiceFunction {
		return nil
	}
	if req.Structured != nil {
		return badParam("tool_choice", "'tool_choice' %q cannot be combined with '%s'", u.Choice, req.Structured.Param)
	}
	if c.Harmony {
		// The call's header is in the prompt (chat.Request.Call): the
		// reply is held to the arguments. With several tools and
		// "required" the header cannot be chosen for the model: the reply
		// is only parsed.
		if c.Prefill == "" {
			return nil
		}
		cons, e := argsConstraint(tok, req.Tools, u.called(req.Tools))
		if e != nil {
			return e
		}
		j.constraint, j.prefill = cons, c.Prefill
		return nil
	}
	cons, e := toolConstraint(tok, req.Tools, u, c.Tools)
	if e != nil {
		return e
	}
	j.constraint = cons
	return nil
}
