package server

import (
	"bytes"
	"container/list"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"

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

// Constraint kinds, also the cache's key prefixes.
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
	g, err := grammars.get(got.Kind, got.Text)
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
// sample later.
func (s *structured) constraint(tok *tokenizer.Tokenizer) (engine.Constraint, *apiError) {
	v := grammar.VocabFor(tok)
	c, checked := grammars.bind(s.Kind, s.Text, s.Grammar, v)
	if checked {
		return c, nil
	}
	logits := make([]float32, tok.VocabSize())
	if err := c.Start().Mask(logits); err != nil {
		if errors.Is(err, grammar.ErrEmpty) {
			return nil, newError(http.StatusBadRequest, "invalid_request_error", s.Param, "empty_grammar",
				"%s admits no output in this model's vocabulary: %v", s.Param, err)
		}
		return nil, compileError(s, err)
	}
	grammars.checked(s.Kind, s.Text, v)
	return c, nil
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

// grammarCache keeps the last compiled grammars by (kind, text), each with
// the constraint built for the vocabulary it last ran on.
type grammarCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cached, most recent first
	byKey map[string]*list.Element
}

type cached struct {
	key     string
	g       *grammar.Grammar
	v       *grammar.Vocab
	c       engine.Constraint
	checked bool // c lets some token come first
}

// grammarCacheSize bounds the cache: compiled grammars are small, but
// their cached masks hold bitsets over the vocabulary. (engine/grammar
// keeps one of the same size by source; this one adds the constraint per
// vocabulary and its first-token check.)
const grammarCacheSize = 16

var grammars = newGrammarCache(grammarCacheSize)

func newGrammarCache(n int) *grammarCache {
	return &grammarCache{max: n, order: list.New(), byKey: map[string]*list.Element{}}
}

func cacheKey(kind, text string) string { return kind + "\x00" + text }

// get returns the compiled grammar, compiling it on a miss (outside the
// lock: two requests racing on one new schema both compile it).
func (gc *grammarCache) get(kind, text string) (*grammar.Grammar, error) {
	key := cacheKey(kind, text)
	gc.mu.Lock()
	if el, ok := gc.byKey[key]; ok {
		gc.order.MoveToFront(el)
		g := el.Value.(*cached).g
		gc.mu.Unlock()
		return g, nil
	}
	gc.mu.Unlock()
	g, err := compile(kind, text)
	if err != nil {
		return nil, err
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if el, ok := gc.byKey[key]; ok {
		return el.Value.(*cached).g, nil
	}
	gc.byKey[key] = gc.order.PushFront(&cached{key: key, g: g})
	for gc.order.Len() > gc.max {
		old := gc.order.Remove(gc.order.Back()).(*cached)
		delete(gc.byKey, old.key)
	}
	return g, nil
}

// bind returns g's constraint over v, reusing the cached one, and whether
// it was already checked.
func (gc *grammarCache) bind(kind, text string, g *grammar.Grammar, v *grammar.Vocab) (engine.Constraint, bool) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	el, ok := gc.byKey[cacheKey(kind, text)]
	if !ok || el.Value.(*cached).g != g {
		return g.Constraint(v), false // evicted meanwhile
	}
	e := el.Value.(*cached)
	if e.v != v {
		e.v, e.c, e.checked = v, g.Constraint(v), false
	}
	return e.c, e.checked
}

func (gc *grammarCache) checked(kind, text string, v *grammar.Vocab) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if el, ok := gc.byKey[cacheKey(kind, text)]; ok && el.Value.(*cached).v == v {
		el.Value.(*cached).checked = true
	}
}

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
