package server

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// tokenIDs reads a JSON array of token ids.
func tokenIDs(v any) []int32 {
	var out []int32
	for _, x := range v.([]any) {
		out = append(out, int32(x.(float64)))
	}
	return out
}

func TestTokenizeRoundTrip(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	for _, text := range []string{"Once upon a time", " leading space", "Lily and Tom.\nThe end!", "", "a\tb  c"} {
		code, m, _ := post(t, ts.URL+"/tokenize", `{"model":"stories260K","prompt":`+toJSON(text)+`}`)
		require.Equal(t, http.StatusOK, code, m)
		toks := tokenIDs(m["tokens"])
		require.Equal(t, float64(len(toks)), m["count"])
		require.Equal(t, float64(e.Context()), m["max_model_len"])
		if text == "Once upon a time" {
			require.Equal(t, onceIDs, toks, "llama.cpp's tokens, BOS first")
		}
		code, m, _ = post(t, ts.URL+"/detokenize", `{"tokens":`+toJSON(toks)+`}`)
		require.Equal(t, http.StatusOK, code, m)
		require.Equal(t, text, m["prompt"], "detokenize ∘ tokenize is the identity")
	}

	code, m, _ := post(t, ts.URL+"/tokenize", `{"prompt":"Once upon a time","add_special_tokens":false,"return_token_strs":true}`)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, onceIDs[1:], tokenIDs(m["tokens"]))
	require.Len(t, m["token_strs"], 4)

	// The chat prompt as /v1/chat/completions builds it.
	code, m, _ = post(t, ts.URL+"/tokenize", `{"messages":[{"role":"user","content":"Hi"}]}`)
	require.Equal(t, http.StatusOK, code, m)
	require.Greater(t, m["count"], float64(2))
	code, d, _ := post(t, ts.URL+"/detokenize", `{"tokens":`+toJSON(tokenIDs(m["tokens"]))+`}`)
	require.Equal(t, http.StatusOK, code, d)
	require.Contains(t, d["prompt"], "Hi")
}

func TestTokenizeErrors(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	for _, c := range []struct {
		path, body string
		status     int
		param      string
		msg        string
	}{
		{"/tokenize", `{}`, 400, "prompt", "prompt"},
		{"/tokenize", `{"prompt":"a","messages":[]}`, 400, "messages", "either 'prompt' or 'messages'"},
		{"/tokenize", `{"prompt":3}`, 400, "prompt", "invalid value for 'prompt'"},
		{"/tokenize", `{"prompt":"a","frobnicate":1}`, 400, "frobnicate", "Unrecognized request argument"},
		{"/tokenize", `{"messages":[{"role":"user","content":"x"}],"add_generation_prompt":false}`, 400, "add_generation_prompt", "may only be null or true"},
		{"/tokenize", `{"messages":[{"role":"user","content":"x"}],"add_special_tokens":true}`, 400, "add_special_tokens", "may only be false"},
		{"/tokenize", `{"messages":[{"role":"wizard","content":"x"}]}`, 400, "messages[0].role", "unknown role"},
		{"/tokenize", `{"messages":[]}`, 400, "messages", "1 to"},
		{"/tokenize", `{"model":"gpt-4","prompt":"a"}`, 404, "model", "does not exist"},
		{"/tokenize", `[1]`, 400, "", "JSON object"},
		{"/tokenize", `{"prompt":"a"} x`, 400, "", "unexpected data"},
		{"/detokenize", `{}`, 400, "tokens", "tokens"},
		{"/detokenize", `{"tokens":[1,99999]}`, 400, "tokens", "tokens[1] = 99999 is not a token id (the vocabulary has 512)"},
		{"/detokenize", `{"tokens":[-1]}`, 400, "tokens", "tokens[0] = -1"},
		{"/detokenize", `{"tokens":"abc"}`, 400, "tokens", "expected an array"},
		{"/detokenize", `{"tokens":[1.5]}`, 400, "tokens", "not an integer"},
		{"/detokenize", `{"tokens":[1],"prompt":"x"}`, 400, "prompt", "Unrecognized request argument"},
		{"/detokenize", `{"model":"other","tokens":[1]}`, 404, "model", "does not exist"},
	} {
		t.Run(c.path+" "+c.body, func(t *testing.T) {
			code, m, _ := post(t, ts.URL+c.path, c.body)
			require.Equal(t, c.status, code, m)
			err := m["error"].(map[string]any)
			if c.param != "" {
				require.Equal(t, c.param, err["param"], err)
			}
			require.Contains(t, err["message"], c.msg)
		})
	}
	res, err := http.Get(ts.URL + "/tokenize")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}

func FuzzDecodeTokenize(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","prompt":"Once upon a time","add_special_tokens":false,"return_token_strs":true}`,
		`{"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"add_generation_prompt":true}`,
		`{"messages":[{"role":"user","content":"x"}],"add_special_tokens":true}`,
		`{"prompt":"a","messages":[]}`, `{}`, `[]`, `{"prompt":null}`, `{"chat_template":"x","prompt":"a"}`,
	} {
		f.Add([]byte(s), false)
	}
	for _, s := range []string{`{"tokens":[1,2,3]}`, `{"model":"m","tokens":[]}`, `{"tokens":[1e3]}`, `{"tokens":[2147483648]}`, `{"tokens":null}`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, detok bool) {
		if detok {
			r, e := decodeDetokenize(b)
			if e != nil {
				checkDecoded(t, nil, e)
				return
			}
			checkFields(t, b, detokenizeFields)
			if r.Tokens == nil {
				t.Fatal("accepted a request without tokens")
			}
			return
		}
		r, e := decodeTokenize(b)
		if e != nil {
			checkDecoded(t, nil, e)
			return
		}
		checkFields(t, b, tokenizeFields)
		if (r.prompt == nil) == (r.messages == nil) {
			t.Fatalf("accepted a request with neither or both of prompt and messages: %s", b)
		}
		if r.messages != nil && (len(r.messages) == 0 || len(r.messages) > maxMessages) {
			t.Fatalf("accepted %d messages", len(r.messages))
		}
	})
}
