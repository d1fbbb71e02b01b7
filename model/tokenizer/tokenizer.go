// Package tokenizer turns text into token ids and back exactly as llama.cpp
// does (src/llama-vocab.cpp, src/unicode.cpp), from the tokenizer.ggml.*
// metadata of a GGUF file. Two models are supported: "llama" (SentencePiece
// BPE with byte fallback) and "gpt2" (byte-level BPE with a regex
// pre-tokenizer, chosen by tokenizer.ggml.pre).
package tokenizer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tscale/engine/model/gguf"
)

// Token types of tokenizer.ggml.token_type (llama_token_type).
const (
	typeNormal      = 1
	typeUnknown     = 2
	typeControl     = 3
	typeUserDefined = 4
	typeUnused      = 5
	typeByte        = 6
)

// attr is llama_token_attr: a token's properties as bit flags.
type attr uint16

const (
	attrUnknown attr = 1 << iota
	attrUnused
	attrNormal
	attrControl
	attrUserDefined
	attrByte
	attrNormalized
	attrLstrip
	attrRstrip
)

type kind int

const (
	spm kind = iota
	bpe
)

// Tokenizer encodes and decodes text for one vocabulary. It is read-only
// after construction and safe for concurrent use.
type Tokenizer struct {
	kind   kind
	model  string
	pre    string
	splits []splitter // BPE pre-tokenizer

	tokens []string
	scores []float32
	attrs  []attr
	ids    map[string]int32
	ranks  map[string]int32 // BPE merges, "left right" -> rank
	pieces []string         // token_to_piece(special=true) for each id
	byteID [256]int32       // byte -> token for SPM byte fallback / BPE single bytes, -1 if none

	special []int32 // control, user-defined and unknown tokens, longest text first
	eog     map[int32]bool

	bos, eos, eot, eom, unk, pad int32

	addBOS, addEOS, addSpacePrefix bool
	ignoreMerges, cleanSpaces      bool
}

// metadata is the part of *gguf.File the tokenizer reads; tests substitute
// small in-memory vocabularies.
type metadata interface {
	String(key string) (string, bool)
	Bool(key string) (bool, bool)
	Uint(key string) (uint64, bool)
	Strings(key string) ([]string, bool)
	Float32s(key string) ([]float32, bool)
	Int32s(key string) ([]int32, bool)
}

var _ metadata = (*gguf.File)(nil)

// FromGGUF builds the tokenizer described by f's tokenizer.ggml.* metadata.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	return fromMeta(f)
}

const kp = "tokenizer.ggml."

// preConfig is what a tokenizer.ggml.pre name selects in llama.cpp.
type preConfig struct {
	splits       []splitter
	ignoreMerges bool
	addBOS       bool
	keepSpaces   bool // clean_spaces = false
	noBOS        bool // special_bos_id = NULL (chatglm)
}

var (
	gpt2Splits   = []splitter{splitGPT2}
	llama3Splits = []splitter{splitLlama3(3, fLetter)}
	qwen2Splits  = []splitter{splitLlama3(1, fLetter)}
	digitSplits  = []splitter{oneOf(isNumber), splitGPT2}
	gpt4oSplits  = []splitter{splitGPT4o}
)

