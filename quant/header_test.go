package quant

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTypeSizesMatchCHeader keeps kernels/include/quant_blocks.h and the Go
// type table in step: every block type's size assertion in the header must
// equal TypeSize, and every block type of the table must be asserted there.
func TestTypeSizesMatchCHeader(t *testing.T) {
	src, err := os.ReadFile("../kernels/include/quant_blocks.h")
	require.NoError(t, err)
	re := regexp.MustCompile(`sizeof\(block_(\w+)\)\s*==\s*(\d+)`)
	seen := map[Type]bool{}
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		typ, ok := ParseType(strings.ToUpper(m[1]))
		require.True(t, ok, "header block_%s has no quant.Type", m[1])
		size, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		require.Equal(t, typ.TypeSize(), size, "block_%s", m[1])
		seen[typ] = true
	}
	for typ := range table {
		if typ.BlockSize() > 1 {
			require.True(t, seen[typ], "%s has no size assertion in quant_blocks.h", typ)
		}
	}
}
