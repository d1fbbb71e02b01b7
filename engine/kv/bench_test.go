package kv

import "testing"

const benchTokens = 4096

func benchPrompt() []int32 { return seqTokens(1, benchTokens) }

// BenchmarkMatch looks up a fully cached 4096-token prompt (255 of its 256
// blocks are reused) and frees the result.
func BenchmarkMatch(b *testing.B) {
	m := New(benchTokens/16+1, 16)
	p := benchPrompt()
	s := m.Match(p)
	if _, err := m.Reserve(s, len(p)); err != nil {
		b.Fatal(err)
	}
	if err := m.Append(s, p); err != nil {
		b.Fatal(err)
	}
	m.Free(s)
	b.ReportAllocs()
	for b.Loop() {
		s := m.Match(p)
		if s.Len() != benchTokens-16 {
			b.Fatalf("matched %d tokens", s.Len())
		}
		m.Free(s)
	}
	b.ReportMetric(float64(b.N*benchTokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkReserve reserves blocks for a 4096-token prefill and frees them.
func BenchmarkReserve(b *testing.B) {
	m := New(benchTokens/16, 16)
	b.ReportAllocs()
	for b.Loop() {
		s := m.Match(nil)
		if _, err := m.Reserve(s, benchTokens); err != nil {
			b.Fatal(err)
		}
		m.Free(s)
	}
}

// BenchmarkAppend records a 4096-token prefill, hashing and caching its 256
// blocks (the cache is emptied by evictions from the previous round).
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name  string
		chunk int
	}{{"prefill", benchTokens}, {"decode", 1}} {
		b.Run(c.name, func(b *testing.B) {
			m := New(benchTokens/16, 16)
			p := benchPrompt()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p[0] = int32(-i) // a new prefix each round: every block is registered
				s := m.Match(nil)
				if _, err := m.Reserve(s, benchTokens); err != nil {
					b.Fatal(err)
				}
				for j := 0; j < benchTokens; j += c.chunk {
					if err := m.Append(s, p[j:j+c.chunk]); err != nil {
						b.Fatal(err)
					}
				}
				m.Free(s)
			}
			b.ReportMetric(float64(b.N*benchTokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
