package sample

import "math"

// exp2tab[j] = 2^(j/64).
var exp2tab = func() (t [64]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 64)
	}
	return t
}()

// expNeg returns e^d for d <= 0, to within a few ulps. Sampling calls exp
// once per token of a 262144-token vocabulary, and math.Exp, which handles
// every special case, dominates that. Below e^-708 it returns 0: such
// weights are far below a float64 ulp of the largest one, which is 1.
func expNeg(d float64) float64 {
	const (
		n64   = 64 / math.Ln2
		ln2Hi = 0.010830424260348082 // ln2/64 with 24 bits, so k·ln2Hi is exact
		ln2Lo = 4.3590106387089914e-10
	)
	if !(d > -708) || d > 0 { // NaN, tiny, or out of contract
		if d > 0 {
			return math.Exp(d)
		}
		return 0
	}
	// d = (64m + j)·ln2/64 + r, |r| <= ln2/128: e^d = 2^m · 2^(j/64) · e^r.
	k := int64(d*n64 - 0.5)
	kf := float64(k)
	r := d - kf*ln2Hi - kf*ln2Lo
	// Taylor series to r^5: the remainder is below 1e-16 for |r| <= 0.0055.
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120)))))
	return p * exp2tab[k&63] * math.Float64frombits(uint64(k>>6+1023)<<52)
}
