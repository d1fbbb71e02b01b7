package tokenizer

import "strings"

// frag is a piece of the input: raw text, or a special token found in it.
type frag struct {
	text string
	id   int32 // >= 0 for a special token
	off  int   // where text starts in the input
}

// EncodeOption changes how Encode tokenizes; combine them as arguments.
type EncodeOption uint8

const (
	// AddSpecial adds BOS/EOS as the model's metadata asks (llama.cpp's
	// add_special).
	AddSpecial EncodeOption = 1 << iota
	// ParseSpecial turns control tokens written in the text (e.g.
	// "<|eot_id|>") into their ids (llama.cpp's parse_special).
	ParseSpecial
)

// If is o when on, else no option: Encode(s, AddSpecial.If(bos)).
func (o EncodeOption) If(on bool) EncodeOption {
	if on {
		return o
	}
	return 0
}

func has(opts []EncodeOption, o EncodeOption) bool {
	for _, x := range opts {
		if x&o != 0 {
			return true
		}
	}
	return false
}

// Encode tokenizes text like llama.cpp's llama_tokenize; without options it
// adds no BOS/EOS and treats control-token text as plain text. User-defined
// tokens are always matched, as in llama.cpp.
func (t *Tokenizer) Encode(text string, opts ...EncodeOption) []int32 {
	return t.encode(text, has(opts, AddSpecial), has(opts, ParseSpecial), nil)
}

// EncodePlain is Encode(text, ParseSpecial, opts...) except that no special
// token, control or user-defined, is matched where plain(start, end)
// reports that bytes of text[start:end] are plain text (a chat's message
// content): those bytes are always ordinary text. Elsewhere it tokenizes
// exactly as Encode does.
func (t *Tokenizer) EncodePlain(text string, plain func(start, end int) bool, opts ...EncodeOption) []int32 {
	return t.encode(text, has(opts, AddSpecial), true, plain)
}

