package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/model/tokenizer"
)

// Structured output: every sample of a request is held to one grammar.
//
//	"response_format": {"type": "text"}                    (no constraint)
//	"response_format": {"type": "json_object"}             (any JSON object)
//	"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {...}, "strict": true}}
//	"grammar": "root ::= ..."                              (llama.cpp's GBNF, llama-server's field)
//	"regex": "[0-9]{3}"                                    (RE2 syntax; the whole output matches)
//	"guided_json", "guided_grammar", "guided_regex"        (vLLM's names for the same)
//	"guided_choice": ["yes", "no"]                         (vLLM: exactly one of the strings)
//
// The schema is enforced whether or not "strict" is set: a constraint that
// only sometimes holds would still need a validator on the client. Keywords
// the compiler cannot enforce are a 400 naming them, not silently ignored.

// structuredFields are the request fields read by rawStructured.
var structuredFields = []string{"response_format", "grammar", "regex", "guided_json", "guided_grammar", "guided_regex", "guided_choice"}

// rawStructured holds the constraint fields as sent. They stay raw so that
// a wrong type is reported here, with the field's own name.
type rawStructured struct {
	ResponseFormat json.RawMessage `json:"response_format"`
	Grammar        json.RawMessage `json:"grammar"`
	Regex          json.RawMessage `json:"regex"`
	GuidedJSON     json.RawMessage `json:"guided_json"`
	GuidedGrammar  json.RawMessage `json:"guided_grammar"`
	GuidedRegex    json.RawMessage `json:"guided_regex"`
	GuidedChoice   json.RawMessage `json:"guided_choice"`
}

// Constraint kinds.
const (
	kindJSONObject = "json_object"
	kindJSONSchema = "json_schema"
	kindGrammar    = "grammar"
	kindRegex      = "regex"
)

// structured is a request's validated, compiled constraint.
type structured struct {
	Kind    string
	Text    string // the compact schema, the GBNF or the regex ("" for json_object)
	Param   string // the request field it came from, for errors
	Grammar *grammar.Grammar
}

var (
	responseFormatFields = fields{ok: fieldSet([]string{"type", "json_schema"})}
	jsonSchemaFields     = fields{ok: fieldSet([]string{"name", "schema", "strict", "description"})}
)

// decode validates the fields and compiles the one constraint given, if
// any (through the cache: a repeated schema is compiled once).
func (r *rawStructured) decode() (*structured, *apiError) {
	var got *structured
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		kind string
	}{
		{"response_format", r.ResponseFormat, ""},
		{"grammar", r.Grammar, kindGrammar},
		{"regex", r.Regex, kindRegex},
		{"guided_json", r.GuidedJSON, kindJSONSchema},
		{"guided_grammar", r.GuidedGrammar, kindGrammar},
		{"guided_regex", r.GuidedRegex, kindRegex},
		{"guided_choice", r.GuidedChoice, kindRegex},
	} {
		if len(f.raw) == 0 || string(f.raw) == "null" {
			continue
		}
		var s *structured
		var e *apiError
		switch {
		case f.kind == "":
			s, e = decodeResponseFormat(f.raw)
		case f.kind == kindJSONSchema:
			s, e = decodeGuidedJSON(f.raw)
		case f.name == "guided_choice":
			s, e = decodeGuidedChoice(f.raw)
		default:
			var text string
			if json.Unmarshal(f.raw, &text) != nil {
				return nil, badParam(f.name, "'%s' must be a string", f.name)
			}
			s = &structured{Kind: f.kind, Text: text, Param: f.name}
		}
		if e != nil {
			return nil, e
		}
		if s == nil { // {"type": "text"}
			continue
		}
		if got != nil {
			return nil, badParam(f.name, "at most one constraint per request: got '%s' and '%s'", got.Param, f.name)
		}
		got = s
	}
	if got == nil {
		return nil, nil
	}
	g, err := compile(got.Kind, got.Text)
	if err != nil {
		return nil, compileError(got, err)
	}
	got.Grammar = g
	return got, nil
}

func decodeResponseFormat(raw json.RawMessage) (*structured, *apiError) {
	var rf struct {
		Type       *string         `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	}
	if e := decodeObject(raw, &rf, "response_format", responseFormatFields); e != nil {
		return nil, e
	}
	if rf.Type == nil {
		return nil, missing("response_format.type")
	}
	hasSchema := len(rf.JSONSchema) > 0 && string(rf.JSONSchema) != "null"
	if hasSchema && *rf.Type != kindJSONSchema {
		return nil, badParam("response_format.json_schema", "'response_format.json_schema' goes with type json_schema, not %q", *rf.Type)
	}
	switch *rf.Type {
	case "text":
		return nil, nil
	case kindJSONObject:
		return &structured{Kind: kindJSONObject, Param: "response_format"}, nil
	case kindJSONSchema:
	default:
		return nil, badParam("response_format.type", "unknown response_format type %q: expected text, json_object or json_schema", *rf.Type)
	}
	if !hasSchema {
		return nil, missing("response_format.json_schema")
	}
	const param = "response_format.json_schema"
	var js struct {
		Name        *string         `json:"name"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
		Description *string         `json:"description"`
	}
	if e := decodeObject(rf.JSONSchema, &js, param, jsonSchemaFields); e != nil {
		return nil, e
	}
	s := &structured{Kind: kindJSONSchema, Text: "{}", Param: param + ".schema"} // no schema: any JSON value
	if len(js.Schema) > 0 && string(js.Schema) != "null" {
		text, e := compactObject(js.Schema, s.Param)
		if e != nil {
			return nil, e
		}
		s.Text = text
	}
	return s, nil
}

