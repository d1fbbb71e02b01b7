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
