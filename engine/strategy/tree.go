package strategy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
)

// TreeOptions configure Tree.
type TreeOptions struct {
	K             int    // children sampled per expanded node (0 means 3)
	B             int    // nodes kept per depth (0 means 2)
	MaxDepth      int    // steps at most (0 means 4)
	Delimiter     string // ends a step (default "\n\n")
	MaxStepTokens int    // also ends a step (0 means 64)
	Sampling      sample.Params
	Seed          uint64 // node i samples with seed Seed+i
	// Scorer rates each partial answer: the Completion holds every step
	// from the root, Finish set to FinishStop once the model ended it.
	// It is called one node at a time, in node order (default MeanLogprob).
	Scorer Scorer
	// Constraint, when set, restricts every path from the root: each node
	// carries its state, children clone their parent's, and forbidden
	// tokens get log-probability -Inf before sampling.
	Constraint engine.Constraint
}

// TreeNode is one step of a partial answer.
type TreeNode struct {
	ID, Parent, Depth int // the root (the prompt) is node 0 with Parent -1
	Tokens            []int32
	Logprobs          []float32
	Text              string // the step's text
	Score             float64
	Done              bool // ended by an EOG token (not in Tokens) or the LM's length limit: never expanded
}

// Round is one depth of the search: the candidates (new children and the
// finished nodes kept before, in node order) and the ones kept, best first.
type Round struct {
	Depth      int
	Candidates []int
	Kept       []int
}

// TreeResult is the explored tree.
type TreeResult struct {
	Nodes  []TreeNode
	Rounds []Round
	Best   int // best node of the last round

	cons map[int]engine.ConstraintState // with a Constraint: each open node's state after its step
}

// Path returns the node ids from the root to id.
func (r *TreeResult) Path(id int) []int {
	var p []int
	for ; id >= 0; id = r.Nodes[id].Parent {
		p = append(p, id)
	}
	slices.Reverse(p)
	return p
}

// Completion joins the steps from the root to id.
func (r *TreeResult) Completion(id int) engine.Completion {
	var c engine.Completion
	var text strings.Builder
	for _, i := range r.Path(id) {
		n := &r.Nodes[i]
		c.Tokens = append(c.Tokens, n.Tokens...)
		c.Logprobs = append(c.Logprobs, n.Logprobs...)
		text.WriteString(n.Text)
	}
	c.Text = text.String()
	if r.Nodes[id].Done {
		c.Finish = engine.FinishStop
	}
	return c
}

// child is a node being sampled.
type child struct {
	id     int
	len    int // tokens in the node's sequence, prompt included
	node   Node
	smp    *sample.Sampler
	stream TextStream
	text   strings.Builder
	cons   engine.ConstraintState
	lp     []float32 // the masked log-probs, with a constraint
}

