package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tscale/engine/model/tokenizer"
)

// POST /tokenize and /detokenize take vLLM's shapes:
//
//	{"prompt": "...", "add_special_tokens": true} or {"messages": [...]}
//	  -> {"count": N, "max_model_len": C, "tokens": [...]}
//	{"tokens": [...]} -> {"prompt": "..."}
//
// "model" is optional; when given it must be the served model's id.

var (
	tokenizeFields = fields{
		ok: fieldSet([]string{"model", "prompt", "messages", "add_special_tokens", "return_token_strs"}),
		// vLLM's chat options this server has no choice in: the chat
		// prompt is the one /v1/chat/completions runs.
		off: map[string][]string{"add_generation_prompt": {`true`}, "continue_final_message": {`false`},
			"tools": {`[]`}, "chat_template": nil, "chat_template_kwargs": {`{}`}, "mm_processor_kwargs": {`{}`}},
	}
	detokenizeFields = fields{ok: fieldSet([]string{"model", "tokens"})}
)

type rawTokenize struct {
	Model            *string           `json:"model"`
	Prompt           *string           `json:"prompt"`
	Messages         []json.RawMessage `json:"messages"`
	AddSpecialTokens *bool             `json:"add_special_tokens"`
	ReturnTokenStrs  *bool             `json:"return_token_strs"`
}

type tokenizeRequest struct {
	model      string // "" when not given
	prompt     *string
	messages   []message
	addSpecial bool
	strs       bool
}

func decodeTokenize(body []byte) (*tokenizeRequest, *apiError) {
	var raw rawTokenize
	if e := decodeJSON(body, &raw, tokenizeFields); e != nil {
		return nil, e
	}
	req := &tokenizeRequest{prompt: raw.Prompt, strs: raw.ReturnTokenStrs != nil && *raw.ReturnTokenStrs}
	if raw.Model != nil {
		req.model = *raw.Model
	}
	switch {
	case raw.Prompt != nil && raw.Messages != nil:
		return nil, badParam("messages", "give either 'prompt' or 'messages', not both")
	case raw.Prompt != nil:
		// As vLLM: a text prompt gets the special tokens (BOS) by default.
		req.addSpecial = raw.AddSpecialTokens == nil || *raw.AddSpecialTokens
		return req, nil
	case raw.Messages == nil:
		return nil, missing("prompt")
	}
	if raw.AddSpecialTokens != nil && *raw.AddSpecialTokens {
		return nil, badParam("add_special_tokens", "with 'messages' the tokens are the chat prompt as /v1/chat/completions builds it "+
			"(special tokens as the chat template writes them); 'add_special_tokens' may only be false")
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
		req.messages = append(req.messages, msg)
	}
	return req, nil
}

type rawDetokenize struct {
	Model  *string `json:"model"`
	Tokens []int32 `json:"tokens"`
}

func decodeDetokenize(body []byte) (*rawDetokenize, *apiError) {
	var raw rawDetokenize
	if e := decodeJSON(body, &raw, detokenizeFields); e != nil {
		return nil, e
	}
	if raw.Tokens == nil {
		return nil, missing("tokens")
	}
	return &raw, nil
}

// tokenizeResponse is vLLM's TokenizeResponse.
type tokenizeResponse struct {
	Count     int      `json:"count"`
	MaxLen    int      `json:"max_model_len"`
	Tokens    []int32  `json:"tokens"`
	TokenStrs []string `json:"token_strs,omitempty"`
}

func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) {
	l, req, ok := accept(s, w, r, decodeTokenize)
	if !ok {
		return
	}
	if req.model != "" && req.model != l.name {
		writeError(w, modelNotFound(req.model))
		return
	}
	tok := l.e.Tokenizer()
	var ids []int32
	if req.prompt != nil {
		// As /v1/completions tokenizes a text prompt.
		ids = tok.Encode(*req.prompt, tokenizer.AddSpecial.If(req.addSpecial), tokenizer.ParseSpecial)
	} else {
		c, e := renderChat(r.Context(), l.chat, tok, &chatRequest{Messages: req.messages}, s.now().UTC().Format(time.DateOnly))
		if e != nil {
			writeError(w, e)
			return
		}
		ids = c.Prompt
	}
	res := tokenizeResponse{Count: len(ids), MaxLen: l.e.Context(), Tokens: ids}
	if res.Tokens == nil {
		res.Tokens = []int32{}
	}
	if req.strs {
		res.TokenStrs = make([]string, len(ids))
		for i, id := range ids {
			res.TokenStrs[i] = tok.Piece(id)
		}
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) detokenize(w http.ResponseWriter, r *http.Request) {
	l, req, ok := accept(s, w, r, decodeDetokenize)
	if !ok {
		return
	}
	if req.Model != nil && *req.Model != "" && *req.Model != l.name {
		writeError(w, modelNotFound(*req.Model))
		return
	}
	tok := l.e.Tokenizer()
	for i, id := range req.Tokens {
		if id < 0 || int(id) >= tok.VocabSize() {
			writeError(w, badParam("tokens", "tokens[%d] = %d is not a token id (the vocabulary has %d)", i, id, tok.VocabSize()))
			return
		}
	}
	// A leading BOS that /tokenize added goes, so that text prompts
	// round-trip; other special tokens show, as in a chat prompt's text.
	toks := req.Tokens
	if tok.AddBOS() && len(toks) > 0 && toks[0] == tok.BOS() {
		toks = toks[1:]
	}
	writeJSON(w, http.StatusOK, map[string]string{"prompt": tok.Detokenize(toks, false, true)})
}
