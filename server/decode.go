package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/harmony"
)

// Limits on request parameters (OpenAI's where it has one).
const (
	maxN        = 128
	maxStops    = 16
	maxTopLogp  = 20
	maxPrompts  = 64
	maxMessages = 4096
)

// DefaultMaxSamples is Config.MaxSamples' default: each sample holds host
// state and KV blocks of its own, and 256 is also --max-queue's default,
// so a request within it can be queued whole.
const DefaultMaxSamples = 256

// fields is an endpoint's allow-list. As OpenAI does, a field not in it
// gets 400 "Unrecognized request argument supplied".
type fields struct {
	ok map[string]bool // implemented
	// off are OpenAI's fields this server does not implement: accepted
	// only as null or one of these values (compact JSON), which ask for
	// nothing beyond the default; else 400 naming the field.
	off map[string][]string
}

func fieldSet(lists ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, f := range l {
			m[f] = true
		}
	}
	return m
}

var (
	commonFields = []string{"model", "n", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
		"seed", "presence_penalty", "frequency_penalty", "logit_bias", "stream", "stream_options",
		"user", // identifies the caller to the provider: nothing to do here
		"top_k", "min_p", "repetition_penalty", "ignore_eos", "reasoning"}
	completionFields = fields{ok: fieldSet(commonFields, structuredFields, []string{"prompt", "logprobs", "echo", "suffix", "best_of"})}
	chatFields       = fields{
		ok: fieldSet(commonFields, structuredFields, []string{"messages", "logprobs", "top_logprobs", "reasoning_effort",
			"tools", "tool_choice", "parallel_tool_calls"}),
		off: map[string][]string{
			"functions": {`[]`}, "function_call": {`"none"`}, "audio": nil,
			"modalities": {`["text"]`}, "prediction": nil, "web_search_options": nil,
			"store": {`false`}, "metadata": {`{}`}, "service_tier": {`"auto"`, `"default"`},
		},
	}
	messageFields = fields{
		ok: fieldSet([]string{"role", "content", "name", "reasoning_content", "tool_calls", "tool_call_id"}),
		// What clients send back with an earlier assistant turn.
		off: map[string][]string{"function_call": nil,
			"refusal": nil, "audio": nil, "annotations": {`[]`}},
	}
	streamOptionFields = fields{ok: fieldSet([]string{"include_usage"})}
)

// check rejects the fields of obj the endpoint does not take, the first in
// name order, naming it as prefix + name.
func (f fields) check(obj map[string]json.RawMessage, prefix string) *apiError {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		name := prefix + k
		if f.ok[k] {
			continue
		}
		vals, known := f.off[k]
		if !known {
			return newError(http.StatusBadRequest, "invalid_request_error", name, "unknown_parameter",
				"Unrecognized request argument supplied: %s", name)
		}
		var b bytes.Buffer
		if json.Compact(&b, obj[k]) == nil && (b.String() == "null" || slices.Contains(vals, b.String())) {
			continue
		}
		return newError(http.StatusBadRequest, "invalid_request_error", name, "unsupported_parameter",
			"'%s' is not supported; it may only be %s", name, strings.Join(append([]string{"null"}, vals...), " or "))
	}
	return nil
}

// decodeObject decodes raw, a JSON object found at param, into v after
// checking its fields.
func decodeObject(raw json.RawMessage, v any, param string, f fields) *apiError {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return badParam(param, "'%s' must be an object", param)
	}
	if e := f.check(obj, param+"."); e != nil {
		return e
	}
	return typeError(json.Unmarshal(raw, v), param+".")
}

