package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The quantizers below are ggml's reference (non-imatrix) quantize_row_*_ref,
// operation for operation in float32, so their output is byte-identical.
// Products that feed a sum are wrapped in float32() where Go could otherwise
// fuse them into an FMA (arm64, GOAMD64=v3), which C without -ffast-math and
// numpy do not.

var quantizers = map[Type]func(src []float32, dst []byte){
	F32:   quantF32,
	F16:   quantF16,
	BF16:  quantBF16,
	Q4_0:  quantQ4_0,
	Q4_1:  quantQ4_1,
	Q5_0:  quantQ5_0,
	Q5_1:  quantQ5_1,
	Q8_0:  quantQ8_0,
	Q8_1:  quantQ8_1,
	Q2_K:  quantQ2_K,
	Q3_K:  quantQ3_K,
	Q4_K:  quantQ4_K,
	Q5_K:  quantQ5_K,
	Q6_K:  quantQ6_K,
	Q8_K:  quantQ8_K,
	MXFP4: quantMXFP4,
}

// Quantize encodes src into dst (len(dst) must be RowBytes(t, len(src))).
func Quantize(t Type, src []float32, dst []byte) error {
	f, ok := quantizers[t]
	if !ok {
		return fmt.Errorf("quantize: no quantizer for type %s", t)
	}
	if err := checkRow("quantize", t, len(src), len(dst)); err != nil {
		return err
	}
	f(src, dst)
	return nil
}

func quantF32(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func quantF16(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
	}
}

func quantBF16(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
	}
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// signedMax returns the element of largest magnitude (first one on ties).
func signedMax(x []float32) (amax, max float32) {
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return amax, max
}

func minMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

func inv(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

func quantQ4_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32 : i*32+32]
		y := dst[i*18 : i*18+18]
		_, max := signedMax(x)
		d := max / -8
		id := inv(d)
		putHalf(y, d)
		for j := 0; j < 16; j++ {
			y[2+j] = min8(15, int8(int32(float32(x[j]*id)+8.5))) | min8(15, int8(int32(float32(x[j+16]*id)+8.5)))<<4
		}
	}
}

// min8 is MIN(n, (int8_t)v) stored to uint8, as ggml writes it.
func min8(n, v int8) byte {
	if v > n {
		v = n
	}
	return byte(v)
}

func quantQ4_1(src []float32, dst []byte) {
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32 : i*32+32]
		y := dst[i*20 : i*20+20]
		min, max := minMax(x)
		d := (max - min) / 15
		id := inv(d)
		putHalf(y, d)
		putHalf(y[2:], min)
		for j := 0; j < 16; j++ {
			y[4+j] = min8(15, int8(int32(float32((x[j]-min)*id)+0.5))) | min8(15, int8(int32(float32((x[j+16]-min)*id)+0.5)))<<4
		}
	}
}

func quantQ5_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32 : i*32+32]
		y := dst[i*22 : i*22+22]
		_, max := signedMax(x)
		d := max / -16
		id := inv(d)
		putHalf(y, d)
		var qh uint32
		for j := 0; j < 16; j++ {
			x0 := min8(31, int8(int32(float32(x[j]*id)+16.5)))
			x1 := min8(31, int8(int32(float32(x[j+16]*id)+16.5)))
			y[6+j] = x0&0xF | (x1&0xF)<<4
			qh |= uint32(x0&0x10) >> 4 << j
			qh |= uint32(x1&0x10) >> 4 << (j + 16)
		}
		binary.LittleEndian.PutUint32(y[2:], qh)
	}
}

func quantQ5_1(src []float32, dst []byte) {
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32 : i*32+32]
		y := dst[i*24 : i*24+24]
		min, max := minMax(x)
		d := (max - min) / 31
		id := inv(d)
		putHalf(y, d)
		putHalf(y[2:], min)
		var qh uint32
		for j := 0; j < 16; j++ {
			x0 := byte(int32(float32((x[j]-min)*id) + 0.5))
			x1 := byte(int32(float32((x[j+16]-min)*id) + 0.5))
			y[8+j] = x0&0xF | (x1&0xF)<<4
			qh |= uint32(x0&0x10) >> 4 << j
			qh |= uint32(x1&0x10) >> 4 << (j + 16)
		}
		binary.LittleEndian.PutUint32(y[4:], qh)
	}
}

func absMax(x []float32) float32 {
	var amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax = a
		}
	}
	return amax
}

