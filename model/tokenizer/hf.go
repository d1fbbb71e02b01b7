package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tscale/engine/model/gguf"
)

// HFInput is a Hugging Face byte-level BPE tokenizer to convert.
type HFInput struct {
	Tokenizer []byte // tokenizer.json (model type "BPE")
	Config    []byte // tokenizer_config.json; may be nil
	// VocabSize is config.json's vocab_size: the token list is padded to it
	// with "[PADn]" tokens. 0 means the tokenizer's own size.
	VocabSize int
	Pre       string // tokenizer.ggml.pre, e.g. "gpt-4o" for gpt-oss
}

type hfAdded struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	Special    bool   `json:"special"`
	Normalized bool   `json:"normalized"`
}

type hfProcessor struct {
	Type       string        `json:"type"`
	Processors []hfProcessor `json:"processors"`
	Single     []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
	} `json:"single"`
}

type hfFile struct {
	AddedTokens   []hfAdded    `json:"added_tokens"`
	PostProcessor *hfProcessor `json:"post_processor"`
	Model         struct {
		Type   string            `json:"type"`
		Vocab  map[string]int    `json:"vocab"`
		Merges []json.RawMessage `json:"merges"`
	} `json:"model"`
}

// HFToGGUF turns a tokenizer.json (and tokenizer_config.json) into the
// tokenizer.* metadata that llama.cpp's convert_hf_to_gguf.py writes for a
// "gpt2" model (get_vocab_base + gguf.SpecialVocab, as for gpt-oss), in the
// converter's order; each KV can go to gguf.Writer.Set.
//
// Like the converter: ids missing from the vocabulary become "[PADn]"
// (UNUSED); added tokens are CONTROL when marked special or when they look
// like "<|...|>", else USER_DEFINED; merges given as pairs are joined by a
// space (a space inside a part becomes U+0120); special ids come from the
// *_token entries of tokenizer_config.json; add_bos/eos/sep_token from its
// booleans and from RobertaProcessing / TemplateProcessing. Not repeated:
// the converter re-encodes non-normalized added tokens with transformers
// (no change for "<|...|>" tokens), reads *_token_id of config.json for
// ids tokenizer_config.json leaves unset, and detects the pre-tokenizer by
// hashing a tokenization (Pre is given instead).
func HFToGGUF(in HFInput) ([]gguf.KV, error) {
	var f hfFile
	if err := json.Unmarshal(in.Tokenizer, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: %w", err)
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: tokenizer.json model type %q, want \"BPE\"", f.Model.Type)
	}
	if len(f.Model.Vocab) == 0 {
		return nil, fmt.Errorf("tokenizer: tokenizer.json has no model.vocab")
	}
	if in.Pre == "" {
		return nil, fmt.Errorf("tokenizer: HFToGGUF needs a pre-tokenizer name")
	}
	if in.VocabSize < 0 || in.VocabSize > 1<<24 {
		return nil, fmt.Errorf("tokenizer: vocab_size %d out of range", in.VocabSize)
	}
	cfg := map[string]any{}
	if len(in.Config) > 0 {
		if err := json.Unmarshal(in.Config, &cfg); err != nil {
			return nil, fmt.Errorf("tokenizer: tokenizer_config.json: %w", err)
		}
	}

	// transformers' vocab: the model's, then the added tokens over it.
	byText := make(map[string]int, len(f.Model.Vocab)+len(f.AddedTokens))
	for w, id := range f.Model.Vocab {
		byText[w] = id
	}
	added := map[string]hfAdded{}
	for _, a := range f.AddedTokens {
		byText[a.Content] = a.ID
		added[a.Content] = a
	}
	byID := make(map[int]string, len(byText))
	maxID := -1
	for w, id := range byText {
		if id < 0 {
			return nil, fmt.Errorf("tokenizer: token %q has negative id %d", w, id)
		}
		if prev, dup := byID[id]; dup {
			return nil, fmt.Errorf("tokenizer: tokens %q and %q share id %d", prev, w, id)
		}
		byID[id] = w
		maxID = max(maxID, id)
	}
	n := in.VocabSize
	if n == 0 {
		n = len(byText)
	}
	if maxID >= n {
		return nil, fmt.Errorf("tokenizer: token id %d does not fit vocab_size %d", maxID, n)
	}

	tokens := make([]string, n)
	types := make([]int32, n)
	for i := range n {
		w, ok := byID[i]
		a, isAdded := added[w]
		switch {
		case !ok:
			w = fmt.Sprintf("[PAD%d]", i)
			types[i] = typeUnused
		case isAdded:
			if a.Special || looksSpecial(w) {
				types[i] = typeControl
			} else {
				w = strings.ReplaceAll(w, "▁", " ")
				types[i] = typeUserDefined
			}
		default:
			types[i] = typeNormal
		}
		tokens[i] = w
	}

	merges := make([]string, len(f.Model.Merges))
	for i, raw := range f.Model.Merges {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			merges[i] = s
			continue
		}
		var pair []string
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("tokenizer: merge %d is %s, want a string or a pair of strings", i, raw)
		}
		sp := string(rune(' ' + 256))
		merges[i] = strings.ReplaceAll(pair[0], " ", sp) + " " + strings.ReplaceAll(pair[1], " ", sp)
	}

	kvs := []gguf.KV{
		{Key: kp + "model", Type: gguf.String, Value: "gpt2"},
		{Key: kp + "pre", Type: gguf.String, Value: in.Pre},
		{Key: kp + "tokens", Type: gguf.Array, Value: tokens},
		{Key: kp + "token_type", Type: gguf.Array, Value: types},
	}
	if len(merges) > 0 {
		kvs = append(kvs, gguf.KV{Key: kp + "merges", Type: gguf.Array, Value: merges})
	}
	special, addFlags, err := hfSpecial(&f, cfg)
	if err != nil {
		return nil, err
	}
	kvs = append(append(kvs, special...), addFlags...)
	return append(kvs, chatTemplates(cfg)...), nil
}

