// Package backend defines the small set of fused operations that model code
// is written against. A backend owns device memory: weights are uploaded
// once, activations live on the device, ops are enqueued in order, and only
// sampled ids and requested logits come back to the host.
//
// The CPU backend (backend/cpu) runs ops eagerly; a CUDA backend enqueues
// them on a stream. Model code cannot tell the difference.
package backend

import "github.com/tscale/engine/quant"

// Tensor is an activation matrix of float32 on the backend's device:
// Rows() rows of Cols() contiguous values (one row per batch token).
type Tensor interface {
	Rows() int
	Cols() int
}

// Weight is a model tensor uploaded once, kept in its stored (possibly
// quantized) type. Shape is in GGML order: Shape[0] is the row length.
type Weight interface {
	Name() string
	Type() quant.Type
	Shape() []int64
}

// Act is the activation of a gated linear unit.
type Act int

const (
	SiLU     Act = iota // SwiGLU: silu(gate) * up
	GELUTanh            // GeGLU: gelu_tanh(gate) * up
	// SwiGLUOAI is gpt-oss's clamped SwiGLU: with g = min(gate, 7) and
	// u = clamp(up, -7, 7), g·sigmoid(1.702·g)·(u + 1).
	SwiGLUOAI
)

// gpt-oss's SwiGLU constants.
const (
	OAIAlpha = 1.702
	OAILimit = 7
)

// Gating turns a mixture-of-experts router's logits into expert scores.
type Gating int

const (
	Softmax       Gating = iota // softmax over all experts (Mixtral, Qwen MoE)
	Sigmoid                     // independent sigmoid per expert
	SoftmaxWeight               // top K by raw logit, softmax over those K (gpt-oss)
)

// Route describes one layer's mixture-of-experts routing.
type Route struct {
	Layer   int     // layer index (for per-layer expert statistics)
	Experts int     // experts in the layer: columns of the router logits
	K       int     // experts used per token
	Gating  Gating  // scores from logits
	Norm    bool    // divide the K chosen scores by their sum
	Scale   float32 // multiply the weights by Scale (0 or 1 = none)
}

// Experts are one layer's expert matrices, stored 3-D: gate and up are
// [dim, ff, experts], down is [ff, dim, experts] (GGML order). The biases
// are optional 2-D [ff, experts] and [dim, experts] (gpt-oss).
type Experts struct {
	Gate, Up, Down             Weight
	GateBias, UpBias, DownBias Weight
}

// Routing is the result of MoERoute: for each token, K expert ids in
// descending score order and their weights. It stays on the device.
type Routing interface {
	Tokens() int
	K() int
}

// RoPE describes rotary position embedding for one layer.
type RoPE struct {
	Dims      int       // rotated dimensions per head (n_rot), <= head size
	Base      float32   // frequency base
	FreqScale float32   // 1 / linear scaling factor (1 = none)
	NeoX      bool      // rotate (i, i+Dims/2) pairs instead of (2i, 2i+1)
	Factors   []float32 // optional per-pair frequency divisors (Llama 3 rope_freqs)
	YaRN      *YaRN     // YaRN context extension; nil = none
}

// YaRN blends interpolated (FreqScale) and original frequencies per
// dimension pair, ramping between the pairs that rotate BetaFast and
// BetaSlow times over OrigCtx positions, and scales cos/sin by
// AttnFactor·(1 + 0.1·ln(1/FreqScale)) when ExtFactor != 0 (ggml's rope).
type YaRN struct {
	ExtFactor  float32 // weight of the extrapolated frequencies in the ramp (1 = full YaRN)
	AttnFactor float32 // magnitude scale of cos and sin
	BetaFast   float32
	BetaSlow   float32
	OrigCtx    int // context length the model was trained at before extension
}

// Attn describes one attention layer.
type Attn struct {
	Layer   int
	Heads   int
	KVHeads int
	HeadDim int
	Scale   float32 // applied to q·k
	Window  int     // sliding window in tokens; 0 = full causal attention
	Softcap float32 // tanh soft-capping of scores; 0 = none
	// Sinks, when set, is an F32 logit per query head that joins each
	// softmax as one more score with no value (gpt-oss attention sinks).
	Sinks Weight
}

