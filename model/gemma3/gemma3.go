// Package gemma3 configures the Llama block for Gemma 3: scaled embeddings,
// GeGLU, Q/K norms, post-attention and post-FFN norms, and interleaved
// sliding-window (local) and full (global) attention layers with their own
// RoPE bases.
package gemma3

import (
	"math"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/llama"
)

// Every pattern-th layer uses full attention; the others a sliding window.
const pattern = 6

// localBase is the RoPE base of sliding-window layers, fixed by Gemma 3.
const localBase = 10000

func init() {
	model.Register("gemma3", load)
}

func load(f *gguf.File, be backend.Backend) (model.Model, error) {
	m := model.NewMeta(f)
	dim := m.PosInt("embedding_length")
	heads := m.PosInt("attention.head_count")
	// Five of six layers slide: without a window they would attend to
	// everything, silently another model.
	window := m.PosInt("attention.sliding_window")
	softcap := m.Float("final_logit_softcapping", 0)
	if softcap < 0 {
		m.Bad("final_logit_softcapping", softcap, "must be >= 0 (0: no soft-capping)")
	}
	if m.Err != nil {
		return nil, m.Err
	}
	// Queries are scaled by 1/sqrt(head size), except in the 27B model
	// (62 layers) by 1/sqrt(dim/heads), as Gemma's reference code and
	// llama.cpp do. (llama.Load validates these keys.)
	qdim := m.Int("attention.key_length", dim/heads)
	if m.Int("block_count") == 62 {
		qdim = dim / heads
	}
	return llama.Load(f, be, llama.Options{
		NeoX:         true,
		Act:          backend.GELUTanh,
		EmbedScale:   float32(math.Sqrt(float64(dim))),
		FinalSoftcap: softcap,
		QScale:       float32(1 / math.Sqrt(float64(qdim))),
		Layer: func(il int, global backend.RoPE) (backend.RoPE, int) {
			if il%pattern == pattern-1 {
				return global, 0
			}
			local := global
			local.Base, local.FreqScale = localBase, 1
			return local, window
		},
	})
}
