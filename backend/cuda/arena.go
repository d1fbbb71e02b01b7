package cuda

// arena hands out the device memory of one forward pass: activations from
// Alloc, ops' scratch and the step's uploads (ids, positions, block tables).
// Reset rewinds it. A pass that needs more than the arena holds takes a new
// chunk; the next Reset replaces all chunks with one of their total size,
// so after the first steps of a given batch size the decode loop allocates
// nothing on the device.
type arena struct {
	d       Driver
	chunks  []chunk
	off     int64 // used bytes of the last chunk
	mallocs int64 // device allocations made (counted for tests and bench)
}

type chunk struct {
	p DevPtr
	n int64
}

const align = 256

// alloc returns n bytes (256-byte aligned), valid until the next reset.
func (a *arena) alloc(n int64) DevPtr {
	n = max(align, (n+align-1)/align*align)
	if len(a.chunks) > 0 {
		c := a.chunks[len(a.chunks)-1]
		if a.off+n <= c.n {
			p := c.p + DevPtr(a.off)
			a.off += n
			return p
		}
	}
	size := max(n, 1<<20)
	if len(a.chunks) > 0 {
		size = max(n, 2*a.chunks[len(a.chunks)-1].n)
	}
	p, err := a.d.Malloc(size)
	check("arena", err)
	a.mallocs++
	a.chunks = append(a.chunks, chunk{p, size})
	a.off = n
	return p
}

// reset makes every allocation dead, keeping one chunk of the total size.
func (a *arena) reset() {
	a.off = 0
	if len(a.chunks) <= 1 {
		return
	}
	var total int64
	for _, c := range a.chunks {
		total += c.n
		a.d.Free(c.p)
	}
	a.chunks = a.chunks[:0]
	p, err := a.d.Malloc(total)
	check("arena", err)
	a.mallocs++
	a.chunks = append(a.chunks, chunk{p, total})
}

func (a *arena) free() {
	for _, c := range a.chunks {
		a.d.Free(c.p)
	}
	a.chunks = nil
}