// decodeGuidedJSON takes vLLM's guided_json: a schema, or a string holding one.
func decodeGuidedJSON(raw json.RawMessage) (*structured, *apiError) {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		raw = json.RawMessage(text)
	}
	s, e := compactObject(raw, "guided_json")
	if e != nil {
		return nil, e
	}
	return &structured{Kind: kindJSONSchema, Text: s, Param: "guided_json"}, nil
}

// decodeGuidedChoice turns vLLM's guided_choice, a list of strings, into
// the regex that matches exactly one of them.
func decodeGuidedChoice(raw json.RawMessage) (*structured, *apiError) {
	var list []string
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return nil, badParam("guided_choice", "'guided_choice' must be a non-empty array of strings")
	}
	for i, c := range list {
		list[i] = regexp.QuoteMeta(c)
	}
	return &structured{Kind: kindRegex, Text: strings.Join(list, "|"), Param: "guided_choice"}, nil
}

// compactObject checks that raw is a JSON object and returns it compact,
// the form the cache keys on.
func compactObject(raw json.RawMessage, param string) (string, *apiError) {
	raw = bytes.TrimSpace(raw)
	var b bytes.Buffer
	if len(raw) == 0 || raw[0] != '{' || json.Compact(&b, raw) != nil {
		return "", badParam(param, "'%s' must be a JSON Schema object", param)
	}
	return b.String(), nil
}

// compileError turns a grammar compiler's error into a 400 on the field.
func compileError(s *structured, err error) *apiError {
	var ue *grammar.UnsupportedError
	switch {
	case errors.As(err, &ue):
		return newError(http.StatusBadRequest, "invalid_request_error", s.Param, "unsupported_schema",
			"%s: %v (the schema cannot be enforced)", s.Param, err)
	case errors.Is(err, grammar.ErrEmpty):
		return newError(http.StatusBadRequest, "invalid_request_error", s.Param, "empty_grammar",
			"%s admits no output at all: %v", s.Param, err)
	case errors.Is(err, grammar.ErrTooComplex):
		return newError(http.StatusBadRequest, "invalid_request_error", s.Param, "grammar_too_complex",
			"%s is too complex to enforce: %v", s.Param, err)
	}
	what := map[string]string{kindJSONSchema: "invalid JSON Schema", kindGrammar: "invalid GBNF grammar", kindRegex: "invalid regular expression"}[s.Kind]
	return badParam(s.Param, "%s in '%s': %v", what, s.Param, err)
}

// constraint is s bound to the model's vocabulary. A grammar that lets no
// token of this vocabulary come first is a 400 now rather than a failed
// sample later. The same grammar gives the same constraint per vocabulary
// (engine/grammar keeps both, and the masks built), so this is cheap for a
// repeated schema.
func (s *structured) constraint(tok *tokenizer.Tokenizer) (engine.Constraint, *apiError) {
	v := grammar.VocabFor(tok)
	if err := s.Grammar.Check(v); err != nil {
		if errors.Is(err, grammar.ErrEmpty) {
			return nil, newError(http.StatusBadRequest, "invalid_request_error", s.Param, "empty_grammar",
				"%s admits no output in this model's vocabulary: %v", s.Param, err)
		}
		return nil, compileError(s, err)
	}
	return s.Grammar.Constraint(v), nil
}

// maskError says whether a sample's error is its constraint's: a dead end
// (no token of the vocabulary may come next) or a matcher past its limits.
// Either ends that choice alone, with finish_reason "error": the request
// was valid, the other choices are not lost, and a stream that has begun
// can no longer change its status.
func maskError(err error) bool {
	return errors.Is(err, grammar.ErrEmpty) || errors.Is(err, grammar.ErrTooComplex)
}

// constraintError is the error object such a choice carries.
func constraintError(err error) *apiError {
	if errors.Is(err, grammar.ErrTooComplex) {
		return newError(http.StatusOK, "server_error", "", "grammar_too_complex",
			"the constraint grew too complex to follow after this output: %v", err)
	}
	return newError(http.StatusOK, "invalid_request_error", "", "constraint_dead_end",
		"the constraint allows no token after this output: %v", err)
}

// compile builds the grammar of a constraint; engine/grammar keeps the
// last ones compiled by source, so a repeated schema is compiled once.
func compile(kind, text string) (*grammar.Grammar, error) {
	switch kind {
	case kindJSONObject:
		return grammar.JSONObject(), nil
	case kindJSONSchema:
		return grammar.JSONSchema([]byte(text))
	case kindGrammar:
		if strings.TrimSpace(text) == "" {
			return nil, errors.New("the grammar is empty")
		}
		return grammar.ParseGBNF(text)
	case kindRegex:
		return grammar.Regex(text)
	}
	return nil, errors.New("unknown constraint kind " + kind)
}
