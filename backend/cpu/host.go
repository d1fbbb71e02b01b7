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

// NewRouting wraps expert ids and weights, k per token of n, as this
// backend's Routing (for another backend that routed on its device).
func NewRouting(n, k int, ids []int32, w []float32) backend.Routing {
	if len(ids) != n*k || len(w) != n*k {
		panic(fmt.Sprintf("cpu: routing of %d tokens × %d: %d ids, %d weights", n, k, len(ids), len(w)))
	}
	return &routing{n: n, k: k, ids: ids, w: w}
}
