package chat

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat/toolcall"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/model/tokenizer"
)

// MaxParallel bounds the calls a call grammar admits in one reply, so
// that a small model cannot call until its token limit.
const MaxParallel = 8

// SchemaError is a tool whose parameters schema cannot become a grammar
// (Err may wrap *grammar.UnsupportedError).
type SchemaError struct {
	Tool int // index in the tools
	Err  error
}

func (e *SchemaError) Error() string { return fmt.Sprintf("tools[%d]: %v", e.Tool, e.Err) }
func (e *SchemaError) Unwrap() error { return e.Err }

// CallGrammar is the GBNF of a reply that calls a tool in format f (not
// Harmony): the format's wrapper around {"name": NAME, "arguments": ARGS}
// (Llama 3: "parameters"), NAME one of the tools, or only the one called
// name when name is set, and ARGS what its parameters schema admits; with
// parallel, up to MaxParallel calls (Hermes). What toolcall.Parse reads.
func CallGrammar(f toolcall.Format, tools []Tool, name string, parallel bool) (string, error) {
	if f == toolcall.Harmony {
		return "", fmt.Errorf("chat: no call grammar for the harmony format")
	}
	var b strings.Builder
	key := "arguments"
	if f == toolcall.Llama3 {
		key = "parameters"
	}
	var alts []string
	for i, t := range tools {
		if name != "" && t.Name != name {
			continue
		}
		if !validName(t.Name) {
			return "", &SchemaError{i, fmt.Errorf("function name %q: use letters, digits, _ and -", t.Name)}
		}
		rule := fmt.Sprintf("tool-%d", i)
		rules, err := grammar.SchemaGBNF(closed(t.Parameters), rule+"-args")
		if err != nil {
			return "", &SchemaError{i, err}
		}
		fmt.Fprintf(&b, "%s ::= \"{\\\"name\\\": \\\"%s\\\", \\\"%s\\\": \" %s-args \"}\"\n%s\n", rule, t.Name, key, rule, rules)
		alts = append(alts, rule)
	}
	if len(alts) == 0 {
		return "", fmt.Errorf("chat: no tool named %q", name)
	}
	fmt.Fprintf(&b, "call ::= %s\n", strings.Join(alts, " | "))
	switch {
	case f == toolcall.Llama3:
		b.WriteString("root ::= call\n")
	case parallel:
		fmt.Fprintf(&b, "block ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\nroot ::= block (\"\\n\" block){0,%d}\n", MaxParallel-1)
	default:
		b.WriteString("root ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\n")
	}
	return b.String(), nil
}

// CallConstraint is CallGrammar compiled for tok's vocabulary, for
// engine.Request.Constraint.
func CallConstraint(tok *tokenizer.Tokenizer, f toolcall.Format, tools []Tool, name string, parallel bool) (engine.Constraint, error) {
	src, err := CallGrammar(f, tools, name, parallel)
	if err != nil {
		return nil, err
	}
	g, err := grammar.ParseGBNF(src)
	if err != nil {
		return nil, fmt.Errorf("chat: tool call grammar: %w", err)
	}
	return g.Constraint(grammar.VocabFor(tok)), nil
}

// ArgsConstraint holds a reply to the arguments of the tool named name:
// what its parameters schema admits (as in CallGrammar), for a call whose
// header is already written (harmony's Request.Call).
func ArgsConstraint(tok *tokenizer.Tokenizer, tools []Tool, name string) (engine.Constraint, error) {
	for i, t := range tools {
		if t.Name != name {
			continue
		}
		g, err := grammar.JSONSchema(ArgsSchema(t))
		if err != nil {
			return nil, &SchemaError{i, err}
		}
		return g.Constraint(grammar.VocabFor(tok)), nil
	}
	return nil, fmt.Errorf("chat: no tool named %q", name)
}

// validName: names go into the grammar's string literals unescaped.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// ArgsSchema is the JSON Schema the call grammars hold t's arguments to:
// its parameters, closed (below).
func ArgsSchema(t Tool) json.RawMessage { return closed(t.Parameters) }

// closed is a tool's parameters schema with "additionalProperties": false
// at the top when it does not say, as llama.cpp's grammars take it: a
// model held to "properties": {} then writes {}, not made-up arguments
// until its token limit. No schema is an object without properties.
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
