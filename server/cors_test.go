package server

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func preflight(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, url, nil)
	require.NoError(t, err)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func TestCORS(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{APIKey: "k", AllowedOrigins: []string{"http://app.example", "https://ui.example:8443"}})
	for _, origin := range []string{"http://app.example", "https://ui.example:8443"} {
		res := preflight(t, ts.URL+"/v1/chat/completions", origin)
		require.Equal(t, http.StatusNoContent, res.StatusCode, "a preflight needs no API key")
		h := res.Header
		require.Equal(t, origin, h.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "GET, POST, OPTIONS", h.Get("Access-Control-Allow-Methods"))
		require.Equal(t, "authorization, content-type", h.Get("Access-Control-Allow-Headers"))
		require.NotEmpty(t, h.Get("Access-Control-Max-Age"))
		require.Contains(t, h.Values("Vary"), "Origin")
	}
	for _, origin := range []string{"http://evil.example", "http://app.example:81", "https://app.example", "null"} {
		res := preflight(t, ts.URL+"/v1/chat/completions", origin)
		require.Equal(t, http.StatusForbidden, res.StatusCode, origin)
		require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))
	}

	// The request itself: allowed origins see the answer, others get no header.
	for origin, want := range map[string]string{"http://app.example": "http://app.example", "http://evil.example": ""} {
		code, _, h := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"a","max_tokens":1}`, "Origin", origin, "Authorization", "Bearer k")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, want, h.Get("Access-Control-Allow-Origin"), origin)
	}
	code, _, h := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"a","max_tokens":1}`, "Origin", "http://app.example")
	require.Equal(t, http.StatusUnauthorized, code, "CORS does not lift the API key")
	require.Equal(t, "http://app.example", h.Get("Access-Control-Allow-Origin"), "so the page can read the error")
}

func TestCORSWildcardAndOff(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{AllowedOrigins: []string{"*"}})
	res := preflight(t, ts.URL+"/v1/completions", "http://anything.example")
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))

	off, _, _ := newTestServer(t, Config{})
	res = preflight(t, off.URL+"/v1/completions", "http://anything.example")
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, "no CORS: OPTIONS is an ordinary method")
	require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))
	code, _, h := post(t, off.URL+"/v1/completions", `{"model":"stories260K","prompt":"a","max_tokens":1}`, "Origin", "http://anything.example")
	require.Equal(t, http.StatusOK, code)
	for k := range h {
		require.NotContains(t, k, "Access-Control", "no CORS headers by default")
	}
}
