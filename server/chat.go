package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/model/tokenizer"
)

// ChatTemplateKey is the GGUF metadata key holding a model's chat template.
//
// Deprecated: use chat.TemplateKey.
const ChatTemplateKey = chat.TemplateKey

// Chat formats (Config.ChatFormat): see package engine/chat.
const (
	FormatAuto    = chat.FormatAuto
	FormatJinja   = chat.FormatJinja
	FormatHarmony = chat.FormatHarmony
)

// ChatMessage is one turn of a conversation for ChatPrompt.
//
// Deprecated: use chat.Message.
type ChatMessage = chat.Message

// Chat is a conversation rendered as `engine serve` renders it.
//
// Deprecated: use chat.Chat.
type Chat = chat.Chat

// ChatPrompt renders msgs for e's model as `engine serve` does.
//
// Deprecated: use chat.Prompt, which this calls.
func ChatPrompt(e *engine.Engine, format string, msgs []ChatMessage, effort string, date time.Time) (*Chat, error) {
	return chat.Prompt(e, format, msgs, effort, date)
}

// message is one chat message with its content flattened to text.
type message = chat.Message

// chatFormat resolves FormatAuto for a model architecture.
func chatFormat(format, arch string) string { return chat.Resolve(format, arch) }

// renderChat turns a chat request into prompt tokens with the served
// model's formatter; date is the day for harmony's system message.
func renderChat(ctx context.Context, f *chat.Formatter, tok *tokenizer.Tokenizer, req *chatRequest, date string) (*Chat, *apiError) {
	c, err := f.Render(ctx, tok, &chat.Request{Messages: req.Messages, Tools: req.Tools, Effort: req.Effort, Date: date, Call: req.ToolUse.called(req.Tools)})
	if err != nil {
		return nil, chatError(err)
	}
	return c, nil
}

// chatError is the API error of a failed rendering: 400 when the
// conversation is at fault (raise_exception rejects it, or it is too big
// for the template's limits), 500 when the template broke a limit on it,
// 503 when rendering ran out of time.
func chatError(err error) *apiError {
	var ce *chat.Error
	if !errors.As(err, &ce) {
		return internal("%v", err)
	}
	switch ce.Kind {
	case chat.Timeout:
		return newError(http.StatusServiceUnavailable, "server_error", "", ce.Code, "%v", ce.Err)
	case chat.TemplateFault:
		return newError(http.StatusInternalServerError, "server_error", "", ce.Code, "%v", ce.Err)
	}
	code := ce.Code
	if code == "" {
		code = "invalid_value"
	}
	return newError(http.StatusBadRequest, "invalid_request_error", ce.Param, code, "%v", ce.Err)
}
