package strategy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
)

var stepVocab = []string{"<eos>", "a", "b", "c", "|"}

// stepLogits is a model of steps of two letters: after two letters in the
// current step it must write "|", or end (EOG) when end says so; otherwise
// it draws a letter from seeded random logits of the whole sequence.
func stepLogits(seed uint64, end func(step []int32) bool) func([]int32) []float32 {
	letters := randomLogits(seed, len(stepVocab), 0)
	return func(toks []int32) []float32 {
		step := toks
		for i := slices.Index(step, 4); i >= 0; i = slices.Index(step, 4) {
			step = step[i+1:] // the tokens after the last "|"
		}
		l := []float32{negInf, 0, 0, 0, negInf}
		if len(step) == 2 {
			l = []float32{negInf, negInf, negInf, negInf, 0}
			if end != nil && end(step) {
				l = []float32{0, negInf, negInf, negInf, negInf}
			}
			return l
		}
		r := letters(toks)
		copy(l[1:4], r[1:4])
		return l
	}
}

// callOrder is a scorer that returns scripted scores in call order and
// records what it was asked.
type callOrder struct {
	scores []float64
	calls  []engine.Completion
}

func (s *callOrder) Score(_ context.Context, _ []int32, c engine.Completion) (float64, error) {
	if len(s.calls) == len(s.scores) {
		return 0, errors.New("more calls than scripted scores")
	}
	s.calls = append(s.calls, c)
	return s.scores[len(s.calls)-1], nil
}

var warmSampling = sample.Params{Temperature: 1}

// TestTreeScripted: with every step two letters and "|" (no node ever
// done), the tree has K, then B·K nodes per depth, and the scripted scores
// decide exactly which are kept.
func TestTreeScripted(t *testing.T) {
	m := newSynth(stepVocab, stepLogits(3, nil))
	sc := &callOrder{scores: []float64{
		.2, .9, .5, // depth 1: nodes 1-3
		.1, .3, .2, .8, .05, .7, // depth 2: children of 2 (4-6) and 3 (7-9)
		.4, .6, .3, .65, .1, .2, // depth 3: children of 7 (10-12) and 9 (13-15)
	}}
	prompt := []int32{4}
	res, err := Tree(context.Background(), m, prompt, TreeOptions{K: 3, B: 2, MaxDepth: 3, Delimiter: "|",
		Sampling: warmSampling, Seed: 11, Scorer: sc})
	require.NoError(t, err)
	require.Equal(t, []Round{
		{Depth: 1, Candidates: []int{1, 2, 3}, Kept: []int{2, 3}},
		{Depth: 2, Candidates: []int{4, 5, 6, 7, 8, 9}, Kept: []int{7, 9}},
		{Depth: 3, Candidates: []int{10, 11, 12, 13, 14, 15}, Kept: []int{13, 11}},
	}, res.Rounds)
	require.Equal(t, 13, res.Best)
	require.Equal(t, []int{0, 3, 9, 13}, res.Path(13))
	parents := []int{-1, 0, 0, 0, 2, 2, 2, 3, 3, 3, 7, 7, 7, 9, 9, 9}
	require.Len(t, res.Nodes, len(parents))
	step := regexp.MustCompile(`^[abc]{2}\|$`)
	for id, n := range res.Nodes {
		require.Equal(t, id, n.ID)
		require.Equal(t, parents[id], n.Parent)
		if id == 0 {
			continue
		}
		require.Equal(t, res.Nodes[n.Parent].Depth+1, n.Depth)
		require.Regexp(t, step, n.Text)
		require.Equal(t, m.text(n.Tokens), n.Text)
		require.False(t, n.Done)
		require.Equal(t, sc.scores[id-1], n.Score)
		// The scorer saw the whole partial answer, and each logprob is
		// the model's after exactly the node's path: the forks were at the
		// right state.
		c := res.Completion(id)
		require.Equal(t, c, sc.calls[id-1])
		for j, tk := range c.Tokens {
			require.Equal(t, m.logprobAfter(append(slices.Clone(prompt), c.Tokens[:j]...), tk), c.Logprobs[j])
		}
	}
	// Each round is three tokens; each token one Extend of every child.
	require.Equal(t, []int{3, 3, 3, 6, 6, 6, 6, 6, 6}, m.batch)
	require.Equal(t, 5*2, m.forks, "root, 2, 3, 7 and 9 forked twice each")
	require.Zero(t, m.open)

	again, err := Tree(context.Background(), newSynth(stepVocab, stepLogits(3, nil)), prompt, TreeOptions{K: 3, B: 2, MaxDepth: 3,
		Delimiter: "|", Sampling: warmSampling, Seed: 11, Scorer: &callOrder{scores: sc.scores}})
	require.NoError(t, err)
	require.Equal(t, res, again, "seeded: the same tree")
}

// letterScore prefers b and avoids c.
type letterScore struct{}

func (letterScore) Score(_ context.Context, _ []int32, c engine.Completion) (float64, error) {
	return float64(strings.Count(c.Text, "b") - strings.Count(c.Text, "c")), nil
}

