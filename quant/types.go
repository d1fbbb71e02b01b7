// Package quant holds the GGML tensor block formats: their sizes, and
// dequantize / quantize / dot-product routines whose byte layouts are
// identical to llama.cpp's (ggml-common.h), so any GGUF file loads.
package quant

import "fmt"

// Type is a GGML tensor type id, numbered exactly as in ggml.h.
type Type uint32

const (
	F32   Type = 0
	F16   Type = 1
	Q4_0  Type = 2
	Q4_1  Type = 3
	Q5_0  Type = 6
	Q5_1  Type = 7
	Q8_0  Type = 8
	Q8_1  Type = 9
	Q2_K  Type = 10
	Q3_K  Type = 11
	Q4_K  Type = 12
	Q5_K  Type = 13
	Q6_K  Type = 14
	Q8_K  Type = 15
	I8    Type = 24
	I16   Type = 25
	I32   Type = 26
	I64   Type = 27
	F64   Type = 28
	BF16  Type = 30
	MXFP4 Type = 39
)

// QK_K is the super-block size of the k-quants.
const QK_K = 256

type traits struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block
}

var table = map[Type]traits{
	F32:   {"F32", 1, 4},
	F16:   {"F16", 1, 2},
	BF16:  {"BF16", 1, 2},
	F64:   {"F64", 1, 8},
	I8:    {"I8", 1, 1},
	I16:   {"I16", 1, 2},
	I32:   {"I32", 1, 4},
	I64:   {"I64", 1, 8},
	Q4_0:  {"Q4_0", 32, 2 + 16},
	Q4_1:  {"Q4_1", 32, 2 + 2 + 16},
	Q5_0:  {"Q5_0", 32, 2 + 4 + 16},
	Q5_1:  {"Q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0:  {"Q8_0", 32, 2 + 32},
	Q8_1:  {"Q8_1", 32, 2 + 2 + 32},
	Q2_K:  {"Q2_K", QK_K, QK_K/16 + QK_K/4 + 2 + 2},
	Q3_K:  {"Q3_K", QK_K, QK_K/8 + QK_K/4 + 12 + 2},
	Q4_K:  {"Q4_K", QK_K, 2 + 2 + 12 + QK_K/2},
	Q5_K:  {"Q5_K", QK_K, 2 + 2 + 12 + QK_K/8 + QK_K/2},
	Q6_K:  {"Q6_K", QK_K, QK_K/2 + QK_K/4 + QK_K/16 + 2},
	Q8_K:  {"Q8_K", QK_K, 4 + QK_K + QK_K/16*2},
	MXFP4: {"MXFP4", 32, 1 + 16},
}

// Known reports whether t is a type this package can size.
func (t Type) Known() bool { _, ok := table[t]; return ok }

func (t Type) String() string {
	if tr, ok := table[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block (1 for plain types).
func (t Type) BlockSize() int { return table[t].blockSize }

// TypeSize is the number of bytes in one block.
func (t Type) TypeSize() int { return table[t].typeSize }

// RowBytes returns the bytes needed for n elements of type t, or an error
// when t is unknown or n is not a whole number of blocks.
func RowBytes(t Type, n int64) (int64, error) {
	tr, ok := table[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t))
	}
	if n < 0 || n%int64(tr.blockSize) != 0 {
		return 0, fmt.Errorf("%s: %d elements is not a multiple of the block size %d", tr.name, n, tr.blockSize)
	}
	return n / int64(tr.blockSize) * int64(tr.typeSize), nil
}

// ParseType maps a name such as "Q4_K" to its Type.
func ParseType(name string) (Type, bool) {
	for t, tr := range table {
		if tr.name == name {
			return t, true
		}
	}
	return 0, false
}