func (t *Tokenizer) encode(text string, addSpecial, parseSpecial bool, plain func(start, end int) bool) []int32 {
	var frags []frag
	if text != "" {
		frags = t.partition(text, parseSpecial, plain)
	}
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	prevSpecial := true // SPM: a space is prefixed to text at the start or after a special token
	for _, f := range frags {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		if t.kind == spm {
			s := f.text
			if t.addSpacePrefix && prevSpecial {
				s = " " + s
			}
			out = t.encodeSPM(strings.ReplaceAll(s, " ", "▁"), out)
			prevSpecial = false
			continue
		}
		out = t.encodeBPE(f.text, out)
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out
}

// partition splits text around special tokens, longest token text first,
// as llama.cpp's tokenizer_st_partition. Without parseSpecial only
// user-defined tokens are looked for. LSTRIP/RSTRIP tokens swallow the
// adjacent ASCII white space. A match where plain (when not nil) reports
// plain bytes is left as text.
func (t *Tokenizer) partition(text string, parseSpecial bool, plain func(start, end int) bool) []frag {
	frags := []frag{{text: text, id: -1}}
	for _, id := range t.special {
		a := t.attrs[id]
		if !parseSpecial && a&(attrControl|attrUnknown) != 0 {
			continue
		}
		w := t.tokens[id]
		var next []frag
		for _, f := range frags {
			if f.id >= 0 || !strings.Contains(f.text, w) {
				next = append(next, f)
				continue
			}
			rest, off, from := f.text, f.off, 0
			for {
				j := strings.Index(rest[from:], w)
				if j < 0 {
					if rest != "" {
						next = append(next, frag{text: rest, id: -1, off: off})
					}
					break
				}
				if j += from; plain != nil && plain(off+j, off+j+len(w)) {
					from = j + 1
					continue
				}
				left := rest[:j]
				if a&attrLstrip != 0 {
					left = strings.TrimRight(left, " \t\n\v\f\r")
				}
				if left != "" {
					next = append(next, frag{text: left, id: -1, off: off})
				}
				next = append(next, frag{id: id})
				rest, off, from = rest[j+len(w):], off+j+len(w), 0
				if a&attrRstrip != 0 {
					trimmed := strings.TrimLeft(rest, " \t\n\v\f\r")
					rest, off = trimmed, off+len(rest)-len(trimmed)
				}
			}
		}
		frags = next
	}
	return frags
}

// symbol is a span of the word being merged, linked to its neighbours.
type symbol struct {
	start, n   int
	prev, next int
}

// bigram is a candidate merge of symbols left and right; size guards
// against stale entries (a side that has grown since).
type bigram struct {
	left, right int
	score       float32 // SPM: higher first
	rank        int32   // BPE: lower first
	size        int
}

// heap is a binary heap ordered by less.
type heap struct {
	items []bigram
	less  func(a, b *bigram) bool
}

func (h *heap) push(b bigram) {
	h.items = append(h.items, b)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(&h.items[i], &h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *heap) pop() bigram {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.less(&h.items[l], &h.items[m]) {
			m = l
		}
		if r < last && h.less(&h.items[r], &h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}

// splitSymbols cuts s into one symbol per UTF-8 sequence (by lead byte, as
// llama.cpp, clipped at the end).
func splitSymbols(s string, syms []symbol) []symbol {
	syms = syms[:0]
	for i := 0; i < len(s); {
		n := min(utf8Len(s[i]), len(s)-i)
		next := len(syms) + 1
		if i+n == len(s) {
			next = -1
		}
		syms = append(syms, symbol{start: i, n: n, prev: len(syms) - 1, next: next})
		i += n
	}
	return syms
}

// merge joins symbol r into its left neighbour l.
func merge(syms []symbol, l, r int) {
	syms[l].n += syms[r].n
	syms[r].n = 0
	syms[l].next = syms[r].next
	if syms[r].next >= 0 {
		syms[syms[r].next].prev = l
	}
}

// encodeSPM is llama.cpp's llm_tokenizer_spm: merge the adjacent pair that
// forms the highest-scoring token (leftmost on ties) until none is left,
// then emit tokens, falling back to <0xXX> byte tokens.
func (t *Tokenizer) encodeSPM(s string, out []int32) []int32 {
	syms := splitSymbols(s, nil)
	if len(syms) == 0 {
		return out
	}
	q := heap{less: func(a, b *bigram) bool {
		return a.score > b.score || a.score == b.score && a.left < b.left
	}}
	add := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l].start, syms[l].start+syms[l].n+syms[r].n
		if id, ok := t.ids[s[a:b]]; ok {
			q.push(bigram{left: l, right: r, score: t.scores[id], size: b - a})
		}
	}
	for i := 1; i < len(syms); i++ {
		add(i-1, i)
	}
	for len(q.items) > 0 {
		b := q.pop()
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		merge(syms, b.left, b.right)
		add(syms[b.left].prev, b.left)
		add(b.left, syms[b.left].next)
	}
	for i := 0; i != -1; i = syms[i].next {
		piece := s[syms[i].start : syms[i].start+syms[i].n]
		if id, ok := t.ids[piece]; ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(piece); j++ {
			if id := t.byteID[piece[j]]; id >= 0 {
				out = append(out, id)
			} else if t.unk >= 0 {
				out = append(out, t.unk) // llama.cpp throws here; a vocabulary without byte tokens
			}
		}
	}
	return out
}

// encodeBPE is llama.cpp's llm_tokenizer_bpe_session::tokenize for one text
// fragment: pre-tokenize into words, map bytes to GPT-2's alphabet, then
// apply the lowest-ranked merge (leftmost on ties) until none applies.
func (t *Tokenizer) encodeBPE(text string, out []int32) []int32 {
	cpts := decodeCpts(text, make([]rune, 0, len(text)))
	lens := []int{len(cpts)}
	for _, split := range t.splits {
		lens = split(cpts, lens)
	}
	var (
		word, key, utf []byte
		syms           []symbol
		q              = heap{less: func(a, b *bigram) bool {
			return a.rank < b.rank || a.rank == b.rank && a.left < b.left
		}}
	)
	start := 0
	for _, n := range lens {
		word = word[:0]
		for _, r := range cpts[start : start+n] {
			utf = appendCpt(utf[:0], r)
			for _, c := range utf {
				word = appendCpt(word, byteRune[c])
			}
		}
		start += n
		w := string(word)
		if t.ignoreMerges {
			if id, ok := t.ids[w]; ok {
				out = append(out, id)
				continue
			}
		}
		syms = splitSymbols(w, syms)
		q.items = q.items[:0]
		add := func(l, r int) {
			if l < 0 || r < 0 {
				return
			}
			a, b := syms[l], syms[r]
			key = append(append(append(key[:0], w[a.start:a.start+a.n]...), ' '), w[b.start:b.start+b.n]...)
			if rank, ok := t.ranks[string(key)]; ok {
				q.push(bigram{left: l, right: r, rank: rank, size: a.n + b.n})
			}
		}
		for i := 1; i < len(syms); i++ {
			add(i-1, i)
		}
		for len(q.items) > 0 {
			b := q.pop()
			l, r := &syms[b.left], &syms[b.right]
			if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
				continue
			}
			merge(syms, b.left, b.right)
			add(syms[b.left].prev, b.left)
			add(b.left, syms[b.left].next)
		}
		for _, s := range syms {
			if s.n == 0 {
				continue
			}
			piece := w[s.start : s.start+s.n]
			if id, ok := t.ids[piece]; ok {
				out = append(out, id)
				continue
			}
			// llama.cpp looks up each byte of the (mapped) piece as a
			// one-byte token and drops those that are missing.
			for j := 0; j < len(piece); j++ {
				if id := t.byteID[piece[j]]; id >= 0 {
					out = append(out, id)
				}
			}
		}
	}
	return out
}
