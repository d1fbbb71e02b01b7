package cuda

import (
	"unsafe"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cpu"
)

// The CPU twin runs the ops whose kernels are not wired yet: the inputs are
// copied to the host, the CPU backend's op runs, the result is copied back.
// Correct but slow; Stats.HostOps counts them so that a run shows what is
// left (bench prints it).

// down copies t to a new CPU tensor (on the backend's thread).
func (b *Backend) down(t *tensor) backend.Tensor {
	h := make([]float32, t.n())
	if len(h) > 0 {
		b.dtoh(unsafe.Pointer(&h[0]), t.p, int64(4*len(h)))
	}
	return cpu.NewTensor(t.rows, t.cols, h)
}

// up copies CPU tensor h into t.
func (b *Backend) up(t *tensor, h backend.Tensor) {
	f := cpu.Floats(h)
	if len(f) > 0 {
		b.htod(t.p, unsafe.Pointer(&f[0]), int64(4*len(f)))
	}
}

func (b *Backend) hostEmbed(d *tensor, w *weight, ids []int32, scale float32) {
	b.st.HostOps++
	h := b.host.Alloc(d.rows, d.cols)
	b.host.Embed(h, w.host, ids, scale)
	b.up(d, h)
}

func (b *Backend) hostMatMul(d, x *tensor, w, bias backend.Weight) {
	b.st.HostOps++
	h := b.host.Alloc(d.rows, d.cols)
	b.host.MatMul(h, b.down(x), hostW(w), hostW(bias))
	b.up(d, h)
}

func (b *Backend) hostRoPE(x *tensor, headDim int, pos []int32, r backend.RoPE) {
	b.st.HostOps++
	h := b.down(x)
	b.host.RoPE(h, headDim, pos, r)
	b.up(x, h)
}

func (b *Backend) hostExperts(d, x *tensor, rt *routing, e backend.Experts, act backend.Act) {
	b.st.HostOps++
	h := b.host.Alloc(d.rows, d.cols)
	he := backend.Experts{Gate: hostW(e.Gate), Up: hostW(e.Up), Down: hostW(e.Down),
		GateBias: hostW(e.GateBias), UpBias: hostW(e.UpBias), DownBias: hostW(e.DownBias)}
	ids, w := make([]int32, rt.n*rt.k), make([]float32, rt.n*rt.k)
	if len(ids) > 0 {
		b.dtoh(unsafe.Pointer(&ids[0]), rt.ids, int64(4*len(ids)))
		b.dtoh(unsafe.Pointer(&w[0]), rt.w, int64(4*len(w)))
	}
	b.host.MoEExperts(h, b.down(x), cpu.NewRouting(rt.n, rt.k, ids, w), he, act)
	b.up(d, h)
}