// rawCommon holds the parameters shared by completions and chat, as sent.
// Pointers tell "absent or null" from a value.
type rawCommon struct {
	Model               *string            `json:"model"`
	N                   *int               `json:"n"`
	MaxTokens           *int               `json:"max_tokens"`
	MaxCompletionTokens *int               `json:"max_completion_tokens"`
	Temperature         *float64           `json:"temperature"`
	TopP                *float64           `json:"top_p"`
	Stop                json.RawMessage    `json:"stop"`
	Seed                *int64             `json:"seed"`
	PresencePenalty     *float64           `json:"presence_penalty"`
	FrequencyPenalty    *float64           `json:"frequency_penalty"`
	LogitBias           map[string]float64 `json:"logit_bias"`
	Stream              *bool              `json:"stream"`
	StreamOptions       json.RawMessage    `json:"stream_options"`
	// Extensions (llama.cpp / vLLM names).
	TopK              *int     `json:"top_k"`
	MinP              *float64 `json:"min_p"`
	RepetitionPenalty *float64 `json:"repetition_penalty"`
	IgnoreEOS         *bool    `json:"ignore_eos"`
	// Test-time scaling (see reasoning.go).
	Reasoning json.RawMessage `json:"reasoning"`
	rawStructured
}

type rawCompletion struct {
	rawCommon
	Prompt   json.RawMessage `json:"prompt"`
	Logprobs *int            `json:"logprobs"`
	Echo     *bool           `json:"echo"`
	Suffix   *string         `json:"suffix"`
	BestOf   *int            `json:"best_of"`
}

type rawStreamOptions struct {
	IncludeUsage *bool `json:"include_usage"`
}

