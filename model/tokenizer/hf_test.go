package tokenizer

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/model/gguf"
)

// A small tokenizer.json with what HFToGGUF looks at: a special and two
// non-special added tokens, merges as pairs (one with a space inside), a
// TemplateProcessing that prepends BOS.
const hfTiny = `{
 "added_tokens": [
  {"id": 4, "content": "<s>", "special": true, "normalized": false},
  {"id": 5, "content": "<|end|>", "special": true, "normalized": false},
  {"id": 6, "content": "▁user", "special": false, "normalized": false},
  {"id": 7, "content": "<|x|>", "special": false, "normalized": false}
 ],
 "post_processor": {"type": "TemplateProcessing",
  "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
 "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3},
  "merges": [["a", "b"], ["Ġ a", "b"]]}
}`

const hfTinyConfig = `{
 "bos_token": "<s>", "eos_token": {"content": "<|end|>"}, "pad_token": "<|end|>", "unk_token": "<nope>",
 "add_eos_token": false,
 "chat_template": [{"name": "default", "template": "D"}, {"name": "tool use", "template": "T"}]
}`

func kvMap(kvs []gguf.KV) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestHFToGGUF(t *testing.T) {
	kvs, err := HFToGGUF(HFInput{Tokenizer: []byte(hfTiny), Config: []byte(hfTinyConfig), VocabSize: 10, Pre: "gpt-4o"})
	require.NoError(t, err)
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	require.Equal(t, []string{kp + "model", kp + "pre", kp + "tokens", kp + "token_type", kp + "merges",
		kp + "bos_token_id", kp + "eos_token_id", kp + "padding_token_id", kp + "add_bos_token", kp + "add_eos_token",
		"tokenizer.chat_template.tool_use", "tokenizer.chat_templates", "tokenizer.chat_template"}, keys)
	m := kvMap(kvs)
	require.Equal(t, "gpt2", m[kp+"model"])
	require.Equal(t, "gpt-4o", m[kp+"pre"])
	require.Equal(t, []string{"a", "b", "ab", "Ġ", "<s>", "<|end|>", " user", "<|x|>", "[PAD8]", "[PAD9]"}, m[kp+"tokens"])
	require.Equal(t, []int32{typeNormal, typeNormal, typeNormal, typeNormal, typeControl, typeControl,
		typeUserDefined, typeControl, typeUnused, typeUnused}, m[kp+"token_type"])
	require.Equal(t, []string{"a b", "ĠĠa b"}, m[kp+"merges"])
	require.Equal(t, uint32(4), m[kp+"bos_token_id"])
	require.Equal(t, uint32(5), m[kp+"eos_token_id"])
	require.Equal(t, uint32(5), m[kp+"padding_token_id"])
	require.Equal(t, true, m[kp+"add_bos_token"])
	require.Equal(t, false, m[kp+"add_eos_token"])
	require.Equal(t, "D", m["tokenizer.chat_template"])
	require.Equal(t, "T", m["tokenizer.chat_template.tool_use"])
	require.Equal(t, []string{"tool_use"}, m["tokenizer.chat_templates"])

	// The KVs make a GGUF file that this package reads.
	w := gguf.NewWriter()
	for _, kv := range kvs {
		require.NoError(t, w.Set(kv.Key, kv.Value))
	}
	var b bytes.Buffer
	_, err = w.WriteTo(&b)
	require.NoError(t, err)
	f, err := gguf.Parse(b.Bytes(), "tiny.gguf")
	require.NoError(t, err)
	tok, err := FromGGUF(f)
	require.NoError(t, err)
	require.Equal(t, 10, tok.VocabSize())
	require.Equal(t, []int32{4, 2, 6, 7}, tok.Encode("ab user<|x|>", AddSpecial, ParseSpecial))
	require.Equal(t, []int32{4, 2, 6}, tok.Encode("ab user<|x|>", AddSpecial)) // a control token stays text, of unknown bytes
	require.Equal(t, "<s>ab user<|x|>", tok.Detokenize([]int32{4, 2, 6, 7}, false, true))
}

