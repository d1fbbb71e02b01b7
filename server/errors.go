package server

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an OpenAI-style error: the HTTP status and the body
// {"error": {"message", "type", "param", "code"}}.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

func newError(status int, typ, param, code, format string, args ...any) *apiError {
	e := &apiError{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	return e
}

// badParam is a 400 for one request parameter.
func badParam(param, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "invalid_request_error", param, "invalid_value", format, args...)
}

// missing is a 400 for a required parameter.
func missing(param string) *apiError {
	return newError(http.StatusBadRequest, "invalid_request_error", param, "missing_required_parameter",
		"missing required parameter: '%s'", param)
}

func internal(format string, args ...any) *apiError {
	return newError(http.StatusInternalServerError, "server_error", "", "internal_error", format, args...)
}

func unavailable(msg string) *apiError {
	return newError(http.StatusServiceUnavailable, "server_error", "", "service_unavailable", "%s", msg)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1") // every 429 is temporary
	}
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"cannot encode the response","type":"server_error","param":null,"code":"internal_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
