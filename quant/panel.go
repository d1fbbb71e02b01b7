package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// A Panel is a batch of activation rows laid out for the AVX-512 VNNI
// prefill kernels. Per 16 rows and 32-element block it holds the rows'
// quants transposed in 4-byte groups (group g of all 16 rows in one 64-byte
// vector, offset by 128 to unsigned bytes), then the rows' scales. One
// VPDPBUSD with a weight group broadcast then adds that group's products
// for all 16 rows, so a block's exact int32 sums need no horizontal adds,
// and the float part runs 16 rows per vector in DotFunc's per-row order:
// every result is bit-identical to DotFunc's. The zero value is empty; Set
// fills it.
type Panel struct {
	t     Type
	nb    int    // 32-element blocks per row
	rows  int    // activation rows
	mode  int    // the float part (see panelMode)
	a     []byte // per tile of 16 rows, per block: panelBlock bytes
	wsize int    // weight bytes per block
}

const (
	panelRows  = 16
	panelBlock = 8*64 + 2*64 // quants, then 16 d and 16 s (Q8_1) as float32
	panelGroup = 4           // weight rows per kernel call
	panelWBlk  = panelGroup*32 + 3*4*panelGroup
)

// panelMode is the float part of a block's sum s for weight type t, in
// DotFunc's order: 0 (s·dw)·dx; 1 (dw·dx)·s; 2 (dw·dx)·s + mw·sx.
func panelMode(t Type) int {
	switch t {
	case Q4_0:
		return 0
	case Q8_0, Q5_0:
		return 1
	case Q4_1, Q5_1:
		return 2
	case F32:
		return 3
	}
	return -1
}

// PanelOK reports whether products of n-element rows with weights of type t
// run through Panel kernels on this CPU (AVX-512 with VNNI).
func PanelOK(t Type, n int) bool {
	switch t {
	case F32:
		return hasPanel && n > 0 && n%4 == 0
	case Q4_K, Q6_K:
		return hasPanel && n > 0 && n%QK_K == 0
	}
	return hasPanel && n > 0 && n%32 == 0 && panelMode(t) >= 0
}

// Set lays out rows xs (n elements of VecDotType(t) each, at least one
// row) for products with weight rows of type t; PanelOK(t, n) must hold.
// The panel copies the rows.
func (p *Panel) Set(t Type, n int, xs [][]byte) {
	if !PanelOK(t, n) || len(xs) == 0 {
		panic(fmt.Sprintf("quant: no %s panel of %d rows of %d elements here", t, len(xs), n))
	}
	nb, xsize := n/32, VecDotType(t).TypeSize()
	switch t {
	case F32:
		nb, xsize = n/4, 16 // groups of four elements
	case Q4_K, Q6_K:
		nb = n / QK_K
	}
	for r, x := range xs {
		if len(x) < nb*xsize {
			panic(fmt.Sprintf("quant: panel row %d has %d bytes, want %d", r, len(x), nb*xsize))
		}
	}
	switch t {
	case F32:
		p.setF32(nb, xs)
		return
	case Q4_K, Q6_K:
		p.setK(t, nb, xs)
		return
	}
	tiles := (len(xs) + panelRows - 1) / panelRows
	size := tiles * nb * panelBlock
	if cap(p.a) < size {
		p.a = make([]byte, size)
	}
	p.a = p.a[:size]
	p.t, p.nb, p.rows, p.mode, p.wsize = t, nb, len(xs), panelMode(t), t.TypeSize()
	q := xsize - 32 // the quants' offset in an activation block
	for i := 0; i < tiles*panelRows; i++ {
		tile, r := i/panelRows, i%panelRows
		for b := 0; b < nb; b++ {
			dst := p.a[(tile*nb+b)*panelBlock:][:panelBlock]
			if i >= len(xs) { // padding: zero quants and scales
				for g := 0; g < 8; g++ {
					binary.LittleEndian.PutUint32(dst[g*64+r*4:], 0x80808080)
				}
				binary.LittleEndian.PutUint32(dst[512+4*r:], 0)
				binary.LittleEndian.PutUint32(dst[576+4*r:], 0)
				continue
			}
			y := xs[i][b*xsize:]
			for g := 0; g < 8; g++ {
				v := binary.LittleEndian.Uint32(y[q+4*g:])
				binary.LittleEndian.PutUint32(dst[g*64+r*4:], v^0x80808080)
			}
			binary.LittleEndian.PutUint32(dst[512+4*r:], math.Float32bits(half(y[0:])))
			var s float32
			if q == 4 {
				s = half(y[2:])
			}
			binary.LittleEndian.PutUint32(dst[576+4*r:], math.Float32bits(s))
		}
	}
}

