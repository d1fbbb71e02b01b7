package quant

import "fmt"

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

// A Tile is up to eight activation rows (TileRows) prepared for dot
// products with many weight rows: where the CPU allows, each block's
// activation scales (and sums) are decoded once in Set instead of once per
// weight row. Dot's results are bit-identical to DotFunc's. The zero value
// is empty; Set fills it.
type Tile struct {
	t    Type
	n    int
	rows [][]byte
	dot  DotFn
	nb   int      // blocks per row, when a tile kernel runs
	wb   int      // weight bytes per row for nb blocks
	p    [8]*byte // the rows, the last repeated up to eight
	sc   []uint32 // per block: see archTileSet, tileSetK and tileSetMXFP4
}

// TileRows is the most rows a Tile for weights of type t runs at once.
func TileRows(t Type) int { return archTileRows(t) }

// Set prepares rows xs (1 to TileRows(t) rows of n elements of
// VecDotType(t)) for dot products with weight rows of type t. The tile
// refers to xs.
func (tl *Tile) Set(t Type, n int, xs [][]byte) {
	if len(xs) < 1 || len(xs) > TileRows(t) {
		panic(fmt.Sprintf("quant: a %s Tile holds 1 to %d rows, not %d", t, TileRows(t), len(xs)))
	}
	tl.t, tl.n, tl.rows, tl.dot, tl.nb = t, n, xs, DotFunc(t), 0
	archTileSet(tl)
}

// Dot sets out[r] to the dot product of the weight row w with row r of
// the tile, for every row; out must hold as many values as the tile rows.
func (tl *Tile) Dot(w []byte, out []float32) {
	out = out[:len(tl.rows)]
	if tl.nb > 0 && archTileDot(tl, w, out) {
		return
	}
	for r, x := range tl.rows {
		out[r] = tl.dot(tl.n, w, x)
	}
}

// DotMany sets out[j] to DotFunc(t)(n, row j, x) for the len(out) weight
// rows of rowBytes bytes each, back to back in w: a decode step's product.
// Where the CPU allows, one kernel call streams all the rows.
func DotMany(t Type, n int, w []byte, rowBytes int, x []byte, out []float32) {
	if archDotMany(t, n, w, rowBytes, x, out) {
		return
	}
	dot := DotFunc(t)
	for j := range out {
		lo := min(j*rowBytes, len(w))
		out[j] = dot(n, w[lo:min(lo+rowBytes, len(w))], x)
	}
}