// preConfigs maps pre-tokenizer names to llama.cpp's settings for them
// (llama_vocab::impl::load and llm_tokenizer_bpe). Names llama.cpp knows but
// whose regexes are not implemented here are rejected as unsupported.
var preConfigs = map[string]preConfig{
	"default": {splits: []splitter{runOf(defaultPunct), splitGPT2, runOf(isNumber), splitMatches(threeDigits)}},

	"llama3":       {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"llama-v3":     {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"llama-bpe":    {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"falcon3":      {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"falcon-h1":    {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"pixtral":      {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"midm-2.0":     {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"lfm2":         {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"jina-v5-nano": {splits: llama3Splits, ignoreMerges: true, addBOS: true},
	"dbrx":         {splits: llama3Splits},
	"smaug-bpe":    {splits: llama3Splits},
	"glm4":         {splits: llama3Splits, noBOS: true},
	"chatglm-bpe":  {splits: llama3Splits, noBOS: true},

	"gpt-2":           {splits: gpt2Splits},
	"phi-2":           {splits: gpt2Splits},
	"jina-es":         {splits: gpt2Splits},
	"jina-de":         {splits: gpt2Splits},
	"gigachat":        {splits: gpt2Splits},
	"a.x-4.0":         {splits: gpt2Splits},
	"mellum":          {splits: gpt2Splits},
	"mpt":             {splits: gpt2Splits},
	"olmo":            {splits: gpt2Splits},
	"exaone4":         {splits: gpt2Splits},
	"trillion":        {splits: gpt2Splits, keepSpaces: true},
	"granite-docling": {splits: gpt2Splits, keepSpaces: true},

	"qwen2":            {splits: qwen2Splits, keepSpaces: true},
	"deepseek-r1-qwen": {splits: qwen2Splits, keepSpaces: true},
	"kormo":            {splits: qwen2Splits, keepSpaces: true},
	"f2llmv2":          {splits: qwen2Splits, keepSpaces: true},
	"megrez":           {splits: qwen2Splits},
	"stablelm2":        {splits: qwen2Splits},
	"hunyuan":          {splits: qwen2Splits, keepSpaces: true},
	"solar-open":       {splits: qwen2Splits, keepSpaces: true},

	// llama.cpp's GPT4O type (o200k: GPT-4o, gpt-oss, Llama 4, MiniMax-M2).
	"gpt-4o":     {splits: gpt4oSplits, keepSpaces: true},
	"llama4":     {splits: gpt4oSplits, keepSpaces: true},
	"kanana2":    {splits: gpt4oSplits, keepSpaces: true},
	"talkie":     {splits: gpt4oSplits, keepSpaces: true},
	"minimax-m2": {splits: gpt4oSplits, keepSpaces: true},

	"qwen35": {splits: []splitter{splitLlama3(1, fLetter|fMark)}, keepSpaces: true},

	"falcon": {splits: []splitter{runOf(falconPunct), splitGPT2, splitMatches(threeDigits)}},

	"deepseek-coder": {keepSpaces: true, splits: []splitter{
		oneOf(func(r rune) bool { return r == '\r' || r == '\n' }),
		optSpaceRun(isLetter),
		optSpaceRun(isPunct),
		runOf(inClass(deepseekCJK)),
		oneOf(isNumber),
	}},

	"starcoder":  {splits: digitSplits},
	"refact":     {splits: digitSplits},
	"command-r":  {splits: digitSplits, keepSpaces: true},
	"smollm":     {splits: digitSplits, keepSpaces: true},
	"codeshell":  {splits: digitSplits},
	"exaone":     {splits: digitSplits},
	"minerva-7b": {splits: digitSplits},
	"mellum2":    {splits: digitSplits},

	"deepseek-llm": {keepSpaces: true, splits: []splitter{
		oneOf(func(r rune) bool { return r == '\r' || r == '\n' }),
		optSpaceRun(inClass(deepseekLetters)),
		optSpaceRun(inClass(deepseekPunct)),
		trailingSpace,
		runOf(inClass(deepseekCJK)),
		runOf(isNumber),
	}},
}

// SupportedPre lists the tokenizer.ggml.pre names this package implements.
func SupportedPre() []string {
	names := make([]string, 0, len(preConfigs))
	for k := range preConfigs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func fromMeta(m metadata) (*Tokenizer, error) {
	t := &Tokenizer{eot: -1, eom: -1, pad: -1}
	var ok bool
	if t.model, ok = m.String(kp + "model"); !ok {
		return nil, fmt.Errorf("tokenizer: missing %smodel", kp)
	}
	t.pre, _ = m.String(kp + "pre")
	sep, mask := int32(-1), int32(-1)
	switch t.model {
	case "llama":
		t.kind = spm
		t.bos, t.eos, t.unk = 1, 2, 0
		t.addSpacePrefix, t.addBOS = true, true
	case "gpt2":
		t.kind = bpe
		t.bos, t.eos, t.unk = 11, 11, -1 // llama.cpp's defaults for BPE
		t.cleanSpaces = true
		pre := t.pre
		if pre == "" {
			pre = "default" // llama.cpp warns and uses the default regexes
		}
		cfg, ok := preConfigs[pre]
		if !ok {
			return nil, fmt.Errorf("tokenizer: unsupported pre-tokenizer %s%q (supported: %s)",
				kp+"pre=", t.pre, strings.Join(SupportedPre(), ", "))
		}
		t.splits = cfg.splits
		t.ignoreMerges, t.addBOS = cfg.ignoreMerges, cfg.addBOS
		t.cleanSpaces = !cfg.keepSpaces
		if cfg.noBOS {
			t.bos = -1
		}
	default:
		return nil, fmt.Errorf("tokenizer: unsupported %smodel %q (supported: \"llama\" (SentencePiece), \"gpt2\" (byte-level BPE))", kp, t.model)
	}
	if v, ok := m.Bool(kp + "add_space_prefix"); ok {
		t.addSpacePrefix = v
	}

	if err := t.loadTokens(m); err != nil {
		return nil, err
	}
	if t.kind == bpe {
		merges, ok := m.Strings(kp + "merges")
		if !ok {
			return nil, fmt.Errorf("tokenizer: missing %smerges (required by model \"gpt2\")", kp)
		}
		t.ranks = make(map[string]int32, len(merges))
		for i, w := range merges {
			// llama.cpp splits at the first space after the first byte and keeps
			// the first rank of a repeated pair.
			if len(w) > 1 && strings.IndexByte(w[1:], ' ') >= 0 {
				if _, dup := t.ranks[w]; !dup {
					t.ranks[w] = int32(i)
				}
			}
		}
	}

	// Special ids: defaults outside the vocabulary are disabled; metadata
	// values outside it are ignored (llama.cpp warns), except those that
	// start or end a sequence: ignoring them would silently change how
	// prompts begin or when generation stops.
	n := int32(len(t.tokens))
	for _, key := range []string{"bos_token_id", "eos_token_id", "eot_token_id", "eom_token_id"} {
		if v, ok := m.Uint(kp + key); ok && v >= uint64(n) {
			return nil, fmt.Errorf("tokenizer: %s%s = %d: outside the vocabulary of %d tokens", kp, key, v, n)
		}
	}
	fimPre, fimSuf, fimMid, fimPad, fimRep, fimSep := int32(-1), int32(-1), int32(-1), int32(-1), int32(-1), int32(-1)
	for _, s := range []struct {
		key string
		id  *int32
	}{
		{"bos_token_id", &t.bos}, {"eos_token_id", &t.eos}, {"eot_token_id", &t.eot},
		{"eom_token_id", &t.eom}, {"unknown_token_id", &t.unk}, {"seperator_token_id", &sep},
		{"padding_token_id", &t.pad}, {"mask_token_id", &mask},
		{"fim_pre_token_id", &fimPre}, {"fim_suf_token_id", &fimSuf}, {"fim_mid_token_id", &fimMid},
		{"fim_pad_token_id", &fimPad}, {"fim_rep_token_id", &fimRep}, {"fim_sep_token_id", &fimSep},
		{"prefix_token_id", &fimPre}, {"suffix_token_id", &fimSuf}, {"middle_token_id", &fimMid},
	} {
		if *s.id >= n {
			*s.id = -1
		}
		if v, ok := m.Uint(kp + s.key); ok && v < uint64(n) {
			*s.id = int32(v)
		}
	}
	if v, ok := m.Bool(kp + "add_bos_token"); ok {
		t.addBOS = v
	}
	if v, ok := m.Bool(kp + "add_eos_token"); ok {
		t.addEOS = v
	}
	if t.addBOS && t.bos < 0 {
		return nil, fmt.Errorf("tokenizer: %sadd_bos_token is true, but %sbos_token_id is not set", kp, kp)
	}
	if t.addEOS && t.eos < 0 {
		return nil, fmt.Errorf("tokenizer: %sadd_eos_token is true, but %seos_token_id is not set", kp, kp)
	}

	t.detectSpecial(&fimPad, &fimRep, &fimSep, &fimPre, &fimSuf, &fimMid)
	t.buildCaches()
	name, _ := m.String("general.name")
	t.modelAttrs(strings.ToLower(name))
	return t, nil
}

// loadTokens reads tokens, scores and token types.
func (t *Tokenizer) loadTokens(m metadata) error {
	tokens, ok := m.Strings(kp + "tokens")
	if !ok {
		return fmt.Errorf("tokenizer: missing %stokens (a string array)", kp)
	}
	n := len(tokens)
	if n == 0 {
		return fmt.Errorf("tokenizer: %stokens is empty", kp)
	}
	scores, ok := m.Float32s(kp + "scores")
	if ok && len(scores) < n {
		return fmt.Errorf("tokenizer: %sscores has %d entries for %d tokens", kp, len(scores), n)
	}
	types, ok := m.Int32s(kp + "token_type")
	if ok && len(types) < n {
		return fmt.Errorf("tokenizer: %stoken_type has %d entries for %d tokens", kp, len(types), n)
	}
	t.tokens = make([]string, n)
	t.scores = make([]float32, n)
	t.attrs = make([]attr, n)
	t.ids = make(map[string]int32, n)
	for i, w := range tokens {
		if w == "" {
			w = fmt.Sprintf("[EMPTY_%d]", i) // as llama.cpp
		}
		if j, dup := t.ids[w]; dup {
			return fmt.Errorf("tokenizer: duplicate token %q in %stokens: ids %d and %d", w, kp, j, i)
		}
		t.ids[w] = int32(i)
		t.tokens[i] = w
		if scores != nil {
			t.scores[i] = scores[i]
		}
		t.attrs[i] = attrNormal
		if types != nil {
			t.attrs[i] = typeAttr(types[i])
		}
	}
	return nil
}

func typeAttr(typ int32) attr {
	switch typ {
	case typeUnknown:
		return attrUnknown
	case typeUnused:
		return attrUnused
	case typeNormal:
		return attrNormal
	case typeControl:
		return attrControl
	case typeUserDefined:
		return attrUserDefined
	case typeByte:
		return attrByte
	}
	return 0 // LLAMA_TOKEN_ATTR_UNDEFINED
}

// Texts llama.cpp uses to find end-of-turn and end-of-generation tokens that
// the metadata does not name.
var (
	eotTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
		"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}
	eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
		"<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
		"[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
		"<｜end▁of▁sentence｜>", "[e~["}
	fimPadTexts = []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}
	fimRepTexts = []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}
	fimSepTexts = []string{"<|file_sep|>"}
	fimPreTexts = []string{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}
	fimSufTexts = []string{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}
	fimMidTexts = []string{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"}
)

func oneOfText(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// detectSpecial repeats llama.cpp's text-based detection of EOT/EOM/FIM
// tokens, "unused" control tokens and the end-of-generation set. llama.cpp
// walks a hash map, so when several tokens match it picks one arbitrarily;
// here the first text of its list wins ("<|eot_id|>" before
// "<|end_of_text|>").
func (t *Tokenizer) detectSpecial(fimPad, fimRep, fimSep, fimPre, fimSuf, fimMid *int32) {
	control := func(id int32) { t.attrs[id] |= attrControl }
	find := func(id *int32, list []string) {
		if *id >= 0 {
			return
		}
		for _, w := range list {
			if i, ok := t.ids[w]; ok {
				*id = i
				control(i)
				return
			}
		}
	}
	find(&t.eot, eotTexts)
	find(&t.eom, []string{"<|eom_id|>"})
	find(fimPre, fimPreTexts)
	find(fimSuf, fimSufTexts)
	find(fimMid, fimMidTexts)
	find(fimPad, fimPadTexts)
	find(fimRep, fimRepTexts)
	find(fimSep, fimSepTexts)

	for i, w := range t.tokens {
		if t.attrs[i]&attrControl != 0 && strings.Contains(w, "unused") {
			t.attrs[i] |= attrUnused
		}
	}

	t.eog = map[int32]bool{}
	for _, id := range []int32{*fimPad, *fimRep, *fimSep} {
		if id >= 0 {
			t.eog[id] = true
		}
	}
	for i, w := range t.tokens {
		if oneOfText(w, eogTexts) {
			t.eog[int32(i)] = true
			control(int32(i))
		}
	}
	// gpt-oss: these must always be rendered.
	for _, w := range []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"} {
		if id, ok := t.ids[w]; ok {
			t.attrs[id] = attrUserDefined
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id >= 0 {
			t.eog[id] = true
		}
	}
	// o200k_harmony / solar-open: "<|end|>" is not EOG when "<|return|>" or
	// "<|flush|>" exist next to "<|call|>"/"<|calls|>".
	has := func(w string) bool { id, ok := t.ids[w]; return ok && t.eog[id] }
	if end, ok := t.ids["<|end|>"]; ok && t.eog[end] {
		call := has("<|call|>") || has("<|calls|>")
		if has("<|return|>") && call || call && has("<|flush|>") {
			delete(t.eog, end)
			t.attrs[end] = attrUserDefined
		}
	}
	// gemma4 / paddleocr: "</s>" is not EOG next to "<|tool_response>".
	if s, ok := t.ids["</s>"]; ok && t.eog[s] && has("<|tool_response>") {
		delete(t.eog, s)
		t.attrs[s] = attrNormal
	}
}

// buildCaches fills the special-token list (longest first, as the
// partitioner must try them) and the piece cache.
func (t *Tokenizer) buildCaches() {
	for i, a := range t.attrs {
		if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
			t.special = append(t.special, int32(i))
		}
	}
	sort.SliceStable(t.special, func(a, b int) bool {
		return len(t.tokens[t.special[a]]) > len(t.tokens[t.special[b]])
	})
	for b := range 256 {
		t.byteID[b] = -1
		if t.kind == spm {
			if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
				t.byteID[b] = id
				continue
			}
		}
		if id, ok := t.ids[string([]byte{byte(b)})]; ok {
			t.byteID[b] = id
		}
	}
	t.pieces = make([]string, len(t.tokens))
	for i := range t.tokens {
		t.pieces[i] = t.makePiece(int32(i))
	}
}

// modelAttrs sets llama.cpp's per-model strip attributes (Phi-3 strips the
// white space after its special tokens).
func (t *Tokenizer) modelAttrs(name string) {
	if !strings.Contains(name, "phi-3") && !strings.Contains(name, "phi3") {
		return
	}
	for _, id := range t.special {
		t.attrs[id] |= attrRstrip
	}
	set := func(w string, on bool) {
		if id, ok := t.ids[w]; ok {
			if on {
				t.attrs[id] |= attrRstrip
			} else {
				t.attrs[id] &^= attrRstrip
			}
		}
	}
	set("</s>", true)
	for _, w := range []string{"<unk>", "<s>", "<|endoftext|>"} {
		set(w, false)
	}
}

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EOT returns the end-of-turn id, or -1.
func (t *Tokenizer) EOT() int32 { return t.eot }

// AddBOS reports whether Encode with addSpecial prepends BOS.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// AddEOS reports whether Encode with addSpecial appends EOS.
func (t *Tokenizer) AddEOS() bool { return t.addEOS }

// IsEOG reports whether id ends generation: EOS, EOT, EOM and the tokens
// llama.cpp recognises by text ("<|im_end|>", "<end_of_turn>", ...).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// EOG returns the end-of-generation ids in increasing order.
func (t *Tokenizer) EOG() []int32 {
	out := make([]int32, 0, len(t.eog))
	for id := range t.eog {
		out = append(out, id)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

// Model returns tokenizer.ggml.model ("llama" or "gpt2").
func (t *Tokenizer) Model() string { return t.model }

// Pre returns tokenizer.ggml.pre as stored ("" when absent).
func (t *Tokenizer) Pre() string { return t.pre }

// TokenID returns the id of the token whose text is exactly text.
func (t *Tokenizer) TokenID(text string) (int32, bool) {
	id, ok := t.ids[text]
	return id, ok
}

// Token returns the raw vocabulary text of id ("" when out of range).
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// IsControl reports whether id is a control token (rendered as "" by Decode).
func (t *Tokenizer) IsControl(id int32) bool {
	return id >= 0 && int(id) < len(t.attrs) && t.attrs[id]&attrControl != 0
}
