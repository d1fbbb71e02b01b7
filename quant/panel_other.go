//go:build !amd64 || purego

package quant

const hasPanel = false

func panelKern(int, *byte, *byte, int, *[panelGroup * panelRows]float32) {
	panic("quant: no panel kernel on this CPU")
}

func panelF32(int, int, *byte, *byte, *[panelRows]float32) {
	panic("quant: no panel kernel on this CPU")
}

func panelKern4(int, *byte, *byte, int, *[panelGroup][8][panelRows]float32, *[panelGroup * panelRows]float32) {
	panic("quant: no panel kernel on this CPU")
}

func transK(*[QK_K]byte, *[8]uint32, *byte, *byte) { panic("quant: no panel kernel on this CPU") }

func panelDec(int, int, *byte, int, *byte, *byte) { panic("quant: no panel kernel on this CPU") }
