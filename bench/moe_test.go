package bench

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/model/tokenizer"
)

func sharedModel(t *testing.T, name string) string {
	p := filepath.Join("..", "..", "shared", "models", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not found (read-only test models live in ../shared/models): %v", p, err)
	}
	return p
}

// TestExperts routes the histogram prompts through stories260K-moe4x:
// every token fills exactly ExpertsK slots in every layer, so each layer's
// counts add up to tokens·2, and the shares of a layer add up to 1.
func TestExperts(t *testing.T) {
	e, err := engine.Open(sharedModel(t, "stories260K-moe4x.gguf"), engine.WithThreads(2), engine.WithPrefixCache(false))
	require.NoError(t, err)
	defer e.Close()
	prompts := MoEPrompts[:3]
	const gen = 8
	l, err := Experts(context.Background(), e, prompts, gen)
	require.NoError(t, err)
	want := 0
	for _, p := range prompts {
		want += len(e.Tokenizer().Encode(p, tokenizer.AddSpecial)) + gen - 1
	}
	require.Equal(t, want, l.Tokens)
	require.Equal(t, 2, l.Used)
	require.Len(t, l.Counts, 5, "one row per layer")
	for il, row := range l.Counts {
		require.Len(t, row, 4, "layer %d", il)
		var sum int64
		var share float64
		for ex, n := range row {
			sum += n
			share += l.Share(il, ex)
		}
		require.Equal(t, int64(2*want), sum, "layer %d", il)
		require.InDelta(t, 1, share, 1e-9, "layer %d", il)
	}

	path := filepath.Join(t.TempDir(), "experts.png")
	require.NoError(t, PlotExperts(l, "test", path))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Positive(t, img.Bounds().Dx())
}

// TestMoEDecode runs the decode suite on a tiny synthetic MoE and checks
// its bookkeeping: each of the N samples decodes gen-1 tokens after its first.
func TestMoEDecode(t *testing.T) {
	vocab := sharedModel(t, "stories260K.gguf")
	spec := synth.MoESpecs()[0]
	path := filepath.Join(t.TempDir(), spec.Name+".gguf")
	require.NoError(t, synth.Write(path, vocab, spec))
	e, err := engine.Open(path, engine.WithThreads(2), engine.WithContext(64), engine.WithPrefixCache(false))
	require.NoError(t, err)
	defer e.Close()
	const gen = 6
	pts, err := MoEDecode(context.Background(), e, 8, gen, []int{1, 3})
	require.NoError(t, err)
	require.Len(t, pts, 2)
	for i, n := range []int{1, 3} {
		require.Equal(t, n, pts[i].N)
		require.Equal(t, n*(gen-1), pts[i].Tokens)
		require.Positive(t, pts[i].Seconds)
		require.InDelta(t, float64(pts[i].Tokens)/pts[i].Seconds, pts[i].DecodeTPS, 1e-9)
	}
	_, err = MoEDecode(context.Background(), e, 8, gen, []int{0})
	require.ErrorContains(t, err, "bad N 0")
}

func TestExpertsNeedsMoE(t *testing.T) {
	e, err := engine.Open(sharedModel(t, "stories260K.gguf"), engine.WithPrefixCache(false))
	require.NoError(t, err)
	defer e.Close()
	_, err = Experts(context.Background(), e, MoEPrompts[:1], 2)
	require.ErrorContains(t, err, "no expert was routed")
}
