package tokenizer

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeMeta is an in-memory tokenizer.ggml.* metadata set.
type fakeMeta map[string]any

func (m fakeMeta) String(k string) (string, bool)      { v, ok := m[k].(string); return v, ok }
func (m fakeMeta) Bool(k string) (bool, bool)          { v, ok := m[k].(bool); return v, ok }
func (m fakeMeta) Uint(k string) (uint64, bool)        { v, ok := m[k].(uint64); return v, ok }
func (m fakeMeta) Strings(k string) ([]string, bool)   { v, ok := m[k].([]string); return v, ok }
func (m fakeMeta) Float32s(k string) ([]float32, bool) { v, ok := m[k].([]float32); return v, ok }
func (m fakeMeta) Int32s(k string) ([]int32, bool)     { v, ok := m[k].([]int32); return v, ok }

func spmMeta() fakeMeta {
	return fakeMeta{
		kp + "model":  "llama",
		kp + "tokens": []string{"<unk>", "<s>", "</s>", "▁", "a", "b", "ab", "▁ab", "<0x63>"},
		kp + "scores": []float32{0, 0, 0, -1, -2, -2, -0.5, -0.1, 0},
		kp + "token_type": []int32{typeUnknown, typeControl, typeControl, typeNormal, typeNormal, typeNormal,
			typeNormal, typeNormal, typeByte},
	}
}

func TestFromMetaErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m fakeMeta)
		want string
	}{
		{"no model", func(m fakeMeta) { delete(m, kp+"model") }, "missing tokenizer.ggml.model"},
		{"bad model", func(m fakeMeta) { m[kp+"model"] = "bert" }, `unsupported tokenizer.ggml.model "bert" (supported: "llama"`},
		{"bad pre", func(m fakeMeta) { m[kp+"model"] = "gpt2"; m[kp+"pre"] = "nope"; m[kp+"merges"] = []string{} },
			`unsupported pre-tokenizer tokenizer.ggml.pre="nope" (supported: a.x-4.0`},
		{"no merges", func(m fakeMeta) { m[kp+"model"] = "gpt2"; m[kp+"pre"] = "gpt-2" }, "missing tokenizer.ggml.merges"},
		{"no tokens", func(m fakeMeta) { delete(m, kp+"tokens") }, "missing tokenizer.ggml.tokens"},
		{"short scores", func(m fakeMeta) { m[kp+"scores"] = []float32{1} }, "tokenizer.ggml.scores has 1 entries for 9 tokens"},
		{"short types", func(m fakeMeta) { m[kp+"token_type"] = []int32{1} }, "tokenizer.ggml.token_type has 1 entries for 9 tokens"},
		{"duplicate", func(m fakeMeta) { m[kp+"tokens"].([]string)[5] = "a" }, `duplicate token "a" in tokenizer.ggml.tokens: ids 4 and 5`},
		{"add_eos without eos", func(m fakeMeta) {
			m[kp+"tokens"] = m[kp+"tokens"].([]string)[:2]
			m[kp+"scores"] = []float32{0, 0}
			m[kp+"token_type"] = []int32{2, 3}
			m[kp+"add_eos_token"] = true
		}, "add_eos_token is true, but tokenizer.ggml.eos_token_id is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := spmMeta()
			tc.edit(m)
			_, err := fromMeta(m)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestSPMSynthetic(t *testing.T) {
	tok, err := fromMeta(spmMeta())
	require.NoError(t, err)
	for _, tc := range []struct {
		text       string
		addSpecial bool
		want       []int32
	}{
		{"", true, []int32{1}},
		{"", false, nil},
		{"ab", false, []int32{7}},         // "▁ab" scores best
		{"ab ab", true, []int32{1, 7, 7}}, // spaces become ▁
		{"abc", false, []int32{7, 8}},     // c only as a byte token
		{"ba", false, []int32{3, 5, 4}},
		{"d", false, []int32{3, 0}}, // no byte token for 'd': unknown
	} {
		got := tok.Encode(tc.text, AddSpecial.If(tc.addSpecial))
		if len(tc.want) == 0 {
			require.Empty(t, got, tc.text)
			continue
		}
		require.Equal(t, tc.want, got, tc.text)
	}
	require.Equal(t, "ab abc", tok.Decode([]int32{7, 7, 8}))
	require.Equal(t, " ab", tok.Piece(7))
	require.Equal(t, "<s>", tok.Piece(1))
	require.Equal(t, "", tok.Piece(-1))
	require.Equal(t, "", tok.Decode([]int32{99, -5})) // out of range: nothing, no panic
}

// pieces renders a segmentation as strings.
func pieces(text string, splits []splitter) []string {
	cpts := decodeCpts(text, nil)
	lens := []int{len(cpts)}
	for _, s := range splits {
		lens = s(cpts, lens)
	}
	var out []string
	start := 0
	for _, n := range lens {
		out = append(out, string(cpts[start:start+n]))
		start += n
	}
	return out
}

func TestPreTokenizers(t *testing.T) {
	for _, tc := range []struct {
		pre, text string
		want      []string
	}{
		{"gpt-2", "Hello world's  123abc!!", []string{"Hello", " world", "'s", " ", " 123", "abc", "!!"}},
		{"gpt-2", "x \n\ny  ", []string{"x", " \n", "\n", "y", "  "}},
		{"gpt-2", "I'LL", []string{"I", "'", "LL"}}, // case-sensitive contractions
		{"llama-bpe", "I'LL do", []string{"I", "'LL", " do"}},
		{"llama-bpe", "Hello  world 12345 ok\n\n", []string{"Hello", " ", " world", " ", "123", "45", " ok", "\n\n"}},
		{"llama-bpe", "a...\n\nb", []string{"a", "...\n\n", "b"}},
		{"llama-bpe", "\tx ,y", []string{"\tx", " ,", "y"}},
		{"qwen2", "v12345", []string{"v", "1", "2", "3", "4", "5"}},
		{"smollm", "a 123", []string{"a", " ", "1", "2", "3"}},
		{"default", "x+=1234;", []string{"x", "+=", "123", "4", ";"}},
		{"deepseek-llm", "Hi 你好 42\n", []string{"Hi", " ", "你好", " ", "42", "\n"}},
		// gpt-4o as llama.cpp's collapsed std::regex: ASCII case only.
		{"gpt-4o", "DON'T I'm they'RE", []string{"DON'T", " I'm", " they'RE"}},
		{"gpt-4o", "HTTPServer camelCaseVar", []string{"HTTPServer", " camel", "Case", "Var"}},
		{"gpt-4o", "ÀB ÉCOLE naïve", []string{"À", "B", " É", "COLE", " naïve"}},
		{"gpt-4o", "ÀbC aÀB", []string{"Àb", "C", " aÀ", "B"}},
		{"gpt-4o", "ПРИВЕТ Мир", []string{"ПРИВЕТ", " Мир"}},
		{"gpt-4o", "cafe\u0301x", []string{"cafe", "\u0301x"}}, // a mark is not a letter here
		{"gpt-4o", "1234567 x²", []string{"123", "456", "7", " x", "²"}},
		{"gpt-4o", "a/b\n/", []string{"a", "/b", "\n", "/"}},
		{"gpt-4o", "x ///\r\n/ y", []string{"x", " ///\r\n/", " y"}},
		{"gpt-4o", "hello   \n\n  a  b  ", []string{"hello", "   \n\n", " ", " a", " ", " b", "  "}},
		{"gpt-4o", "\tx\u00a0y !?", []string{"\tx", "\u00a0y", " !?"}},
		{"gpt-4o", ".Hello 'RE'll", []string{".Hello", " '", "RE'll"}},
	} {
		cfg, ok := preConfigs[tc.pre]
		require.True(t, ok, tc.pre)
		require.Equal(t, tc.want, pieces(tc.text, cfg.splits), "%s: %q", tc.pre, tc.text)
	}
}

func TestDecodeCpts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []rune
	}{
		{"aé€😀", []rune{'a', 'é', '€', '😀'}},
		{"\xff", []rune{0xfffd}},
		{"\xe2\x82", []rune{0xfffd, 0xfffd}},
		{"\xc0\x80", []rune{0}},          // overlong: llama.cpp accepts it
		{"\xed\xa0\x80", []rune{0xd800}}, // surrogate: llama.cpp accepts it
		{"\xf7\xbf\xbf\xbf", []rune{0xfffd}},
	} {
		require.Equal(t, tc.want, decodeCpts(tc.in, nil), "%q", tc.in)
	}
}

func TestCleanSpaces(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "",
		"Hello , world !":      "Hello, world!",
		"a ' b":                "a'b",
		"it 's I 'm we 're":    "it's I'm we're",
		"don 't I 'll you 'd ": "don 't I 'll you 'd ",
		" ?":                   "?",
	} {
		require.Equal(t, want, string(cleanSpaces([]byte(in))), "%q", in)
	}
}