type rawMessage struct {
	Role    *string         `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    *string         `json:"name"`
	// ReasoningContent of an earlier assistant turn (harmony: its analysis
	// message; other formats ignore it).
	ReasoningContent *string `json:"reasoning_content"`
	// ToolCalls of an earlier assistant turn; ToolCallID of a tool message.
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID *string         `json:"tool_call_id"`
}

type rawChat struct {
	rawCommon
	Messages    []json.RawMessage `json:"messages"`
	Logprobs    *bool             `json:"logprobs"`
	TopLogprobs *int              `json:"top_logprobs"`
	// ReasoningEffort is OpenAI's low, medium or high (harmony's
	// "Reasoning:" line; jinja templates see it as reasoning_effort).
	ReasoningEffort *string `json:"reasoning_effort"`
	// Tool calling (tools.go).
	Tools             json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
}

// params are the validated parameters common to both endpoints.
type params struct {
	Model        string
	N            int
	MaxTokens    int // 0: not given
	Sampling     sample.Params
	Seed         *uint64 // nil: a random seed
	Stop         []string
	Logprobs     bool
	TopLogprobs  int
	Stream       bool
	IncludeUsage bool
	IgnoreEOS    bool
	Reasoning    *reasoning  // nil: plain sampling
	Structured   *structured // nil: no constraint
}

// prompt is one completions prompt: text, or token ids when Tokens is set.
type prompt struct {
	Text     string
	Tokens   []int32
	IsTokens bool
}

type completionRequest struct {
	params
	Prompts []prompt
	Echo    bool // the prompt text starts each choice's text
}

type chatRequest struct {
	params
	Messages []message
	Effort   string // reasoning_effort; "" when not given
	Tools    []chat.Tool
	ToolUse  toolUse
}

// decodeJSON reads exactly one JSON object into v, turning every decoding
// failure into a 400 that names the offending parameter, and rejects the
// fields not in f.
func decodeJSON(body []byte, v any, f fields) *apiError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return newError(400, "invalid_request_error", "", "invalid_json", "the request body is empty; expected a JSON object")
	}
	if body[0] != '{' {
		return newError(400, "invalid_request_error", "", "invalid_json", "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return newError(400, "invalid_request_error", "", "invalid_json", "invalid JSON at byte %d: %v", se.Offset, err)
		}
		return newError(400, "invalid_request_error", "", "invalid_json", "invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return newError(400, "invalid_request_error", "", "invalid_json", "unexpected data after the JSON object")
	}
	if e := f.check(obj, ""); e != nil {
		return e
	}
	return typeError(json.Unmarshal(body, v), "")
}

// typeError turns an error of json.Unmarshal on valid JSON into a 400
// naming the parameter (prefix + the top field of the path): a value of
// the wrong type, or a number the field cannot hold (2^63 for an integer,
// 1.5 for an integer, 1e400 for a number).
func typeError(err error, prefix string) *apiError {
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return newError(400, "invalid_request_error", "", "invalid_json", "invalid JSON: %v", err)
	}
	field, _, _ := strings.Cut(strings.TrimPrefix(te.Field, "rawCommon."), ".")
	name := prefix + field
	if want := typeName(te.Type.String()); strings.HasPrefix(te.Value, "number") {
		if want == "a number" {
			return badParam(name, "invalid value for '%s': %s is not a finite number", name, te.Value)
		}
		return badParam(name, "invalid value for '%s': %s is not %s in range", name, te.Value, want)
	}
	return badParam(name, "invalid type for '%s': expected %s, got JSON %s", name, typeName(te.Type.String()), te.Value)
}

// typeName turns a Go type into the JSON type a client should send.
func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "*"):
		return typeName(goType[1:])
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "struct"):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return goType
}

func decodeCompletion(body []byte) (*completionRequest, *apiError) {
	var raw rawCompletion
	if e := decodeJSON(body, &raw, completionFields); e != nil {
		return nil, e
	}
	p, e := raw.rawCommon.validate()
	if e != nil {
		return nil, e
	}
	req := &completionRequest{params: p}
	if raw.Logprobs != nil {
		if *raw.Logprobs < 0 || *raw.Logprobs > maxTopLogp {
			return nil, badParam("logprobs", "'logprobs' must be between 0 and %d, got %d", maxTopLogp, *raw.Logprobs)
		}
		req.Logprobs, req.TopLogprobs = true, *raw.Logprobs
	}
	req.Echo = raw.Echo != nil && *raw.Echo
	if raw.Suffix != nil && *raw.Suffix != "" {
		return nil, badParam("suffix", "'suffix' is not supported")
	}
	if raw.BestOf != nil && *raw.BestOf != req.N {
		return nil, badParam("best_of", "'best_of' other than n is not supported")
	}
	if req.Prompts, e = decodePrompt(raw.Prompt); e != nil {
		return nil, e
	}
	return req, nil
}

// decodePrompt accepts a string, an array of strings, an array of token
// ids, or an array of arrays of token ids.
func decodePrompt(raw json.RawMessage) ([]prompt, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, missing("prompt")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []prompt{{Text: s}}, nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, badParam("prompt", "'prompt' must be a string, an array of strings, an array of token ids or an array of token id arrays")
	}
	if len(items) == 0 {
		return nil, badParam("prompt", "'prompt' is an empty array")
	}
	var ids []int32
	if json.Unmarshal(raw, &ids) == nil {
		return []prompt{{Tokens: ids, IsTokens: true}}, nil
	}
	if len(items) > maxPrompts {
		return nil, badParam("prompt", "at most %d prompts per request, got %d", maxPrompts, len(items))
	}
	out := make([]prompt, len(items))
	for i, it := range items {
		if json.Unmarshal(it, &out[i].Text) == nil {
			continue
		}
		if json.Unmarshal(it, &out[i].Tokens) != nil {
			return nil, badParam("prompt", "prompt[%d] must be a string or an array of token ids (int32)", i)
		}
		if len(out[i].Tokens) == 0 {
			return nil, badParam("prompt", "prompt[%d] is an empty token array", i)
		}
		out[i].IsTokens = true
	}
	return out, nil
}

func decodeChat(body []byte) (*chatRequest, *apiError) {
	var raw rawChat
	if e := decodeJSON(body, &raw, chatFields); e != nil {
		return nil, e
	}
	p, e := raw.rawCommon.validate()
	if e != nil {
		return nil, e
	}
	req := &chatRequest{params: p}
	if raw.Logprobs != nil && *raw.Logprobs {
		req.Logprobs = true
	}
	if raw.TopLogprobs != nil {
		if !req.Logprobs {
			return nil, badParam("top_logprobs", "'top_logprobs' needs 'logprobs' set to true")
		}
		if *raw.TopLogprobs < 0 || *raw.TopLogprobs > maxTopLogp {
			return nil, badParam("top_logprobs", "'top_logprobs' must be between 0 and %d, got %d", maxTopLogp, *raw.TopLogprobs)
		}
		req.TopLogprobs = *raw.TopLogprobs
	}
	if raw.ReasoningEffort != nil {
		if !harmony.ValidEffort(*raw.ReasoningEffort) {
			return nil, badParam("reasoning_effort", "'reasoning_effort' must be low, medium or high, got %q", *raw.ReasoningEffort)
		}
		req.Effort = *raw.ReasoningEffort
	}
	if req.Tools, req.ToolUse, e = decodeTools(raw.Tools, raw.ToolChoice, raw.ParallelToolCalls); e != nil {
		return nil, e
	}
	if raw.Messages == nil {
		return nil, missing("messages")
	}
	if len(raw.Messages) == 0 || len(raw.Messages) > maxMessages {
		return nil, badParam("messages", "'messages' must hold 1 to %d messages, got %d", maxMessages, len(raw.Messages))
	}
	for i, it := range raw.Messages {
		var m rawMessage
		if e := decodeObject(it, &m, fmt.Sprintf("messages[%d]", i), messageFields); e != nil {
			return nil, e
		}
		msg, e := m.decode(i)
		if e != nil {
			return nil, e
		}
		req.Messages = append(req.Messages, msg)
	}
	return req, nil
}

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}

func (m rawMessage) decode(i int) (message, *apiError) {
	param := fmt.Sprintf("messages[%d]", i)
	if m.Role == nil {
		return message{}, missing(param + ".role")
	}
	if !roles[*m.Role] {
		return message{}, badParam(param+".role", "unknown role %q: expected system, developer, user, assistant or tool", *m.Role)
	}
	msg := message{Role: *m.Role}
	if m.Name != nil {
		msg.Name = *m.Name
	}
	if m.ReasoningContent != nil && msg.Role == "assistant" {
		msg.Reasoning = *m.ReasoningContent
	}
	if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" {
		if msg.Role != "assistant" {
			return message{}, badParam(param+".tool_calls", "only assistant messages have tool_calls")
		}
		var e *apiError
		if msg.ToolCalls, e = decodeToolCalls(m.ToolCalls, param+".tool_calls"); e != nil {
			return message{}, e
		}
	}
	if msg.Role == "tool" {
		if m.ToolCallID == nil {
			return message{}, missing(param + ".tool_call_id")
		}
		msg.ToolCallID = *m.ToolCallID
	}
	c := m.Content
	if len(c) == 0 || string(c) == "null" {
		if msg.Role != "assistant" {
			return message{}, missing(param + ".content")
		}
		return msg, nil
	}
	if json.Unmarshal(c, &msg.Content) == nil {
		return msg, nil
	}
	var parts []struct {
		Type *string `json:"type"`
		Text *string `json:"text"`
	}
	if json.Unmarshal(c, &parts) != nil {
		return message{}, badParam(param+".content", "content must be a string or an array of content parts")
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type == nil || *p.Type != "text" || p.Text == nil {
			return message{}, badParam(fmt.Sprintf("%s.content[%d]", param, j), "only text content parts are supported")
		}
		b.WriteString(*p.Text)
	}
	msg.Content = b.String()
	return msg, nil
}

// validate checks ranges and builds the sampling parameters. OpenAI's
// defaults: temperature 1, top_p 1, n 1, no penalties.
func (r *rawCommon) validate() (params, *apiError) {
	p := params{N: 1, Sampling: sample.Params{Temperature: 1, RepeatLastN: sample.DefaultRepeatLastN}}
	if r.Model == nil || *r.Model == "" {
		return p, missing("model")
	}
	p.Model = *r.Model
	if r.N != nil {
		if *r.N < 1 || *r.N > maxN {
			return p, badParam("n", "'n' must be between 1 and %d, got %d", maxN, *r.N)
		}
		p.N = *r.N
	}
	for _, mt := range []struct {
		name string
		v    *int
	}{{"max_tokens", r.MaxTokens}, {"max_completion_tokens", r.MaxCompletionTokens}} {
		if mt.v == nil {
			continue
		}
		if *mt.v < 1 {
			return p, badParam(mt.name, "'%s' must be at least 1, got %d", mt.name, *mt.v)
		}
		p.MaxTokens = *mt.v
	}
	num := func(name string, v *float64, lo, hi float64) (float32, bool, *apiError) {
		if v == nil {
			return 0, false, nil
		}
		if !(*v >= lo && *v <= hi) { // NaN too
			return 0, false, badParam(name, "'%s' must be between %g and %g, got %g", name, lo, hi, *v)
		}
		return float32(*v), true, nil
	}
	s := &p.Sampling
	var e *apiError
	var ok bool
	var f float32
	if f, ok, e = num("temperature", r.Temperature, 0, 2); e != nil {
		return p, e
	} else if ok {
		s.Temperature = f
	}
	if f, ok, e = num("top_p", r.TopP, 0, 1); e != nil {
		return p, e
	} else if ok {
		s.TopP = f
		if f == 0 { // only the most likely token (the sampler reads 0 as off)
			s.TopK = 1
		}
	}
	if s.PresencePenalty, _, e = num("presence_penalty", r.PresencePenalty, -2, 2); e != nil {
		return p, e
	}
	if s.FrequencyPenalty, _, e = num("frequency_penalty", r.FrequencyPenalty, -2, 2); e != nil {
		return p, e
	}
	if s.MinP, _, e = num("min_p", r.MinP, 0, 1); e != nil {
		return p, e
	}
	if f, ok, e = num("repetition_penalty", r.RepetitionPenalty, 0, math.MaxFloat32); e != nil {
		return p, e
	} else if ok {
		if f == 0 {
			return p, badParam("repetition_penalty", "'repetition_penalty' must be > 0 (1 = off)")
		}
		s.RepeatPenalty = f
	}
	if r.TopK != nil {
		if *r.TopK < 0 {
			return p, badParam("top_k", "'top_k' must be >= 0 (0 = off), got %d", *r.TopK)
		}
		if s.TopK == 0 {
			s.TopK = *r.TopK
		}
	}
	if len(r.LogitBias) > 0 {
		s.LogitBias = make(map[int32]float32, len(r.LogitBias))
		for k, v := range r.LogitBias {
			id, err := strconv.ParseInt(k, 10, 32)
			if err != nil || id < 0 {
				return p, badParam("logit_bias", "logit_bias key %q is not a token id", k)
			}
			if !(v >= -100 && v <= 100) {
				return p, badParam("logit_bias", "logit_bias value for token %d must be between -100 and 100, got %g", id, v)
			}
			s.LogitBias[int32(id)] = float32(v)
		}
	}
	if r.Seed != nil {
		seed := uint64(*r.Seed)
		p.Seed = &seed
	}
	if e = decodeStop(r.Stop, &p); e != nil {
		return p, e
	}
	if r.Stream != nil {
		p.Stream = *r.Stream
	}
	if len(r.StreamOptions) > 0 && string(r.StreamOptions) != "null" {
		var so rawStreamOptions
		if e := decodeObject(r.StreamOptions, &so, "stream_options", streamOptionFields); e != nil {
			return p, e
		}
		if p.Stream && so.IncludeUsage != nil {
			p.IncludeUsage = *so.IncludeUsage
		}
	}
	if r.IgnoreEOS != nil {
		p.IgnoreEOS = *r.IgnoreEOS
	}
	if e = decodeReasoning(r.Reasoning, &p); e != nil {
		return p, e
	}
	if p.Structured, e = r.rawStructured.decode(); e != nil {
		return p, e
	}
	return p, nil
}

// decodeStop accepts null, a string or an array of strings.
func decodeStop(raw json.RawMessage, p *params) *apiError {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one != "" {
			p.Stop = []string{one}
		}
		return nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return badParam("stop", "'stop' must be a string or an array of strings")
	}
	if len(many) > maxStops {
		return badParam("stop", "at most %d stop sequences, got %d", maxStops, len(many))
	}
	for i, s := range many {
		if s == "" {
			return badParam("stop", "stop[%d] is empty", i)
		}
	}
	p.Stop = many
	return nil
}
