//go:build cudaemu

package cuda

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// TestMoEGrouped: a MoE layer's products as one moe_matvec_<type> launch
// each over all experts give the bits of one launch per expert, and the
// CPU's result; the layer's launches drop from 4 + 3 per expert with rows
// (+ 2 activation quantizations) to 7 (+ 2), and no group sizes are copied
// to the host.
func TestMoEGrouped(t *testing.T) {
	types := gpuTypes
	if testing.Short() {
		types = []quant.Type{quant.F16, quant.Q8_0, quant.Q4_1, quant.Q4_K, quant.Q6_K, quant.MXFP4}
	}
	// One pair for all (each backend's thread has its own emulated fiber
	// stacks); a layer per case, for its expert counts.
	p := newPair(t, 5)
	layer := 0
	for _, typ := range types {
		for _, n := range []int{1, 5, 32} { // 32 tokens: up to 30 rows an expert, runs of 8
			t.Run(fmt.Sprintf("%s, %d tokens", typ, n), func(t *testing.T) {
				const dim, ff, E, k = 256, 256, 4, 2
				r := backend.Route{Layer: layer, Experts: E, K: k, Gating: backend.Softmax, Norm: true}
				layer++
				p.g.Reset()
				cl, gl := p.rnd(n, E)
				crt, grt := p.c.MoERoute(cl, r), p.g.MoERoute(gl, r)
				small := func(n int) []float32 { // weights of a trained model's scale
					x := p.randn(n)
					for i := range x {
						x[i] *= 0.1
					}
					return x
				}
				var ce, ge backend.Experts
				ce.Gate, ge.Gate = p.weight(t, typ, []int64{dim, ff, E}, small(dim*ff*E))
				ce.Up, ge.Up = p.weight(t, typ, []int64{dim, ff, E}, small(dim*ff*E))
				ce.Down, ge.Down = p.weight(t, typ, []int64{ff, dim, E}, small(dim*ff*E))
				cx, gx := p.rnd(n, dim)
				cd, gd := p.out(n, dim)
				p.c.MoEExperts(cd, cx, crt, ce, backend.SiLU)
				s0 := p.g.Stats()
				p.g.MoEExperts(gd, gx, grt, ge, backend.SiLU)
				s1 := p.g.Stats()
				p.g.perExpert = true
				pd := p.g.Alloc(n, dim)
				p.g.MoEExperts(pd, gx, grt, ge, backend.SiLU)
				s2 := p.g.Stats()
				p.g.perExpert = false

				t.Logf("grouped %.2g, per expert %.2g of the CPU", rowErr(read(p.c, cd), read(p.g, gd), dim), rowErr(read(p.c, cd), read(p.g, pd), dim))
				require.Equal(t, read(p.g, pd), read(p.g, gd), "grouped against per expert: the same bits")
				// As the per-expert path (same bits): an activation now and then
				// quantizes to the other Q8 neighbour (measured up to 9.4e-5).
				p.check(t, cd, gd, 2e-4, "grouped against the CPU")
				used := 0
				for _, c := range p.c.ExpertCounts()[r.Layer] {
					if c > 0 {
						used++
					}
				}
				quantized := int64(2) // the activations of gate / up and of down
				if typ == quant.F32 || typ == quant.F16 || typ == quant.BF16 {
					quantized = 0
				}
				require.Equal(t, 7+quantized, s1.Launches-s0.Launches, "grouped launches")
				require.Equal(t, int64(4+3*used)+quantized, s2.Launches-s1.Launches, "per-expert launches (%d experts)", used)
				require.Zero(t, s1.DtoH-s0.DtoH, "grouped: nothing copied to the host")
				require.Equal(t, int64(4*(E+1)), s2.DtoH-s1.DtoH, "per expert: the group sizes")
			})
		}
	}
}
