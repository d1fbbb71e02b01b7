package llama

import (
	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
)

func init() { model.Register("gpt-oss", loadGPTOSS) }

// loadGPTOSS configures the block for OpenAI's gpt-oss: QKV and output
// biases, attention sinks, sliding-window and full attention alternating
// (the first of every sliding_window_pattern layers, 2 by default, slides),
// YaRN RoPE, and a mixture of experts with router and expert biases,
// softmax over the chosen experts' logits and a clamped SwiGLU.
func loadGPTOSS(f *gguf.File, be backend.Backend) (model.Model, error) {
	m := model.NewMeta(f)
	window := m.PosInt("attention.sliding_window")
	period := m.Int("attention.sliding_window_pattern", 2)
	if m.Err != nil {
		return nil, m.Err
	}
	return Load(f, be, Options{
		NeoX:            true,
		Act:             backend.SwiGLUOAI,
		PostAttnFFNNorm: true,
		Sinks:           true,
		Layer: func(il int, r backend.RoPE) (backend.RoPE, int) {
			// llama_hparams::set_swa_pattern: layer il slides unless it
			// is the last of its period (period 0: every layer slides).
			if period == 0 || il%period < period-1 {
				return r, window
			}
			return r, 0
		},
	})
}
