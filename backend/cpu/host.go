package cpu

import (
	"fmt"

	"github.com/tscale/engine/backend"
)

// NewTensor wraps d (rows × cols values, row by row) as a tensor of this
// backend without copying. Another backend uses it to run a CPU op on values
// it holds on the host.
func NewTensor(rows, cols int, d []float32) backend.Tensor {
	if len(d) != rows*cols {
		panic(fmt.Sprintf("cpu: tensor %dx%d of %d values", rows, cols, len(d)))
	}
	return &tensor{rows: rows, cols: cols, d: d}
}

// Floats returns a tensor's values, row by row (not a copy).
func Floats(t backend.Tensor) []float32 { return ten(t).d }
