package server

import (
	"net/http"
	"slices"
	"strings"
)

// cors answers browsers' cross-origin checks for Config.AllowedOrigins. A
// preflight (OPTIONS with Access-Control-Request-Method) from an allowed
// origin gets 204 with the Access-Control-* headers, from another 403;
// other requests from an allowed origin get Access-Control-Allow-Origin.
// It reports whether it answered the request. Preflights carry no API key,
// so they are answered before the key is checked.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	allowed := s.cfg.AllowedOrigins
	origin := r.Header.Get("Origin")
	if len(allowed) == 0 || origin == "" {
		return false
	}
	any := slices.Contains(allowed, "*")
	ok := any || slices.Contains(allowed, origin)
	h := w.Header()
	h.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if !ok {
		if preflight {
			writeError(w, newError(http.StatusForbidden, "invalid_request_error", "", "origin_not_allowed",
				"the origin %q is not allowed (--allowed-origins)", origin))
			return true
		}
		return false // no CORS headers: the browser keeps the answer from the page
	}
	if any {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if !preflight {
		h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	reqHeaders := r.Header.Get("Access-Control-Request-Headers")
	if reqHeaders == "" {
		reqHeaders = "Authorization, Content-Type, X-Request-Id"
	}
	h.Set("Access-Control-Allow-Headers", strings.TrimSpace(reqHeaders))
	h.Set("Access-Control-Max-Age", "600")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
	return true
}