// Tree runs a step-level search: each round samples K children (one step
// each, until the delimiter, MaxStepTokens or EOG) of every kept node that
// is not done, scores them, and keeps the best B of the new children and
// the done nodes kept before (ties go to the lower node id). It stops when
// every kept node is done or after MaxDepth rounds. All children of a node
// fork its KV, and each token of a round is one batched Extend of every
// child still inside its step.
func Tree(ctx context.Context, lm TextLM, prompt []int32, opt TreeOptions) (*TreeResult, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opt.K, 3)
	def(&opt.B, 2)
	def(&opt.MaxDepth, 4)
	def(&opt.MaxStepTokens, 64)
	if opt.Delimiter == "" {
		opt.Delimiter = "\n\n"
	}
	if opt.Scorer == nil {
		opt.Scorer = MeanLogprob{}
	}
	if opt.K < 0 || opt.B < 0 || opt.MaxDepth < 0 || opt.MaxStepTokens < 0 {
		return nil, fmt.Errorf("tree: negative K %d, B %d, MaxDepth %d or MaxStepTokens %d", opt.K, opt.B, opt.MaxDepth, opt.MaxStepTokens)
	}
	root, err := lm.Start(ctx, prompt)
	if err != nil {
		return nil, err
	}
	if err := opt.Sampling.Validate(len(root.Logprobs())); err != nil {
		root.Close()
		return nil, fmt.Errorf("tree: %w", err)
	}
	res := &TreeResult{Nodes: []TreeNode{{Parent: -1}}}
	if opt.Constraint != nil {
		res.cons = map[int]engine.ConstraintState{0: opt.Constraint.Start()}
	}
	open := map[int]Node{0: root} // nodes that may still be expanded
	defer func() {
		for _, n := range open {
			n.Close()
		}
	}()
	kept := []int{0}
	for depth := 1; depth <= opt.MaxDepth; depth++ {
		var kids []*child
		var carry []int
		for _, id := range kept {
			if res.Nodes[id].Done {
				carry = append(carry, id)
				continue
			}
			pn := open[id]
			delete(open, id) // child 0 takes over its node, the others fork it
			for k := 0; k < opt.K; k++ {
				node := pn
				if k > 0 {
					if node, err = pn.Fork(); err != nil {
						return nil, err
					}
				}
				kids = append(kids, res.spawn(lm, prompt, id, depth, node, open, opt))
			}
		}
		if len(kids) == 0 {
			break // every kept node is done
		}
		if err := res.step(ctx, lm, kids, opt); err != nil {
			return nil, err
		}
		round := Round{Depth: depth}
		for _, c := range kids {
			n := &res.Nodes[c.id]
			if n.Score, err = opt.Scorer.Score(ctx, prompt, res.Completion(c.id)); err != nil {
				return nil, fmt.Errorf("tree: scoring node %d: %w", c.id, err)
			}
			round.Candidates = append(round.Candidates, c.id)
		}
		round.Candidates = append(round.Candidates, carry...)
		slices.Sort(round.Candidates)
		kept = slices.Clone(round.Candidates)
		slices.SortStableFunc(kept, func(a, b int) int {
			if c := byScore(res.Nodes[a].Score, res.Nodes[b].Score); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		kept = kept[:min(opt.B, len(kept))]
		round.Kept = kept
		res.Rounds = append(res.Rounds, round)
		// Free what cannot be expanded any more: pruned and done nodes.
		for id, n := range open {
			if res.Nodes[id].Done || !slices.Contains(kept, id) {
				n.Close()
				delete(open, id)
			}
		}
		for id := range res.cons {
			if _, ok := open[id]; !ok {
				delete(res.cons, id)
			}
		}
	}
	if len(kept) > 0 {
		res.Best = kept[0]
	}
	return res, nil
}

// spawn adds a child of node parent that samples from node.
func (r *TreeResult) spawn(lm TextLM, prompt []int32, parent, depth int, node Node, open map[int]Node, opt TreeOptions) *child {
	id := len(r.Nodes)
	r.Nodes = append(r.Nodes, TreeNode{ID: id, Parent: parent, Depth: depth})
	open[id] = node
	hist := append(slices.Clone(prompt), r.Completion(parent).Tokens...)
	c := &child{id: id, len: len(hist), node: node, smp: sample.NewWithHistory(opt.Sampling, opt.Seed+uint64(id), hist),
		stream: lm.NewStream(hist)}
	if r.cons != nil {
		c.cons = r.cons[parent].Clone()
		r.cons[id] = c.cons
	}
	return c
}

// step samples one step for every child, advancing all children still in
// their step with one Extend per token.
func (r *TreeResult) step(ctx context.Context, lm TextLM, kids []*child, opt TreeOptions) error {
	active := kids
	limit := maxLen(lm)
	for len(active) > 0 {
		var nodes []Node
		var toks []int32
		var cont []*child
		for _, c := range active {
			n := &r.Nodes[c.id]
			lp := c.node.Logprobs()
			if c.cons != nil {
				c.lp = append(c.lp[:0], lp...)
				lp = c.lp
				if err := c.cons.Mask(lp); err != nil {
					return fmt.Errorf("tree: node %d: %w", c.id, err)
				}
			}
			tok := c.smp.Sample(lp) // log-softmax values are valid logits
			c.smp.Accept(tok)
			if c.cons != nil {
				if err := c.cons.Accept(tok); err != nil {
					return fmt.Errorf("tree: node %d: %w", c.id, err)
				}
			}
			if lm.IsEOG(tok) {
				n.Done = true
				c.text.WriteString(c.stream.Flush())
				n.Text = c.text.String()
				continue
			}
			n.Tokens = append(n.Tokens, tok)
			n.Logprobs = append(n.Logprobs, lp[tok])
			c.text.WriteString(c.stream.Add(tok))
			if c.len++; c.len >= limit {
				// Full: keep the token but never feed it.
				n.Done = true
				c.text.WriteString(c.stream.Flush())
				n.Text = c.text.String()
				continue
			}
			nodes, toks = append(nodes, c.node), append(toks, tok)
			if strings.Contains(c.text.String(), opt.Delimiter) || len(n.Tokens) >= opt.MaxStepTokens {
				c.text.WriteString(c.stream.Flush())
				n.Text = c.text.String()
				continue
			}
			cont = append(cont, c)
		}
		if len(nodes) > 0 {
			if err := lm.Extend(ctx, nodes, toks); err != nil {
				return err
			}
		}
		active = cont
	}
	return nil
}
