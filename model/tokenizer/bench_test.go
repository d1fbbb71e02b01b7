package tokenizer

import (
	"strings"
	"testing"
)

// benchText is about 10 KB of plain English prose.
var benchText = strings.Repeat(`The harbour town woke slowly that morning. Fishing boats rocked against
the old stone pier while gulls argued over scraps of bread left by the
baker's apprentice, who had been up since four o'clock kneading dough. By
seven, the market square was full: farmers unloaded crates of apples and
pears, a woman in a green coat sold honey in small glass jars, and two boys
chased each other between the stalls until a constable told them to stop.

Nobody noticed the stranger at first. He arrived on the 7:15 train, carrying
a leather case and a folded newspaper, and he asked the station master for
directions to the lighthouse. "It's closed to visitors," the man said, "has
been for years." The stranger only smiled, thanked him, and walked off along
the coast road, where the wind was strong enough to bend the tall grass flat.

`, 10)

func BenchmarkEncode(b *testing.B) {
	for _, name := range vocabFiles {
		b.Run(name, func(b *testing.B) {
			tok := openVocab(b, name)
			b.SetBytes(int64(len(benchText)))
			b.ResetTimer()
			for range b.N {
				tok.Encode(benchText, AddSpecial)
			}
		})
	}
	b.Run("gpt-oss", func(b *testing.B) { // gpt-4o pre-tokenizer
		tok, _ := openGptOss(b)
		b.SetBytes(int64(len(benchText)))
		b.ResetTimer()
		for range b.N {
			tok.Encode(benchText, AddSpecial)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range vocabFiles {
		b.Run(name, func(b *testing.B) {
			tok := openVocab(b, name)
			ids := tok.Encode(benchText)
			b.SetBytes(int64(len(benchText)))
			b.ResetTimer()
			for range b.N {
				tok.Decode(ids)
			}
		})
	}
}
