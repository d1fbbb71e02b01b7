//go:build !amd64 || purego

package quant

// archDot returns nil: only the generic Go dot products exist here.
func archDot(Type) DotFn { return nil }

// archDotRows returns nil: DotRowsFunc loops the single-row dot here.
func archDotRows(Type) DotRowsFn { return nil }

func archTileRows(Type) int { return 4 }

func archTileSet(*Tile) {}

func archTileDot(*Tile, []byte, []float32) bool { return false }

func archQuantQ8Act(Type, []float32, []byte) bool { return false }

func archDotMany(Type, int, []byte, int, []byte, []float32) bool { return false }
