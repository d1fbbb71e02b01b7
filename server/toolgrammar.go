package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/engine/chat/toolcall"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/model/tokenizer"
)

// maxParallel bounds the calls a grammar admits in one reply, so that a
// small model cannot call until max_tokens.
const maxParallel = 8

// toolGBNF is the grammar of a reply that is a call (or, with parallel
// calls, up to maxParallel) in format f: the format's wrapper around
// {"name": NAME, "arguments": ARGS}, NAME one of the tools (the named one
// for a function choice) and ARGS what its parameters schema admits.
func toolGBNF(tools []chat.Tool, u toolUse, f toolcall.Format) (string, *apiError) {
	var b strings.Builder
	key := "arguments"
	if f == toolcall.Llama3 {
		key = "parameters"
	}
	var alts []string
	for i, t := range tools {
		if u.Choice == choiceFunction && t.Name != u.Name {
			continue
		}
		rule := fmt.Sprintf("tool-%d", i)
		rules, err := grammar.SchemaGBNF(closed(t.Parameters), rule+"-args")
		if err != nil {
			param := fmt.Sprintf("tools[%d].function.parameters", i)
			var ue *grammar.UnsupportedError
			if errors.As(err, &ue) {
				return "", newError(http.StatusBadRequest, "invalid_request_error", param, "unsupported_schema", "%v", err)
			}
			return "", badParam(param, "%v", err)
		}
		fmt.Fprintf(&b, "%s ::= \"{\\\"name\\\": \\\"%s\\\", \\\"%s\\\": \" %s-args \"}\"\n%s\n", rule, t.Name, key, rule, rules)
		alts = append(alts, rule)
	}
	fmt.Fprintf(&b, "call ::= %s\n", strings.Join(alts, " | "))
	switch {
	case f == toolcall.Llama3:
		b.WriteString("root ::= call\n")
	case u.Parallel:
		fmt.Fprintf(&b, "block ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\nroot ::= block (\"\\n\" block){0,%d}\n", maxParallel-1)
	default:
		b.WriteString("root ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\n")
	}
	return b.String(), nil
}

// closed is a tool's parameters schema with "additionalProperties": false
// at the top when it does not say, as llama.cpp's grammars take it: a
// model held to "properties": {} then writes {}, not made-up arguments
// until max_tokens. No schema is an object without properties.
func closed(schema json.RawMessage) json.RawMessage {
	if len(schema) == 0 {
		return json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(schema, &obj) != nil {
		return schema
	}
	if _, ok := obj["additionalProperties"]; ok || (string(obj["type"]) != `"object"` && obj["properties"] == nil) {
		return schema
	}
	obj["additionalProperties"] = json.RawMessage("false")
	b, err := json.Marshal(obj)
	if err != nil {
		return schema
	}
	return b
}

// toolConstraint compiles toolGBNF for tok's vocabulary.
func toolConstraint(tok *tokenizer.Tokenizer, tools []chat.Tool, u toolUse, f toolcall.Format) (engine.Constraint, *apiError) {
	src, e := toolGBNF(tools, u, f)
	if e != nil {
		return nil, e
	}
	g, err := grammar.ParseGBNF(src)
	if err != nil {
		return nil, internal("tool call grammar: %v", err)
	}
	return g.Constraint(grammar.VocabFor(tok)), nil
}