func TestHFToGGUFDefaults(t *testing.T) {
	// String merges, no config, no padding: the vocabulary's own size.
	tj := `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
		"post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "RobertaProcessing"}]}}`
	kvs, err := HFToGGUF(HFInput{Tokenizer: []byte(tj), Pre: "gpt-2"})
	require.NoError(t, err)
	m := kvMap(kvs)
	require.Equal(t, []string{"a", "b", "ab"}, m[kp+"tokens"])
	require.Equal(t, []string{"a b"}, m[kp+"merges"])
	require.Equal(t, true, m[kp+"add_bos_token"])
	require.Equal(t, true, m[kp+"add_sep_token"])
	require.NotContains(t, m, kp+"bos_token_id")
	require.NotContains(t, m, "tokenizer.chat_template")

	kvs, err = HFToGGUF(HFInput{Tokenizer: []byte(tj), Config: []byte(`{"chat_template": "{{ x }}"}`), Pre: "gpt-2"})
	require.NoError(t, err)
	require.Equal(t, "{{ x }}", kvMap(kvs)["tokenizer.chat_template"])
}

func TestHFToGGUFErrors(t *testing.T) {
	bpe := func(vocab, merges string) string {
		return `{"model": {"type": "BPE", "vocab": ` + vocab + `, "merges": ` + merges + `}}`
	}
	for _, tc := range []struct {
		name, tj, cfg string
		size          int
		pre, want     string
	}{
		{"bad json", `{"model":`, "", 0, "gpt-4o", "tokenizer.json: unexpected end of JSON input"},
		{"not bpe", `{"model": {"type": "Unigram", "vocab": {"a": 0}}}`, "", 0, "gpt-4o", `model type "Unigram", want "BPE"`},
		{"no vocab", bpe(`{}`, `[]`), "", 0, "gpt-4o", "no model.vocab"},
		{"no pre", bpe(`{"a": 0}`, `[]`), "", 0, "", "needs a pre-tokenizer name"},
		{"bad config", bpe(`{"a": 0}`, `[]`), `[1]`, 0, "gpt-4o", "tokenizer_config.json: json: cannot unmarshal array"},
		{"negative size", bpe(`{"a": 0}`, `[]`), "", -1, "gpt-4o", "vocab_size -1 out of range"},
		{"too small", bpe(`{"a": 0, "b": 7}`, `[]`), "", 5, "gpt-4o", "token id 7 does not fit vocab_size 5"},
		{"negative", bpe(`{"a": -1}`, `[]`), "", 0, "gpt-4o", `token "a" has negative id -1`},
		{"shared id", bpe(`{"a": 0, "b": 0}`, `[]`), "", 0, "gpt-4o", "share id 0"},
		{"bad merge", bpe(`{"a": 0}`, `[["a"]]`), "", 0, "gpt-4o", `merge 0 is ["a"], want a string or a pair`},
		{"eos template", `{"added_tokens": [{"id": 1, "content": "<e>"}],
			"post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "<e>"}}]},
			"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `{"eos_token": "<f>"}`, 0, "gpt-4o",
			`TemplateProcessing ends with "<e>", not the EOS token "<f>"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := HFToGGUF(HFInput{Tokenizer: []byte(tc.tj), Config: []byte(tc.cfg), VocabSize: tc.size, Pre: tc.pre})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// FuzzHFToGGUF: any tokenizer.json and tokenizer_config.json give an error
// or KVs that gguf.Writer accepts and FromGGUF reads without panicking.
func FuzzHFToGGUF(f *testing.F) {
	f.Add([]byte(hfTiny), []byte(hfTinyConfig), 10)
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}`), []byte(`{}`), 0)
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"[PAD1]": 0}}}`), []byte(nil), 2)
	f.Fuzz(func(t *testing.T, tj, cfg []byte, size int) {
		if size < 0 || size > 1<<12 {
			return
		}
		kvs, err := HFToGGUF(HFInput{Tokenizer: tj, Config: cfg, VocabSize: size, Pre: "gpt-4o"})
		if err != nil {
			return
		}
		w := gguf.NewWriter()
		for _, kv := range kvs {
			require.NoError(t, w.Set(kv.Key, kv.Value))
		}
		var b bytes.Buffer
		_, err = w.WriteTo(&b)
		require.NoError(t, err)
		g, err := gguf.Parse(b.Bytes(), "fuzz.gguf")
		require.NoError(t, err)
		if tok, err := FromGGUF(g); err == nil {
			tok.Encode("ab <|end|>", AddSpecial, ParseSpecial)
		}
	})
}
