package kv

import (
	"math"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// BlockBytes returns the bytes one block of spec takes: keys and values of
// BlockSize tokens in every layer, each a KVDim-wide row of spec.Type. It
// returns 0 for a spec that cannot be sized (unknown type, non-positive
// sizes, KVDim not a whole number of quantization blocks).
func BlockBytes(spec backend.KVSpec) int64 {
	if spec.Layers <= 0 || spec.KVDim <= 0 || spec.BlockSize <= 0 {
		return 0
	}
	row, err := quant.RowBytes(spec.Type, int64(spec.KVDim))
	if err != nil {
		return 0
	}
	return 2 * int64(spec.Layers) * int64(spec.BlockSize) * row
}

// BlocksFor returns how many blocks of spec fit in budget bytes (0 when the
// spec cannot be sized). Block ids are int32, so it is capped there.
func BlocksFor(budget int64, spec backend.KVSpec) int {
	bb := BlockBytes(spec)
	if bb <= 0 || budget <= 0 {
		return 0
	}
	return int(min(budget/bb, math.MaxInt32))
}
