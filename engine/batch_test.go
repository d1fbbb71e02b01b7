package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/model/tokenizer"
)

// TestBatchedForwardMatchesAlone: sequences at different positions in one
// forward call give exactly their solo logits.
func TestBatchedForwardMatchesAlone(t *testing.T) {
	e, err := Open(modelPath(t, "stories260K.gguf"), WithContext(256))
	require.NoError(t, err)
	defer e.Close()
	requireBatchMatchesAlone(t, e, batchTexts)
}

// requireBatchMatchesAlone runs the prompts as several sequences at
// different positions in one forward call (all but their last tokens,
// then the last tokens together) and requires every row's logits to equal
// those of the sequence run alone, bit for bit: the scheduler relies on it.
func requireBatchMatchesAlone(t *testing.T, e *Engine, texts []string) {
	t.Helper()
	prompts := make([][]int32, len(texts))
	alone := make([][]float32, len(texts))
	for i, text := range texts {
		prompts[i] = e.Tokenizer().Encode(text, tokenizer.AddSpecial)
		var err error
		alone[i], err = e.Logits(context.Background(), prompts[i])
		require.NoError(t, err)
	}
	// A private cache: sequence i owns blocks per*i .. per*i+per-1.
	const per = 8
	kvc, err := e.be.NewKV(e.model.KVSpec(per*len(prompts), 16))
	require.NoError(t, err)
	b := &backend.Batch{}
	for i, p := range prompts {
		require.LessOrEqual(t, len(p), per*16)
		var blocks []int32
		for j := 0; j < per; j++ {
			blocks = append(blocks, int32(per*i+j))
		}
		b.Blocks = append(b.Blocks, blocks)
		for j := 0; j < len(p)-1; j++ {
			b.Tokens = append(b.Tokens, p[j])
			b.Pos = append(b.Pos, int32(j))
			b.Seq = append(b.Seq, int32(i))
		}
	}
	_, err = e.model.Forward(b, kvc, nil)
	require.NoError(t, err)
	last := &backend.Batch{Blocks: b.Blocks}
	var rows []int
	for i, p := range prompts {
		last.Tokens = append(last.Tokens, p[len(p)-1])
		last.Pos = append(last.Pos, int32(len(p)-1))
		last.Seq = append(last.Seq, int32(i))
		rows = append(rows, i)
	}
	logits, err := e.model.Forward(last, kvc, rows)
	require.NoError(t, err)
	for i, p := range prompts {
		got := make([]float32, logits.Cols())
		e.Backend().Read(logits, i, got)
		require.Equal(t, alone[i], got, "sequence %d (%d tokens)", i, len(p))
	}
}

// batchTexts are prompts of different lengths for requireBatchMatchesAlone.
var batchTexts = []string{
	"Once upon a time",
	"Lily and her mom went to the park. They saw a big tree with red apples.",
	"Tom",
	"The cat sat on the mat and looked at the big red ball",
	"One day, a little boy named Ben found a shiny key",
}