// quantQ8_0 is quantize_row_q8_0_ref: round half away from zero (roundf).
func quantQ8_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32 : i*32+32]
		y := dst[i*34 : i*34+34]
		d := absMax(x) / 127
		id := inv(d)
		putHalf(y, d)
		for j, v := range x {
			y[2+j] = byte(int8(roundf(v * id)))
		}
	}
}

// quantQ8_1 is quantize_row_q8_1_ref; s = d * sum(qs), both stored as fp16.
func quantQ8_1(src []float32, dst []byte) {
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32 : i*32+32]
		y := dst[i*36 : i*36+36]
		d := absMax(x) / 127
		id := inv(d)
		putHalf(y, d)
		var sum int32
		for j, v := range x {
			q := int8(roundf(v * id))
			y[4+j] = byte(q)
			sum += int32(q)
		}
		putHalf(y[2:], float32(sum)*d)
	}
}

// quantQ8_K is quantize_row_q8_K_ref: d = max/-127 in float32, nearest_int
// (half to even), plus the 16 block sums the k-quant dots use for the mins.
func quantQ8_K(src []float32, dst []byte) {
	for i := 0; i < len(src)/QK_K; i++ {
		x := src[i*QK_K : i*QK_K+QK_K]
		y := dst[i*292 : i*292+292]
		amax, max := signedMax(x)
		if amax == 0 {
			clear(y)
			continue
		}
		iscale := -127 / max
		qs := y[4:260]
		for j, v := range x {
			q := nearestInt(iscale * v)
			if q > 127 {
				q = 127
			}
			qs[j] = byte(int8(q))
		}
		for j := 0; j < 16; j++ {
			var sum int32
			for _, q := range qs[16*j : 16*j+16] {
				sum += int32(int8(q))
			}
			binary.LittleEndian.PutUint16(y[260+2*j:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(y, math.Float32bits(1/iscale))
	}
}

func quantMXFP4(src []float32, dst []byte) {
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32 : i*32+32]
		y := dst[i*17 : i*17+17]
		amax := absMax(x)
		var e uint8
		if amax > 0 {
			l := float32(math.Log2(float64(amax))) // log2f
			e = uint8(int32(float32(math.Floor(float64(l))) - 2 + 127))
		}
		d := e8m0Half(e)
		y[0] = e
		for j := 0; j < 16; j++ {
			y[1+j] = bestMXFP4(x[j], d) | bestMXFP4(x[j+16], d)<<4
		}
	}
}

func bestMXFP4(x, e float32) byte {
	best, bestErr := 0, abs32(float32(kvaluesMXFP4[0])*e-x)
	for i := 1; i < 16; i++ {
		if err := abs32(float32(kvaluesMXFP4[i])*e - x); err < bestErr {
			best, bestErr = i, err
		}
	}
	return byte(best)
}

func clampInt(l, lo, hi int32) int32 { return max(lo, min(hi, l)) }

// groupMaxEps is ggml's GROUP_MAX_EPS: below it a group counts as all zero.
const groupMaxEps = 1e-15

// makeQxQuants is ggml's make_qx_quants with rmse_type 1 and no weights
// (w = x*x): symmetric quants in [0, 2*nmax) and their float scale.
func makeQxQuants(nmax int32, x []float32, L []int8) float32 {
	amax, max := signedMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	fnmax := float32(nmax)
	iscale := -fnmax / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := v * v
		fl := float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	scale := float32(0)
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fnmax + float32(0.1)*float32(is)) / max
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := float32(clampInt(nearestInt(iscale*v), -nmax, nmax-1))
			w := v * v
			sumlx += float32(w * v * l)
			suml2 += float32(w * l * l)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clampInt(nearestInt(iscale*v), -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQ3Quants is ggml's make_q3_quants with do_rmse: a weighted
// least-squares refinement of symmetric quants in [0, 2*nmax).
func makeQ3Quants(nmax int32, x []float32, L []int8) float32 {
	amax, max := signedMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := -float32(nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l)
		w := v * v
		fl := float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := v * v
			li := float32(L[i])
			slx := sumlx - float32(w*v*li)
			if slx > 0 {
				sl2 := suml2 - float32(w*li*li)
				nl := clampInt(nearestInt(v*sl2/slx), -nmax, nmax-1)
				if nl != int32(L[i]) {
					fn := float32(nl)
					slx += float32(w * v * fn)
					sl2 += float32(w * fn * fn)
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = int8(nl)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range L {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQkx2Quants is ggml's make_qkx2_quants: asymmetric quants in [0, nmax]
// with a scale and a (returned negated) min, searched over nstep+1 trial
// scales for the least weighted error (absolute when mad, else squared).
func makeQkx2Quants(nmax int32, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int, mad bool) (scale, theMin float32) {
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < len(x); i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		clear(L)
		return 0, -min
	}
	fnmax := float32(nmax)
	iscale := fnmax / (max - min)
	scale = 1 / iscale
	errOf := func(diff float32) float32 {
		if mad {
			return abs32(diff)
		}
		return diff * diff
	}
	var bestErr float32
	for i, v := range x {
		L[i] = uint8(clampInt(nearestInt(iscale*(v-min)), 0, nmax))
		diff := float32(scale*float32(L[i])) + min - v
		bestErr += float32(weights[i] * errOf(diff))
	}
	for is := 0; is <= nstep; is++ {
		iscale = (float32(rmin+float32(rdelta*float32(is))) + fnmax) / (max - min)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampInt(nearestInt(iscale*(v-min)), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(w * fl * fl)
			sumXL += float32(w * fl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var cur float32
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				cur += float32(weights[i] * errOf(diff))
			}
			if cur < bestErr {
				copy(L, Laux)
				bestErr, scale, min = cur, thisScale, thisMin
			}
		}
	}
	return scale, -min
}

// packScaleMinK4 stores the j-th 6-bit scale and min of a Q4_K/Q5_K block,
// the inverse of scaleMinK4.
func packScaleMinK4(s []byte, j int, ls, lm uint8) {
	if j < 4 {
		s[j] = ls
		s[j+4] = lm
		return
	}
	s[j+4] = ls&0xF | (lm&0xF)<<4
	s[j-4] |= (ls >> 4) << 6
	s[j] |= (lm >> 4) << 6
}

func quantQ2_K(src []float32, dst []byte) {
	var L, Laux [QK_K]uint8
	var weights [16]float32
	var mins, scales [16]float32
	const q4scale = 15
	for i := 0; i < len(src)/QK_K; i++ {
		x := src[i*QK_K : i*QK_K+QK_K]
		y := dst[i*84 : i*84+84]
		var maxScale, maxMin float32
		for j := 0; j < 16; j++ {
			xs := x[16*j : 16*j+16]
			for l, v := range xs {
				weights[l] = abs32(v)
			}
			scales[j], mins[j] = makeQkx2Quants(3, xs, weights[:], L[16*j:16*j+16], Laux[:16], -0.5, 0.1, 15, true)
			maxScale = max(maxScale, scales[j])
			maxMin = max(maxMin, mins[j])
		}
		sc := y[0:16]
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := range sc {
				sc[j] = uint8(nearestInt(iscale * scales[j]))
			}
			putHalf(y[80:], maxScale/q4scale)
		} else {
			clear(sc)
			putHalf(y[80:], 0)
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := range sc {
				sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
			}
			putHalf(y[82:], maxMin/q4scale)
		} else {
			putHalf(y[82:], 0)
		}
		dAll, mAll := half(y[80:]), half(y[82:])
		for j := 0; j < 16; j++ {
			d := dAll * float32(sc[j]&0xF)
			if d == 0 {
				continue
			}
			dm := mAll * float32(sc[j]>>4)
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = uint8(clampInt(nearestInt((x[16*j+ii]+dm)/d), 0, 3))
			}
		}
		packQ2(y[16:80], L[:])
	}
}

// packQ2 stores 2-bit values: byte l of each 32-byte group holds elements
// l, l+32, l+64, l+96 of its 128-element half.
func packQ2(qs []byte, L []uint8) {
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

func quantQ3_K(src []float32, dst []byte) {
	var L [QK_K]int8
	var scales [16]float32
	for i := 0; i < len(src)/QK_K; i++ {
		x := src[i*QK_K : i*QK_K+QK_K]
		y := dst[i*110 : i*110+110]
		var maxScale, amax float32
		for j := 0; j < 16; j++ {
			scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
			if s := abs32(scales[j]); s > amax {
				amax, maxScale = s, scales[j]
			}
		}
		ys := y[96:108]
		clear(ys)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < 16; j++ {
				l := byte(clampInt(int32(int8(nearestInt(iscale*scales[j]))), -32, 31) + 32)
				if j < 8 {
					ys[j] = l & 0xF
				} else {
					ys[j-8] |= (l & 0xF) << 4
				}
				ys[8+j%4] |= (l >> 4) << (2 * (j / 4))
			}
			putHalf(y[108:], 1/iscale)
		} else {
			putHalf(y[108:], 0)
		}
		dAll := half(y[108:])
		sc := q3Scales(ys)
		for j := 0; j < 16; j++ {
			d := dAll * float32(sc[j])
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = int8(clampInt(nearestInt(x[16*j+ii]/d), -4, 3) + 4)
			}
		}
		hmask := y[0:32]
		clear(hmask)
		for j := 0; j < QK_K; j++ {
			if L[j] > 3 {
				hmask[j%32] |= 1 << (j / 32)
				L[j] -= 4
			}
		}
		var U [QK_K]uint8
		for j, v := range L {
			U[j] = uint8(v)
		}
		packQ2(y[32:96], U[:])
	}
}

// kScalesMins quantizes the eight sub-block scales and mins of a Q4_K/Q5_K
// super-block to 6 bits and returns the fp16-stored d and dmin.
func kScalesMins(y []byte, scales, mins *[8]float32, maxScale, maxMin float32) {
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	s := y[4:16]
	for j := 0; j < 8; j++ {
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		packScaleMinK4(s, j, ls, lm)
	}
	putHalf(y, maxScale/63)
	putHalf(y[2:], maxMin/63)
}

// quantK45 is the shared body of quantize_row_q4_K_ref and q5_K_ref.
func quantK45(x []float32, y []byte, L *[QK_K]uint8, nmax int32, rmin, rdelta float32, nstep int) {
	var weights [32]float32
	var Laux [32]uint8
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQkx2Quants(nmax, xs, weights[:], L[32*j:32*j+32], Laux[:], rmin, rdelta, nstep, false)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	kScalesMins(y, &scales, &mins, maxScale, maxMin)
	dAll, mAll := half(y), half(y[2:])
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, y[4:16])
		d := dAll * float32(sc)
		if d == 0 {
			continue
		}
		dm := mAll * float32(m)
		for ii := 0; ii < 32; ii++ {
			L[32*j+ii] = uint8(clampInt(nearestInt((x[32*j+ii]+dm)/d), 0, nmax))
		}
	}
}