// F32 panels hold per tile of 16 rows and chunk of 16 elements the rows'
// 16 float32 values (1 KiB), a row's last chunk padded with zeros: one ZMM
// per row, dotF32's lanes.
const panelF32Block = panelRows * 64

func (p *Panel) setF32(ng int, xs [][]byte) {
	tiles := (len(xs) + panelRows - 1) / panelRows
	nc := (ng + 3) / 4 // chunks of 16 elements (ng groups of four)
	size := tiles * nc * panelF32Block
	if cap(p.a) < size {
		p.a = make([]byte, size)
	}
	p.a = p.a[:size]
	clear(p.a)
	p.t, p.nb, p.rows, p.mode, p.wsize = F32, ng, len(xs), 3, 16
	for i, x := range xs {
		tile, r := i/panelRows, i%panelRows
		dst := p.a[tile*nc*panelF32Block+64*r:]
		for m := 0; m < nc; m++ {
			copy(dst[m*panelF32Block:m*panelF32Block+64], x[64*m:16*ng])
		}
	}
}

// mulF32 is Mul for F32 weights: per weight row and tile the kernel sums
// each row in dotF32's lanes and reduces them as lanes16 does.
func (p *Panel) mulF32(w []byte, rowBytes, count int, dst []float32, ld int) {
	tiles := (p.rows + panelRows - 1) / panelRows
	n := 4 * p.nb
	nc := (n + 15) / 16
	var out [panelRows]float32
	for j := 0; j < count; j++ {
		wr := &w[j*rowBytes]
		for tile := 0; tile < tiles; tile++ {
			panelF32(n/16, n%16, &p.a[tile*nc*panelF32Block], wr, &out)
			rows := min(panelRows, p.rows-tile*panelRows)
			o := dst[tile*panelRows*ld+j:]
			for i := 0; i < rows; i++ {
				o[i*ld] = out[4*(i%4)+i/4]
			}
		}
	}
}

// Rows is the number of activation rows in the panel.
func (p *Panel) Rows() int { return p.rows }

// Mul sets dst[r*ld+j] to DotFunc(t)(n, weight row j, row r), bit for bit,
// for every row r of the panel and the count weight rows j of w (rowBytes
// bytes each, back to back). Calls may run concurrently (each thread
// its share of the weight rows).
func (p *Panel) Mul(w []byte, rowBytes, count int, dst []float32, ld int) {
	if count <= 0 {
		return
	}
	wb := p.nb * p.wsize
	if rowBytes < wb || len(w) < (count-1)*rowBytes+wb {
		panic(fmt.Sprintf("quant: panel: %d bytes for %d weight rows of %d bytes", len(w), count, rowBytes))
	}
	if need := (p.rows-1)*ld + count; ld < count || len(dst) < need {
		panic(fmt.Sprintf("quant: panel: dst of %d values, want %d", len(dst), need))
	}
	switch p.t {
	case F32:
		p.mulF32(w, rowBytes, count, dst, ld)
		return
	case Q4_K, Q6_K:
		p.mulK(w, rowBytes, count, dst, ld)
		return
	}
	bp := wbufs.Get().(*[]byte)
	defer wbufs.Put(bp)
	if cap(*bp) < p.nb*panelWBlk {
		*bp = make([]byte, p.nb*panelWBlk)
	}
	buf := (*bp)[:p.nb*panelWBlk]
	tiles := (p.rows + panelRows - 1) / panelRows
	var out [panelGroup * panelRows]float32
	for j0 := 0; j0 < count; j0 += panelGroup {
		k := min(panelGroup, count-j0)
		for g := 0; g < panelGroup; g++ {
			j := j0 + min(g, k-1)
			panelDec(decKind[p.t], p.nb, &w[j*rowBytes], p.wsize, &buf[32*g], &buf[panelGroup*32+4*g])
		}
		for tile := 0; tile < tiles; tile++ {
			panelKern(p.nb, &p.a[tile*p.nb*panelBlock], &buf[0], p.mode, &out)
			scatter(dst[tile*panelRows*ld+j0:], ld, &out, min(panelRows, p.rows-tile*panelRows), k)
		}
	}
}

