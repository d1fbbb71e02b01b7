package engine

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStopper(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stops   []string
		pieces  []string
		want    string
		stopped bool
	}{
		{"no stops", nil, []string{"a", "b"}, "ab", false},
		{"whole piece", []string{"\n\n"}, []string{"one", "\n\n", "two"}, "one", true},
		{"split across pieces", []string{"END"}, []string{"abc E", "N", "D more"}, "abc ", true},
		{"false start released", []string{"END"}, []string{"EN", "x", "y"}, "ENxy", false},
		{"earliest of several", []string{"b", "a"}, []string{"xxab"}, "xx", true},
		{"held prefix at end", []string{"</s>"}, []string{"hi </"}, "hi </", false},
		{"overlapping prefixes", []string{"aab"}, []string{"a", "a", "a", "b"}, "a", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &stopper{stops: tc.stops}
			var out strings.Builder
			stopped := false
			for _, p := range tc.pieces {
				o, st := s.push(p)
				out.WriteString(o)
				for _, stop := range tc.stops {
					require.NotContains(t, out.String(), stop, "a stop string was emitted")
				}
				if st {
					stopped = true
					break
				}
			}
			if !stopped {
				out.WriteString(s.flush())
			}
			require.Equal(t, tc.want, out.String())
			require.Equal(t, tc.stopped, stopped)
		})
	}
}

func FuzzStopper(f *testing.F) {
	f.Add("hello world END tail", "END", 3)
	f.Add("aaab", "aab", 1)
	f.Fuzz(func(t *testing.T, text, stop string, chunk int) {
		if stop == "" || chunk <= 0 {
			return
		}
		s := &stopper{stops: []string{stop}}
		var out strings.Builder
		stopped := false
		for i := 0; i < len(text) && !stopped; i += chunk {
			o, st := s.push(text[i:min(i+chunk, len(text))])
			out.WriteString(o)
			stopped = st
		}
		if !stopped {
			out.WriteString(s.flush())
		}
		want := text
		if i := strings.Index(text, stop); i >= 0 {
			want = text[:i]
		}
		require.Equal(t, want, out.String())
	})
}