// TestTreeDoneNodes: steps that start with "a" end the answer. Done nodes
// are never expanded but stay candidates until better nodes push them out;
// every round keeps exactly the best B candidates.
func TestTreeDoneNodes(t *testing.T) {
	const k, b, depth = 3, 2, 4
	carried, early := 0, 0
	for seed := uint64(1); seed <= 20; seed++ {
		m := newSynth(stepVocab, stepLogits(seed, func(step []int32) bool { return step[0] == 1 }))
		res, err := Tree(context.Background(), m, []int32{4}, TreeOptions{K: k, B: b, MaxDepth: depth, Delimiter: "|",
			Sampling: warmSampling, Seed: seed, Scorer: letterScore{}})
		require.NoError(t, err)
		require.Zero(t, m.open)
		children := map[int][]int{}
		for _, n := range res.Nodes[1:] {
			children[n.Parent] = append(children[n.Parent], n.ID)
			want, _ := letterScore{}.Score(context.Background(), nil, res.Completion(n.ID))
			require.Equal(t, want, n.Score)
			require.Equal(t, n.Tokens[0] == 1, n.Done, "seed %d node %d", seed, n.ID)
			if n.Done {
				require.Len(t, n.Tokens, 2, "the EOG token is not part of the step")
			} else {
				require.Equal(t, int32(4), n.Tokens[2])
			}
		}
		prev := []int{0}
		for r, round := range res.Rounds {
			var cands []int
			for _, id := range prev {
				if res.Nodes[id].Done {
					cands = append(cands, id)
					if r > 0 {
						carried++
					}
					continue
				}
				require.Len(t, children[id], k, "seed %d: node %d", seed, id)
				cands = append(cands, children[id]...)
			}
			slices.Sort(cands)
			require.Equal(t, cands, round.Candidates, "seed %d round %d", seed, r)
			best := slices.Clone(cands)
			slices.SortStableFunc(best, func(x, y int) int { return cmp.Compare(res.Nodes[y].Score, res.Nodes[x].Score) })
			require.Equal(t, best[:min(b, len(best))], round.Kept, "seed %d round %d", seed, r)
			prev = round.Kept
		}
		allDone := true
		for _, id := range prev {
			allDone = allDone && res.Nodes[id].Done
		}
		require.True(t, allDone || len(res.Rounds) == depth, "seed %d: stopped early with live nodes", seed)
		if len(res.Rounds) < depth {
			early++
		}
		require.Equal(t, prev[0], res.Best)
	}
	require.Positive(t, carried, "some done node should be carried to a later round")
	require.Positive(t, early, "some search should end before MaxDepth")
}

func TestTreeMaxStepTokens(t *testing.T) {
	m := newSynth([]string{"<eos>", "x", "y"}, func(toks []int32) []float32 { return []float32{negInf, 0, 0} })
	res, err := Tree(context.Background(), m, []int32{1}, TreeOptions{K: 2, B: 1, MaxDepth: 2, MaxStepTokens: 3, Sampling: warmSampling})
	require.NoError(t, err)
	require.Len(t, res.Nodes, 5)
	for _, n := range res.Nodes[1:] {
		require.Len(t, n.Tokens, 3)
	}
	require.Equal(t, []int{2, 2, 2, 2, 2, 2}, m.batch)
}

func TestTreeErrors(t *testing.T) {
	m := newSynth(stepVocab, stepLogits(1, nil))
	_, err := Tree(context.Background(), m, []int32{4}, TreeOptions{K: -1})
	require.ErrorContains(t, err, "tree: negative K -1")
	_, err = Tree(context.Background(), m, []int32{4}, TreeOptions{Sampling: sample.Params{TopP: 2}})
	require.ErrorContains(t, err, "TopP 2")
	_, err = Tree(context.Background(), m, []int32{4}, TreeOptions{Delimiter: "|", Scorer: &callOrder{scores: []float64{1, 2}}})
	require.EqualError(t, err, fmt.Sprintf("tree: scoring node %d: more calls than scripted scores", 3))
	require.Zero(t, m.open, "nodes are closed on errors too")
}

// limited is a synthetic LM whose sequences hold at most n tokens.
type limited struct {
	*synthLM
	n int
}

func (l limited) MaxLen() int { return l.n }

func (l limited) Extend(ctx context.Context, nodes []Node, toks []int32) error {
	for _, n := range nodes {
		if len(n.(*synthNode).toks)+1 > l.n {
			return fmt.Errorf("sequence of %d tokens is full", len(n.(*synthNode).toks))
		}
	}
	return l.synthLM.Extend(ctx, nodes, toks)
}

// TestTreeLengthLimit: a step that reaches the LM's length limit ends the
// node (done) instead of failing the search.
func TestTreeLengthLimit(t *testing.T) {
	m := newSynth(stepVocab, stepLogits(2, nil))
	res, err := Tree(context.Background(), limited{m, 5}, []int32{4}, TreeOptions{K: 2, B: 2, MaxDepth: 4, Delimiter: "|",
		Sampling: warmSampling, Scorer: letterScore{}})
	require.NoError(t, err)
	require.Len(t, res.Rounds, 2, "all kept nodes are full after two rounds")
	for _, n := range res.Nodes[1:] {
		if n.Depth == 1 {
			require.Len(t, n.Tokens, 3)
			require.False(t, n.Done)
		} else {
			require.Len(t, n.Tokens, 1, "1 prompt + 3 + 1 tokens fill the 5")
			require.True(t, n.Done)
		}
	}
	require.Zero(t, m.open)

	_, err = Beam(context.Background(), limited{m, 5}, []int32{4, 4}, BeamOptions{MaxTokens: 5})
	require.EqualError(t, err, "beam: 2 prompt tokens + MaxTokens 5 do not fit the model's 5")
	_, err = Beam(context.Background(), limited{m, 5}, []int32{4, 4}, BeamOptions{MaxTokens: 4})
	require.NoError(t, err)
}