// KVSpec sizes a paged key/value cache.
type KVSpec struct {
	Layers    int
	KVDim     int // KV heads × head size
	Blocks    int // number of blocks in the pool
	BlockSize int // tokens per block
	Type      quant.Type
}

// KVCache is a pool of fixed-size blocks of keys and values for every layer.
// Which blocks belong to which sequence is the caller's business (see Batch).
type KVCache interface {
	Spec() KVSpec
	// CopyBlock copies every layer's contents of block src into dst
	// (copy-on-write of a shared partial block).
	CopyBlock(dst, src int)
}

// Batch is one forward step: any number of tokens from any number of
// sequences, each at its own position. A sequence's tokens in a batch must be
// at consecutive positions after those already in the cache.
type Batch struct {
	Tokens []int32 // token ids, one per row
	Pos    []int32 // position of each token within its sequence
	Seq    []int32 // index into Blocks for each token
	Blocks [][]int32
	// Blocks[s] is sequence s's block table: block Blocks[s][p/BlockSize]
	// holds position p.
}

// Len is the number of tokens in the batch.
func (b *Batch) Len() int { return len(b.Tokens) }

// ExpertCounter is implemented by backends that count MoERoute's choices:
// tokens routed to each expert, indexed [layer][expert], since the backend
// was made.
type ExpertCounter interface {
	ExpertCounts() [][]int64
}

// Backend is the fused-op interface every device implements.
type Backend interface {
	Name() string
	// Upload copies a tensor's stored bytes to the device once.
	Upload(name string, t quant.Type, shape []int64, data []byte) (Weight, error)
	// NewKV allocates a paged KV cache.
	NewKV(spec KVSpec) (KVCache, error)
	// Alloc returns a rows × cols activation tensor (contents undefined).
	Alloc(rows, cols int) Tensor
	// Reset starts a forward pass: every Tensor and Routing made before it
	// is dead, and the backend may reuse their memory (the CUDA backend's
	// activation arena). The engine calls it before each step's Forward;
	// results are read before the next Reset.
	Reset()

	// Embed sets dst row i to row ids[i] of table, times scale.
	Embed(dst Tensor, table Weight, ids []int32, scale float32)
	// RMSNorm normalises each group of len(w) values of x into dst and
	// multiplies by w; a group is a row, or a head when len(w) is a head size.
	RMSNorm(dst, x Tensor, w Weight, eps float32)
	// MatMul sets dst = x · wᵀ (+ bias when bias is non-nil).
	MatMul(dst, x Tensor, w, bias Weight)
	// RoPE rotates each head of x in place for the tokens' positions.
	RoPE(x Tensor, headDim int, pos []int32, r RoPE)
	// Attention stores k and v of the batch's tokens in the cache, then sets
	// dst to causal attention of q over each token's sequence.
	Attention(dst, q, k, v Tensor, kv KVCache, b *Batch, a Attn)
	// GLU sets dst = act(gate) * up.
	GLU(dst, gate, up Tensor, act Act)
	// Add sets dst = a + b.
	Add(dst, a, b Tensor)
	// Softcap sets x = c·tanh(x/c).
	Softcap(x Tensor, c float32)
	// MoERoute chooses each token's experts from router logits (one row
	// per token, r.Experts columns): scores by r.Gating, the r.K best
	// (ties to the lower id) in descending order, their scores as weights,
	// optionally renormalised and scaled.
	MoERoute(logits Tensor, r Route) Routing
	// MoEExperts sets dst row i to the sum, in routing order, of weight ×
	// down_e(act(gate_e·x_i) × up_e·x_i) over token i's experts e, each
	// product plus its expert's bias where e has biases.
	MoEExperts(dst, x Tensor, rt Routing, e Experts, act Act)
	// SigmoidGate multiplies row i of x by sigmoid(g[i][0]) (a shared
	// expert's gate; g has one column).
	SigmoidGate(x, g Tensor)
	// Gather sets dst row i to row rows[i] of x (e.g. the rows that need logits).
	Gather(dst, x Tensor, rows []int)

	// Argmax returns the index of the largest value of each listed row.
	Argmax(x Tensor, rows []int) []int32
	// Read copies row r of x to the host.
	Read(x Tensor, r int, dst []float32)
}
