package grammar

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testVocab is every string of one to three bytes over a JSON-ish
// alphabet, some multi-byte characters and a few longer pieces; the last
// id is the end-of-generation token.
func testVocab() (*Vocab, []string) {
	alpha := []string{"a", "b", "n", "m", "t", "g", "s", "u", "l", "r", "f", "1", "2", "-", " ", "\n", "{", "}", "[", "]", "\"", ":", ",", ".", "e", "x", "\\", "é", "日"}
	pieces := []string{}
	var add func(prefix string, depth int)
	add = func(prefix string, depth int) {
		if prefix != "" {
			pieces = append(pieces, prefix)
		}
		if depth == 0 {
			return
		}
		for _, a := range alpha {
			add(prefix+a, depth-1)
		}
	}
	add("", 2)
	pieces = append(pieces, "1212", "121x", "2]", "1]a", "1]b", "12\"}", "ab-12", "aaaa")                  // tokens past a return into a rule's context
	pieces = append(pieces, "true", "false", "null", "\"name\"", "\": \"", "abab", "\xe6", "\x97\xa5", "") // partial UTF-8 too; "" never allowed
	pieces = append(pieces, "<eos>")
	eog := int32(len(pieces) - 1)
	return NewVocab(pieces, []int32{eog}), pieces
}

// TestMaskExact: at every step of random walks, Mask allows exactly the
// tokens whose bytes keep the text a prefix of the language, and the
// end-of-generation token exactly where the text is complete; every walk
// that ends gives a matching text.
func TestMaskExact(t *testing.T) {
	v, pieces := testVocab()
	eog := int32(len(pieces) - 1)
	grammars := map[string]*Grammar{}
	var err error
	grammars["schema"], err = JSONSchema([]byte(`{"type":"object","properties":{"name":{"type":"string","maxLength":6},"n":{"type":"integer"},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":2}},"required":["name","n"]}`))
	require.NoError(t, err)
	grammars["object"] = JSONObject()
	grammars["gbnf"], err = ParseGBNF(`root ::= ("ab" | "a" "1"+ | "日" [^a]) ("." root)?`)
	require.NoError(t, err)
	grammars["regex"], err = Regex(`[ab]{1,5}(-[12]+)?`)
	require.NoError(t, err)
	// One rule in several contexts: a state's stacks return into
	// different ones (the re-check per context, and their union).
	grammars["contexts"], err = ParseGBNF("root ::= num \"x\" | \"[\" num \"]\" | num pair | \"a\" root\nnum ::= [12]+\npair ::= \"-\" num? [12]")
	require.NoError(t, err)
	grammars["union"], err = ParseGBNF("root ::= \"[\" num \"]a\" | \"[\" num \"]b\" | \"[\" num \"]\" root\nnum ::= [12]+")
	require.NoError(t, err)
	walks := 20
	if testing.Short() {
		walks = 6
	}
	for name, g := range grammars {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			c := g.Constraint(v)
			logits := make([]float32, len(pieces)+3) // longer than the vocabulary: the rest is masked
			for w := 0; w < walks; w++ {
				st := c.Start()
				text := ""
				for step := 0; step < 200; step++ {
					for i := range logits {
						logits[i] = 0
					}
					require.NoError(t, st.Mask(logits), "after %q", text)
					var allowed []int32
					at := g.prog.start()
					for i := 0; i < len(text); i++ {
						at = g.prog.step(at, text[i])
					}
					for id := range logits {
						ok := !math.IsInf(float64(logits[id]), -1)
						want := false
						switch {
						case id >= len(pieces) || pieces[id] == "":
						case int32(id) == eog:
							want = g.Match(text)
						default:
							s := at
							for i := 0; i < len(pieces[id]) && s >= 0; i++ {
								s = g.prog.step(s, pieces[id][i])
							}
							want = s >= 0
						}
						require.Equal(t, want, ok, "%s after %q: token %d %q", name, text, id, pieces[id%len(pieces)])
						if ok {
							allowed = append(allowed, int32(id))
						}
					}
					id := allowed[rng.IntN(len(allowed))]
					if step > 60 && slicesContains(allowed, eog) {
						id = eog
					}
					fork := st.Clone()
					require.NoError(t, st.Accept(id))
					if id == eog {
						require.True(t, g.Match(text), "%q", text)
						require.Error(t, st.Mask(logits), "nothing after the end")
						require.Error(t, st.Accept(0))
						break
					}
					text += pieces[id]
					_ = fork.Mask(logits) // the clone is unaffected by Accept
					require.Equal(t, math.IsInf(float64(logits[eog]), -1), !g.Match(strings.TrimSuffix(text, pieces[id])))
				}
			}
		})
	}
}

func slicesContains(s []int32, x int32) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestMaskErrors(t *testing.T) {
	v, pieces := testVocab()
	g, err := ParseGBNF(`root ::= "a" "Z"`) // no token holds Z
	require.NoError(t, err)
	st := g.Constraint(v).Start()
	logits := make([]float32, len(pieces))
	require.NoError(t, st.Mask(logits))
	require.NoError(t, st.Accept(0)) // "a"
	err = st.Mask(logits)
	require.ErrorIs(t, err, ErrEmpty)
	b := int32(slices.Index(pieces, "b"))
	err = g.Constraint(v).Start().Accept(b)
	require.ErrorContains(t, err, "not allowed")
	require.Error(t, g.Constraint(v).Start().Accept(int32(len(pieces)-1)), "end of generation before the text is complete")
	require.Error(t, g.Constraint(v).Start().Accept(-1))
	require.Error(t, g.Constraint(v).Start().Accept(int32(len(pieces))))
}

// TestMaskConcurrent: samples of one grammar masked from many goroutines
// (run with -race).
func TestMaskConcurrent(t *testing.T) {
	v, pieces := testVocab()
	g, err := JSONSchema([]byte(`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"array","items":{"type":"number"}}}}`))
	require.NoError(t, err)
	c := g.Constraint(v)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			logits := make([]float32, len(pieces))
			st := c.Start()
			for step := 0; step < 100; step++ {
				for j := range logits {
					logits[j] = 0
				}
				if err := st.Mask(logits); err != nil {
					errs[i] = err
					return
				}
				var ok []int32
				for id, l := range logits {
					if l == 0 {
						ok = append(ok, int32(id))
					}
				}
				id := ok[rng.IntN(len(ok))]
				if int(id) == len(pieces)-1 {
					return
				}
				if err := st.Accept(id); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

// TestGBNFGenerated: strings generated from GBNF grammars match them.
func TestGBNFGenerated(t *testing.T) {
	srcs := []string{
		`root ::= ("(" root ")" | "[" root "]")*`,
		"root ::= expr\nexpr ::= term ((\"+\" | \"-\") term)*\nterm ::= [0-9]+ | \"(\" expr \")\"",
		`root ::= [^\x00-\x7F]{1,3} "|" [a-z]{2}`,
	}
	rng := rand.New(rand.NewPCG(8, 9))
	for _, src := range srcs {
		g, err := ParseGBNF(src)
		require.NoError(t, err)
		for i := 0; i < 100; i++ {
			s, ok := generate(g, rng, 60)
			require.True(t, ok, src)
			require.True(t, g.Match(s), "%s: %q", src, s)
		}
	}
}
