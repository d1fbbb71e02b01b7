//go:build cudaemu

package emu

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/x448/float16"
)

// poisonF16 is an F16 NaN: cache entries no kernel wrote stay NaN.
const poisonF16 = 0x7e00

func poisonedHalves(n int) []uint16 {
	x := make([]uint16, n)
	for i := range x {
		x[i] = poisonF16
	}
	return x
}

// kvTables lays sequences' block tables out as the kernels take them:
// int32 rows of stride entries (unused entries -1).
func kvTables(tables [][]int32) ([]int32, int) {
	stride := 1
	for _, tb := range tables {
		stride = max(stride, len(tb))
	}
	flat := make([]int32, len(tables)*stride)
	for i := range flat {
		flat[i] = -1
	}
	for s, tb := range tables {
		copy(flat[s*stride:], tb)
	}
	return flat, stride
}

func TestKVWriteKernel(t *testing.T) { bothOrders(t, testKVWriteKernel) }

func testKVWriteKernel(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	const layers, blocks, bs, kvDim = 2, 9, 4, 3 * 16
	// Three sequences, tables out of order; positions cross block boundaries.
	tables := [][]int32{{7, 2, 5}, {0}, {8, 1, 3, 6}}
	var pos, seq []int32
	for s, n := range []int{11, 3, 14} {
		for p := 0; p < n; p++ {
			pos, seq = append(pos, int32(p)), append(seq, int32(s))
		}
	}
	r.Shuffle(len(pos), func(i, j int) { pos[i], pos[j], seq[i], seq[j] = pos[j], pos[i], seq[j], seq[i] })
	n := len(pos)
	k, v := activations(r, n*kvDim, 0), activations(r, n*kvDim, 7)
	for i := range k { // the F16 edges: overflow to Inf, subnormals, ties
		switch i % 97 {
		case 1:
			k[i], v[i] = 70000, -65520
		case 2:
			k[i], v[i] = 3e-6, -6e-8
		case 3:
			k[i], v[i] = 1+1.0/2048, 1+3.0/2048
		}
	}
	const l = 1
	pool := layers * blocks * bs * kvDim
	kc, vc := dev(t, poisonedHalves(pool)), dev(t, poisonedHalves(pool))
	flat, stride := kvTables(tables)
	layerOff := DevPtr(2 * l * blocks * bs * kvDim)
	require.NoError(t, Launch("kv_write_f16", Dim3{uint32(n), 1, 1}, Dim3{32, 1, 1}, 0,
		Ptr(kc+layerOff), Ptr(vc+layerOff), Ptr(dev(t, k)), Ptr(dev(t, v)), Ptr(dev(t, pos)), Ptr(dev(t, seq)),
		Ptr(dev(t, flat)), I64(kvDim), I64(bs), I64(int64(stride))))
	// Expected: the CPU backend's layout and conversion (x448/float16).
	wantK, wantV := poisonedHalves(pool), poisonedHalves(pool)
	for i := range pos {
		p := int(pos[i])
		o := ((l*blocks+int(tables[seq[i]][p/bs]))*bs + p%bs) * kvDim
		for e := 0; e < kvDim; e++ {
			wantK[o+e] = float16.Fromfloat32(k[i*kvDim+e]).Bits()
			wantV[o+e] = float16.Fromfloat32(v[i*kvDim+e]).Bits()
		}
	}
	for _, c := range []struct {
		name      string
		want, got []uint16
	}{{"K", wantK, back[uint16](kc, pool)}, {"V", wantV, back[uint16](vc, pool)}} {
		for i := range c.want {
			w, g := c.want[i], c.got[i]
			if isNaN16(w) && isNaN16(g) { // NaN payloads differ (the GPU's is canonical)
				continue
			}
			require.Equal(t, w, g, "%s half %d (layer %d, block %d, row %d, element %d)", c.name, i,
				i/(blocks*bs*kvDim), i/(bs*kvDim)%blocks, i/kvDim%bs, i%kvDim)
		}
	}
}

func TestKVCopyBlockKernel(t *testing.T) { bothOrders(t, testKVCopyBlockKernel) }

func testKVCopyBlockKernel(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, c := range []struct{ layers, blocks, bs, kvDim int }{
		{3, 5, 4, 64}, // 16-byte copies
		{2, 4, 3, 6},  // element copies
	} {
		elems := c.bs * c.kvDim
		pool := c.layers * c.blocks * elems
		k, v := make([]uint16, pool), make([]uint16, pool)
		for i := range k {
			k[i], v[i] = uint16(r.Intn(1<<16)), uint16(r.Intn(1<<16))
		}
		kc, vc := dev(t, k), dev(t, v)
		dst, src := 3, 1
		require.NoError(t, Launch("copy_block_f16", Dim3{2, uint32(c.layers), 2}, Dim3{32, 1, 1}, 0,
			Ptr(kc), Ptr(vc), I64(int64(dst)), I64(int64(src)), I64(int64(c.blocks)), I64(int64(elems))))
		for l := 0; l < c.layers; l++ {
			o := l * c.blocks * elems
			copy(k[o+dst*elems:o+(dst+1)*elems], k[o+src*elems:o+(src+1)*elems])
			copy(v[o+dst*elems:o+(dst+1)*elems], v[o+src*elems:o+(src+1)*elems])
		}
		name := fmt.Sprintf("%d layers, block %d×%d", c.layers, c.bs, c.kvDim)
		require.Equal(t, k, back[uint16](kc, pool), name)
		require.Equal(t, v, back[uint16](vc, pool), name)
	}
}
