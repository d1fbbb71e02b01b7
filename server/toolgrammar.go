package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/engine/chat/toolcall"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/model/tokenizer"
)

// toolGBNF is chat.CallGrammar for a request's tool choice, its errors
// API errors naming the tool's parameters.
func toolGBNF(tools []chat.Tool, u toolUse, f toolcall.Format) (string, *apiError) {
	name := ""
	if u.Choice == choiceFunction {
		name = u.Name
	}
	src, err := chat.CallGrammar(f, tools, name, u.Parallel)
	if err != nil {
		return "", schemaError(err)
	}
	return src, nil
}

// schemaError is the API error of a tool grammar that cannot be built:
// 400 naming the tool's parameters, 500 otherwise.
func schemaError(err error) *apiError {
	var se *chat.SchemaError
	if !errors.As(err, &se) {
		return internal("tool call grammar: %v", err)
	}
	param := fmt.Sprintf("tools[%d].function.parameters", se.Tool)
	var ue *grammar.UnsupportedError
	if errors.As(err, &ue) {
		return newError(http.StatusBadRequest, "invalid_request_error", param, "unsupported_schema", "%v", se.Err)
	}
	return badParam(param, "%v", se.Err)
}

// toolConstraint is toolGBNF bound to tok's vocabulary, through the
// grammar cache: a client that sends the same tools every turn
// reuses the compiled grammar and its masks.
func toolConstraint(tok *tokenizer.Tokenizer, tools []chat.Tool, u toolUse, f toolcall.Format) (engine.Constraint, *apiError) {
	src, e := toolGBNF(tools, u, f)
	if e != nil {
		return nil, e
	}
	g, err := compile(kindGrammar, src)
	if err != nil {
		return nil, internal("tool call grammar: %v", err)
	}
	return (&structured{Kind: kindGrammar, Text: src, Param: "tool_choice", Grammar: g}).constraint(tok)
}

// argsConstraint holds a reply to the arguments of the tool named name
// (harmony, whose call header is in the prompt), through the cache.
func argsConstraint(tok *tokenizer.Tokenizer, tools []chat.Tool, name string) (engine.Constraint, *apiError) {
	for i, t := range tools {
		if t.Name != name {
			continue
		}
		schema := string(chat.ArgsSchema(t))
		g, err := compile(kindJSONSchema, schema)
		if err != nil {
			return nil, schemaError(&chat.SchemaError{Tool: i, Err: err})
		}
		return (&structured{Kind: kindJSONSchema, Text: schema, Param: fmt.Sprintf("tools[%d].function.parameters", i), Grammar: g}).constraint(tok)
	}
	return nil, internal("no tool named %q", name)
}
