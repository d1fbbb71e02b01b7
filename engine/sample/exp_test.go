package sample

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpNeg(t *testing.T) {
	for i := 0; i <= 708000; i++ {
		d := -float64(i) / 1000 * (1 + 1e-7*float64(i%7)) // off-grid points too
		want := math.Exp(d)
		if d <= -708 {
			want = 0
		}
		got := expNeg(d)
		if want == 0 {
			require.Zero(t, got, "d=%v", d)
			continue
		}
		require.InEpsilon(t, want, got, 1e-15, "d=%v", d)
	}
	require.Equal(t, 1.0, expNeg(0))
	require.Equal(t, math.E, expNeg(1))
	require.Zero(t, expNeg(math.Inf(-1)))
	require.Zero(t, expNeg(math.NaN()))
}

var sink float64

func BenchmarkExp(b *testing.B) {
	x := make([]float64, 4096)
	for i := range x {
		x[i] = -float64(i%400) / 10
	}
	for _, f := range []struct {
		name string
		f    func(float64) float64
	}{{"math", math.Exp}, {"expNeg", expNeg}} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				var s float64
				for _, v := range x {
					s += f.f(v)
				}
				sink = s
			}
		})
	}
}
