package quant

import (
	"encoding/binary"
	"math"
)

// K-quant panels (Q4_K, Q6_K) keep dotQ4_K's and dotQ6_K's lanes: lane l
// of a super-block sums scale·q·y over the elements e ≡ l (mod 8), each
// lane is scaled by d and accumulated across super-blocks, and the lanes
// are added to the row's sum in lane order at the end. The panel's 4-byte
// group (l, t) holds elements l+32t+{0, 8, 16, 24} of the 16 rows as
// unsigned bytes (y+128): one VPMADDUBSW with the weight row's four
// (signed) values gives two int16 pair sums per row, one scale each (Q4_K:
// both sc[t]; Q6_K: sc[2t] and sc[2t+1]), and VPDPWSSD adds pair·scale
// into the lane's int32 sum. A weight record holds per super-block the
// four rows' groups (t, row, l) (1024 bytes), their scale pairs (row, t),
// the offset terms (128·Σ scale·q per row and lane), d, dmin and the
// Q4_K mins.
const (
	kActQ     = 64 * 64 // 64 groups of 16 rows × 4 bytes
	kActBlock = kActQ + 64 + 8*64
	kWBlock   = 1024 + 128 + 128 + 32 + 128
)

func (p *Panel) setK(t Type, nb int, xs [][]byte) {
	tiles := (len(xs) + panelRows - 1) / panelRows
	size := tiles * nb * kActBlock
	if cap(p.a) < size {
		p.a = make([]byte, size)
	}
	p.a = p.a[:size]
	p.t, p.nb, p.rows, p.wsize = t, nb, len(xs), t.TypeSize()
	p.mode = 4
	if t == Q6_K {
		p.mode = 5
	}
	for i := 0; i < tiles*panelRows; i++ {
		tile, r := i/panelRows, i%panelRows
		for b := 0; b < nb; b++ {
			dst := p.a[(tile*nb+b)*kActBlock:][:kActBlock]
			if i >= len(xs) {
				for g := 0; g < 64; g++ {
					binary.LittleEndian.PutUint32(dst[g*64+4*r:], 0x80808080)
				}
				binary.LittleEndian.PutUint32(dst[kActQ+4*r:], 0)
				for k := 0; k < 8; k++ {
					binary.LittleEndian.PutUint32(dst[kActQ+64+64*k+4*r:], 0)
				}
				continue
			}
			y := (*[292]byte)(xs[i][b*292:])
			for l := 0; l < 8; l++ {
				for t := 0; t < 8; t++ {
					e := 4 + l + 32*t
					dst[l*512+t*64+4*r+0] = y[e] ^ 0x80
					dst[l*512+t*64+4*r+1] = y[e+8] ^ 0x80
					dst[l*512+t*64+4*r+2] = y[e+16] ^ 0x80
					dst[l*512+t*64+4*r+3] = y[e+24] ^ 0x80
				}
			}
			copy(dst[kActQ+4*r:kActQ+4*r+4], y[0:4])
			for k := 0; k < 8; k++ { // bsums 2k and 2k+1, the mins' int16 pairs
				copy(dst[kActQ+64+64*k+4*r:kActQ+64+64*k+4*r+4], y[260+4*k:264+4*k])
			}
		}
	}
}

// decodeK writes weight row w as row g of a K kernel's weight record:
// per super-block its signed values as the groups (t, g, l) (transK), the
// scale pairs, the offset terms, d, dmin and (Q4_K) the mins.
func (p *Panel) decodeK(w, buf []byte, g int) {
	var a [QK_K]byte
	var pairs [8]uint32
	for b := 0; b < p.nb; b++ {
		blk := w[b*p.wsize : (b+1)*p.wsize]
		o := (*[kWBlock]byte)(buf[b*kWBlock:])
		var dw, dmin float32
		var mn [8]int32
		if p.t == Q4_K {
			var sc [8]int32
			sc, mn = kScales(blk[4:16])
			for j := 0; j < 4; j++ {
				for k := 0; k < 32; k += 8 {
					v := binary.LittleEndian.Uint64(blk[16+32*j+k:])
					binary.LittleEndian.PutUint64(a[64*j+k:], v&m4)
					binary.LittleEndian.PutUint64(a[64*j+32+k:], v>>4&m4)
				}
			}
			for t, c := range sc {
				pairs[t] = uint32(uint16(c)) * 0x10001
			}
			dw, dmin = half(blk[0:]), half(blk[2:])
		} else {
			for k := 0; k < 2; k++ {
				ql, qh := blk[64*k:64*k+64], blk[128+32*k:160+32*k]
				out := a[128*k : 128*k+128]
				for l := 0; l < 32; l += 8 {
					lo := binary.LittleEndian.Uint64(ql[l:])
					hi := binary.LittleEndian.Uint64(ql[l+32:])
					h := binary.LittleEndian.Uint64(qh[l:])
					putQ6(out[l:], lo&m4|(h&m2)<<4)
					putQ6(out[l+32:], hi&m4|(h>>2&m2)<<4)
					putQ6(out[l+64:], lo>>4&m4|(h>>4&m2)<<4)
					putQ6(out[l+96:], hi>>4&m4|(h>>6&m2)<<4)
				}
			}
			for t := range pairs {
				pairs[t] = uint32(uint16(int8(blk[192+2*t]))) | uint32(uint16(int8(blk[193+2*t])))<<16
			}
			dw = half(blk[208:])
		}
		transK(&a, &pairs, &o[32*g], &o[1152+32*g])
		for t, v := range pairs {
			binary.LittleEndian.PutUint32(o[1024+32*g+4*t:], v)
		}
		binary.LittleEndian.PutUint32(o[1280+4*g:], math.Float32bits(dw))
		binary.LittleEndian.PutUint32(o[1296+4*g:], math.Float32bits(dmin))
		for t, m := range mn {
			binary.LittleEndian.PutUint32(o[1312+32*g+4*t:], uint32(uint16(m))*0x10001)
		}
	}
}

// mulK is Mul for K-quant weights.
func (p *Panel) mulK(w []byte, rowBytes, count int, dst []float32, ld int) {
	wb := p.nb * p.wsize
	bp := wbufs.Get().(*[]byte)
	defer wbufs.Put(bp)
	if cap(*bp) < p.nb*kWBlock {
		*bp = make([]byte, p.nb*kWBlock)
	}
	buf := (*bp)[:p.nb*kWBlock]
	tiles := (p.rows + panelRows - 1) / panelRows
	var lanes [panelGroup][8][panelRows]float32
	var out [panelGroup * panelRows]float32
	for j0 := 0; j0 < count; j0 += panelGroup {
		k := min(panelGroup, count-j0)
		for g := 0; g < panelGroup; g++ {
			j := j0 + min(g, k-1)
			p.decodeK(w[j*rowBytes:j*rowBytes+wb], buf, g)
		}
		for tile := 0; tile < tiles; tile++ {
			panelKern4(p.nb, &p.a[tile*p.nb*kActBlock], &buf[0], p.mode-4, &lanes, &out)
			scatter(dst[tile*panelRows*ld+j0:], ld, &out, min(panelRows, p.rows-tile*panelRows), k)
		}
	}
}
