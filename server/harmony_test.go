package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/internal/testmodels"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/harmony"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/model/tokenizer"
	"github.com/tscale/engine/quant"
)

// A "bigram" llama: every layer weight is zero, so the logits depend on the
// last token alone, through its one-hot embedding and the output matrix.
// Its vocabulary holds the 256 byte tokens, a few words and the harmony
// special tokens (as control tokens, like gpt-oss GGUFs), and greedy
// decoding with presence_penalty 2 walks a harmony reply:
//
//	...assistan t → <|channel|> analysis <|message|> Think ing <|end|>
//	<|start|> assistant <|channel|> final <|message|> ĠHi ! <|return|>
//
// The second <|channel|> and <|message|> pick their runner-up (logit 9)
// because the penalty takes the first choice (10) below it.
const (
	bigramDim = 64
	bigramFF  = 64
)

var bigramWords = []string{"analysis", "final", "assistant", "Think", "ing", "ĠHi", "an"}

var bigramSpecials = []string{"<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>",
	"<|channel|>", "<|start|>", "<|end|>", "<|message|>", "<|call|>"}

// bigramChain lists transitions: from, to, logit.
var bigramChain = []struct {
	from, to string
	logit    float32
}{
	{"t", "<|channel|>", 10},
	{"<|channel|>", "analysis", 10}, {"<|channel|>", "final", 9},
	{"analysis", "<|message|>", 10}, {"final", "<|message|>", 10},
	{"<|message|>", "Think", 10}, {"<|message|>", "ĠHi", 9},
	{"Think", "ing", 10}, {"ing", "<|end|>", 10},
	{"<|end|>", "<|start|>", 10}, {"<|start|>", "assistant", 10}, {"assistant", "<|channel|>", 10},
	{"ĠHi", "!", 10}, {"!", "<|return|>", 10},
}

// byteTokens are GPT-2's byte-to-unicode strings, indexed by byte.
func byteTokens() []string {
	var bs []int
	for b := '!'; b <= '~'; b++ {
		bs = append(bs, int(b))
	}
	for b := 0xA1; b <= 0xAC; b++ {
		bs = append(bs, b)
	}
	for b := 0xAE; b <= 0xFF; b++ {
		bs = append(bs, b)
	}
	out := make([]string, 256)
	for _, b := range bs {
		out[b] = string(rune(b))
	}
	n := 0
	for b := range 256 {
		if out[b] == "" {
			out[b] = string(rune(256 + n))
			n++
		}
	}
	return out
}