func quantQ4_K(src []float32, dst []byte) {
	var L [QK_K]uint8
	for i := 0; i < len(src)/QK_K; i++ {
		y := dst[i*144 : i*144+144]
		quantK45(src[i*QK_K:i*QK_K+QK_K], y, &L, 15, -1, 0.1, 20)
		q := y[16:144]
		for j := 0; j < 4; j++ {
			for l := 0; l < 32; l++ {
				q[32*j+l] = L[64*j+l] | L[64*j+l+32]<<4
			}
		}
	}
}

func quantQ5_K(src []float32, dst []byte) {
	var L [QK_K]uint8
	for i := 0; i < len(src)/QK_K; i++ {
		y := dst[i*176 : i*176+176]
		quantK45(src[i*QK_K:i*QK_K+QK_K], y, &L, 31, -0.5, 0.1, 15)
		qh, ql := y[16:48], y[48:176]
		clear(qh)
		m1, m2 := byte(1), byte(2)
		for n := 0; n < 4; n++ {
			for j := 0; j < 32; j++ {
				l1, l2 := L[64*n+j], L[64*n+j+32]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql[32*n+j] = l1 | l2<<4
			}
			m1 <<= 2
			m2 <<= 2
		}
	}
}

func quantQ6_K(src []float32, dst []byte) {
	var L [QK_K]int8
	var scales [16]float32
	for i := 0; i < len(src)/QK_K; i++ {
		x := src[i*QK_K : i*QK_K+QK_K]
		y := dst[i*210 : i*210+210]
		var maxScale, maxAbs float32
		for ib := 0; ib < 16; ib++ {
			scales[ib] = makeQxQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
			if a := abs32(scales[ib]); a > maxAbs {
				maxAbs, maxScale = a, scales[ib]
			}
		}
		if maxAbs < groupMaxEps {
			clear(y)
			continue
		}
		iscale := -128 / maxScale
		putHalf(y[208:], 1/iscale)
		sc := y[192:208]
		for ib := range sc {
			sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
		}
		dAll := half(y[208:])
		for j := 0; j < 16; j++ {
			d := dAll * float32(int8(sc[j]))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = int8(clampInt(nearestInt(x[16*j+ii]/d), -32, 31) + 32)
			}
		}
		for n := 0; n < 2; n++ {
			ql := y[64*n : 64*n+64]
			qh := y[128+32*n : 128+32*n+32]
			Ln := L[128*n : 128*n+128]
			for l := 0; l < 32; l++ {
				q1, q2, q3, q4 := uint8(Ln[l]), uint8(Ln[l+32]), uint8(Ln[l+64]), uint8(Ln[l+96])
				ql[l] = q1&0xF | (q3&0xF)<<4
				ql[l+32] = q2&0xF | (q4&0xF)<<4
				qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
			}
		}
	}
}
