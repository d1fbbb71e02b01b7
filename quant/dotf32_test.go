package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDotF32ArchMatchesGo: the assembly F32 dot sums in dotF32's lanes and
// order, bit for bit, for every tail length, on normal values and on raw
// bits (NaN, Inf, denormals, -0).
func TestDotF32ArchMatchesGo(t *testing.T) {
	asm := archDot(F32)
	if asm == nil {
		t.Skip("no assembly F32 dot on this CPU")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	lengths := []int{0, 300, 1024, 4099}
	for n := 1; n <= 48; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for rep := 0; rep < 10; rep++ {
			w, x := make([]byte, 4*n), make([]byte, 4*n)
			for i := 0; i < n; i++ {
				a, b := math.Float32bits(float32(rng.NormFloat64())), math.Float32bits(float32(rng.NormFloat64()*10))
				if rep%2 == 1 {
					a, b = rng.Uint32(), rng.Uint32()
				}
				binary.LittleEndian.PutUint32(w[4*i:], a)
				binary.LittleEndian.PutUint32(x[4*i:], b)
			}
			got, want := asm(n, w, x), dotF32(n, w, x)
			if got != got && want != want {
				continue
			}
			require.Equal(t, math.Float32bits(want), math.Float32bits(got), "n %d rep %d: asm %v, Go %v", n, rep, got, want)
		}
	}
	require.True(t, math.IsNaN(float64(asm(5, make([]byte, 16), make([]byte, 20)))), "short row")
}