// decKind is panelDec's kind for each 32-element type.
var decKind = map[Type]int{Q8_0: 0, Q4_0: 1, Q4_1: 2, Q5_0: 3, Q5_1: 4}

// wbufs holds Mul's decoded weight groups.
var wbufs = sync.Pool{New: func() any { return new([]byte) }}

// scatter writes the kernel's out[g*16+i] to dst[i*ld+g] for the n rows i
// and k weight rows g.
func scatter(dst []float32, ld int, out *[panelGroup * panelRows]float32, n, k int) {
	if k == panelGroup {
		for i := 0; i < n; i++ {
			o := (*[panelGroup]float32)(dst[i*ld:])
			o[0], o[1], o[2], o[3] = out[i], out[panelRows+i], out[2*panelRows+i], out[3*panelRows+i]
		}
		return
	}
	for i := 0; i < n; i++ {
		o := dst[i*ld : i*ld+k]
		for g := range o {
			o[g] = out[g*panelRows+i]
		}
	}
}

// decode is the reference for panelDec (the tests compare them): it writes
// weight row w as slot g of the kernel's weight group: per
// block 32 signed bytes (the row's values q - offset), then at the block's
// tables its d and m as float32 and 128·Σ values as int32 (the unsigned
// activations' offset, subtracted from each sum).
func (p *Panel) decode(w, buf []byte, g int) {
	for b := 0; b < p.nb; b++ {
		blk := w[b*p.wsize : (b+1)*p.wsize]
		o := buf[b*panelWBlk:][:panelWBlk]
		q := o[32*g : 32*g+32]
		var m float32
		var sum int32 // Σ of the codes
		off := int32(0)
		switch p.t {
		case Q8_0:
			for k := 0; k < 32; k += 8 {
				v := binary.LittleEndian.Uint64(blk[2+k:])
				binary.LittleEndian.PutUint64(q[k:], v)
				sum += bsum8(v ^ hb)
			}
			off = 128 * 32
		case Q4_0, Q4_1:
			s := 2
			if p.t == Q4_1 {
				s, m = 4, half(blk[2:])
			}
			lo := binary.LittleEndian.Uint64(blk[s:])
			hi := binary.LittleEndian.Uint64(blk[s+8:])
			c := [4]uint64{lo & m4, hi & m4, lo >> 4 & m4, hi >> 4 & m4}
			for k, v := range c {
				sum += bsum8(v)
				if p.t == Q4_0 {
					v = ((v | hb) - 0x0808080808080808) ^ hb
				}
				binary.LittleEndian.PutUint64(q[8*k:], v)
			}
			if p.t == Q4_0 {
				off = 8 * 32
			}
		case Q5_0, Q5_1:
			s := 2
			if p.t == Q5_1 {
				s, m = 4, half(blk[2:])
			}
			var a [32]byte
			unpackQ5(&a, blk[s:s+4], blk[s+4:s+20])
			for k := 0; k < 32; k += 8 {
				v := binary.LittleEndian.Uint64(a[k:])
				sum += bsum8(v)
				if p.t == Q5_0 {
					v = ((v | hb) - 0x1010101010101010) ^ hb
				}
				binary.LittleEndian.PutUint64(q[k:], v)
			}
			if p.t == Q5_0 {
				off = 16 * 32
			}
		}
		t := o[panelGroup*32:]
		binary.LittleEndian.PutUint32(t[4*g:], math.Float32bits(half(blk[0:])))
		binary.LittleEndian.PutUint32(t[16+4*g:], math.Float32bits(m))
		binary.LittleEndian.PutUint32(t[32+4*g:], uint32(128*(sum-off)))
	}
}

// bsum8 is the sum of the eight bytes of v as unsigned values.
func bsum8(v uint64) int32 {
	v = v&0x00FF00FF00FF00FF + v>>8&0x00FF00FF00FF00FF
	return int32(v * 0x0001000100010001 >> 48)
}
