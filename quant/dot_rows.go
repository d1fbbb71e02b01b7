package quant

// A DotRowsFn sets out[r] to the dot product of n elements of the weight row
// w with the activation row xs[r], for every r < len(xs). Each out[r] is
// bit-identical to the DotFn result for (w, xs[r]), so a row's result never
// depends on which other rows share the call. out must hold len(xs) values.
type DotRowsFn = func(n int, w []byte, xs [][]byte, out []float32)

// DotRowsFunc returns the multi-row dot product for weights of type t, or
// nil when t has none. Where the CPU allows, it loads and unpacks each
// weight block once for all rows; otherwise it calls DotFunc(t) per row.
func DotRowsFunc(t Type) DotRowsFn {
	if f := archDotRows(t); f != nil {
		return f
	}
	dot := DotFunc(t)
	if dot == nil {
		return nil
	}
	return func(n int, w []byte, xs [][]byte, out []float32) {
		for r, x := range xs {
			out[r] = dot(n, w, x)
		}
	}
}