// looksSpecial is the converter's does_token_look_special.
func looksSpecial(w string) bool {
	switch w {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(w, "<|") && strings.HasSuffix(w, "|>") ||
		strings.HasPrefix(w, "<｜") && strings.HasSuffix(w, "｜>") ||
		strings.HasPrefix(w, "<unused") && strings.HasSuffix(w, ">")
}

// cfgToken is the text of tokenizer_config.json's NAME_token entry (a
// string or an AddedToken object).
func cfgToken(cfg map[string]any, name string) string {
	switch v := cfg[name+"_token"].(type) {
	case string:
		return v
	case map[string]any:
		s, _ := v["content"].(string)
		return s
	}
	return ""
}

// hfSpecial follows gguf.SpecialVocab: the ids of the bos, eos, unk, sep,
// pad and mask tokens (cls has no GGUF key) and the add_*_token flags.
func hfSpecial(f *hfFile, cfg map[string]any) (ids, flags []gguf.KV, err error) {
	if cfgToken(cfg, "bos") == "" && cfgToken(cfg, "cls") != "" {
		cfg["bos_token"] = cfgToken(cfg, "cls")
	}
	if cfgToken(cfg, "eos") == "" && cfgToken(cfg, "sep") != "" {
		cfg["eos_token"] = cfgToken(cfg, "sep")
	}
	add := map[string]bool{}
	var procs []hfProcessor
	if p := f.PostProcessor; p != nil {
		procs = []hfProcessor{*p}
		if p.Processors != nil {
			procs = p.Processors
		}
	}
	for _, p := range procs {
		switch p.Type {
		case "RobertaProcessing":
			add["bos"], add["eos"], add["sep"] = true, true, true
		case "TemplateProcessing":
			if len(p.Single) < 2 {
				continue
			}
			if st := p.Single[0].SpecialToken; st != nil && st.ID != "" {
				add["bos"] = st.ID == cfgToken(cfg, "bos") || st.ID == cfgToken(cfg, "cls")
			}
			if st := p.Single[len(p.Single)-1].SpecialToken; st != nil && st.ID != "" {
				if st.ID != cfgToken(cfg, "eos") {
					// The converter then moves EOS to EOT/EOM; not repeated here.
					return nil, nil, fmt.Errorf("tokenizer: TemplateProcessing ends with %q, not the EOS token %q: unsupported", st.ID, cfgToken(cfg, "eos"))
				}
				add["eos"] = true
			}
		}
	}
	for _, typ := range []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"} {
		if v, ok := cfg["add_"+typ+"_token"].(bool); ok {
			add[typ] = v
		}
	}
	keys := map[string]string{"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id",
		"sep": "seperator_token_id", "pad": "padding_token_id", "mask": "mask_token_id"}
	for _, typ := range []string{"bos", "eos", "unk", "sep", "pad", "mask"} {
		w := cfgToken(cfg, typ)
		if w == "" {
			continue
		}
		for _, a := range f.AddedTokens {
			if a.Content == w {
				if a.ID >= 0 {
					ids = append(ids, gguf.KV{Key: kp + keys[typ], Type: gguf.Uint32, Value: uint32(a.ID)})
				}
				break
			}
		}
	}
	for _, typ := range []string{"bos", "eos", "sep"} {
		if v, ok := add[typ]; ok {
			flags = append(flags, gguf.KV{Key: kp + "add_" + typ + "_token", Type: gguf.Bool, Value: v})
		}
	}
	return ids, flags, nil
}

// chatTemplates is tokenizer_config.json's chat_template as gguf-py's
// add_chat_template stores it: a string, or a list of named templates
// ("default" is the main one; names are reduced to [A-Za-z0-9_]).
func chatTemplates(cfg map[string]any) []gguf.KV {
	str := func(key, v string) gguf.KV { return gguf.KV{Key: key, Type: gguf.String, Value: v} }
	switch v := cfg["chat_template"].(type) {
	case string:
		return []gguf.KV{str("tokenizer.chat_template", v)}
	case []any:
		var out []gguf.KV
		var names []string
		def := ""
		hasDef := false
		for _, e := range v {
			m, _ := e.(map[string]any)
			name, _ := m["name"].(string)
			tmpl, ok := m["template"].(string)
			name = strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
					return r
				}
				return '_'
			}, name)
			switch {
			case name == "" || !ok:
			case name == "default":
				def, hasDef = tmpl, true
			default:
				names = append(names, name)
				out = append(out, str("tokenizer.chat_template."+name, tmpl))
			}
		}
		if len(names) > 0 {
			out = append(out, gguf.KV{Key: "tokenizer.chat_templates", Type: gguf.Array, Value: names})
		}
		if hasDef {
			out = append(out, str("tokenizer.chat_template", def))
		}
		return out
	}
	return nil
}