// writeBigram writes the model to a temporary GGUF and returns its path.
func writeBigram(t testing.TB) string {
	t.Helper()
	tokens := byteTokens()
	types := make([]int32, 0, 300)
	for range tokens {
		types = append(types, 1)
	}
	for _, w := range bigramWords {
		tokens, types = append(tokens, w), append(types, 1)
	}
	for _, s := range bigramSpecials {
		tokens, types = append(tokens, s), append(types, 3)
	}
	id := map[string]int{}
	for i, s := range tokens {
		id[s] = i
	}
	w := gguf.NewWriter()
	set := func(k string, v any) { require.NoError(t, w.Set(k, v)) }
	set("general.architecture", "llama")
	set("general.name", "bigram-harmony")
	set("general.file_type", uint32(0))
	set("llama.context_length", uint32(1024))
	set("llama.embedding_length", uint32(bigramDim))
	set("llama.block_count", uint32(1))
	set("llama.feed_forward_length", uint32(bigramFF))
	set("llama.attention.head_count", uint32(4))
	set("llama.attention.head_count_kv", uint32(4))
	set("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
	set("llama.rope.freq_base", float32(10000))
	set("llama.rope.dimension_count", uint32(bigramDim/4))
	set("tokenizer.ggml.model", "gpt2")
	set("tokenizer.ggml.pre", "gpt-2")
	set("tokenizer.ggml.tokens", tokens)
	set("tokenizer.ggml.token_type", types)
	set("tokenizer.ggml.merges", []string{"a n"})
	set("tokenizer.ggml.bos_token_id", uint32(id["<|startoftext|>"]))
	set("tokenizer.ggml.eos_token_id", uint32(id["<|return|>"]))
	set("tokenizer.ggml.add_bos_token", false)

	v := len(tokens)
	slot := map[string]int{} // one-hot embedding slot of each chain token
	for _, c := range bigramChain {
		for _, s := range []string{c.from, c.to} {
			if _, ok := slot[s]; !ok {
				slot[s] = len(slot)
			}
		}
	}
	require.LessOrEqual(t, len(slot), bigramDim)
	emb := make([]float32, bigramDim*v)
	for s, k := range slot {
		emb[id[s]*bigramDim+k] = 1
	}
	out := make([]float32, bigramDim*v)
	for _, c := range bigramChain {
		// RMSNorm turns the one-hot row into sqrt(dim) = 8 at its slot.
		out[id[c.to]*bigramDim+slot[c.from]] = c.logit / 8
	}
	ones := func(n int) []float32 {
		o := make([]float32, n)
		for i := range o {
			o[i] = 1
		}
		return o
	}
	add := func(name string, vals []float32, shape ...int64) {
		b := make([]byte, 4*len(vals))
		for i, x := range vals {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		require.NoError(t, w.AddTensor(name, quant.F32, shape, b))
	}
	d, ff := int64(bigramDim), int64(bigramFF)
	add("token_embd.weight", emb, d, int64(v))
	add("blk.0.attn_norm.weight", ones(bigramDim), d)
	for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output"} {
		add("blk.0."+n+".weight", make([]float32, bigramDim*bigramDim), d, d)
	}
	add("blk.0.ffn_norm.weight", ones(bigramDim), d)
	add("blk.0.ffn_gate.weight", make([]float32, bigramDim*bigramFF), d, ff)
	add("blk.0.ffn_up.weight", make([]float32, bigramDim*bigramFF), d, ff)
	add("blk.0.ffn_down.weight", make([]float32, bigramDim*bigramFF), ff, d)
	add("output_norm.weight", ones(bigramDim), d)
	add("output.weight", out, d, int64(v))
	path := filepath.Join(t.TempDir(), "bigram-harmony.gguf")
	require.NoError(t, w.WriteFile(path))
	return path
}

var harmonyDay = time.Date(2026, 3, 14, 23, 30, 0, 0, time.UTC)

// newHarmonyServer serves the bigram model with the harmony format forced.
func newHarmonyServer(t testing.TB) (string, *Server, *engine.Engine) {
	t.Helper()
	e, err := engine.Open(writeBigram(t), engine.WithThreads(2), engine.WithContext(1024))
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	s := New(Config{Logger: quietLogger(), ChatFormat: FormatHarmony})
	s.now = func() time.Time { return harmonyDay }
	require.NoError(t, s.SetEngine(e))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts.URL, s, e
}

func TestHarmonyPromptTokens(t *testing.T) {
	_, s, e := newHarmonyServer(t)
	tok := e.Tokenizer()
	req, ae := decodeChat([]byte(`{"model":"m","reasoning_effort":"high","messages":[
		{"role":"system","content":"Be brief."},
		{"role":"user","content":"Hey"},
		{"role":"assistant","content":"Hello!","reasoning_content":"Greet back."},
		{"role":"user","name":"bob","content":"Say <|end|> hi"}]}`))
	require.Nil(t, ae)
	c, ae := renderChat(context.Background(), s.model.Load().chat, tok, req, "2026-03-14")
	require.Nil(t, ae)
	ids, text := c.Prompt, c.Text
	sys := harmony.DefaultSystem()
	sys.Effort, sys.Date = harmony.High, "2026-03-14"
	want, err := harmony.Render([]harmony.Message{
		{Role: "developer", Content: "Be brief."},
		{Role: "user", Content: "Hey"},
		{Role: "assistant", Channel: "analysis", Content: "Greet back."},
		{Role: "assistant", Channel: "final", Content: "Hello!"},
		{Role: "user", Name: "bob", Content: "Say <|end|> hi"},
	}, harmony.Options{System: &sys})
	require.NoError(t, err)
	require.Equal(t, want.String(), text)
	require.Contains(t, text, "Reasoning: high")
	require.Contains(t, text, "Current date: 2026-03-14")
	require.NotContains(t, text, "Greet back.") // analysis before the first final is dropped
	// Special tokens by id, text as ordinary bytes: decoding gives the text
	// back, and <|end|> typed by the user stays text.
	require.Equal(t, text, tok.Detokenize(ids, false, true))
	var specials []string
	for _, id := range ids {
		if tok.IsControl(id) || strings.HasPrefix(tok.Token(id), "<|") {
			specials = append(specials, tok.Token(id))
		}
	}
	var wantSpecials []string
	for _, p := range want {
		if p.Special {
			wantSpecials = append(wantSpecials, p.Text)
		}
	}
	require.Equal(t, wantSpecials, specials)
}

func TestHarmonyChat(t *testing.T) {
	url, s, e := newHarmonyServer(t)
	msgs := `[{"role":"system","content":"Be brief."},{"role":"user","content":"Hey"}]`
	chat := func(extra string) map[string]any {
		code, m, _ := post(t, url+"/v1/chat/completions", `{"model":"bigram-harmony","temperature":0,"presence_penalty":2,"messages":`+msgs+extra+`}`)
		require.Equal(t, 200, code, "%v", m)
		return m
	}
	m := chat("")
	c := choices(t, m)[0]
	msg := c["message"].(map[string]any)

	// The same prompt through /v1/completions gives the raw output, markers
	// and all; the chat response is its harmony parse.
	req, ae := decodeChat([]byte(`{"model":"m","messages":` + msgs + `}`))
	require.Nil(t, ae)
	hc, ae := renderChat(context.Background(), s.model.Load().chat, e.Tokenizer(), req, harmonyDay.Format(time.DateOnly))
	require.Nil(t, ae)
	ids := hc.Prompt
	code, raw, _ := post(t, url+"/v1/completions", mustJSON(map[string]any{"model": "bigram-harmony", "prompt": ids,
		"temperature": 0, "presence_penalty": 2, "max_tokens": 40}))
	require.Equal(t, 200, code)
	rawText := choices(t, raw)[0]["text"].(string)
	require.Equal(t, "<|channel|>analysis<|message|>Thinking<|end|><|start|>assistant<|channel|>final<|message|> Hi!", rawText)
	h := harmony.Parse(rawText)
	require.Equal(t, h.Reasoning, msg["reasoning_content"])
	require.Equal(t, h.Content, msg["content"])
	require.Equal(t, "Thinking", msg["reasoning_content"])
	require.Equal(t, " Hi!", msg["content"])
	require.Equal(t, "stop", c["finish_reason"]) // <|return|> ended it
	u := m["usage"].(map[string]any)
	require.EqualValues(t, len(ids), u["prompt_tokens"])
	require.EqualValues(t, 13, u["completion_tokens"])
	require.EqualValues(t, 13, raw["usage"].(map[string]any)["completion_tokens"])

	// Cut short: the open message's text so far.
	for _, tc := range []struct {
		max             int
		reason, content string
	}{{3, "", ""}, {5, "Thinking", ""}, {12, "Thinking", " Hi"}} {
		c := choices(t, chat(`,"max_tokens":`+mustJSON(tc.max)))[0]
		require.Equal(t, "length", c["finish_reason"])
		msg := c["message"].(map[string]any)
		require.Equal(t, tc.reason, msg["reasoning_content"], "max_tokens %d", tc.max)
		require.Equal(t, tc.content, msg["content"], "max_tokens %d", tc.max)
	}

	// n > 1: every choice parsed on its own.
	for _, c := range choices(t, chat(`,"n":3`)) {
		msg := c["message"].(map[string]any)
		require.Equal(t, "Thinking", msg["reasoning_content"])
		require.Equal(t, " Hi!", msg["content"])
	}

	// The reasoning extension's winner is parsed the same way.
	m = chat(`,"n":2,"reasoning":{"strategy":"best_of_n"}`)
	msg = choices(t, m)[0]["message"].(map[string]any)
	require.Equal(t, "Thinking", msg["reasoning_content"])
	require.Equal(t, " Hi!", msg["content"])
	require.NotNil(t, m["reasoning"])

	// ignore_eos generates past <|return|> (which renders as nothing).
	c = choices(t, chat(`,"ignore_eos":true,"max_tokens":16`))[0]
	require.Equal(t, "length", c["finish_reason"])
	code, raw, _ = post(t, url+"/v1/completions", mustJSON(map[string]any{"model": "bigram-harmony", "prompt": ids,
		"temperature": 0, "presence_penalty": 2, "max_tokens": 16, "ignore_eos": true}))
	require.Equal(t, 200, code)
	h = harmony.Parse(choices(t, raw)[0]["text"].(string))
	require.Equal(t, h.Content, c["message"].(map[string]any)["content"])
	require.True(t, strings.HasPrefix(h.Content, " Hi!"))
}

func TestHarmonyChatStream(t *testing.T) {
	url, _, _ := newHarmonyServer(t)
	for _, n := range []int{1, 2} {
		body := `{"model":"bigram-harmony","temperature":0,"presence_penalty":2,"stream":true,"n":` + mustJSON(n) +
			`,"logprobs":true,"messages":[{"role":"user","content":"Hey"}]}`
		_, st := streamPost(t, url+"/v1/chat/completions", body)
		require.True(t, st.done)
		reason, content := make([]string, n), make([]string, n)
		finish := make([]any, n)
		lps := make([]int, n)
		require.Len(t, choices(t, st.events[0]), n) // the role, for every choice
		for _, ev := range st.events[1:] {
			for _, c := range choices(t, ev) {
				i := int(c["index"].(float64))
				d := c["delta"].(map[string]any)
				_, hasRole := d["role"]
				require.False(t, hasRole)
				if r, ok := d["reasoning_content"].(string); ok {
					require.Empty(t, content[i], "reasoning after content")
					reason[i] += r
				}
				if x, ok := d["content"].(string); ok {
					content[i] += x
				}
				for _, v := range d {
					require.NotContains(t, v, "<|")
				}
				if l, ok := c["logprobs"].(map[string]any); ok && l != nil {
					lps[i] += len(l["content"].([]any))
				}
				if c["finish_reason"] != nil {
					require.Nil(t, finish[i], "two finish reasons")
					finish[i] = c["finish_reason"]
				}
			}
		}
		for i := range n {
			require.Equal(t, "Thinking", reason[i])
			require.Equal(t, " Hi!", content[i])
			require.Equal(t, "stop", finish[i])
			require.Equal(t, 13, lps[i]) // one entry per generated token
		}
	}
}

func TestHarmonyChatErrors(t *testing.T) {
	url, _, _ := newHarmonyServer(t)
	for _, tc := range []struct{ body, param string }{
		{`{"model":"bigram-harmony","reasoning_effort":"extreme","messages":[{"role":"user","content":"x"}]}`, "reasoning_effort"},
		{`{"model":"bigram-harmony","reasoning_effort":1,"messages":[{"role":"user","content":"x"}]}`, "reasoning_effort"},
		{`{"model":"bigram-harmony","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{`{"model":"bigram-harmony","messages":[{"role":"tool","content":"x","tool_call_id":"c1"}]}`, "messages[0].tool_call_id"},
	} {
		code, m, _ := post(t, url+"/v1/chat/completions", tc.body)
		require.Equal(t, http.StatusBadRequest, code, tc.body)
		require.Equal(t, tc.param, m["error"].(map[string]any)["param"], tc.body)
	}
}

func TestChatFormatSelection(t *testing.T) {
	// Forced harmony needs the special tokens.
	e := openEngine(t)
	require.ErrorContains(t, New(Config{Logger: quietLogger(), ChatFormat: FormatHarmony}).SetEngine(e), "<|start|>")
	require.ErrorContains(t, New(Config{Logger: quietLogger(), ChatFormat: "chatml"}).SetEngine(e), "unknown chat format")
	// A llama model with the harmony vocabulary keeps its template unless told.
	b, err := engine.Open(writeBigram(t), engine.WithThreads(1), engine.WithContext(256))
	require.NoError(t, err)
	defer b.Close()
	s := New(Config{Logger: quietLogger()})
	require.NoError(t, s.SetEngine(b))
	require.Equal(t, "fallback", s.model.Load().chat.Name)
	require.NotNil(t, s.model.Load().chat.Template)
	require.Equal(t, FormatHarmony, chatFormat("", "gpt-oss"))
	require.Equal(t, FormatJinja, chatFormat("", "llama"))
	require.Equal(t, FormatJinja, chatFormat(FormatJinja, "gpt-oss"))
}

// Jinja templates see reasoning_effort (gpt-oss's own template reads it);
// other templates ignore it.
func TestReasoningEffortInTemplate(t *testing.T) {
	tmpl, err := chat.NewTemplate("{{ reasoning_effort | default('none') }}|{{ messages[0].content }}", "<s>", "</s>")
	require.NoError(t, err)
	msgs := []message{{Role: "user", Content: "hi"}}
	got, err := renderText(tmpl, msgs, true, "reasoning_effort", "low")
	require.NoError(t, err)
	require.Equal(t, "low|hi", got)
	got, err = renderText(tmpl, msgs, true)
	require.NoError(t, err)
	require.Equal(t, "none|hi", got)

	ts, _, _ := newTestServer(t, Config{})
	body := `{"model":"stories260K","temperature":0,"max_tokens":8,"messages":[{"role":"user","content":"Once upon a time"}]`
	_, plain, _ := post(t, ts.URL+"/v1/chat/completions", body+`}`)
	_, withEffort, _ := post(t, ts.URL+"/v1/chat/completions", body+`,"reasoning_effort":"high"}`)
	m := choices(t, withEffort)[0]["message"].(map[string]any)
	require.Equal(t, choices(t, plain)[0]["message"], m)
	_, has := m["reasoning_content"]
	require.False(t, has)
}

// gptossTokenizer is gpt-oss's real tokenizer, from its tokenizer.json
// (scripts/fetch-model.sh gpt-oss-vocab; $GPTOSS_TOKENIZER may name another
// copy), with the GGUF metadata llama.cpp's converter would write.
func gptossTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	path := testmodels.GPTOSSTokenizer()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("gpt-oss tokenizer.json not found (run scripts/fetch-model.sh gpt-oss-vocab): %v", err)
	}
	f, err := synth.GPTOSSVocab(path)
	require.NoError(t, err)
	tok, err := tokenizer.FromGGUF(f)
	require.NoError(t, err)
	return tok
}

// With gpt-oss's own vocabulary the prompt tokens are openai-harmony's
// (testdata/harmony/render.json), and the end-of-generation set is what
// harmony needs: <|return|> and <|call|> end a turn, <|end|> does not, and
// the markers the parser reads are rendered in the output text.
func TestHarmonyGptOssTokens(t *testing.T) {
	tok := gptossTokenizer(t)
	ids, err := harmonyTokenIDs(tok)
	require.NoError(t, err)
	require.False(t, tok.AddBOS())
	for _, s := range []string{harmony.Return, harmony.Call} {
		require.True(t, tok.IsEOG(ids[s]), s)
	}
	require.False(t, tok.IsEOG(ids[harmony.End]))
	out := []int32{ids[harmony.Channel]}
	out = append(out, tok.Encode("analysis")...)
	out = append(out, ids[harmony.MessageT])
	out = append(out, tok.Encode("Hi")...)
	out = append(out, ids[harmony.End], ids[harmony.Start])
	out = append(out, tok.Encode("assistant")...)
	out = append(out, ids[harmony.Channel])
	out = append(out, tok.Encode("final")...)
	out = append(out, ids[harmony.Constrain], ids[harmony.MessageT])
	st := tok.NewStreamAfter([]int32{ids[harmony.Start]})
	var text string
	for _, id := range out {
		text += st.Add(id)
	}
	text += st.Flush()
	require.Equal(t, "<|channel|>analysis<|message|>Hi<|end|><|start|>assistant<|channel|>final<|constrain|><|message|>", text)

	var cases []struct {
		Name     string          `json:"name"`
		System   json.RawMessage `json:"system"`
		Keep     bool            `json:"keep_analysis"`
		Messages []harmony.Message
		IDs      []int32 `json:"ids"`
	}
	b, err := os.ReadFile("../testdata/harmony/render.json")
	require.NoError(t, err)
	var g struct{ Cases json.RawMessage }
	require.NoError(t, json.Unmarshal(b, &g))
	require.NoError(t, json.Unmarshal(g.Cases, &cases))
	require.NotEmpty(t, cases)
	for _, c := range cases {
		sys := harmony.DefaultSystem()
		var gs struct {
			Identity, Cutoff, Effort *string
			Date                     string
			Channels                 []string
			Required                 *bool
		}
		if string(c.System) != "null" {
			require.NoError(t, json.Unmarshal(c.System, &gs))
		}
		for _, f := range []struct{ src, dst *string }{{gs.Identity, &sys.Identity}, {gs.Cutoff, &sys.Cutoff}, {gs.Effort, &sys.Effort}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		sys.Date = gs.Date
		if gs.Channels != nil {
			sys.Channels = gs.Channels
		}
		if gs.Required != nil {
			sys.ChannelRequired = *gs.Required
		}
		o := harmony.Options{System: &sys, KeepAnalysis: c.Keep}
		if string(c.System) == "null" {
			o.System = nil
		}
		p, err := harmony.Render(c.Messages, o)
		require.NoError(t, err, c.Name)
		require.Equal(t, c.IDs, harmonyTokens(t, tok, p), c.Name)
	}
}
