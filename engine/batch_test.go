package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
)

// TestBatchedForwardMatchesAlone runs several sequences at different
// positions in one forward call and checks every row's logits are exactly
// those of the sequence run alone: the scheduler relies on it.
func TestBatchedForwardMatchesAlone(t *testing.T) {
	e, err := Open(modelPath(t, "stories260K.gguf"), WithContext(256))
	require.NoError(t, err)
	defer e.Close()
	tok := e.Tokenizer()
	prompts := [][]int32{
		tok.Encode("Once upon a time", true, false),
		tok.Encode("The cat sat on the mat and looked at the big red ball", true, false),
		tok.Encode("Tom", true, false),
	}
	alone := make([][]float32, len(prompts))
	for i, p := range prompts {
		alone[i], err = e.Logits(context.Background(), p)
		require.NoError(t, err)
	}

	// A private cache: sequence s owns blocks s*4 .. s*4+3.
	kvc, err := e.be.NewKV(e.model.KVSpec(16, 16))
	require.NoError(t, err)
	// Step 1: each sequence prefills all but its last token, in one batch.
	// Step 2: each adds its last token, again in one batch, at different
	// positions; the logits must equal the separate runs bit for bit.
	b := &backend.Batch{}
	for i, p := range prompts {
		b.Blocks = append(b.Blocks, []int32{int32(4 * i), int32(4*i + 1), int32(4*i + 2), int32(4*i + 3)})
		for j := 0; j < len(p)-1; j++ {
			b.Tokens = append(b.Tokens, p[j])
			b.Pos = append(b.Pos, int32(j))
			b.Seq = append(b.Seq, int32(i))
		}
	}
	_, err = e.model.Forward(b, kvc, nil)
	require.NoError(t, err)
	b2 := &backend.Batch{Blocks: b.Blocks}
	var rows []int
	for i, p := range prompts {
		b2.Tokens = append(b2.Tokens, p[len(p)-1])
		b2.Pos = append(b2.Pos, int32(len(p)-1))
		b2.Seq = append(b2.Seq, int32(i))
		rows = append(rows, i)
	}
	logits, err := e.model.Forward(b2, kvc, rows)
	require.NoError(t, err)
	for i := range prompts {
		got := make([]float32, logits.Cols())
		e.Backend().Read(logits, i, got)
		require.Equal(t, alone[i], got, "sequence %d", i)
	}
}
